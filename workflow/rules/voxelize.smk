# Voxelize: voxel grids, an octree and spherical maps per shape that passed the SDF checks.


rule voxelize_shape:
    """Voxels (solid, surface), octree, spherical maps and a .binvox file of one shape."""
    input:
        ingest="results/ingest/shapes/{category}/{shape}.zarr",
        sdf="results/sdf/shapes/{category}/{shape}.zarr",
        render=get_render_batch_of_shape,
    output:
        store=directory("results/voxelize/shapes/{category}/{shape}.zarr"),
        binvox="results/voxelize/binvox/{category}/{shape}/model.binvox",
    log:
        "logs/voxelize/shapes/{category}/{shape}.log",
    benchmark:
        "benchmarks/voxelize/shapes/{category}/{shape}.tsv"
    conda:
        "../../envs/geometry.yaml"
    threads: 1
    resources:
        mem_mb=lambda wc, attempt: 3000 * attempt,
        runtime=lambda wc, attempt: 10 * attempt,
    params:
        render_store=lambda wc, input: f"{input.render}/{wc.shape}.zarr",
        config=declared("ingest.normalization", "voxelize"),
    script:
        "../scripts/voxelize_shape.py"
