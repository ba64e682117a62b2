"""Dataset preparation: inputs -> labelled, split, deduplicated windows table + summary.

Writes ``windows.tsv.gz`` (``protein_id, position, residue, window, label, split``) and
``summary.json``; both appear together or not at all.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kanbio import config as cfg
from kanbio.data import split as splitting
from kanbio.data.fasta import (
    Protein,
    ReadReport,
    read_fasta_with_sites,
    read_marked_fasta,
    read_window_fasta,
)
from kanbio.data.table import SPLITS, WINDOW_COLUMNS
from kanbio.data.windows import extract
from kanbio.errors import InputError
from kanbio.output import json_text, table_text, write_texts


def _read_side(ds: dict, prefix: str, report: ReadReport) -> tuple[pd.DataFrame, dict[str, str],
                                                                   str]:
    """Read one side (``""`` or ``"test_"``) of a dataset into a windows frame + sequences.

    A side whose files hold no usable record at all is an error.
    """
    res, h, strict = ds["residues"], ds["half_width"], ds["strict"]
    pos, neg = ds.get(prefix + "positives"), ds.get(prefix + "negatives")
    fastas, sites = ds.get(prefix + "fasta"), ds.get(prefix + "sites")
    side = ReadReport()
    if pos or neg:
        rows = []
        for paths, label in ((pos or [], 1), (neg or [], 0)):
            for path in paths:
                wins, rep = read_window_fasta(path, label, res, h, strict)
                side.merge(rep)
                rows += [(w.protein_id, w.position, w.window[h], w.window, w.label) for w in wins]
        if not rows:
            raise side.nothing_kept([*(pos or []), *(neg or [])])
        report.merge(side)
        frame = pd.DataFrame(rows, columns=WINDOW_COLUMNS)
        _check_classes(frame, side, [*(pos or []), *(neg or [])], res)
        return frame, {}, "windows"
    if not fastas:
        raise InputError(f"dataset needs '{prefix}fasta' or "
                         f"'{prefix}positives'/'{prefix}negatives'")
    if sites and len(sites) != len(fastas):
        raise InputError(f"'{prefix}sites' must list one site table per '{prefix}fasta' file")
    proteins: list[Protein] = []
    seen: set[str] = set()
    for i, fasta in enumerate(fastas):
        if sites:
            prots, rep = read_fasta_with_sites(fasta, sites[i], res, strict)
        else:
            prots, rep = read_marked_fasta(fasta, res, strict)
        side.merge(rep)
        for p in prots:
            if p.id in seen:
                side.drop(InputError("duplicate protein id across input files", fasta, p.id),
                          "duplicate_id", strict)
                continue
            seen.add(p.id)
            proteins.append(p)
    if not proteins:
        raise side.nothing_kept(fastas)
    report.merge(side)
    fmt = "fasta+sites" if sites else "marked_fasta"
    frame = extract(proteins, res, h).to_frame()
    _check_classes(frame, side, [*fastas, *(sites or [])], res)
    return frame, {p.id: p.seq for p in proteins}, fmt


def _check_classes(frame: pd.DataFrame, side: ReadReport, paths: list, residues: str) -> None:
    """A side whose candidates are all of one class can be neither trained nor scored."""
    if frame.empty:
        return  # the caller reports a dataset without any candidate
    n_pos = int(frame.label.sum())
    if 0 < n_pos < len(frame):
        return
    dropped = ", ".join(f"{k} {v}" for k, v in sorted(side.dropped.items())) or "none"
    which, hint = ("no positive site", "check protein ids, 1-based positions and the site "
                   f"residues ({residues})") if n_pos == 0 else \
        ("no negative candidate", "every candidate residue is marked as a site")
    raise InputError(f"{which} among {len(frame)} candidate windows (dropped: {dropped}); "
                     f"{hint}", path=", ".join(map(str, paths)))


def build(ds: dict, threads: int = 1) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read, cut, split and deduplicate one dataset; return ``(table, summary)``."""
    report = ReadReport()
    train, seqs, fmt = _read_side(ds, "", report)
    sp = ds["split"]
    test = None
    if any(ds.get(k) for k in ("test_fasta", "test_positives", "test_negatives")):
        test, test_seqs, _ = _read_side(ds, "test_", report)
        overlap = set(train.protein_id) & set(test.protein_id)
        if overlap:
            n = int(train.protein_id.isin(overlap).sum())
            report.dropped["protein_in_train_and_test"] += n
            train = train[~train.protein_id.isin(overlap)]
        seqs = {**seqs, **test_seqs}
    table = pd.concat([train, test], ignore_index=True) if test is not None else train
    if table.empty:
        raise InputError("no candidate windows: no usable record has a target residue "
                         f"({ds['residues']})")
    summary: dict[str, Any] = {
        "format": fmt,
        "residues": ds["residues"],
        "half_width": ds["half_width"],
        "window_length": 2 * ds["half_width"] + 1,
        "proteins": int(table.protein_id.nunique()) if not seqs else len(seqs),
        "proteins_with_candidates": int(table.protein_id.nunique()),
        "candidates": len(table),
        "positives": int(table.label.sum()),
        "negatives": int((table.label == 0).sum()),
        "records_read": report.records,
        "letters_normalised": dict(sorted(report.letters_normalised.items())),
        "dropped": dict(sorted(report.dropped.items())),
        "warnings": report.warnings,
    }
    fr = tuple(sp["fractions"])
    if test is not None:
        val_fraction = fr[1] / (fr[0] + fr[1])
        if sp["method"] == "homology":
            if not seqs:
                raise InputError("homology split needs full protein sequences, not pre-cut "
                                 "windows")
            mapping = splitting.predefined_split(
                table, set(test.protein_id), val_fraction, sp["seed"], sequences=seqs,
                identity=sp["identity"], coverage=sp["coverage"], threads=threads)
            summary["split_method"] = (
                "predefined test set, validation carved by homology (MMseqs2 clusters, "
                f"identity {sp['identity']}, coverage {sp['coverage']})")
        else:
            mapping = splitting.predefined_split(table, set(test.protein_id), val_fraction,
                                                 sp["seed"])
            summary["split_method"] = "predefined test set, validation carved by protein"
    elif sp["method"] == "homology":
        if not seqs:
            raise InputError("homology split needs full protein sequences, not pre-cut windows")
        mapping = splitting.homology_split(table, seqs, fr, sp["seed"], identity=sp["identity"],
                                           coverage=sp["coverage"], threads=threads)
        summary["split_method"] = (f"homology (MMseqs2 clusters, identity {sp['identity']}, "
                                   f"coverage {sp['coverage']})")
    else:
        mapping = splitting.protein_split(table, fr, sp["seed"])
        summary["split_method"] = "protein"
    table, split_report = splitting.assign_splits(table, mapping)
    summary.update(split_report)
    summary["splits"] = {
        s: {"proteins": int(t.protein_id.nunique()), "windows": len(t),
            "positives": int(t.label.sum()), "negatives": int((t.label == 0).sum())}
        for s in SPLITS for t in [table[table.split == s]]
    }
    summary["split_warnings"] = _check_splits(summary, fr, test is not None)
    order = np.argsort(table.split.map({s: i for i, s in enumerate(SPLITS)}).to_numpy(),
                       kind="stable")
    table = table.iloc[order].reset_index(drop=True)
    return table[[*WINDOW_COLUMNS, "split"]], summary


