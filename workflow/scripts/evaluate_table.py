"""Adapter: join the methods' summaries of one protocol (recon.evaluate.stage.gather_summaries)."""

from recon.logs import setup_logging

setup_logging(snakemake.log[0])

from recon.evaluate.stage import gather_summaries

gather_summaries(list(snakemake.input), snakemake.output[0])
