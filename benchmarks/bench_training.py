"""Training defaults and tuning: test AUROC of the old and new default KAN, the default MLP,
and KAN / MLP / logistic regression tuned on validation, on prepared windows tables.

Every row goes through the pipeline's own entry points: the default rows are ``kanbio train``
and ``kanbio evaluate`` command lines (printed), the tuned rows run the ``search`` stage on the
train/val splits with the grids of a config file's models (``config/results.yaml`` by default),
then train the chosen spec for every seed. The test split is read only by ``evaluate``.
Prints one Markdown table (mean test AUROC over seeds per dataset, and the mean over the folds
of a protocol) and writes every row to ``<out>/rows.tsv``; ``--table rows.tsv`` prints the table
of an earlier run.

Example (windows tables from ``kanbio prepare``)::

    python benchmarks/bench_training.py --out /tmp/training \\
        --data sumo0=results/sumo_fold0/windows.tsv.gz nglyc0=results/nglyc_fold0/windows.tsv.gz
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from kanbio import config
from kanbio.cli import main as kanbio
from kanbio.stages.evaluate import evaluate
from kanbio.stages.search import search_table, selected_spec
from kanbio.stages.train import train_table

#: Default rows: name -> ``kanbio train`` flags. "old" is the KAN as it was trained before the
#: table parametrisation (spline first layer with its damped learning rate, width 8, early
#: stopping on the validation loss) and the MLP it was matched to (width 80, loss).
CLI_ROWS = {
    "kan, old default": ["--model", "kan", "--hidden", "8", "--first-layer", "spline",
                         "--monitor", "loss"],
    "kan, default": ["--model", "kan"],
    "mlp, old default": ["--model", "mlp", "--hidden", "80", "--monitor", "loss"],
    "mlp, default": ["--model", "mlp"],
    "logistic, default": ["--model", "linear"],
}


def cli_row(name: str, flags: list[str], windows: str, seed: int, out: Path) -> dict:
    cmd = ["train", "--windows", windows, *flags, "--seed", str(seed), "--out", str(out)]
    print("kanbio " + " ".join(cmd), flush=True)
    if kanbio(cmd) != 0:
        raise SystemExit(f"kanbio train failed: {cmd}")
    if kanbio(["evaluate", "--model", str(out), "--windows", windows, "--out",
               str(out / "metrics.json"), "--bootstrap", "100"]) != 0:
        raise SystemExit(f"kanbio evaluate failed for {out}")
    return json.loads((out / "metrics.json").read_text())


def tuned_rows(model: str, spec: dict, windows: str, seeds: list[int], out: Path,
               reference: dict | None) -> tuple[list[dict], dict]:
    choice = search_table(windows, spec, out / "search.tsv", out / "search.json", seed=seeds[0],
                          reference=reference)
    chosen = selected_spec(out / "search.json", spec)
    rows = []
    for seed in seeds:
        d = out / f"seed{seed}"
        train_table(windows, chosen, seed, d, reference=reference, progress=False)
        rows.append(evaluate(d, windows, d / "metrics.json", n_boot=100))
    return rows, choice


def record(dataset: str, row: str, seed: int, m: dict, chosen: str = "") -> dict:
    return {"dataset": dataset, "row": row, "seed": seed, "val_auroc": m["val"]["auroc"],
            "test_auroc": m["test"]["auroc"], "n_params": m["n_params"],
            "n_params_effective": m.get("n_params_effective"), "chosen": chosen}


def markdown(rows: pd.DataFrame) -> str:
    """Mean test AUROC (± sd over seeds) per row and dataset; folds of one protocol (names
    ``<protocol>_fold<k>``) also get their mean over folds."""
    sets = list(dict.fromkeys(rows.dataset))
    groups: dict[str, list[str]] = {}
    for s in sets:
        groups.setdefault(s.split("_fold")[0], []).append(s)
    columns = []  # (title, datasets)
    for g, members in groups.items():
        columns += [(m, [m]) for m in members]
        if len(members) > 1:
            columns.append((f"{g} mean", members))
    means = rows.groupby(["row", "dataset"]).test_auroc.agg(["mean", "std", "count"])
    lines = ["| model | " + " | ".join(t for t, _ in columns) + " |",
             "|" + "---|" * (len(columns) + 1)]
    for r in dict.fromkeys(rows.row):
        cells = []
        for _, members in columns:
            have = [m for m in members if (r, m) in means.index]
            if len(have) < len(members):
                cells.append("—")
            elif len(members) > 1:
                cells.append(f"**{np.mean([means.loc[(r, m)]['mean'] for m in members]):.3f}**")
            else:
                m = means.loc[(r, members[0])]
                sd = f" ± {m['std']:.3f}" if m["count"] > 1 else ""
                cells.append(f"{m['mean']:.3f}{sd}")
        lines.append(f"| {r} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", nargs="+", default=[], help="NAME=windows.tsv.gz ...")
    ap.add_argument("--config", default="config/results.yaml",
                    help="config whose models kan, mlp, logistic give the searched grids")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--rows", nargs="+", default=[*CLI_ROWS, "kan, tuned", "mlp, tuned",
                                                  "logistic, tuned"])
    ap.add_argument("--out", default="training", help="working folder")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--table", help="print the table of an earlier run's rows.tsv and exit")
    args = ap.parse_args()
    if args.table:
        print(markdown(pd.read_csv(args.table, sep="\t")))
        return
    torch.set_num_threads(args.threads)
    models = config.load(args.config)["models"]
    out_root = Path(args.out)
    records = []
    for item in args.data:
        name, windows = item.split("=", 1)
        for row in args.rows:
            t0 = time.perf_counter()
            slug = row.replace(", ", "_").replace(" ", "_")
            if row in CLI_ROWS:
                for seed in args.seeds if not row.startswith("logistic") else args.seeds[:1]:
                    m = cli_row(row, CLI_ROWS[row], windows, seed, out_root / name / slug /
                                f"seed{seed}")
                    records.append(record(name, row, seed, m))
            else:
                kind = row.split(",")[0]
                spec = dict(models[kind])
                seeds = args.seeds if kind != "logistic" else args.seeds[:1]
                ms, choice = tuned_rows(kind, spec, windows, seeds, out_root / name / slug, None)
                chosen = json.dumps(choice["selected"], sort_keys=True)
                records += [record(name, row, s, m, chosen) for s, m in zip(seeds, ms,
                                                                          strict=True)]
            print(f"{name}: {row} done in {time.perf_counter() - t0:.0f} s", flush=True)
            pd.DataFrame(records).to_csv(out_root / "rows.tsv", sep="\t", index=False)
    table = pd.DataFrame(records)
    print(markdown(table))
    chosen = table[table.chosen != ""].groupby(["dataset", "row"]).chosen.first()
    for (d, r), c in chosen.items():
        print(f"{d}, {r}: {c}")


if __name__ == "__main__":
    main()
