"""Adapter: generate the demo dataset (recon.demo.make_demo_dataset)."""

from recon.logs import setup_logging

setup_logging(snakemake.log[0])

from recon.demo import make_demo_dataset

demo = snakemake.params.demo
make_demo_dataset(
    snakemake.output[0],
    seed=snakemake.params.seed,
    layout=snakemake.wildcards.layout,
    categories=demo["categories"],
    shapes_per_category=demo["shapes_per_category"],
)
