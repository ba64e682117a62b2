"""The repository's own checks: ruff, snakefmt and snakemake --lint must be clean."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run(cmd: list[str]) -> subprocess.CompletedProcess:
    if shutil.which(cmd[0]) is None:
        pytest.skip(f"{cmd[0]} is not installed (pip install -e '.[dev]')")
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)


def test_ruff_clean():
    res = run(["ruff", "check", "."])
    assert res.returncode == 0, res.stdout + res.stderr


def test_snakefmt_clean():
    res = run(["snakefmt", "--check", "."])
    assert res.returncode == 0, res.stdout + res.stderr


def test_snakemake_lint_clean():
    res = run(["snakemake", "--lint", "--configfile", "config/config.yaml"])
    out = res.stdout + res.stderr
    assert res.returncode == 0 and "Lints for" not in out, out
