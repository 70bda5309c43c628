"""Adapter: predict a split with a trained experiment (recon.train.predict.predict_split)."""

from pathlib import Path

from recon.logs import setup_logging

setup_logging(snakemake.log[0])

from recon.rule_config import rule_config
from recon.train.predict import predict_split, split_name

config = rule_config(snakemake)
predict_split(
    Path(snakemake.input.config).parent,
    snakemake.input.split,
    snakemake.output.store,
    config["evaluate"]["views"],
    config,
    variant=split_name(snakemake.wildcards.experiment)[1],
)
