"""Every registered method trains on a real packed store and predicts meshes; the families learn."""

from __future__ import annotations

import math

import numpy as np
import pytest

from recon.io.tables import read_tsv
from recon.models.method import METHOD_PACKAGE, METHODS, PredictContext, discover_methods
from recon.train import train

pytestmark = pytest.mark.workflow


def _families() -> list[str]:
    """The methods of the package's families (not those other tests register in this process)."""
    discover_methods()
    return sorted(n for n, m in METHODS.items() if type(m).__module__.startswith(f"{METHOD_PACKAGE}."))


#: Small, CPU-sized versions of each family (the architectures are the papers'; only widths shrink).
SMALL = {name: dict(METHODS[name].small_config) for name in _families()}


#: The variants every family must train in: DISN with the estimated camera (its camera network
#: trained by the point-cloud transform loss, the SDF network fed the estimate), multi-view 3D-R2N2.
VARIANTS = {
    "disn": SMALL["disn"],
    "disn-estimated-camera": {**SMALL["disn"], "camera": "estimated", "camera_loss_weight": 1.0},
    "r2n2": SMALL["r2n2"],
    "r2n2-three-views": {**SMALL["r2n2"], "views_per_item": 3},
}


@pytest.mark.parametrize("name", _families())
def test_every_registered_method_trains_two_steps_and_predicts_meshes(packed, tmp_path, name):
    """A new family is covered the moment it registers: its small config trains and predicts."""
    import torch

    from recon.io.loader import collate
    from recon.io.packed import PackedSplit
    from recon.train.predict import load_run

    store = packed / "results" / "pack" / "train.zarr"
    settings = {"steps": 2, "batch_size": 2, "log_every": 1, "val_every": 0, "num_workers": 0}
    summary = train(name, SMALL[name], settings, store, None, tmp_path / name, progress=False)
    assert summary["complete"] and summary["steps"] == 2
    history = read_tsv(tmp_path / name / "history.tsv")
    assert [int(r["step"]) for r in history] == [1, 2]
    assert all(math.isfinite(float(r["train/loss"])) for r in history)
    method, config, model = load_run(tmp_path / name)
    dataset = method.dataset(store, config, seed=0, train=False)
    batch = collate([dataset[0], dataset[1]])
    with torch.no_grad():
        meshes = method.predict_mesh(model, batch, config, PredictContext.of(PackedSplit(store)))
    assert len(meshes) == 2
    for vertices, faces in meshes:
        assert vertices.ndim == 2 and vertices.shape[1] == 3 and faces.ndim == 2 and faces.shape[1] == 3


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
    """Mean r2n2-protocol IoU (32^3 at 0.4) of the model's meshes from view 0 of every shape."""
    from recon.evaluate.protocols import get_protocol
    from recon.io.loader import PackedDataset, collate
    from recon.io.predictions import Prediction
    from recon.models.method import get_method

    method = get_method(name)
    targets = {k: v for k, v in method.targets(config).items() if k != "targets"}
    dataset = PackedDataset(store, targets=("image", "camera"), seed=0, views=[0], **targets)
    model.eval()
    scores = []
    for i in range(len(dataset)):
        batch = collate([dataset[i]])
        ((vertices, faces),) = method.predict_mesh(model, batch, config, PredictContext.of(split))
        gt = split.ground_truth(int(batch["shape_index"][0]))
        scores.append(
            get_protocol("r2n2").evaluate(Prediction(vertices, faces), gt, np.random.default_rng(0))["iou"]
        )
    return float(np.mean(scores))


#: Steps to overfit the 6 train shapes (4 views each) at batch 8, cosine schedule from 1e-3. Measured
#: on 2 cores (r2n2-protocol IoU from view 0 against the filled voxels; the category mean shape scores
#: 0.580): disn 0.646 after 400 steps, r2n2 0.789 after 200 (2026-12-04; against the centre-inside
#: voxels used before, the mean shape scored 0.543, disn 0.626-0.651 and r2n2 0.712-0.787 over
#: several runs: CPU training is not bit-reproducible across runs unless ``deterministic``).
OVERFIT_STEPS = {"disn": 400, "r2n2": 200}


@pytest.mark.parametrize("name", sorted(OVERFIT_STEPS))
def test_method_overfits_its_train_shapes_past_the_mean_shape(packed, tmp_path, name):
    import torch

    from recon.evaluate.baselines import mean_shape
    from recon.evaluate.protocols import get_protocol
    from recon.io.packed import PackedSplit
    from recon.io.predictions import Prediction
    from recon.models.method import get_method, method_config

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
    # The category mean shape on the same (train) shapes, same protocol.
    items, meshes, voxels, _ = mean_shape(split, split)
    protocol = get_protocol("r2n2")
    baseline = np.mean(
        [
            protocol.evaluate(
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
    from recon.models.method import get_method
    from recon.train import resolve_experiment
    from tests.meshes import REPO

    files = sorted((REPO / "config" / "experiments").glob("*.yaml"))
    assert {f.stem for f in files} >= {"disn_demo", "r2n2_demo", "disn_shapenet", "r2n2_shapenet"}
    for path in files:
        method, model, train_config = resolve_experiment(path)
        assert method is get_method(path.stem.split("_")[0])
        assert train_config.steps > 0 and model is not None
