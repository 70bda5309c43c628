"""Adapter: build the static HTML report (recon.report.stage.build_report)."""

from recon.logs import setup_logging

setup_logging(snakemake.log[0])

from recon.report.stage import build_report
from recon.rule_config import rule_config

config = rule_config(snakemake)
build_report(
    snakemake.output[0],
    config,
    # The baselines, then every trained experiment (the order of the workflow's evaluate_methods).
    methods=[*config["evaluate"]["baselines"], *config["train"]["experiments"]],
    protocols=list(config["evaluate"]["protocols"]),
)
