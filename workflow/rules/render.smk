# Render: Blender (bpy) renders of every usable shape, one Blender process per batch.


rule render_batch:
    """Render a batch of shapes: RGB, depth, normals, albedo, mask and cameras per view."""
    input:
        get_render_batch_inputs,
    output:
        directory("results/render/{category}/{batch}"),
    log:
        "logs/render/{category}/{batch}.log",
    benchmark:
        "benchmarks/render/{category}/{batch}.tsv"
    conda:
        "../../envs/render.yaml"
    threads: 2
    resources:
        mem_mb=lambda wc, attempt: 3000 * attempt,
        runtime=get_render_runtime,
        gpu=0 if config["render"]["device"] == "CPU" else 1,
    params:
        shapes=get_render_batch_shapes,
        config=declared("seed", "render", *SOURCE_KEYS),
    script:
        "../scripts/render_batch.py"
