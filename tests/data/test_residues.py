"""Residue encodings: the published scale values, the BLOSUM62 scores and the scaling."""

from __future__ import annotations

import numpy as np
import pytest
from Bio.SeqUtils.ProtParamData import kd

from kanbio.data.alphabet import ALPHABET, A
from kanbio.data.residues import (
    AMINO_ACIDS,
    ENCODINGS,
    SCALES,
    blosum62_scores,
    encoding_matrix,
    feature_names,
)

SCALE = {s.name: s for s in SCALES}
SCALED = ("blosum62", "physchem")


def aa(letter: str) -> int:
    return ALPHABET.index(letter)


def test_kyte_doolittle_equals_biopython() -> None:
    assert SCALE["hydropathy"].values == {a: kd[a] for a in AMINO_ACIDS}


@pytest.mark.parametrize(("name", "spots"), [
    ("volume", {"W": 170.0, "G": 3.0, "P": 32.5}),
    ("polarity", {"D": 13.0, "L": 4.9}),
    ("helix", {"E": 1.51, "P": 0.57, "G": 0.57}),
    ("sheet", {"V": 1.70, "E": 0.37}),
])
def test_aaindex_spot_values(name: str, spots: dict[str, float]) -> None:
    values = SCALE[name].values
    assert set(values) == set(AMINO_ACIDS)
    for letter, value in spots.items():
        assert values[letter] == value, letter


def test_klein_net_charge() -> None:
    charged = {"K": 1.0, "R": 1.0, "D": -1.0, "E": -1.0}
    assert SCALE["charge"].values == {a: charged.get(a, 0.0) for a in AMINO_ACIDS}


def test_accessions_and_order() -> None:
    assert [(s.name, s.accession) for s in SCALES] == [
        ("hydropathy", "KYTJ820101"), ("volume", "GRAR740103"), ("charge", "KLEP840101"),
        ("polarity", "GRAR740102"), ("helix", "CHOP780201"), ("sheet", "CHOP780202")]


def test_blosum62_raw_scores() -> None:
    b = blosum62_scores()
    assert b.shape == (20, 20) and np.array_equal(b, b.T)
    i = AMINO_ACIDS.index
    assert b[i("W"), i("W")] == 11 and b[i("C"), i("C")] == 9 and b[i("A"), i("A")] == 4
    assert b[i("E"), i("K")] == 1 and b[i("W"), i("G")] == -2


@pytest.mark.parametrize("name", SCALED)
def test_scaled_matrices_are_centred_with_unit_range(name: str) -> None:
    m = encoding_matrix(name)
    d = len(feature_names(name))
    assert m.shape == (A, d) and m.dtype == np.float64
    assert np.array_equal(m[aa("X")], np.zeros(d))  # the average residue
    np.testing.assert_allclose(m[:20].mean(0), 0.0, atol=1e-12)
    np.testing.assert_allclose(np.abs(m[:20]).max(0), 1.0, rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", SCALED)
def test_each_feature_is_a_positive_affine_map_of_its_raw_scale(name: str) -> None:
    raw = blosum62_scores() if name == "blosum62" else \
        np.array([[s.values[a] for s in SCALES] for a in AMINO_ACIDS])
    m = encoding_matrix(name)[:20]
    for k in range(raw.shape[1]):
        slope, icpt = np.polyfit(raw[:, k], m[:, k], 1)
        assert slope > 0
        np.testing.assert_allclose(slope * raw[:, k] + icpt, m[:, k], atol=1e-12)


def test_onehot_is_the_identity() -> None:
    assert np.array_equal(encoding_matrix("onehot"), np.eye(A))


def test_charge_reads_in_its_natural_direction() -> None:
    charge = encoding_matrix("physchem")[:, feature_names("physchem").index("charge")]
    assert charge[aa("K")] == 1.0 and charge[aa("R")] == 1.0
    assert charge[aa("D")] == -1.0 and charge[aa("E")] == -1.0
    assert charge[aa("A")] == 0.0


def test_feature_names() -> None:
    assert feature_names("onehot") == list(ALPHABET)
    assert feature_names("blosum62") == [f"B62[{a}]" for a in AMINO_ACIDS]
    assert feature_names("physchem") == [s.name for s in SCALES]
    for name in ENCODINGS:
        assert len(feature_names(name)) == encoding_matrix(name).shape[1]


def test_matrix_is_a_copy() -> None:
    m = encoding_matrix("physchem")
    m[:] = 7.0
    assert encoding_matrix("physchem")[aa("X")].sum() == 0.0


@pytest.mark.parametrize("fn", [encoding_matrix, feature_names])
def test_unknown_encoding_raises(fn) -> None:
    with pytest.raises(ValueError, match="unknown encoding 'bogus'"):
        fn("bogus")
