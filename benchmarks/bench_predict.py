"""End-to-end throughput of ``kanbio predict`` on a large synthetic FASTA file.

    python benchmarks/bench_predict.py [--residues 20000000] [--residue-set K] [--model kan]

A FASTA file with UniProt-like letter frequencies (60 letters per line) and a randomly initialised
checkpoint (KAN ``[33 * 21, 8, 1]`` by default; ``--model mlp`` for the parameter-matched MLP)
are written to a temporary folder. Timed: :func:`kanbio.stages.predict.predict` as a whole (read,
validate, cut, score, attribute, format, gzip, atomic rename). Target: >= 1 M residues/s on one
CPU core. Memory: the peak resident set size of the process, and its value before the call.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from kanbio.data.alphabet import LETTERS  # noqa: E402
from kanbio.data.synthetic import benchmark_proteome  # noqa: E402
from kanbio.models import build, checkpoint  # noqa: E402
from kanbio.stages.predict import predict  # noqa: E402


def write_fasta(path: Path, n_residues: int, seed: int = 0, mean_length: int = 400,
                block: int = 1_000_000) -> int:
    """Write ``n_residues`` residues as proteins of 50..750 letters; return the protein count."""
    rng = np.random.default_rng(seed)
    n_prot, done = 0, 0
    with open(path, "w") as fh:
        while done < n_residues:
            size = min(block, n_residues - done)
            buf = LETTERS[benchmark_proteome(size, seed + done)].tobytes().decode()
            cuts = np.cumsum(rng.integers(50, 2 * mean_length - 50, size // 50 + 2))
            cuts = np.concatenate([[0], cuts[cuts < size], [size]])
            for a, b in zip(cuts[:-1], cuts[1:], strict=True):
                seq = buf[a:b]
                lines = "\n".join(seq[i : i + 60] for i in range(0, len(seq), 60))
                fh.write(f">bench_{n_prot:08d} synthetic\n{lines}\n")
                n_prot += 1
            done += size
    return n_prot


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--residues", type=int, default=20_000_000, help="residues in the FASTA")
    ap.add_argument("--residue-set", default="K", help="candidate residues")
    ap.add_argument("--half-width", type=int, default=16)
    ap.add_argument("--model", choices=["kan", "mlp"], default="kan")
    ap.add_argument("--chunk-residues", type=int, default=4_000_000)
    ap.add_argument("--plain", action="store_true", help="write .tsv instead of .tsv.gz")
    args = ap.parse_args()
    torch.set_num_threads(1)
    length = 2 * args.half_width + 1
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        n_prot = write_fasta(root / "bench.fasta", args.residues)
        t_write = time.perf_counter() - t0
        spec = {"type": args.model, "hidden": [8]} if args.model == "kan" else \
            {"type": "mlp", "match": {"type": "kan", "hidden": [8]}}
        model = build(spec, length, seed=0)
        checkpoint.save(model, root / "model", {"window_length": length,
                                                "half_width": args.half_width,
                                                "residues": args.residue_set,
                                                "n_params": model.n_params()})
        out = root / ("sites.tsv" if args.plain else "sites.tsv.gz")
        before = rss_mb()
        t0 = time.perf_counter()
        s = predict(root / "model", root / "bench.fasta", out,
                    chunk_residues=args.chunk_residues)
        dt = time.perf_counter() - t0
        size = out.stat().st_size
    rate = s["residues"] / dt
    print(f"model               {args.model} {model.width} ({model.n_params():,} parameters)")
    print(f"proteins            {n_prot:,} (FASTA written in {t_write:.1f} s)")
    print(f"residues            {s['residues']:,}")
    print(f"windows ({s['residues_scored']}, L={length})   {s['windows']:,}")
    print(f"output              {size / 1e6:.1f} MB ({out.name})")
    print(f"time                {dt:.2f} s")
    print(f"throughput          {rate / 1e6:.2f} M residues/s, {s['windows'] / dt / 1e3:.0f} k "
          f"windows/s (target >= 1 M residues/s)   ratio to target {rate / 1e6:.2f}x")
    print(f"peak RSS            {rss_mb():.0f} MB ({before:.0f} MB before predict)")


if __name__ == "__main__":
    main()
