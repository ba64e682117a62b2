"""`kanbio predict`: reproduces `evaluate`'s scores, streams in chunks, fails cleanly."""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from fasta_files import write_fasta
from scipy.special import expit

from kanbio.cli import main as kanbio_main
from kanbio.data.encode import windows_to_indices
from kanbio.data.synthetic import generate
from kanbio.data.synthetic import write as write_synthetic
from kanbio.errors import InputError
from kanbio.models import checkpoint, predict_logit, table_form
from kanbio.output import read_table
from kanbio.stages import predict as pr

torch.set_num_threads(1)
H = 4  # half width: windows of 9
KINDS = ("kan", "mlp", "linear")


def cli(argv: list[str]) -> int:
    """``kanbio predict ARGS``."""
    return kanbio_main(["predict", *argv])


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> dict:
    """prepare -> train (KAN, MLP, logistic) -> evaluate into each model folder; the test-split
    proteins written as their own FASTA."""
    root = tmp_path_factory.mktemp("predict")
    data = generate("kinase", 40, seed=5)
    files = write_synthetic(data, root / "data", "kinase")
    windows = root / "prep" / "windows.tsv.gz"
    assert kanbio_main(["prepare", "--fasta", str(files["fasta"]), "--sites",
                        str(files["sites.tsv"]), "--residues", "ST", "--half-width", str(H),
                        "--out", str(windows.parent)]) == 0
    for kind in KINDS:
        extra = [] if kind == "linear" else ["--hidden", "4", "--epochs", "6", "--lr", "0.01"]
        assert kanbio_main(["train", "--windows", str(windows), "--model", kind, "--out",
                            str(root / kind), *extra]) == 0
        assert kanbio_main(["evaluate", "--model", str(root / kind), "--windows", str(windows),
                            "--out", str(root / kind / "metrics.json"), "--bootstrap",
                            "100"]) == 0
    table = read_table(windows)
    test_ids = set(table.protein_id[table.split == "test"])
    test_fasta = root / "test.fasta"
    write_fasta([(pid, seq) for pid, seq, _ in data.proteins if pid in test_ids], test_fasta, 60)
    return {"root": root, "data": data, "windows": windows, "table": table,
            "test_fasta": test_fasta, "fasta": files["fasta"]}


@pytest.mark.parametrize("kind", KINDS)
def test_predictions_reproduce_evaluate(study: dict, kind: str, capsys) -> None:
    model_dir, out = study["root"] / kind, study["root"] / f"{kind}_test.tsv.gz"
    assert cli(["--model", str(model_dir), "--fasta", str(study["test_fasta"]), "--out",
                str(out)]) == 0
    assert "predicted positive" in capsys.readouterr().err
    pred = read_table(out)
    assert list(pred.columns) == pr.COLUMNS
    evaluated = read_table(model_dir / "predictions.tsv.gz")
    evaluated = evaluated[evaluated.split == "test"]
    both = evaluated.merge(pred, on=["protein_id", "position"], validate="1:1")
    assert len(both) == len(evaluated) > 50  # every evaluated test window is predicted
    assert np.abs(expit(both.score) - both.probability).max() <= 1e-6
    thr = json.loads((model_dir / "metrics.json").read_text())["threshold"]
    clear = (both.score - thr).abs() > 1e-6  # scores in the file are rounded to 6 decimals
    assert ((both.score >= thr).astype(int) == both.label_y)[clear].all()
    # windows and residues are those of the windows table
    prepared = study["table"].merge(pred, on=["protein_id", "position"])
    assert (prepared.window_x == prepared.window_y).all()
    assert (prepared.residue_x == prepared.residue_y).all()
    # the log-odds themselves, before rounding
    model, meta = checkpoint.load(model_dir)
    idx = windows_to_indices(evaluated.merge(study["table"]).window.tolist())
    logit, contrib = table_form(model, meta["window_length"]).score(idx)
    assert np.abs(logit - predict_logit(model, idx)).max() <= 1e-6
    assert contrib.shape == idx.shape


def test_summary_threshold_sources_and_determinism(study: dict) -> None:
    model_dir, root = study["root"] / "kan", study["root"]
    s = pr.predict(model_dir, study["fasta"], root / "a.tsv.gz")
    assert s["threshold_source"].startswith(str(model_dir / "metrics.json"))
    assert s["residues_scored"] == "ST" and s["windows"] == len(read_table(root / "a.tsv.gz"))
    assert s["proteins"] == 40 and s["residues"] == sum(len(q) for _, q, _ in study["data"]
                                                        .proteins)
    pr.predict(model_dir, study["fasta"], root / "b.tsv.gz")
    assert (root / "a.tsv.gz").read_bytes() == (root / "b.tsv.gz").read_bytes()
    given = pr.predict(model_dir, study["fasta"], root / "c.tsv", threshold=-50.0)
    assert given["threshold_source"] == "given" and given["predicted_positive"] == s["windows"]
    assert read_table(root / "c.tsv").label.eq(1).all()
    bare = root / "bare"  # a checkpoint folder without metrics.json
    bare.mkdir()
    for name in ("model.pt", "model.json"):
        (bare / name).write_bytes((model_dir / name).read_bytes())
    d = pr.predict(bare, study["fasta"], root / "d.tsv")
    assert d["threshold"] == 0.0 and d["threshold_source"].startswith("default")
    table = read_table(root / "d.tsv")
    assert (table.label == (table.probability >= 0.5)).mean() > 0.99


