rule evaluate:
    input:
        windows="results/{dataset}/windows.tsv.gz",
        model="results/{dataset}/models/{model}/seed{seed}/model.pt",
        meta="results/{dataset}/models/{model}/seed{seed}/model.json",
    output:
        metrics="results/{dataset}/models/{model}/seed{seed}/metrics.json",
        predictions="results/{dataset}/models/{model}/seed{seed}/predictions.tsv.gz",
    log:
        "results/logs/evaluate/{dataset}/{model}/seed{seed}.log",
    benchmark:
        "results/benchmarks/evaluate/{dataset}/{model}/seed{seed}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        bootstrap=config.get("bootstrap", 1000),
    script:
        "../scripts/evaluate.py"
