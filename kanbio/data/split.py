"""Leakage-free train / validation / test splits of a windows table.

Windows of one protein always share a split. :func:`protein_split` stratifies proteins by whether
they carry a positive site and spreads them evenly over the range of protein sizes;
:func:`homology_split` moves whole MMseqs2 clusters of homologous proteins instead;
:func:`predefined_split` keeps a shipped test set and carves validation proteins from the rest.
:func:`assign_splits` writes the ``split`` column and removes windows (sequence strings) that also
occur in a higher-priority split (train > val > test), so no test window is seen in training.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import tempfile
from collections.abc import Hashable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kanbio.errors import InputError

SPLITS = ("train", "val", "test")  # also the deduplication priority, highest first
MMSEQS_MISSING = (
    "homology split needs MMseqs2 ('mmseqs' not found on PATH); install it (conda install -c "
    "bioconda mmseqs2, or apt-get install mmseqs2) or set split: {method: protein}"
)


def _check_fractions(fractions: Sequence[float]) -> np.ndarray:
    f = np.asarray(fractions, dtype=np.float64)
    if f.shape != (3,) or (f < 0).any() or abs(f.sum() - 1) > 1e-6 or f[0] == 0:
        raise InputError(f"split fractions must be 3 non-negative numbers (train > 0) summing "
                         f"to 1, got {list(fractions)}")
    return f / f.sum()


def _proteins(table: pd.DataFrame) -> pd.DataFrame:
    """Per protein (sorted ids): number of windows and whether any window is positive."""
    missing = {"protein_id", "label"} - set(table.columns)
    if missing:
        raise InputError(f"windows table lacks column(s) {', '.join(sorted(missing))}")
    if table.empty:
        raise InputError("windows table is empty: nothing to split")
    if not table.label.isin((0, 1)).all():
        raise InputError("windows table labels must be 0/1")
    g = table.groupby("protein_id", sort=True).label
    return pd.DataFrame({"windows": g.size(), "positive": g.max().astype(bool)})


def _quota(n: int, f: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Split ``n`` items by fractions ``f``: largest remainder, ties broken at random."""
    raw = n * f
    counts = np.floor(raw + 1e-9).astype(np.int64)
    order = np.lexsort((rng.random(len(f)), -(raw - counts)))
    counts[order[: n - counts.sum()]] += 1
    return counts


def _spread(counts: np.ndarray) -> np.ndarray:
    """Split codes with exact ``counts``, interleaved so every stretch has about the right mix."""
    n = counts.sum()
    codes = np.repeat(np.arange(len(counts)), counts)
    ideal = np.concatenate([(np.arange(c) + 0.5) * n / c for c in counts if c] or [[]])
    return codes[np.argsort(ideal, kind="stable")]


