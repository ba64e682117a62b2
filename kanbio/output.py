"""Atomic, byte-deterministic output: temp file + rename, gzip without timestamps, sorted JSON."""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary path next to ``path``; rename it into place only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        yield str(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text(text: str, path: str | os.PathLike) -> None:
    """Write text atomically (gzip without timestamp when the name ends in .gz)."""
    with atomic_path(path) as tmp:
        if str(path).endswith(".gz"):
            with open(tmp, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw,
                                                      mtime=0) as gz:
                gz.write(text.encode("utf-8"))
        else:
            with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
                fh.write(text)


def table_text(df: pd.DataFrame, float_format: str | None = "%.6g") -> str:
    """A DataFrame as TSV text (no index, fixed float format)."""
    buf = io.StringIO()
    df.to_csv(buf, sep="\t", index=False, float_format=float_format, lineterminator="\n")
    return buf.getvalue()


def write_table(df: pd.DataFrame, path: str | os.PathLike, float_format: str | None = "%.6g"):
    """Write a TSV table atomically (gzip if the name ends in .gz)."""
    write_text(table_text(df, float_format), path)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, "item"):  # numpy scalars
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def json_text(obj: Any) -> str:
    return json.dumps(_jsonable(obj), indent=2, sort_keys=True) + "\n"


def write_json(obj: Any, path: str | os.PathLike) -> None:
    """Write JSON atomically with sorted keys (NaN becomes null)."""
    write_text(json_text(obj), path)


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a TSV table written by :func:`write_table` (gzip detected by pandas)."""
    return pd.read_csv(path, sep="\t", keep_default_na=False, na_values=[""])