def _check_splits(summary: dict, fractions: tuple, predefined: bool) -> list[str]:
    """Warnings for splits the later stages cannot use: a training split without both classes,
    an empty test split, a one-class validation or test split."""
    sp, n = summary["splits"], summary["proteins_with_candidates"]
    why = f"({n} proteins with candidates, fractions {list(fractions)})"
    warnings = []
    for name in SPLITS:
        c = sp[name]
        if c["windows"] == 0:
            if name == "test" and not predefined and fractions[2] > 0:
                warnings.append(f"the test split is empty {why}: nothing to evaluate on; add "
                                "proteins or change split.fractions")
            elif name == "train":
                warnings.append(f"the training split is empty {why}")
        elif c["positives"] == 0 or c["negatives"] == 0:
            use = "nothing to train on" if name == "train" else "its AUROC and thresholds are " \
                "undefined"
            warnings.append(f"the {'training' if name == 'train' else name} split has "
                            f"{c['positives']} positive and {c['negatives']} negative windows "
                            f"{why}: {use}")
    return warnings


def write(table: pd.DataFrame, summary: dict, out_dir: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``windows.tsv.gz`` and ``summary.json``: both or neither."""
    out = Path(out_dir)
    win_path, sum_path = out / "windows.tsv.gz", out / "summary.json"
    write_texts({win_path: table_text(table), sum_path: json_text(summary)})
    return win_path, sum_path


def prepare(ds: dict, out_dir: str | os.PathLike, name: str = "", threads: int = 1) -> dict:
    """Build one dataset and write it to ``out_dir``; return the summary.

    ``ds`` is one dataset of a config with the defaults filled in (:func:`kanbio.config.dataset`).

    Examples
    --------
    >>> from kanbio import config
    >>> cfg = config.load("config/config.yaml")  # doctest: +SKIP
    >>> summary = prepare(config.dataset(cfg, "kinase"), "results/kinase")  # doctest: +SKIP
    >>> summary["candidates"], summary["positives"]  # doctest: +SKIP
    (3771, 698)
    """
    table, summary = build(ds, threads)
    summary = {"dataset": name, **summary}
    write(table, summary, out_dir)
    return summary


# ----------------------------------------------------------------------------------------- CLI
def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``kanbio prepare``."""
    p.add_argument("--config", help="YAML config (with --dataset)")
    p.add_argument("--dataset", help="dataset name in the config")
    p.add_argument("--fasta", nargs="+", help="FASTA file(s), '#'-marked or with --sites")
    p.add_argument("--sites", nargs="+", help="site table(s): protein_id, position[, label]")
    p.add_argument("--positives", nargs="+", help="pre-cut positive window FASTA(s)")
    p.add_argument("--negatives", nargs="+", help="pre-cut negative window FASTA(s)")
    p.add_argument("--test-fasta", nargs="+", help="FASTA(s) of a predefined test set")
    p.add_argument("--test-sites", nargs="+")
    p.add_argument("--test-positives", nargs="+")
    p.add_argument("--test-negatives", nargs="+")
    p.add_argument("--residues", help="candidate residues, e.g. ST or K")
    p.add_argument("--half-width", type=int, help="window half width h (length 2h+1; default 16)")
    p.add_argument("--split", choices=["protein", "homology"], help="split method")
    p.add_argument("--identity", type=float, help="MMseqs2 identity threshold (homology split)")
    p.add_argument("--seed", type=int, help="split seed")
    p.add_argument("--strict", action="store_true", help="any bad record is fatal")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", required=True, help="output folder")


def run(args: argparse.Namespace) -> int:
    """Run ``kanbio prepare``; print a one-line summary on stderr."""
    flags = {k: getattr(args, k) for k in (*cfg.INPUT_KEYS, "residues", "half_width")}
    flags = {k: v for k, v in flags.items() if v is not None}
    if args.config:
        config = cfg.load(args.config)
        if not args.dataset:
            raise InputError("--dataset is required with --config", path=args.config)
        cfg.dataset(config, args.dataset, args.config)  # a clear error for an unknown name
        config["datasets"][args.dataset].update(flags)
    else:
        if "residues" not in flags:
            raise InputError("--residues is required without --config")
        config = {"datasets": {args.dataset or "dataset": flags}}
        args.dataset = args.dataset or "dataset"
    if args.strict:
        config["datasets"][args.dataset]["strict"] = True
    split = {k: v for k, v in (("method", args.split), ("identity", args.identity),
                               ("seed", args.seed)) if v is not None}
    if split:
        config["datasets"][args.dataset]["split"] = {
            **config["datasets"][args.dataset].get("split", {}), **split}
    cfg.validate(config, args.config or "command line")
    ds = cfg.dataset(config, args.dataset, args.config or "command line")
    summary = prepare(ds, args.out, args.dataset, threads=args.threads)
    dropped = ", ".join(f"{k} {v}" for k, v in summary["dropped"].items()) or "none"
    print(f"{args.dataset}: {summary['proteins']} proteins, {summary['candidates']} candidates "
          f"({summary['positives']} positive, {summary['negatives']} negative); dropped: "
          f"{dropped}; written to {args.out}", file=sys.stderr)
    for warning in summary["split_warnings"]:
        print(f"{args.dataset}: warning: {warning}", file=sys.stderr)
    return 0
