"""What the results page shows, decided from the config alone.

The Snakefile reads these decisions to name the page's inputs and outputs, and the page follows
them, so they are made here once. Standard library only: the Snakefile imports this module
whenever it is parsed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

FIGURES = "figures"  # the page's figures, in this folder beside it


def protocol_kind(proto: Mapping) -> str:
    """``"roc"`` for an independent test set (one dataset), ``"folds"`` for several
    train → test folds (one dataset each)."""
    return "roc" if len(proto["datasets"]) == 1 else "folds"


def logo_model(model_types: Mapping[str, str], explained: Sequence[Sequence]
               ) -> tuple[str, int] | None:
    """The (model, seed) whose exact-attribution logo the page shows: the first explained KAN.

    ``model_types``: model name -> type; ``explained``: the explained (model, seed) pairs, in
    order. None without an explained KAN.
    """
    for model, seed in explained:
        if model_types[model] == "kan":
            return str(model), int(seed)
    return None


def protocol_figures(pid: str, proto: Mapping, logo: Sequence | None) -> dict[str, str]:
    """File names (in :data:`FIGURES`) of one protocol's figures: ``"results"`` (its ROC curves
    or per-fold AUROC) and, when the page shows a logo, ``"logo"``."""
    names = {"results": f"{pid}_{protocol_kind(proto)}.png"}
    if logo:
        names["logo"] = f"{pid}_logo.png"
    return names


def page_figures(page: Mapping, logo: Sequence | None) -> list[str]:
    """Every figure of the page (file names in :data:`FIGURES`), protocol by protocol."""
    return [name for pid, proto in page["protocols"].items()
            for name in protocol_figures(pid, proto, logo).values()]
