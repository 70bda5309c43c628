"""Adapter: generate the demo dataset (recon.demo.make_demo_dataset)."""

from recon.logs import setup_logging

setup_logging(snakemake.log[0])

from recon.demo import make_demo_dataset
from recon.rule_config import rule_config

config = rule_config(snakemake)
make_demo_dataset(
    snakemake.output[0],
    seed=config["seed"],
    layout=snakemake.wildcards.layout,
    categories=list(config["demo"]["categories"]),
    shapes_per_category=config["demo"]["shapes_per_category"],
)
