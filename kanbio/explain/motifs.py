"""Motif recovery: planted positions on synthetic data (precision@k, ranking AUROC) and known
motifs on real data (z-scores of the expected residue effects)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from kanbio.data.alphabet import ALPHABET
from kanbio.errors import InputError
from kanbio.metrics import auroc

AMINO_ACIDS = ALPHABET[:20]


def read_truth(path: str | os.PathLike) -> list[tuple[int, str, str]]:
    """Planted positions from a truth table (``offset, residues, role``, tab-separated)."""
    try:
        table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise InputError("truth table not found", path=str(path)) from None
    missing = {"offset", "residues", "role"} - set(table.columns)
    if missing:
        raise InputError(f"truth table lacks columns {sorted(missing)}", path=str(path))
    out = []
    for i, row in enumerate(table.itertuples(index=False), start=2):
        try:
            out.append((int(row.offset), row.residues.strip().upper(), row.role.strip()))
        except ValueError:
            raise InputError(f"offset {row.offset!r} is not an integer", path=str(path),
                             line=i) from None
    if not out:
        raise InputError("truth table lists no planted position", path=str(path))
    return out


def logo_signal(position: np.ndarray, k: int = 3) -> dict:
    """How concentrated a logo is: the share of total |position score| carried by the top-``k``
    offsets, the centre (the candidate residue itself) excluded.

    1.0 means every bit of signal sits at ``k`` offsets; ``k / (L - 1)`` is a flat logo.
    ``top_offsets`` leaves out offsets without signal (a sparse model may keep fewer than k).
    """
    position = np.abs(np.asarray(position, np.float64))
    h = len(position) // 2
    offsets = np.delete(np.arange(-h, h + 1), h)
    score = np.delete(position, h)
    total = float(score.sum())
    order = np.argsort(-score, kind="stable")[: min(k, len(score))]
    return {"k": int(len(order)), "top_share": float(score[order].sum() / total) if total else 0.0,
            "flat_share": float(len(order) / max(len(score), 1)),
            "top_offsets": [int(o) for o in offsets[order] if score[offsets == o][0] > 0]}


def motif_recovery(position: np.ndarray, planted: Sequence[int]) -> dict:
    """How well a position ranking recovers planted offsets.

    Offset 0 (the candidate residue itself) is left out of the ranking and of the planted set
    unless it is the only planted offset.

    Parameters
    ----------
    position : (L,) position scores, offsets -h..+h.
    planted : planted offsets.

    Returns
    -------
    dict: ``k`` (planted offsets ranked), ``precision_at_k`` (share of them among the top k),
    ``ranking_auroc`` (planted vs other offsets; NaN if nothing else is ranked), ``top``
    (the best ``max(k, 5)`` offsets, best first), ``planted``.
    """
    position = np.asarray(position, np.float64)
    h = len(position) // 2
    offsets = np.arange(-h, h + 1)
    planted = sorted({int(o) for o in planted})
    if not planted or any(abs(o) > h for o in planted):
        raise InputError(f"planted offsets {planted} must be non-empty and within -{h}..+{h}")
    keep = offsets != 0 if planted != [0] else np.ones(len(offsets), bool)
    targets = [o for o in planted if o != 0] or [0]
    order = np.argsort(-position[keep], kind="stable")
    ranked = offsets[keep][order]
    k = len(targets)
    hit = np.isin(offsets[keep], targets)
    return {
        "k": k,
        "planted": targets,
        "precision_at_k": float(np.isin(ranked[:k], targets).mean()),
        "ranking_auroc": auroc(hit.astype(int), position[keep]) if not hit.all() else np.nan,
        "top": ranked[: max(k, 5)].tolist(),
    }


def check_known_motif(residue: np.ndarray, motifs: Sequence[dict], z: float = 3.0) -> list[dict]:
    """Check expected residue effects against a signed residue attribution.

    A motif ``{offset, residues, effect}`` is *found* when the mean score of its residues at that
    offset lies at least ``z`` robust standard deviations (1.4826 x median absolute deviation of
    all scores off the centre) above zero for ``enriched``, below zero for ``depleted``.

    Parameters
    ----------
    residue : (L, 20) signed scores per offset and amino acid.
    motifs : e.g. ``[{"offset": 1, "residues": "P", "effect": "depleted"}]``.

    Returns
    -------
    one dict per motif: the motif plus ``score``, ``z`` and ``found``.
    """
    residue = np.asarray(residue, np.float64)
    length = residue.shape[0]
    h = length // 2
    off_centre = np.delete(residue, h, axis=0) if length > 1 else residue
    mad = np.median(np.abs(off_centre - np.median(off_centre)))
    sigma = max(1.4826 * mad, 1e-9 * float(np.abs(residue).max()), 1e-300)
    out = []
    for i, m in enumerate(motifs):
        offset, letters, effect = validate_motif(m, h, i)
        score = float(residue[h + offset, [AMINO_ACIDS.index(c) for c in letters]].mean())
        zval = score / sigma
        found = zval >= z if effect == "enriched" else zval <= -z
        out.append({"offset": offset, "residues": letters, "effect": effect, "score": score,
                    "z": zval, "found": bool(found)})
    return out


def validate_motif(m: dict, h: int, i: int = 0) -> tuple[int, str, str]:
    """Check one known-motif entry (``i``: its place in the list) against half width ``h``;
    return ``(offset, residues, effect)``."""
    record = f"known_motif[{i}]"
    if not isinstance(m, dict) or not {"offset", "residues", "effect"} <= set(m):
        raise InputError("needs offset, residues and effect", record=record)
    try:
        offset = int(m["offset"])
    except (TypeError, ValueError):
        raise InputError(f"offset {m['offset']!r} is not an integer", record=record) from None
    letters = str(m["residues"]).upper()
    if abs(offset) > h:
        raise InputError(f"offset {offset} lies outside the window (-{h}..+{h})", record=record)
    if not letters or any(c not in AMINO_ACIDS for c in letters):
        raise InputError(f"residues {m['residues']!r} must be amino-acid letters", record=record)
    if m["effect"] not in ("enriched", "depleted"):
        raise InputError(f"effect {m['effect']!r} must be 'enriched' or 'depleted'",
                         record=record)
    return offset, letters, m["effect"]


def parse_known_motif(items: Sequence[str]) -> list[dict]:
    """``OFFSET:RESIDUES:EFFECT`` strings (e.g. ``+1:P:depleted``) or YAML/JSON files holding a
    list of ``{offset, residues, effect}`` (or a mapping with a ``known_motif`` list)."""
    motifs: list[dict] = []
    for item in items:
        if Path(item).is_file():
            with open(item) as fh:
                data = yaml.safe_load(fh)
            data = data.get("known_motif", data) if isinstance(data, dict) else data
            if not isinstance(data, list):
                raise InputError("expected a list of {offset, residues, effect}", path=item)
            motifs += data
            continue
        parts = item.split(":")
        if len(parts) != 3:
            raise InputError(f"known motif {item!r} must be OFFSET:RESIDUES:EFFECT or a file")
        try:
            offset = int(parts[0])
        except ValueError:
            raise InputError(f"known motif {item!r}: offset is not an integer") from None
        motifs.append({"offset": offset, "residues": parts[1], "effect": parts[2]})
    return motifs
