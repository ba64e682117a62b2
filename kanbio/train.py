"""Training loop for index-encoded windows: mini-batches from the uint8 array, Adam or LBFGS,
class weights or negative subsampling (training split only), an L2 penalty on the first-layer
table, early stopping on validation (AUROC or loss, :class:`Monitor`).

L2 on the scale of logistic regression's ``C``: scikit-learn's ``LogisticRegression(C)``
minimises ``0.5 ||w||^2 + C sum_i loss_i``; divided by ``C n`` that is the mean loss plus
``0.5 ||w||^2 / (C n)``. ``train.l2`` adds ``(l2 / n) 0.5 ||T||^2`` to the mean training loss
(``n`` training windows, ``T`` the effective first-layer table: a KAN's ``phi(1) - phi(0)``, an
MLP's first weight matrix), so ``l2 = 1 / C`` is logistic regression's penalty and a search over
``train.l2`` can use the logistic ``C`` grid inverted. The class-weighted mean loss with
``balance: weight`` equals scikit-learn's ``class_weight="balanced"`` sum divided by ``n``.

Deterministic on CPU: the same seed gives byte-identical weights (a private torch.Generator drives
shuffling and subsampling; initialisation, and a CNN's dropout, are seeded by the model).
"""

from __future__ import annotations

import copy
import difflib
import logging
import math
import resource
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from kanbio.config import definition_default
from kanbio.errors import InputError
from kanbio.metrics import auroc
from kanbio.models import build, model_type
from kanbio.models.inference import as_input, predict_logit

log = logging.getLogger("kanbio.train")


@dataclass
class TrainConfig:
    """How to fit a model."""

    optimizer: str = "adam"  # adam | lbfgs
    lr: float | None = None  # None: 3e-3 for Adam, 1.0 for LBFGS
    epochs: int = 60  # Adam epochs, or LBFGS steps
    batch_size: int = 256
    weight_decay: float = 0.0
    balance: str = "weight"  # weight | subsample | none
    patience: int = 8  # epochs without a better validation score before stopping (0: never)
    # auroc | loss: the validation score that early stopping keeps (:class:`Monitor`)
    monitor: str = definition_default("train", "monitor")
    # L2 on the first-layer table in units of 1 / C (0: off; see the module docstring)
    l2: float = definition_default("train", "l2")
    # group lasso over the first layer's positions (onehot) or position x feature groups
    # (other encodings): + group_lasso * sum of group norms (0: off; see :func:`group_penalty`)
    group_lasso: float = 0.0
    group_prune: float = 0.05  # after a group-lasso fit, drop groups below this share of the
    # largest group norm (0: keep all)
    lamb: float = 0.0  # KAN sparsity regularisation strength (0: off)
    lamb_l1: float = 1.0
    lamb_entropy: float = 2.0
    first_layer_lr_scale: float | None = None  # None: 1/d for a spline first layer on windows
    # of d features per residue (21 for one-hot), else 1 (a table first layer needs no damping)
    grid_update_every: int = 0  # KAN: update hidden-layer grids every n epochs (0: never) ...
    grid_update_until: int = 0  # ... up to this epoch
    device: str = "auto"  # auto | cpu | cuda
    seed: int = 0
    progress: bool = True

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> TrainConfig:
        """A config from a spec's ``train`` mapping; an unknown option is an InputError."""
        d = dict(d or {})
        known = sorted(cls.__dataclass_fields__)
        unknown = sorted(set(d) - set(known))
        if unknown:
            hint = difflib.get_close_matches(unknown[0], known, n=1)
            tip = f" (did you mean '{hint[0]}'?)" if hint else f" (allowed: {', '.join(known)})"
            raise InputError(f"unknown training option(s): {', '.join(unknown)}{tip}")
        return cls(**d)


@dataclass
class History:
    """Per-epoch curve and what the fit cost."""

    rows: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    monitor: str = ""  # the score early stopping used: val_auroc, val_loss or train_loss
    seconds: float = 0.0
    peak_rss_mb: float = 0.0
    device: str = "cpu"

    def tsv(self) -> str:
        if not self.rows:
            return ""
        cols = list(self.rows[0])
        lines = ["\t".join(cols)]
        lines += ["\t".join(f"{r[c]:.6g}" if isinstance(r[c], float) else str(r[c]) for c in cols)
                  for r in self.rows]
        return "\n".join(lines) + "\n"


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("device 'cuda' requested but CUDA is not available")
    return torch.device(name)


def _loss(logits: torch.Tensor, y: torch.Tensor, pos_weight: float) -> torch.Tensor:
    """Weighted cross-entropy for 1 logit (sigmoid) or 2 logits (softmax); mean over the batch."""
    w = torch.where(y > 0, pos_weight, 1.0).to(logits.dtype)
    if logits.shape[1] == 1:
        per = F.binary_cross_entropy_with_logits(logits[:, 0], y.to(logits.dtype), reduction="none")
    else:
        per = F.cross_entropy(logits, y.long(), reduction="none")
    return (per * w).sum() / w.sum()


