"""Published datasets: registry in, checked files out (``<out>/<dataset>/<file>``).

The registry (``kanbio/datasets.yaml``) pins every file to a commit of its source repository and
to a sha256. Each file is taken from a mirror folder (``data_dir``, laid out as
``<data_dir>/<dataset>/<file>``) when given and present there, else downloaded from its URL; it
is written (atomically) only if its sha256 matches. The licence and a ``PROVENANCE.md`` (sources,
hashes, citation) are written next to the data. A file already in place with the right hash is
left alone, so a second fetch does nothing.
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import http.client
import logging
import os
import sys
import urllib.request
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from kanbio import __version__
from kanbio.errors import InputError
from kanbio.output import atomic_path, write_text

log = logging.getLogger("kanbio.fetch")

#: Where fetched datasets go unless told otherwise (git-ignored).
OUT = "data/external"
#: Seconds without an answer after which a download gives up.
TIMEOUT = 60.0
CHUNK = 1 << 20


def registry(path: str | os.PathLike | None = None) -> dict[str, dict[str, Any]]:
    """``{dataset: entry}`` of a registry file (default: the one shipped in the package)."""
    if path is None:
        text = resources.files("kanbio").joinpath("datasets.yaml").read_text()
        where = "kanbio/datasets.yaml"
    else:
        text, where = Path(path).read_text(), str(path)
    data = yaml.safe_load(text) or {}
    datasets = data.get("datasets")
    if not isinstance(datasets, dict) or not datasets:
        raise InputError("a registry needs a 'datasets' mapping", path=where)
    for name, entry in datasets.items():
        for key in ("files", "licence"):
            if not isinstance(entry.get(key), dict):
                raise InputError(f"dataset '{name}' has no '{key}' mapping", path=where)
        lic = entry["licence"]
        for local, spec in [*entry["files"].items(), (lic.get("file"), lic)]:
            if not local or not all(spec.get(k) for k in ("url", "sha256", "size")):
                raise InputError(f"dataset '{name}': file '{local}' needs url, sha256 and size",
                                 path=where)
    return datasets


def entry_of(name: str, reg: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One dataset's registry entry; an unknown name is an error with a suggestion."""
    if name in reg:
        return reg[name]
    hint = difflib.get_close_matches(name, list(reg), n=1)
    tip = f"did you mean '{hint[0]}'?" if hint else f"registered: {', '.join(sorted(reg))}"
    raise InputError(f"no registered dataset '{name}' ({tip})")


