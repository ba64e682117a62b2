"""A KAN on residue properties as a formula in those properties.

With an encoding other than onehot (:mod:`kanbio.data.residues`) every first-layer edge is a
function of one property at one offset, ``phi_{p,k,j}(e_k(a_p))``: a curve over a real scale that
can be fitted symbolically. The model then reads

    s_j = b_j + sum_{p, k} f_{p,k,j}(property_k(p)),     logit = g(s_1, ..., s_H)

(``f`` fitted on the 21 letters' values of the property, ``g`` the symbolic fit of the later
layers, :func:`kanbio.explain.formula.auto_symbolic`), for example ``s_1 = 0.81 charge(+1) -
0.4 tanh(2.1 hydropathy(-1) + 0.3) + ...``. Terms are ordered by their *span*, the range of the
edge over the 20 amino acids; terms below ``min_share`` of the largest span are summed into one
residual line, not dropped from :meth:`PropertyFormula.predict_logit`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import sympy
import torch

from kanbio.errors import InputError
from kanbio.explain.formula import SymbolicModel, _num, auto_symbolic
from kanbio.explain.symbolic import DEFAULT_LIB, SYMBOLIC_LIB, EdgeFit, fit_edges
from kanbio.models import KAN

#: At most this many first-layer edges (the widest) get the whole library; the rest a line.
MAX_FITTED = 400
TERM_COLUMNS = ["offset", "feature", "node", "function", "a", "b", "c", "d", "r2", "span"]


@dataclass
class PropertyFormula:
    """First-layer terms in residue properties plus the fitted head of the network.

    Attributes
    ----------
    encoding, features : the encoding and its d feature names.
    matrix : (21, d) the encoding's values, row = alphabet letter.
    terms : one row per live first-layer edge, :data:`TERM_COLUMNS`, widest first.
    head : the symbolic model of the network (exact table first layer, fitted later layers).
    """

    encoding: str
    features: list[str]
    matrix: np.ndarray
    terms: pd.DataFrame
    head: SymbolicModel

    @property
    def window_length(self) -> int:
        return self.head.window_length

    def _fit(self) -> EdgeFit:
        t = self.terms
        return EdgeFit(t.function.to_numpy(), t[["a", "b", "c", "d"]].to_numpy(np.float64),
                       t.r2.to_numpy(np.float64))

    def table(self) -> np.ndarray:
        """The first layer as the fitted terms give it: (L, 21, H)."""
        length, n_hidden = self.window_length, self.head.table.shape[2]
        out = np.zeros((length, self.matrix.shape[0], n_hidden))
        if len(self.terms):
            t = self.terms
            k = [self.features.index(f) for f in t.feature]
            vals = self._fit()(self.matrix[:, k])  # (21, E)
            p = t.offset.to_numpy() + length // 2
            np.add.at(out.transpose(0, 2, 1), (p, t.node.to_numpy() - 1), vals.T)
        return out

    def predict_logit(self, idx: np.ndarray) -> np.ndarray:
        """Positive log-odds (N,) from the formula (fitted terms, fitted head)."""
        return SymbolicModel(self.table(), self.head.const,
                             self.head.layers).predict_logit(idx)

    def kept(self) -> dict[str, list]:
        """Offsets and features with a live first-layer edge (the model's support)."""
        t = self.terms
        return {"offsets": sorted({int(o) for o in t.offset}),
                "features": [f for f in self.features if f in set(t.feature)],
                "pairs": sorted({(int(o), str(f)) for o, f in zip(t.offset, t.feature,
                                                                 strict=True)})}

    def _node_terms(self, j: int, min_share: float) -> tuple[pd.DataFrame, pd.DataFrame]:
        t = self.terms[self.terms.node == j]
        top = float(self.terms.span.max()) if len(self.terms) else 0.0
        big = t.span >= min_share * top
        return t[big], t[~big]

    @staticmethod
    def _term(row, digits: int, latex: bool = False) -> sympy.Expr:
        """One term ``c f(a x + b)`` (its constant ``d`` apart), x named by property and offset."""
        off = f"{int(row.offset):+d}" if row.offset else "0"
        x = sympy.Symbol(rf"\mathrm{{{row.feature}}}({off})" if latex else f"{row.feature}({off})")
        f = SYMBOLIC_LIB[row.function]
        if row.function == "0":
            return sympy.Integer(0)
        inner = _num(row.a, digits) * x + _num(row.b, digits) if f.affine else x
        expr = _num(row.c, digits) * f.sympy(inner)
        return expr.xreplace({v: _num(v, digits) for v in expr.atoms(sympy.Float)})

    def _node(self, j: int, digits: int, min_share: float, latex: bool) -> tuple[str, int, float]:
        """``s_j`` as text or LaTeX, its terms widest first; the number and largest span of the
        terms below ``min_share`` (their constants are kept in the sum)."""
        t = self.terms[self.terms.node == j]
        top = float(self.terms.span.max()) if len(self.terms) else 0.0
        big, small = t[t.span >= min_share * top], t[t.span < min_share * top]
        const = float(self.head.const[j - 1]) + float(t.d.sum())
        show = sympy.latex if latex else sympy.sstr
        parts = [f"{const:.{digits}g}"]
        for row in big.itertuples():
            text = show(self._term(row, digits, latex))
            parts.append(f"- {text[1:].lstrip()}" if text.startswith("-") else f"+ {text}")
        return " ".join(parts), len(small), float(small.span.max()) if len(small) else 0.0

    def to_text(self, digits: int = 3, min_share: float = 0.05) -> str:
        """Plain text: the head in ``s_j``, each ``s_j`` in properties, r^2 per edge."""
        n_hidden = self.head.table.shape[2]
        lines = [f"logit = {sympy.sstr(self.head.symbolic_formula(digits))}", "",
                 f"residue properties ({self.encoding}): {', '.join(self.features)}; x(p) is "
                 "property x of the residue at offset p from the site; terms widest first", ""]
        for j in range(1, n_hidden + 1):
            expr, n_small, small_span = self._node(j, digits, min_share, latex=False)
            tail = f"   (+ {n_small} smaller terms, each spanning < {small_span:.2g})" \
                if n_small else ""
            lines.append(f"s_{j} = {expr}{tail}")
        top = self.terms.span.max() if len(self.terms) else 0.0
        lines += ["", "first-layer edges (offset, property -> node: function, r2, span over "
                  "the 20 amino acids):"]
        lines += [f"  {int(r.offset):+d}, {r.feature} -> s_{r.node}: {r.function}, "
                  f"r2 = {r.r2:.4f}, span = {r.span:.3g}"
                  for r in self.terms.itertuples() if r.span >= min_share * top]
        return "\n".join(lines) + "\n"

    def to_latex(self, digits: int = 3, min_share: float = 0.05) -> str:
        """LaTeX: the head and every ``s_j`` in residue properties."""
        n_hidden = self.head.table.shape[2]
        rows = [f"\\mathrm{{logit}} &= {sympy.latex(self.head.symbolic_formula(digits))}"]
        for j in range(1, n_hidden + 1):
            rows.append(f"s_{{{j}}} &= {self._node(j, digits, min_share, latex=True)[0]}")
        return "\\begin{align*}\n" + " \\\\\n".join(rows) + "\n\\end{align*}\n"


@torch.no_grad()
def property_formula(model: KAN, idx: np.ndarray, lib: Sequence[str] = DEFAULT_LIB,
                     r2_tol: float = 1e-3, head: SymbolicModel | None = None
                     ) -> PropertyFormula:
    """Fit every live first-layer edge of a KAN on residue properties, and its head.

    Parameters
    ----------
    model : a :class:`KAN` with an encoding other than onehot.
    idx : (N, L) index windows for the head's fit (see :func:`auto_symbolic`).
    lib, r2_tol : see :func:`kanbio.explain.symbolic.fit_edges`; the :data:`MAX_FITTED` widest
        edges get the whole library, the others ``x`` (a line through their 21 values).
    head : the model's :func:`auto_symbolic` fit, if already made (else it is fitted on ``idx``).
    """
    if not isinstance(model, KAN) or model.window_length is None or model.encoding.is_onehot:
        raise InputError("a property formula needs a KAN on windows with a residue-property "
                         "encoding (blosum62 or physchem)")
    model = model.eval()
    length, enc = model.window_length, model.encoding
    matrix = enc.matrix.double().numpy()  # (21, d)
    v = model.layers[0].encoded_values(enc.matrix.to(model.layers[0].coef), length)
    v = v.double().numpy()  # (L, 21, d, H)
    span = np.ptp(v[:, :20], axis=1)  # (L, d, H) over the 20 amino acids
    live = model.layers[0].mask.reshape(length, enc.dim, -1).cpu().numpy() > 0
    p, k, j = np.nonzero(live & (span > 0))
    order = np.argsort(-span[p, k, j], kind="stable")
    p, k, j = p[order], k[order], j[order]
    x = matrix[:, k]  # (21, E)
    y = v[p, :, k, j].T  # (21, E)
    n_fit = min(len(p), MAX_FITTED)
    fits = [fit_edges(x[:, :n_fit], y[:, :n_fit], lib, r2_tol=r2_tol)] if n_fit else []
    if len(p) > n_fit:
        fits.append(fit_edges(x[:, n_fit:], y[:, n_fit:], ("x",), r2_tol=r2_tol))
    fn = np.concatenate([f.fn for f in fits]) if fits else np.zeros(0, str)
    params = np.concatenate([f.params for f in fits]) if fits else np.zeros((0, 4))
    r2 = np.concatenate([f.r2 for f in fits]) if fits else np.zeros(0)
    names = enc.features()
    terms = pd.DataFrame({
        "offset": p - length // 2, "feature": [names[i] for i in k], "node": j + 1,
        "function": fn, "a": params[:, 0], "b": params[:, 1], "c": params[:, 2],
        "d": params[:, 3], "r2": r2, "span": span[p, k, j]}, columns=TERM_COLUMNS)
    return PropertyFormula(enc.name, names, matrix, terms,
                           head if head is not None else auto_symbolic(model, idx, lib=lib))
