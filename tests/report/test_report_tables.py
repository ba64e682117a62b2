"""kanbio.report.tables and the table stages: accuracy table, summaries, paired comparison."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from report_cases import SEEDS, read_json, seed_files, write_study

from kanbio.cli import main
from kanbio.metrics import METRICS, auroc, paired_auroc_difference
from kanbio.output import read_table
from kanbio.report import tables
from kanbio.stages import report


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    return root, write_study(root)


def test_accuracy_table_columns_and_values(study):
    _, files = study
    metrics = seed_files(files, "toy", "metrics")
    # given out of order: rows come sorted by model, then seed
    shuffled = {m: dict(reversed(list(metrics[m].items()))) for m in reversed(list(metrics))}
    acc = tables.accuracy_table("toy", shuffled)
    assert list(acc.columns) == tables.COLUMNS
    assert list(zip(acc.model, acc.seed, strict=True)) == [(m, s) for m in ("kan", "mlp")
                                                            for s in SEEDS]
    for _, row in acc.iterrows():
        m = read_json(metrics[row.model][row.seed])
        assert row.dataset == "toy" and row.type == m["type"]
        for k in METRICS:
            assert row[k] == m["test"][k]
            assert (row[f"{k}_lo"], row[f"{k}_hi"]) == tuple(m["ci95"][k])
        assert (row.threshold, row.n_params, row.flops) == (0.0, m["n_params"], m["flops"])
        assert (row.train_seconds, row.peak_mb) == (m["train_seconds"], m["peak_rss_mb"])


def test_mean_sd():
    assert tables.mean_sd(pd.Series([0.5, 0.7])) == "0.600 ± 0.141"
    assert tables.mean_sd([0.25]) == "0.250 ± 0.000"
    assert tables.mean_sd([0.5, np.nan, 0.7], digits=2) == "0.60 ± 0.14"
    assert tables.mean_sd([np.nan]) == tables.mean_sd([]) == "n/a"


def test_test_scores_align_rows_by_site(study):
    _, files = study
    paths = list(seed_files(files, "toy", "predictions")["kan"].values())
    y, scores = tables.test_scores(paths)
    assert scores.shape == (len(SEEDS), len(y))
    first = read_table(paths[0])
    test = first[first.split == "test"].sort_values(["protein_id", "position"])
    assert (y == test.label.to_numpy()).all()
    assert np.allclose(scores[0], test.score.to_numpy())
    other = seed_files(files, "toy2", "predictions")["kan"][0]
    with pytest.raises(ValueError, match="different test windows"):
        tables.test_scores([paths[0], other])


def published_compare(y, sa, sb, n_boot, seed=0):
    """The paired comparison as the pipeline has always computed it: a per-resample loop."""
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    boots = []
    for _ in range(n_boot):
        idx = np.concatenate([rng.choice(pos, len(pos)), rng.choice(neg, len(neg))])
        boots.append(np.mean([auroc(y[idx], s[idx]) for s in sa])
                     - np.mean([auroc(y[idx], s[idx]) for s in sb]))
    lo, hi = np.quantile(boots, [0.025, 0.975])
    diff = np.mean([auroc(y, s) for s in sa]) - np.mean([auroc(y, s) for s in sb])
    return float(diff), float(lo), float(hi)


def test_compare_is_the_paired_auroc_difference(study):
    _, files = study
    preds = seed_files(files, "toy", "predictions")
    a, b = (list(preds[m].values()) for m in ("kan", "mlp"))
    res = tables.compare(a, b, n_boot=200, seed=3)
    (y, sa), (_, sb) = tables.test_scores(a), tables.test_scores(b)
    assert res == paired_auroc_difference(y, sa, sb, n_boot=200, seed=3)
    # the seed-mean statistic on the stream the published summaries were computed with
    assert (res["diff"], res["lo"], res["hi"]) == published_compare(y, sa, sb, 200, seed=3)
    assert res["auroc_a"] == pytest.approx(np.mean([auroc(y, s) for s in sa]))
    with pytest.raises(ValueError, match="different test labels"):
        tables.compare_scores(y, sa, 1 - y, sb, n_boot=10)


def test_dataset_summary_names_a_winner_only_outside_the_ci(study):
    _, files = study
    acc = tables.accuracy_table("toy", seed_files(files, "toy", "metrics"))
    text = tables.dataset_summary("toy", acc, {"diff": 0.1, "lo": 0.05, "hi": 0.15},
                                  description="a toy dataset")
    assert text.startswith("# toy\n\na toy dataset\n")
    assert "| kan | 2 | " in text and "| 120 | 240 |" in text
    assert "+0.1000 [95% CI +0.0500, +0.1500] — **kan** is better." in text
    worse = tables.dataset_summary("toy", acc, {"diff": -0.1, "lo": -0.15, "hi": -0.05})
    assert "**mlp** is better" in worse
    tie = tables.dataset_summary("toy", acc, {"diff": 0.0, "lo": -0.1, "hi": 0.1})
    assert "no winner: the CI includes 0" in tie
    assert "Paired AUROC" not in tables.dataset_summary("toy", acc, None)


def test_aggregate_stage_and_study_summary(study, tmp_path):
    root, files = study
    for ds in files:
        report.aggregate(ds, {k: seed_files(files, ds, k) for k in
                              ("metrics", "predictions", "motif")},
                         tmp_path / ds / "accuracy.tsv", tmp_path / ds / "summary.md",
                         n_boot=100)
    acc = read_table(tmp_path / "toy/accuracy.tsv")
    assert len(acc) == 6 and list(acc.columns) == tables.COLUMNS  # 2 models x 2 seeds + ensembles
    ens = acc[acc.seed.astype(str) == "ensemble"]
    assert list(ens.model) == ["kan ×2", "mlp ×2"]
    preds = seed_files(files, "toy", "predictions")
    y, per_seed = tables.test_scores(list(preds["kan"].values()))
    assert ens.auroc.iloc[0] == pytest.approx(auroc(y, per_seed.mean(0)))
    assert ens.auroc_lo.iloc[0] < ens.auroc.iloc[0] < ens.auroc_hi.iloc[0]
    text = (tmp_path / "toy/summary.md").read_text()
    assert "| kan ×2 | ensemble |" in text
    preds = seed_files(files, "toy", "predictions")
    c = tables.compare(list(preds["kan"].values()), list(preds["mlp"].values()), n_boot=100)
    assert f"{c['diff']:+.4f} [95% CI {c['lo']:+.4f}, {c['hi']:+.4f}]" in text
    assert "| kan (seed 0) | ism | -3 | R | enriched | +4.0 | found |" in text
    report.study_summary([tmp_path / ds / "accuracy.tsv" for ds in files], tmp_path / "s.md")
    summary = (tmp_path / "s.md").read_text()
    assert summary.startswith("# kanbio study summary")
    assert summary.count("\n| toy |") == 4 and summary.count("\n| toy2 |") == 4
    kan = acc[acc.model == "kan"]
    assert f"| toy | kan | {tables.mean_sd(kan.auroc)} |" in summary


def test_report_command(study, tmp_path, capsys):
    root, files = study
    folders = [str(root / "toy/models/kan/seed0"), str(root / "toy/models/kan/seed1")]
    argv = ["report", "--dataset", "toy", "--model", "kan", *folders, "--model", "mlp",
            str(root / "toy/models/mlp/seed0"), str(root / "toy/models/mlp/seed1"),
            "--out", str(tmp_path / "toy"), "--bootstrap", "100",
            "--study-summary", str(tmp_path / "summary.md")]
    assert main(argv) == 0
    made = {"metrics": seed_files(files, "toy", "metrics"),
            "predictions": seed_files(files, "toy", "predictions")}
    report.aggregate("toy", made, tmp_path / "a.tsv", tmp_path / "a.md", n_boot=100)
    assert (tmp_path / "toy/accuracy.tsv").read_bytes() == (tmp_path / "a.tsv").read_bytes()
    assert (tmp_path / "toy/summary.md").read_bytes() == (tmp_path / "a.md").read_bytes()
    assert "| toy | mlp |" in (tmp_path / "summary.md").read_text()
    assert main(["report", "--dataset", "toy", "--model", "kan", folders[0], folders[0],
                 "--out", str(tmp_path / "x")]) == 2
    assert "seed 0 given twice" in capsys.readouterr().err
    assert main(["report", "--dataset", "toy", "--model", "kan", str(tmp_path),
                 "--out", str(tmp_path / "x")]) == 2
    assert "no metrics.json" in capsys.readouterr().err


def test_validation_far_above_test_is_a_warning():
    acc = pd.DataFrame({"model": ["kan", "kan", "mlp"], "val_auroc": [0.97, 0.95, 0.70],
                        "auroc": [0.60, 0.62, 0.68]})
    warnings = tables.validation_gaps(acc)
    assert len(warnings) == 1 and warnings[0].startswith("kan: validation AUROC 0.960 exceeds "
                                                         "test AUROC 0.610 by 0.350")
    assert tables.validation_gaps(acc, gap=0.4) == []
    acc["auroc"] = acc.val_auroc - 0.01
    assert tables.validation_gaps(acc) == []
