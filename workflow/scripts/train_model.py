"""Adapter: train one experiment (recon.train.trainer.train_from_files)."""

from pathlib import Path

from recon.logs import setup_logging

setup_logging(snakemake.log[0])

from recon.train.trainer import train_from_files

train_from_files(
    snakemake.input.experiment,
    snakemake.input.train,
    snakemake.input.val,
    Path(snakemake.output.config).parent,
    overrides=snakemake.params.overrides,
    progress=True,  # tqdm on stderr, which the log captures
)
