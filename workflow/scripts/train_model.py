"""Adapter: train one experiment, one process per GPU the job got (its `gpu` resource; recon.train.stage)."""

from pathlib import Path

from recon.logs import setup_logging

setup_logging(snakemake.log[0])

import torch

from recon.rule_config import rule_config
from recon.train.stage import train_processes

config = rule_config(snakemake)
torch.set_num_threads(max(1, min(snakemake.threads, torch.get_num_threads())))  # the job's threads at most
train_processes(
    snakemake.input.experiment,
    snakemake.input.train,
    snakemake.input.val,
    Path(snakemake.output.config).parent,
    processes=max(1, int(snakemake.resources.gpu)),
    overrides={"train": {"num_workers": config["train"]["num_workers"]}},
    seed=config["seed"],
    progress=True,  # tqdm on stderr, which the log captures
)
