"""Adapter: join the methods' summaries of one preset (recon.evaluate.stage.gather_summaries)."""

from recon.evaluate.stage import gather_summaries

gather_summaries(list(snakemake.input), snakemake.output[0])