#: Smallest rise of the validation AUROC that counts as progress for early stopping.
AUROC_MIN_DELTA = 1e-4
#: With fewer validation positives (or negatives) than this, AUROC moves in coarse steps and
#: early stopping monitors the validation loss instead.
MIN_VAL_CLASS = 10


class Monitor:
    """Early-stopping score: is this epoch better than the best so far?

    ``auroc``: the validation AUROC must rise by more than :data:`AUROC_MIN_DELTA`; once it is
    1.0 (saturated, no epoch can rank better) epochs at 1.0 compete on the validation loss.
    With fewer than :data:`MIN_VAL_CLASS` validation windows of either class the loss is
    monitored instead. ``loss``: the validation loss must fall by more than 1e-6. Without a
    validation split the training loss is monitored.
    """

    def __init__(self, kind: str, n_pos: int | None = None, n_neg: int | None = None) -> None:
        if kind not in ("auroc", "loss"):
            raise ValueError(f"monitor must be 'auroc' or 'loss', got {kind!r}")
        if n_pos is None or n_neg is None:
            self.name = "train_loss"
        elif kind == "auroc" and min(n_pos, n_neg) >= MIN_VAL_CLASS:
            self.name = "val_auroc"
        else:
            self.name = "val_loss"
        self.best_auroc, self.best_loss = -math.inf, math.inf

    def improved(self, loss: float, auroc: float | None = None) -> bool:
        """Record an epoch's scores; True if it is the new best."""
        if self.name == "val_auroc" and auroc is not None:
            saturated = auroc >= 1.0 - 1e-12 and self.best_auroc >= 1.0 - 1e-12
            better = auroc > self.best_auroc + AUROC_MIN_DELTA or (
                saturated and loss < self.best_loss - 1e-6)
        else:
            better = loss < self.best_loss - 1e-6
        if better:
            self.best_loss = loss
            self.best_auroc = auroc if auroc is not None else self.best_auroc
        return better


def _param_groups(model: torch.nn.Module, lr: float, cfg: TrainConfig) -> list[dict]:
    """Adam parameter groups: a spline first layer on one-hot windows learns at ``lr / 21`` by
    default, on windows of d encoded features per residue at ``lr / d`` (a table first layer,
    ``first_layer="table"``, needs no damping).

    Every sample sees all L·21 first-layer edges through their value at 0, so Adam, which moves
    each parameter by about ``lr`` whatever its gradient's size, shifts every hidden sum by about
    ``L·21·lr`` per step in the same direction. At the usual learning rates that pushes the hidden
    sums far outside the spline grids within the first epoch and the network dies (a constant
    output). Scaling the first layer's rate by the number of letters keeps the drift at the scale
    of an MLP bias while leaving the model class unchanged. The table parametrisation trains
    the constant as one number per node, so that drift does not arise.
    """
    scale = cfg.first_layer_lr_scale
    layers = getattr(model, "layers", None)
    if scale is None:
        spline = getattr(model, "window_length", None) and layers is not None and \
            getattr(model, "first_layer", None) == "spline"
        scale = 1.0 / model.encoding.dim if spline else 1.0
    if scale == 1.0 or not layers:
        return [{"params": list(model.parameters())}]
    first = list(layers[0].parameters())
    ids = {id(p) for p in first}
    rest = [p for p in model.parameters() if id(p) not in ids]
    return [{"params": first, "lr": lr * scale}, {"params": rest}]


def make_adam(params: list | Any, lr: float, weight_decay: float = 0.0) -> torch.optim.Adam:
    """Adam, fused (one kernel per parameter group instead of a dozen ops per tensor) where
    this torch supports it for the parameters' device, else the default implementation."""
    try:
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=True)
    except (RuntimeError, TypeError, ValueError):  # old torch, unsupported device or dtype
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)


def l2_penalty(model: torch.nn.Module, l2: float, n_train: int) -> torch.Tensor | float:
    """``(l2 / n_train) 0.5 ||T||^2`` on the effective first-layer table ``T`` (module docstring:
    ``l2 = 1 / C`` of logistic regression); 0.0 when off or the model has no such table."""
    if l2 <= 0 or not hasattr(model, "first_layer_weights"):
        return 0.0
    return (0.5 * l2 / n_train) * model.first_layer_weights().square().sum()


def group_penalty(model: torch.nn.Module, strength: float) -> torch.Tensor | float:
    """``strength * sum_g ||w_g||`` over the first layer's groups (``model.group_norms()``: a
    position's table rows for one-hot windows, a position's feature otherwise); added to the
    mean training loss, so it pushes whole positions (features) to zero together. 0.0 when off
    or for a model without groups (CNN, logistic)."""
    if strength <= 0 or not _has_groups(model):
        return 0.0
    return strength * model.group_norms().sum()


