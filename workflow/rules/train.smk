rule train:
    input:
        unpack(spec_inputs),
        windows="results/{dataset}/windows.tsv.gz",
    output:
        model="results/{dataset}/models/{model}/seed{seed}/model.pt",
        meta="results/{dataset}/models/{model}/seed{seed}/model.json",
        curve="results/{dataset}/models/{model}/seed{seed}/curve.tsv",
    log:
        "results/logs/train/{dataset}/{model}/seed{seed}.log",
    benchmark:
        "results/benchmarks/train/{dataset}/{model}/seed{seed}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
        gpu=lambda wc: uses_gpu(wc.model),
    params:
        spec=lambda wc: model_spec(wc.model),
        reference=lambda wc: reference_spec(wc.model),
    script:
        "../scripts/train.py"
