"""Adapter: SDF grid, samples, ground-truth mesh and checks of one shape (recon.sdf.stage.sdf_shape)."""

from recon.logs import setup_logging

setup_logging(snakemake.log[0])

import numba

from recon.rule_config import rule_config
from recon.sdf.stage import sdf_shape

numba.set_num_threads(max(1, min(snakemake.threads, numba.config.NUMBA_NUM_THREADS)))
sdf_shape(snakemake.input[0], snakemake.output[0], rule_config(snakemake))
