"""Training loop, checkpoints and evaluation."""

from __future__ import annotations

import copy
import gzip
import io
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from kanbio.cli import main
from kanbio.config import validate, validate_model
from kanbio.data.fasta import Protein
from kanbio.data.synthetic import generate
from kanbio.data.windows import extract
from kanbio.errors import InputError
from kanbio.models import checkpoint
from kanbio.models.inference import predict_logit
from kanbio.models.kan import KAN
from kanbio.stages.train import train_table
from kanbio.train import TrainConfig, _loss, _param_groups, fit, make_adam, resolve_device

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def kinase():
    data = generate("kinase", 60, seed=3)
    w = extract([Protein(i, s, p) for i, s, p in data.proteins], "ST", 5)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(w.label))
    cut = int(0.8 * len(order))
    tr, va = order[:cut], order[cut:]
    return w.windows[tr], w.label[tr], w.windows[va], w.label[va]


def small_kan(seed=0):
    return KAN([11 * 21, 4, 1], grid=3, k=2, window_length=11, seed=seed)


def test_same_seed_byte_identical_weights(kinase):
    xt, yt, xv, yv = kinase
    states = []
    for _ in range(2):
        model = small_kan()
        fit(model, xt, yt, xv, yv, TrainConfig(epochs=3, seed=7, progress=False, patience=0))
        buf = io.BytesIO()
        torch.save(model.state_dict(), buf)
        states.append(b"".join(v.numpy().tobytes() for v in model.state_dict().values()))
    assert states[0] == states[1]
    other = small_kan()
    fit(other, xt, yt, xv, yv, TrainConfig(epochs=3, seed=8, progress=False, patience=0))
    assert b"".join(v.numpy().tobytes() for v in other.state_dict().values()) != states[0]


def test_training_learns_the_motif(kinase):
    xt, yt, xv, yv = kinase
    model = small_kan()
    hist = fit(model, xt, yt, xv, yv, TrainConfig(epochs=25, seed=0, progress=False))
    assert hist.rows[hist.best_epoch - 1]["val_auroc"] > 0.8
    from kanbio.metrics import auroc

    assert auroc(yv, predict_logit(model, xv)) > 0.8


def test_lbfgs_and_subsampling_run(kinase):
    xt, yt, xv, yv = kinase
    model = small_kan()
    hist = fit(model, xt, yt, xv, yv, TrainConfig(optimizer="lbfgs", epochs=3, balance="subsample",
                                                  progress=False))
    assert len(hist.rows) == 3 and all(np.isfinite(r["train_loss"]) for r in hist.rows)


def test_adam_train_loss_is_the_epoch_mean_and_regularisation_runs(kinase):
    xt, yt, xv, yv = kinase
    model = small_kan()
    cfg = TrainConfig(epochs=1, seed=0, progress=False, patience=0, batch_size=64)
    before = copy.deepcopy(model)
    hist = fit(model, xt, yt, None, None, cfg)
    # the logged loss is the mean of the per-batch losses (weighted by batch size) of the epoch
    gen = torch.Generator().manual_seed(0)
    order = torch.randperm(len(yt), generator=gen)
    opt = make_adam(_param_groups(before, 3e-3, cfg), 3e-3)
    pos_weight = float((yt == 0).sum() / (yt == 1).sum())
    total = 0.0
    for i in range(0, len(order), 64):
        b = order[i : i + 64]
        opt.zero_grad(set_to_none=True)
        loss = _loss(before(torch.from_numpy(xt[b.numpy()])), torch.from_numpy(yt[b.numpy()]),
                     pos_weight)
        loss.backward()
        opt.step()
        total += float(loss.detach()) * len(b)
    assert hist.rows[0]["train_loss"] == pytest.approx(total / len(yt), rel=1e-6)
    reg = small_kan()
    hist = fit(reg, xt, yt, xv, yv, TrainConfig(epochs=2, lamb=1e-3, progress=False))
    assert all(np.isfinite(r["train_loss"]) for r in hist.rows) and not reg.cache_acts


def test_checkpoint_round_trip_and_window_length_check(tmp_path, kinase):
    xt, yt, xv, yv = kinase
    model = small_kan()
    fit(model, xt, yt, xv, yv, TrainConfig(epochs=2, progress=False))
    checkpoint.save(model, tmp_path, {"window_length": 11, "seed": 0})
    loaded, meta = checkpoint.load(tmp_path, window_length=11)
    assert meta["type"] == "kan" and meta["alphabet"] == "ARNDCQEGHILKMFPSTWYVX"
    assert np.array_equal(predict_logit(loaded, xv), predict_logit(model, xv))
    with pytest.raises(InputError, match="windows of length 11, the data has length 33"):
        checkpoint.load(tmp_path, window_length=33)
    meta_path = tmp_path / "model.json"
    bad = json.loads(meta_path.read_text())
    bad["alphabet"] = "ACDEFGHIKLMNPQRSTVWYX"
    meta_path.write_text(json.dumps(bad))
    with pytest.raises(InputError, match="alphabet"):
        checkpoint.load(tmp_path)


