"""Configuration: YAML loading, schema validation with errors that name the key, defaults."""

from __future__ import annotations

import copy
import difflib
import functools
import os
import re
from importlib import resources
from typing import Any

import jsonschema
import yaml

from kanbio.errors import InputError

#: Dataset keys that name input files.
INPUT_KEYS = ("fasta", "sites", "positives", "negatives",
              "test_fasta", "test_sites", "test_positives", "test_negatives")


@functools.cache
def _schema() -> dict:
    text = resources.files("kanbio").joinpath("config.schema.yaml").read_text()
    return yaml.safe_load(text)


def schema() -> dict:
    """The configuration JSON schema (kanbio/config.schema.yaml): the only source of defaults."""
    return copy.deepcopy(_schema())


def _defaults(sch: dict) -> dict[str, Any]:
    """``{key: default}`` of an object schema's properties (nested objects recursively)."""
    out: dict[str, Any] = {}
    for key, prop in sch.get("properties", {}).items():
        if "$ref" in prop:
            prop = _schema()["definitions"][prop["$ref"].split("/")[-1]]
        if "default" in prop:
            out[key] = copy.deepcopy(prop["default"])
        elif prop.get("type") == "object" and _defaults(prop):
            out[key] = _defaults(prop)
    return out


def definition_default(definition: str, key: str) -> Any:
    """The schema's default of ``key`` in ``definitions.<definition>`` (e.g. a model spec or a
    training option), for the code that builds those objects."""
    return copy.deepcopy(_schema()["definitions"][definition]["properties"][key]["default"])


#: Top-level defaults of the schema, e.g. ``DEFAULTS["bootstrap"]``, ``DEFAULTS["split"]``.
DEFAULTS: dict[str, Any] = _defaults(_schema())
BOOTSTRAP: int = DEFAULTS["bootstrap"]


def with_defaults(config: dict) -> dict:
    """A copy of a validated config with every top-level default of the schema filled in."""
    out = copy.deepcopy(config)
    for key, value in DEFAULTS.items():
        if isinstance(value, dict):
            out[key] = {**value, **out.get(key, {})}
        else:
            out.setdefault(key, copy.deepcopy(value))
    out["explain"].setdefault("seeds", out["seeds"][:1])
    out["search"].setdefault("seed", out["seeds"][0])
    return out


def _allowed_keys(sch: dict, root: dict) -> list[str]:
    if "$ref" in sch:
        sch = root["definitions"][sch["$ref"].split("/")[-1]]
    return sorted(sch.get("properties", {}))


def _check(instance: Any, sch: dict, path: str | None, what: str) -> None:
    """Validate ``instance`` against ``sch``; raise one InputError naming the first bad key
    (and the closest valid key for an unknown one)."""
    validator = jsonschema.Draft202012Validator(sch)
    errors = sorted(validator.iter_errors(instance), key=lambda e: (len(e.path), list(e.path)))
    if not errors:
        return
    err = errors[0]
    where = ".".join(str(p) for p in err.path) or "top level"
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        allowed = _allowed_keys(err.schema, sch)
        unknown = sorted(set(map(str, err.instance)) - set(allowed))
        if unknown:
            hint = difflib.get_close_matches(unknown[0], allowed, n=1)
            tip = f" (did you mean '{hint[0]}'?)" if hint else f" (allowed: {', '.join(allowed)})"
            inside = f" in {where}" if err.path else ""
            raise InputError(f"unknown {what} key '{unknown[0]}'{inside}{tip}", path=path)
    if err.validator == "required":
        raise InputError(f"{err.message} in {where}", path=path)
    raise InputError(f"{what} key '{where}': {err.message}", path=path)


def validate(config: dict, path: str = "config") -> dict:
    """Validate ``config`` against the schema; raise one InputError naming the first bad key."""
    _check(config, schema(), path, "config")
    _check_references(config, path)
    return config


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")  # names become folder names and table rows


