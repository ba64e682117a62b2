localrules:
    results_page,


rule results_page:
    input:
        page_inputs,
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
        page=PAGE,
        models=MODELS,
        seeds=SEEDS,
        searched=SEARCHED,
        explained=explained_pairs,
        logo=LOGO,
        compare=COMPARE,
        bootstrap=config.get("bootstrap", 1000),
    script:
        "../scripts/results_page.py"
