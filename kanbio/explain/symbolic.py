"""Symbolic regression of KAN edges and the whole network as a readable formula.

Every hidden edge ``phi(x)`` is fitted by ``c * f(a * x + b) + d`` for each function ``f`` of a
library: the inner affine ``(a, b)`` is searched on a grid (then on finer grids around the best
point) and the outer ``(c, d)`` is the closed-form least-squares solution at every grid point, so
``r^2`` is the squared correlation of ``f(a x + b)`` with ``phi(x)``. All edges of a layer and all
grid points are fitted at once as array operations. Per edge the simplest function whose
``r^2`` lies within ``r2_tol`` of the best one is kept (pykan's ``auto_symbolic`` trades r^2
against complexity in the same spirit), by the complexity order

    0 < x < exp = tanh = sigmoid < x^2 = x^3 < abs = gaussian < sin

(monotone shapes a reader knows first; among equals the higher r^2, then the library order). A
periodic function is never chosen for a curve that is monotone over its sampled range (up to
2% of its range, :func:`monotone`): a sine fits almost any gentle curve on half a period, which
would misread an S-curve as an oscillation.

First-layer edges on one-hot windows see only 0 and 1, so they are exactly ``phi(0) + Delta x``
(r^2 = 1) and are never fitted: the first layer is recorded as the table ``T[p, a, j]`` (a
position-specific scoring matrix per hidden node) plus a constant, and the model reads

    logit = f_1(s_1) + ... + f_H(s_H) + c,    s_j = b_j + sum_p T_j[p, a_p]

for ``[L * 21, H, 1]`` (deeper networks compose the fitted layers; two outputs give
``logit = out_2 - out_1``).

Shapes: ``N`` samples, ``L`` window length, ``H`` first hidden width, ``E`` edges of a layer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import sympy

from kanbio.errors import InputError


@dataclass(frozen=True)
class SymbolicFunction:
    """A library entry: numpy and sympy forms, complexity, and whether ``(a, b)`` matter."""

    name: str
    numpy: Callable[[np.ndarray], np.ndarray]
    sympy: Callable[[sympy.Expr], sympy.Expr]
    complexity: int
    affine: bool = True  # False: f(a x + b) spans the same family for every (a, b) (x and 0)
    parity: int = 0  # 1 even, -1 odd: used to write fits with a > 0
    antiperiod: float = 0.0  # P > 0 with f(u + P) = -f(u): fits are written with c > 0, |b| <= P

    @property
    def periodic(self) -> bool:
        return self.antiperiod > 0


SYMBOLIC_LIB: dict[str, SymbolicFunction] = {}


def register(
    name: str,
    numpy_fn: Callable[[np.ndarray], np.ndarray],
    sympy_fn: Callable[[sympy.Expr], sympy.Expr],
    complexity: int,
    affine: bool = True,
    parity: int = 0,
    antiperiod: float = 0.0,
) -> None:
    """Add (or replace) a function of the symbolic library under ``name``.

    Examples
    --------
    >>> register("x^4", lambda x: x**4, lambda x: x**4, 3)
    >>> "x^4" in SYMBOLIC_LIB
    True
    """
    SYMBOLIC_LIB[name] = SymbolicFunction(name, numpy_fn, sympy_fn, int(complexity), affine,
                                          parity, antiperiod)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # overflow-free logistic


for _args in (
    ("0", np.zeros_like, lambda x: sympy.Integer(0), 0, False),
    ("x", lambda x: x, lambda x: x, 1, False),
    ("x^2", np.square, lambda x: x**2, 3, True, 1),
    ("x^3", lambda x: x**3, lambda x: x**3, 3, True, -1),
    ("exp", np.exp, sympy.exp, 2),
    ("sin", np.sin, sympy.sin, 5, True, -1, np.pi),
    ("tanh", np.tanh, sympy.tanh, 2, True, -1),
    ("sigmoid", _sigmoid, lambda x: 1 / (1 + sympy.exp(-x)), 2),
    ("abs", np.abs, sympy.Abs, 4, True, 1),
    ("gaussian", lambda x: np.exp(-np.square(x)), lambda x: sympy.exp(-(x**2)), 4, True, 1),
):
    register(*_args)
DEFAULT_LIB = ("x", "x^2", "x^3", "exp", "sin", "tanh", "sigmoid", "abs", "gaussian", "0")


# ----------------------------------------------------------------------------------------------
# edge fitting
# ----------------------------------------------------------------------------------------------
@dataclass
class EdgeFit:
    """Fits of ``E`` edges: ``y ~ c * f(a * x + b) + d``.

    Attributes
    ----------
    fn : (E,) library names.
    params : (E, 4) ``a, b, c, d`` (in the units of ``x``).
    r2 : (E,) coefficient of determination on the fitted samples.
    """

    fn: np.ndarray
    params: np.ndarray
    r2: np.ndarray

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Evaluate every edge: x (N, E) -> (N, E)."""
        out = np.empty(np.shape(x), dtype=np.float64)
        a, b, c, d = self.params.T  # (E,) each
        for name in np.unique(self.fn):
            e = self.fn == name
            with np.errstate(over="ignore", invalid="ignore"):
                out[:, e] = c[e] * SYMBOLIC_LIB[name].numpy(a[e] * x[:, e] + b[e]) + d[e]
        return out


