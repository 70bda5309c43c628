"""Adapter: the dataset fingerprint of the packed splits (recon.pack.fingerprint.write_fingerprint)."""

from recon.logs import setup_logging

setup_logging(snakemake.log[0])

from recon.pack.fingerprint import write_fingerprint

write_fingerprint(list(snakemake.input), snakemake.output[0])
