"""Adapter: predict a split with a trained experiment (recon.train.predict.predict_split)."""

from pathlib import Path

from recon.logs import setup_logging

setup_logging(snakemake.log[0])

import torch

from recon.rule_config import rule_config
from recon.train.predict import predict_split, split_name

config = rule_config(snakemake)
torch.set_num_threads(max(1, min(snakemake.threads, torch.get_num_threads())))  # the job's threads at most
predict_split(
    Path(snakemake.input.config).parent,
    snakemake.input.split,
    snakemake.output.store,
    config["evaluate"]["views"],
    config,
    variant=split_name(snakemake.wildcards.experiment)[1],
)
