"""A mistyped config key stops Snakemake with kanbio's one-line message and its suggestion."""

from __future__ import annotations

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