def _has_groups(model: torch.nn.Module) -> bool:
    """A KAN or MLP built for windows: its first layer has position (x feature) groups."""
    return getattr(model, "has_groups", False) and getattr(model, "window_length", None)


def _regularisation(model: torch.nn.Module, cfg: TrainConfig,
                    n_train: int = 1) -> torch.Tensor | float:
    reg = l2_penalty(model, cfg.l2, n_train) + group_penalty(model, cfg.group_lasso)
    if cfg.lamb <= 0 or not hasattr(model, "regularization"):
        return reg
    return reg + cfg.lamb * model.regularization(lamb_l1=cfg.lamb_l1,
                                                 lamb_entropy=cfg.lamb_entropy)


def fit(model: torch.nn.Module, x_train: np.ndarray, y_train: np.ndarray,
        x_val: np.ndarray | None = None, y_val: np.ndarray | None = None,
        cfg: TrainConfig | None = None) -> History:
    """Train ``model`` in place on windows (N, L) uint8 and labels (N,); keep the best-on-val state.

    The kept state is the best epoch by ``cfg.monitor`` (:class:`Monitor`). Returns the
    :class:`History` (per-epoch train loss, validation loss and AUROC).

    Examples
    --------
    >>> import numpy as np
    >>> from kanbio.models import KAN
    >>> x = np.random.default_rng(0).integers(0, 21, (300, 5)).astype(np.uint8)
    >>> y = (x[:, 3] == 14).astype(int)  # P at offset +1
    >>> hist = fit(KAN([5 * 21, 2, 1], window_length=5), x, y, x, y,
    ...            TrainConfig(epochs=3, progress=False))
    >>> len(hist.rows)
    3
    """
    cfg = cfg or TrainConfig()
    if cfg.optimizer not in ("adam", "lbfgs"):
        raise InputError(f"optimizer must be 'adam' or 'lbfgs', got {cfg.optimizer!r}")
    if cfg.balance not in ("weight", "subsample", "none"):
        raise InputError(f"balance must be 'weight', 'subsample' or 'none', got {cfg.balance!r}")
    device = resolve_device(cfg.device)
    gen = torch.Generator().manual_seed(cfg.seed)
    x_tr = as_input(x_train)
    y_tr = torch.as_tensor(np.array(y_train, dtype=np.int64))
    n_pos, n_neg = int(y_tr.sum()), int((y_tr == 0).sum())
    if n_pos == 0 or n_neg == 0:
        raise InputError("training data must contain both classes")
    pos_weight = n_neg / n_pos if cfg.balance == "weight" else 1.0
    has_val = x_val is not None and y_val is not None and len(np.unique(y_val)) == 2
    if has_val:
        x_va = as_input(x_val)
        y_va = np.asarray(y_val, dtype=np.int64)
    model.to(device)
    if cfg.lamb > 0 and hasattr(model, "cache_acts"):
        model.cache_acts = True  # the regulariser reads the edge magnitudes of each forward
    regularise = (cfg.lamb > 0 and hasattr(model, "regularization")) or cfg.l2 > 0 or \
        cfg.group_lasso > 0
    lr = cfg.lr if cfg.lr is not None else (3e-3 if cfg.optimizer == "adam" else 1.0)
    if cfg.optimizer == "adam":
        opt = make_adam(_param_groups(model, lr, cfg), lr, cfg.weight_decay)
    else:
        opt = torch.optim.LBFGS(model.parameters(), lr=lr, max_iter=20, history_size=10,
                                line_search_fn="strong_wolfe", tolerance_grad=1e-32,
                                tolerance_change=1e-32)
    monitor = Monitor(cfg.monitor, *((int(y_va.sum()), int((y_va == 0).sum())) if has_val
                                     else (None, None)))
    hist = History(device=str(device), monitor=monitor.name)
    best_state, stale = copy.deepcopy(model.state_dict()), 0
    t0 = time.perf_counter()
    bar = tqdm(range(1, cfg.epochs + 1), disable=not cfg.progress or None, leave=False,
               desc=f"{type(model).__name__} seed {cfg.seed}", unit="epoch")
    for epoch in bar:
        model.train()
        idx = _epoch_indices(y_tr, cfg.balance, gen)
        if cfg.optimizer == "adam":
            total = torch.zeros((), dtype=torch.float64, device=device)  # no sync per step
            for i in range(0, len(idx), cfg.batch_size):
                b = idx[i : i + cfg.batch_size]
                xb, yb = x_tr[b].to(device), y_tr[b].to(device)
                opt.zero_grad(set_to_none=True)
                loss = _loss(model(xb), yb, pos_weight)
                if regularise:
                    loss = loss + _regularisation(model, cfg, len(x_tr))
                loss.backward()
                opt.step()
                total += loss.detach() * len(b)
            train_loss = float(total) / len(idx)
        else:
            train_loss = float(opt.step(lambda idx=idx: _closure(model, opt, x_tr, y_tr, idx,
                                                                  pos_weight, cfg, device)))
        if cfg.grid_update_every and epoch <= cfg.grid_update_until and \
                epoch % cfg.grid_update_every == 0 and hasattr(model, "update_grid"):
            sample = torch.randperm(len(x_tr), generator=gen)[:4096]
            with torch.no_grad():
                model.update_grid(x_tr[sample].to(device))
        row = {"epoch": epoch, "train_loss": train_loss}
        if has_val:
            s = predict_logit(model, x_va, device=device)
            ll = float(_loss(torch.as_tensor(s)[:, None], torch.as_tensor(y_va), pos_weight))
            row.update(val_loss=ll, val_auroc=float(auroc(y_va, s)))
            improved = monitor.improved(ll, row["val_auroc"])  # class-weighted loss, AUROC
        else:
            improved = monitor.improved(train_loss)
        hist.rows.append(row)
        if not math.isfinite(train_loss):
            log.warning("training diverged at epoch %d (loss %s); keeping the best state",
                        epoch, train_loss)
            break
        if improved:
            best_state, stale, hist.best_epoch = copy.deepcopy(model.state_dict()), 0, epoch
        else:
            stale += 1
            if cfg.patience and stale >= cfg.patience:
                break
        bar.set_postfix({k: f"{v:.4f}" for k, v in row.items() if k != "epoch"})
    model.load_state_dict(best_state)
    if cfg.group_lasso > 0 and cfg.group_prune > 0 and _has_groups(model):
        if model.can_drop_groups():
            model.prune_groups(cfg.group_prune)
        else:
            log.warning("group_prune skipped: %s", "a spline first layer on one-hot windows "
                        "cannot drop positions exactly (use first_layer: table)")
    if hasattr(model, "cache_acts"):
        model.cache_acts = False
    model.cpu()
    hist.seconds = time.perf_counter() - t0
    hist.peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return hist


