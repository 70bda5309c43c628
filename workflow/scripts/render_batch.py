"""Adapter: render one batch of shapes in one Blender process (recon.render.views.render_batch)."""

from recon.logs import setup_logging

setup_logging(snakemake.log[0])

from recon.render.views import render_batch

category = snakemake.wildcards.category
render_batch(
    [(category, shape) for shape in snakemake.params.shapes],
    ingest_dir="results/ingest/shapes",
    source_root=snakemake.params.source_root,
    config=snakemake.config,
    out_dir=snakemake.output[0],
    threads=snakemake.threads,
)
