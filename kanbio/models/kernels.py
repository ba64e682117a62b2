"""Compiled CPU kernels (numba) for the KAN and MLP layers on the training path.

At training batch sizes (hundreds of windows, hidden width 8) a CPU step is bound by per-call
overhead rather than arithmetic, and ``index_add_`` spends ~30 ns per gathered row. Each kernel
here does one layer's whole forward or backward in a single call:

- :func:`onehot_sum` / :func:`onehot_grad`: ``out[n] = bias + sum_p table[flat[n, p]]`` and its
  table gradient (the MLP's first layer);
- :func:`onehot_kan_forward` / :func:`onehot_kan_backward`: the KAN's first layer on one-hot
  windows: the table ``Delta = phi(1) - phi(0)`` and the constant ``sum_i phi_i(0)`` from the
  spline parameters, then the gather-sum; and all parameter gradients;
- :func:`encoded_sum` / :func:`encoded_sum_grad`: the KAN's first layer on encoded letters
  (:mod:`kanbio.models.encoded_table`): the weights ``W`` from the spline parameters, the table
  as the letters' block times ``W`` (``np.dot``: the BLAS that numba takes from SciPy), the
  gather-sum; and back;
- :func:`local_forward` / :func:`local_backward`: a KAN layer on continuous input over a uniform
  grid: the monomial table ``Q`` of every edge's spline per grid interval (from the
  coefficients), one Horner polynomial plus the residual per (sample, edge), and the gradients.

They compute the same functions as the tensor paths in :mod:`kanbio.models.kan` (tests compare
values and gradients), which remain in use on GPUs, for dtypes other than float32/float64, on
adapted (non-uniform) hidden grids, when numba cannot be imported or fails to compile them, and
when the environment sets ``KANBIO_KERNELS=torch``.

Compilation and its disk cache. Decorating a kernel compiles nothing; the first :func:`enabled`
call for a dtype compiles (or loads from the cache) all kernels for the argument types of the
training path, and falls back to the tensor paths if that fails. Compiled code is cached on disk
and reused by every later process on the machine (and CPU type). The cache goes where numba puts
it (``NUMBA_CACHE_DIR`` if set and writable, else the package's ``__pycache__``, else
``$XDG_CACHE_HOME/numba`` or ``~/.cache/numba``); when none of those is writable (a read-only
install run by a user without a writable home), it goes to ``$XDG_CACHE_HOME/kanbio/numba``,
``~/.cache/kanbio/numba`` or a private ``kanbio-numba-<uid>`` folder in the temp dir, and failing
all of them the kernels are compiled without a cache, in every process. That case and a failed
compilation log a one-line warning (logger ``kanbio.models.kernels``), at most one per process;
the fallback folder is logged at INFO level.

Measured on a 2-core AMD EPYC VM shared with other jobs (hence ranges): compiling the
float32 kernels takes 9-16 s on an empty cache and 0.5-1.3 s (loading) on a warm one (ten
kernels on a 2-core Xeon VM: 7 s and 0.3 s), after which
the first KAN and MLP training steps compile nothing; importing :mod:`kanbio.models` takes 2-4 s
either way. :func:`warm_up`, run once before parallel jobs start (the prepare stage), keeps the
compile out of every training job; parallel jobs on a cold cache would each compile.

This is the one module allowed past the package's ~450-line limit: the kernels share their
compile settings, the cache-location fallback and the once-per-dtype compile check, which belong
in one place, and they are read together against the tensor paths they mirror.
"""

from __future__ import annotations

import getpass
import logging
import os
import stat
import tempfile
import threading
import time
from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..data.alphabet import A

try:  # numba is a dependency; the tensor paths remain if it cannot be imported
    import numba
except (ImportError, OSError):  # pragma: no cover - exercised only without numba
    numba = None

BASE_CODES = {"zero": 0, "silu": 1, "identity": 2}
_DTYPES = {torch.float32: np.float32, torch.float64: np.float64}

log = logging.getLogger(__name__)

#: Use the kernels where they apply (numba importable and ``KANBIO_KERNELS`` not "torch" at
#: import); set to False to force the tensor paths.
ACTIVE = numba is not None and os.environ.get("KANBIO_KERNELS", "numba") != "torch"

#: Where the kernels are cached: "" numba's own choice, a folder of ours when numba finds no
#: writable one, None for no disk cache. Decided when the first kernel is decorated.
CACHE_DIR: str | None = ""
_failure = ""  # why the kernels cannot be built, if they cannot
_ready: dict[torch.dtype, bool] = {}  # dtype -> kernels compiled and usable
_lock = threading.Lock()
_warned = False


def enabled(t: Tensor) -> bool:
    """True if the kernels are active and can run on tensors like ``t``: float32 or float64,
    on the CPU. The first call for a dtype compiles the kernels for it (see :func:`warm_up`)."""
    if not (ACTIVE and t.dtype in _DTYPES and t.device.type == "cpu"):
        return False
    ready = _ready.get(t.dtype)
    return _prepare(t.dtype) if ready is None else ready