@pytest.mark.skipif(not Path("/dev/fd").is_dir(), reason="needs /dev/fd (Linux, macOS)")
def test_a_pipe_and_standard_input_score_as_the_file(study: dict, tmp_path: Path,
                                                     monkeypatch) -> None:
    """A pipe (``<(zcat x.gz)``) can be read only once; predict reads its input twice."""
    model_dir, fasta = study["root"] / "kan", Path(study["fasta"])
    pr.predict(model_dir, fasta, tmp_path / "file.tsv")
    packed = gzip.compress(fasta.read_bytes())
    assert len(packed) < 60_000  # fits the pipe's buffer: written whole before it is read
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, packed)
        os.close(write_end)
        s = pr.predict(model_dir, f"/dev/fd/{read_end}", tmp_path / "pipe.tsv")
    finally:
        os.close(read_end)
    assert s["proteins"] == 40
    monkeypatch.setattr(sys, "stdin", SimpleNamespace(buffer=io.BytesIO(fasta.read_bytes())))
    pr.predict(model_dir, "-", tmp_path / "stdin.tsv")
    want = (tmp_path / "file.tsv").read_bytes()
    assert (tmp_path / "pipe.tsv").read_bytes() == want == (tmp_path / "stdin.tsv").read_bytes()


def test_chunked_streaming_is_identical(study: dict, monkeypatch) -> None:
    monkeypatch.setattr(pr, "BATCH", 100)  # many batches, carried across chunk ends
    model_dir, root = study["root"] / "kan", study["root"]
    outs = []
    for name, kwargs in (("one", {}), ("res", {"chunk_residues": 1}),
                         ("prot", {"chunk_residues": 2000, "chunk_proteins": 3})):
        s = pr.predict(model_dir, study["fasta"], root / f"{name}.tsv.gz", **kwargs)
        outs.append((root / f"{name}.tsv.gz").read_bytes())
        assert s["chunks"] == {"one": 1, "res": 40, "prot": 14}[name]
    assert outs[0] == outs[1] == outs[2]
    pr.predict(model_dir, study["fasta"], root / "plain.tsv", chunk_residues=500)
    assert gzip.decompress(outs[0]) == (root / "plain.tsv").read_bytes()


def test_top_offsets_well_formed(study: dict) -> None:
    root = study["root"]
    pr.predict(root / "kan", study["fasta"], root / "top.tsv", top=3)
    table = read_table(root / "top.tsv")
    for text in table.top_offsets:
        offsets = [int(o) for o in text.split(",")]
        assert re.fullmatch(r"[+-]\d+,[+-]\d+,[+-]\d+", text), text
        assert len(set(offsets)) == 3 and 0 not in offsets and max(map(abs, offsets)) <= H
    first = table[table.label == 1].top_offsets.str.split(",").str[0]
    assert first.value_counts().index[0] in ("-3", "+1")  # the planted R at -3, P at +1
    pr.predict(root / "kan", study["fasta"], root / "top0.tsv", top=0)
    assert read_table(root / "top0.tsv").top_offsets.isna().all()
    assert pr.top_offsets(np.array([[5.0, -1.0, 9.0, -2.0, 1.0]]), 3) == ["-2,+1,-1"]
    assert pr.top_offsets(np.zeros((1, 3)), 5) == ["-1,+1"]  # ties: lower offset first


def test_contributions_are_first_order_leave_one_out(study: dict) -> None:
    idx = windows_to_indices(study["table"].window.tolist()[:200])
    pos = np.arange(idx.shape[1])
    # logistic: exact change when the residue at p is replaced by the average amino acid
    lin, _ = checkpoint.load(study["root"] / "linear")
    logit, contrib = table_form(lin, idx.shape[1]).score(idx)
    w = lin.coef_.reshape(idx.shape[1], -1)
    assert np.allclose(contrib, w[pos, idx] - w[:, :20].mean(1), atol=1e-12)
    # KAN: gradient x centred table = finite difference of the head along that change
    kan, _ = checkpoint.load(study["root"] / "kan")
    logit, contrib = table_form(kan, idx.shape[1]).score(idx)
    t, const = kan.first_layer_table()
    t = t.double()
    tc = t - t[:, :20].mean(1, keepdim=True)
    x = torch.as_tensor(idx).long()
    s = const.double() + t[torch.as_tensor(pos), x].sum(1)  # (n, H)
    head = kan.double().layers[1:]
    eps, p = 1e-4, 2
    f0, f1 = (s, s - eps * tc[p, x[:, p]])
    for layer in head:
        f0, f1 = layer(f0), layer(f1)
    kan.float()
    fd = ((f0 - f1)[:, 0] / eps).detach().numpy()
    assert np.allclose(contrib[:, p], fd, atol=1e-3, rtol=1e-2)


