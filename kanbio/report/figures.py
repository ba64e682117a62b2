"""Figures of attributions and KAN structure, written as PNG + PDF with deterministic bytes.

Every figure is a :class:`matplotlib.figure.Figure` drawn on the Agg canvas (no pyplot state),
with fixed size and dpi, and saved without timestamps or software tags, so the same data always
give the same files. Colours are colour-blind safe: Okabe-Ito for categories, ``RdBu_r`` (diverging,
centred on 0) for signed scores and ``viridis`` for unsigned ones.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from kanbio.data.alphabet import A
from kanbio.explain.attribution import AMINO_ACIDS, Attribution
from kanbio.explain.symbolic import SymbolicModel
from kanbio.models import KAN
from kanbio.output import atomic_path

OKABE_ITO = {"orange": "#E69F00", "sky": "#56B4E9", "green": "#009E73", "yellow": "#F0E442",
             "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7", "black": "#000000",
             "grey": "#999999"}  # fmt: skip
RESIDUE_COLOURS = {  # by side-chain class
    **dict.fromkeys("DE", OKABE_ITO["vermillion"]),  # acidic
    **dict.fromkeys("KRH", OKABE_ITO["blue"]),  # basic
    **dict.fromkeys("STNQ", OKABE_ITO["green"]),  # polar
    **dict.fromkeys("CYW", OKABE_ITO["purple"]),  # C, aromatic polar
    **dict.fromkeys("GP", OKABE_ITO["orange"]),  # backbone-special
    **dict.fromkeys("AVLIMF", OKABE_ITO["black"]),  # hydrophobic
}
RC = {
    "font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "xtick.labelsize": 8,
    "ytick.labelsize": 8, "legend.fontsize": 8, "font.family": "DejaVu Sans",
    "svg.hashsalt": "kanbio", "pdf.fonttype": 3, "axes.spines.top": False,
    "axes.spines.right": False, "savefig.dpi": 200, "figure.dpi": 100,
}  # fmt: skip
PNG_META = {"Software": None}
PDF_META = {"Creator": None, "Producer": None, "CreationDate": None, "ModDate": None}


@contextmanager
def figure(width: float, height: float) -> Iterator[Figure]:
    """A ``width x height`` inch figure on the Agg canvas, drawn and saved under :data:`RC`."""
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(width, height))
        FigureCanvasAgg(fig)
        yield fig




def save(fig: Figure, stem: str | os.PathLike, formats: Sequence[str] = ("png", "pdf")
         ) -> list[Path]:
    """Write ``<stem>.png`` and ``<stem>.pdf`` (or ``formats``) atomically; return the paths."""
    paths = []
    for ext, meta in (("png", PNG_META), ("pdf", PDF_META)):
        if ext not in formats:
            continue
        path = Path(f"{stem}.{ext}")
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=ext, metadata=meta, bbox_inches=None)
        paths.append(path)
    return paths


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
    """KAN diagram: input positions (the 21 one-hot inputs of a position pooled), hidden and
    output nodes; edge opacity by pykan edge score, hidden edges labelled with their fit."""
    with torch.no_grad():
        scores = [s.double().numpy() for s in model.edge_scores(torch.as_tensor(idx))]
    length = model.window_length
    first = scores[0].reshape(length, A, -1).sum(1)  # (L, H)
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
        ax.set_title(title or f"KAN {model.width} (edge opacity: importance)")
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
