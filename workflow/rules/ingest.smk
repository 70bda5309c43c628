# Ingest: raw meshes -> per-shape checks and canonical frame -> ledger and manifest.


rule demo_dataset:
    """Generate the built-in procedural ShapeNet-layout dataset."""
    output:
        directory("resources/demo/ShapeNetCore.{layout}"),
    log:
        "logs/demo_dataset/{layout}.log",
    conda:
        "../../envs/geometry.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=lambda wc, attempt: 10 * attempt,
    params:
        config=declared("seed", "demo.categories", "demo.shapes_per_category"),
    script:
        "../scripts/demo_dataset.py"


checkpoint scan_sources:
    """List the selected shapes of the source with their split."""
    input:
        get_scan_input,
    output:
        "results/ingest/sources.tsv",
    log:
        "logs/ingest/scan_sources.log",
    conda:
        "../../envs/geometry.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=lambda wc, attempt: 30 * attempt,
    params:
        config=declared("seed", *SOURCE_KEYS, "source.taxonomy", "selection", "splits"),
    script:
        "../scripts/scan_sources.py"


rule ingest_shape:
    """Load one raw mesh, measure it, and write its normalized mesh or quarantine it."""
    input:
        get_source_mesh,
    output:
        directory("results/ingest/shapes/{category}/{shape}.zarr"),
    log:
        "logs/ingest/shapes/{category}/{shape}.log",
    benchmark:
        "benchmarks/ingest/shapes/{category}/{shape}.tsv"
    conda:
        "../../envs/geometry.yaml"
    threads: 1
    resources:
        mem_mb=ingest_mem,
        runtime=lambda wc, attempt: 5 * attempt,
    params:
        row=get_source_row,
        config=declared("ingest", *SOURCE_KEYS),
    script:
        "../scripts/ingest_shape.py"


checkpoint ledger:
    """Gather every shape's checks into the ledger, the manifest and a summary."""
    input:
        sources="results/ingest/sources.tsv",
        stores=get_ingest_stores,
    output:
        ledger="results/ingest/ledger.tsv",
        manifest="results/ingest/manifest.tsv",
        summary="results/ingest/summary.tsv",
    log:
        "logs/ingest/ledger.log",
    conda:
        "../../envs/geometry.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=lambda wc, attempt: 30 * attempt,
    script:
        "../scripts/build_ledger.py"
