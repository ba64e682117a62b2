"""Synthetic proteomes with planted site rules: data whose ground truth is known.

Every task draws ``n_proteins`` proteins of uniform random length in ``length`` (default 150-400)
whose residues are i.i.d. from :data:`BACKGROUND` (Swiss-Prot amino-acid composition, no ``X``),
then plants a rule around chosen candidate residues. Positives are the marked candidates; negatives
are all other candidates of the same proteins (the field's convention). Offsets are relative to the
centre (negative = N-terminal side); output positions are 1-based.

Two helpers recur. *Spaced picking*: candidates are visited left to right and each becomes positive
with probability ``positive_rate``, except within ``2m`` residues of the previous positive (``m`` =
largest planted ``|offset|``), so no planted letter ever lands on another positive's footprint.
*Written letters* never create or destroy the task's candidate residue unless stated.

Tasks
-----
``tutorial`` (candidates K, S; half_width 2)
    The K-vs-S toy of the pykan protein-classification tutorial (windows of 5, one-hot 5 x 21 = 105
    inputs, ``KAN(width=[105, 3, 2], grid=3, k=2)``, K centre -> 1, S centre -> 0). Label = 1 iff
    the centre is K: the label leaks through the centre letter and the flanks carry nothing. No
    letter is planted; ``positive_rate`` does not apply (about 47 % positives).
``tutorial_fixed`` (candidate K; half_width 2)
    The flanks decide. Each background K, with probability 0.5, copies itself to one flank offset
    drawn uniformly from {-2, -1, +1, +2} (if inside the protein). Then every K of the final
    sequence with a K at any of -2, -1, +1, +2 is negative; every other K is positive with
    probability ``positive_rate`` (default 0.9). (The tutorial draws flanks without the centre
    letter, so there too a K in a flank meant label 0.)
``kinase`` (candidates S, T; half_width 16)
    Spaced picking (m = 3, default rate 0.2). A positive carries the motif with probability 0.8:
    R written at -3 and P at +1 (the in-range part only, near a protein end); the other 20 % of
    positives are plain background, as are all negatives. Writes may turn a non-positive S/T into
    R or P (it stops being a candidate).
``sequon`` (candidate N; half_width 16)
    N-X-[ST], X != P. Spaced picking (m = 2, default rate 0.25) over N with +2 inside the protein.
    A positive gets S or T (1:1) at +2, and a P at +1 is replaced by a background letter other than
    N and P. Then each negative N that carries the sequon by chance keeps it with probability 0.3
    (unlabelled decoys, about 3-4 % of negatives); otherwise its +2 letter is replaced by a
    background letter other than N, P, S and T.
``interaction`` (candidate K; half_width 16)
    XOR of residue classes. Ks are thinned left to right (a K within 2 residues of an end or within
    4 residues of the previous kept K is replaced by a background letter other than K), so the
    class positions of kept Ks never overlap. Each kept K is positive with probability
    ``positive_rate`` (default 0.3). Position -2 gets class c, hydrophobic or charged with
    probability 1/2 each; position +2 gets class c for positives and the other class for negatives.
    Letters are drawn within the class by background frequency (hydrophobic ``FILV``, charged
    ``DER``; K is left out as it is the candidate). Each position's letter distribution is the same
    in positives and negatives, so a model additive over positions (logistic regression on one-hot)
    is at chance, while ``class(-2) == class(+2)`` separates the labels exactly.
``acidic`` (candidates S, T; half_width 16)
    A physical rule, CK2-like (S/T-x-x-[DE] with acidic neighbours). Spaced picking (m = 3,
    default rate 0.2). Every positive gets an acidic residue, D or E by background frequency, at
    +1 and at +3 (the in-range part only); negatives are background. The rule is one property,
    negative charge, at two offsets: a model on residue properties can state it as such.
"""

from __future__ import annotations

import argparse
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kanbio.data.alphabet import ALPHABET, to_letters
from kanbio.errors import InputError

