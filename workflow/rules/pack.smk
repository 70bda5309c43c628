# Pack: one sharded Zarr store per split, with integrity checks and size tables.


rule pack_split:
    """Gather every usable shape of split {split} into one store, checked; list the quarantined."""
    input:
        ingest_ledger="results/ingest/ledger.tsv",
        sdf_ledger="results/sdf/ledger.tsv",
        stores=get_pack_inputs,
    output:
        store=directory("results/pack/{split}.zarr"),
        summary="results/pack/{split}.tsv",
        arrays="results/pack/{split}_arrays.tsv",
    log:
        "logs/pack/{split}.log",
    benchmark:
        "benchmarks/pack/{split}.tsv"
    wildcard_constraints:
        split="train|val|test",
    conda:
        "../../envs/geometry.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 4000 * attempt,
        runtime=get_pack_runtime,
    params:
        shapes=get_pack_shapes,
        config=declared("seed", "pack"),
    script:
        "../scripts/pack_split.py"


rule fingerprint:
    """One SHA-256 per split over the packed arrays' contents, and the per-stage digests behind it."""
    input:
        expand("results/pack/{split}.zarr", split=SPLITS),
    output:
        "results/pack/fingerprint.tsv",
    log:
        "logs/pack/fingerprint.log",
    benchmark:
        "benchmarks/pack/fingerprint.tsv"
    conda:
        "../../envs/geometry.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 4000 * attempt,
        runtime=lambda wc, attempt: 60 * attempt,
    script:
        "../scripts/fingerprint.py"
