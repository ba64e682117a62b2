"""Study figures: ROC and PR curves, training curves, accuracy vs parameter count.

Drawn with the deterministic, colour-blind-safe conventions of :mod:`kanbio.report.figures`
(PNG + PDF, no timestamps), so a rerun gives byte-identical files.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import precision_recall_curve, roc_curve

from kanbio.output import read_table
from kanbio.report.figures import OKABE_ITO, figure, save

COLOURS = [OKABE_ITO[c] for c in ("blue", "vermillion", "green", "purple", "orange", "sky",
                                  "yellow", "black")]
MARKERS = "osD^vP*X"


def _test_scores(files: Sequence[str | os.PathLike]) -> list[tuple[np.ndarray, np.ndarray]]:
    out = []
    for f in files:
        t = read_table(f)
        t = t[t.split == "test"]
        out.append((t.label.to_numpy(int), t.score.to_numpy(float)))
    return out


def roc_pr(dataset: str, predictions: Mapping[str, Sequence[str | os.PathLike]],
           out_dir: str | os.PathLike) -> list[Path]:
    """``<dataset>_roc`` and ``<dataset>_pr``: one curve per model and seed (test split)."""
    out = Path(out_dir)
    paths = []
    for kind in ("roc", "pr"):
        with figure(3.6, 3.4) as fig:
            ax = fig.add_subplot()
            for i, (model, files) in enumerate(sorted(predictions.items())):
                for j, (y, s) in enumerate(_test_scores(files)):
                    if kind == "roc":
                        x, yv, _ = roc_curve(y, s)
                    else:
                        prec, rec, _ = precision_recall_curve(y, s)
                        x, yv = rec, prec
                    ax.plot(x, yv, color=COLOURS[i % len(COLOURS)], lw=1.2, alpha=0.85,
                            label=model if j == 0 else None,
                            drawstyle="steps-post" if kind == "pr" else "default")
            if kind == "roc":
                ax.plot([0, 1], [0, 1], color=OKABE_ITO["grey"], lw=0.8, ls="--")
                ax.set(xlabel="false positive rate", ylabel="true positive rate")
            else:
                base = float(np.mean(_test_scores(next(iter(predictions.values())))[0][0]))
                ax.axhline(base, color=OKABE_ITO["grey"], lw=0.8, ls="--")
                ax.set(xlabel="recall (sensitivity)", ylabel="precision")
            ax.set(xlim=(0, 1), ylim=(0, 1.02),
                   title=f"{dataset}: {kind.upper()} (test, each seed)")
            ax.legend(loc="lower right" if kind == "roc" else "upper right", frameon=False)
            fig.tight_layout()
            paths += save(fig, out / f"{dataset}_{kind}")
    return paths


def training_curves(dataset: str, curves: Mapping[str, Sequence[str | os.PathLike]],
                    out_dir: str | os.PathLike) -> list[Path]:
    """``<dataset>_curves``: training and validation loss per epoch, per model and seed."""
    with figure(6.4, 2.8) as fig:
        axes = fig.subplots(1, 2)
        for i, (model, files) in enumerate(sorted(curves.items())):
            for j, f in enumerate(files):
                c = pd.read_csv(f, sep="\t")
                if "train_loss" not in c:
                    continue  # models fitted in one go (logistic regression) have no curve
                colour = COLOURS[i % len(COLOURS)]
                label = model if j == 0 else None
                axes[0].plot(c.epoch, c.train_loss, color=colour, lw=1, label=label)
                if "val_loss" in c:
                    axes[1].plot(c.epoch, c.val_loss, color=colour, lw=1, label=label)
        for ax, name in zip(axes, ("training loss", "validation loss"), strict=True):
            ax.set(xlabel="epoch", ylabel=f"{name} (class-weighted)", title=f"{dataset}: {name}")
        axes[0].legend(frameon=False)
        fig.tight_layout()
        return save(fig, Path(out_dir) / f"{dataset}_curves")


def accuracy_vs_params(accuracy_files: Sequence[str | os.PathLike],
                       out_dir: str | os.PathLike) -> list[Path]:
    """``accuracy_vs_params``: test AUROC (mean ± sd over seeds) against parameter count."""
    acc = pd.concat([read_table(f) for f in accuracy_files], ignore_index=True)
    with figure(4.6, 3.4) as fig:
        ax = fig.add_subplot()
        datasets, models = sorted(acc.dataset.unique()), sorted(acc.model.unique())
        for (ds, model), g in acc.groupby(["dataset", "model"], sort=True):
            i, j = datasets.index(ds), models.index(model)
            sd = g.auroc.std(ddof=1) if len(g) > 1 else 0.0
            ax.errorbar(g.n_params.mean(), g.auroc.mean(), yerr=sd, color=COLOURS[i % 8],
                        marker=MARKERS[j % len(MARKERS)], ms=5, lw=1, capsize=2)
        for i, ds in enumerate(datasets):
            ax.plot([], [], color=COLOURS[i % 8], lw=2, label=ds)
        for j, m in enumerate(models):
            ax.plot([], [], color="black", ls="none", marker=MARKERS[j % len(MARKERS)], label=m)
        ax.set(xscale="log", xlabel="parameters", ylabel="test AUROC (mean ± sd over seeds)",
               title="Accuracy vs model size")
        ax.legend(frameon=False, fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
        fig.tight_layout()
        return save(fig, Path(out_dir) / "accuracy_vs_params")
