"""kanbio.report.figures (study, dataset and results-page figures) and the figure stages: PNG +
PDF, byte-identical on a rerun. The per-model figures are tested with the explain stage."""

from __future__ import annotations

from pathlib import Path

import pytest
from report_cases import seed_files, write_study

from kanbio.cli import main
from kanbio.report import figures, style, tables
from kanbio.stages import report

FIGURES = {"roc": "toy_roc.png", "pr": "toy_pr.png", "curves": "toy_curves.png"}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    files = write_study(root)
    for ds in files:
        report.aggregate(ds, {k: seed_files(files, ds, k) for k in ("metrics", "predictions")},
                         root / ds / "accuracy.tsv", root / ds / "summary.md", n_boot=20)
    return root, files


def draw_all(root: Path, files: dict, out: Path) -> list[Path]:
    """Every dataset, study and page figure of the toy study into ``out``."""
    made = report.dataset_figures("toy", {"predictions": seed_files(files, "toy", "predictions"),
                                          "curves": seed_files(files, "toy", "curve")},
                                  *(out / f for f in FIGURES.values()))
    made += report.params_figure([root / ds / "accuracy.tsv" for ds in files],
                                 out / "accuracy_vs_params.png")
    scores = {m: tables.test_scores(p) for m, p in
              ((m, list(s.values())) for m, s in seed_files(files, "toy", "predictions").items())}
    refs = [{"method": "Tool", "sn": 0.7, "sp": 0.8}, {"method": "No point", "mcc": 0.3}]
    made.append(figures.roc_with_references("toy", scores, refs, out / "page_roc"))
    made.append(figures.fold_auroc({"toy": {"kan": 0.8, "mlp": 0.7}, "toy2": {"kan": 0.75}},
                                   ["kan", "mlp"], out / "page_folds"))
    return made


def test_figures_are_png_and_pdf_and_byte_identical(study, tmp_path):
    root, files = study
    first, second = draw_all(root, files, tmp_path / "a"), draw_all(root, files, tmp_path / "b")
    names = [p.name for p in first]
    assert names == ["toy_roc.png", "toy_roc.pdf", "toy_pr.png", "toy_pr.pdf", "toy_curves.png",
                     "toy_curves.pdf", "accuracy_vs_params.png", "accuracy_vs_params.pdf",
                     "page_roc.png", "page_folds.png"]
    for a, b in zip(first, second, strict=True):
        data = a.read_bytes()
        assert data == b.read_bytes(), a.name
        assert data[:4] == (b"\x89PNG" if a.suffix == ".png" else b"%PDF")
        assert len(data) > 1000
        # no software tag or timestamp that would differ between machines or runs
        assert b"Software" not in data and b"CreationDate" not in data and b"matplotlib" not in data


def test_figure_outputs_are_png_stems(study, tmp_path):
    root, files = study
    with pytest.raises(ValueError, match="must end in .png"):
        report.params_figure([root / "toy/accuracy.tsv"], tmp_path / "params.pdf")


def test_logistic_without_curve_is_skipped(study, tmp_path):
    root, files = study
    curves = {m: list(s.values()) for m, s in seed_files(files, "toy", "curve").items()}
    flat = tmp_path / "flat.tsv"
    flat.write_text("epoch\n1\n")  # a model fitted in one go writes no losses
    made = figures.training_curves("toy", {**curves, "logistic": [flat]}, tmp_path / "curves")
    assert [p.name for p in made] == ["curves.png", "curves.pdf"]


def test_style_cycles_colours_and_markers():
    assert style.colour(0) == style.OKABE_ITO["blue"] == style.colour(len(style.COLOURS))
    assert style.marker(1) == "s" == style.marker(1 + len(style.MARKERS))


def test_figures_command(study, tmp_path, capsys):
    root, files = study
    argv = ["figures", "--dataset", "toy", "--out", str(tmp_path / "cli"),
            "--accuracy", *(str(root / ds / "accuracy.tsv") for ds in files)]
    for m in ("kan", "mlp"):
        argv += ["--model", m, *(str(root / f"toy/models/{m}/seed{s}") for s in (0, 1))]
    assert main(argv) == 0
    assert "8 figures written" in capsys.readouterr().err
    stage = draw_all(root, files, tmp_path / "stage")
    for p in stage[:8]:
        assert (tmp_path / "cli" / p.name).read_bytes() == p.read_bytes(), p.name
