"""The ``acidic`` synthetic task: S/T sites with D or E at +1 and +3."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kanbio.data.alphabet import ALPHABET
from kanbio.data.fasta import Protein
from kanbio.data.synthetic import BACKGROUND, TASKS, SyntheticSet, generate, write
from kanbio.data.windows import extract

ACID = "DE"
D, E, X = (ALPHABET.index(c) for c in "DEX")


@pytest.fixture(scope="module")
def data() -> SyntheticSet:
    return generate("acidic", 200, seed=4)


def test_acidic_is_a_registered_task() -> None:
    spec = TASKS["acidic"]
    assert spec.residues == "ST" and spec.half_width == 16 and spec.positive_rate == 0.2
    assert spec.truth == ((1, ACID, "enriched"), (3, ACID, "enriched"))


def test_every_positive_has_an_acid_at_plus1_and_plus3(data: SyntheticSet) -> None:
    n_pos = 0
    for _, seq, pos in data.proteins:
        for p in pos:  # 1-based: the letter at offset o is seq[p - 1 + o]
            assert seq[p - 1] in "ST"
            for o in (1, 3):
                if p - 1 + o < len(seq):
                    assert seq[p - 1 + o] in ACID, (p, o)
            n_pos += 1
    assert n_pos > 1000


def test_positives_are_spaced_and_negatives_are_background(data: SyntheticSet) -> None:
    for _, _, pos in data.proteins:
        assert all(b - a > 6 for a, b in zip(pos, pos[1:], strict=False))
    w = extract([Protein(i, s, p) for i, s, p in data.proteins], data.residues, 3)
    y = w.label.astype(bool)
    acid = np.isin(w.windows[:, [4, 6]], [D, E])  # D or E at +1 and +3
    assert 0.1 < y.mean() < 0.25
    pad = w.windows[:, [4, 6]] == X  # past the protein's end
    assert (acid | pad)[y].all() and 0 < pad[y].sum() < 0.05 * y.sum()
    both = acid.all(1)
    p_acid = BACKGROUND[[D, E]].sum()
    assert abs(acid[~y].mean() - p_acid) < 0.03  # background letters on negatives
    assert both[~y].mean() < 0.05
    e_share = (w.windows[y][:, [4, 6]] == E).mean()  # E vs D by background frequency
    assert abs(e_share - BACKGROUND[E] / p_acid) < 0.05


def test_same_seed_same_proteins_other_seed_differs(tmp_path: Path) -> None:
    a, b, c = (generate("acidic", 20, seed=s) for s in (9, 9, 10))
    assert a.proteins == b.proteins and a.proteins != c.proteins
    pa, pb = write(a, tmp_path / "a"), write(b, tmp_path / "b")
    for key in pa:
        assert pa[key].read_bytes() == pb[key].read_bytes()
    assert pa["truth.tsv"].read_text() == "offset\tresidues\trole\n1\tDE\tenriched\n" \
        "3\tDE\tenriched\n"
    # the same seed on another S/T task draws another background
    assert a.proteins[0][1] != generate("kinase", 20, seed=9).proteins[0][1]
