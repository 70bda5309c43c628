# SDF: signed distance grid, point samples, ground-truth mesh and quality checks per usable shape.


rule sdf_shape:
    """Compute one shape's SDF store; a shape failing the checks is marked quarantined in it."""
    input:
        "results/ingest/shapes/{category}/{shape}.zarr",
    output:
        directory("results/sdf/shapes/{category}/{shape}.zarr"),
    log:
        "logs/sdf/shapes/{category}/{shape}.log",
    benchmark:
        "benchmarks/sdf/shapes/{category}/{shape}.tsv"
    conda:
        "../../envs/geometry.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 3000 * attempt,
        runtime=lambda wc, attempt: 10 * attempt,
    params:
        config=declared("seed", "sdf"),
    script:
        "../scripts/sdf_shape.py"


checkpoint sdf_ledger:
    """Gather every shape's SDF checks into the SDF ledger and the manifest of usable shapes."""
    input:
        manifest="results/ingest/manifest.tsv",
        stores=get_sdf_stores,
    output:
        ledger="results/sdf/ledger.tsv",
        manifest="results/sdf/manifest.tsv",
    log:
        "logs/sdf/ledger.log",
    conda:
        "../../envs/geometry.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=lambda wc, attempt: 30 * attempt,
    script:
        "../scripts/sdf_ledger.py"
