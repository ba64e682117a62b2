rule explain:
    input:
        windows="results/{dataset}/windows.tsv.gz",
        model="results/{dataset}/models/{model}/seed{seed}/model.pt",
        meta="results/{dataset}/models/{model}/seed{seed}/model.json",
    output:
        motif="results/{dataset}/explain/{model}/seed{seed}/motif.json",
        positions="results/{dataset}/explain/{model}/seed{seed}/attribution_positions.tsv",
        residues="results/{dataset}/explain/{model}/seed{seed}/attribution_residues.tsv",
    log:
        "results/logs/explain/{dataset}/{model}/seed{seed}.log",
    benchmark:
        "results/benchmarks/explain/{dataset}/{model}/seed{seed}.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        truth=lambda wc: dataset_spec(wc.dataset).get("truth"),
        known_motif=lambda wc: dataset_spec(wc.dataset).get("known_motif"),
        max_windows=config.get("explain", {}).get("max_windows", 10000),
    script:
        "../scripts/explain.py"
