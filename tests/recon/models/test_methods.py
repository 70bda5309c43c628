"""Every registered method trains on a real packed store with finite, decreasing loss."""

from __future__ import annotations

import math

import numpy as np
import pytest

from recon.io.tables import read_tsv
from recon.train.trainer import train

pytestmark = pytest.mark.workflow

#: Small, CPU-sized versions of each family (the architectures are the papers'; only widths shrink).
SMALL = {
    "disn": {
        "encoder": "resnet18",
        "image_size": 64,
        "n_points": 512,
        "global_dim": 128,
        "point_dims": [32, 64, 128],
        "decoder_dims": [128, 64],
        "grid_resolution": 33,
    },
    "r2n2": {
        "encoder": "resnet18",
        "image_size": 64,
        "feature_dim": 256,
        "hidden": 32,
        "decoder_dims": [32, 16, 8],
    },
}


@pytest.mark.parametrize("name", sorted(SMALL))
def test_method_trains_a_few_steps_with_finite_decreasing_loss(packed, tmp_path, name):
    store = packed / "results" / "pack" / "train.zarr"
    summary = train(
        name,
        SMALL[name],
        {
            "steps": 12,
            "batch_size": 4,
            "lr": 1e-3,
            "log_every": 1,
            "val_every": 0,
            "checkpoint_every": 100,
            "num_workers": 0,
            "deterministic": True,
        },
        store,
        None,
        tmp_path / name,
        progress=False,
    )
    assert summary["complete"] and summary["steps"] == 12
    losses = [float(r["train/loss"]) for r in read_tsv(tmp_path / name / "history.tsv")]
    assert all(math.isfinite(x) for x in losses)
    assert np.mean(losses[-4:]) < np.mean(losses[:4])