class _Payload:
    """Unpickling this would create a file: the loader must never do it."""

    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        return (Path.touch, (Path(self.target),))


def test_pickled_checkpoint_refused_not_executed(tmp_path, kinase):
    model = small_kan()
    checkpoint.save(model, tmp_path, {"window_length": 11})
    marker = tmp_path / "executed"
    state = dict(model.state_dict())
    state["evil"] = _Payload(str(marker))
    with open(tmp_path / "model.pt", "wb") as fh:
        torch.save(state, fh, pickle_module=pickle)
    with pytest.raises(InputError, match="refused to load"):
        checkpoint.load(tmp_path)
    assert not marker.exists()


def test_cli_train_evaluate(tmp_path, capsys):
    fasta = tmp_path / "p.fasta"
    data = generate("kinase", 40, seed=5)
    sites = tmp_path / "s.tsv"
    fasta.write_text("".join(f">{i}\n{s}\n" for i, s, _ in data.proteins))
    sites.write_text("protein_id\tposition\n" + "".join(f"{i}\t{p}\n" for i, _, ps in
                                                         data.proteins for p in ps))
    assert main(["prepare", "--fasta", str(fasta), "--sites", str(sites), "--residues", "ST",
                 "--half-width", "5", "--out", str(tmp_path / "d")]) == 0
    win = str(tmp_path / "d" / "windows.tsv.gz")
    for model in ("kan", "mlp", "linear"):
        out = tmp_path / model
        assert main(["train", "--windows", win, "--model", model, "--epochs", "3", "--hidden",
                     "4", "--out", str(out)]) == 0
        assert main(["evaluate", "--model", str(out), "--windows", win, "--out",
                     str(out / "metrics.json"), "--bootstrap", "100"]) == 0
        res = json.loads((out / "metrics.json").read_text())
        assert 0 <= res["test"]["auroc"] <= 1 and res["threshold_source"] == "val"
        assert res["ci95"]["auroc"][0] <= res["test"]["auroc"] <= res["ci95"]["auroc"][1]
    capsys.readouterr()
    assert main(["evaluate", "--model", str(tmp_path / "nope"), "--windows", win, "--out",
                 str(tmp_path / "m.json")]) != 0
    assert "checkpoint file not found" in capsys.readouterr().err


SPEC_ERRORS = {
    "hiden: [4]\n": "unknown model spec key 'hiden' (did you mean 'hidden'?)",
    "hidden: [4]\nbogus_key: 3\n": "unknown model spec key 'bogus_key' (allowed: C, ",
    "hidden: [4]\nencodng: physchem\n": "unknown model spec key 'encodng' (did you mean "
                                         "'encoding'?)",
    "hidden: [4]\ntrain: {epoch: 2}\n": "unknown model spec key 'epoch' in train (did you mean "
                                        "'epochs'?)",
    "grid: five\n": "model spec key 'grid': 'five' is not of type 'integer'",
    "hidden: [4\n": "invalid YAML",
    "match: kan\n": "'match: kan' names a model of a config's 'models'",
}


