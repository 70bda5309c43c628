"""Adapter: build the static HTML report (recon.report.build.build_report)."""

from recon.logs import setup_logging

setup_logging(snakemake.log[0])

from recon.report.build import build_report

build_report(
    snakemake.output[0],
    snakemake.config,
    methods=snakemake.params.methods,
    presets=snakemake.params.presets,
)
