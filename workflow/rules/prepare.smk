rule prepare:
    input:
        dataset_inputs,
    output:
        windows="results/{dataset}/windows.tsv.gz",
        summary="results/{dataset}/summary.json",
    log:
        "results/logs/prepare/{dataset}.log",
    benchmark:
        "results/benchmarks/prepare/{dataset}.tsv"
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        spec=lambda wc: dataset_spec(wc.dataset),
    script:
        "../scripts/prepare.py"