@pytest.mark.parametrize("text", sorted(SPEC_ERRORS))
def test_train_spec_file_validated_one_line(tmp_path, capsys, text):
    spec = tmp_path / "spec.yaml"
    spec.write_text("type: kan\n" + text)
    out = tmp_path / "out"
    code = main(["train", "--windows", str(tmp_path / "w.tsv.gz"), "--model", "kan", "--spec",
                 str(spec), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"kanbio: error: {spec}") and SPEC_ERRORS[text] in err, err
    assert not out.exists()


def test_model_specs_checked_against_the_config_schema(tmp_path):
    good = {"type": "mlp", "hidden": [8], "train": {"epochs": 2, "lr": None},
            "match": {"type": "kan", "hidden": [8], "grid": 5, "k": 3}}
    assert validate_model(good) is good
    with pytest.raises(InputError, match=r"unknown model spec key 'hiden' in match \(did you"):
        validate_model({"type": "mlp", "match": {"type": "kan", "hiden": [8]}})
    with pytest.raises(InputError, match="must be a mapping"):
        validate_model(["type", "kan"], "s.yaml")
    config = {"datasets": {"d": {"residues": "K"}}, "models": {"k": {"type": "kan", "grdi": 5}}}
    with pytest.raises(InputError, match=r"unknown config key 'grdi' in models.k \(did you mean "
                                         r"'grid'\?\)"):
        validate(config, "c.yaml")
    with pytest.raises(InputError, match="unknown model spec key 'bogus_key'"):
        train_table(tmp_path / "missing.tsv", {"type": "kan", "bogus_key": 3}, 0, tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_training_option_errors_are_input_errors(monkeypatch):
    with pytest.raises(InputError, match=r"unknown training option\(s\): epoch \(did you mean "
                                         r"'epochs'\?\)"):
        TrainConfig.from_dict({"epoch": 3})
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(InputError, match="CUDA is not available"):
        resolve_device("cuda")


@pytest.mark.parametrize("window, problem", [
    ("AAKAA", "tbl.tsv:3: window 'AAKAA' has length 5, the first window 3"),
    ("A1A", "tbl.tsv:3: window 'A1A' has characters other than letters"),
    ("", "tbl.tsv:3: empty window"),
])
def test_malformed_windows_table_one_line(tmp_path, capsys, window, problem):
    _train_rejects(tmp_path, capsys, f"b\t1\tK\t{window}\t0\ttrain\n", problem)


@pytest.mark.parametrize("row, problem", [
    ("b\t1\tK\tAKA\tyes\ttrain\n", "tbl.tsv:3: label must be 0 or 1, got 'yes'"),
    ("b\t1\tK\tAKA\t2\ttrain\n", "tbl.tsv:3: label must be 0 or 1, got '2'"),
    ("b\t1\tK\tAKA\t0\ttraining\n", "tbl.tsv:3: split must be one of train, val, test, "
     "got 'training'"),
    ("b\t1.5\tK\tAKA\t0\ttrain\n", "tbl.tsv:3: position must be a whole number, got '1.5'"),
])
def test_bad_label_split_or_position_one_line(tmp_path, capsys, row, problem):
    _train_rejects(tmp_path, capsys, row, problem)


def test_truncated_or_empty_windows_table_one_line(tmp_path, capsys):
    whole = gzip.compress(("protein_id\tposition\tresidue\twindow\tlabel\tsplit\n"
                           + "a\t1\tK\tAKA\t1\ttrain\n" * 2000).encode())
    cut = tmp_path / "cut.tsv.gz"
    cut.write_bytes(whole[: len(whole) // 2])
    empty = tmp_path / "empty.tsv"
    empty.write_text("")
    for path, problem in ((cut, "cut.tsv.gz: unreadable windows table (Compressed file ended"),
                          (empty, "empty.tsv: empty windows table")):
        code = main(["train", "--windows", str(path), "--model", "linear", "--out",
                     str(tmp_path / "out")])
        err = capsys.readouterr().err
        assert code == 2 and len(err.strip().splitlines()) == 1 and problem in err, err
        assert not (tmp_path / "out").exists()


def _train_rejects(tmp_path, capsys, row: str, problem: str) -> None:
    """``kanbio train`` on a two-row table whose second row is ``row``: one line, no output."""
    table = tmp_path / "tbl.tsv"
    table.write_text("protein_id\tposition\tresidue\twindow\tlabel\tsplit\n"
                     f"a\t1\tK\tAKA\t1\ttrain\n{row}")
    out = tmp_path / "out"
    code = main(["train", "--windows", str(table), "--model", "linear", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and problem in err, err
    assert not out.exists()


# ------------------------------------------------------------------------------------------------
# early-stopping monitor and the L2 penalty
# ------------------------------------------------------------------------------------------------
def test_monitor_auroc_needs_a_real_rise_and_falls_back_to_the_loss():
    from kanbio.train import AUROC_MIN_DELTA, MIN_VAL_CLASS, Monitor

    losses, aurocs = [0.5, 0.6, 0.4, 0.7], [0.70, 0.75, 0.75 + AUROC_MIN_DELTA / 2, 0.80]
    by_auroc = Monitor("auroc", 50, 500)
    assert by_auroc.name == "val_auroc"
    assert [by_auroc.improved(a, b) for a, b in zip(losses, aurocs, strict=True)] == \
        [True, True, False, True]
    by_loss = Monitor("loss", 50, 500)
    assert [by_loss.improved(a, b) for a, b in zip(losses, aurocs, strict=True)] == \
        [True, False, True, False]
    saturated = Monitor("auroc", 50, 500)  # at AUROC 1.0 the loss decides
    assert [saturated.improved(a, b) for a, b in
            zip([0.5, 0.4, 0.3, 0.35], [0.9, 1.0, 1.0, 1.0], strict=True)] == [True] * 3 + [False]
    assert Monitor("auroc", MIN_VAL_CLASS - 1, 500).name == "val_loss"  # too few positives
    assert Monitor("auroc", 500, MIN_VAL_CLASS - 1).name == "val_loss"
    assert Monitor("auroc").name == "train_loss"  # no validation split
    with pytest.raises(ValueError, match="monitor"):
        Monitor("mcc", 50, 500)


def test_monitor_keeps_the_epoch_its_criterion_prefers(kinase):
    """Validation labels with 25% flipped: the validation loss and AUROC peak at different
    epochs; each monitor keeps (and restores) its own best epoch."""
    from kanbio.metrics import auroc

    xt, yt, xv, yv = kinase
    noisy = np.where(np.random.default_rng(0).random(len(yv)) < 0.25, 1 - yv, yv)
    kept = {}
    for monitor in ("loss", "auroc"):
        model = KAN([11 * 21, 4, 1], grid=3, k=2, window_length=11, first_layer="table")
        hist = fit(model, xt, yt, xv, noisy, TrainConfig(epochs=30, lr=1e-3, seed=0,
                                                         patience=0, monitor=monitor,
                                                         progress=False))
        assert hist.monitor == f"val_{monitor}"
        row = hist.rows[hist.best_epoch - 1]
        kept[monitor] = row
        assert auroc(noisy, predict_logit(model, xv)) == pytest.approx(row["val_auroc"])
    rows = hist.rows
    assert kept["loss"]["val_loss"] == min(r["val_loss"] for r in rows)
    assert kept["auroc"]["val_auroc"] >= max(r["val_auroc"] for r in rows) - 1e-4
    assert kept["auroc"]["epoch"] != kept["loss"]["epoch"]  # the two criteria disagree here
    assert kept["auroc"]["val_loss"] > kept["loss"]["val_loss"] + 1e-3


@pytest.mark.parametrize("kind", ["spline", "table", "mlp"])
def test_l2_penalty_value_and_gradient(kind):
    from kanbio.models.mlp import MLP
    from kanbio.train import l2_penalty

    if kind == "mlp":
        model = MLP([3 * 21, 4, 1], window_length=3).double()
        table = model.weights[0]
    else:
        model = KAN([3 * 21, 4, 1], window_length=3, first_layer=kind).double()
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.3 * torch.randn_like(p))
        table = model.first_layer_table()[0].reshape(3 * 21, 4)
    l2, n = 10.0, 250  # l2 = 1 / C in logistic regression's units
    pen = l2_penalty(model, l2, n)
    assert float(pen.detach()) == pytest.approx(0.5 * l2 / n * float(table.detach().square().sum()),
                                                rel=1e-12)
    assert l2_penalty(model, 0.0, n) == 0.0
    params = dict(model.named_parameters())
    grads = dict(zip(params, torch.autograd.grad(pen, list(params.values()),
                                                 allow_unused=True), strict=True))
    if kind == "table":  # d/dT (l2 / n) 0.5 ||T||^2 = (l2 / n) T
        torch.testing.assert_close(grads["layers.0.table"], l2 / n * model.layers[0].table)
        assert grads["layers.0.const"] is None
    elif kind == "mlp":
        torch.testing.assert_close(grads["weights.0"], l2 / n * model.weights[0])
    else:  # through the spline parameters: exact against finite differences
        layer = model.layers[0]

        def penalty(coef, sb, ss):
            delta = torch.einsum("b,bio->io", layer._knots().v01[1], coef) * ss + \
                layer._knots().df * sb
            return 0.5 * l2 / n * delta.square().sum()

        args = (layer.coef.detach().requires_grad_(), layer.scale_base.detach().requires_grad_(),
                layer.scale_sp.detach().requires_grad_())
        assert torch.autograd.gradcheck(penalty, args)
        expect = torch.autograd.grad(penalty(*args), args)
        for name, g in zip(("coef", "scale_base", "scale_sp"), expect, strict=True):
            torch.testing.assert_close(grads[f"layers.0.{name}"], g)
    for name, g in grads.items():  # later layers are not penalised
        if not name.startswith(("layers.0", "weights.0")):
            assert g is None or not g.any()


def test_l2_shrinks_the_table(kinase):
    xt, yt, xv, yv = kinase
    norms = []
    for l2 in (0.0, 1000.0):
        model = KAN([11 * 21, 4, 1], grid=3, k=2, window_length=11, first_layer="table")
        fit(model, xt, yt, xv, yv, TrainConfig(epochs=4, l2=l2, patience=0, progress=False))
        norms.append(float(model.first_layer_table()[0].norm()))
    assert norms[1] < 0.7 * norms[0]
