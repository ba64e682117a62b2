"""Score every candidate residue of new FASTA files with a trained checkpoint (``kanbio predict``).

FASTA files of any size are streamed: records are read and validated with
:func:`kanbio.data.fasta.iter_records`, as ``prepare`` reads them (same errors; a record with no
sequence is dropped as ``empty_sequence``, and input without a usable record is an error), ``#``
site marks are stripped, and proteins are processed in chunks of about ``chunk_residues``
residues. Windows are scored in fixed batches of :data:`BATCH` rows counted over the whole stream,
so the output does not depend on the chunk size. Memory: one chunk and its windows, plus the set
of protein ids seen (duplicates are errors). Rows go to a temporary file that is renamed into place
only when every record was read (gzip without timestamp when the name ends in ``.gz``): bad input
never leaves a partial file.

Columns of the output table (one row per candidate residue, in input order):

``protein_id, position`` (1-based), ``residue``, ``window`` (X-padded, the model's length),
``probability`` (sigmoid of the log-odds, 6 decimals), ``label`` (1 if log-odds >= threshold),
``top_offsets`` (the offsets, e.g. ``-3,+1,+2``, contributing most to this window's score; empty
with ``top=0``). Labels are always predictions: sites marked in the input are not reported.

Threshold: an explicit ``threshold`` (log-odds), else ``threshold`` of ``metrics.json`` in the
checkpoint folder (chosen on validation by ``kanbio evaluate``), else 0.0 (probability 0.5).

Contributions (``top_offsets``): the contribution of offset ``p`` to window ``n`` is the
first-order change of the log-odds when the residue ``a_np`` is replaced by the position's average
amino acid, signed as what the residue adds (see
:func:`kanbio.models.inference.window_scorer`). KAN, MLP and logistic models start with a table
lookup on one-hot windows, ``s = b + sum_p W[p, a_p]``, followed by a head ``logit = f(s)``; the
replacement moves ``s`` by ``mean_b W[p, b] - W[p, a_np]`` (``b`` over the 20 amino acids), so
``c_np = g_n . (W[p, a_np] - mean_b W[p, b])`` with ``g_n = df/ds`` at ``s_n`` (exact derivatives,
one backward pass through the head per batch): exact for the logistic baseline and the per-window
form of the ``exact`` KAN attribution of :mod:`kanbio.explain.attribution`. A CNN has no such
table but its first convolution is linear in the one-hot input: the replacement sets the one-hot
``e_a`` at ``p`` to ``1/20`` on each of the 20 amino acids, so ``c_np = G[n, p, a_np] - mean_b G[n,
p, b]`` with ``G = d logit / d x`` the gradient on the one-hot input (centred gradient x input; one
backward pass through the whole network, about three forward passes' cost; for an MLP this is the
same number as its table form). With ReLU (its default) and max / mean pooling a CNN is piecewise
linear in its input, so ``c_np`` is the exact change whenever the replacement crosses no kink and
a first-order estimate otherwise (an exact, ISM-style change would cost ``L`` more forward passes
per window).
Offsets are ranked by ``|c_np|``; the centre (the candidate residue itself) is not ranked,
padding past a sequence end is (a nearby terminus is information too); ties keep the lower offset
first.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import logging
import math
import os
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
from scipy.special import expit

from kanbio.data.alphabet import LETTERS
from kanbio.data.fasta import ReadReport, iter_records
from kanbio.data.textio import iter_fasta
from kanbio.data.windows import extract_indices, layout, residue_codes
from kanbio.errors import InputError
from kanbio.models import checkpoint
from kanbio.models.inference import window_scorer
from kanbio.output import atomic_path

COLUMNS = ["protein_id", "position", "residue", "window", "probability", "label", "top_offsets"]
BATCH = 8192  # windows per scoring batch (as kanbio.models.predict_logit)
CHUNK_RESIDUES = 4_000_000
TOP_METHOD = ("first-order change of the log-odds when the residue is replaced by the position's "
              "average amino acid (centred gradient x one-hot input); centre excluded")
log = logging.getLogger(__name__)



# ---------------------------------------------------------------------------------- ranking
def top_order(contrib: np.ndarray, top: int = 3) -> np.ndarray:
    """Window positions (n, k) of the ``k = min(top, L - 1)`` largest ``|contribution|`` per
    window, largest first, the centre excluded; ties keep the lower position first."""
    n, length = contrib.shape
    k = max(0, min(top, length - 1))
    if k == 0:
        return np.zeros((n, 0), np.int64)
    mag = np.abs(contrib).astype(np.float64)  # (n, L)
    mag[:, length // 2] = -1.0  # the candidate itself is never ranked (k <= L - 1 keeps it out)
    order = np.empty((n, k), np.int64)
    rows = np.arange(n)
    for i in range(k):  # argmax returns the first (lowest) position among ties
        order[:, i] = j = mag.argmax(1)
        mag[rows, j] = -np.inf
    return order


def top_offsets(contrib: np.ndarray, top: int = 3) -> list[str]:
    """:func:`top_order` as offset strings, e.g. ``-3,+1,+2``."""
    h = contrib.shape[1] // 2
    return [",".join(f"{j - h:+d}" for j in row) for row in top_order(contrib, top).tolist()]


# ------------------------------------------------------------------------------------- input
def _chunks(records: Iterator[tuple[str, str]], max_residues: int,
            max_proteins: int | None) -> Iterator[tuple[list[str], list[str]]]:
    """Group records into ``(ids, sequences)`` chunks of about ``max_residues`` residues."""
    ids: list[str] = []
    seqs: list[str] = []
    size = 0
    for rid, seq in records:
        ids.append(rid)
        seqs.append(seq)
        size += len(seq)
        if size >= max_residues or (max_proteins and len(ids) >= max_proteins):
            yield ids, seqs
            ids, seqs, size = [], [], 0
    if ids:
        yield ids, seqs


def _windows(ids: list[str], seqs: list[str], residues: str, h: int
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidate windows of one chunk: ``(protein ids (N,), positions (N,), windows (N, L))``."""
    buf, starts = layout(seqs, h)
    centres, wins = extract_indices(buf, starts, residues, h)  # wins: a copy (fancy indexing)
    owner = np.searchsorted(starts, centres, side="right") - 1
    pid = np.array([i.encode() for i in ids], dtype=bytes)  # (P,) UTF-8, NUL-padded
    return pid[owner], centres - starts[owner] + 1, wins


