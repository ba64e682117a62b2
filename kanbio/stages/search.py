"""Stage ``search``: a model's declared grid on the train/val splits of a windows table ->
every candidate's validation scores (TSV) and the chosen spec (JSON)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from kanbio.data.table import read_encoded
from kanbio.errors import InputError
from kanbio.output import json_text, write_table, write_text
from kanbio.search import apply, search


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
    write_table(result, out_tsv)
    write_text(json_text(choice), out_json)
    return choice


def selected_spec(choice_path: str | os.PathLike | None, spec: dict[str, Any]) -> dict[str, Any]:
    """The spec to train: the search's choice when there is one, else ``spec`` as given."""
    if not choice_path:
        return apply(spec, {})
    return json.loads(Path(choice_path).read_text())["spec"]
