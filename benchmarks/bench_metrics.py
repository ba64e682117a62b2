"""Bootstrap cost: the vectorised 95% CIs of kanbio.metrics against a per-resample loop.

Both compute every metric (ACC, BACC, Sn, Sp, MCC, F1, AUROC, AUPRC) on the same resamples of a
20,000-window test set at 5% positives; the loop (scikit-learn per resample) is timed on a subset
of the resamples and scaled. Prints seconds and the ratio.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from kanbio.metrics import binary_metrics, bootstrap_ci


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--windows", type=int, default=20_000)
    ap.add_argument("--boot", type=int, default=1000)
    ap.add_argument("--loop-boot", type=int, default=50, help="resamples timed in the loop")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    y = (rng.random(args.windows) < 0.05).astype(int)
    s = np.round(rng.normal(size=args.windows) + 1.5 * y, 3)
    t0 = time.perf_counter()
    bootstrap_ci(y, s, 1.0, n_boot=args.boot)
    fast = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(args.loop_boot):
        i = rng.integers(0, len(y), len(y))
        binary_metrics(y[i], s[i], 1.0)
        roc_auc_score(y[i], s[i])
        average_precision_score(y[i], s[i])
    loop = (time.perf_counter() - t0) * args.boot / args.loop_boot
    print(f"bootstrap {args.windows} x {args.boot}: vectorised {fast:.2f} s, "
          f"per-resample loop {loop:.2f} s (scaled from {args.loop_boot}); loop / vectorised "
          f"{loop / fast:.1f}x")


if __name__ == "__main__":
    main()
