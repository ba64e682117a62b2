"""Every kanbio figure, written as PNG + PDF with deterministic bytes (see :mod:`.style`).

- per model (the explain stage): attribution bars, heatmaps and logos, the KAN network diagram and
  its most important edge functions;
- per dataset: ROC and PR curves and training curves of every model and seed;
- across datasets: test AUROC against parameter count;
- the results page: the test ROC curves against published operating points, and the per-fold
  test AUROC of a cross-validation.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from matplotlib.patches import Patch
from sklearn.metrics import precision_recall_curve, roc_curve

from kanbio.explain.attribution import AMINO_ACIDS, Attribution
from kanbio.explain.formula import SymbolicModel
from kanbio.models import KAN
from kanbio.output import read_table
from kanbio.report.style import OKABE_ITO, RESIDUE_COLOURS, colour, figure, marker, save
from kanbio.report.tables import test_scores

# ------------------------------------------------------------------------------ per model


def _offsets(length: int) -> np.ndarray:
    return np.arange(length) - length // 2


def _offset_ticks(ax, offsets: np.ndarray) -> None:
    step = 1 if len(offsets) <= 11 else 2 if len(offsets) <= 21 else 4
    ticks = offsets[(offsets % step) == 0]
    ax.set_xticks(ticks, [f"{o:+d}" if o else "0" for o in ticks])


SIGNED_LABEL = {"ism": "mean effect on log-odds", "exact": "contribution to log-odds",
                "feature": "feature score"}
POSITION_LABEL = {"ism": "mean |effect| on log-odds", "exact": "mean |contribution|",
                  "feature": "feature score (sum)"}


def position_bars(att: Attribution, stem: str | os.PathLike, title: str = "",
                  planted: Sequence[int] = ()) -> list[Path]:
    """Bar chart of the per-position score; planted offsets (if any) in orange."""
    offsets = _offsets(len(att.position))
    colours = [OKABE_ITO["orange"] if o in set(planted) else OKABE_ITO["grey"] if o == 0
               else OKABE_ITO["blue"] for o in offsets]
    with figure(6.4, 2.8) as fig:
        ax = fig.add_subplot()
        ax.bar(offsets, att.position, color=colours, width=0.8)
        _offset_ticks(ax, offsets)
        ax.set_xlabel("offset relative to the site")
        ax.set_ylabel(POSITION_LABEL.get(att.method, "score"))
        ax.set_title(title or f"Per-position attribution ({att.method})")
        if planted:
            ax.legend(handles=[Patch(color=OKABE_ITO["orange"], label="planted")],
                      frameon=False, loc="upper right")
        fig.tight_layout()
        return save(fig, stem)


def residue_heatmap(att: Attribution, stem: str | os.PathLike, title: str = "") -> list[Path]:
    """Offset x residue heatmap; diverging and centred on 0 for signed methods."""
    offsets = _offsets(len(att.position))
    vals = att.residue.T  # (20, L)
    signed = att.method != "feature"
    with figure(max(4.0, 0.18 * len(offsets) + 1.6), 4.2) as fig:
        ax = fig.add_subplot()
        if signed:
            lim = float(np.abs(vals).max()) or 1.0
            im = ax.imshow(vals, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto",
                           interpolation="nearest",
                           extent=(offsets[0] - 0.5, offsets[-1] + 0.5, 19.5, -0.5))
        else:
            im = ax.imshow(vals, cmap="viridis", aspect="auto", interpolation="nearest",
                           extent=(offsets[0] - 0.5, offsets[-1] + 0.5, 19.5, -0.5))
        _offset_ticks(ax, offsets)
        ax.set_yticks(np.arange(20), list(AMINO_ACIDS))
        ax.set_xlabel("offset relative to the site")
        ax.set_ylabel("residue")
        ax.set_title(title or f"Residue attribution ({att.method})")
        fig.colorbar(im, ax=ax, label=SIGNED_LABEL.get(att.method, "score"), shrink=0.9)
        fig.tight_layout()
        return save(fig, stem)


LOGO_MIN = 0.05  # letters whose |score| stays below this share of the largest are not drawn


def sequence_logo(att: Attribution, stem: str | os.PathLike, title: str = "") -> list[Path]:
    """Logo of signed residue scores: letters above 0 raise the log-odds, below 0 lower it.

    Letters whose |score| is below ``LOGO_MIN`` of the largest at every offset are omitted.
    """
    import logomaker  # slow to import (pyplot): only here

    offsets = _offsets(len(att.position))
    df = pd.DataFrame(att.residue, index=offsets, columns=list(AMINO_ACIDS))
    # letters never reaching LOGO_MIN of the largest |score| are invisible anyway: leaving them
    # out cuts the glyphs logomaker builds (its cost) several-fold
    peak = np.abs(att.residue).max()
    keep = [c for c in df.columns if peak == 0 or np.abs(df[c]).max() >= LOGO_MIN * peak]
    df = df[keep or list(df.columns)]
    with figure(max(4.0, 0.22 * len(offsets) + 1.2), 3.0) as fig:
        ax = fig.add_subplot()
        logomaker.Logo(df, ax=ax, color_scheme=RESIDUE_COLOURS, font_name="DejaVu Sans",
                       flip_below=False, fade_below=0.4, vpad=0.05)
        ax.axhline(0, color=OKABE_ITO["grey"], lw=0.6)
        _offset_ticks(ax, offsets)
        ax.set_xlabel("offset relative to the site")
        ax.set_ylabel(SIGNED_LABEL.get(att.method, "score"))
        ax.set_title(title or f"Signed contributions ({att.method})")
        fig.tight_layout()
        return save(fig, stem)


def network_diagram(model: KAN, idx: np.ndarray, stem: str | os.PathLike,
                    sym: SymbolicModel | None = None, title: str = "") -> list[Path]:
    """KAN diagram: input positions (a position's first-layer inputs pooled: its 21 one-hot
    letters, or its d encoded features), hidden and output nodes; edge opacity by pykan edge
    score, hidden edges labelled with their fit."""
    with torch.no_grad():
        scores = [s.double().numpy() for s in model.edge_scores(torch.as_tensor(idx))]
    length = model.window_length
    first = scores[0].reshape(length, -1, scores[0].shape[1]).sum(1)  # (L, H): pooled inputs
    layers = [first, *scores[1:]]  # (in, out) per layer, inputs pooled per position
    sizes = [length, *[s.shape[1] for s in layers]]
    offsets = _offsets(length)

    def xs(n: int) -> np.ndarray:
        return np.linspace(0.0, 1.0, n) if n > 1 else np.array([0.5])

    with figure(7.0, 1.6 + 1.5 * len(layers)) as fig:
        ax = fig.add_subplot()
        ax.set_axis_off()
        ys = np.linspace(0.0, 1.0, len(sizes))
        for li, s in enumerate(layers):
            w = s / (s.max() or 1.0)
            x0, x1 = xs(sizes[li]), xs(sizes[li + 1])
            for i, j in zip(*np.nonzero(w > 0.02), strict=True):
                ax.plot([x0[i], x1[j]], [ys[li], ys[li + 1]], color=OKABE_ITO["blue"],
                        alpha=float(min(1.0, w[i, j])), lw=0.4 + 1.6 * float(w[i, j]),
                        solid_capstyle="round")
                if sym is not None and li >= 1 and w[i, j] > 0.1:
                    name, _, r2 = sym.layers[li - 1].edge(int(i), int(j))
                    ax.text((x0[i] + x1[j]) / 2, (ys[li] + ys[li + 1]) / 2,
                            name, fontsize=6, ha="center", va="center",
                            color=OKABE_ITO["vermillion"],
                            bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none",
                                  "alpha": 0.8})
        for li, n in enumerate(sizes):
            colour = OKABE_ITO["grey"] if li == 0 else OKABE_ITO["black"]
            ax.scatter(xs(n), np.full(n, ys[li]), s=12 if li == 0 else 40, color=colour, zorder=3)
        x_in = xs(length)
        step = 1 if length <= 11 else 4
        for i in range(0, length, step):
            ax.text(x_in[i], -0.06, f"{offsets[i]:+d}" if offsets[i] else "0", fontsize=6,
                    ha="center", va="top")
        ax.text(0.5, -0.16, "input positions (offset relative to the site)", ha="center",
                va="top")
        for j, x in enumerate(xs(sizes[1])):
            ax.text(x, ys[1] + 0.03, f"s{j + 1}", fontsize=7, ha="center", va="bottom")
        for j, x in enumerate(xs(sizes[-1])):
            label = "logit" if sizes[-1] == 1 else f"out {j + 1}"
            ax.text(x, ys[-1] + 0.03, label, fontsize=7, ha="center", va="bottom")
        ax.set_xlim(-0.05, 1.05)
        ax.set_ylim(-0.22, 1.08)
        live = int((first > 0).sum())
        ax.set_title(title or f"KAN {model.width}, {model.encoding.name}: {live} of "
                     f"{first.size} position-node edges live (opacity: importance)")
        fig.tight_layout()
        return save(fig, stem)


def function_panels(model: KAN, idx: np.ndarray, sym: SymbolicModel, stem: str | os.PathLike,
                    n: int = 4, title: str = "") -> list[Path]:
    """The most important hidden edges (by edge score): spline and symbolic fit with its r^2."""
    with torch.no_grad():
        scores = [s.double().numpy() for s in model.edge_scores(torch.as_tensor(idx))][1:]
    edges = sorted(((float(s[i, j]), li, i, j) for li, s in enumerate(scores)
                    for i in range(s.shape[0]) for j in range(s.shape[1])), reverse=True)[:n]
    cols = min(len(edges), 4) or 1
    rows = -(-len(edges) // cols) or 1
    with figure(2.3 * cols + 0.4, 2.1 * rows + 0.5) as fig:
        for k, (_, li, i, j) in enumerate(edges):
            ax = fig.add_subplot(rows, cols, k + 1)
            lo, hi = sym.layers[li].x_range[i]
            pad = 0.05 * (hi - lo or 1.0)
            x = np.linspace(lo - pad, hi + pad, 200)
            layer = model.layers[li + 1]
            xin = torch.zeros(len(x), layer.in_dim, dtype=layer.coef.dtype)
            xin[:, i] = torch.as_tensor(x, dtype=xin.dtype)
            with torch.no_grad():
                phi = layer.phi(xin)[:, i, j].double().numpy()
            name, _, r2 = sym.layers[li].edge(i, j)
            fx = sym.layers[li].fit(np.repeat(x[:, None], len(sym.layers[li].fit.fn), 1))
            ax.plot(x, phi, color=OKABE_ITO["blue"], lw=1.8, label="spline")
            ax.plot(x, fx[:, i * layer.out_dim + j], color=OKABE_ITO["vermillion"], lw=1.2,
                    ls="--", label=name)
            ax.axvspan(lo, hi, color=OKABE_ITO["grey"], alpha=0.08, lw=0)
            src = f"s{i + 1}" if li == 0 else f"h{li + 1}.{i + 1}"
            dst = f"out {j + 1}" if li == len(scores) - 1 else f"h{li + 2}.{j + 1}"
            ax.set_title(f"{src} -> {dst}: {name}, r$^2$ = {r2:.3f}", fontsize=8)
            ax.set_xlabel(src)
            ax.set_ylabel("edge output")
            ax.legend(frameon=False, fontsize=7)
        if title:
            fig.suptitle(title)
        fig.tight_layout()
        return save(fig, stem)


# ---------------------------------------------------------------------------- per dataset


def roc_pr(dataset: str, predictions: Mapping[str, Sequence[str | os.PathLike]],
           roc: str | os.PathLike, pr: str | os.PathLike) -> list[Path]:
    """ROC (at stem ``roc``) and PR curves (at ``pr``) of every model and seed on the test split.

    ``predictions``: per model, the ``predictions.tsv.gz`` of each seed.
    """
    scores = {model: test_scores(files) for model, files in sorted(predictions.items())}
    paths = []
    for kind, stem in (("roc", roc), ("pr", pr)):
        with figure(3.6, 3.4) as fig:
            ax = fig.add_subplot()
            for i, (model, (y, per_seed)) in enumerate(scores.items()):
                for j, s in enumerate(per_seed):
                    if kind == "roc":
                        x, yv, _ = roc_curve(y, s)
                    else:
                        prec, rec, _ = precision_recall_curve(y, s)
                        x, yv = rec, prec
                    ax.plot(x, yv, color=colour(i), lw=1.2, alpha=0.85,
                            label=model if j == 0 else None,
                            drawstyle="steps-post" if kind == "pr" else "default")
            if kind == "roc":
                ax.plot([0, 1], [0, 1], color=OKABE_ITO["grey"], lw=0.8, ls="--")
                ax.set(xlabel="false positive rate", ylabel="true positive rate")
            else:
                base = float(np.mean(scores[next(iter(predictions))][0]))
                ax.axhline(base, color=OKABE_ITO["grey"], lw=0.8, ls="--")
                ax.set(xlabel="recall (sensitivity)", ylabel="precision")
            ax.set(xlim=(0, 1), ylim=(0, 1.02),
                   title=f"{dataset}: {kind.upper()} (test, each seed)")
            ax.legend(loc="lower right" if kind == "roc" else "upper right", frameon=False)
            fig.tight_layout()
            paths += save(fig, stem)
    return paths


def training_curves(dataset: str, curves: Mapping[str, Sequence[str | os.PathLike]],
                    stem: str | os.PathLike) -> list[Path]:
    """Training and validation loss per epoch of every model and seed (``curve.tsv`` files)."""
    with figure(6.4, 2.8) as fig:
        axes = fig.subplots(1, 2)
        for i, (model, files) in enumerate(sorted(curves.items())):
            for j, f in enumerate(files):
                c = pd.read_csv(f, sep="\t")
                if "train_loss" not in c:
                    continue  # models fitted in one go (logistic regression) have no curve
                label = model if j == 0 else None
                axes[0].plot(c.epoch, c.train_loss, color=colour(i), lw=1, label=label)
                if "val_loss" in c:
                    axes[1].plot(c.epoch, c.val_loss, color=colour(i), lw=1, label=label)
        for ax, name in zip(axes, ("training loss", "validation loss"), strict=True):
            ax.set(xlabel="epoch", ylabel=f"{name} (class-weighted)", title=f"{dataset}: {name}")
        axes[0].legend(frameon=False)
        fig.tight_layout()
        return save(fig, stem)


# ----------------------------------------------------------------------- across datasets


def accuracy_vs_params(accuracy_files: Sequence[str | os.PathLike], stem: str | os.PathLike
                       ) -> list[Path]:
    """Test AUROC (mean ± sd over seeds) against parameter count, every dataset and model."""
    acc = pd.concat([read_table(f) for f in accuracy_files], ignore_index=True)
    with figure(4.6, 3.4) as fig:
        ax = fig.add_subplot()
        datasets, models = sorted(acc.dataset.unique()), sorted(acc.model.unique())
        for (ds, model), g in acc.groupby(["dataset", "model"], sort=True):
            i, j = datasets.index(ds), models.index(model)
            sd = g.auroc.std(ddof=1) if len(g) > 1 else 0.0
            ax.errorbar(g.n_params.mean(), g.auroc.mean(), yerr=sd, color=colour(i),
                        marker=marker(j), ms=5, lw=1, capsize=2)
        for i, ds in enumerate(datasets):
            ax.plot([], [], color=colour(i), lw=2, label=ds)
        for j, m in enumerate(models):
            ax.plot([], [], color="black", ls="none", marker=marker(j), label=m)
        ax.set(xscale="log", xlabel="parameters", ylabel="test AUROC (mean ± sd over seeds)",
               title="Accuracy vs model size")
        ax.legend(frameon=False, fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
        fig.tight_layout()
        return save(fig, stem)


# ------------------------------------------------------------------------- results page


def roc_with_references(dataset: str, scores: Mapping[str, tuple[np.ndarray, np.ndarray]],
             references: Sequence[Mapping], stem: str | os.PathLike) -> Path:
    """``<stem>.png``: test ROC of every model and seed, with the published operating points.

    ``scores``: per model, test labels (N,) and per-seed scores (S, N); ``references``: published
    results, those with ``sn`` and ``sp`` drawn as points.
    """
    with figure(4.2, 3.8) as fig:
        ax = fig.add_subplot()
        for i, (m, (y, per_seed)) in enumerate(scores.items()):
            for j, s in enumerate(per_seed):
                fpr, tpr, _ = roc_curve(y, s)
                ax.plot(fpr, tpr, color=colour(i), lw=1.0, alpha=0.8,
                        label=f"kanbio {m}" if j == 0 else None)
        for k, r in enumerate(r for r in references if "sn" in r and "sp" in r):
            ax.plot(1 - r["sp"], r["sn"], marker(k + 1), ms=7, mfc="none", mew=1.5,
                    color=OKABE_ITO["black"], label=f"{r['method']} (published)")
        ax.plot([0, 1], [0, 1], color=OKABE_ITO["grey"], lw=0.8, ls="--")
        ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="1 − specificity",
               ylabel="sensitivity", title=f"{dataset}: test ROC, every seed")
        ax.legend(loc="lower right", frameon=False)
        fig.tight_layout()
        return save(fig, stem, formats=("png",))[0]


def fold_auroc(per_fold: Mapping[str, Mapping[str, float]], models: Sequence[str],
               stem: str | os.PathLike) -> Path:
    """``<stem>.png``: test AUROC (mean over seeds) of every model per fold.

    ``per_fold``: fold (dataset) -> model -> AUROC, folds in order; a missing model is not drawn.
    """
    folds = list(per_fold)
    with figure(max(4.0, 0.45 * len(folds) + 1.5), 3.2) as fig:
        ax = fig.add_subplot()
        x = np.arange(len(folds))
        for i, m in enumerate(models):
            v = [per_fold[d].get(m, np.nan) for d in folds]
            ax.plot(x + (i - (len(models) - 1) / 2) * 0.12, v, marker(i), color=colour(i), ms=5,
                    label=f"kanbio {m}")
        ax.set_xticks(x, [str(i) for i in range(len(folds))])
        ax.set(xlabel="fold", ylabel="test AUROC (mean over seeds)",
               title="test AUROC per fold")
        ax.legend(frameon=False, fontsize=7)
        fig.tight_layout()
        return save(fig, stem, formats=("png",))[0]
