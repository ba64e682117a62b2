rule search:
    input:
        unpack(lambda wc: spec_inputs(wc, own=False)),
        windows="results/{dataset}/windows.tsv.gz",
    output:
        table="results/{dataset}/search/{model}.tsv",
        choice="results/{dataset}/search/{model}.json",
    log:
        "results/logs/search/{dataset}/{model}.log",
    benchmark:
        "results/benchmarks/search/{dataset}/{model}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=240,
    params:
        spec=lambda wc: model_spec(wc.model),
        reference=lambda wc: reference_spec(wc.model),
        seed=SEARCH["seed"],
        metric=SEARCH["metric"],
    script:
        "../scripts/search.py"
