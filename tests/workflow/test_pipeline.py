"""The Snakemake workflow end to end on a tiny config: every output exists and parses, a second
run does nothing, and a rerun from scratch gives byte-identical tables, reports and figures."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from tiny_study import compared_files, differences, make_study

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(shutil.which("snakemake") is None,
                                reason="snakemake is not installed (pip install -e '.[dev]')")


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = ["snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(REPO / "tests/tiny.yaml"), "--cores", "2", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=1200)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    dirs = []
    for name in ("a", "b"):
        d = tmp_path_factory.mktemp(name)
        make_study(d)
        res = snakemake(d)
        assert res.returncode == 0, res.stderr[-4000:]
        dirs.append(d)
    return dirs


def test_outputs_exist_and_parse(runs):
    res = runs[0] / "results"
    acc = pd.read_csv(res / "kinase/accuracy.tsv", sep="\t")
    seeds = acc[acc.seed.astype(str) != "ensemble"]
    assert sorted(set(seeds.model)) == ["kan", "logistic", "mlp"] and len(seeds) == 6
    ens = acc[acc.seed.astype(str) == "ensemble"]  # one seed-ensemble row per model
    assert sorted(ens.model) == ["kan ×2", "logistic ×2", "mlp ×2"]
    assert acc.groupby("model").n_params.nunique().eq(1).all()
    assert acc.auroc.between(0, 1).all() and (acc.auroc_lo <= acc.auroc_hi).all()
    assert {"n_params", "flops", "train_seconds", "peak_mb"} <= set(acc.columns)
    summary = (res / "kinase/summary.md").read_text()
    assert "Paired AUROC difference kan − mlp" in summary and "precision@k" in summary
    assert "| kan |" in (res / "summary.md").read_text()
    for model in ("kan", "mlp", "logistic"):
        motif = json.loads((res / f"kinase/explain/{model}/seed0/motif.json").read_text())
        assert motif["k"] == 2 and 0 <= motif["precision_at_k"] <= 1
        pos = pd.read_csv(res / f"kinase/explain/{model}/seed0/attribution_positions.tsv",
                          sep="\t")
        assert set(pos.offset) == set(range(-5, 6))
    assert "logit" in (res / "kinase/explain/kan/seed0/formula.txt").read_text()
    for fig in ("kinase_roc", "kinase_pr", "kinase_curves", "accuracy_vs_params",
                "kinase/kan_seed0_network", "kinase/kan_seed0_logo_exact",
                "kinase/mlp_seed0_logo_ism"):
        for ext in ("png", "pdf"):
            assert (res / "figures" / f"{fig}.{ext}").stat().st_size > 1000


def test_search_choice_is_what_trains(runs):
    res = runs[0] / "results"
    for model, n in (("kan", 2), ("logistic", 2)):
        table = pd.read_csv(res / f"kinase/search/{model}.tsv", sep="\t")
        assert len(table) == n and table.selected.sum() == 1
        assert table.val_auroc.between(0, 1).all()
        choice = json.loads((res / f"kinase/search/{model}.json").read_text())
        best = table.loc[table.selected.idxmax()]
        assert choice["val"]["auroc"] == pytest.approx(best.val_auroc, abs=1e-5)
        assert json.loads(best.overrides) == choice["selected"]
        for seed in (0, 1):
            meta = json.loads((res / f"kinase/models/{model}/seed{seed}/model.json").read_text())
            assert meta["spec"] == choice["spec"] and "search" not in meta["spec"]
    # the MLP matches the parameter count of the KAN that the search chose
    kan = json.loads((res / "kinase/models/kan/seed0/model.json").read_text())
    mlp = json.loads((res / "kinase/models/mlp/seed0/model.json").read_text())
    assert abs(mlp["n_params"] - kan["n_params"]) / kan["n_params"] < 0.2


def test_results_page(runs):
    page = (runs[0] / "docs/results.md").read_text()
    assert page.startswith("# Tiny results") and "snakemake --cores 2" in page
    assert "## One test set" in page and "## Two folds" in page and "## At a glance" in page
    assert "- **One test set**: test AUROC kan " in page
    assert "| Published tool (published) |" in page  # no source given
    assert "**Headline.** kanbio kan: MCC" in page and "Published tool's 0.30" in page
    assert "**mean ± sd over folds**" in page and "better in" in page
    assert "**Model selection**" in page and "grid=2" in page and "C=0.1" in page
    for fig in ("single_roc", "folds_folds", "single_logo", "folds_logo"):
        assert (runs[0] / "docs/figures" / f"{fig}.png").stat().st_size > 1000
        assert f"figures/{fig}.png" in page


def test_second_run_does_nothing(runs):
    res = snakemake(runs[0])
    assert res.returncode == 0 and "Nothing to be done" in res.stdout + res.stderr


def test_rerun_from_scratch_is_byte_identical(runs):
    assert len(compared_files(runs[0] / "results")) > 40
    different = differences(*runs)
    assert not different, different