# ---------------------------------------------------------------------------------- settings
def _residues(meta: dict, residues: str | None, meta_path: Path) -> str:
    """The candidate residues: the model's by default; letters the model never saw are refused."""
    trained = str(meta.get("residues") or "").upper()
    if residues is None:
        if not trained:
            raise InputError("the checkpoint does not record its residues; give them "
                             "(--residues)", path=str(meta_path))
        residues = trained
    residues = residues.upper()
    try:
        residue_codes(residues)
    except ValueError as err:
        raise InputError(str(err)) from None
    extra = sorted(set(residues) - set(trained)) if trained else []
    if extra:
        raise InputError(f"residues {residues!r} include {''.join(extra)!r}, which the model was "
                         f"not trained on (its residues: {trained!r})", path=str(meta_path))
    return "".join(sorted(set(residues)))


def _threshold(model_dir: Path, threshold: float | None) -> tuple[float, str]:
    """Explicit threshold, else ``metrics.json`` of the checkpoint folder, else 0.0."""
    if threshold is not None:
        if not math.isfinite(threshold):
            raise InputError(f"threshold must be a finite log-odds value, got {threshold}")
        return float(threshold), "given"
    path = model_dir / "metrics.json"
    if not path.exists():
        return 0.0, "default (log-odds 0, probability 0.5; no metrics.json in the model folder)"
    try:
        value = json.loads(path.read_text()).get("threshold")
    except (json.JSONDecodeError, AttributeError):
        raise InputError("invalid metrics file (expected a JSON object)", path=str(path)) from None
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(f"metrics file has no finite 'threshold' (got {value!r})", path=str(path))
    return float(value), f"{path} (chosen on validation)"


# ------------------------------------------------------------------------------------ output
@contextlib.contextmanager
def _open_out(tmp: str, gz: bool) -> Iterator[IO[bytes]]:
    """A binary handle on ``tmp``: gzip (no name, no timestamp: deterministic) or plain."""
    with open(tmp, "wb") as raw:
        if not gz:
            yield raw
            return
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=1) as z:
            yield z


def _digits(values: np.ndarray, width: int) -> np.ndarray:
    """Non-negative integers (n,) as ASCII digits (n, width), right-aligned, NUL-padded."""
    out = np.zeros((len(values), width), np.uint8)
    rest = values.astype(np.int64)
    for j in range(width - 1, -1, -1):
        out[:, j] = np.where((rest > 0) | (j == width - 1), ord("0") + rest % 10, 0)
        rest = rest // 10
    return out


