"""`kanbio prepare` end to end: outputs, summary, and one-line errors with no partial output."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from kanbio import config as cfg
from kanbio.cli import main
from kanbio.stages import snakemake
from kanbio.stages.prepare import prepare

REPO = Path(__file__).resolve().parents[2]


def write(path: Path, text: str | bytes) -> str:
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return str(path)


def run_cli(args: list[str], capsys) -> tuple[int, str]:
    code = main(args)
    return code, capsys.readouterr().err


def test_prepare_demo_from_config(tmp_path, capsys):
    out = tmp_path / "kinase"
    code, err = run_cli(["prepare", "--config", str(REPO / "config/config.yaml"),
                         "--dataset", "kinase", "--out", str(out)], capsys)
    assert code == 0, err
    table = pd.read_csv(out / "windows.tsv.gz", sep="\t")
    assert list(table.columns) == ["protein_id", "position", "residue", "window", "label", "split"]
    assert set(table.residue) <= {"S", "T"} and table.window.str.len().eq(33).all()
    assert (table.window.str[16] == table.residue).all()
    summary = json.loads((out / "summary.json").read_text())
    for key in ("proteins", "candidates", "positives", "negatives", "letters_normalised",
                "dropped"):
        assert key in summary
    assert summary["positives"] + summary["negatives"] == summary["candidates"]
    # no protein in two splits; no window string in two splits
    assert table.groupby("protein_id").split.nunique().max() == 1
    assert table.groupby("window").split.nunique().max() == 1
    kept = sum(s["windows"] for s in summary["splits"].values())
    assert kept == summary["candidates"] - summary["duplicate_windows_removed"] == len(table)


def test_prepare_flags_and_determinism(tmp_path, capsys):
    fasta = write(tmp_path / "p.fasta", "".join(f">p{i}\nMKSTKAAKSTAK#LLK{'A' * i}K#\n"
                                               for i in range(40)))
    outs = []
    for name in ("a", "b"):
        code, err = run_cli(["prepare", "--fasta", fasta, "--residues", "K", "--half-width", "3",
                             "--out", str(tmp_path / name)], capsys)
        assert code == 0, err
        outs.append((tmp_path / name / "windows.tsv.gz").read_bytes())
    assert outs[0] == outs[1]
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert summary["proteins"] == 40 and summary["positives"] == 80


BAD_FASTA = {
    "empty": ("", "empty file"),
    "no_header": ("MKAAK\nMKK\n", "no FASTA header"),
    "binary": (bytes(range(256)) * 4, "binary"),
    "duplicate_id": (">a\nMK#A\n>a\nMKA\n", "record 'a': duplicate protein id"),
    "digit": (">a\nMK#A\n>b\nMK3A\n", "record 'b': sequence has invalid character '3'"),
    "space": (">a\nMK#A\n>b\nMK\nM KA\n", "record 'b': whitespace inside the sequence"),
    "hash_start": (">a\n#MKA\n", "record 'a': site mark '#' at the sequence start"),
    "hash_double": (">a\nMK##A\n", "record 'a': site mark '#' doubled"),
    "non_target": (">a\nMA#KA\n", "record 'a': site at position 2 is on 'A'"),
}


@pytest.mark.parametrize("case", sorted(BAD_FASTA))
def test_bad_fasta_one_line_error_no_output(tmp_path, capsys, case):
    content, problem = BAD_FASTA[case]
    fasta = write(tmp_path / "in.fasta", content)
    out = tmp_path / "out"
    code, err = run_cli(["prepare", "--fasta", fasta, "--residues", "K", "--strict",
                         "--out", str(out)], capsys)
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "in.fasta" in lines[0] and problem in lines[0]
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize("rows,problem", [
    ("protein_id\tposition\na\t9\n", "site position 9 outside the sequence"),
    ("protein_id\tposition\na\t0\n", "site position 0 outside the sequence"),
])
def test_bad_site_table(tmp_path, capsys, rows, problem):
    fasta = write(tmp_path / "in.fasta", ">a\nMKAK\n")
    sites = write(tmp_path / "s.tsv", rows)
    out = tmp_path / "out"
    code, err = run_cli(["prepare", "--fasta", fasta, "--sites", sites, "--residues", "K",
                         "--strict", "--out", str(out)], capsys)
    assert code != 0 and len(err.strip().splitlines()) == 1
    assert "record 'a'" in err and problem in err
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize("rows,problem", [
    ("protein_id\tposition\nb\t2\n", "no positive site among 3 candidate windows (dropped: "
     "site_protein_not_found 1)"),
    ("protein_id\tposition\na\t1\n", "no positive site among 3 candidate windows (dropped: "
     "site_on_non_target_residue 1)"),
    ("protein_id\tposition\n", "no positive site among 3 candidate windows (dropped: none)"),
    ("protein_id\tposition\na\t2\na\t4\na\t6\n", "no negative candidate among 3"),
])
def test_one_class_dataset_is_a_clear_error(tmp_path, capsys, rows, problem):
    """Lenient mode too: sites that all miss leave nothing to train on, so nothing is written."""
    fasta = write(tmp_path / "in.fasta", ">a\nMKAKAK\n")
    sites = write(tmp_path / "s.tsv", rows)
    out = tmp_path / "out"
    code, err = run_cli(["prepare", "--fasta", fasta, "--sites", sites, "--residues", "K",
                         "--out", str(out)], capsys)
    assert code != 0 and len(err.strip().splitlines()) == 1, err
    assert "in.fasta, " in err and "s.tsv" in err and problem in err
    assert not out.exists() or not any(out.iterdir())


def test_too_few_proteins_for_the_splits_warn_and_train_says_why(tmp_path, capsys):
    """Two proteins cannot fill three splits: prepare warns, train stops with the counts."""
    fasta = write(tmp_path / "two.fasta", ">a\nMKAK#AKAK\n>b\nMKAKAK#AK\n")
    out = tmp_path / "out"
    code, err = run_cli(["prepare", "--fasta", fasta, "--residues", "K", "--out", str(out)],
                        capsys)
    assert code == 0, err
    summary = json.loads((out / "summary.json").read_text())
    assert "dataset: warning: the test split is empty (2 proteins with candidates" in err
    assert any(w.startswith("the test split is empty") for w in summary["split_warnings"])
    # a one-class validation or test split: the same warning on stderr and in the summary
    rng = np.random.default_rng(0)
    fasta = write(tmp_path / "few.fasta", "".join(
        f">p{i}\n{''.join(rng.choice(list('ADEGLSV'), 12))}K{'#' if i < 4 else ''}"
        f"{''.join(rng.choice(list('ADEGLSV'), 12))}\n" for i in range(20)))
    code, err = run_cli(["prepare", "--fasta", fasta, "--residues", "K", "--seed", "1",
                         "--out", str(out)], capsys)
    assert code == 0, err
    summary = json.loads((out / "summary.json").read_text())
    one_class = [s for s in ("val", "test") if min(summary["splits"][s]["positives"],
                                                    summary["splits"][s]["negatives"]) == 0]
    assert one_class and len(summary["split_warnings"]) == len(one_class)
    assert f"dataset: warning: the {one_class[0]} split has 0 positive" in err
    # a training split without positives: train names the table and the counts
    table = pd.read_csv(out / "windows.tsv.gz", sep="\t")
    table.loc[table.split == "train", "label"] = 0
    table.to_csv(tmp_path / "neg.tsv", sep="\t", index=False)
    code, err = run_cli(["train", "--windows", str(tmp_path / "neg.tsv"), "--model", "linear",
                         "--out", str(tmp_path / "m")], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "neg.tsv: the training split has 0 positive and" in err and "both classes" in err
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("window,problem", [
    ("AAKAAA", "length 6, expected 5"),
    ("AARAA", "window centre is 'R'"),
])
def test_bad_window_fasta(tmp_path, capsys, window, problem):
    pos = write(tmp_path / "pos.fasta", f">sp|P1|-|3\nAAKAA\n>sp|P2|-|4\n{window}\n")
    neg = write(tmp_path / "neg.fasta", ">sp|P3|-|3\nAAKAA\n")
    out = tmp_path / "out"
    code, err = run_cli(["prepare", "--positives", pos, "--negatives", neg, "--residues", "K",
                         "--half-width", "2", "--strict", "--out", str(out)], capsys)
    assert code != 0 and len(err.strip().splitlines()) == 1
    assert "pos.fasta:3" in err and "record 'sp|P2|-|4'" in err and problem in err
    assert not out.exists() or not any(out.iterdir())


def test_unknown_config_key(tmp_path, capsys):
    cfg = write(tmp_path / "c.yaml", "datasets:\n  d:\n    fasta: x.fasta\n    residues: K\n"
                                     "    hlaf_width: 3\n")
    code, err = run_cli(["prepare", "--config", cfg, "--dataset", "d", "--out",
                         str(tmp_path / "o")], capsys)
    assert code != 0 and len(err.strip().splitlines()) == 1
    assert "unknown config key 'hlaf_width'" in err and "half_width" in err and "c.yaml" in err
    cfg2 = write(tmp_path / "c2.yaml", "datasets:\n  d:\n    fasta: x.fasta\n    residues: K\n"
                                      "splt: {}\n")
    code, err = run_cli(["prepare", "--config", cfg2, "--dataset", "d", "--out",
                         str(tmp_path / "o")], capsys)
    assert code != 0 and "unknown config key 'splt'" in err


def test_missing_input_path(tmp_path, capsys):
    out = tmp_path / "out"
    code, err = run_cli(["prepare", "--fasta", str(tmp_path / "nope.fasta"), "--residues", "K",
                         "--out", str(out)], capsys)
    assert code != 0 and len(err.strip().splitlines()) == 1
    assert "nope.fasta" in err and "file not found" in err
    assert not out.exists()


def test_lenient_mode_counts_instead_of_failing(tmp_path, capsys):
    fasta = write(tmp_path / "in.fasta", ">a\nMK#AK\n>a\nMKA\n>b\nMA#K#\n>c\nM1K\n")
    code, err = run_cli(["prepare", "--fasta", fasta, "--residues", "K", "--half-width", "1",
                         "--out", str(tmp_path / "o")], capsys)
    assert code == 0, err
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["dropped"] == {"duplicate_id": 1, "invalid_character": 1,
                                  "site_on_non_target_residue": 1}
    assert summary["proteins"] == 2 and summary["positives"] == 2


def test_corrupt_gzip_one_line_error_no_output(tmp_path, capsys):
    fasta = write(tmp_path / "in.fasta.gz", b"\x1f\x8b\x08\x00" + b"not deflate data" * 8)
    out = tmp_path / "out"
    code, err = run_cli(["prepare", "--fasta", fasta, "--residues", "K", "--out", str(out)],
                        capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith(f"kanbio: error: {fasta}: corrupt gzip data")
    assert not out.exists()


@pytest.mark.parametrize("strict", [[], ["--strict"]])
def test_header_only_fasta_is_a_clear_error(tmp_path, capsys, strict):
    fasta = write(tmp_path / "in.fasta", ">only\n")
    out = tmp_path / "out"
    code, err = run_cli(["prepare", "--fasta", fasta, "--residues", "K", *strict, "--out",
                         str(out)], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"{fasta}: no usable record (1 read, dropped: empty_sequence 1)" in err
    assert not out.exists()


def test_empty_record_dropped_and_counted(tmp_path, capsys):
    fasta = write(tmp_path / "in.fasta", ">a\nMK#AK\n>gap\n>b\nAKA\n")
    code, err = run_cli(["prepare", "--fasta", fasta, "--residues", "K", "--half-width", "1",
                         "--strict", "--out", str(tmp_path / "o")], capsys)
    assert code == 0, err
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["dropped"] == {"empty_sequence": 1} and "empty_sequence 1" in err
    assert summary["proteins"] == 2 and summary["records_read"] == 3
    table = pd.read_csv(tmp_path / "o" / "windows.tsv.gz", sep="\t")
    assert "gap" not in set(table.protein_id)


def test_byte_order_mark_in_fasta_and_site_table(tmp_path, capsys):
    bom = b"\xef\xbb\xbf"
    marked = write(tmp_path / "m.fasta", bom + b">a\r\nMK#AK\r\n")
    code, err = run_cli(["prepare", "--fasta", marked, "--residues", "K", "--half-width", "1",
                         "--out", str(tmp_path / "m")], capsys)
    assert code == 0, err
    fasta = write(tmp_path / "p.fasta", ">a\nMKAK\n")
    sites = write(tmp_path / "s.csv", bom + b"protein_id,position\r\na,2\r\n")
    code, err = run_cli(["prepare", "--fasta", fasta, "--sites", sites, "--residues", "K",
                         "--half-width", "1", "--out", str(tmp_path / "s")], capsys)
    assert code == 0, err
    for name in ("m", "s"):
        summary = json.loads((tmp_path / name / "summary.json").read_text())
        assert summary["positives"] == 1 and summary["negatives"] == 1


def test_snakemake_glue_one_line_and_failure(tmp_path, capsys):
    fasta = write(tmp_path / "in.fasta.gz", b"\x1f\x8b\x08\x00" + b"not deflate data" * 8)
    ds = cfg.dataset({"datasets": {"d": {"fasta": fasta, "residues": "K"}}}, "d")
    log = tmp_path / "prepare.log"
    smk = SimpleNamespace(log=[str(log)])
    with pytest.raises(SystemExit) as exc:
        snakemake.run(smk, prepare, ds, tmp_path / "out", "d")
    assert exc.value.code == 1
    lines = log.read_text().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"kanbio: error: {fasta}: corrupt gzip data")
    assert not (tmp_path / "out").exists()


def test_a_predefined_test_set_carves_validation_by_homology_by_default():
    kcfg = cfg
    ds = {"fasta": "a.fasta", "test_fasta": "t.fasta", "residues": "K"}
    assert kcfg.dataset({"datasets": {"d": ds}}, "d")["split"]["method"] == "homology"
    own = {**ds, "split": {"method": "protein"}}
    assert kcfg.dataset({"datasets": {"d": own}}, "d")["split"]["method"] == "protein"
    top = {"datasets": {"d": ds}, "split": {"method": "protein"}}
    assert kcfg.dataset(top, "d")["split"]["method"] == "protein"
    windows = {"positives": "p.fa", "test_positives": "tp.fa", "residues": "K"}
    assert kcfg.dataset({"datasets": {"d": windows}}, "d")["split"]["method"] == "protein"


def test_output_path_problems_are_one_line_naming_the_path(tmp_path, capsys):
    fasta = write(tmp_path / "in.fasta", ">a\nMK#AKAK\n>b\nMKAK#AK\n>c\nMKAKAK\n")
    blocker = write(tmp_path / "taken", "a file where the output folder should go")
    code, err = run_cli(["prepare", "--fasta", fasta, "--residues", "K", "--out", blocker], capsys)
    assert code == 1 and err.strip() == (f"kanbio: error: {blocker}: exists and is not a folder "
                                         "(an output folder was expected)")
    (tmp_path / "summary.json").mkdir()  # an output file whose name is taken by a folder
    code, err = run_cli(["prepare", "--fasta", fasta, "--residues", "K", "--out", str(tmp_path)],
                        capsys)
    taken = tmp_path / "summary.json"
    assert code == 1 and err.strip() == f"kanbio: error: {taken}: is a directory"
    assert not list(tmp_path.glob(".*.tmp*"))  # the temporary file is gone
    assert not (tmp_path / "windows.tsv.gz").exists()  # both outputs or neither
