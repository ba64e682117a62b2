"""Forward + backward time per epoch: KAN one-hot fast path vs KAN dense path vs MLP.

Same random windows for every model (N = 20000, L = 33, batch 512, one logit, BCE loss); the
optimiser step is left out, so the numbers compare the models' own passes. Repetitions are
interleaved across models and the minimum (and median) epoch time is reported.

    python benchmarks/bench_forward.py                 # CPU, 1 thread
    python benchmarks/bench_forward.py --device cuda
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from kanbio.data.alphabet import A
from kanbio.models import KAN, MLP, matched_width


def epoch_fn(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int) -> Callable:
    """One pass over (x, y) in mini-batches: forward, loss, backward."""

    def run() -> None:
        for i in range(0, x.shape[0], batch):
            loss = F.binary_cross_entropy_with_logits(model(x[i : i + batch]), y[i : i + batch])
            model.zero_grad(set_to_none=True)
            loss.backward()

    return run


def timed(fn: Callable, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--length", type=int, default=33)
    ap.add_argument("--hidden", type=int, nargs="+", default=[8, 32])
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--grid", type=int, default=5)
    ap.add_argument("--k", type=int, default=3)
    ap.add_argument("--reps", type=int, default=7, help="timed epochs per fast model")
    ap.add_argument("--dense-reps", type=int, default=2, help="timed epochs for the dense path")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    L, n = args.length, args.n
    gen = torch.Generator().manual_seed(0)
    idx = torch.randint(0, A, (n, L), dtype=torch.uint8, generator=gen)  # (N, L)
    y = torch.randint(0, 2, (n, 1), generator=gen).float()  # (N, 1)
    dense = torch.zeros(n, L * A).scatter_(1, idx.long() + A * torch.arange(L), 1.0)  # (N, L*21)
    idx, y, dense = idx.to(dev), y.to(dev), dense.to(dev)
    print(
        f"device={dev} threads={torch.get_num_threads()} torch={torch.__version__} N={n} L={L} "
        f"batch={args.batch} G={args.grid} k={args.k}; seconds per epoch, forward+backward"
    )
    for h in args.hidden:
        width = [L * A, h, 1]
        kan = KAN(width, grid=args.grid, k=args.k, window_length=L).to(dev)
        mlp = MLP(width, window_length=L).to(dev)
        hm = matched_width(width, args.grid, args.k, L)
        mlp_m = MLP([L * A, hm, 1], window_length=L).to(dev)
        runs = {
            "kan_fast": epoch_fn(kan, idx, y, args.batch),
            "mlp": epoch_fn(mlp, idx, y, args.batch),
            f"mlp_matched(h={hm})": epoch_fn(mlp_m, idx, y, args.batch),
        }
        times: dict[str, list[float]] = {k: [] for k in runs}
        for fn in runs.values():  # warm-up
            fn()
        for _ in range(args.reps):
            for name, fn in runs.items():
                times[name].append(timed(fn, dev))
        dense_fn = epoch_fn(kan, dense, y, args.batch)
        dense_fn()
        times["kan_dense"] = [timed(dense_fn, dev) for _ in range(args.dense_reps)]
        best = {k: min(v) for k, v in times.items()}
        print(
            f"\nH={h}: params KAN {kan.n_params()}, MLP {mlp.n_params()}, "
            f"MLP matched {mlp_m.n_params()}; FLOPs/sample KAN onehot {kan.flops('onehot')}, "
            f"KAN dense {kan.flops('dense')}, MLP onehot {mlp.flops('onehot')}"
        )
        for name, v in times.items():
            print(f"  {name:24s} min {min(v):8.4f}  median {statistics.median(v):8.4f}")
        print(
            f"  ratio kan_fast / mlp        {best['kan_fast'] / best['mlp']:6.2f}  (target <= 1.3)"
        )
        print(
            f"  ratio kan_dense / kan_fast  {best['kan_dense'] / best['kan_fast']:6.1f}  "
            "(target >= 20)"
        )


if __name__ == "__main__":
    main()
