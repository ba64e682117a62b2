rule predict:
    input:
        unpack(predict_inputs),
    output:
        table="results/predictions/{name}.tsv.gz",
        summary="results/predictions/{name}.summary.json",
    log:
        "results/logs/predict/{name}.log",
    benchmark:
        "results/benchmarks/predict/{name}.tsv"
    wildcard_constraints:
        name=PREDICT_PATTERN,
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=120,
    params:
        residues=config.get("predict", {}).get("residues"),
    script:
        "../scripts/predict.py"
