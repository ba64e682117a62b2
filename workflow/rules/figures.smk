rule dataset_figures:
    input:
        predictions=lambda wc: per_model_seed(wc.dataset, "predictions.tsv.gz"),
        curves=lambda wc: per_model_seed(wc.dataset, "curve.tsv"),
    output:
        roc=report(
            "results/figures/{dataset}_roc.png",
            caption="../report/roc.rst",
            category="Accuracy",
            subcategory="{dataset}",
        ),
        roc_pdf="results/figures/{dataset}_roc.pdf",
        pr=report(
            "results/figures/{dataset}_pr.png",
            caption="../report/pr.rst",
            category="Accuracy",
            subcategory="{dataset}",
        ),
        pr_pdf="results/figures/{dataset}_pr.pdf",
        curves=report(
            "results/figures/{dataset}_curves.png",
            caption="../report/curves.rst",
            category="Training",
            subcategory="{dataset}",
        ),
        curves_pdf="results/figures/{dataset}_curves.pdf",
    log:
        "results/logs/figures/{dataset}.log",
    benchmark:
        "results/benchmarks/figures/{dataset}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        models=MODELS,
        seeds=SEEDS,
    script:
        "../scripts/dataset_figures.py"


rule params_figure:
    input:
        expand("results/{dataset}/accuracy.tsv", dataset=DATASETS),
    output:
        png=report(
            "results/figures/accuracy_vs_params.png",
            caption="../report/params.rst",
            category="Accuracy",
        ),
        pdf="results/figures/accuracy_vs_params.pdf",
    log:
        "results/logs/figures/accuracy_vs_params.log",
    benchmark:
        "results/benchmarks/figures/accuracy_vs_params.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/params_figure.py"
