"""Stage ``search``: a model's declared grid on the train/val splits of a windows table ->
every candidate's validation scores (TSV) and the chosen spec (JSON)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from kanbio.config import DEFAULTS, read_yaml, validate_model
from kanbio.data.table import read_encoded
from kanbio.errors import InputError
from kanbio.output import json_text, table_text, write_texts
from kanbio.search import METRICS, apply, search


def search_table(windows_path: str | os.PathLike, spec: dict[str, Any], out_tsv: str | os.PathLike,
                 out_json: str | os.PathLike, seed: int = 0, metric: str = "auroc",
                 reference: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run :func:`search` on the train/val splits of a windows table; write the TSV and JSON."""
    data = read_encoded(windows_path, ("train", "val"))  # the test split never enters selection
    idx, y, tr, va = data.idx, data.y, data.mask("train"), data.mask("val")
    if not tr.any():
        raise InputError("no training windows", path=str(windows_path))
    try:
        result, choice = search(idx[tr], y[tr], idx[va], y[va], spec, seed, metric, reference)
    except InputError as err:
        raise InputError(str(err), path=str(windows_path)) from None
    write_texts({out_tsv: table_text(result), out_json: json_text(choice)})
    return choice


def selected_spec(choice_path: str | os.PathLike | None, spec: dict[str, Any]) -> dict[str, Any]:
    """The spec to train: the search's choice when there is one, else ``spec`` as given."""
    if not choice_path:
        return apply(spec, {})
    return json.loads(Path(choice_path).read_text())["spec"]


# ----------------------------------------------------------------------------------------- CLI
def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``kanbio search``."""
    p.add_argument("--windows", required=True, help="windows.tsv.gz from 'kanbio prepare'")
    p.add_argument("--spec", required=True,
                   help="YAML/JSON model spec with a 'search' grid (spec key or train.<option> "
                   "-> list of values)")
    p.add_argument("--out", required=True, help="output prefix: writes <out>.tsv and <out>.json")
    p.add_argument("--metric", choices=list(METRICS), default=DEFAULTS["search"]["metric"],
                   help="validation metric that picks the candidate")
    p.add_argument("--seed", type=int, default=0, help="seed of the candidate fits")


def run(args: argparse.Namespace) -> int:
    """Run ``kanbio search``; print the choice on stderr."""
    spec = validate_model(read_yaml(args.spec, "model spec"), args.spec)
    if not spec.get("search"):
        raise InputError("the spec has no 'search' grid", path=args.spec)
    choice = search_table(args.windows, spec, f"{args.out}.tsv", f"{args.out}.json", args.seed,
                          args.metric)
    print(f"{choice['candidates']} candidates; chosen by {choice['rule']}: "
          f"{json.dumps(choice['selected'], sort_keys=True)} "
          f"({choice['val'][args.metric]:.4f}); written to {args.out}.tsv and {args.out}.json",
          file=sys.stderr)
    return 0
