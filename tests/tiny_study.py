"""The tiny study of the end-to-end tests (tests/tiny.yaml): its synthetic data, and the
comparison of two runs of it, which must agree in every table, report and figure except the
run-time fields (training wall time and peak memory, search timings).

Used by tests/test_pipeline.py and, as a script, by .ci/slurm:
    python3 tests/tiny_study.py data WORKDIR       # write WORKDIR/data/
    python3 tests/tiny_study.py compare DIR_A DIR_B  # exit 1 and list what differs
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pandas as pd

# run-dependent fields: wall time and memory of training (everything else must be identical)
VOLATILE_JSON = {"train_seconds", "peak_rss_mb", "windows", "model"}
VOLATILE_COLUMNS = {"train_seconds", "peak_mb"}
COMPARED_SUFFIXES = {".tsv", ".md", ".json", ".png", ".gz", ".txt", ".tex"}
PAGE = Path("docs/results.md")


def make_study(workdir: Path) -> None:
    """The two synthetic kinase datasets that tests/tiny.yaml names, under workdir/data."""
    from kanbio.data.synthetic import generate, write

    write(generate("kinase", 40, seed=11), workdir / "data", "kinase")
    write(generate("kinase", 30, seed=12), workdir / "data", "kinase2")


def normalised(path: Path) -> bytes | str:
    if path.suffix == ".json":
        data = json.loads(path.read_text())
        if isinstance(data, dict):
            data = {k: v for k, v in data.items() if k not in VOLATILE_JSON}
        return json.dumps(data, sort_keys=True)
    if path.name == "accuracy.tsv" or path.parent.name == "search":
        table = pd.read_csv(path, sep="\t")
        return table.drop(columns=list(VOLATILE_COLUMNS & set(table.columns))).to_csv()
    return path.read_bytes()


def masked_page(path: Path) -> str:
    """The results page without its training times (the "train s" column and "<t> s")."""
    text = re.sub(r"^(\| kanbio \w+ \| [\d,]+ \| )[\d.]+ \|", r"\1t |", path.read_text(),
                  flags=re.MULTILINE)
    return re.sub(r"[\d.]+ s\b", "t s", text)


def compared_files(results: Path) -> list[Path]:
    """Outputs under a results/ folder that two runs must agree on (paths relative to it);
    logs and benchmarks are left out."""
    return sorted(p.relative_to(results) for p in results.rglob("*")
                  if p.suffix in COMPARED_SUFFIXES
                  and p.relative_to(results).parts[0] not in {"benchmarks", "logs"})


def differences(a: Path, b: Path) -> list[str]:
    """What differs between the outputs of two work directories: results/ files present in one
    only or different once normalised, and the results page with its times masked."""
    res_a, res_b = a / "results", b / "results"
    files_a, files_b = set(compared_files(res_a)), set(compared_files(res_b))
    out = [f"only in {a}: results/{f}" for f in sorted(files_a - files_b)]
    out += [f"only in {b}: results/{f}" for f in sorted(files_b - files_a)]
    out += [f"differs: results/{f}" for f in sorted(files_a & files_b)
            if normalised(res_a / f) != normalised(res_b / f)]
    page_a, page_b = a / PAGE, b / PAGE
    if page_a.exists() != page_b.exists():
        out.append(f"only in {a if page_a.exists() else b}: {PAGE}")
    elif page_a.exists() and masked_page(page_a) != masked_page(page_b):
        out.append(f"differs: {PAGE}")
    return out


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "data":
        make_study(Path(argv[1]))
        return 0
    if len(argv) == 3 and argv[0] == "compare":
        a, b = Path(argv[1]), Path(argv[2])
        n = len(compared_files(a / "results"))
        found = differences(a, b)
        for line in found:
            print(line)
        print(f"{n} output files compared; {len(found)} differences")
        return 1 if found or n == 0 else 0
    print("usage: tiny_study.py data WORKDIR | compare DIR_A DIR_B", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
