"""Adapter: render one batch of shapes in one Blender process (recon.render.stage.render_batch)."""

from recon.logs import setup_logging

setup_logging(snakemake.log[0])

from recon.config import source_root
from recon.render.stage import render_batch
from recon.rule_config import rule_config

config = rule_config(snakemake)
category = snakemake.wildcards.category
render_batch(
    [(category, shape) for shape in snakemake.params.shapes],
    ingest_dir="results/ingest/shapes",
    source_root=source_root(config),
    config=config,
    out_dir=snakemake.output[0],
    threads=snakemake.threads,
)