def _check_references(config: dict, path: str) -> None:
    """What the schema cannot say: names usable as folders, and every name used once defined
    (compare, match, explain seeds, the results page's datasets and headline models), split
    fractions summing to 1."""
    def fail(message: str) -> None:
        raise InputError(message, path=path)

    datasets, models = config.get("datasets", {}), config.get("models", {})
    for kind, names in (("dataset", datasets), ("model", models)):
        for name in names:
            if not _NAME.fullmatch(str(name)):
                fail(f"{kind} name {name!r} must be letters, digits, '_', '.' or '-' (it "
                     "becomes a folder name)")
    for name, spec in models.items():
        ref = spec.get("match")
        if ref is not None and (ref not in models or models[ref].get("type") != "kan"):
            known = ", ".join(m for m in sorted(models) if models[m].get("type") == "kan")
            fail(f"config key 'models.{name}.match': {ref!r} is not a KAN of 'models' "
                 f"(KANs: {known or 'none'})")
    compare = config.get("compare")
    if compare is not None and models:
        missing = [m for m in compare if m not in models]
        if missing or compare[0] == compare[1]:
            fail(f"config key 'compare': needs two different models of 'models' "
                 f"({', '.join(sorted(models))}), got {compare}")
    seeds = config.get("seeds", DEFAULTS["seeds"])
    extra = sorted(set(config.get("explain", {}).get("seeds", [])) - set(seeds))
    if extra:
        fail(f"config key 'explain.seeds': {extra} not among the trained seeds {seeds}")
    splits = [("split", config.get("split", {}))] + [
        (f"datasets.{n}.split", d.get("split", {})) for n, d in datasets.items()]
    for where, split in splits:
        f = split.get("fractions")
        if f is not None and (abs(sum(f) - 1) > 1e-6 or f[0] == 0):
            fail(f"config key '{where}.fractions': train, val and test shares must sum to 1 "
                 f"with train > 0, got {f}")
    page = config.get("results_page") or {}
    for pname, proto in page.get("protocols", {}).items():
        where = f"results_page.protocols.{pname}"
        unknown = [d for d in proto["datasets"] if d not in datasets]
        if unknown:
            fail(f"config key '{where}.datasets': {unknown} not in 'datasets'")
        head, refs = proto.get("headline"), proto.get("references", [])
        if not head:
            continue
        model, index = head.get("model", "kan"), head.get("reference", 0)
        if models and model not in models:
            fail(f"config key '{where}.headline.model': {model!r} not in 'models'")
        if index >= len(refs):
            fail(f"config key '{where}.headline.reference': index {index}, but the protocol "
                 f"has {len(refs)} reference(s)")
        if head["metric"] not in refs[index]:
            fail(f"config key '{where}.headline': reference {index} "
                 f"({refs[index]['method']}) has no {head['metric']}")


def validate_model(spec: Any, path: str | None = None) -> dict:
    """Validate a stand-alone model spec (``kanbio train --spec``, :func:`train_table`) against
    the schema's ``models`` entry, with the same messages as :func:`validate`.

    Outside a config, ``match`` is the KAN spec itself (validated the same way), not a model name.
    """
    if not isinstance(spec, dict):
        raise InputError("a model spec must be a mapping (type, hidden, ...)", path=path)
    if isinstance(spec.get("match"), str):
        raise InputError(f"'match: {spec['match']}' names a model of a config's 'models'; a "
                         "stand-alone spec gives the KAN spec itself (match: {type: kan, ...})",
                         path=path)
    root = schema()
    model = copy.deepcopy(root["definitions"]["model"])
    model["properties"]["match"] = {"$ref": "#/definitions/model"}
    sch = {"$schema": root["$schema"], "definitions": {**root["definitions"], "model": model},
           "$ref": "#/definitions/model"}
    _check(spec, sch, path, "model spec")
    return spec


def read_yaml(path: str | os.PathLike, what: str = "config") -> Any:
    """Parse a YAML (or JSON) file; a missing file or bad syntax is an InputError."""
    path = str(path)
    if not os.path.exists(path):
        raise InputError(f"{what} file not found", path=path)
    try:
        with open(path, encoding="utf-8-sig") as fh:
            return yaml.safe_load(fh)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        raise InputError(f"invalid YAML ({getattr(err, 'problem', None) or err})", path=path,
                         line=None if mark is None else mark.line + 1) from None
    except UnicodeDecodeError:
        raise InputError("binary or non-UTF-8 data, not a text file", path=path) from None
    except OSError as err:
        raise InputError(f"cannot read the file ({err.strerror or err})", path=path) from None


def load(path: str | os.PathLike) -> dict:
    """Read and validate a YAML config file."""
    config = read_yaml(path)
    if not isinstance(config, dict):
        raise InputError("config must be a YAML mapping", path=str(path))
    return validate(config, str(path))


def dataset(config: dict, name: str, path: str = "config") -> dict[str, Any]:
    """One dataset's settings with global defaults (half_width, strict, split) filled in.

    With a predefined test set of full sequences (``test_fasta``) and no split method given,
    validation is carved by homology cluster (MMseqs2), as the test sets of published protocols
    are homology-reduced; ``split: {method: protein}`` keeps the protein-level carving.
    """
    datasets = config.get("datasets", {})
    if name not in datasets:
        raise InputError(f"no dataset '{name}' (configured: {', '.join(sorted(datasets))})",
                         path=path)
    ds = copy.deepcopy(datasets[name])
    ds.setdefault("half_width", config.get("half_width", DEFAULTS["half_width"]))
    ds.setdefault("strict", config.get("strict", DEFAULTS["strict"]))
    given = {**config.get("split", {}), **ds.get("split", {})}
    ds["split"] = {**DEFAULTS["split"], **given}
    if "method" not in given and ds.get("test_fasta"):
        # validation must resemble a (typically homology-reduced) predefined test set: carve it
        # by homology cluster unless the config says otherwise
        ds["split"]["method"] = "homology"
    ds["residues"] = ds["residues"].upper()
    for key in INPUT_KEYS:
        if isinstance(ds.get(key), str):
            ds[key] = [ds[key]]
    return ds
