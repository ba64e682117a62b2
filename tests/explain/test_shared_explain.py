"""What a KAN learns on real PTM data: the known motifs must come out of its exact attribution.

Uses ../shared/data (skipped with a reason when absent)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from kanbio.data.fasta import read_marked_fasta
from kanbio.data.windows import extract
from kanbio.explain import attribution as att
from kanbio.explain import motifs as mt
from kanbio.metrics import auroc
from kanbio.models.inference import predict_logit
from kanbio.models.kan import KAN
from kanbio.train import TrainConfig, fit

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
pytestmark = pytest.mark.skipif(not SHARED.is_dir(),
                                reason=f"real datasets not available ({SHARED} is absent)")
torch.set_num_threads(1)


def train_kan(folder: str, residue: str, epochs: int):
    """Train fold 0 -> test fold 0 with a small KAN; return (model, test windows, test labels)."""
    wins = []
    for split in ("train", "test"):
        prots, _ = read_marked_fasta(SHARED / folder / f"{split}_annotated_fold0.fasta", residue)
        wins.append(extract(prots, residue, 16))
    (xt, yt), (xs, ys) = ((w.windows, w.label) for w in wins)
    rng = np.random.default_rng(0)
    val = rng.random(len(yt)) < 0.15
    model = KAN([33 * 21, 4, 1], grid=5, k=3, window_length=33, seed=0)
    fit(model, xt[~val], yt[~val], xt[val], yt[val],
        TrainConfig(epochs=epochs, batch_size=512, progress=False, patience=3))
    return model, xs, ys


def top_offsets(position: np.ndarray, n: int) -> list[int]:
    offsets = np.arange(len(position)) - len(position) // 2
    keep = offsets != 0
    return [int(o) for o in offsets[keep][np.argsort(-position[keep], kind="stable")][:n]]


def test_nglyc_sequon():
    """N-glycosylation: top offsets +1 and +2; S/T enriched at +2 and P depleted at +1."""
    model, xs, ys = train_kan("capsnet_nglyc", "N", epochs=4)
    assert auroc(ys, predict_logit(model, xs)) > 0.9
    a = att.kan_exact(model, xs[:10000])
    assert set(top_offsets(a.position, 2)) == {1, 2}
    checks = mt.check_known_motif(a.residue, [
        {"offset": 2, "residues": "ST", "effect": "enriched"},
        {"offset": 1, "residues": "P", "effect": "depleted"}])
    assert all(c["found"] for c in checks), checks


def test_sumo_consensus():
    """SUMOylation (psi-K-x-[ED]): the top offsets include -1 and +2."""
    model, xs, ys = train_kan("capsnet_sumo", "K", epochs=15)
    assert auroc(ys, predict_logit(model, xs)) > 0.7
    a = att.kan_exact(model, xs)
    top = top_offsets(a.position, 3)
    assert -1 in top and 2 in top, top
