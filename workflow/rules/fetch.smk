localrules:
    fetch,


rule fetch:
    output:
        f"{EXTERNAL}/{{source}}/{{path}}",
    log:
        "results/logs/fetch/{source}/{path}.log",
    wildcard_constraints:
        source=FETCH_SOURCES,
        path=FETCH_FILES,
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=500,
        runtime=30,
    script:
        "../scripts/fetch.py"
