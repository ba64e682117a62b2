"""Counts and window re-derivation on the real datasets in ../shared/data (skipped if absent)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from kanbio.data.fasta import read_fasta_with_sites, read_marked_fasta, read_window_fasta
from kanbio.data.windows import extract

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
pytestmark = pytest.mark.skipif(not SHARED.is_dir(),
                                reason=f"real datasets not available ({SHARED} is absent)")


def test_capsnet_sumo_counts():
    """All 10 test folds together: the counts stated in its PROVENANCE.md."""
    proteins, dropped, mapped = [], Counter(), Counter()
    for k in range(10):
        prots, rep = read_marked_fasta(SHARED / f"capsnet_sumo/test_annotated_fold{k}.fasta", "K")
        proteins += prots
        dropped.update(rep.dropped)
        mapped.update(rep.letters_normalised)
    w = extract(proteins, "K", 16)
    assert len({p.id for p in proteins}) == 591
    assert int(w.label.sum()) == 996
    assert int((w.label == 0).sum()) == 19914
    assert mapped == {"Z": 1}  # X is already in the alphabet; the one Z is mapped and counted
    assert w.windows.shape[1] == 33


@pytest.mark.parametrize("full,win_pos,win_neg,expect", [
    ("train_sequence.fasta", "train/fasta/positive_sites.fasta",
     "train/fasta/negative_sites.fasta", (4749, 4749, 4750, 4750)),
    ("test_sequence.fasta", "test/fasta/test_positive_sites.fasta",
     "test/fasta/test_negative_sites.fasta", (253, 253, 2953, 2973)),
])
def test_lmsuccsite_windows_rederived(full, win_pos, win_neg, expect):
    """Windows cut from the full sequences (sites as '#pos' in the headers) match the shipped
    window files, but for the test-negative mismatches stated in PROVENANCE.md."""
    base = SHARED / "lmsuccsite_ksucc"
    proteins, _ = read_marked_fasta(base / "full_sequences" / full, "K")
    w = extract(proteins, "K", 16)
    frame = w.to_frame()
    derived = {(pid.split("|")[1], pos): (win, lab) for pid, pos, win, lab in
               zip(frame.protein_id, frame.position, frame.window, frame.label, strict=True)}
    counts = []
    for path, label in ((win_pos, 1), (win_neg, 0)):
        wins, rep = read_window_fasta(base / path, label, "K", 16)
        same = sum(derived.get((x.protein_id, x.position)) == (x.window, label) for x in wins)
        counts += [same, rep.records]
    assert tuple(counts) == expect


def test_lmsuccsite_site_csv_quirk():
    """The training site CSV holds one position past its sequence end: dropped and counted."""
    base = SHARED / "lmsuccsite_ksucc"
    _, rep = read_fasta_with_sites(base / "full_sequences/train_sequence.fasta",
                                   base / "info/positive_sites.csv", "K")
    assert rep.dropped["site_out_of_range"] == 1
