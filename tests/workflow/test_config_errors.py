"""A mistyped config key stops Snakemake with kanbio's one-line message and its suggestion."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(shutil.which("snakemake") is None,
                                reason="snakemake is not installed (pip install -e '.[dev]')")


@pytest.mark.parametrize("config, hint", [
    ("halfwidth: 5\ndatasets:\n  d:\n    fasta: x.fasta\n    residues: K\n",
     "unknown config key 'halfwidth' (did you mean 'half_width'?)"),
    ("datasets:\n  d:\n    fasta: x.fasta\n    residue: K\n",
     "unknown config key 'residue' in datasets.d (did you mean 'residues'?)"),
])
def test_unknown_key_is_one_line_with_a_suggestion(tmp_path: Path, config: str, hint: str):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(config)
    res = subprocess.run(["snakemake", "-n", "--snakefile", str(REPO / "Snakefile"),
                          "--directory", str(tmp_path), "--configfile", str(cfg)],
                         capture_output=True, text=True, timeout=300)
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert hint in out
    assert "Traceback" not in out and len(out.splitlines()) < 10, out


def test_the_message_names_the_config_file(tmp_path: Path):
    cfg = tmp_path / "study.yaml"
    cfg.write_text("datasets:\n  d:\n    fasta: x.fasta\n    residues: K\nexplain: {seeds: [7]}\n")
    res = subprocess.run(["snakemake", "-n", "--snakefile", str(REPO / "Snakefile"),
                          "--directory", str(tmp_path), "--configfile", str(cfg)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode != 0
    assert (f"kanbio: error: {cfg}: config key 'explain.seeds': [7] not among the trained seeds"
            in res.stdout + res.stderr)


BASE = {"datasets": {"d": {"fasta": "x.fasta", "residues": "K"}},
        "models": {"kan": {"type": "kan"}, "mlp": {"type": "mlp"}}}
PAGE = {"protocols": {"p": {"title": "P", "datasets": ["d"], "references": [
    {"method": "M", "mcc": 0.3}], "headline": {"metric": "mcc"}}}}


@pytest.mark.parametrize("change, problem", [
    ({"datasets": {"a b": {"fasta": "x.fasta", "residues": "K"}}}, "dataset name 'a b' must be"),
    ({"models": {"kan/1": {"type": "kan"}}}, "model name 'kan/1' must be"),
    ({"compare": ["kan", "cnn"]}, "'compare': needs two different models of 'models' (kan, mlp)"),
    ({"compare": ["kan", "kan"]}, "'compare': needs two different models"),
    ({"models": {"kan": {"type": "kan"}, "mlp": {"type": "mlp", "match": "mlp"}}},
     "'models.mlp.match': 'mlp' is not a KAN of 'models' (KANs: kan)"),
    ({"seeds": [0, 1], "explain": {"seeds": [1, 2]}},
     "'explain.seeds': [2] not among the trained seeds [0, 1]"),
    ({"split": {"fractions": [0.5, 0.2, 0.2]}}, "'split.fractions': train, val and test shares"),
    ({"datasets": {"d": {"fasta": "x.fasta", "residues": "K",
                         "split": {"fractions": [0, 0.5, 0.5]}}}}, "'datasets.d.split.fractions'"),
    ({"results_page": {"protocols": {"p": {"title": "P", "datasets": ["e"]}}}},
     "'results_page.protocols.p.datasets': ['e'] not in 'datasets'"),
    ({"results_page": {"protocols": {"p": {**PAGE["protocols"]["p"],
                                           "headline": {"metric": "auroc"}}}}},
     "reference 0 (M) has no auroc"),
    ({"results_page": {"protocols": {"p": {**PAGE["protocols"]["p"],
                                           "headline": {"metric": "mcc", "reference": 1}}}}},
     "index 1, but the protocol has 1 reference(s)"),
    ({"results_page": {"protocols": {"p": {**PAGE["protocols"]["p"],
                                           "headline": {"metric": "mcc", "model": "cnn"}}}}},
     "'results_page.protocols.p.headline.model': 'cnn' not in 'models'"),
])
def test_names_and_references_are_checked(change: dict, problem: str):
    from kanbio import config as kcfg
    from kanbio.errors import InputError

    kcfg.validate({**BASE, "results_page": PAGE})  # the base itself is valid
    with pytest.raises(InputError, match="^study.yaml: .*" + re.escape(problem)):
        kcfg.validate({**BASE, **change}, "study.yaml")
