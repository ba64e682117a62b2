"""CUDA check and timing: the one-hot fast path on a GPU.

    python benchmarks/bench_gpu.py [--windows 200000]

Needs a CUDA device. Checks that (1) the fast path equals the dense path on the GPU in outputs and
gradients (float64), (2) ``TrainConfig(device="auto")`` trains on CUDA, learns a planted motif and
returns a CPU model whose CPU predictions match the GPU's, and (3) times one training epoch of the
KAN fast path, the same-width MLP and the KAN dense path on the GPU, side by side.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from kanbio.metrics import auroc
from kanbio.models.inference import predict_logit
from kanbio.models.kan import KAN
from kanbio.models.mlp import MLP
from kanbio.train import TrainConfig, fit


def planted(n: int, length: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random windows; label 1 when R sits at -3 and P at +1 (with 10% label noise)."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 20, size=(n, length), dtype=np.uint8)
    h = length // 2
    y = (rng.random(n) < 0.3).astype(np.int64)
    x[y == 1, h - 3], x[y == 1, h + 1] = 1, 14  # R, P
    flip = rng.random(n) < 0.1
    y[flip] = 1 - y[flip]
    return x, y


def check_paths(device: torch.device) -> float:
    torch.manual_seed(0)
    model = KAN([33 * 21, 8, 1], grid=5, k=3, window_length=33, seed=1).double().to(device)
    idx = torch.randint(0, 21, (256, 33), device=device)
    dense = torch.nn.functional.one_hot(idx, 21).reshape(256, -1).double()
    outs, grads = [], []
    for x in (idx, dense):
        model.zero_grad()
        out = model(x)
        out.square().sum().backward()
        outs.append(out.detach())
        grads.append([p.grad.detach().clone() for p in model.parameters()])
    err = (outs[0] - outs[1]).abs().max() / outs[1].abs().max()
    for g0, g1 in zip(*grads, strict=True):
        err = max(err, (g0 - g1).abs().max() / g1.abs().max().clamp_min(1e-12))
    return float(err)


def epoch_time(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int) -> float:
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(2):  # first pass warms up kernels and the allocator
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for i in range(0, len(x), batch):
            opt.zero_grad(set_to_none=True)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                model(x[i : i + batch])[:, 0], y[i : i + batch])
            loss.backward()
            opt.step()
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--windows", type=int, default=200_000)
    ap.add_argument("--batch", type=int, default=4096)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device: nothing to check")
    dev = torch.device("cuda")
    print(f"device              {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
    print(f"fast == dense (f64) max relative error {check_paths(dev):.2e} (target <= 1e-5)")

    x, y = planted(20_000, 33, 0)
    xt, yt = planted(5_000, 33, 1)
    model = KAN([33 * 21, 8, 1], window_length=33, seed=0)
    hist = fit(model, x[:16000], y[:16000], x[16000:], y[16000:],
               TrainConfig(epochs=15, device="auto", progress=False))
    cpu = predict_logit(model, xt)
    gpu = predict_logit(model.to(dev), xt, device=dev)
    print(f"device='auto' trained on {hist.device}; test AUROC {auroc(yt, cpu):.3f}; "
          f"CPU vs GPU logits max |diff| {np.abs(cpu - gpu).max():.1e}")

    xb, yb = planted(args.windows, 33, 2)
    xg = torch.as_tensor(xb, device=dev)
    dense = torch.nn.functional.one_hot(xg.long(), 21).reshape(len(xg), -1).float()
    yg = torch.as_tensor(yb, device=dev, dtype=torch.float32)
    kan = KAN([33 * 21, 8, 1], window_length=33, seed=0).to(dev)
    mlp = MLP([33 * 21, 8, 1], window_length=33, seed=0).to(dev)
    t_fast = epoch_time(kan, xg, yg, args.batch)
    t_mlp = epoch_time(mlp, xg, yg, args.batch)
    t_dense = epoch_time(KAN([33 * 21, 8, 1], window_length=33, seed=0).to(dev), dense, yg,
                         args.batch)
    print(f"epoch over {args.windows:,} windows, batch {args.batch}: KAN fast {t_fast:.3f} s, "
          f"MLP {t_mlp:.3f} s, KAN dense {t_dense:.3f} s")
    print(f"ratios              KAN fast / MLP {t_fast / t_mlp:.2f}, dense / fast "
          f"{t_dense / t_fast:.1f}")


if __name__ == "__main__":
    main()
