"""Property tests (hypothesis) of the invariants of the data flow: window extraction, the encode
round trip, split invariants, and predict's independence of the chunk size."""

from __future__ import annotations

import gzip
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from kanbio.data.alphabet import ALPHABET
from kanbio.data.encode import indices_to_windows, windows_to_indices
from kanbio.data.fasta import Protein
from kanbio.data.split import SPLITS, assign_splits, protein_split
from kanbio.data.windows import extract
from kanbio.models import build, checkpoint
from kanbio.stages.predict import predict

AMINO = ALPHABET[:20]
SETTINGS = settings(max_examples=60, deadline=None, derandomize=True)

sequences = st.text(alphabet=AMINO, min_size=0, max_size=40)
proteins = st.lists(sequences, min_size=1, max_size=6)
residue_sets = st.sets(st.sampled_from(AMINO), min_size=1, max_size=4).map(
    lambda s: "".join(sorted(s)))


@SETTINGS
@given(seqs=proteins, residues=residue_sets, h=st.integers(0, 6))
def test_windows_have_the_length_the_centre_and_the_padding(seqs, residues, h) -> None:
    prots = [Protein(f"p{i}", s, []) for i, s in enumerate(seqs)]
    w = extract(prots, residues, h)
    expected = [(i, j) for i, s in enumerate(seqs) for j, a in enumerate(s) if a in residues]
    assert len(w.windows) == len(expected) and w.windows.shape[1] == 2 * h + 1
    for k, (i, j) in enumerate(expected):
        assert w.protein_id[k] == f"p{i}" and w.position[k] == j + 1
        padded = "X" * h + seqs[i] + "X" * h
        assert indices_to_windows(w.windows[k : k + 1])[0] == padded[j : j + 2 * h + 1]
        assert indices_to_windows(w.windows[k : k + 1])[0][h] == seqs[i][j]


@SETTINGS
@given(st.lists(st.text(alphabet=ALPHABET, min_size=7, max_size=7), min_size=1, max_size=30))
def test_encode_round_trip(windows) -> None:
    idx = windows_to_indices(windows)
    assert idx.dtype == np.uint8 and idx.shape == (len(windows), 7)
    assert indices_to_windows(idx) == windows


@SETTINGS
@given(
    windows_per_protein=st.lists(st.integers(1, 6), min_size=3, max_size=40),
    positives=st.data(),
    seed=st.integers(0, 2**16),
    fractions=st.sampled_from([(0.7, 0.15, 0.15), (0.5, 0.5, 0.0), (0.8, 0.0, 0.2)]),
)
def test_every_protein_in_exactly_one_split(windows_per_protein, positives, seed, fractions):
    rows = []
    for p, n in enumerate(windows_per_protein):
        labels = positives.draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
        rows += [{"protein_id": f"p{p}", "window": f"W{p}_{k}", "label": y}
                 for k, y in enumerate(labels)]
    table = pd.DataFrame(rows)
    mapping = protein_split(table, fractions, seed)
    assert set(mapping) == set(table.protein_id)
    assert set(mapping.values()) <= set(SPLITS)
    out, _ = assign_splits(table, mapping)
    assert (out.groupby("protein_id").split.nunique() == 1).all()
    assert len(out) == len(table)  # windows are all distinct here: nothing dropped
    assert protein_split(table, fractions, seed) == mapping


def _checkpoint(root: Path, kind: str) -> Path:
    length = 7
    model = build({"type": kind, "hidden": [3]}, length, seed=1)
    checkpoint.save(model, root / kind, {"window_length": length, "residues": "KST",
                                         "seed": 1})
    return root / kind


ROOT = Path(tempfile.mkdtemp(prefix="kanbio-props-"))
MODELS = {kind: _checkpoint(ROOT, kind) for kind in ("kan", "mlp")}


@settings(max_examples=15, deadline=None, derandomize=True)
@given(seqs=st.lists(st.text(alphabet=AMINO, min_size=0, max_size=60), min_size=1, max_size=12),
       chunk=st.integers(1, 200), kind=st.sampled_from(sorted(MODELS)))
def test_predict_scores_do_not_depend_on_the_chunk_size(seqs, chunk, kind) -> None:
    fasta = ROOT / f"in_{kind}.fasta"
    fasta.write_text("".join(f">q{i}\n{s}\n" for i, s in enumerate(seqs) if s))
    if not fasta.read_text():
        return
    whole, parts = ROOT / f"whole_{kind}.tsv.gz", ROOT / f"parts_{kind}.tsv.gz"
    predict(MODELS[kind], fasta, whole, threshold=0.0)
    predict(MODELS[kind], fasta, parts, threshold=0.0, chunk_residues=chunk, chunk_proteins=2)
    assert gzip.decompress(whole.read_bytes()) == gzip.decompress(parts.read_bytes())
