rule prepare:
    input:
        dataset_inputs,
    output:
        windows="results/{dataset}/windows.tsv.gz",
        summary="results/{dataset}/summary.json",
    params:
        spec=lambda wc: dataset_spec(wc.dataset),
    log:
        "results/logs/prepare/{dataset}.log",
    benchmark:
        "results/benchmarks/prepare/{dataset}.tsv"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../scripts/prepare.py"
