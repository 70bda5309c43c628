"""Adapter: check one raw mesh and write its ingest store (recon.ingest.stage.ingest_shape)."""

from recon.logs import setup_logging

setup_logging(snakemake.log[0])

from recon.config import source_root
from recon.ingest.stage import ingest_shape
from recon.rule_config import rule_config

config = rule_config(snakemake)
row = snakemake.params.row
ingest_shape(
    source_root(config) / row["source_path"],
    snakemake.output[0],
    category=row["category"],
    category_name=row["category_name"],
    shape_id=row["shape_id"],
    source_path=row["source_path"],
    source_format=row["source_format"],
    source_folder=row.get("source_folder"),
    config=config,
)
