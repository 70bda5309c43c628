"""Adapter: list the selected source shapes with their split (recon.ingest.scan_sources)."""

from recon.logs import setup_logging

setup_logging(snakemake.log[0])

from recon.ingest import scan_sources

scan_sources(snakemake.config, snakemake.output[0])
