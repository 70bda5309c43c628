"""Adapter: list the selected source shapes with their split (recon.ingest.stage.scan_sources)."""

from recon.logs import setup_logging

setup_logging(snakemake.log[0])

from recon.ingest.stage import scan_sources
from recon.rule_config import rule_config

scan_sources(rule_config(snakemake), snakemake.output[0])
