rule evaluate:
    input:
        windows="results/{dataset}/windows.tsv.gz",
        models=expand(
            "results/{{dataset}}/models/{{model}}/seed{seed}/model.pt", seed=SEEDS
        ),
    output:
        metrics=expand(
            "results/{{dataset}}/models/{{model}}/seed{seed}/metrics.json", seed=SEEDS
        ),
        predictions=expand(
            "results/{{dataset}}/models/{{model}}/seed{seed}/predictions.tsv.gz",
            seed=SEEDS,
        ),
    log:
        "results/logs/evaluate/{dataset}/{model}.log",
    benchmark:
        "results/benchmarks/evaluate/{dataset}/{model}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        bootstrap=config["bootstrap"],
        prevalence=lambda wc: dataset_spec(wc.dataset).get("prevalence"),
    script:
        "../scripts/evaluate.py"
