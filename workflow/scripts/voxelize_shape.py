"""Adapter: voxels, octree and spherical maps of one shape (recon.voxelize.stage.voxelize_shape)."""

from recon.logs import setup_logging

setup_logging(snakemake.log[0])

import numba

from recon.rule_config import rule_config
from recon.voxelize.stage import voxelize_shape

numba.set_num_threads(max(1, min(snakemake.threads, numba.config.NUMBA_NUM_THREADS)))
voxelize_shape(
    snakemake.input.ingest,
    snakemake.input.sdf,
    snakemake.params.render_store,
    snakemake.output.store,
    snakemake.output.binvox,
    rule_config(snakemake),
)
