# Tables, figures and the results page (kanbio.stages.report). A rule that reads many files
# takes them from one helper of common.smk twice: as its inputs, and as the stage's file map.


localrules:
    aggregate,
    study_summary,
    params_figure,


rule aggregate:
    input:
        unpack(lambda wc: named(aggregate_files(wc.dataset))),
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
        files=lambda wc: aggregate_files(wc.dataset),
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


rule dataset_figures:
    input:
        unpack(lambda wc: named(figure_files(wc.dataset))),
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
        files=lambda wc: figure_files(wc.dataset),
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


if PAGE:

    localrules:
        results_page,

    rule results_page:
        input:
            flat(page_files()),
        output:
            page=page_path(),
            figures=page_figures(),
        log:
            "results/logs/results_page.log",
        benchmark:
            "results/benchmarks/results_page.tsv"
        conda:
            ENV
        threads: 1
        resources:
            mem_mb=2000,
            runtime=20,
        params:
            files=page_files(),
            page=PAGE,
            seeds=SEEDS,
            logo=LOGO,
            compare=COMPARE,
            bootstrap=config.get("bootstrap", 1000),
        script:
            "../scripts/results_page.py"
