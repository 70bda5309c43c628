"""Adapter: a method's predictions under one protocol (recon.evaluate.stage.evaluate_predictions)."""

from recon.logs import setup_logging

setup_logging(snakemake.log[0])

from recon.evaluate.stage import evaluate_predictions
from recon.rule_config import rule_config

evaluate_predictions(
    snakemake.input.predictions,
    snakemake.input.split,
    snakemake.wildcards.protocol,
    snakemake.output.per_item,
    snakemake.output.summary,
    rule_config(snakemake)["seed"],
    seen_categories=list(snakemake.params.seen) or None,  # [] = trained on every category
)