def warm_up(dtypes: Iterable[torch.dtype] = (torch.float32,)) -> bool:
    """Compile every kernel for ``dtypes`` (training runs in float32), or load them from the disk
    cache, so that later processes on this machine only load them. True if the kernels are in
    use for all of them (False when switched off or when compilation failed)."""
    return all([enabled(torch.empty(0, dtype=d)) for d in dtypes])


def view(t: Tensor) -> np.ndarray:
    """NumPy view of a CPU tensor (shares memory; any strides)."""
    return t.detach().numpy()


# ---------------------------------------------------------------------------- compilation
def _warn_once(message: str) -> None:
    global _warned
    if _warned:
        log.debug("%s", message)
    else:
        _warned = True
        log.warning("kanbio: %s", message)


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    text = text if len(text) <= 160 else text[:157] + "..."
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def _usable(path: str, private: bool) -> bool:
    """True if ``path`` is (made) a folder we can write to, the way numba checks (a temporary
    file in it); ``private``: also owned by us and not writable by others (a shared temp dir:
    cached code is loaded and run)."""
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        st = os.lstat(path)
        if not stat.S_ISDIR(st.st_mode):
            return False
        foreign = hasattr(os, "getuid") and (st.st_uid != os.getuid() or st.st_mode & 0o022)
        if private and foreign:
            return False
        tempfile.TemporaryFile(dir=path).close()
    except OSError:
        return False
    return True


def _fallback_cache_dir() -> str | None:
    """A writable cache folder of ours, or None."""
    candidates = []
    if os.environ.get("XDG_CACHE_HOME"):
        candidates.append((os.path.join(os.environ["XDG_CACHE_HOME"], "kanbio", "numba"), False))
    home = os.path.expanduser("~")
    if home != "~":  # (no HOME and no passwd entry: no home at all)
        candidates.append((os.path.join(home, ".cache", "kanbio", "numba"), False))
    try:
        user = str(os.getuid()) if hasattr(os, "getuid") else getpass.getuser()
        candidates.append((os.path.join(tempfile.gettempdir(), f"kanbio-numba-{user}"), True))
    except (OSError, KeyError):  # no usable temp dir, or no user name
        pass
    return next((path for path, private in candidates if _usable(path, private)), None)


def _jit(fn: Any) -> Any:
    """``numba.njit`` with a disk cache where one can be written (see the module docstring);
    the plain function if numba cannot build it (the kernels are then never enabled)."""
    global CACHE_DIR, _failure
    if numba is None or _failure:  # pragma: no cover
        return fn
    options = {"nogil": True, "error_model": "numpy"}
    try:
        if CACHE_DIR == "":
            try:
                return numba.njit(cache=True, **options)(fn)
            except RuntimeError:  # numba.core.caching: no locator has a writable folder
                CACHE_DIR = _fallback_cache_dir()
                log.info("numba cache for %s: %s", __name__, CACHE_DIR or "none")
        if CACHE_DIR is not None:
            # numba's first locator reads config.CACHE_DIR (NUMBA_CACHE_DIR) when the function
            # is decorated and keeps the path; other numba users keep their setting
            saved, numba.config.CACHE_DIR = numba.config.CACHE_DIR, CACHE_DIR
            try:
                return numba.njit(cache=True, **options)(fn)
            except RuntimeError:
                CACHE_DIR = None
            finally:
                numba.config.CACHE_DIR = saved
        return numba.njit(**options)(fn)
    except Exception as err:  # pragma: no cover - a broken numba install
        _failure = _one_line(err)
        return fn


def _prepare(dtype: torch.dtype) -> bool:
    """Compile the kernels for ``dtype`` once; False (and one logged line) if that fails."""
    with _lock:
        if dtype in _ready:
            return _ready[dtype]
        t0 = time.perf_counter()
        try:
            if _failure:
                raise RuntimeError(_failure)
            _compile(_DTYPES[dtype])
        except Exception as err:
            _warn_once(f"numba kernels unavailable ({_one_line(err)}); using the tensor paths")
            _ready[dtype] = False
        else:
            if CACHE_DIR is None:
                seconds = time.perf_counter() - t0
                _warn_once(
                    f"numba kernels compiled in {seconds:.1f} s without a disk cache (no "
                    "writable cache folder), again in every process; set NUMBA_CACHE_DIR to a "
                    "writable folder to keep them"
                )
            _ready[dtype] = True
        return _ready[dtype]


