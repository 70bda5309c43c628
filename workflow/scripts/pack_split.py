"""Adapter: pack one split into one Zarr store (recon.pack.stage.pack_split)."""

from recon.logs import setup_logging

setup_logging(snakemake.log[0])

from recon.pack.stage import PackShape, pack_split
from recon.rule_config import rule_config

pack_split(
    snakemake.wildcards.split,
    [PackShape(**shape) for shape in snakemake.params.shapes],
    snakemake.input.ingest_ledger,
    snakemake.input.sdf_ledger,
    snakemake.output.store,
    snakemake.output.summary,
    snakemake.output.arrays,
    rule_config(snakemake),
)
