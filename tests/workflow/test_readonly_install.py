"""A read-only install, run by a user who cannot write to the package folder nor to $HOME: the
package imports, the command line answers and a KAN trains through the compiled kernels, with at
most one line about the kernels' cache; a writable cache folder, when there is one, is used and
reused by later processes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

import kanbio
from kanbio.models import kernels

pytestmark = [
    pytest.mark.skipif(kernels.numba is None, reason="numba is not importable"),
    pytest.mark.skipif(os.name != "posix", reason="file modes and user ids are POSIX"),
]

REPO = Path(__file__).resolve().parents[2]
KERNELS = (
    "_onehot_sum",
    "_onehot_grad",
    "_onehot_kan_forward",
    "_onehot_kan_backward",
    "_local_forward",
    "_local_backward",
)

PRELUDE = (
    f"KERNELS = {KERNELS!r}\n"
    + r"""
import json, os, sys, tempfile
def writable(folder):
    try:
        tempfile.TemporaryFile(dir=folder).close()
        return True
    except OSError:
        return False
import kanbio
from kanbio.models import kernels
def compiled():
    ds = [getattr(kernels, n) for n in KERNELS]
    return {"signatures": min(len(d.signatures) for d in ds),
            "hits": sum(sum(d.stats.cache_hits.values()) for d in ds),
            "misses": sum(sum(d.stats.cache_misses.values()) for d in ds)}
facts = {"kanbio": kanbio.__file__, "uid": os.getuid(),
         "package_writable": writable(os.path.dirname(kernels.__file__)),
         "home_writable": writable(os.path.expanduser("~"))}
"""
)

TRAIN = (
    r"""
import os, tempfile
tempfile.tempdir = os.environ["HOME"]  # no writable temp dir while the kernels are set up
"""
    + PRELUDE
    + r"""
tempfile.tempdir = None  # (torch's optimisers need one: $TMPDIR)
import runpy
sys.argv = ["kanbio", "--version"]
try:
    runpy.run_module("kanbio.cli", run_name="__main__", alter_sys=True)
except SystemExit as stop:
    facts["cli_exit"] = stop.code
import numpy as np
import torch
from kanbio.data.alphabet import A
from kanbio.models import KAN
from kanbio.train import TrainConfig, fit
rng = np.random.default_rng(0)
x = rng.integers(0, A, (96, 9)).astype(np.uint8)
y = (x[:, 4] == 5).astype(np.int64)
y[:8] = 1
model = KAN([9 * A, 8, 1], window_length=9, seed=0)
hist = fit(model, x, y, cfg=TrainConfig(epochs=2, batch_size=32, progress=False))
out = model(torch.from_numpy(x[:16]))
facts.update(compiled(), cache_dir=kernels.CACHE_DIR, node=type(out.grad_fn).__name__,
             losses=[r["train_loss"] for r in hist.rows])
print(json.dumps(facts))
"""
)

ONE_KERNEL = (
    PRELUDE
    + r"""
import torch
flat = torch.zeros((2, 3), dtype=torch.int64)
kernels.onehot_sum(flat, torch.ones((4, 2)), None)  # compiles (or loads) this kernel only
stats = kernels._onehot_sum.stats
facts.update(cache_dir=kernels.CACHE_DIR, hits=sum(stats.cache_hits.values()),
             misses=sum(stats.cache_misses.values()))