def _compile(dt: type) -> None:
    """Run every kernel once on tiny arrays of dtype ``dt`` with the argument types of the
    training path (C-contiguous arrays, int64 flat indices, scalars in ``dt``), which compiles
    them or loads them from the cache."""

    def z(*shape: int) -> np.ndarray:
        return np.zeros(shape, dt)

    n, i, o, nb, nrow, kp1 = 2, 3, 2, 4, 3, 4  # samples, inputs, outputs, bases, rows, k + 1
    flat, f0, df = np.zeros((n, 2), np.int64), dt(0), dt(1)
    io, no, v01, s01 = z(i, o), z(n, o), z(2, nb, 1), z(2, i, o)
    _onehot_sum(flat, io, z(o), z(n, o))
    _onehot_grad(flat, no, z(i, o))
    _onehot_kan_forward(flat, z(nb, i, o), io, io, v01, f0, df, s01, z(i, o), z(n, o))
    _onehot_kan_backward(flat, no, s01, io, v01, f0, df, z(nb, i, o), z(i, o), z(i, o))
    x, w, coef, h, q = z(n, i), z(nb, nrow, kp1), z(nb, i, o), z(i), z(i, o, nrow, kp1)
    cst, code = np.array([1.0, 2.0, 3.0, -1.0, nrow - 2.0], dt), BASE_CODES["silu"]
    state = (np.zeros((i, n), np.int32), z(i, n), z(i, n), z(i, o, n))
    _local_forward(x, x, coef, io, io, w, h, h, code, cst, q, z(n, o), *state)
    _local_backward(no, *state, coef, io, w, True, z(n, i), z(nb, i, o), z(i, o), z(i, o))
    c4, i4 = z(nb, 4, o), z(4, o)  # L 2, d 2
    _encoded_weights(c4, i4, i4, z(2 * (nb + 1), 2 * o))
    _encoded_grads(z(2 * (nb + 1), 2 * o), c4, i4, z(nb, 4, o), z(4, o), z(4, o))
    _encoded_sum(flat, c4, i4, i4, z(A, 2 * (nb + 1)), z(n, o))
    _encoded_sum_grad(flat, no, c4, i4, z(2 * (nb + 1), A), z(nb, 4, o), z(4, o), z(4, o))


def _inline(fn: Any) -> Any:
    """A helper inlined into its callers."""
    return numba.njit(inline="always")(fn) if numba is not None else fn


# ---------------------------------------------------------------------------------- one-hot
# Rows of the table are gathered (scattered) in blocks of 8 columns held in registers, which
# runs about twice as fast as a loop over the columns.
@_inline
def _gather_sum(flat: np.ndarray, table: np.ndarray, const: np.ndarray,
                out: np.ndarray) -> None:  # pragma: no cover
    """out[s] = const + sum_p table[flat[s, p]]."""
    n, length = flat.shape
    h = table.shape[1]
    for j in range(0, h - 7, 8):
        for s in range(n):
            a0, a1, a2, a3 = const[j], const[j + 1], const[j + 2], const[j + 3]
            a4, a5, a6, a7 = const[j + 4], const[j + 5], const[j + 6], const[j + 7]
            for p in range(length):
                r = flat[s, p]
                a0, a1 = a0 + table[r, j], a1 + table[r, j + 1]
                a2, a3 = a2 + table[r, j + 2], a3 + table[r, j + 3]
                a4, a5 = a4 + table[r, j + 4], a5 + table[r, j + 5]
                a6, a7 = a6 + table[r, j + 6], a7 + table[r, j + 7]
            out[s, j], out[s, j + 1], out[s, j + 2], out[s, j + 3] = a0, a1, a2, a3
            out[s, j + 4], out[s, j + 5], out[s, j + 6], out[s, j + 7] = a4, a5, a6, a7
    for j in range(h - h % 8, h):
        for s in range(n):
            a = const[j]
            for p in range(length):
                a += table[flat[s, p], j]
            out[s, j] = a


