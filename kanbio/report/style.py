"""How every kanbio figure looks and is saved: colours, markers, sizes, deterministic files.

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
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from kanbio.output import atomic_path

OKABE_ITO = {"orange": "#E69F00", "sky": "#56B4E9", "green": "#009E73", "yellow": "#F0E442",
             "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7", "black": "#000000",
             "grey": "#999999"}  # fmt: skip
COLOURS = [OKABE_ITO[c] for c in ("blue", "vermillion", "green", "purple", "orange", "sky",
                                  "yellow", "black")]  # one per model or dataset, in order
MARKERS = "osD^vP*X"
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


def colour(i: int) -> str:
    """The ``i``-th category colour (cycling)."""
    return COLOURS[i % len(COLOURS)]


def marker(i: int) -> str:
    """The ``i``-th marker (cycling)."""
    return MARKERS[i % len(MARKERS)]