print(json.dumps(facts))
"""
)


def _chmod_tree(root: Path, writable: bool) -> None:
    for folder, _, files in os.walk(root):
        for name in files:
            os.chmod(os.path.join(folder, name), 0o644 if writable else 0o444)
        os.chmod(folder, 0o755 if writable else 0o555)


class Sandbox:
    """A read-only copy of the package, an unwritable home and a way to run Python there as a
    user without write access to either (root drops to ``nobody``)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.pkg = root / "pkg"
        shutil.copytree(
            REPO / "kanbio",
            self.pkg / "kanbio",
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        )
        _chmod_tree(self.pkg, writable=False)  # chmod -R a-w
        self.home = root / "home"
        self.home.mkdir()
        os.chmod(self.home, 0o555)
        self.prefix: list[str] = []
        self.uid, self.gid = os.getuid(), os.getgid()

    def folder(self, name: str) -> Path:
        """A fresh folder the sandbox user can write to."""
        path = self.root / name
        path.mkdir(mode=0o700)
        os.chown(path, self.uid, self.gid)
        return path

    def run(self, args: list[str], **env: str) -> subprocess.CompletedProcess:
        base = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.home),
            "PYTHONPATH": str(self.pkg),
            "LC_ALL": "C.UTF-8",
        }  # no NUMBA_*, no XDG_*
        return subprocess.run(
            [*self.prefix, sys.executable, *args],
            env={**base, **env},
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=300,
        )

    def python(self, script: str, **env: str) -> tuple[dict, list[str]]:
        """Run ``script``: its JSON facts (last stdout line) and its stderr lines."""
        res = self.run(["-c", script], **env)
        assert res.returncode == 0, res.stderr[-3000:]
        facts = json.loads(res.stdout.strip().splitlines()[-1])
        assert facts["kanbio"].startswith(str(self.pkg)), facts
        if facts["package_writable"] or facts["home_writable"]:
            pytest.skip("could not make the package and home unwritable for the test user")
        return facts, res.stderr.splitlines()


def _drop_privileges(box: Sandbox) -> None:
    """As root, run as ``nobody`` through setpriv: plainly if that user can start the interpreter,
    else with CAP_DAC_READ_SEARCH (read access everywhere, no write access), else skip."""
    if os.geteuid() != 0:
        return
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root and setpriv (util-linux) is not installed to drop privileges")
    try:
        import pwd  # noqa: PLC0415

        entry = pwd.getpwnam("nobody")
        box.uid, box.gid = entry.pw_uid, entry.pw_gid
    except KeyError:
        box.uid, box.gid = 65534, 65534
    user = [setpriv, f"--reuid={box.uid}", f"--regid={box.gid}", "--clear-groups"]
    caps = ["--inh-caps=-all,+dac_read_search", "--ambient-caps=-all,+dac_read_search"]
    why = ""
    for prefix in (user, [*user, *caps]):
        box.prefix = prefix
        res = box.run(["-c", "import os, numba; print(os.getuid())"])
        if res.returncode == 0 and res.stdout.strip() == str(box.uid):
            return
        why = (res.stderr.strip().splitlines() or [f"exit {res.returncode}"])[-1]
    pytest.skip(f"cannot run {sys.executable} as uid {box.uid}: {why}")


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    root = Path(tempfile.mkdtemp(prefix="kanbio-ro-"))
    os.chmod(root, 0o755)
    try:
        sandbox = Sandbox(root)
        _drop_privileges(sandbox)
        yield sandbox
    finally:
        _chmod_tree(root, writable=True)
        shutil.rmtree(root, ignore_errors=True)


def cache_lines(stderr: list[str]) -> list[str]:
    return [line for line in stderr if "cache" in line.lower()]


def test_cli_version_runs_without_any_writable_folder(box):
    res = box.run(["-m", "kanbio.cli", "--version"], TMPDIR=str(box.folder("tmp-cli")))
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.strip() == f"kanbio {kanbio.__version__}"
    assert res.stderr == ""  # nothing is compiled, nothing to say


def test_training_without_any_writable_folder_compiles_without_a_cache(box):
    tmp = box.folder("tmp-train")
    facts, stderr = box.python(TRAIN, TMPDIR=str(tmp))
    assert facts["uid"] == box.uid
    assert not (tmp / f"kanbio-numba-{box.uid}").exists()
    assert facts["cli_exit"] == 0
    assert facts["cache_dir"] is None
    assert facts["node"] == "CompiledKANFnBackward"  # the compiled path, not the tensor one
    assert facts["signatures"] >= 1 and facts["hits"] == 0
    assert len(facts["losses"]) == 2 and all(np.isfinite(facts["losses"]))
    lines = cache_lines(stderr)
    assert len(lines) == 1, stderr
    assert lines[0].startswith("kanbio: numba kernels compiled in"), stderr
    assert not any("Traceback" in line or "Warning" in line for line in stderr), stderr


