"""Adapter: gather the SDF stores' checks into ledger and manifest (recon.sdf.stage.build_sdf_ledger)."""

from recon.logs import setup_logging

setup_logging(snakemake.log[0])

from recon.sdf.stage import build_sdf_ledger

build_sdf_ledger(
    snakemake.input.manifest,
    snakemake.input.stores,
    snakemake.output.ledger,
    snakemake.output.manifest,
)
