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
    with _temporary(Path(path)) as tmp:
        yield tmp
        os.replace(tmp, path)


@contextlib.contextmanager
def atomic_paths(*paths: str | os.PathLike) -> Iterator[list[str]]:
    """:func:`atomic_path` for files that belong together: all are renamed into place after the
    block, and if one rename fails those already in place are removed (all or none)."""
    with contextlib.ExitStack() as stack:
        tmps = [stack.enter_context(_temporary(Path(p))) for p in paths]
        yield tmps
        done: list[Path] = []
        try:
            for tmp, path in zip(tmps, paths, strict=True):
                os.replace(tmp, path)
                done.append(Path(path))
        except BaseException:
            for path in done:
                path.unlink(missing_ok=True)
            raise


@contextlib.contextmanager
def _temporary(path: Path) -> Iterator[str]:
    """A temporary path next to ``path``, removed on exit unless renamed away; a system error
    about it names ``path``, the file the caller asked for."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        yield str(tmp)
    except OSError as err:
        if str(tmp) not in (err.filename, err.filename2):
            raise
        raise type(err)(err.errno, err.strerror, str(path)) from None
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text_to(tmp: str, text: str, gz: bool) -> None:
    """Write ``text`` into ``tmp`` as UTF-8 (gzip without timestamp when ``gz``)."""
    if gz:
        with open(tmp, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw,
                                                  mtime=0) as out:
            out.write(text.encode("utf-8"))
    else:
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)


def write_texts(texts: dict[str | os.PathLike, str]) -> None:
    """Write files that belong together (``{path: text}``): all of them or none."""
    with atomic_paths(*texts) as tmps:
        for tmp, (path, text) in zip(tmps, texts.items(), strict=True):
            write_text_to(tmp, text, str(path).endswith(".gz"))


def write_text(text: str, path: str | os.PathLike) -> None:
    """Write text atomically (gzip without timestamp when the name ends in .gz)."""
    with atomic_path(path) as tmp:
        write_text_to(tmp, text, str(path).endswith(".gz"))


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