def test_a_writable_temp_dir_holds_the_cache_and_later_processes_load_it(box):
    tmp = box.folder("tmp-cache")
    cold, stderr = box.python(ONE_KERNEL, TMPDIR=str(tmp))
    cache = tmp / f"kanbio-numba-{box.uid}"
    assert cold["cache_dir"] == str(cache)
    assert (cold["hits"], cold["misses"]) == (0, 1)
    assert [p.name.split("-")[0] for p in cache.rglob("*.nbi")] == ["kernels._onehot_sum"]
    assert cache_lines(stderr) == [], stderr
    warm, stderr = box.python(ONE_KERNEL, TMPDIR=str(tmp))
    assert (warm["hits"], warm["misses"]) == (1, 0)  # loaded, not compiled again
    assert cache_lines(stderr) == [], stderr


def test_numba_cache_dir_is_used_when_set(box):
    cache = box.folder("numba-cache")
    facts, stderr = box.python(ONE_KERNEL, NUMBA_CACHE_DIR=str(cache))
    assert facts["cache_dir"] == ""  # numba's own choice: NUMBA_CACHE_DIR
    assert (facts["hits"], facts["misses"]) == (0, 1)
    assert [p.name.split("-")[0] for p in cache.rglob("*.nbi")] == ["kernels._onehot_sum"]
    assert cache_lines(stderr) == [], stderr


def test_a_shared_temp_folder_is_used_only_if_private(tmp_path):
    path = tmp_path / "cache"
    path.mkdir(mode=0o777)
    os.chmod(path, 0o777)  # (whatever the umask)
    assert not kernels._usable(str(path), private=True)
    assert kernels._usable(str(path), private=False)
    os.chmod(path, 0o700)
    assert kernels._usable(str(path), private=True)


def test_a_failed_compilation_falls_back_to_the_tensor_paths(monkeypatch, caplog):
    from kanbio.data.alphabet import A  # noqa: PLC0415
    from kanbio.models import KAN  # noqa: PLC0415

    def broken(dt: type) -> None:
        raise RuntimeError("no\nLLVM today")

    monkeypatch.setattr(kernels, "_compile", broken)
    monkeypatch.setattr(kernels, "_ready", {})
    monkeypatch.setattr(kernels, "_warned", False)
    model = KAN([4 * A, 3, 1], window_length=4, seed=0)
    idx = torch.randint(0, A, (12, 4), dtype=torch.uint8)
    with caplog.at_level("WARNING", logger=kernels.__name__):
        y = model(idx)
        model(idx).sum().backward()
        assert not kernels.warm_up()
    assert type(y.grad_fn).__name__ != "CompiledKANFnBackward"
    assert [r.getMessage() for r in caplog.records] == [
        "kanbio: numba kernels unavailable (RuntimeError: no LLVM today); using the tensor paths"
    ]
    monkeypatch.setattr(kernels, "ACTIVE", False)
    torch.testing.assert_close(model(idx), y)


def test_warm_up_compiles_what_training_and_inference_use():
    """After :func:`kernels.warm_up`, training and predicting a KAN and an MLP in float32 add no
    compiled signature: the warm cache covers the training path."""
    from kanbio.data.alphabet import A  # noqa: PLC0415
    from kanbio.models import (  # noqa: PLC0415
        KAN,
        MLP,
        predict_logit,  # noqa: PLC0415
    )
    from kanbio.train import TrainConfig, fit  # noqa: PLC0415

    assert kernels.warm_up()
    before = {n: len(getattr(kernels, n).signatures) for n in KERNELS}
    rng = np.random.default_rng(1)
    x = rng.integers(0, A, (80, 7)).astype(np.uint8)
    y = (x[:, 3] == 2).astype(np.int64)
    y[:5] = 1
    for model in (KAN([7 * A, 8, 1], window_length=7), MLP([7 * A, 8, 1], window_length=7)):
        assert next(model.parameters()).dtype == torch.float32
        fit(model, x, y, x[:40], y[:40], TrainConfig(epochs=1, batch_size=32, progress=False))
        predict_logit(model, x)
    assert {n: len(getattr(kernels, n).signatures) for n in KERNELS} == before
