"""Fetching registered datasets: mirror first, then the URL; sha256 checked; nothing half-written.

Every test runs offline: downloads are replaced by a fake that fails (or serves known bytes).
Most tests use a small registry of fake files with a mirror in tmp_path; the last ones check the
shipped registry against the real datasets in ../shared/data (or $KANBIO_DATA_DIR), skipping with
a reason when that folder is absent.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import subprocess
import urllib.error
from pathlib import Path

import pytest
import yaml

from kanbio import cli
from kanbio import config as kcfg
from kanbio.errors import InputError
from kanbio.stages import fetch as F

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("KANBIO_DATA_DIR", REPO.parent / "shared" / "data"))
needs_shared = pytest.mark.skipif(not SHARED.is_dir(),
                                  reason=f"real datasets not available ({SHARED} is absent)")

CONTENT = {
    "train.fasta": b">P1\nMKK#LLS\n>P2\nMSTK#\n",
    "sub/test.fasta": b">P3\nAK#EE\n",
    "LICENSE.txt": b"Permission is granted to test.\n",
}
URL = "https://example.invalid/demo/0123abcd/"


def spec(name: str) -> dict:
    data = CONTENT[name]
    return {"url": URL + name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


@pytest.fixture
def reg() -> dict:
    return {"demo": {
        "description": "a two-file demo dataset",
        "repository": "https://example.invalid/demo",
        "commit": "0123abcd",
        "licence": {"name": "TEST-1.0", "file": "LICENSE.txt", **spec("LICENSE.txt")},
        "citation": "Doe J. A demo dataset. J Tests 2024;1:1.",
        "files": {"train.fasta": spec("train.fasta"), "sub/test.fasta": spec("sub/test.fasta")},
    }}


@pytest.fixture
def mirror(tmp_path: Path) -> Path:
    root = tmp_path / "mirror"
    for name, data in CONTENT.items():
        (root / "demo" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "demo" / name).write_bytes(data)
    return root


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """No network: every download fails as an unreachable host would; the URLs are recorded."""
    asked: list[str] = []

    def fail(url: str, dest: str, timeout: float = F.TIMEOUT):
        asked.append(url)
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(F, "download", fail)
    return asked


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def run_cli(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str]:
    rc = cli.main(argv)
    return rc, capsys.readouterr().err


def test_fetch_from_mirror(tmp_path, reg, mirror, offline):
    res = F.fetch("demo", tmp_path / "out", mirror, reg=reg)
    root = tmp_path / "out" / "demo"
    assert sorted(res["copied"]) == sorted(CONTENT) and not res["downloaded"]
    assert files_under(root) == sorted([*CONTENT, "PROVENANCE.md"])
    for name, data in CONTENT.items():
        assert (root / name).read_bytes() == data
    assert not offline  # nothing was asked of the network


def test_licence_and_citation_written(tmp_path, reg, mirror):
    F.fetch("demo", tmp_path / "out", mirror, files=["train.fasta"], reg=reg)
    root = tmp_path / "out" / "demo"
    assert (root / "LICENSE.txt").read_bytes() == CONTENT["LICENSE.txt"]  # with any file
    assert not (root / "sub").exists()
    text = (root / "PROVENANCE.md").read_text()
    assert "Doe J. A demo dataset. J Tests 2024;1:1." in text
    assert "TEST-1.0" in text and "commit 0123abcd" in text
    for name in CONTENT:
        assert spec(name)["sha256"] in text and spec(name)["url"] in text


def test_second_fetch_does_nothing(tmp_path, reg, mirror, offline):
    out = tmp_path / "out"
    F.fetch("demo", out, mirror, reg=reg)
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    shutil.rmtree(mirror)  # neither the mirror nor the network is needed any more
    res = F.fetch("demo", out, reg=reg)
    assert sorted(res["present"]) == sorted(CONTENT)
    assert not res["copied"] and not res["downloaded"] and not offline
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == before


def test_second_fetch_cli_says_nothing_to_do(tmp_path, reg, mirror, monkeypatch, capsys):
    monkeypatch.setattr(F, "registry", lambda path=None: reg)
    argv = ["fetch", "demo", "--data-dir", str(mirror), "--out", str(tmp_path / "out")]
    assert run_cli(argv, capsys)[0] == 0
    rc, err = run_cli(argv, capsys)
    assert rc == 0 and "nothing to do" in err and len(err.strip().splitlines()) == 1


def test_checksum_mismatch(tmp_path, reg, mirror, monkeypatch, capsys):
    (mirror / "demo" / "train.fasta").write_bytes(b">P1\nMKKLLS\n")  # a '#' lost
    actual = hashlib.sha256(b">P1\nMKKLLS\n").hexdigest()
    monkeypatch.setattr(F, "registry", lambda path=None: reg)
    rc, err = run_cli(["fetch", "demo", "--data-dir", str(mirror), "--out",
                       str(tmp_path / "out")], capsys)
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kanbio: error: ")
    assert "train.fasta" in lines[0] and "mismatch" in lines[0]
    assert spec("train.fasta")["sha256"] in lines[0] and actual in lines[0]
    root = tmp_path / "out" / "demo"
    assert not (root / "train.fasta").exists()
    assert not [p for p in root.rglob("*") if p.is_file()]  # no temporary file either


def test_download_mismatch_leaves_nothing(tmp_path, reg, monkeypatch):
    def serve_wrong(url, dest, timeout=F.TIMEOUT):
        Path(dest).write_bytes(b"<html>rate limited</html>")
        return hashlib.sha256(b"<html>rate limited</html>").hexdigest(), 25

    monkeypatch.setattr(F, "download", serve_wrong)
    with pytest.raises(InputError, match="sha256 mismatch for demo/train.fasta") as err:
        F.fetch("demo", tmp_path / "out", reg=reg)
    assert URL + "train.fasta" in str(err.value)  # the source is named
    assert not [p for p in (tmp_path / "out").rglob("*") if p.is_file()]


def test_download_when_not_in_mirror(tmp_path, reg, mirror, monkeypatch):
    (mirror / "demo" / "sub" / "test.fasta").unlink()
    served = []

    def serve(url, dest, timeout=F.TIMEOUT):
        served.append(url)
        return F._copy(io.BytesIO(CONTENT[url[len(URL):]]), dest)

    monkeypatch.setattr(F, "download", serve)
    res = F.fetch("demo", tmp_path / "out", mirror, reg=reg)
    assert res["downloaded"] == ["sub/test.fasta"] and served == [URL + "sub/test.fasta"]
    assert (tmp_path / "out/demo/sub/test.fasta").read_bytes() == CONTENT["sub/test.fasta"]


def test_missing_file_without_network_names_mirror_and_url(tmp_path, reg, mirror, monkeypatch,
                                                           capsys):
    (mirror / "demo" / "sub" / "test.fasta").unlink()
    monkeypatch.setattr(F, "registry", lambda path=None: reg)
    rc, err = run_cli(["fetch", "demo", "--data-dir", str(mirror), "--out",
                       str(tmp_path / "out")], capsys)
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1
    assert str(mirror / "demo" / "sub" / "test.fasta") in lines[0]
    assert URL + "sub/test.fasta" in lines[0] and "download failed" in lines[0]
    assert not (tmp_path / "out" / "demo" / "sub" / "test.fasta").exists()


def test_no_mirror_no_network_says_how_to_use_one(tmp_path, reg):
    with pytest.raises(InputError) as err:
        F.fetch("demo", tmp_path / "out", reg=reg)
    msg = str(err.value)
    assert "\n" not in msg and URL + "train.fasta" in msg
    assert "<mirror>/demo/train.fasta" in msg and "--data-dir" in msg and "data_dir=" in msg


def test_stale_copy_is_replaced(tmp_path, reg, mirror):
    target = tmp_path / "out" / "demo" / "train.fasta"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"truncated")
    res = F.fetch("demo", tmp_path / "out", mirror, reg=reg)
    assert "train.fasta" in res["copied"] and target.read_bytes() == CONTENT["train.fasta"]


def test_unknown_names(tmp_path, reg, mirror):
    with pytest.raises(InputError, match="did you mean 'demo'"):
        F.fetch("dem0", tmp_path / "out", mirror, reg=reg)
    with pytest.raises(InputError, match="did you mean 'train.fasta'"):
        F.fetch("demo", tmp_path / "out", mirror, files=["train.fa"], reg=reg)
    with pytest.raises(InputError, match="mirror folder not found"):
        F.fetch("demo", tmp_path / "out", tmp_path / "no_such_mirror", reg=reg)


def test_registry_file_is_read_and_checked(tmp_path, reg):
    path = tmp_path / "registry.yaml"
    path.write_text(yaml.safe_dump({"datasets": reg}))
    assert F.registry(path) == reg
    del reg["demo"]["files"]["train.fasta"]["sha256"]
    path.write_text(yaml.safe_dump({"datasets": reg}))
    with pytest.raises(InputError, match="'train.fasta' needs url, sha256 and size"):
        F.registry(path)


# ------------------------------------------------------------------ the shipped registry


def test_shipped_registry_is_pinned():
    reg = F.registry()
    assert {"capsnet_sumo", "capsnet_nglyc", "capsnet_methylr", "lmsuccsite_ksucc"} <= set(reg)
    for name, entry in reg.items():
        repo = entry["repository"].removeprefix("https://github.com/")
        assert re.fullmatch(r"[0-9a-f]{40}", entry["commit"]), name
        raw = f"https://raw.githubusercontent.com/{repo}/{entry['commit']}/"
        assert entry["citation"].strip() and entry["licence"]["name"], name
        for local, spec_ in F.files_of(entry).items():
            assert spec_["url"].startswith(raw), (name, local)
            assert re.fullmatch(r"[0-9a-f]{64}", spec_["sha256"]), (name, local)
            assert isinstance(spec_["size"], int) and spec_["size"] > 0, (name, local)


def test_configs_read_registered_files():
    """Every data/external path of the example configs and config/results.yaml is registered,
    so that the fetch rule makes it."""
    reg = F.registry()
    paths = []
    for cfg in [*sorted((REPO / "config" / "examples").glob("*.yaml")),
                REPO / "config" / "results.yaml"]:
        config = kcfg.load(cfg)
        for ds in config["datasets"]:
            spec_ = kcfg.dataset(config, ds)
            paths += [p for k in kcfg.INPUT_KEYS for p in spec_.get(k, [])]
    external = [p for p in paths if p.startswith(F.OUT + "/")]
    assert len(external) >= 26
    assert not [p for p in paths if "shared/data" in p]
    for path in external:
        dataset, local = path[len(F.OUT) + 1:].split("/", 1)
        assert local in F.files_of(reg[dataset]), path


def test_data_dir_config_key():
    assert kcfg.DEFAULTS["data_dir"] is None
    kcfg.validate({"datasets": {"d": {"residues": "K"}}, "data_dir": "../shared/data"})
    with pytest.raises(InputError, match="did you mean 'data_dir'"):
        kcfg.validate({"datasets": {"d": {"residues": "K"}}, "data_drr": "x"})


@needs_shared
def test_shipped_registry_matches_the_real_files():
    for name, entry in F.registry().items():
        for local, spec_ in F.files_of(entry).items():
            path = SHARED / name / local
            assert path.stat().st_size == spec_["size"], path
            assert F.sha256(path) == spec_["sha256"], path


@needs_shared
def test_fetch_real_dataset_from_mirror(tmp_path, capsys):
    argv = ["fetch", "capsnet_sumo", "lmsuccsite_ksucc", "--data-dir", str(SHARED),
            "--out", str(tmp_path)]
    rc, err = run_cli(argv, capsys)
    assert rc == 0, err
    assert (tmp_path / "lmsuccsite_ksucc/train/fasta/positive_sites.fasta").is_file()
    assert (tmp_path / "capsnet_sumo/LICENSE_GPL-2.0.txt").is_file()
    rc, err = run_cli(argv, capsys)
    assert rc == 0 and err.count("nothing to do") == 2


@needs_shared
@pytest.mark.skipif(shutil.which("snakemake") is None, reason="snakemake is not installed")
def test_fetch_rule_uses_data_dir(tmp_path):
    """The workflow's fetch rule makes a config's input from the mirror given as data_dir."""
    target = "data/external/capsnet_sumo/test_annotated_fold0.fasta"
    env = {**os.environ,
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    res = subprocess.run(
        ["snakemake", "-s", str(REPO / "Snakefile"), "-d", str(tmp_path), "--cores", "1",
         "--configfile", str(REPO / "config/examples/sumo.yaml"),
         "--config", f"data_dir={SHARED}", "--", target],
        capture_output=True, text=True, timeout=300, env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    assert F.sha256(tmp_path / target) == F.registry()["capsnet_sumo"]["files"][
        "test_annotated_fold0.fasta"]["sha256"]
    assert (tmp_path / "data/external/capsnet_sumo/PROVENANCE.md").is_file()
