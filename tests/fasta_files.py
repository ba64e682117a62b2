"""Writing FASTA files for tests."""

from __future__ import annotations


def write_fasta(records: list[tuple[str, str]], path, width: int = 0) -> None:
    """Write ``(id, sequence)`` records, ``width`` letters per line (0: one line)."""
    with open(path, "w") as fh:
        for rid, seq in records:
            step = width or max(len(seq), 1)
            fh.write(f">{rid}\n" + "".join(seq[i : i + step] + "\n"
                                            for i in range(0, len(seq), step)))