def _bad(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("content, problem", [
    (b"", "empty file"),
    (b"\x00\x01\x02binary", "binary"),
    (b"MKST\n>a\nMKST\n", "no FASTA header"),
    (b"+>b\nMK1ST\n", "invalid character '1'"),  # '+': after 30 good records
    (b"+>ok3\nMKST\n", "duplicate protein id"),
    (b"+>b\n#MKST\n", "site mark '#' at the sequence start"),
    (b"+>b\nMKS TAK\n", "whitespace inside the sequence"),
])
def test_malformed_fasta_one_line_error_no_output(study: dict, tmp_path: Path, capsys,
                                                   monkeypatch, content: bytes,
                                                   problem: str) -> None:
    monkeypatch.setattr(pr, "BATCH", 10)  # rows are written before the error
    good = b"".join(b">ok%d\n%s\n" % (i, b"MKSTPRSAT" * 30) for i in range(30))
    fasta = _bad(tmp_path, "in.fasta", good + content[1:] if content[:1] == b"+" else content)
    out = tmp_path / "out.tsv.gz"
    code = cli(["--model", str(study["root"] / "kan"), "--fasta", str(fasta), "--out", str(out),
                "--chunk-residues", "100"])
    err = capsys.readouterr().err
    assert code == 2 and problem in err, err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists() and list(tmp_path.iterdir()) == [fasta]


def test_skip_invalid_counts_dropped_records(study: dict, tmp_path: Path) -> None:
    fasta = _bad(tmp_path, "in.fasta", b">a\nMKSTAK\n>b\nMK1ST\n>a\nMKS\n>c\nAAS#KT\n")
    s = pr.predict(study["root"] / "kan", fasta, tmp_path / "o.tsv", strict=False)
    assert s["dropped"] == {"duplicate_id": 1, "invalid_character": 1}
    assert s["proteins"] == 2 and s["marks_stripped"] == 1 and len(s["warnings"]) == 2
    assert read_table(tmp_path / "o.tsv").protein_id.tolist() == ["a", "a", "c", "c"]


def test_marks_are_ignored(study: dict, tmp_path: Path) -> None:
    data = study["data"]
    marked = [(pid, "".join(c + ("#" if i + 1 in sites else "") for i, c in enumerate(seq)))
              for pid, seq, sites in data.proteins]
    write_fasta(marked, tmp_path / "marked.fasta")
    kan = study["root"] / "kan"
    s = pr.predict(kan, tmp_path / "marked.fasta", tmp_path / "m.tsv")
    pr.predict(kan, study["fasta"], tmp_path / "p.tsv")
    assert s["marks_stripped"] == sum(len(p[2]) for p in data.proteins) > 0
    assert (tmp_path / "m.tsv").read_bytes() == (tmp_path / "p.tsv").read_bytes()


def test_residue_set_checked(study: dict, tmp_path: Path, capsys) -> None:
    kan, out = study["root"] / "kan", tmp_path / "o.tsv"
    code = cli(["--model", str(kan), "--fasta", str(study["fasta"]), "--out", str(out),
                "--residues", "K"])
    err = capsys.readouterr().err
    assert code == 2 and "not trained on" in err and "'ST'" in err and not out.exists()
    with pytest.raises(InputError, match="amino-acid letters"):
        pr.predict(kan, study["fasta"], out, residues="S1")
    s = pr.predict(kan, study["fasta"], out, residues="s")
    assert s["residues_scored"] == "S" and set(read_table(out).residue) == {"S"}


def test_bad_settings(study: dict, tmp_path: Path) -> None:
    kan, out = study["root"] / "kan", tmp_path / "o.tsv"
    with pytest.raises(InputError, match="checkpoint file not found"):
        pr.predict(tmp_path, study["fasta"], out)
    with pytest.raises(InputError, match="file not found"):
        pr.predict(kan, tmp_path / "missing.fasta", out)
    with pytest.raises(InputError, match="finite"):
        pr.predict(kan, study["fasta"], out, threshold=float("nan"))
    with pytest.raises(InputError, match="chunk sizes"):
        pr.predict(kan, study["fasta"], out, chunk_residues=0)
    assert not out.exists()


def test_sequences_shorter_than_the_window_and_empty(study: dict, tmp_path: Path) -> None:
    fasta = _bad(tmp_path, "in.fasta", b">short\nS\n>empty\n>tail\nAAAAT*\n")
    s = pr.predict(study["root"] / "kan", fasta, tmp_path / "o.tsv")  # strict by default
    table = read_table(tmp_path / "o.tsv")
    assert s["proteins"] == 2 and table.window.tolist() == ["XXXXSXXXX", "AAAATXXXX"]
    assert s["records_read"] == 3 and s["dropped"] == {"empty_sequence": 1}
    assert table.position.tolist() == [1, 5]
    empty = _bad(tmp_path, "none.fasta", b">a\nAAAA\n")
    assert pr.predict(study["root"] / "kan", empty, tmp_path / "n.tsv")["windows"] == 0
    assert (tmp_path / "n.tsv").read_text() == "\t".join(pr.COLUMNS) + "\n"
    assert pd.read_csv(tmp_path / "n.tsv", sep="\t").empty


def test_no_usable_record_is_an_error(study: dict, tmp_path: Path, capsys) -> None:
    fasta = _bad(tmp_path, "in.fasta", b">only\n")
    out = tmp_path / "o.tsv"
    code = cli(["--model", str(study["root"] / "kan"), "--fasta", str(fasta), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"{fasta}: no usable record (1 read, dropped: empty_sequence 1)" in err
    assert not out.exists()


def _damaged(study: dict, tmp_path: Path, damage) -> Path:
    """A copy of the KAN checkpoint folder, damaged by ``damage(folder)``."""
    model = tmp_path / "model"
    model.mkdir()
    for name in ("model.json", "model.pt"):
        (model / name).write_bytes((study["root"] / "kan" / name).read_bytes())
    damage(model)
    return model


def _edit_meta(**changes):
    def edit(model: Path) -> None:
        meta = json.loads((model / "model.json").read_text())
        for key, value in changes.items():
            if value is None:
                del meta[key]
            else:
                meta[key] = value
        (model / "model.json").write_text(json.dumps(meta))
    return edit


def _truncate(model: Path) -> None:
    data = (model / "model.pt").read_bytes()
    (model / "model.pt").write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize("damage, name, problem", [
    (_edit_meta(architecture=None), "model.json", "no 'architecture'"),
    (_edit_meta(architecture={"grid": 5}), "model.json", "'architecture' does not describe a kan"),
    (_edit_meta(kanbio_version="99.0.0"), "model.json",
     "written by kanbio 99.0.0, which this kanbio"),
    (_edit_meta(kanbio_version=None), "model.json", "no 'kanbio_version'"),
    (_truncate, "model.pt", "unreadable checkpoint: truncated"),
    (lambda m: (m / "model.pt").write_bytes(b"not a checkpoint" * 4), "model.pt",
     "refused to load: not a plain tensor checkpoint"),
    (lambda m: torch.save(torch.zeros(3), m / "model.pt"), "model.pt", "dict of named tensors"),
])
def test_damaged_checkpoint_one_line_naming_the_file(study: dict, tmp_path: Path, capsys,
                                                     damage, name: str, problem: str) -> None:
    model = _damaged(study, tmp_path, damage)
    out = tmp_path / "o.tsv"
    code = cli(["--model", str(model), "--fasta", str(study["test_fasta"]), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"kanbio: error: {model / name}: ") and problem in err, err
    assert not out.exists()


def test_checkpoint_of_the_same_major_version_is_accepted(study: dict, tmp_path: Path) -> None:
    major = checkpoint.__version__.split(".")[0]
    model = _damaged(study, tmp_path, _edit_meta(kanbio_version=f"{major}.999.7"))
    loaded, meta = checkpoint.load(model)
    assert meta["kanbio_version"] == f"{major}.999.7" and loaded.window_length == 2 * H + 1


def test_evaluate_for_the_test_sets_class_ratio(study: dict, tmp_path) -> None:
    out = tmp_path / "metrics.json"
    assert kanbio_main(["evaluate", "--model", str(study["root"] / "linear"), "--windows",
                        str(study["windows"]), "--out", str(out), "--bootstrap", "100",
                        "--prevalence", "test"]) == 0
    m = json.loads(out.read_text())
    table = study["table"]
    assert m["prevalence"] == pytest.approx(table.label[table.split == "test"].mean())
    assert m["threshold_source"].startswith("val reweighted to prevalence")
    assert kanbio_main(["evaluate", "--model", str(study["root"] / "linear"), "--windows",
                        str(study["windows"]), "--out", str(out), "--prevalence", "1.5"]) == 2
