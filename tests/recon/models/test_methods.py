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
        "sdf_preset": "gaussian",  # its 6 % uniform points keep the far field positive early on
    },
    "r2n2": {
        "encoder": "resnet18",
        "image_size": 64,
        "feature_dim": 256,
        "hidden": 32,
        "decoder_dims": [32, 16, 8],
    },
}


#: The variants every family must train in: DISN with the estimated camera (its camera network
#: trained by the point-cloud transform loss, the SDF network fed the estimate), multi-view 3D-R2N2.
VARIANTS = {
    "disn": SMALL["disn"],
    "disn-estimated-camera": {**SMALL["disn"], "camera": "estimated", "camera_loss_weight": 1.0},
    "r2n2": SMALL["r2n2"],
    "r2n2-three-views": {**SMALL["r2n2"], "views_per_item": 3},
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_method_trains_a_few_steps_with_finite_decreasing_loss(packed, tmp_path, variant):
    name = variant.split("-")[0]
    store = packed / "results" / "pack" / "train.zarr"
    settings = {
        "steps": 12,
        "batch_size": 4,
        "lr": 1e-3,
        "log_every": 1,
        "val_every": 0,
        "checkpoint_every": 100,
        "num_workers": 0,
        "deterministic": True,
    }
    summary = train(name, VARIANTS[variant], settings, store, None, tmp_path / variant, progress=False)
    assert summary["complete"] and summary["steps"] == 12
    history = read_tsv(tmp_path / variant / "history.tsv")
    for column in [c for c in history[0] if c.startswith("train/") and not c.endswith("grad_norm")]:
        values = [float(r[column]) for r in history]
        assert all(math.isfinite(x) for x in values), column
        if column in ("train/loss", "train/camera"):
            assert np.mean(values[-4:]) < np.mean(values[:4]), column


def _r2n2_iou(name, config, model, split, store) -> float:
    """Mean r2n2-preset IoU (32^3 at 0.4) of the model's meshes from view 0 of every shape."""
    from recon.evaluate.protocols import Prediction, get_preset
    from recon.io.loader import PackedDataset, collate
    from recon.train.method import get_method

    method = get_method(name)
    targets = {k: v for k, v in method.targets(config).items() if k != "targets"}
    dataset = PackedDataset(store, targets=("image", "camera"), seed=0, views=[0], **targets)
    model.eval()
    scores = []
    for i in range(len(dataset)):
        batch = collate([dataset[i]])
        batch["voxel_half_extent"] = split.voxel_half_extent
        ((vertices, faces),) = method.predict_mesh(model, batch, config)
        gt = split.ground_truth(int(batch["shape_index"][0]))
        scores.append(
            get_preset("r2n2").evaluate(Prediction(vertices, faces), gt, np.random.default_rng(0))["iou"]
        )
    return float(np.mean(scores))


#: Steps to overfit the 6 train shapes (4 views each) at batch 8, cosine schedule from 1e-3. Measured
#: on 2 cores (r2n2-preset IoU from view 0 against the filled voxels; the category mean shape scores
#: 0.580): disn 0.646 after 400 steps, r2n2 0.789 after 200 (2026-12-04; against the centre-inside
#: voxels used before, the mean shape scored 0.543, disn 0.626-0.651 and r2n2 0.712-0.787 over
#: several runs: CPU training is not bit-reproducible across runs unless ``deterministic``).
OVERFIT_STEPS = {"disn": 400, "r2n2": 200}


@pytest.mark.parametrize("name", sorted(SMALL))
def test_method_overfits_its_train_shapes_past_the_mean_shape(packed, tmp_path, name):
    import torch

    from recon.evaluate.baselines import mean_shape
    from recon.evaluate.protocols import Prediction, get_preset
    from recon.io.packed import PackedSplit
    from recon.train.method import get_method, method_config

    store = packed / "results" / "pack" / "train.zarr"
    split = PackedSplit(store)
    settings = {
        "steps": OVERFIT_STEPS[name],
        "batch_size": 8,
        "lr": 1e-3,
        "schedule": "cosine",
        "val_every": 0,
        "num_workers": 0,
    }
    train(name, SMALL[name], settings, store, None, tmp_path / name, progress=False)
    method, config = get_method(name), method_config(name, SMALL[name])
    model = method.build(config)
    model.load_state_dict(torch.load(tmp_path / name / "checkpoints" / "last.pt", weights_only=True)["model"])
    ours = _r2n2_iou(name, config, model, split, store)
    # The category mean shape on the same (train) shapes, same preset.
    items, meshes, voxels, _ = mean_shape(split, split)
    preset = get_preset("r2n2")
    baseline = np.mean(
        [
            preset.evaluate(
                Prediction(*meshes[it.mesh], {n: v[it.mesh] for n, v in voxels.items()}),
                split.ground_truth(s),
                np.random.default_rng(0),
            )["iou"]
            for s, it in enumerate(items)
        ]
    )
    print(f"{name}: r2n2 IoU {ours:.3f} on its 6 train shapes (view 0), category mean shape {baseline:.3f}")
    assert ours > baseline + 0.05


def test_every_shipped_experiment_file_resolves():
    from recon.train.method import get_method
    from recon.train.trainer import resolve_experiment
    from tests.meshes import REPO

    files = sorted((REPO / "config" / "experiments").glob("*.yaml"))
    assert {f.stem for f in files} >= {"disn_demo", "r2n2_demo", "disn_shapenet", "r2n2_shapenet"}
    for path in files:
        method, model, train_config = resolve_experiment(path)
        assert method is get_method(path.stem.split("_")[0])
        assert train_config.steps > 0 and model is not None
