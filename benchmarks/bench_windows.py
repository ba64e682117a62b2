"""Window extraction + encoding throughput and memory on a large synthetic proteome.

    python benchmarks/bench_windows.py [--residues 50000000] [--residue-set K]

Input: protein sequences as Python strings (as the readers produce them). Timed: laying them out,
finding every candidate, cutting the X-padded windows and encoding them as uint8 indices
(``kanbio.data.windows.extract``'s core). Memory: peak bytes allocated by the step (tracemalloc sees
numpy's buffers) per input residue. Target: >= 5 M residues/s on one core, a few bytes/residue.
"""

from __future__ import annotations

import argparse
import os
import time
import tracemalloc

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from kanbio.data.alphabet import LETTERS  # noqa: E402
from kanbio.data.synthetic import benchmark_proteome  # noqa: E402
from kanbio.data.windows import extract_indices, layout  # noqa: E402


def proteome(n_residues: int, seed: int = 0, mean_length: int = 400) -> list[str]:
    rng = np.random.default_rng(seed)
    buf = LETTERS[benchmark_proteome(n_residues, seed)].tobytes().decode()
    cuts = np.cumsum(rng.integers(50, 2 * mean_length - 50, n_residues // 50 + 2))
    cuts = np.concatenate([[0], cuts[cuts < n_residues], [n_residues]])
    return [buf[a:b] for a, b in zip(cuts[:-1], cuts[1:], strict=True)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--residues", type=int, default=50_000_000)
    ap.add_argument("--residue-set", default="K")
    ap.add_argument("--half-width", type=int, default=16)
    args = ap.parse_args()
    seqs = proteome(args.residues)
    n = sum(map(len, seqs))
    tracemalloc.start()
    t0 = time.perf_counter()
    buf, starts = layout(seqs, args.half_width)
    centres, wins = extract_indices(buf, starts, args.residue_set, args.half_width)
    dt = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"proteins            {len(seqs):,}")
    print(f"residues            {n:,}")
    print(f"windows ({args.residue_set}, L={wins.shape[1]})   {len(wins):,} "
          f"({wins.nbytes / 1e6:.0f} MB uint8 output)")
    print(f"time                {dt:.2f} s")
    print(f"throughput          {n / dt / 1e6:.1f} M residues/s (target >= 5)   "
          f"ratio to target {n / dt / 5e6:.2f}x")
    print(f"peak memory         {peak / n:.2f} bytes/residue (output alone "
          f"{wins.nbytes / n:.2f})")


if __name__ == "__main__":
    main()
