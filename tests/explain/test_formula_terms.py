"""The one-hot formula in named residues: SymbolicModel.term_lines and the page's reading of it."""

from __future__ import annotations

import re

import numpy as np
import torch

from kanbio.data.alphabet import ALPHABET
from kanbio.explain.formula import SymbolicModel, auto_symbolic
from kanbio.models import KAN
from kanbio.report.readable import _formula_text

L = 9  # offsets -4 .. +4


def _planted() -> SymbolicModel:
    rng = np.random.default_rng(3)
    t = np.zeros((L, 21, 1))
    t[:, :, 0] = rng.normal(0, 0.02, (L, 21))  # a quiet background everywhere
    t[5, ALPHABET.index("P"), 0] = -2.0  # +1: P depleted
    t[6, ALPHABET.index("S"), 0] = 1.5  # +2: S, T enriched
    t[6, ALPHABET.index("T"), 0] = 1.8
    t[2] = 0.0  # -2: a pruned position (flat)
    return SymbolicModel(t, np.array([0.3]))


def _parse(lines: list[str]) -> tuple[float, dict[int, dict[str, float]], dict[int, float]]:
    const = float(lines[0].split("=")[1].split("+")[0])
    named, others = {}, {}
    for line in lines[1:]:
        m = re.match(r"\s+t\(([+-]\d+)\): (.*) \(others within ±([\d.]+)\)", line)
        off = int(m.group(1))
        named[off] = {a: float(v) for a, v in re.findall(r"(\w) ([+-][\d.]+)", m.group(2))}
        others[off] = float(m.group(3))
    return const, named, others


def test_terms_name_the_planted_residues_widest_offset_first():
    lines = _planted().term_lines(max_offsets=2)
    assert lines[0].startswith("s_1 = ") and "t(+1) + t(+2)" in lines[0]
    assert "narrower offsets" in lines[0]  # 7 more live offsets (all but the flat -2)
    _, named, _ = _parse(lines)
    assert list(named[1]) == ["P"] and named[1]["P"] < -1.9
    assert list(named[2]) == ["T", "S"] and named[2]["T"] > named[2]["S"] > 1.4


def test_terms_rebuild_every_window_score_within_the_stated_bounds():
    model = _planted()
    lines = model.term_lines(max_offsets=L, share=0.0)  # every letter named: exact to rounding
    assert not any("-2)" in line.split(":")[0] for line in lines[1:])  # flat offset left out
    const, named, others = _parse(lines)
    idx = np.random.default_rng(0).integers(0, 21, (200, L))
    offsets = np.arange(L) - L // 2
    rebuilt = const + np.array([sum(named.get(o, {}).get(ALPHABET[a], 0.0)
                                    for o, a in zip(offsets, w, strict=True)) for w in idx])
    np.testing.assert_allclose(rebuilt, model.hidden(idx)[:, 0], atol=3e-3 * L)
    coarse = model.term_lines()  # default share: small letters folded into "others"
    c, n, o = _parse(coarse)
    bound = sum(o.values()) + 0.005 * L + 5e-3
    approx = c + np.array([sum(n.get(off, {}).get(ALPHABET[a], 0.0)
                               for off, a in zip(offsets, w, strict=True)) for w in idx])
    assert np.abs(approx - model.hidden(idx)[:, 0]).max() <= bound


def test_pruned_kan_formula_lists_only_kept_offsets_and_the_page_reads_it(tmp_path):
    model = KAN([L * 21, 2, 1], window_length=L, first_layer="table", seed=0)
    with torch.no_grad():
        keep = torch.zeros(L, 1, dtype=torch.bool)
        keep[[5, 6]] = True
        model._drop_groups(~keep)
    idx = np.random.default_rng(1).integers(0, 21, (300, L))
    text = auto_symbolic(model, idx).to_text()
    section = text.split("the same in named residues")[1].split("\n\n")[0]
    assert set(re.findall(r"t\(([+-]\d+)\):", section)) == {"+1", "+2"}
    (tmp_path / "formula.txt").write_text(text)
    shown, name = _formula_text(tmp_path)
    assert name == "formula.txt" and shown.startswith("logit = ")
    assert "t(+1):" in shown and "fitted edges" not in shown and "b_1 =" not in shown
