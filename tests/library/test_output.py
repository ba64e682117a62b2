"""Outputs that belong together are written all or none, and byte for byte the same each time."""

from __future__ import annotations

import gzip

import pytest

from kanbio.output import write_texts


def test_files_written_together_or_not_at_all(tmp_path):
    table, summary = tmp_path / "t.tsv.gz", tmp_path / "s.json"
    write_texts({table: "a\tb\n1\t2\n", summary: "{}\n"})
    assert gzip.decompress(table.read_bytes()) == b"a\tb\n1\t2\n"
    assert summary.read_text() == "{}\n"
    first = table.read_bytes()
    write_texts({table: "a\tb\n1\t2\n", summary: "{}\n"})
    assert table.read_bytes() == first  # gzip without a timestamp

    fresh, blocked = tmp_path / "new.tsv", tmp_path / "blocked.json"
    blocked.mkdir()  # the second file cannot be put in place
    with pytest.raises(IsADirectoryError):
        write_texts({fresh: "x\n", blocked: "{}\n"})
    assert not fresh.exists() and blocked.is_dir()
    assert not list(tmp_path.glob(".*.tmp*"))  # no temporary file is left behind