# Approximate UniProtKB/Swiss-Prot amino-acid composition (%), normalised below; X never drawn.
_COMPOSITION = {
    "A": 8.25, "R": 5.53, "N": 4.06, "D": 5.45, "C": 1.37, "Q": 3.93, "E": 6.75,
    "G": 7.07, "H": 2.27, "I": 5.96, "L": 9.66, "K": 5.84, "M": 2.42, "F": 3.86,
    "P": 4.70, "S": 6.56, "T": 5.34, "W": 1.08, "Y": 2.92, "V": 6.87,
}  # fmt: skip
BACKGROUND = np.array([_COMPOSITION.get(c, 0.0) for c in ALPHABET])
BACKGROUND /= BACKGROUND.sum()  # (21,) probabilities indexed like ALPHABET, X = 0

KINASE_MOTIF_RATE = 0.8  # fraction of kinase positives carrying R(-3) and P(+1)
SEQUON_DECOY_KEEP = 0.3  # chance sequons on negatives kept with this probability
FLANK_COPY_RATE = 0.5  # tutorial_fixed: chance that a background K copies itself into a flank
HYDROPHOBIC, CHARGED = "FILV", "DER"  # interaction classes (K excluded: it is the candidate)

_CLASS_LETTERS = "".join(c for c in ALPHABET if c in HYDROPHOBIC + CHARGED)  # "RDEILFV"
_I = {c: i for i, c in enumerate(ALPHABET)}
_LUT_BITS = 16
_LUT = np.repeat(  # uint16 draw -> alphabet index, P(index) = BACKGROUND to within 2**-16
    np.arange(len(ALPHABET), dtype=np.uint8),
    np.diff(np.round(np.concatenate([[0], np.cumsum(BACKGROUND)]) * 2**_LUT_BITS).astype(int)),
)
assert _LUT.size == 2**_LUT_BITS


@dataclass(frozen=True)
class TaskSpec:
    """A synthetic task: candidate residues, default window half width and positive rate."""

    name: str
    residues: str
    half_width: int
    positive_rate: float | None  # None: the rule fixes the labels
    truth: tuple[tuple[int, str, str], ...]  # (offset, residues, role) per planted position
    description: str


TASKS: dict[str, TaskSpec] = {
    t.name: t
    for t in (
        TaskSpec("tutorial", "KS", 2, None, ((0, "K", "required"),),
                 "label = centre is K (K -> 1, S -> 0): the label leaks through the centre"),
        TaskSpec("tutorial_fixed", "K", 2, 0.9,
                 tuple((o, "K", "depleted") for o in (-2, -1, 1, 2)),
                 "a K at -2, -1, +1 or +2 forces label 0; other Ks positive with probability p"),
        TaskSpec("kinase", "ST", 16, 0.2, ((-3, "R", "enriched"), (1, "P", "enriched")),
                 "80% of positives carry R at -3 and P at +1; negatives are background"),
        TaskSpec("sequon", "N", 16, 0.25, ((1, "P", "depleted"), (2, "ST", "required")),
                 "N-X-[ST], X != P on every positive; ~30% of chance sequons kept as decoys"),
        TaskSpec("acidic", "ST", 16, 0.2, ((1, "DE", "enriched"), (3, "DE", "enriched")),
                 "every positive carries an acidic residue (D or E) at +1 and +3"),
        TaskSpec("interaction", "K", 16, 0.3,
                 tuple((o, _CLASS_LETTERS, "interaction") for o in (-2, 2)),
                 "label = residue classes at -2 and +2 agree (hydrophobic FILV / charged DER)"),
    )
}  # fmt: skip


@dataclass(frozen=True)
class SyntheticSet:
    """Generated proteins with their positive sites and the planted ground truth.

    ``proteins`` holds ``(id, sequence, positives)`` with 1-based positive positions (sorted);
    ``truth`` holds ``(offset, residues, role)`` per planted position.
    """

    task: str
    proteins: list[tuple[str, str, tuple[int, ...]]]
    truth: list[tuple[int, str, str]]
    residues: str
    half_width: int

    def summary(self) -> dict[str, float | int]:
        """Counts of proteins, residues, candidates and positives, and the positive fraction."""
        cand = sum(sum(seq.count(r) for r in self.residues) for _, seq, _ in self.proteins)
        pos = sum(len(p) for _, _, p in self.proteins)
        return {
            "proteins": len(self.proteins),
            "residues": sum(len(s) for _, s, _ in self.proteins),
            "candidates": cand,
            "positives": pos,
            "positive_rate": round(pos / cand, 4) if cand else 0.0,
        }


