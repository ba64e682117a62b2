"""Explanation cost: symbolic fitting of a [693, 8, 2] KAN and ISM over 10,000 windows of 33.

    python benchmarks/bench_explain.py [--windows 10000] [--threads 1]

Data: candidate windows (half width 16) of a synthetic kinase proteome. Models: KANs trained for
three Adam epochs on these windows (untimed). Timed: ``auto_symbolic`` on a
``[693, 8, 2]`` KAN (the first layer is exact, 8 x 2 hidden edges are fitted; target <= 30 s) and
``ism`` on a ``[693, 8, 1]`` KAN over all windows (N x 33 x 20 mutated windows; target <= 10 s),
plus, for reference, ISM of a parameter-matched MLP and of the logistic baseline, and the exact
KAN attribution.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from kanbio.data.alphabet import A  # noqa: E402
from kanbio.data.fasta import Protein  # noqa: E402
from kanbio.data.synthetic import generate  # noqa: E402
from kanbio.data.windows import extract  # noqa: E402
from kanbio.explain.attribution import ism, kan_exact  # noqa: E402
from kanbio.explain.formula import auto_symbolic  # noqa: E402
from kanbio.models import KAN, MLP, LogisticBaseline, matched_width  # noqa: E402
from kanbio.models.inference import predict_logit  # noqa: E402
from kanbio.train import TrainConfig, fit  # noqa: E402


def windows(n: int) -> tuple[np.ndarray, np.ndarray]:
    data = generate("kinase", max(50, n // 25), seed=0)
    w = extract([Protein(i, s, p) for i, s, p in data.proteins], data.residues, 16)
    assert len(w.label) >= n, "proteome too small"
    return w.windows[:n], w.label[:n].astype(int)


def trained_kan(width: list[int], idx: np.ndarray, y: np.ndarray, seed: int = 0) -> KAN:
    """A KAN after a few Adam epochs (its hidden functions then look like real ones)."""
    model = KAN(width, window_length=33, seed=seed)
    fit(model, idx, y, None, None, TrainConfig(epochs=3, lr=1e-3, batch_size=256, patience=0,
                                               progress=False, seed=seed))
    return model.eval()


def timed(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


def line(name: str, seconds: float, target: float | None = None) -> str:
    extra = f"   target <= {target:g} s, ratio {seconds / target:.2f}x" if target else ""
    return f"{name:<44}{seconds:7.2f} s{extra}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--windows", type=int, default=10_000)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    idx, y = windows(args.windows)
    print(f"windows             {len(idx):,} x {idx.shape[1]} (threads {args.threads})")

    kan2 = trained_kan([33 * A, 8, 2], idx, y)
    sym, t_sym = timed(auto_symbolic, kan2, idx)
    net, formula = predict_logit(kan2, idx), sym.predict_logit(idx)
    print(line("symbolic fit, KAN [693, 8, 2]", t_sym, 30.0))
    print(f"  functions {dict(sorted(sym.edge_frame().function.value_counts().items()))}, "
          f"min r2 {sym.edge_frame().r2.min():.4f}, formula-network logit correlation "
          f"{np.corrcoef(net, formula)[0, 1]:.5f}")

    kan1 = trained_kan([33 * A, 8, 1], idx, y, seed=1)
    _, t_ism = timed(ism, kan1, idx)
    print(line(f"ISM, KAN [693, 8, 1] ({len(idx) * 33 * 20:,} mutants)", t_ism, 10.0))
    _, t_exact = timed(kan_exact, kan1, idx)
    print(line("exact attribution, KAN [693, 8, 1]", t_exact))
    h = matched_width([33 * A, 8, 1], window_length=33)
    mlp = MLP([33 * A, h, 1], window_length=33, seed=0).eval()
    _, t_mlp = timed(ism, mlp, idx)
    print(line(f"ISM, MLP [693, {h}, 1] (parameter-matched)", t_mlp))
    lin = LogisticBaseline(max_iter=200).fit(idx, y)
    _, t_lin = timed(ism, lin, idx)
    print(line("ISM, logistic baseline", t_lin))


if __name__ == "__main__":
    main()