@_inline
def _scatter_sum(flat: np.ndarray, g: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover
    """out[flat[s, p]] += g[s] for every (s, p); out starts at zero."""
    n, length = flat.shape
    h = g.shape[1]
    out[:] = 0.0
    for j in range(0, h - 7, 8):
        for s in range(n):
            g0, g1, g2, g3 = g[s, j], g[s, j + 1], g[s, j + 2], g[s, j + 3]
            g4, g5, g6, g7 = g[s, j + 4], g[s, j + 5], g[s, j + 6], g[s, j + 7]
            for p in range(length):
                r = flat[s, p]
                out[r, j] += g0
                out[r, j + 1] += g1
                out[r, j + 2] += g2
                out[r, j + 3] += g3
                out[r, j + 4] += g4
                out[r, j + 5] += g5
                out[r, j + 6] += g6
                out[r, j + 7] += g7
    for j in range(h - h % 8, h):
        for s in range(n):
            a = g[s, j]
            for p in range(length):
                out[flat[s, p], j] += a


@_jit
def _onehot_sum(flat: np.ndarray, table: np.ndarray, const: np.ndarray,
                out: np.ndarray) -> None:  # pragma: no cover
    _gather_sum(flat, table, const, out)


@_jit
def _onehot_grad(flat: np.ndarray, g: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover
    _scatter_sum(flat, g, out)


def onehot_sum(flat: Tensor, table: Tensor, bias: Tensor | None) -> Tensor:
    """``out[n] = bias + sum_p table[flat[n, p]]``: (N, H) from (N, L) int64, (R, H), (H,)."""
    out = np.empty((flat.shape[0], table.shape[1]), _DTYPES[table.dtype])
    const = view(bias) if bias is not None else np.zeros(table.shape[1], out.dtype)
    _onehot_sum(view(flat), view(table), const, out)
    return torch.from_numpy(out)


def onehot_grad(flat: Tensor, g: Tensor, rows: int) -> Tensor:
    """Table gradient of :func:`onehot_sum`: (rows, H) from flat (N, L) and g (N, H)."""
    out = np.empty((rows, g.shape[1]), _DTYPES[g.dtype])
    _onehot_grad(view(flat), view(g), out)
    return torch.from_numpy(out)


# ------------------------------------------------------------------- KAN first layer, one-hot
@_jit
def _onehot_kan_forward(flat: np.ndarray, coef: np.ndarray, ss: np.ndarray, sb: np.ndarray,
                        v01: np.ndarray, f0: float, df: float, s01: np.ndarray,
                        delta: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover
    nb, n_in, n_out = coef.shape
    s01[:] = 0.0  # spline sums at 0 and from 0 to 1: s01[c, i, o] = sum_b v01[c, b, i] coef[b]
    if v01.shape[2] == 1:  # the same knots for every input: contiguous over (i, o)
        m = n_in * n_out
        c2, s2 = coef.reshape((nb, m)), s01.reshape((2, m))
        for b in range(nb):
            v0, v1 = v01[0, b, 0], v01[1, b, 0]
            for c in range(m):
                s2[0, c] += v0 * c2[b, c]
                s2[1, c] += v1 * c2[b, c]
    else:
        for b in range(nb):
            for i in range(n_in):
                v0, v1 = v01[0, b, i], v01[1, b, i]
                for o in range(n_out):
                    s01[0, i, o] += v0 * coef[b, i, o]
                    s01[1, i, o] += v1 * coef[b, i, o]
    m = n_in * n_out  # (all arrays C-contiguous: flat loops over (i, o) vectorise)
    d2, s2, ss2, sb2 = delta.reshape(m), s01.reshape((2, m)), ss.reshape(m), sb.reshape(m)
    e = np.empty(m, delta.dtype)  # phi(0) per edge
    for c in range(m):
        d2[c] = ss2[c] * s2[1, c] + df * sb2[c]
        e[c] = ss2[c] * s2[0, c] + f0 * sb2[c]
    const = np.zeros(n_out, delta.dtype)
    for i in range(n_in):
        for o in range(n_out):
            const[o] += e[i * n_out + o]
    _gather_sum(flat, delta, const, out)


@_jit
def _onehot_kan_backward(flat: np.ndarray, g: np.ndarray, s01: np.ndarray, ss: np.ndarray,
                         v01: np.ndarray, f0: float, df: float, gc: np.ndarray,
                         gss: np.ndarray, gsb: np.ndarray) -> None:  # pragma: no cover
    nb, n_in, n_out = gc.shape
    gd = np.empty((n_in, n_out), g.dtype)  # gradient of Delta
    _scatter_sum(flat, g, gd)
    gk = np.zeros(n_out, g.dtype)  # gradient of the constant
    for s in range(g.shape[0]):
        for o in range(n_out):
            gk[o] += g[s, o]
    ak = np.empty((n_in, n_out), g.dtype)  # gradients of the two spline sums, times ss
    for i in range(n_in):
        for o in range(n_out):
            gss[i, o] = gk[o] * s01[0, i, o] + gd[i, o] * s01[1, i, o]
            gsb[i, o] = df * gd[i, o] + f0 * gk[o]
            ak[i, o] = ss[i, o] * gk[o]
            gd[i, o] *= ss[i, o]
    if v01.shape[2] == 1:
        m = n_in * n_out
        gc2, a2, d2 = gc.reshape((nb, m)), ak.reshape(m), gd.reshape(m)
        for b in range(nb):
            v0, v1 = v01[0, b, 0], v01[1, b, 0]
            for c in range(m):
                gc2[b, c] = v0 * a2[c] + v1 * d2[c]
    else:
        for b in range(nb):
            for i in range(n_in):
                v0, v1 = v01[0, b, i], v01[1, b, i]
                for o in range(n_out):
                    gc[b, i, o] = v0 * ak[i, o] + v1 * gd[i, o]


def onehot_kan_forward(flat: Tensor, coef: Tensor, ss: Tensor, sb: Tensor, v01: np.ndarray,
                       f0: float, df: float) -> tuple[Tensor, np.ndarray]:
    """First KAN layer on flat one-hot columns (N, L): ``(N, out)`` and the spline sums s01
    (2, in, out) that the backward needs. coef (nb, in, out); masked scales ss, sb (in, out);
    v01 (2, nb, in) or (2, nb, 1) when all inputs share knots: B(0) and B(1) - B(0);
    f0 = b(0), df = b(1) - b(0)."""
    nb, n_in, n_out = coef.shape
    dt = _DTYPES[coef.dtype]
    s01, delta = np.empty((2, n_in, n_out), dt), np.empty((n_in, n_out), dt)
    out = np.empty((flat.shape[0], n_out), dt)
    _onehot_kan_forward(view(flat), view(coef.contiguous()), view(ss.contiguous()),
                        view(sb.contiguous()), v01, dt(f0), dt(df), s01, delta, out)
    return torch.from_numpy(out), s01


def onehot_kan_backward(flat: Tensor, g: Tensor, s01: np.ndarray, ss: Tensor, v01: np.ndarray,
                        f0: float, df: float) -> tuple[Tensor, Tensor, Tensor]:
    """Gradients (coef, ss, sb) of :func:`onehot_kan_forward` from g (N, out)."""
    n_in, n_out = ss.shape
    dt = _DTYPES[g.dtype]
    gc = np.empty((v01.shape[1], n_in, n_out), dt)
    gss, gsb = np.empty((n_in, n_out), dt), np.empty((n_in, n_out), dt)
    _onehot_kan_backward(view(flat), view(g), s01, view(ss), v01, dt(f0), dt(df), gc, gss,
                         gsb)
    return torch.from_numpy(gc), torch.from_numpy(gss), torch.from_numpy(gsb)


# ------------------------------------------------------------ KAN first layer, encoded letters
# Around the dense product of :mod:`~kanbio.models.encoded_table`: ``W[(i, k), (p, j)] = [sb ;
# coef * ss][i, p d + k, j]`` and back to the parameters' gradients, each one pass instead of a
# chain of strided tensor operations; :func:`encoded_sum` / :func:`encoded_sum_grad` do the
# whole first layer (weights, product, gather-sum) in one call each way. W is 2-d ((nb + 1) d,
# L out) and the product's table (21, L out) has rows ``a``, columns ``(p, j)``.
@_inline
def _weights_into(coef: np.ndarray, ss: np.ndarray, sb: np.ndarray,
                  w: np.ndarray) -> None:  # pragma: no cover
    nb, n_in, h = coef.shape
    length = w.shape[1] // h
    d = n_in // length
    for i in range(nb + 1):  # in the order of W, reading each parameter row once
        for k in range(d):
            r = i * d + k
            for p in range(length):
                f, c = p * d + k, p * h
                if i == 0:
                    for j in range(h):
                        w[r, c + j] = sb[f, j]
                else:
                    for j in range(h):
                        w[r, c + j] = coef[i - 1, f, j] * ss[f, j]


@_jit
def _grads_from(gw: np.ndarray, coef: np.ndarray, ss: np.ndarray, gc: np.ndarray,
                gss: np.ndarray, gsb: np.ndarray) -> None:  # pragma: no cover
    """The parameters' gradients from the gradient ``gw`` of W: ``gw`` copied into the
    parameters' order, then contiguous passes (about twice as fast as one strided pass; a
    separate compiled function, as inlined into its callers it loses the vectorised loops)."""
    nb, n_in, h = coef.shape
    length = gw.shape[1] // h
    gp = np.empty((nb + 1, n_in * h), coef.dtype)
    _param_order(gw, gp, n_in // length, length, h)
    _param_grads(gp, coef, ss, gc, gss, gsb)


@_jit
def _param_order(gw: np.ndarray, gp: np.ndarray, d: int, length: int,
                 h: int) -> None:  # pragma: no cover
    """gp[i, (p d + k) h + j] = gw[i d + k, p h + j]."""
    for i in range(gp.shape[0]):
        for k in range(d):
            r = i * d + k
            for p in range(length):
                f, c = (p * d + k) * h, p * h
                for j in range(h):
                    gp[i, f + j] = gw[r, c + j]


@_jit
def _param_grads(gp: np.ndarray, coef: np.ndarray, ss: np.ndarray, gc: np.ndarray,
                 gss: np.ndarray, gsb: np.ndarray) -> None:  # pragma: no cover
    """From gp = [g_sb ; g_(coef ss)] in the parameters' order."""
    nb, n_in, h = coef.shape
    n = n_in * h
    c1, s1, gc1 = coef.reshape(nb, n), ss.reshape(n), gc.reshape(nb, n)
    gss1, gsb1 = gss.reshape(n), gsb.reshape(n)
    for t in range(n):
        gsb1[t] = gp[0, t]
        gss1[t] = 0.0
    for i in range(nb):
        for t in range(n):
            x = gp[i + 1, t]
            gss1[t] += x * c1[i, t]
            gc1[i, t] = x * s1[t]


@_inline
def _letter_rows(t: np.ndarray, tab: np.ndarray, to_rows: bool) -> None:  # pragma: no cover
    """tab[p * 21 + a, j] = t[a, p * h + j] (``to_rows``) or back."""
    h = tab.shape[1]
    length = t.shape[1] // h
    for a in range(t.shape[0]):
        for p in range(length):
            r, c = p * t.shape[0] + a, p * h
            if to_rows:
                for j in range(h):
                    tab[r, j] = t[a, c + j]
            else:
                for j in range(h):
                    t[a, c + j] = tab[r, j]


@_jit
def _encoded_weights(coef: np.ndarray, ss: np.ndarray, sb: np.ndarray,
                     w: np.ndarray) -> None:  # pragma: no cover
    _weights_into(coef, ss, sb, w)


@_jit
def _encoded_grads(gw: np.ndarray, coef: np.ndarray, ss: np.ndarray, gc: np.ndarray,
                   gss: np.ndarray, gsb: np.ndarray) -> None:  # pragma: no cover
    _grads_from(gw, coef, ss, gc, gss, gsb)


@_jit
def _encoded_sum(flat: np.ndarray, coef: np.ndarray, ss: np.ndarray, sb: np.ndarray,
                 v: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover
    nb, n_in, h = coef.shape
    length = flat.shape[1]
    w = np.empty(((nb + 1) * (n_in // length), length * h), coef.dtype)
    _weights_into(coef, ss, sb, w)
    table = np.empty((v.shape[0] * length, h), coef.dtype)
    _letter_rows(np.dot(v, w), table, True)
    _gather_sum(flat, table, np.zeros(h, coef.dtype), out)


@_jit
def _encoded_sum_grad(flat: np.ndarray, g: np.ndarray, coef: np.ndarray, ss: np.ndarray,
                      vt: np.ndarray, gc: np.ndarray, gss: np.ndarray,
                      gsb: np.ndarray) -> None:  # pragma: no cover
    h, length = coef.shape[2], flat.shape[1]
    letters = vt.shape[1]
    table = np.empty((letters * length, h), coef.dtype)
    _scatter_sum(flat, g, table)
    g2 = np.empty((letters, length * h), coef.dtype)
    _letter_rows(g2, table, False)
    _grads_from(np.dot(vt, g2), coef, ss, gc, gss, gsb)


def encoded_weights(coef: Tensor, ss: Tensor, sb: Tensor, d: int) -> Tensor:
    """``W`` ((nb + 1) d, L out) from coef (nb, L d, out) and the masked scales (L d, out)."""
    nb, n_in, h = coef.shape
    w = np.empty(((nb + 1) * d, n_in // d * h), _DTYPES[coef.dtype])
    _encoded_weights(view(coef.contiguous()), view(ss.contiguous()), view(sb.contiguous()), w)
    return torch.from_numpy(w)


def encoded_grads(gw: Tensor, coef: Tensor, ss: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Gradients (coef, ss, sb) from the gradient ``gw`` of :func:`encoded_weights`' ``W``."""
    dt = _DTYPES[gw.dtype]
    gc, gss, gsb = np.empty(coef.shape, dt), np.empty(ss.shape, dt), np.empty(ss.shape, dt)
    _encoded_grads(view(gw.contiguous()), view(coef.contiguous()), view(ss.contiguous()), gc,
                   gss, gsb)
    return torch.from_numpy(gc), torch.from_numpy(gss), torch.from_numpy(gsb)


def encoded_sum(flat: Tensor, coef: Tensor, ss: Tensor, sb: Tensor, v: Tensor) -> Tensor:
    """``sum_p T[flat[n, p]]`` (N, out) of the table ``T = v W`` (:func:`encoded_weights`), flat
    columns ``p * 21 + a``; v (21, (nb + 1) d) is the letters' block."""
    out = np.empty((flat.shape[0], coef.shape[2]), _DTYPES[coef.dtype])
    _encoded_sum(view(flat.contiguous()), view(coef.contiguous()), view(ss.contiguous()),
                 view(sb.contiguous()), view(v.contiguous()), out)
    return torch.from_numpy(out)


def encoded_sum_grad(flat: Tensor, g: Tensor, coef: Tensor, ss: Tensor,
                     vt: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Gradients (coef, ss, sb) of :func:`encoded_sum` from g (N, out); vt = v^T."""
    dt = _DTYPES[g.dtype]
    gc, gss, gsb = np.empty(coef.shape, dt), np.empty(ss.shape, dt), np.empty(ss.shape, dt)
    _encoded_sum_grad(view(flat.contiguous()), view(g.contiguous()), view(coef.contiguous()),
                      view(ss.contiguous()), view(vt.contiguous()), gc, gss, gsb)
    return torch.from_numpy(gc), torch.from_numpy(gss), torch.from_numpy(gsb)


# ------------------------------------------------------------------- hidden layer, uniform grid
# Arithmetic stays in the input's dtype: numeric constants come in the array ``cst`` = [1, 2, 3,
# -1, top] (a float64 literal would promote float32 work to float64), read into locals before
# the loops (a load from an array inside them is repeated on every iteration, as any store
# might change it). Table rows: 0 and top + 2 are zero (outside the grid).
@_inline
def _interval(x: float, inv_h: float, off: float, lo: float, top: float) -> tuple[int, float]:
    """Table row (interval + 1, clamped to the zero rows 0 and top + 1; lo = -1) of x and the
    position f in [0, 1) inside the interval; NaN goes to row 0."""
    u = x * inv_h + off
    j = np.floor(u)
    f = u - j
    j = j if j > lo else lo  # (NaN compares False)
    j = j if j < top else top
    return np.int32(j) + 1, f


@_inline
def _horner(qq: np.ndarray, r: int, f: float, kp1: int) -> float:
    """sum_p qq[r, p] f^p (unrolled for k <= 3)."""
    if kp1 == 4:
        return ((qq[r, 3] * f + qq[r, 2]) * f + qq[r, 1]) * f + qq[r, 0]
    if kp1 == 3:
        return (qq[r, 2] * f + qq[r, 1]) * f + qq[r, 0]
    if kp1 == 2:
        return qq[r, 1] * f + qq[r, 0]
    v = qq[r, kp1 - 1]
    for p in range(kp1 - 2, -1, -1):
        v = v * f + qq[r, p]
    return v


@_inline
def _horner_d(qq: np.ndarray, r: int, f: float, kp1: int, two: float, three: float) -> float:
    """d/df sum_p qq[r, p] f^p."""
    if kp1 == 4:
        return (three * qq[r, 3] * f + two * qq[r, 2]) * f + qq[r, 1]
    if kp1 == 3:
        return two * qq[r, 2] * f + qq[r, 1]
    if kp1 == 2:
        return qq[r, 1]
    v = qq[r, kp1 - 1] * (kp1 - 1)
    for p in range(kp1 - 2, 0, -1):
        v = v * f + p * qq[r, p]
    return v


@_inline
def _base(code: int, x: float, sx: float, one: float) -> tuple[float, float]:
    """Residual b(x) and b'(x); sx = sigmoid(x) for silu."""
    if code == 1:
        return x * sx, sx * (one + x * (one - sx))
    if code == 2:
        return x, one
    zero = one - one
    return zero, zero


@_jit
def _local_forward(x: np.ndarray, sx: np.ndarray, coef: np.ndarray, ss: np.ndarray,
                   sb: np.ndarray, wt: np.ndarray, inv_h: np.ndarray, off: np.ndarray,
                   code: int, cst: np.ndarray, q: np.ndarray, y: np.ndarray, rows: np.ndarray,
                   frac: np.ndarray, bx: np.ndarray, dydx: np.ndarray) -> None:  # pragma: no cover
    """y, and for the backward (when dydx is not empty) the table row and position of every
    (input, sample), the residual values and the local slopes dy_o/dx_i."""
    n, n_in = x.shape
    nb, _, n_out = coef.shape
    _, _, nrow, kp1 = q.shape
    grad = dydx.shape[0] > 0
    for i in range(n_in):  # q[i, o, row, p] = ss[i, o] sum_b coef[b, i, o] wt[b, row, p]
        for o in range(n_out):
            for r in range(nrow):
                for p in range(kp1):
                    v = 0.0
                    for b in range(nb):
                        v += coef[b, i, o] * wt[b, r, p]
                    q[i, o, r, p] = ss[i, o] * v
    y[:] = 0.0
    if kp1 == 4 and code == 1:  # the default (cubic splines, silu): constants folded in
        _forward_loop(x, sx, q, sb, inv_h, off, 1, 4, cst, grad, y, rows, frac, bx, dydx)
    else:
        _forward_loop(x, sx, q, sb, inv_h, off, code, kp1, cst, grad, y, rows, frac, bx, dydx)


@_inline
def _forward_loop(x: np.ndarray, sx: np.ndarray, q: np.ndarray, sb: np.ndarray,
                  inv_h: np.ndarray, off: np.ndarray, code: int, kp1: int, cst: np.ndarray,
                  grad: bool, y: np.ndarray, rows: np.ndarray, frac: np.ndarray, bx: np.ndarray,
                  dydx: np.ndarray) -> None:  # pragma: no cover
    n, n_in = x.shape
    n_out = q.shape[1]
    one, two, three, lo, top = cst[0], cst[1], cst[2], cst[3], cst[4]
    for i in range(n_in):
        a, c = inv_h[i], off[i]
        for o in range(n_out):
            qq = q[i, o]
            w = sb[i, o]
            for s in range(n):
                xi = x[s, i]
                r, f = _interval(xi, a, c, lo, top)
                b, db = _base(code, xi, sx[s, i], one)
                y[s, o] += _horner(qq, r, f, kp1) + w * b
                if grad:
                    dydx[i, o, s] = _horner_d(qq, r, f, kp1, two, three) * a + w * db
                    if o == 0:
                        rows[i, s], frac[i, s], bx[i, s] = r, f, b


@_jit
def _local_backward(gy: np.ndarray, rows: np.ndarray, frac: np.ndarray, bx: np.ndarray,
                    dydx: np.ndarray, coef: np.ndarray, ss: np.ndarray, wt: np.ndarray,
                    need_x: bool, gx: np.ndarray, gc: np.ndarray, gss: np.ndarray,
                    gsb: np.ndarray) -> None:  # pragma: no cover
    n_in, n = rows.shape
    nb, _, n_out = coef.shape
    _, nrow, kp1 = wt.shape
    # d y / d q[i, o, row, p] = sum over samples in that row of g f^p: a histogram, kept in 4
    # copies (by sample index) so that consecutive updates rarely wait on each other
    gq = np.zeros((4, nrow, kp1), gc.dtype)
    if need_x:
        gx[:] = 0.0
    if kp1 == 4:  # cubic splines: constants folded in
        _backward_loop(gy, rows, frac, bx, dydx, coef, ss, wt, need_x, 4, gq, gx, gc, gss, gsb)
    else:
        _backward_loop(gy, rows, frac, bx, dydx, coef, ss, wt, need_x, kp1, gq, gx, gc, gss, gsb)


@_inline
def _backward_loop(gy: np.ndarray, rows: np.ndarray, frac: np.ndarray, bx: np.ndarray,
                   dydx: np.ndarray, coef: np.ndarray, ss: np.ndarray, wt: np.ndarray,
                   need_x: bool, kp1: int, gq: np.ndarray, gx: np.ndarray, gc: np.ndarray,
                   gss: np.ndarray, gsb: np.ndarray) -> None:  # pragma: no cover
    n_in, n = rows.shape
    nb, _, n_out = coef.shape
    nrow = wt.shape[1]
    for i in range(n_in):
        for o in range(n_out):
            gq[:] = 0.0
            acc = gq[0, 0, 0]  # (zero, in the gradient's dtype)
            for s in range(n):
                g = gy[s, o]
                f = frac[i, s]
                c, r = s & 3, rows[i, s]
                fp = g
                for p in range(kp1):
                    gq[c, r, p] += fp
                    fp *= f
                acc += g * bx[i, s]
                if need_x:
                    gx[s, i] += g * dydx[i, o, s]
            gsb[i, o] = acc
            t = 0.0  # gradient of ss[i, o]: sum_b coef[b] gcs[b], gcs = wt . gq
            for b in range(nb):
                v = 0.0
                for r in range(nrow):
                    for p in range(kp1):
                        v += wt[b, r, p] * (gq[0, r, p] + gq[1, r, p] + gq[2, r, p] + gq[3, r, p])
                gc[b, i, o] = v * ss[i, o]
                t += v * coef[b, i, o]
            gss[i, o] = t


def local_forward(x: Tensor, sx: Tensor | None, coef: Tensor, ss: Tensor, sb: Tensor,
                  tables: tuple[np.ndarray, ...], base_fun: str,
                  need_grad: bool) -> tuple[Tensor, tuple[np.ndarray, ...]]:
    """KAN layer on a uniform grid: ``y`` (N, out) and, with ``need_grad``, the state for
    :func:`local_backward`.

    x (N, in); sx = sigmoid(x) for the silu residual (else unused); coef (nb, in, out); masked
    scales ss, sb (in, out); tables = (inv_h, off, wt, cst) from :func:`uniform_tables`."""
    inv_h, off, wt, cst = tables
    n, n_in = x.shape
    n_out = coef.shape[2]
    dt = cst.dtype
    q = np.empty((n_in, n_out, wt.shape[1], wt.shape[2]), dt)
    y = np.empty((n, n_out), dt)
    shape = (n_in, n) if need_grad else (0, 0)  # empty: nothing kept (dydx.shape[0] == 0)
    state = (np.empty(shape, np.int32), np.empty(shape, dt), np.empty(shape, dt),
             np.empty((*shape[:1], n_out if need_grad else 0, *shape[1:]), dt))
    xv = view(x)
    _local_forward(xv, xv if sx is None else view(sx), view(coef), view(ss), view(sb), wt,
                   inv_h, off, BASE_CODES[base_fun], cst, q, y, *state)
    return torch.from_numpy(y), state


def local_backward(state: tuple[np.ndarray, ...], gy: Tensor, coef: Tensor, ss: Tensor,
                   wt: np.ndarray, need_x: bool) -> tuple[Tensor | None, Tensor, Tensor, Tensor]:
    """Gradients of :func:`local_forward` w.r.t. x (None unless ``need_x``), coef, ss, sb."""
    rows, frac, bx, dydx = state
    n_in, n = rows.shape
    n_out = ss.shape[1]
    dt = frac.dtype
    gx = np.empty((n, n_in) if need_x else (0, 0), dt)
    gc = np.empty(coef.shape, dt)
    gss, gsb = np.empty((n_in, n_out), dt), np.empty((n_in, n_out), dt)
    _local_backward(view(gy), rows, frac, bx, dydx, view(coef), view(ss), wt, need_x, gx, gc,
                    gss, gsb)
    gxt = torch.from_numpy(gx) if need_x else None
    return gxt, torch.from_numpy(gc), torch.from_numpy(gss), torch.from_numpy(gsb)


def uniform_tables(inv_h: Tensor, off: Tensor, w: Tensor, k: int) -> tuple[np.ndarray, ...]:
    """Constants of :func:`local_forward` for a uniform grid: inv_h (in,), off (in,), wt (nb,
    rows, k + 1) from ``w`` ((k + 1) rows, nb) (row p * rows + r: the monomial coefficient of
    f^p on table row r), and the numeric constants in the grid's dtype."""
    nrow = w.shape[0] // (k + 1)
    wt = w.cpu().view(k + 1, nrow, -1).permute(2, 1, 0).numpy().copy()
    dt = _DTYPES[w.dtype]
    return (inv_h.cpu().numpy().copy(), off.cpu().numpy().copy(), wt,
            np.array([1.0, 2.0, 3.0, -1.0, nrow - 2.0], dt))