# ------------------------------------------------------------------------------------ sampling
def _background(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` i.i.d. background residues as uint8 alphabet indices, shape (n,)."""
    return _LUT[rng.integers(0, 2**_LUT_BITS, size=n, dtype=np.uint16)]


def _draw(rng: np.random.Generator, letters: str, n: int | tuple[int, ...]) -> np.ndarray:
    """Letters drawn by background frequency restricted to ``letters``, as uint8 indices."""
    idx = np.array([_I[c] for c in letters], dtype=np.uint8)
    p = BACKGROUND[idx] / BACKGROUND[idx].sum()
    return rng.choice(idx, size=n, p=p)


def _except(letters: str) -> str:
    """The 20 amino acids minus ``letters``."""
    return "".join(c for c in ALPHABET[:20] if c not in letters)


def benchmark_proteome(n_residues: int, seed: int = 0) -> np.ndarray:
    """One long uint8 array of background residues (alphabet indices), shape (n_residues,).

    Vectorised in chunks of 2**24 residues: 50 M residues take about a second.
    """
    rng = np.random.default_rng(seed)
    out = np.empty(n_residues, dtype=np.uint8)
    step = 1 << 24
    for i in range(0, n_residues, step):
        out[i : i + step] = _background(rng, min(step, n_residues - i))
    return out


# ------------------------------------------------------------------------------- planting rules
def _pick(cands: np.ndarray, rng: np.random.Generator, rate: float, gap: int) -> list[int]:
    """Keep each candidate with probability ``rate``, skipping any within ``gap`` of the last."""
    u = rng.random(cands.size)
    out: list[int] = []
    last = -(10**9)
    for p, x in zip(cands.tolist(), u.tolist(), strict=True):
        if x < rate and p - last > gap:
            out.append(p)
            last = p
    return out


def _flank_hit(seq: np.ndarray, sites: np.ndarray, offsets: Sequence[int], code: int) -> np.ndarray:
    """(len(sites),) bool: ``code`` occurs at any in-range ``site + offset``."""
    hit = np.zeros(sites.size, dtype=bool)
    for o in offsets:
        q = sites + o
        ok = (q >= 0) & (q < seq.size)
        hit[ok] |= seq[q[ok]] == code
    return hit


def _tutorial(seq: np.ndarray, rng: np.random.Generator, rate: float | None) -> list[int]:
    return np.flatnonzero(seq == _I["K"]).tolist()


def _tutorial_fixed(seq: np.ndarray, rng: np.random.Generator, rate: float) -> list[int]:
    k = _I["K"]
    ks = np.flatnonzero(seq == k)
    copy = rng.random(ks.size) < FLANK_COPY_RATE
    dest = ks + rng.choice(np.array([-2, -1, 1, 2]), size=ks.size)
    dest = dest[copy & (dest >= 0) & (dest < seq.size)]
    seq[dest] = k
    ks = np.flatnonzero(seq == k)
    keep = ~_flank_hit(seq, ks, (-2, -1, 1, 2), k) & (rng.random(ks.size) < rate)
    return ks[keep].tolist()


def _kinase(seq: np.ndarray, rng: np.random.Generator, rate: float) -> list[int]:
    cands = np.flatnonzero((seq == _I["S"]) | (seq == _I["T"]))
    pos = _pick(cands, rng, rate, 6)
    motif = rng.random(len(pos)) < KINASE_MOTIF_RATE
    for p, m in zip(pos, motif.tolist(), strict=True):
        if m:
            if p >= 3:
                seq[p - 3] = _I["R"]
            if p + 1 < seq.size:
                seq[p + 1] = _I["P"]
    return pos


def _sequon(seq: np.ndarray, rng: np.random.Generator, rate: float) -> list[int]:
    n, p_, s_, t_ = _I["N"], _I["P"], _I["S"], _I["T"]
    cands = np.flatnonzero(seq == n)
    pos = np.array(_pick(cands[cands + 2 < seq.size], rng, rate, 4), dtype=np.int64)
    seq[pos + 2] = rng.choice(np.array([s_, t_], dtype=np.uint8), size=pos.size)
    fix = pos[seq[pos + 1] == p_] + 1
    seq[fix] = _draw(rng, _except("NP"), fix.size)
    # negatives carrying the sequon by chance: keep as decoys or break at +2. Breaking writes
    # neither N, P, S nor T, so it cannot change any other N's sequon status.
    neg = np.setdiff1d(np.flatnonzero(seq == n), pos)
    neg = neg[neg + 2 < seq.size]
    chance = neg[(seq[neg + 1] != p_) & np.isin(seq[neg + 2], (s_, t_))]
    brk = chance[rng.random(chance.size) >= SEQUON_DECOY_KEEP] + 2
    seq[brk] = _draw(rng, _except("NPST"), brk.size)
    return pos.tolist()


def _acidic(seq: np.ndarray, rng: np.random.Generator, rate: float) -> list[int]:
    cands = np.flatnonzero((seq == _I["S"]) | (seq == _I["T"]))
    pos = np.array(_pick(cands, rng, rate, 6), dtype=np.int64)
    for o in (1, 3):
        at = pos[pos + o < seq.size] + o
        seq[at] = _draw(rng, "DE", at.size)
    return pos.tolist()


def _interaction(seq: np.ndarray, rng: np.random.Generator, rate: float) -> list[int]:
    k, size = _I["K"], seq.size
    kept, drop, last = [], [], -(10**9)
    for p in np.flatnonzero(seq == k).tolist():
        if 2 <= p < size - 2 and p - last >= 5:
            kept.append(p)
            last = p
        else:
            drop.append(p)
    seq[drop] = _draw(rng, _except("K"), len(drop))
    at = np.array(kept, dtype=np.int64)
    label = rng.random(at.size) < rate
    left = rng.random(at.size) < 0.5  # True: hydrophobic class at -2
    right = left == label  # positives agree, negatives disagree
    hyd, chg = _draw(rng, HYDROPHOBIC, (2, at.size)), _draw(rng, CHARGED, (2, at.size))
    seq[at - 2] = np.where(left, hyd[0], chg[0])
    seq[at + 2] = np.where(right, hyd[1], chg[1])
    return at[label].tolist()


_RULES: dict[str, Callable[[np.ndarray, np.random.Generator, float], list[int]]] = {
    "tutorial": _tutorial,
    "tutorial_fixed": _tutorial_fixed,
    "kinase": _kinase,
    "sequon": _sequon,
    "acidic": _acidic,
    "interaction": _interaction,
}


# ---------------------------------------------------------------------------------- generation
def generate(
    task: str,
    n_proteins: int,
    seed: int = 0,
    length: tuple[int, int] = (150, 400),
    positive_rate: float | None = None,
) -> SyntheticSet:
    """Generate a synthetic proteome for ``task`` (a key of :data:`TASKS`).

    Parameters
    ----------
    task : task name; the rules are in the module docstring.
    n_proteins : number of proteins, ids ``syn_<task>_00001`` ...
    seed : seed of the numpy Generator (mixed with the task name); same inputs, same output.
    length : inclusive range of protein lengths, drawn uniformly.
    positive_rate : per-candidate marking probability; None takes the task default.

    Returns
    -------
    SyntheticSet with 1-based positive positions per protein and the task's ground truth.
    """
    if task not in TASKS:
        raise InputError(f"unknown task '{task}' (choose from {', '.join(TASKS)})", record="task")
    spec = TASKS[task]
    if isinstance(n_proteins, bool) or not isinstance(n_proteins, (int, np.integer)):
        raise InputError(f"number of proteins must be an integer, got {n_proteins!r}")
    if n_proteins < 1:
        raise InputError(f"number of proteins must be at least 1, got {n_proteins}")
    lo, hi = (int(x) for x in length)
    if not 10 <= lo <= hi:
        raise InputError(f"length range must satisfy 10 <= min <= max, got {lo}..{hi}")
    if spec.positive_rate is None and positive_rate is not None:
        raise InputError(f"task '{task}' takes no positive rate: its rule fixes the labels")
    rate = spec.positive_rate if positive_rate is None else float(positive_rate)
    if rate is not None and not 0.0 <= rate <= 1.0:
        raise InputError(f"positive rate must lie in [0, 1], got {rate}")

    rng = np.random.default_rng([int(seed), zlib.crc32(task.encode())])
    lengths = rng.integers(lo, hi + 1, size=n_proteins)
    seqs = np.split(_background(rng, int(lengths.sum())), np.cumsum(lengths)[:-1])
    rule = _RULES[task]
    proteins = []
    for i, seq in enumerate(seqs, start=1):
        pos = rule(seq, rng, rate)  # plants in place; 0-based positives
        proteins.append((f"syn_{task}_{i:05d}", to_letters(seq), tuple(p + 1 for p in sorted(pos))))
    return SyntheticSet(task, proteins, list(spec.truth), spec.residues, spec.half_width)


def write(data: SyntheticSet, out_dir: str | Path, name: str | None = None) -> dict[str, Path]:
    """Write ``<name>.fasta``, ``<name>.sites.tsv`` and ``<name>.truth.tsv`` into ``out_dir``.

    FASTA has one line per sequence; tables are tab-separated with a header. Returns the paths.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    name = name or data.task
    paths = {k: out / f"{name}.{k}" for k in ("fasta", "sites.tsv", "truth.tsv")}
    fasta = "".join(f">{pid}\n{seq}\n" for pid, seq, _ in data.proteins)
    sites = ["protein_id\tposition\n"] + [
        f"{pid}\t{p}\n" for pid, _, pos in data.proteins for p in pos
    ]
    truth = ["offset\tresidues\trole\n"] + [f"{o}\t{r}\t{role}\n" for o, r, role in data.truth]
    for key, text in zip(paths, (fasta, "".join(sites), "".join(truth)), strict=True):
        with open(paths[key], "w", encoding="ascii", newline="\n") as fh:
            fh.write(text)
    return paths


# ----------------------------------------------------------------------------------------- CLI
def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the generator's options to ``parser`` (shared by ``python -m`` and the kanbio CLI)."""
    parser.add_argument("--task", required=True, choices=list(TASKS), help="which rule to plant")
    parser.add_argument("--proteins", type=int, default=300, help="number of proteins")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--out", default=".", help="output folder")
    parser.add_argument("--name", default=None, help="file stem (default: the task name)")
    parser.add_argument(
        "--length",
        type=int,
        nargs=2,
        default=(150, 400),
        metavar=("MIN", "MAX"),
        help="inclusive protein length range",
    )
    parser.add_argument(
        "--positive-rate",
        type=float,
        default=None,
        help="per-candidate marking probability (default: the task's)",
    )
    return parser


def run(args: argparse.Namespace) -> dict[str, Path]:
    """Generate and write one data set as described by parsed ``args``; print a one-line summary."""
    data = generate(args.task, args.proteins, args.seed, tuple(args.length), args.positive_rate)
    paths = write(data, args.out, args.name)
    s = data.summary()
    print(
        f"{args.name or args.task}: {s['proteins']} proteins, {s['candidates']} candidates "
        f"({data.residues}), {s['positives']} positives ({s['positive_rate']:.1%}) "
        f"-> {paths['fasta'].with_suffix('')}.{{fasta,sites.tsv,truth.tsv}}"
    )
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m kanbio.data.synthetic --task kinase --proteins 300 --seed 1 --out data/demo``."""
    parser = add_arguments(
        argparse.ArgumentParser(
            prog="kanbio synthetic",
            description=__doc__,
            formatter_class=argparse.RawTextHelpFormatter,
        )
    )
    args = parser.parse_args(argv)
    try:
        run(args)
    except InputError as err:
        parser.exit(2, f"error: {err}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
