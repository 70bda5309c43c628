"""Adapter: predict a split with a baseline (recon.evaluate.baselines.run_baseline)."""

from recon.logs import setup_logging

setup_logging(snakemake.log[0])

from recon.evaluate.baselines import run_baseline
from recon.rule_config import rule_config

run_baseline(
    snakemake.wildcards.baseline,
    snakemake.input.train,
    snakemake.input.split,
    snakemake.output.store,
    rule_config(snakemake),
)