def _lstsq_r2(g: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Best ``c g + d`` for ``y`` along axis -2: g (..., n, E), y (n, E) -> r2, c, d (..., E)."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        gm = g.mean(-2, keepdims=True)
        gc, yc = g - gm, y - y.mean(0)
        cov, vg, vy = (gc * yc).sum(-2), (gc * gc).sum(-2), (yc * yc).sum(0)
        ok = np.isfinite(cov) & np.isfinite(vg) & (vg > 1e-12 * np.maximum(1.0, gm[..., 0, :] ** 2))
        c = np.where(ok, cov / np.where(ok, vg, 1.0), 0.0)
        r2 = np.where(ok & (vy > 0), c * cov / np.where(vy > 0, vy, 1.0), 0.0)
        d = y.mean(0) - c * np.where(ok, gm[..., 0, :], 0.0)
    return np.clip(r2, 0.0, 1.0), c, d


def fit_edges(
    x: np.ndarray,
    y: np.ndarray,
    lib: Sequence[str] = DEFAULT_LIB,
    a_range: tuple[float, float] = (-10.0, 10.0),
    b_range: tuple[float, float] = (-10.0, 10.0),
    num: int = 41,
    iterations: int = 4,
    r2_tol: float = 1e-3,
) -> EdgeFit:
    """Fit ``E`` sampled edges to the library at once.

    Parameters
    ----------
    x, y : (n, E) sample inputs and outputs of each edge.
    lib : names in :data:`SYMBOLIC_LIB`.
    a_range, b_range : coarse search range of the inner affine map, applied to the standardised
        input ``z = (x - mean) / sd`` (so the ranges do not depend on the scale of ``x``).
    num : coarse grid points per axis; each of the ``iterations - 1`` refinements then searches a
        21 x 21 grid spanning one step of the previous grid either side of the best point.
    r2_tol : keep the simplest function whose r^2 is at least ``best r^2 - r2_tol``; periodic
        functions are left out for edges whose samples are monotone in ``x``.

    Returns
    -------
    EdgeFit with ``(a, b)`` expressed for ``x`` itself.
    """
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.ndim != 2 or x.shape != y.shape or x.shape[0] < 3:
        raise InputError(f"x and y must have the same shape (n >= 3, E), got {x.shape}, {y.shape}")
    if num < 2 or iterations < 1:
        raise InputError(f"need num >= 2 and iterations >= 1, got {num} and {iterations}")
    unknown = [f for f in lib if f not in SYMBOLIC_LIB]
    if unknown or not lib:
        raise InputError(f"unknown symbolic functions {unknown}; known: {sorted(SYMBOLIC_LIB)}")
    n, n_edges = x.shape
    mu, sd = x.mean(0), x.std(0)
    sd = np.where(sd > 0, sd, 1.0)
    z = (x - mu) / sd  # (n, E)
    res = {f: _fit_one(SYMBOLIC_LIB[f], z, y, a_range, b_range, num, iterations) for f in lib}
    r2 = np.stack([res[f][0] for f in lib])  # (F, E)
    complexity = np.array([SYMBOLIC_LIB[f].complexity for f in lib])  # (F,)
    periodic = np.array([SYMBOLIC_LIB[f].periodic for f in lib])  # (F,)
    allowed = ~(periodic[:, None] & monotone(x, y)[None, :])  # (F, E)
    if not allowed.any(0).all():  # a library of periodic functions only: nothing to prefer
        allowed[:] = True
    r2 = np.where(allowed, r2, -np.inf)
    ok = r2 >= r2.max(0) - r2_tol  # (F, E)
    key = np.where(ok, complexity[:, None] - np.round(r2, 6), np.inf)  # simplest, best r^2, first
    pick = key.argmin(0)  # (E,)
    params = np.stack([res[f][1] for f in lib])[pick, :, np.arange(n_edges)]  # (E, 4), z units
    a, b, c, d = params.T  # back to x units: a z + b = (a / sd) x + (b - a mu / sd)
    a, b = a / sd, b - a * mu / sd
    fn = np.array([lib[i] for i in pick])
    const = y.std(0) <= 1e-9 * np.maximum(1.0, np.abs(y).max(0))  # a constant edge is exactly 0
    fn[const], c[const], d[const] = "0", 0.0, y.mean(0)[const]
    plain = np.array([not SYMBOLIC_LIB[f].affine for f in fn])  # x, 0: write as c x + d
    c, d = np.where(plain, c * a, c), np.where(plain, d + c * b, d)
    a, b = np.where(plain, 1.0, a), np.where(plain, 0.0, b)
    for name in np.unique(fn):  # canonical form: a > 0 for even / odd f; c > 0, |b| <= P
        f, e = SYMBOLIC_LIB[name], fn == name
        flip = e & (a < 0) & (f.parity != 0)
        a[flip], b[flip], c[flip] = -a[flip], -b[flip], c[flip] * f.parity
        if f.antiperiod > 0:
            p, neg = f.antiperiod, e & (c < 0)
            b[neg], c[neg] = b[neg] + p, -c[neg]
            b[e] = p - np.mod(p - b[e], 2 * p)  # in (-p, p]
    r2 = np.where(const, 1.0, r2[pick, np.arange(n_edges)])
    return EdgeFit(fn, np.stack([a, b, c, d], 1), r2)


def monotone(x: np.ndarray, y: np.ndarray, tol: float = 0.02) -> np.ndarray:
    """(E,) True where ``y`` is monotone along increasing ``x`` up to ``tol`` of its range: it
    never falls back more than that below its running maximum (or rises above its running
    minimum), so sampling noise and a flat tail do not make an S-curve "turn": x, y (n, E)."""
    order = np.argsort(x, axis=0, kind="stable")
    ys = np.take_along_axis(y, order, 0)
    eps = tol * np.maximum(np.ptp(y, 0), 1e-300)
    rising = (np.maximum.accumulate(ys, 0) - ys).max(0) <= eps
    falling = (ys - np.minimum.accumulate(ys, 0)).max(0) <= eps
    return rising | falling


def _fit_one(
    f: SymbolicFunction,
    z: np.ndarray,
    y: np.ndarray,
    a_range: tuple[float, float],
    b_range: tuple[float, float],
    num: int,
    iterations: int,
) -> tuple[np.ndarray, np.ndarray]:
    """One function on every edge -> r2 (E,), params (4, E) = a, b, c, d in standardised units."""
    n, n_edges = z.shape
    if not f.affine:
        r2, c, d = _lstsq_r2(f.numpy(z), y)
        return r2, np.stack([np.ones(n_edges), np.zeros(n_edges), c, d])
    a0 = np.linspace(*a_range, num)
    b0 = np.linspace(*b_range, num)
    # per edge grids (E, num): identical at first, then zoomed around each edge's best point
    ga, gb = np.tile(a0, (n_edges, 1)), np.tile(b0, (n_edges, 1))
    step_a, step_b = (a0[1] - a0[0]), (b0[1] - b0[0])
    chunk = max(1, 4_000_000 // (num * num * n))  # edges per block (bounded memory)
    for it in range(iterations):
        best_a, best_b = np.empty(n_edges), np.empty(n_edges)
        for s in range(0, n_edges, chunk):
            e = slice(s, s + chunk)
            arg = ga[e].T[:, None, None, :] * z[None, None, :, e] + gb[e].T[None, :, None, :]
            with np.errstate(over="ignore", invalid="ignore"):
                r2 = _lstsq_r2(f.numpy(arg), y[:, e])[0]  # (num, num, e)
            flat = r2.reshape(-1, r2.shape[-1]).argmax(0)  # (e,)
            ia, ib = np.unravel_index(flat, (num, num))
            cols = np.arange(r2.shape[-1])
            best_a[e], best_b[e] = ga[e][cols, ia], gb[e][cols, ib]
        if it + 1 < iterations:  # zoom: +-1 step around the best point, on a 21 x 21 grid
            num = 21
            ga = best_a[:, None] + np.linspace(-step_a, step_a, num)
            gb = best_b[:, None] + np.linspace(-step_b, step_b, num)
            step_a, step_b = step_a / 10, step_b / 10
    with np.errstate(over="ignore", invalid="ignore"):
        r2, c, d = _lstsq_r2(f.numpy(best_a * z + best_b), y)
    return r2, np.stack([best_a, best_b, c, d])
