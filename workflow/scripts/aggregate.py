"""Snakemake script: accuracy.tsv and summary.md of one dataset (see kanbio.report.tables)."""

from pathlib import Path

from kanbio.report.tables import write_dataset_report
from kanbio.stages.snakemake import run

smk = snakemake  # noqa: F821
pairs = [(m, s) for m in smk.params.models for s in smk.params.seeds]
metrics = dict(zip(pairs, smk.input.metrics, strict=True))
predictions = {m: [p for (mm, _), p in zip(pairs, smk.input.predictions, strict=True) if mm == m]
               for m in smk.params.models}
motif = {f"{m} (seed {s})": p
         for (m, s), p in zip(smk.params.explained, smk.input.motif, strict=True)}
run(smk, write_dataset_report, smk.wildcards.dataset, metrics, predictions,
    Path(smk.output.accuracy).parent, motif_files=motif, pair=tuple(smk.params.compare),
    description=smk.params.description)
