"""Adapter: gather the ingest stores into ledger, manifest and summary (recon.ingest.stage.build_ledger)."""

from recon.logs import setup_logging

setup_logging(snakemake.log[0])

from recon.ingest.stage import build_ledger

build_ledger(
    snakemake.input.sources,
    snakemake.input.stores,
    snakemake.output.ledger,
    snakemake.output.manifest,
    snakemake.output.summary,
)
