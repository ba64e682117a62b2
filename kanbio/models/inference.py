"""Scoring trained models: batched log-odds, and every model as "first-layer table + head".

KAN, MLP and logistic models start with a table lookup on one-hot windows,
``s = b + sum_p W[p, a_p]`` (a KAN's first-layer table ``T``, an MLP's first weight matrix, the
logistic weights), followed by a head ``logit = f(s)``. :func:`table_form` gives that form once;
prediction, attribution and the symbolic formula all read it. The head is evaluated with the
model's own layers, so its values are those of ``model(x)``. A CNN has no such table
(:func:`has_table_form` is False); :func:`window_scorer` scores it from the gradient of the
log-odds on the dense one-hot input instead, with the same definition of a contribution.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..data.alphabet import A
from ..errors import InputError
from .base import flat_index, onehot_sum, positive_logit
from .cnn import CNN
from .factory import Model
from .kan import KAN
from .linear import LogisticBaseline
from .mlp import ACTIVATIONS, MLP

AA = 20  # the 20 amino acids (ALPHABET[:20]); X is padding / unknown


def as_input(x: np.ndarray | Tensor) -> Tensor:
    """Integer windows (N, L) -> uint8 tensor; real-valued features (N, D) -> float32 tensor."""
    if torch.is_tensor(x):
        return x
    x = np.asarray(x)
    dtype = np.uint8 if np.issubdtype(x.dtype, np.integer) else np.float32
    return torch.from_numpy(np.array(x, dtype=dtype, order="C"))


@torch.no_grad()
def predict_logit(model: Model | torch.nn.Module, x: np.ndarray | Tensor,
                  batch_size: int = 8192, device: torch.device | str = "cpu") -> np.ndarray:
    """Positive-class log-odds (N,) float64 of index windows (N, L) or dense features.

    Examples
    --------
    >>> from kanbio.models import KAN
    >>> predict_logit(KAN([5 * 21, 2, 1], window_length=5), np.zeros((3, 5), np.uint8)).shape
    (3,)
    """
    if isinstance(model, LogisticBaseline):
        return np.asarray(model.decision_function(np.asarray(x)), dtype=np.float64)
    model.eval()
    x = as_input(x)
    out = [positive_logit(model(x[i : i + batch_size].to(device))).double().cpu()
           for i in range(0, len(x), batch_size)]
    return torch.cat(out).numpy() if out else np.zeros(0)


@dataclass
class TableForm:
    """A model as ``logit = head(bias + sum_p weights[p, a_p])``.

    Attributes
    ----------
    weights : (L, 21, H) first-layer table.
    bias : (H,) constant of the first layer.
    head : (M, H) -> (M,) log-odds from the first-layer sums.
    """

    weights: Tensor
    bias: Tensor
    head: Callable[[Tensor], Tensor]

    @property
    def window_length(self) -> int:
        return self.weights.shape[0]

    def centred(self) -> Tensor:
        """``W[p, a] - mean_b W[p, b]`` (L, 21, H), b over the 20 amino acids."""
        return self.weights - self.weights[:, :AA].mean(1, keepdim=True)

    def sums(self, flat: Tensor) -> Tensor:
        """First-layer sums (n, H) of flat one-hot columns (n, L), as the model's forward."""
        return onehot_sum(flat, self.weights.reshape(-1, self.weights.shape[2])) + self.bias

    def slopes(self, s: Tensor) -> tuple[Tensor, Tensor]:
        """Log-odds (n,) and their gradient ``g = d logit / d s`` (n, H) at sums ``s`` (n, H)."""
        s = s.detach().requires_grad_(True)
        with torch.enable_grad():
            logit = self.head(s)
            g = torch.autograd.grad(logit.sum(), s, allow_unused=True)[0] \
                if logit.requires_grad else None
        return logit.detach(), torch.zeros_like(s) if g is None else g

    def score(self, idx: np.ndarray, contributions: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Log-odds (n,) float64 and per-offset contributions (n, L) of index windows (n, L).

        The contribution of offset ``p`` is ``g_n . (W[p, a_np] - mean_b W[p, b])``: the
        first-order change of the log-odds when the residue is replaced by the position's
        average amino acid (exact for a linear head). Without ``contributions``: (n, 0).
        """
        flat = flat_index(torch.from_numpy(np.ascontiguousarray(idx)), self.window_length)
        with torch.no_grad():
            s = self.sums(flat)  # (n, H)
            if not contributions:
                return self.head(s).double().numpy(), np.zeros((len(idx), 0), np.float32)
        logit, g = self.slopes(s)
        with torch.no_grad():
            contrib = window_contributions(flat, self.centred().reshape(-1, s.shape[1]), g)
        return logit.double().numpy(), contrib.numpy()


def window_contributions(flat: Tensor, centred: Tensor, g: Tensor) -> Tensor:
    """``c[n, p] = g[n] . centred[flat[n, p]]``: flat (n, L), centred (L * 21, H), g (n, H).

    Narrow tables: one batched product; wide ones (an MLP's first layer): one gather per
    position, which stays in cache (about 10x faster at H = 80).
    """
    if centred.shape[1] <= 8:
        return torch.bmm(F.embedding(flat, centred), g.unsqueeze(2)).squeeze(2)  # (n, L)
    cols = flat.T.contiguous()  # (L, n)
    out = g.new_empty(cols.shape)
    for p in range(cols.shape[0]):
        torch.sum(centred.index_select(0, cols[p]).mul_(g), 1, out=out[p])
    return out.T  # (n, L)


@torch.no_grad()
def table_form(model: Model, window_length: int | None = None) -> TableForm:
    """The first layer of a one-hot model as a table and the rest as a function.

    A network is put in eval mode and its parameters are frozen (``requires_grad`` False).
    ``window_length``, when given, must match the model's.
    """
    if isinstance(model, LogisticBaseline):
        model._check_fitted()
        w = torch.as_tensor(model.table(), dtype=torch.float64).reshape(-1, A, 1)
        form = TableForm(w, torch.tensor([model.intercept_], dtype=torch.float64),
                         lambda h: h[:, 0])
    elif isinstance(model, (KAN, MLP)):
        if model.window_length is None:
            raise InputError("a table form needs a model built for one-hot windows "
                             "(window_length)")
        model.eval().requires_grad_(False)
        t, const = model.first_layer_table()
        if isinstance(model, KAN):
            layers: Sequence[Callable[[Tensor], Tensor]] = list(model.layers[1:])
        else:
            act = ACTIVATIONS[model.activation]
            layers = [lambda h, w=w, b=b: torch.addmm(b, act(h), w)
                      for w, b in zip(model.weights[1:], model.biases[1:], strict=True)]

        def head(h: Tensor) -> Tensor:
            for layer in layers:
                h = layer(h)
            return positive_logit(h)

        form = TableForm(t, const, head)
    else:
        raise InputError(f"no table form for {type(model).__name__}")
    if window_length is not None and form.window_length != window_length:
        raise InputError(f"model is built for windows of length {form.window_length}, got "
                         f"{window_length}")
    return form


def has_table_form(model: Model) -> bool:
    """True where :func:`table_form` applies: the logistic baseline, a KAN or MLP built for
    one-hot windows; False for a CNN (and for networks on dense features)."""
    return isinstance(model, LogisticBaseline) or (
        isinstance(model, (KAN, MLP)) and model.window_length is not None)


Scorer = Callable[[np.ndarray, bool], tuple[np.ndarray, np.ndarray]]


def window_scorer(model: Model, window_length: int | None = None) -> Scorer:
    """``score(idx, contributions=True) -> (log-odds (n,), contributions (n, L))`` of a model.

    The contribution of offset ``p`` in window ``n`` is the first-order change of the log-odds
    when the residue ``a_np`` is replaced by the position's average amino acid, signed as what
    the residue adds, expanded in the first layer's outputs (which the replacement changes
    linearly). Table-form models (:meth:`TableForm.score`): ``c_np = g_n . (W[p, a_np] - mean_b
    W[p, b])``. A CNN's first convolution is linear in the one-hot input, so the expansion is in
    the input itself: ``c_np = G[n, p, a_np] - mean_b G[n, p, b]`` with ``G = d logit / d x``
    (one-hot ``e_a`` replaced by ``1/20`` on each of the 20 amino acids; :func:`gradient_score`).
    For an MLP and the logistic baseline the two forms agree (``G[n, p, a] = g_n . W[p, a]``).
    """
    if has_table_form(model):
        return table_form(model, window_length).score
    if not isinstance(model, CNN):
        raise InputError(f"no window scorer for {type(model).__name__}")
    if window_length is not None and model.window_length != window_length:
        raise InputError(f"model is built for windows of length {model.window_length}, got "
                         f"{window_length}")
    return lambda idx, contributions=True: gradient_score(model, idx, contributions)


def gradient_score(model: CNN | KAN | MLP, idx: np.ndarray, contributions: bool = True,
                   chunk: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Log-odds (n,) float64 and contributions (n, L) of index windows (n, L) from the
    gradient on the dense one-hot input, ``chunk`` windows per backward pass (bounded memory).
    Any network built for windows works; for an MLP it agrees with :meth:`TableForm.score`
    (a KAN's first layer is not linear in its one-hot input, so there the two differ);
    :func:`window_scorer` uses it for the CNN.

    The log-odds equal :func:`predict_logit`'s up to float rounding (the model's index and dense
    inputs take the same path); contributions as in :func:`window_scorer`; without
    ``contributions``: (n, 0).
    """
    if model.window_length is None:
        raise InputError("gradient scores need a model built for one-hot windows")
    x_all = torch.from_numpy(np.ascontiguousarray(idx))
    flat_index(x_all, model.window_length)  # validates shape and letters
    if not contributions:
        return predict_logit(model, x_all), np.zeros((len(idx), 0), np.float32)
    model.eval()
    logits, contrib = [], []
    for s in range(0, len(x_all), chunk):
        xi = x_all[s : s + chunk].long()  # (c, L)
        x = F.one_hot(xi, A).to(next(model.parameters()).dtype).reshape(len(xi), -1)
        x.requires_grad_(True)
        with torch.enable_grad():
            logit = positive_logit(model(x))
            (grad,) = torch.autograd.grad(logit.sum(), x)
        g = grad.reshape(len(xi), -1, A)  # (c, L, 21)
        contrib.append(g.gather(2, xi[:, :, None])[:, :, 0] - g[:, :, :AA].mean(2))
        logits.append(logit.detach().double())
    if not logits:
        return np.zeros(0), np.zeros((0, model.window_length), np.float32)
    return torch.cat(logits).numpy(), torch.cat(contrib).numpy()