def _epoch_indices(y: torch.Tensor, balance: str, gen: torch.Generator) -> torch.Tensor:
    """Shuffled sample order for one epoch; with ``subsample``, as many negatives as positives."""
    if balance != "subsample":
        return torch.randperm(len(y), generator=gen)
    pos = torch.nonzero(y > 0).flatten()
    neg = torch.nonzero(y == 0).flatten()
    neg = neg[torch.randperm(len(neg), generator=gen)[: len(pos)]]
    both = torch.cat([pos, neg])
    return both[torch.randperm(len(both), generator=gen)]


def _closure(model, opt, x, y, idx, pos_weight, cfg, device, chunk: int = 65536) -> torch.Tensor:
    """Full-batch loss and gradient for LBFGS, accumulated over chunks (bounded memory)."""
    opt.zero_grad(set_to_none=True)
    total = 0.0
    n = len(idx)
    w = torch.where(y[idx] > 0, pos_weight, 1.0)
    wsum = float(w.sum())
    for i in range(0, n, chunk):
        b = idx[i : i + chunk]
        part = _loss(model(x[b].to(device)), y[b].to(device), pos_weight)
        part = part * float(w[i : i + chunk].sum()) / wsum  # chunk mean -> share of global mean
        part.backward()
        total += float(part.detach())
    reg = _regularisation(model, cfg, len(y))
    if torch.is_tensor(reg):
        reg.backward()
        total += float(reg.detach())
    return torch.tensor(total)


def config_dict(cfg: TrainConfig) -> dict[str, Any]:
    return asdict(cfg)


def train_model(spec: dict[str, Any], x_train: np.ndarray, y_train: np.ndarray,
                x_val: np.ndarray, y_val: np.ndarray, seed: int,
                reference: dict[str, Any] | None = None, progress: bool = True
                ) -> tuple[Any, History, TrainConfig | None]:
    """Build a model from its spec and train it (logistic: scikit-learn fit; else :func:`fit`).

    Returns the model, its :class:`History` and the training config (None for logistic).
    """
    torch.manual_seed(seed)
    model = build(spec, x_train.shape[1], seed, reference)
    if model_type(model) != "linear":
        cfg = TrainConfig.from_dict({**spec.get("train", {}), "seed": seed, "progress": progress})
        return model, fit(model, x_train, y_train, x_val, y_val, cfg), cfg
    t0 = time.perf_counter()
    model.fit(x_train, y_train)
    return model, History(seconds=time.perf_counter() - t0, peak_rss_mb=resource.getrusage(
        resource.RUSAGE_SELF).ru_maxrss / 1024), None