def protein_split(
    table: pd.DataFrame, fractions: Sequence[float] = (0.7, 0.15, 0.15), seed: int = 0,
) -> dict[Hashable, str]:
    """Assign each protein to ``train``, ``val`` or ``test``.

    Proteins with and without a positive window are split separately, each into exact shares
    (largest remainder). Within a stratum proteins are ordered by window count, the split labels
    are interleaved along that order and shuffled within short blocks, so every split receives
    proteins of all sizes while the seed still decides which protein goes where.

    Parameters
    ----------
    table : windows table with ``protein_id`` and ``label`` columns.
    fractions : shares of proteins for train, val, test (sum 1; val or test may be 0).
    seed : random seed; same table and seed give the same split.

    Returns
    -------
    dict protein_id -> split name.
    """
    f = _check_fractions(fractions)
    prot = _proteins(table)
    rng = np.random.default_rng(seed)
    block = math.ceil(2 / f[f > 0].min())  # a few proteins of the rarest split per block
    codes = np.empty(len(prot), dtype=np.int64)
    for stratum in (True, False):
        idx = np.flatnonzero(prot.positive.to_numpy() == stratum)
        order = idx[np.lexsort((rng.random(len(idx)), prot.windows.to_numpy()[idx]))]
        labels = _spread(_quota(len(idx), f, rng))
        shuffle = np.argsort(np.arange(len(idx)) // block + rng.random(len(idx)), kind="stable")
        codes[order] = labels[shuffle]
    return {p: SPLITS[c] for p, c in zip(prot.index, codes, strict=True)}


def cluster_proteins(
    sequences: Mapping[Hashable, str], identity: float = 0.3, coverage: float = 0.8,
    threads: int = 1, tmpdir: str | Path | None = None, *, cov_mode: int = 1,
    sensitivity: float = 6.0, kmer: int = 5, max_seqs: int = 100, evalue: float = 1e-3,
) -> dict[Hashable, Hashable]:
    """Cluster proteins into homologous groups with ``mmseqs easy-cluster``.

    Two proteins are linked when MMseqs2 finds a local alignment with E-value <= ``evalue``,
    sequence identity >= ``identity`` (identical columns / alignment columns) that covers at least
    ``coverage`` of the target sequence (``--cov-mode 1``; searched in both directions, so a link
    needs the alignment to cover ``coverage`` of either protein: a fragment joins its parent).
    Clusters are the connected components of these links (``--cluster-mode 1``) computed in one
    all-against-all step (``--single-step-clustering 1``), so no link is lost to the
    representative-only comparisons of cascaded clustering. The prefilter is sensitive (5-mers,
    ``-s 6``: nearly the links of ``-s 7.5`` with default k-mers, at a third of the time),
    because a missed link is a homolog that may straddle train and test. Use ``cov_mode=0`` to
    require coverage of both proteins (MMseqs2's default, which also skips every pair whose
    length ratio is below ``coverage``, however well the shorter one is covered).

    Parameters
    ----------
    sequences : protein_id -> sequence (alphabet letters).
    identity, coverage : link thresholds, both in [0, 1].
    threads : MMseqs2 threads.
    tmpdir : parent directory for the temporary files (system default if None).
    cov_mode, sensitivity, kmer, max_seqs, evalue : MMseqs2 ``--cov-mode``, ``-s``, ``-k``,
        ``--max-seqs``, ``-e``.

    Returns
    -------
    dict protein_id -> cluster representative, canonically the smallest protein id of the cluster
    (independent of MMseqs2's choice of representative).
    """
    exe = shutil.which("mmseqs")
    if exe is None:
        raise InputError(MMSEQS_MISSING)
    for name, value in (("identity", identity), ("coverage", coverage)):
        if not 0 <= value <= 1:
            raise InputError(f"homology split {name} must be in [0, 1], got {value}")
    ids = sorted(sequences)
    empty = [p for p in ids if not sequences[p]]
    if empty:
        raise InputError("empty sequence cannot be clustered", record=str(empty[0]))
    if not ids:
        return {}
    with tempfile.TemporaryDirectory(prefix="kanbio_mmseqs_", dir=tmpdir) as work:
        fasta, prefix = Path(work, "proteins.fasta"), Path(work, "clu")
        fasta.write_text("".join(f">s{i}\n{sequences[p]}\n" for i, p in enumerate(ids)))
        cmd = [exe, "easy-cluster", str(fasta), str(prefix), str(Path(work, "tmp")),
               "--min-seq-id", str(identity), "-c", str(coverage), "--cov-mode", str(cov_mode),
               "-e", str(evalue), "-s", str(sensitivity), "-k", str(kmer),
               "--max-seqs", str(max_seqs),
               "--cluster-mode", "1", "--single-step-clustering", "1",
               "--threads", str(max(1, threads)), "-v", "1"]
        run = subprocess.run(cmd, capture_output=True, text=True, check=False)
        tsv = Path(f"{prefix}_cluster.tsv")
        if run.returncode != 0 or not tsv.exists():
            tail = " ".join((run.stderr or run.stdout).split()[-40:])
            raise RuntimeError(f"mmseqs easy-cluster failed ({run.returncode}): {tail}")
        pairs = [line.split("\t") for line in tsv.read_text().splitlines() if line]
    rep = {int(m[1:]): int(r[1:]) for r, m in pairs}
    label = np.array([rep.get(i, i) for i in range(len(ids))])  # unclustered -> own cluster
    canon = pd.Series(np.arange(len(ids))).groupby(label).transform("min").to_numpy()
    return {p: ids[c] for p, c in zip(ids, canon, strict=True)}


def homology_split(
    table: pd.DataFrame, sequences: Mapping[Hashable, str],
    fractions: Sequence[float] = (0.7, 0.15, 0.15), seed: int = 0, identity: float = 0.3,
    coverage: float = 0.8, threads: int = 1, tmpdir: str | Path | None = None,
    clusters: Mapping[Hashable, Hashable] | None = None, **mmseqs: Any,
) -> dict[Hashable, str]:
    """Split whole clusters of homologous proteins (see :func:`cluster_proteins`).

    Clusters are stratified by whether they hold a positive window. Within a stratum the
    protein targets are exact shares (largest remainder); clusters are placed largest first (ties
    in random order) into the split furthest below its target, so the protein fractions are met
    as closely as the cluster sizes allow.

    Parameters
    ----------
    table : windows table with ``protein_id`` and ``label``.
    sequences : protein_id -> sequence for every protein of the table (others are ignored).
    fractions, seed : as in :func:`protein_split`.
    identity, coverage, threads, tmpdir, **mmseqs : passed to :func:`cluster_proteins`.
    clusters : precomputed protein_id -> cluster id (skips MMseqs2).

    Returns
    -------
    dict protein_id -> split name.
    """
    f = _check_fractions(fractions)
    prot = _proteins(table)
    if clusters is None:
        missing = [p for p in prot.index if p not in sequences]
        if missing:
            raise InputError(f"{len(missing)} protein(s) of the windows table have no sequence",
                             record=str(missing[0]))
        clusters = cluster_proteins({p: sequences[p] for p in prot.index}, identity, coverage,
                                    threads, tmpdir, **mmseqs)
    missing = [p for p in prot.index if p not in clusters]
    if missing:
        raise InputError(f"{len(missing)} protein(s) have no cluster", record=str(missing[0]))
    prot["cluster"] = [clusters[p] for p in prot.index]
    clu = prot.groupby("cluster").agg(n=("windows", "size"), positive=("positive", "max"))
    rng = np.random.default_rng(seed)
    code: dict[Hashable, int] = {}
    for stratum in (True, False):
        part = clu[clu.positive == stratum]
        deficit = _quota(int(part.n.sum()), f, rng).astype(np.float64)
        deficit[f == 0] = -np.inf  # never place into a split of share 0
        order = np.lexsort((rng.random(len(part)), -part.n.to_numpy()))
        for c, n in zip(part.index[order], part.n.to_numpy()[order], strict=True):
            s = int(np.argmax(deficit))
            code[c] = s
            deficit[s] -= n
    return {p: SPLITS[code[c]] for p, c in zip(prot.index, prot.cluster, strict=True)}


def predefined_split(
    table: pd.DataFrame, test_ids: Iterable[Hashable], val_fraction: float = 0.15, seed: int = 0,
    sequences: Mapping[Hashable, str] | None = None, **homology: Any,
) -> dict[Hashable, str]:
    """Keep a shipped test set; carve validation proteins from the others.

    Parameters
    ----------
    table : windows table with ``protein_id`` and ``label``.
    test_ids : protein ids of the test set (ids absent from the table are ignored).
    val_fraction : share of the non-test proteins that go to validation (stratified as in
        :func:`protein_split`).
    seed : random seed.
    sequences : protein sequences; when given, validation takes whole MMseqs2 clusters of the
        non-test proteins (:func:`homology_split`, options in ``**homology``), so that it is as
        far from training as a homology-reduced test set is.
    """
    if not 0 <= val_fraction < 1:
        raise InputError(f"val_fraction must be in [0, 1), got {val_fraction}")
    prot = _proteins(table)
    test = prot.index.isin(list(test_ids))
    if not test.any():
        raise InputError("none of the test-set proteins occurs in the windows table")
    if test.all():
        raise InputError("every protein is in the test set: nothing left to train on")
    rest = table[~table.protein_id.isin(prot.index[test])]
    fractions = (1 - val_fraction, val_fraction, 0.0)
    if sequences is not None:
        mapping = homology_split(rest, sequences, fractions, seed, **homology)
    else:
        mapping = protein_split(rest, fractions, seed)
    mapping.update(dict.fromkeys(prot.index[test], "test"))
    return dict(sorted(mapping.items()))


def assign_splits(
    table: pd.DataFrame, mapping: Mapping[Hashable, str],
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Add the ``split`` column and drop windows already present in a higher-priority split.

    A window string found in several splits is kept only in the first of train, val, test that
    holds it; duplicates within one split are kept (they are distinct residues of the training
    data or of the test data, each evaluated once).

    Returns
    -------
    (table, report): the table (index reset) and ``{"duplicate_windows_removed": n,
    "duplicate_windows_removed_by_split": {split: n}, "conflicting_label_windows": m}``, where
    ``m`` counts distinct windows that remain with both labels.
    """
    for col in ("protein_id", "window", "label"):
        if col not in table.columns:
            raise InputError(f"windows table lacks column {col}")
    split = table.protein_id.map(mapping)
    if split.isna().any():
        miss = table.protein_id[split.isna()]
        raise InputError(f"{miss.nunique()} protein(s) have no split", record=str(miss.iloc[0]))
    bad = set(split) - set(SPLITS)
    if bad:
        raise InputError(f"unknown split name(s) {sorted(bad)}; use {', '.join(SPLITS)}")
    rank = split.map({s: i for i, s in enumerate(SPLITS)}).to_numpy()
    code, uniq = pd.factorize(table.window)
    best = np.full(len(uniq), len(SPLITS))
    np.minimum.at(best, code, rank)
    keep = rank == best[code]
    out = table.loc[keep].assign(split=split[keep].to_numpy()).reset_index(drop=True)
    removed = np.bincount(rank[~keep], minlength=len(SPLITS)).tolist()
    label = table.label.to_numpy()[keep]
    both = (np.bincount(code[keep][label == 1], minlength=len(uniq)) > 0) & (
        np.bincount(code[keep][label == 0], minlength=len(uniq)) > 0)
    report = {
        "duplicate_windows_removed": int((~keep).sum()),
        "duplicate_windows_removed_by_split": dict(zip(SPLITS[1:], removed[1:], strict=True)),
        "conflicting_label_windows": int(both.sum()),
    }
    return out, report
