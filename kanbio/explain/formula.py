"""The whole KAN as a formula: the exact one-hot first layer (a PSSM per hidden node) feeding the
symbolic fits of the later layers (:mod:`kanbio.explain.symbolic`), as text, LaTeX and sympy.

    logit = f_1(s_1) + ... + f_H(s_H) + c,    s_j = b_j + sum_p T_j[p, a_p]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import sympy
import torch

from kanbio.data.alphabet import ALPHABET, PAD_INDEX, A
from kanbio.errors import InputError
from kanbio.explain.symbolic import DEFAULT_LIB, SYMBOLIC_LIB, EdgeFit, fit_edges
from kanbio.models import KAN

#: Header of the formula.txt block that writes each node in named residues (read by the page).
NAMED_RESIDUES = "the same in named residues"


# ----------------------------------------------------------------------------------------------
# the network as a formula
# ----------------------------------------------------------------------------------------------
@dataclass
class LayerFit:
    """Symbolic fit of one hidden KAN layer (``n_in`` -> ``n_out`` nodes).

    Attributes
    ----------
    fit : per-edge fits, edges ordered ``i * n_out + o`` (input i, output o).
    x_range : (n_in, 2) range of the inputs the fit saw.
    """

    n_in: int
    n_out: int
    fit: EdgeFit
    x_range: np.ndarray

    def __call__(self, h: np.ndarray) -> np.ndarray:
        """(N, n_in) -> (N, n_out): every output node sums its fitted incoming edges."""
        x = np.repeat(h, self.n_out, axis=1)  # (N, n_in * n_out), edge order i * n_out + o
        return self.fit(x).reshape(len(h), self.n_in, self.n_out).sum(1)

    def edge(self, i: int, o: int) -> tuple[str, np.ndarray, float]:
        """Function name, ``(a, b, c, d)`` and r^2 of edge ``i -> o``."""
        e = i * self.n_out + o
        return str(self.fit.fn[e]), self.fit.params[e], float(self.fit.r2[e])


def _num(v: float, digits: int) -> sympy.Float:
    return sympy.Float(float(f"{v:.{digits}g}"))


@dataclass
class SymbolicModel:
    """A KAN on one-hot windows written as tables feeding fitted functions.

    ``s = const + sum_p table[p, a_p]`` (the exact first layer), then every fitted layer in turn;
    the positive log-odds is ``out[:, 0]`` (one output) or ``out[:, 1] - out[:, 0]`` (two).

    Attributes
    ----------
    table : (L, 21, H) ``T[p, a, j]``; const : (H,) ``b_j``; layers : fitted hidden layers.
    """

    table: np.ndarray
    const: np.ndarray
    layers: list[LayerFit] = field(default_factory=list)

    @property
    def window_length(self) -> int:
        return self.table.shape[0]

    @property
    def n_out(self) -> int:
        return self.layers[-1].n_out if self.layers else self.table.shape[2]

    def hidden(self, idx: np.ndarray) -> np.ndarray:
        """PSSM scores ``s`` (N, H) of index windows (N, L)."""
        idx = np.asarray(idx)
        if idx.ndim != 2 or idx.shape[1] != self.window_length:
            raise InputError(f"index windows must have shape (N, {self.window_length}), "
                             f"got {idx.shape}")
        return self.const + self.table[np.arange(self.window_length), idx].sum(1)  # (N, H)

    def forward(self, idx: np.ndarray) -> np.ndarray:
        """Output nodes (N, n_out) computed from the formula."""
        h = self.hidden(idx)
        for layer in self.layers:
            h = layer(h)
        return h

    def predict_logit(self, idx: np.ndarray) -> np.ndarray:
        """Positive-class log-odds (N,) from the formula."""
        out = self.forward(idx)
        return out[:, 0] if out.shape[1] == 1 else out[:, 1] - out[:, 0]

    # -- formula -------------------------------------------------------------------------------
    def symbolic_formula(self, digits: int = 4) -> sympy.Expr:
        """The log-odds as a sympy expression in ``s_1 .. s_H`` (numbers to ``digits`` digits)."""
        nodes: list[sympy.Expr] = list(sympy.symbols(f"s_1:{self.table.shape[2] + 1}"))
        for layer in self.layers:
            out = []
            for o in range(layer.n_out):
                total = sympy.Integer(0)
                for i in range(layer.n_in):
                    name, (a, b, c, d), _ = layer.edge(i, o)
                    f = SYMBOLIC_LIB[name]
                    if name == "0":
                        total += _num(d, digits)
                        continue
                    x = _num(a, digits) * nodes[i] + _num(b, digits) if f.affine else nodes[i]
                    total += _num(c, digits) * f.sympy(x) + _num(d, digits)
                out.append(total)
            nodes = out
        expr = nodes[0] if len(nodes) == 1 else nodes[1] - nodes[0]
        return expr.xreplace({v: _num(v, digits) for v in expr.atoms(sympy.Float)})

    def _const_lines(self, digits: int) -> list[str]:
        return [f"b_{j + 1} = {v:.{digits}g}" for j, v in enumerate(self.const)]

    def term_lines(self, max_offsets: int = 6, share: float = 0.25) -> list[str]:
        """Each ``s_j`` in named residues: per offset the table centred on its median over the
        20 amino acids (the medians moved into the constant), offsets widest first (span over
        the 20), letters at least ``share`` of the offset's span from 0 named with their values.

        ``s_1 = 0.84 + t(+2) + t(+1)`` then ``t(+2): T +2.10, S +1.85, P -0.95 (others within
        +-0.31)``. Offsets whose table is flat (a pruned position) are left out; the lines are
        exact up to the rounding of the values shown and the letters folded into "others".
        """
        length, _, n_hidden = self.table.shape
        offsets = np.arange(length) - length // 2
        amino = self.table[:, :PAD_INDEX]  # the 20 amino acids (X, the last letter, left out)
        median = np.median(amino, axis=1, keepdims=True)  # (L, 1, H)
        centred, const = self.table - median, self.const + median.sum((0, 1))
        span = np.ptp(amino, axis=1)  # (L, H)
        lines = []
        for j in range(n_hidden):
            live = np.flatnonzero(span[:, j] > 1e-9 * max(1.0, span[:, j].max()))
            order = live[np.argsort(-span[live, j], kind="stable")]
            shown, rest = order[:max_offsets], len(order) - min(len(order), max_offsets)
            head = " + ".join([f"{const[j]:.3g}", *(f"t({offsets[p]:+d})" for p in shown)])
            lines.append(f"s_{j + 1} = {head}" + (f" + {rest} narrower offsets" if rest else ""))
            for p in shown:
                v = centred[p, :, j]
                big = np.flatnonzero(np.abs(v) >= share * span[p, j])
                big = big[np.argsort(-v[big], kind="stable")]
                small = np.setdiff1d(np.arange(A), big)
                named = ", ".join(f"{ALPHABET[a]} {v[a]:+.2f}" for a in big)
                lines.append(f"  t({offsets[p]:+d}): {named} (others within "
                             f"±{np.abs(v[small]).max() if len(small) else 0:.2f})")
        return lines

    def edge_frame(self) -> pd.DataFrame:
        """One row per fitted edge: ``layer, source, target, function, a, b, c, d, r2``."""
        rows = []
        for li, layer in enumerate(self.layers, start=1):
            for i in range(layer.n_in):
                for o in range(layer.n_out):
                    name, (a, b, c, d), r2 = layer.edge(i, o)
                    rows.append((li, i + 1, o + 1, name, a, b, c, d, r2))
        return pd.DataFrame(rows, columns=["layer", "source", "target", "function", "a", "b",
                                           "c", "d", "r2"])

    def to_text(self, digits: int = 4) -> str:
        """Plain-text formula: the output functions in closed form, constants, edge fits."""
        h = self.window_length // 2
        expr = sympy.sstr(self.symbolic_formula(digits))
        edges = self.edge_frame()
        lines = [
            f"logit = {expr}",
            "",
            f"s_j = b_j + sum over p = -{h}..+{h} of T_j[p, a_p]   (a_p: residue at offset p; "
            "T_j in formula_tables.tsv)",
            *self._const_lines(digits),
            "",
            f"{NAMED_RESIDUES} (each offset centred on its median over the 20 amino acids):",
            *self.term_lines(),
            "",
            "fitted edges (layer, source -> target: function, r2):",
            *(f"  {r.layer}, {r.source} -> {r.target}: {r.function}, r2 = {r.r2:.4f}"
              for r in edges.itertuples()),
        ]
        return "\n".join(lines) + "\n"

    def to_latex(self, digits: int = 4) -> str:
        """LaTeX: the formula, the definition of the ``s_j`` and the constants ``b_j``."""
        h = self.window_length // 2
        consts = r",\quad ".join(f"b_{{{j + 1}}} = {v:.{digits}g}" for j, v in
                                 enumerate(self.const))
        return (
            "\\begin{align*}\n"
            f"\\mathrm{{logit}} &= {sympy.latex(self.symbolic_formula(digits))} \\\\\n"
            f"s_j &= b_j + \\sum_{{p=-{h}}}^{{{h}}} T_j[p, a_p] \\\\\n"
            f"& {consts}\n"
            "\\end{align*}\n"
        )

    def table_frame(self, digits: int = 6) -> pd.DataFrame:
        """The tables as rows ``offset, residue, T1 .. TH`` (one row per offset and letter)."""
        length, _, n_hidden = self.table.shape
        h = length // 2
        frame = pd.DataFrame({
            "offset": np.repeat(np.arange(-h, length - h), A),
            "residue": list(ALPHABET) * length,
        })
        vals = self.table.reshape(length * A, n_hidden)
        for j in range(n_hidden):
            frame[f"T{j + 1}"] = np.round(vals[:, j], digits)
        return frame


@torch.no_grad()
def auto_symbolic(
    model: KAN,
    idx: np.ndarray,
    lib: Sequence[str] = DEFAULT_LIB,
    n_samples: int = 201,
    r2_tol: float = 1e-3,
    **fit_kwargs,
) -> SymbolicModel:
    """Fit every hidden edge of a KAN on one-hot windows to the symbolic library.

    Parameters
    ----------
    model : a :class:`~kanbio.models.kan.KAN` built with ``window_length``.
    idx : (N, L) index windows; each hidden edge is sampled at ``n_samples`` quantiles (from
        min to max) of the values its input node takes on these windows.
    lib, r2_tol, fit_kwargs : see :func:`fit_edges`.

    Returns
    -------
    SymbolicModel; the first layer is exact (the one-hot table), later layers are fitted.
    """
    if not isinstance(model, KAN) or model.window_length is None:
        raise InputError("symbolic fitting needs a KAN built for one-hot windows (window_length)")
    model = model.eval()
    t, const = (v.double().numpy() for v in model.first_layer_table())  # (L, 21, H), (H,)
    sym = SymbolicModel(t, const)
    dtype = next(model.parameters()).dtype
    h = torch.as_tensor(sym.hidden(idx), dtype=dtype)  # (N, H)
    q = torch.linspace(0, 1, n_samples, dtype=torch.float64)
    for layer in model.layers[1:]:
        xs = torch.quantile(h.double(), q, dim=0).to(h.dtype)  # (n, in), ascending per input
        y = layer.phi(xs).double().numpy()  # (n, in, out)
        x = np.repeat(xs.double().numpy(), layer.out_dim, axis=1)  # (n, in * out)
        fit = fit_edges(x, y.reshape(n_samples, -1), lib, r2_tol=r2_tol, **fit_kwargs)
        rng = np.stack([xs[0].double().numpy(), xs[-1].double().numpy()], 1)  # (in, 2)
        sym.layers.append(LayerFit(layer.in_dim, layer.out_dim, fit, rng))
        h = layer(h)  # the network's own values feed the next layer's fit
    return sym