def files_of(entry: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{local name: {url, sha256, size}}`` of a dataset, its licence included."""
    lic = entry["licence"]
    return {**entry["files"], lic["file"]: lic}


def sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _copy(stream: Any, dest: str) -> tuple[str, int]:
    """Copy a binary stream to ``dest``; return its sha256 and size."""
    digest, size = hashlib.sha256(), 0
    with open(dest, "wb") as out:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
            out.write(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def download(url: str, dest: str, timeout: float = TIMEOUT) -> tuple[str, int]:
    """Download ``url`` to ``dest``; return its sha256 and size (network errors propagate)."""
    request = urllib.request.Request(url, headers={"User-Agent": f"kanbio/{__version__}"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return _copy(response, dest)


def _present(target: Path, spec: dict[str, Any]) -> bool:
    """Whether ``target`` holds the registered file (a stale copy is logged and replaced)."""
    if not target.is_file():
        return False
    if target.stat().st_size == spec["size"] and sha256(target) == spec["sha256"]:
        return True
    log.warning("%s: not the registered file (sha256 or size differ); fetching it again", target)
    return False


def _get(dataset: str, local: str, spec: dict[str, Any], target: Path,
         data_dir: str | os.PathLike | None, timeout: float) -> str:
    """Put one file at ``target`` from the mirror or its URL; return where it came from."""
    mirror = None if data_dir is None else Path(data_dir) / dataset / local
    with atomic_path(target) as tmp:
        if mirror is not None and mirror.is_file():
            source, how = str(mirror), "mirror"
            with open(mirror, "rb") as fh:
                digest, size = _copy(fh, tmp)
        else:
            source, how = spec["url"], "download"
            try:
                digest, size = download(spec["url"], tmp, timeout)
            except (OSError, http.client.HTTPException, ValueError) as err:
                reason = " ".join(str(err).split()) or type(err).__name__
                if mirror is not None:
                    raise InputError(
                        f"not in the mirror and the download failed ({reason}); put a copy at "
                        f"{mirror}, or download {spec['url']}", path=target) from None
                raise InputError(
                    f"the download failed ({reason}); download {spec['url']} to that path, or "
                    f"put a copy at <mirror>/{dataset}/{local} and pass --data-dir <mirror> "
                    "(workflow: --config data_dir=<mirror>)", path=target) from None
        if digest != spec["sha256"]:
            raise InputError(
                f"sha256 mismatch for {dataset}/{local}: expected {spec['sha256']} "
                f"({spec['size']} bytes), got {digest} ({size} bytes); nothing written",
                path=source)
    log.info("%s: %s from %s", target, "copied" if how == "mirror" else "downloaded", source)
    return how


def provenance_text(name: str, entry: dict[str, Any]) -> str:
    """The ``PROVENANCE.md`` written next to a fetched dataset."""
    lic = entry["licence"]
    lines = [f"# {name}", "", entry.get("description", "").strip(), "",
             f"- Source: {entry.get('repository', '')}, commit {entry.get('commit', '')}",
             f"- Licence: {lic.get('name', '')} ({lic['file']}, from {lic['url']})"]
    if entry.get("note"):
        lines.append(f"- Note: {entry['note'].strip()}")
    lines += [f"- Citation: {' '.join(str(entry.get('citation', '')).split())}", "",
              f"Fetched by kanbio {__version__} (`kanbio fetch {name}`); every file below was "
              "checked against its sha256.", "", "| file | bytes | sha256 | source |",
              "|---|---|---|---|"]
    for local, spec in files_of(entry).items():
        lines.append(f"| `{local}` | {spec['size']} | `{spec['sha256']}` | {spec['url']} |")
    return "\n".join(lines) + "\n"


def fetch(dataset: str, out: str | os.PathLike = OUT, data_dir: str | os.PathLike | None = None,
          files: list[str] | None = None, reg: dict[str, dict[str, Any]] | None = None,
          timeout: float = TIMEOUT) -> dict[str, Any]:
    """Fetch a registered dataset (or some of its ``files``) into ``<out>/<dataset>/``.

    Returns ``{"dataset", "dir", "present", "copied", "downloaded"}`` (lists of local names).
    A file that fails its sha256, or cannot be found nor downloaded, raises one InputError and
    leaves nothing in its place.
    """
    reg = registry() if reg is None else reg
    entry = entry_of(dataset, reg)
    known = files_of(entry)
    wanted = list(known) if files is None else [*files, entry["licence"]["file"]]
    for local in wanted:
        if local not in known:
            hint = difflib.get_close_matches(local, list(known), n=1)
            tip = f" (did you mean '{hint[0]}'?)" if hint else ""
            raise InputError(f"dataset '{dataset}' has no file '{local}'{tip}")
    if data_dir is not None and not Path(data_dir).is_dir():
        raise InputError("mirror folder not found (data_dir / --data-dir)", path=data_dir)
    root = Path(out) / dataset
    done: dict[str, list[str]] = {"present": [], "mirror": [], "download": []}
    for local in dict.fromkeys(wanted):
        target = root / local
        if _present(target, known[local]):
            done["present"].append(local)
        else:
            done[_get(dataset, local, known[local], target, data_dir, timeout)].append(local)
    text = provenance_text(dataset, entry)
    prov = root / "PROVENANCE.md"
    if not prov.is_file() or prov.read_text(encoding="utf-8") != text:
        write_text(text, prov)
    return {"dataset": dataset, "dir": str(root), "present": done["present"],
            "copied": done["mirror"], "downloaded": done["download"]}


# ----------------------------------------------------------------------------------------- CLI
def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``kanbio fetch``."""
    p.add_argument("dataset", nargs="+", help="registered dataset(s): "
                   + ", ".join(sorted(registry())))
    p.add_argument("--data-dir", metavar="MIRROR", help="local mirror laid out as "
                   "MIRROR/<dataset>/<file>, used before the network")
    p.add_argument("--out", default=OUT, help=f"destination (default {OUT})")
    p.add_argument("--timeout", type=float, default=TIMEOUT, help="download timeout (s)")


def run(args: argparse.Namespace) -> int:
    """Run ``kanbio fetch``; one line per dataset on stderr."""
    reg = registry()
    for name in args.dataset:
        entry_of(name, reg)  # every name is checked before anything is fetched
    for name in args.dataset:
        res = fetch(name, args.out, args.data_dir, reg=reg, timeout=args.timeout)
        if res["copied"] or res["downloaded"]:
            print(f"{name}: {len(res['copied'])} file(s) copied from the mirror, "
                  f"{len(res['downloaded'])} downloaded, {len(res['present'])} already there; "
                  f"sha256 checked; licence and PROVENANCE.md in {res['dir']}", file=sys.stderr)
        else:
            print(f"{name}: all {len(res['present'])} files already in {res['dir']} with the "
                  "right sha256; nothing to do", file=sys.stderr)
    return 0