def _rows(pid: np.ndarray, pos: np.ndarray, wins: np.ndarray, logit: np.ndarray,
          contrib: np.ndarray, threshold: float, top: int) -> bytes:
    """TSV lines of one scored batch, assembled without a loop over rows.

    Every field is written into a byte matrix (one row per line), variable-width fields
    NUL-padded; deleting the NUL bytes of the whole block yields the lines. ``pid`` holds the
    UTF-8 protein ids as a bytes array (which cannot contain NUL).
    """
    n, length = wins.shape
    h = length // 2
    q = np.rint(expit(logit) * 1e6).astype(np.int64)  # probability in millionths
    order = top_order(contrib, top)  # (n, k)
    names = np.zeros((length, 3), np.uint8)  # offset names, NUL-padded on the left: "\0+1"
    for j in range(length):
        name = f"{j - h:+d}".encode()
        names[j, 3 - len(name):] = np.frombuffer(name, np.uint8)
    tops = np.full((n, order.shape[1], 4), ord(","), np.uint8)  # "NNN," per offset
    tops[:, :, :3] = names[order]
    ids = np.ascontiguousarray(pid).view(np.uint8).reshape(n, -1)
    fields = [
        ids, _tab(n),
        _digits(pos, len(str(int(pos.max(initial=0))))), _tab(n),
        LETTERS[wins[:, h]][:, None], _tab(n),
        LETTERS[wins], _tab(n),
        (ord("0") + q // 1_000_000)[:, None], np.full((n, 1), ord("."), np.uint8),
        _digits(q % 1_000_000 + 1_000_000, 7)[:, 1:], _tab(n),  # 6 decimals, zeros kept
        (ord("0") + (logit >= threshold))[:, None], _tab(n),
        tops.reshape(n, -1)[:, :-1],  # the last comma dropped
        np.full((n, 1), ord("\n"), np.uint8),
    ]
    block = np.concatenate([f.astype(np.uint8, copy=False) for f in fields], axis=1)
    return block.tobytes().translate(None, b"\0")


def _tab(n: int) -> np.ndarray:
    return np.full((n, 1), ord("\t"), np.uint8)


# -------------------------------------------------------------------------------------- main
def predict(
    model_dir: str | os.PathLike,
    fasta_paths: str | os.PathLike | Sequence[str | os.PathLike],
    out_path: str | os.PathLike,
    residues: str | None = None,
    threshold: float | None = None,
    chunk_residues: int = CHUNK_RESIDUES,
    chunk_proteins: int | None = None,
    top: int = 3,
    strict: bool = True,
) -> dict[str, Any]:
    """Score every candidate residue of ``fasta_paths`` with the checkpoint in ``model_dir``.

    Parameters
    ----------
    model_dir : checkpoint folder (``model.pt``, ``model.json``; ``metrics.json`` optional).
    fasta_paths : FASTA file(s), plain or gzip, optionally ``#``-marked (marks are ignored).
    out_path : output table (TSV, gzip if the name ends in ``.gz``); columns :data:`COLUMNS`.
    residues : candidate residues (default: the model's); letters it was not trained on are
        refused.
    threshold : log-odds threshold for ``label`` (default: ``metrics.json``, else 0.0).
    chunk_residues, chunk_proteins : a chunk of proteins is processed once it holds this many
        residues (or proteins): the memory bound. The output does not depend on them.
    top : offsets listed in ``top_offsets``.
    strict : a malformed record (bad character, bad mark, duplicate id) stops everything; else it
        is skipped and counted in ``dropped``. A record with no sequence is always skipped and
        counted (``empty_sequence``).

    Returns
    -------
    Summary: counts, the threshold and its source, timing.

    Examples
    --------
    >>> s = predict("results/kinase/models/kan/seed0", "new.fasta", "new.tsv.gz")  # doctest: +SKIP
    >>> s["windows"], s["predicted_positive"]  # doctest: +SKIP
    (1520, 97)
    """
    t0 = time.perf_counter()
    paths = [str(fasta_paths)] if isinstance(fasta_paths, (str, os.PathLike)) else \
        [str(p) for p in fasta_paths]
    if not paths:
        raise InputError("no FASTA file given")
    if chunk_residues < 1 or (chunk_proteins is not None and chunk_proteins < 1) or top < 0:
        raise InputError("chunk sizes must be positive and top non-negative")
    model_dir = Path(model_dir)
    model, meta = checkpoint.load(model_dir)
    length = meta.get("window_length")
    if not isinstance(length, int) or length < 1 or length % 2 == 0:
        raise InputError(f"checkpoint has no odd window_length (got {length!r})",
                         path=str(model_dir / "model.json"))
    h = length // 2
    res = _residues(meta, residues, model_dir / "model.json")
    thr, source = _threshold(model_dir, threshold)
    for p in paths:  # a missing, empty or binary file fails before any work
        with contextlib.closing(iter_fasta(p)) as records:
            next(records, None)
    scorer = window_scorer(model, length)

    def score(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return scorer(idx, top > 0)

    report = ReadReport()
    marks = 0
    counts = {"proteins": 0, "residues": 0, "windows": 0, "predicted_positive": 0, "chunks": 0}
    pending: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def flush(out: IO[bytes], final: bool) -> None:
        """Score and write whole batches of the pending windows (the rest too when final)."""
        total = sum(len(p[0]) for p in pending)
        n = total if final else total - total % BATCH
        if n == 0:
            return
        pid, pos, wins = (np.concatenate([p[i] for p in pending]) for i in range(3))
        for s in range(0, n, BATCH):
            e = min(s + BATCH, n)
            logit, contrib = score(wins[s:e])
            counts["predicted_positive"] += int((logit >= thr).sum())
            out.write(_rows(pid[s:e], pos[s:e], wins[s:e], logit, contrib, thr, top))
        pending[:] = [(pid[n:], pos[n:], wins[n:])] if n < total else []

    def records() -> Iterator[tuple[str, str]]:
        """Validated ``(id, clean sequence)`` records of every file, '#' marks stripped and
        counted."""
        nonlocal marks
        for rec in iter_records(paths, report, strict, marks="sites"):
            report.letters_normalised.update(rec.mapped)
            marks += len(rec.marks)
            yield rec.id, rec.seq

    with atomic_path(out_path) as tmp, _open_out(tmp, str(out_path).endswith(".gz")) as out:
        out.write(("\t".join(COLUMNS) + "\n").encode())
        for ids, seqs in _chunks(records(), chunk_residues, chunk_proteins):
            pid, pos, wins = _windows(ids, seqs, res, h)
            counts["chunks"] += 1
            counts["proteins"] += len(ids)
            counts["residues"] += sum(map(len, seqs))
            counts["windows"] += len(pid)
            pending.append((pid, pos, wins))
            flush(out, final=False)
        flush(out, final=True)
        if not counts["proteins"]:
            raise report.nothing_kept(paths)
    seconds = time.perf_counter() - t0
    summary = {
        "model": str(model_dir), "type": meta.get("type"), "fasta": paths, "out": str(out_path),
        "residues_scored": res, "model_residues": meta.get("residues"), "half_width": h,
        "window_length": length, **counts, "threshold": thr, "threshold_source": source,
        "records_read": report.records, "marks_stripped": marks,
        "letters_normalised": dict(sorted(report.letters_normalised.items())),
        "dropped": dict(sorted(report.dropped.items())), "warnings": report.warnings,
        "top_offsets": TOP_METHOD, "seconds": round(seconds, 3),
        "residues_per_second": round(counts["residues"] / max(seconds, 1e-9)),
    }
    log.info("predict: %d proteins, %d %s windows, %d predicted positive; written to %s",
             counts["proteins"], counts["windows"], res, counts["predicted_positive"], out_path)
    return summary


# --------------------------------------------------------------------------------------- CLI
def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Options of ``kanbio predict``."""
    parser.add_argument("--model", required=True, help="checkpoint folder")
    parser.add_argument("--fasta", required=True, nargs="+",
                        help="FASTA file(s) to score (gzip allowed; '-' is standard "
                        "input; '#' marks are ignored)")
    parser.add_argument("--out", required=True, help="output table (.tsv or .tsv.gz)")
    parser.add_argument("--residues", help="candidate residues (default: the model's)")
    parser.add_argument("--threshold", type=float,
                        help="log-odds threshold for 'label' (default: metrics.json of the "
                        "model folder, else 0)")
    parser.add_argument("--chunk-residues", type=int, default=CHUNK_RESIDUES,
                        help="residues per processing chunk (bounds memory)")
    parser.add_argument("--batch-proteins", type=int,
                        help="also end a chunk after this many proteins")
    parser.add_argument("--top", type=int, default=3, help="offsets listed in top_offsets")
    parser.add_argument("--skip-invalid", action="store_true",
                        help="skip (and count) malformed records instead of stopping")
    return parser


def run(args: argparse.Namespace) -> int:
    """Run ``kanbio predict``; print a one-line summary on stderr."""
    s = predict(args.model, args.fasta, args.out, residues=args.residues,
                threshold=args.threshold, chunk_residues=args.chunk_residues,
                chunk_proteins=args.batch_proteins, top=args.top, strict=not args.skip_invalid)
    dropped = ", ".join(f"{k} {v}" for k, v in s["dropped"].items()) or "none"
    print(f"{s['proteins']} proteins, {s['residues']} residues, {s['windows']} candidate "
          f"windows ({s['residues_scored']}), {s['predicted_positive']} predicted positive at "
          f"log-odds {s['threshold']:.4g} ({s['threshold_source']}); dropped: {dropped}; "
          f"{s['residues_per_second'] / 1e6:.2f} M residues/s; written to {args.out}",
          file=sys.stderr)
    return 0
