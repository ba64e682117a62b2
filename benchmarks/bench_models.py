"""Training cost and accuracy side by side: kanbio KAN (fast and dense paths), MLP and pykan.

One process; every model of a comparison sees the same data and the same mini-batches.

(a) One-hot windows of length 33 from a synthetic kinase-like proteome (S/T candidates; most
    positives carry R at -3 and P at +1), width ``[693, H, 1]``, grid 5, k 3, one logit, BCE,
    Adam, the same shuffled batches for every model (the last partial batch of an epoch is
    dropped, so every step has the same shape). For each batch size:

    - ``kanbio KAN fast``: :class:`kanbio.models.KAN` on uint8 index windows (exact one-hot path);
    - ``kanbio KAN dense``: the same KAN (same initial weights) on float one-hot rows;
    - ``MLP``: :class:`kanbio.models.MLP` of the same hidden width H, and a parameter-matched one;
    - ``pykan``: ``kan.KAN(width=[693, H, 1], grid=5, k=3)`` in pykan's speed mode (no symbolic
      branch, no activation caching, no checkpoint files), compiled with ``torch.compile`` as
      ``model.speed(compile=True)`` does (``--pykan eager`` skips compilation).

    Reported: seconds per epoch (forward, loss, backward and optimiser step of every batch, batch
    gathering included; the fastest and the median epoch; ratios use the fastest), test AUROC
    after the same number of epochs, and peak memory of training. Epochs are interleaved across
    the models (epoch 1 of each, then epoch 2 of each, ...) so that changes in machine load hit
    them alike. Compilation and a warm-up forward/backward (gradients discarded, weights
    unchanged) come before and are shown apart; each timed epoch is also preceded by one such
    untimed forward/backward on its first batch, so that it starts, as in a real run, with the
    model's own tensors in cache rather than those of the model timed just before. Every model
    gets the same optimiser, kanbio's ``make_adam`` (torch's fused Adam where available, as in
    ``fit``); its learning rate is ``--lr`` except on the first KAN layer on one-hot input,
    which learns at ``lr / 21`` (kanbio's ``fit`` default, applied to kanbio's and pykan's KAN
    alike).

    The speed ratio KAN fast / MLP is also measured on its own, less exposed to machine noise
    than a minimum over three epochs: ``--paired-rounds`` rounds of one epoch of each, back to
    back (alternating which goes first), from fresh models; the median ratio and its quartiles.

    Memory method: after the timed epochs and the evaluation, each model takes ``--mem-steps``
    more training steps with a fresh Adam while a background thread reads the resident set size
    (``/proc/self/statm``) every millisecond; the figure is the peak above the level just before
    that pass, measured after ``gc.collect()`` and glibc ``malloc_trim(0)``. It includes the
    optimiser state and every transient tensor of a step, not the shared training data.
    (tracemalloc does not see PyTorch's CPU allocations, and ``ru_maxrss`` is a process-wide
    high-water mark, so neither can separate models run in one process.)

(b) The pykan protein-classification tutorial setting: windows of 5 (half width 2), width
    ``[105, 3, 2]``, grid 3, k 2, five full-batch LBFGS steps, cross-entropy on two logits, on the
    ``tutorial`` and ``tutorial_fixed`` synthetic tasks (training and test proteomes from different
    seeds). kanbio: ``fit(..., TrainConfig(optimizer="lbfgs", epochs=5, balance="none",
    patience=0))`` on index windows (fast path) and on float one-hot rows (dense path); pykan:
    ``model.fit(dataset, opt="LBFGS", steps=5, loss_fn=cross_entropy)`` with the grid update off
    (matched) and with pykan's defaults (a grid update from the training samples at step 0).
    Each model is fitted from ``--tutorial-seeds`` initialisation seeds on the same data (seeds
    interleaved across models); the table gives test accuracy mean +- sd over seeds and the
    paired (same seed) difference kanbio fast - pykan with its standard error.
    Per-step settings match: lr 1, at most 20 iterations and 25 evaluations per step, history
    10, strong-Wolfe line search, gradient and change tolerances 1e-32. What differs: torch's
    LBFGS (kanbio) keeps a curvature pair only if ``y.s > 1e-10``, pykan's copy if
    ``y.s > 1e-32``; pykan's ``fit`` also computes the test loss after every step (one extra
    forward pass, inside its time); the initial weights come from different random streams.

(c) ``--windows N``: one epoch of kanbio ``fit`` (defaults, ``patience=0``) of a ``[693, H, 1]``
    KAN on N synthetic windows of length 33: data generation time, training wall time and the
    peak resident set size of the process (``resource.getrusage(...).ru_maxrss``), with a
    target of 1,000,000 windows in under 2 GB. It runs before (a) and (b) so that the high-water
    mark is its own.

(d) Residue encodings (``--encodings onehot,blosum62,physchem``): for each encoding a KAN on
    uint8 index windows (its fast path: a table over the 21 letters rebuilt from the encoded edge
    values on every pass; spline first layer, and for onehot also the table first layer) and an
    MLP of the same hidden width H on the same encoding, width ``[693, H, 1]``, on windows of 33
    from the ``acidic`` task, Adam with kanbio's default first-layer rates (``lr / d`` for a
    spline first layer on d features per residue, ``lr`` for a table one). For each batch size:
    ``--encoding-rounds`` rounds of one epoch of the KAN and one of the MLP, back to back
    (alternating which goes first, each after an untimed forward/backward), the fastest epoch of
    each, the median KAN / MLP ratio of the rounds with its quartiles, and the test AUROC after
    those epochs. Then a check per encoding: the largest absolute difference between the KAN's
    fast path and its dense path (float one-hot rows through the encoding and the spline layer)
    in the logits (float32 and float64) and in the parameter gradients (float64).

    python benchmarks/bench_models.py --quick                       # smoke run, < 1 minute
    python benchmarks/bench_models.py                               # default sizes, a few minutes
    python benchmarks/bench_models.py --windows 1000000 --parts c   # the 1 M window run alone
    python benchmarks/bench_models.py --parts d --encodings onehot,physchem  # encodings only
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import importlib.metadata
import inspect
import io
import math
import os
import platform
import resource
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from kanbio.data.alphabet import ALPHABET, A  # noqa: E402
from kanbio.data.encode import one_hot  # noqa: E402
from kanbio.data.fasta import Protein  # noqa: E402
from kanbio.data.residues import ENCODINGS  # noqa: E402
from kanbio.data.synthetic import generate  # noqa: E402
from kanbio.data.windows import extract  # noqa: E402
from kanbio.metrics import auroc  # noqa: E402
from kanbio.models import KAN, MLP, matched_width  # noqa: E402
from kanbio.models.inference import predict_logit  # noqa: E402
from kanbio.train import TrainConfig, fit, make_adam  # noqa: E402

QUICK = {
    "n_train": 4096,
    "n_test": 1000,
    "epochs": 1,
    "pykan": "eager",
    "mem_steps": 1,
    "paired_rounds": 5,
    "tutorial_proteins": 30,
    "tutorial_seeds": 2,
    "encoding_rounds": 15,
}
K_INDEX = ALPHABET.index("K")


# ---------------------------------------------------------------------------------------- data
def task_windows(
    task: str, seed: int, n: int | None = None, proteins: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Candidate windows (N, L) uint8 and labels (N,) int64 of a synthetic proteome.

    With ``n``, enough proteins are drawn to give at least ``n`` windows and the first ``n``
    (whole proteins, in order) are kept; otherwise all windows of ``proteins`` proteins.
    """
    n_prot = proteins if proteins is not None else max(20, n // 28 + 20)
    while True:
        data = generate(task, n_prot, seed=seed)
        w = extract([Protein(i, s, p) for i, s, p in data.proteins], data.residues,
                    data.half_width)
        del data
        if n is None or len(w.label) >= n:
            break
        n_prot *= 2
    stop = len(w.label) if n is None else n
    return np.ascontiguousarray(w.windows[:stop]), w.label[:stop].astype(np.int64)


# ------------------------------------------------------------------------------------- memory
def _trim() -> None:
    """Return freed heap memory to the system (glibc), so later RSS peaks are a model's own."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def rss_bytes() -> int | None:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return None


def maxrss_mb() -> float:
    """Process high-water mark of the resident set (ru_maxrss: KiB on Linux, bytes on macOS)."""
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / 2**20 if platform.system() == "Darwin" else r / 1024


class PeakRSS:
    """Peak resident set size above the level at entry, sampled every ``interval`` seconds."""

    def __init__(self, interval: float = 1e-3) -> None:
        self.interval, self.peak_mb = interval, float("nan")

    def __enter__(self) -> PeakRSS:
        _trim()
        self.base = rss_bytes()
        self.top = self.base
        self.stop = threading.Event()
        if self.base is not None:
            self.thread = threading.Thread(target=self._poll, daemon=True)
            self.thread.start()
        return self

    def _poll(self) -> None:
        while not self.stop.is_set():
            self.top = max(self.top, rss_bytes() or 0)
            time.sleep(self.interval)

    def __exit__(self, *exc: object) -> None:
        if self.base is None:
            return
        self.top = max(self.top, rss_bytes() or 0)
        self.stop.set()
        self.thread.join()
        self.peak_mb = (self.top - self.base) / 2**20


# ------------------------------------------------------------------------------------- pykan
def load_pykan() -> tuple[type | None, str]:
    """pykan's KAN class and its version, or None and the reason it cannot be used."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            from kan import KAN as PyKAN  # noqa: PLC0415
    except Exception as err:  # any import failure means: skip pykan, say why
        return None, f"pykan is not importable ({type(err).__name__}: {err})"
    try:
        version = importlib.metadata.version("pykan")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown version"
    return PyKAN, version


def pykan_model(PyKAN: type, width: list[int], grid: int, k: int, seed: int) -> torch.nn.Module:
    """pykan KAN in speed mode: no symbolic branch, no saved activations, no checkpoint files."""
    params = inspect.signature(PyKAN.__init__).parameters
    kw: dict = {"width": list(width), "grid": grid, "k": k, "seed": seed}  # pykan edits width
    for name in ("auto_save", "symbolic_enabled", "save_act"):
        if name in params:
            kw[name] = False
    with contextlib.redirect_stdout(io.StringIO()):
        model = PyKAN(**kw)
    if hasattr(model, "speed"):
        model.speed()  # the same three switches, for versions that set more of them
    return model


def pykan_fit(model: torch.nn.Module, dataset: dict, steps: int, update_grid: bool) -> None:
    kw: dict = {"opt": "LBFGS", "steps": steps, "loss_fn": F.cross_entropy, "lamb": 0.0}
    if "update_grid" in inspect.signature(model.fit).parameters:
        kw["update_grid"] = update_grid
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        model.fit(dataset, **kw)  # (progress bar silenced)


# ---------------------------------------------------------------------------------- training
@dataclass
class Candidate:
    """A model to train: the module, the callable that takes the steps, its inputs."""

    name: str
    model: torch.nn.Module
    x_train: torch.Tensor
    x_test: torch.Tensor
    first_layer: torch.nn.Module | None  # the one-hot KAN layer (lr / 21), None for MLPs
    score: Callable[[torch.nn.Module, torch.Tensor], np.ndarray]
    compile: bool = False
    step: Callable | None = None  # the model, or its compiled wrapper
    opt: torch.optim.Optimizer | None = None
    params: int = 0
    epoch_s: list[float] = field(default_factory=list)
    warmup_s: float = 0.0
    auroc: float = float("nan")
    peak_mb: float = float("nan")
    note: str = ""


def adam(model: torch.nn.Module, lr: float, first_layer: torch.nn.Module | None,
         first_scale: float = 1 / A) -> torch.optim.Adam:
    """kanbio's Adam (fused where torch supports it: the same for every model); the parameters
    of ``first_layer`` learn at ``lr * first_scale``."""
    params = [p for p in model.parameters() if p.requires_grad]
    if first_layer is None or first_scale == 1.0:
        return make_adam(params, lr)
    first = [p for p in first_layer.parameters() if p.requires_grad]
    ids = {id(p) for p in first}
    rest = [p for p in params if id(p) not in ids]
    return make_adam([{"params": first, "lr": lr * first_scale}, {"params": rest}], lr)


def run_steps(step: Callable, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
              order: torch.Tensor, batch: int, max_steps: int | None = None) -> None:
    """Adam steps over full batches of ``order`` (the last partial batch is dropped)."""
    n_steps = len(order) // batch if max_steps is None else min(max_steps, len(order) // batch)
    for i in range(0, n_steps * batch, batch):
        b = order[i : i + batch]
        opt.zero_grad(set_to_none=True)
        loss = F.binary_cross_entropy_with_logits(step(x[b]), y[b])
        loss.backward()
        opt.step()


def warm_up(step: Callable, model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
    """One forward + backward; gradients dropped, weights kept."""
    F.binary_cross_entropy_with_logits(step(x), y).backward()
    model.zero_grad(set_to_none=True)


def kanbio_score(model: torch.nn.Module, x: torch.Tensor) -> np.ndarray:
    return predict_logit(model, x, batch_size=2048)


@torch.no_grad()
def pykan_score(model: torch.nn.Module, x: torch.Tensor) -> np.ndarray:
    out = [model(x[i : i + 2048])[:, 0] for i in range(0, len(x), 2048)]
    return torch.cat(out).double().numpy()


def prepare(c: Candidate, x: torch.Tensor, y: torch.Tensor, lr: float) -> None:
    """Compile if asked (falling back to eager with a note), warm up, make the optimiser."""
    c.step = c.model
    if c.compile:
        try:
            c.step = c.model.speed(compile=True) if hasattr(c.model, "speed") else \
                torch.compile(c.model)
            t = time.perf_counter()
            warm_up(c.step, c.model, x, y)
            c.warmup_s = time.perf_counter() - t
        except Exception as err:  # no compiler, unsupported op, ...: fall back to eager
            c.note = f"torch.compile failed ({type(err).__name__}); eager"
            c.name = c.name.replace("compiled", "eager")
            c.step = c.model
            c.model.zero_grad(set_to_none=True)
    if c.step is c.model:
        t = time.perf_counter()
        warm_up(c.step, c.model, x, y)
        c.warmup_s = time.perf_counter() - t
    c.model.train()
    c.opt = adam(c.model, lr, c.first_layer)


def train_all(cands: list[Candidate], y_train: torch.Tensor, y_test: np.ndarray,
              orders: list[torch.Tensor], batch: int, lr: float, mem_steps: int) -> None:
    """Train every candidate on the same batches. Epochs are interleaved across the models (epoch
    1 of each, then epoch 2 of each, ...), so that a change in machine load hits all of them."""
    first = orders[0][:batch]
    for c in cands:  # a compiled model warms up on the training shape, an eager one on a few rows
        b = first if c.compile else first[:64]
        prepare(c, c.x_train[b], y_train[b], lr)
    for order in orders:
        for c in cands:
            b = order[:batch]  # untimed: the model's own tensors back in cache (see module doc)
            warm_up(c.step, c.model, c.x_train[b], y_train[b])
            t = time.perf_counter()
            run_steps(c.step, c.opt, c.x_train, y_train, order, batch)
            c.epoch_s.append(time.perf_counter() - t)
    for c in cands:
        c.auroc = float(auroc(y_test, c.score(c.model, c.x_test)))
        c.model.train()
        c.opt = None
    for c in cands:
        if mem_steps > 0:
            with PeakRSS() as mem:
                run_steps(c.step, adam(c.model, lr, c.first_layer), c.x_train, y_train,
                          orders[0], batch, max_steps=mem_steps)
            c.peak_mb = mem.peak_mb
        c.params = sum(p.numel() for p in _counted(c.model))
        c.model = c.step = c.x_train = c.x_test = None  # free before the next one is measured


# -------------------------------------------------------------------------------------- parts
def part_a(args: argparse.Namespace, PyKAN: type | None, pykan_why: str) -> None:
    L, H = 33, args.hidden
    width = [L * A, H, 1]
    t = time.perf_counter()
    idx_tr, y_tr = task_windows("kinase", seed=args.seed + 1, n=args.n_train)
    idx_te, y_te = task_windows("kinase", seed=args.seed + 2, n=args.n_test)
    x_tr, x_te = torch.from_numpy(idx_tr), torch.from_numpy(idx_te)  # (N, L) uint8
    d_tr, d_te = torch.from_numpy(one_hot(idx_tr)), torch.from_numpy(one_hot(idx_te))  # (N, L*21)
    yt = torch.from_numpy(y_tr).float()[:, None]  # (N, 1)
    hm = matched_width(width, args.grid, args.k, L)
    print(
        f"\n(a) one-hot windows, L={L}: train {len(y_tr):,} windows ({y_tr.mean():.1%} positive), "
        f"test {len(y_te):,} ({y_te.mean():.1%}) from another proteome; data "
        f"{time.perf_counter() - t:.1f} s\n    width [{L * A}, {H}, 1], grid {args.grid}, "
        f"k {args.k}; Adam lr {args.lr:g} (first KAN layer lr/{A}), BCE, {args.epochs} epoch(s), "
        f"full batches only; peak MB = RSS above the pre-pass level over {args.mem_steps} extra "
        f"step(s)"
    )
    pykan_modes = {"compile": [True], "eager": [False], "both": [False, True], "off": []}
    modes = pykan_modes[args.pykan] if PyKAN is not None else []
    if PyKAN is None:
        print(f"    pykan skipped: {pykan_why}")
    elif args.pykan == "off":
        print("    pykan skipped: --pykan off")
    for batch in args.batch_sizes:
        steps = len(y_tr) // batch
        if steps == 0:
            print(f"\n  batch {batch}: skipped (fewer training windows than one batch)")
            continue
        gen = torch.Generator().manual_seed(args.seed)
        orders = [torch.randperm(len(y_tr), generator=gen) for _ in range(args.epochs)]
        kan_fast = KAN(width, args.grid, args.k, window_length=L, seed=args.seed)
        kan_dense = KAN(width, args.grid, args.k, window_length=L, seed=args.seed)
        cands = [
            Candidate("kanbio KAN fast (uint8)", kan_fast, x_tr, x_te, kan_fast.layers[0],
                      kanbio_score),
            Candidate("kanbio KAN dense (float)", kan_dense, d_tr, d_te, kan_dense.layers[0],
                      kanbio_score),
            Candidate(f"MLP [{L * A}, {H}, 1]", MLP(width, window_length=L, seed=args.seed),
                      x_tr, x_te, None, kanbio_score),
            Candidate(f"MLP [{L * A}, {hm}, 1] (matched)",
                      MLP([L * A, hm, 1], window_length=L, seed=args.seed), x_tr, x_te, None,
                      kanbio_score),
        ]
        for compiled in modes:
            pk = pykan_model(PyKAN, width, args.grid, args.k, args.seed)
            cands.append(Candidate(f"pykan {'compiled' if compiled else 'eager'} (float)", pk,
                                   d_tr, d_te, pk.act_fun[0], pykan_score, compile=compiled))
        print(f"\n  batch {batch}: {steps} steps/epoch")
        print(f"  {'model':<28}{'params':>8}{'min s/ep':>9}{'med s/ep':>9}{'ms/step':>9}"
              f"{'AUROC':>8}{'peak MB':>9}{'warm-up':>10}  notes")
        train_all(cands, yt, y_te, orders, batch, args.lr, args.mem_steps)
        for c in cands:
            best, med = min(c.epoch_s), statistics.median(c.epoch_s)
            print(f"  {c.name:<28}{c.params:>8,}{best:>9.3f}{med:>9.3f}{1e3 * best / steps:>9.2f}"
                  f"{c.auroc:>8.4f}{c.peak_mb:>9.1f}{c.warmup_s:>10.2f}  {c.note}")
        _trim()
        t = {c.name: min(c.epoch_s) for c in cands}
        fast, dense = t["kanbio KAN fast (uint8)"], t["kanbio KAN dense (float)"]
        mlp = t[f"MLP [{L * A}, {H}, 1]"]
        print(f"  ratio KAN fast / MLP (same width)   {fast / mlp:7.2f}   (fastest epochs above)")
        if args.paired_rounds > 0:
            med, lo, hi = paired_ratio(args, x_tr, yt, width, batch)
            print(f"  ratio KAN fast / MLP (same width)   {med:7.2f}   (target <= 1.3; median of "
                  f"{args.paired_rounds} paired epochs, quartiles {lo:.2f}-{hi:.2f})")
        print(f"  ratio KAN dense / KAN fast         {dense / fast:7.1f}   (target >= 20)")
        for name in (n for n in t if n.startswith("pykan")):
            label = f"ratio {name.split(' (')[0]} / KAN fast"
            print(f"  {label:<35}{t[name] / fast:7.1f}   (target >= 20)")


def paired_ratio(args: argparse.Namespace, x: torch.Tensor, y: torch.Tensor, width: list[int],
                 batch: int) -> tuple[float, float, float]:
    """KAN fast / MLP time per epoch over ``--paired-rounds`` rounds of one epoch each, the two
    back to back (which goes first alternates), each after an untimed warm-up step: median and
    quartiles of the per-round ratios. Fresh models, same seed and optimiser as above."""
    kan = KAN(width, args.grid, args.k, window_length=x.shape[1], seed=args.seed)
    mlp = MLP(width, window_length=x.shape[1], seed=args.seed)
    pair = [(kan, adam(kan, args.lr, kan.layers[0])), (mlp, adam(mlp, args.lr, None))]
    gen = torch.Generator().manual_seed(args.seed + 7)
    ratios = []
    for r in range(args.paired_rounds):
        order = torch.randperm(len(y), generator=gen)
        secs = {}
        for model, opt in pair if r % 2 == 0 else pair[::-1]:
            warm_up(model, model, x[order[:batch]], y[order[:batch]])
            t = time.perf_counter()
            run_steps(model, opt, x, y, order, batch)
            secs[id(model)] = time.perf_counter() - t
        ratios.append(secs[id(kan)] / secs[id(mlp)])
    q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
    return statistics.median(ratios), q[0], q[2]


def _counted(model: torch.nn.Module) -> list[torch.Tensor]:
    """Trainable parameters that take part in the forward pass (pykan's unused symbolic-branch
    affine parameters are left out)."""
    return [p for n, p in model.named_parameters() if p.requires_grad and "symbolic" not in n]


def accuracy(logits: np.ndarray, y: np.ndarray) -> float:
    return float(((logits > 0).astype(np.int64) == y).mean())


def mean_sd(values: list[float]) -> str:
    """``mean +- sd`` (sample sd; 0 for a single value)."""
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.4f} +- {sd:.4f}"


def part_b(args: argparse.Namespace, PyKAN: type | None, pykan_why: str) -> None:
    L, steps = 5, args.tutorial_steps
    seeds = list(range(args.seed, args.seed + args.tutorial_seeds))
    width = [L * A, 3, 2]
    print(
        f"\n(b) tutorial setting: windows of {L}, width {width}, grid 3, k 2, full-batch LBFGS "
        f"{steps} steps (lr 1, max_iter 20, history 10, strong Wolfe), cross-entropy; "
        f"{args.tutorial_proteins} training and {args.tutorial_proteins} test proteins; "
        f"{len(seeds)} initialisation seed(s) per model (same data), test accuracy mean +- sd"
    )
    if PyKAN is None:
        print(f"    pykan skipped: {pykan_why}")
    print(f"  {'task':<16}{'model':<36}{'train':>7}{'test':>7}{'test acc (mean +- sd)':>24}"
          f"{'s/fit':>8}")
    for task in ("tutorial", "tutorial_fixed"):
        idx_tr, y_tr = task_windows(task, seed=args.seed + 1, proteins=args.tutorial_proteins)
        idx_te, y_te = task_windows(task, seed=args.seed + 2, proteins=args.tutorial_proteins)
        d_tr, d_te = torch.from_numpy(one_hot(idx_tr)), torch.from_numpy(one_hot(idx_te))
        if task == "tutorial":  # label = centre is K
            rule, rule_name = idx_te[:, 2] == K_INDEX, "rule: centre is K"
        else:  # a K in the flanks forces 0; otherwise positive with probability 0.9
            rule = ~(idx_te[:, [0, 1, 3, 4]] == K_INDEX).any(1)
            rule_name = "rule: no K at -2..+2 (Bayes)"
        fixed = [(rule_name, float((rule.astype(np.int64) == y_te).mean())),
                 ("majority class", max(y_te.mean(), 1 - y_te.mean()))]
        accs: dict[str, list[float]] = {}  # model -> test accuracy per seed
        secs: dict[str, list[float]] = {}  # model -> fit seconds per seed
        data = {"train_input": d_tr, "train_label": torch.from_numpy(y_tr),
                "test_input": d_te, "test_label": torch.from_numpy(y_te)}
        for seed in seeds:  # models interleaved per seed, so machine load hits them alike
            cfg = TrainConfig(optimizer="lbfgs", epochs=steps, balance="none", patience=0,
                              progress=False, seed=seed, device="cpu")
            for name, xtr, xte in (("kanbio KAN fast (uint8)", idx_tr, idx_te),
                                   ("kanbio KAN dense (float)", d_tr.numpy(), d_te.numpy())):
                model = KAN(width, grid=3, k=2, window_length=L, seed=seed)
                t = time.perf_counter()
                fit(model, xtr, y_tr, None, None, cfg)
                sec = time.perf_counter() - t
                accs.setdefault(name, []).append(accuracy(predict_logit(model, xte), y_te))
                secs.setdefault(name, []).append(sec)
            if PyKAN is None:
                continue
            for name, upd in (("pykan fit, update_grid=False", False),
                              ("pykan fit, defaults (grid update)", True)):
                model = pykan_model(PyKAN, width, 3, 2, seed)  # seeds numpy's global RNG too
                t = time.perf_counter()
                pykan_fit(model, data, steps, upd)
                sec = time.perf_counter() - t
                with torch.no_grad():
                    logits = model(d_te)
                accs.setdefault(name, []).append(
                    accuracy((logits[:, 1] - logits[:, 0]).double().numpy(), y_te))
                secs.setdefault(name, []).append(sec)
        for i, (name, acc) in enumerate(fixed):
            sizes = f"{len(y_tr):>7,}{len(y_te):>7,}" if i == 0 else f"{'':>14}"
            print(f"  {task if i == 0 else '':<16}{name:<36}{sizes}{acc:>24.4f}")
        for name, values in accs.items():
            print(f"  {'':<16}{name:<36}{'':>14}{mean_sd(values):>24}"
                  f"{statistics.fmean(secs[name]):>8.2f}")
        ours = accs["kanbio KAN fast (uint8)"]
        for name in (n for n in accs if n.startswith("pykan")):
            diff = [a - b for a, b in zip(ours, accs[name], strict=True)]
            se = statistics.stdev(diff) / math.sqrt(len(diff)) if len(diff) > 1 else float("nan")
            print(f"  {'':<16}{'kanbio fast - ' + name.split(', ')[1]:<50}"
                  f"{statistics.fmean(diff):>+10.4f} (paired by seed, se {se:.4f})")


def encoding_variants(encodings: list[str]) -> list[tuple[str, str]]:
    """(encoding, first layer) of the KANs of (d): spline for every encoding, and the table first
    layer (the default) for onehot."""
    out = []
    for enc in encodings:
        out += [(enc, "table"), (enc, "spline")] if enc == "onehot" else [(enc, "spline")]
    return out


def fast_dense_gap(kan: KAN, idx: np.ndarray) -> tuple[float, float, float]:
    """Largest |fast - dense| of a KAN's logits in float32 and float64, and of its parameter
    gradients in float64 (index windows vs float one-hot rows)."""
    x, d = torch.from_numpy(idx), torch.from_numpy(one_hot(idx))
    with torch.no_grad():
        gap32 = float((kan(x) - kan(d)).abs().max())
    k64 = KAN.from_config(kan.config()).double()
    k64.load_state_dict(kan.state_dict())
    params = list(k64.parameters())
    y_fast, y_dense = k64(x), k64(d.double())
    g_fast = torch.autograd.grad(y_fast.square().sum(), params)
    g_dense = torch.autograd.grad(y_dense.square().sum(), params)
    gap64 = float((y_fast - y_dense).detach().abs().max())
    grad64 = max(float((a - b).abs().max()) for a, b in zip(g_fast, g_dense, strict=True))
    return gap32, gap64, grad64


def part_d(args: argparse.Namespace) -> None:
    L, H = 33, args.hidden
    width = [L * A, H, 1]
    encodings = [e.strip() for e in args.encodings.split(",") if e.strip()]
    unknown = sorted(set(encodings) - set(ENCODINGS))
    if unknown:
        raise SystemExit(f"--encodings: unknown {', '.join(unknown)} (choose from "
                         f"{', '.join(ENCODINGS)})")
    variants = encoding_variants(encodings)
    idx_tr, y_tr = task_windows("acidic", seed=args.seed + 5, n=args.n_train)
    idx_te, y_te = task_windows("acidic", seed=args.seed + 6, n=args.n_test)
    x_tr, x_te = torch.from_numpy(idx_tr), torch.from_numpy(idx_te)
    yt = torch.from_numpy(y_tr).float()[:, None]
    rounds = max(1, args.encoding_rounds)
    print(
        f"\n(d) residue encodings, L={L}, width [{L * A}, {H}, 1], grid {args.grid}, k {args.k}: "
        f"acidic task, train {len(y_tr):,} windows ({y_tr.mean():.1%} positive), test "
        f"{len(y_te):,}; KAN fast path (uint8) vs MLP of width {H} on the same encoding; "
        f"{rounds} paired round(s) of one epoch each; AUROC after {rounds} epoch(s)"
    )
    for batch in args.batch_sizes:
        steps = len(y_tr) // batch
        if steps == 0:
            print(f"\n  batch {batch}: skipped (fewer training windows than one batch)")
            continue
        print(f"\n  batch {batch}: {steps} steps/epoch")
        print(f"  {'encoding':<10}{'KAN first':>10}{'KAN params':>11}{'MLP params':>11}"
              f"{'KAN s/ep':>10}{'MLP s/ep':>10}{'KAN/MLP':>9}{'quartiles':>12}"
              f"{'AUROC KAN':>10}{'MLP':>7}")
        for enc, first in variants:
            kan = KAN(width, args.grid, args.k, window_length=L, seed=args.seed,
                      first_layer=first, encoding=enc)
            mlp = MLP(width, window_length=L, seed=args.seed, encoding=enc)
            scale = 1.0 / kan.encoding.dim if first == "spline" else 1.0  # fit's default
            pair = [(kan, adam(kan, args.lr, kan.layers[0], scale)),
                    (mlp, adam(mlp, args.lr, None))]
            gen = torch.Generator().manual_seed(args.seed + 7)
            secs: dict[int, list[float]] = {id(kan): [], id(mlp): []}
            for r in range(rounds):
                order = torch.randperm(len(y_tr), generator=gen)
                for model, opt in pair if r % 2 == 0 else pair[::-1]:
                    model.train()
                    warm_up(model, model, x_tr[order[:batch]], yt[order[:batch]])
                    t = time.perf_counter()
                    run_steps(model, opt, x_tr, yt, order, batch)
                    secs[id(model)].append(time.perf_counter() - t)
            ratios = [a / b for a, b in zip(secs[id(kan)], secs[id(mlp)], strict=True)]
            q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
            auc_kan = float(auroc(y_te, kanbio_score(kan, x_te)))
            auc_mlp = float(auroc(y_te, kanbio_score(mlp, x_te)))
            print(f"  {enc:<10}{first:>10}{kan.n_params():>11,}{mlp.n_params():>11,}"
                  f"{min(secs[id(kan)]):>10.3f}{min(secs[id(mlp)]):>10.3f}"
                  f"{statistics.median(ratios):>9.2f}{f'{q[0]:.2f}-{q[2]:.2f}':>12}"
                  f"{auc_kan:>10.4f}{auc_mlp:>7.4f}")
    print(f"\n  fast path = dense path (max |fast - dense| on {min(2048, len(y_te)):,} test "
          f"windows, freshly initialised KANs)")
    print(f"  {'encoding':<10}{'KAN first':>10}{'logits f32':>13}{'logits f64':>13}"
          f"{'grads f64':>13}")
    for enc, first in variants:
        kan = KAN(width, args.grid, args.k, window_length=L, seed=args.seed, first_layer=first,
                  encoding=enc)
        gaps = fast_dense_gap(kan, idx_te[:2048])
        print(f"  {enc:<10}{first:>10}" + "".join(f"{g:>13.1e}" for g in gaps))


def part_c(args: argparse.Namespace) -> None:
    L, H = 33, args.hidden
    base = maxrss_mb()
    t = time.perf_counter()
    idx, y = task_windows("kinase", seed=args.seed + 3, n=args.windows)
    idx_te, y_te = task_windows("kinase", seed=args.seed + 4, n=20_000)
    t_data = time.perf_counter() - t
    _trim()
    before = maxrss_mb()
    model = KAN([L * A, H, 1], args.grid, args.k, window_length=L, seed=args.seed)
    cfg = TrainConfig(epochs=1, batch_size=args.big_batch, patience=0, progress=False,
                      seed=args.seed, device="cpu")
    hist = fit(model, idx, y, None, None, cfg)
    peak = maxrss_mb()
    auc = auroc(y_te, predict_logit(model, idx_te))
    print(
        f"\n(c) {len(y):,} windows of {L} ({idx.nbytes / 2**20:.0f} MiB as uint8), KAN "
        f"[{L * A}, {H}, 1], fit 1 epoch, batch {args.big_batch}, Adam, class weights\n"
        f"  data generation + window extraction {t_data:8.1f} s\n"
        f"  training (fit, 1 epoch)             {hist.seconds:8.1f} s   "
        f"({len(y) / hist.seconds:,.0f} windows/s)\n"
        f"  test AUROC (20,000 other windows)   {auc:8.4f}\n"
        f"  peak RSS of the process (ru_maxrss) {peak:8.0f} MB   (target < 2048 MB; "
        f"{base:.0f} MB at start, {before:.0f} MB before training)"
    )


# ---------------------------------------------------------------------------------------- main
def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="small sizes, 1 epoch, eager pykan (< 1 minute)")
    ap.add_argument("--parts", nargs="+", choices=["a", "b", "c", "d"],
                    default=["a", "b", "c", "d"],
                    help="which parts to run ((c) also needs --windows)")
    ap.add_argument("--n-train", type=int, default=20480, help="(a) training windows")
    ap.add_argument("--n-test", type=int, default=5000, help="(a) test windows")
    ap.add_argument("--epochs", type=int, default=3, help="(a) epochs per model")
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[512, 4096])
    ap.add_argument("--hidden", type=int, default=8, help="hidden width H")
    ap.add_argument("--grid", type=int, default=5)
    ap.add_argument("--k", type=int, default=3)
    ap.add_argument("--lr", type=float, default=3e-3, help="(a) Adam learning rate")
    ap.add_argument("--pykan", choices=["compile", "eager", "both", "off"], default="compile",
                    help="(a) pykan with torch.compile (its speed mode), eager, both or none")
    ap.add_argument("--mem-steps", type=int, default=2, help="(a) steps of the memory pass")
    ap.add_argument("--paired-rounds", type=int, default=21,
                    help="(a) rounds of one KAN fast and one MLP epoch, back to back, for the "
                    "speed ratio (0: skip)")
    ap.add_argument("--tutorial-proteins", type=int, default=100,
                    help="(b) proteins in each of the training and test proteomes")
    ap.add_argument("--tutorial-steps", type=int, default=5, help="(b) LBFGS steps")
    ap.add_argument("--tutorial-seeds", type=int, default=5,
                    help="(b) initialisation seeds per model (--seed, --seed + 1, ...)")
    ap.add_argument("--windows", type=int, default=0, help="(c) windows for the 1-epoch run")
    ap.add_argument("--encodings", default=",".join(ENCODINGS),
                    help="(d) comma-separated residue encodings to compare")
    ap.add_argument("--encoding-rounds", type=int, default=21,
                    help="(d) paired rounds of one KAN and one MLP epoch per encoding")
    ap.add_argument("--big-batch", type=int, default=512, help="(c) batch size")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    return ap


def main() -> None:
    ap = parser()
    if ap.parse_known_args()[0].quick:
        ap.set_defaults(**QUICK)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with contextlib.suppress(ImportError, AttributeError):
        import torch._inductor.config as inductor  # noqa: PLC0415

        inductor.compile_threads = args.threads  # compile workers stay within --threads
    t0 = time.perf_counter()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), "
          f"{platform.machine()} {platform.python_version()}")
    if "c" in args.parts:
        if args.windows > 0:
            part_c(args)
        else:
            print("\n(c) skipped: pass --windows N (e.g. 1000000)")
    if "a" in args.parts or "b" in args.parts:
        PyKAN, info = load_pykan()
        print(f"pykan: {info}")
        if "a" in args.parts:
            part_a(args, PyKAN, info)
        if "b" in args.parts:
            part_b(args, PyKAN, info)
    if "d" in args.parts:
        part_d(args)
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
