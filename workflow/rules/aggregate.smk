rule aggregate:
    input:
        metrics=lambda wc: per_model_seed(wc.dataset, "metrics.json"),
        predictions=lambda wc: per_model_seed(wc.dataset, "predictions.tsv.gz"),
        motif=lambda wc: explain_outputs(wc.dataset, "motif.json"),
    output:
        accuracy="results/{dataset}/accuracy.tsv",
        summary="results/{dataset}/summary.md",
    log:
        "results/logs/aggregate/{dataset}.log",
    benchmark:
        "results/benchmarks/aggregate/{dataset}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        models=MODELS,
        seeds=SEEDS,
        explained=explained_pairs,
        compare=COMPARE,
        description=lambda wc: dataset_spec(wc.dataset).get("description", ""),
    script:
        "../scripts/aggregate.py"


rule study_summary:
    input:
        expand("results/{dataset}/accuracy.tsv", dataset=DATASETS),
    output:
        "results/summary.md",
    log:
        "results/logs/study_summary.log",
    benchmark:
        "results/benchmarks/study_summary.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/study_summary.py"
