"""Every registered method trains on a real packed store and predicts meshes; the families learn."""

from __future__ import annotations

import math

import numpy as np
import pytest

from recon.io.tables import read_tsv
from recon.models.method import METHOD_PACKAGE, METHODS, Method, PredictContext, discover_methods
from recon.train import train

pytestmark = pytest.mark.workflow


def _families() -> list[str]:
    """The methods of the package's families (not those other tests register in this process)."""
    discover_methods()
    return sorted(n for n, m in METHODS.items() if type(m).__module__.startswith(f"{METHOD_PACKAGE}."))


#: Small, CPU-sized versions of each family (the architectures are the papers'; only widths shrink).
SMALL = {name: dict(METHODS[name].small_config) for name in _families()}


#: The variants every family must train in: DISN with a jointly trained camera network (trained by the
#: point-cloud transform loss, the SDF network fed its estimate) and DISN's camera network on its own,
#: 3D-R2N2's paper variant (3D LSTM, shallow decoder, always 5 views) besides the released one (GRU, 1
#: to 5 views), each of GenRe's training stages (the later ones with the earlier parts frozen), OGN
#: following the ground truth's octree and its own predicted one, and Mem3D (its memory written in training).
VARIANTS = {
    "disn": SMALL["disn"],
    "disn-joint-camera": {**SMALL["disn"], "camera": "joint", "camera_loss_weight": 1.0},
    "disn_camera": SMALL["disn_camera"],
    "r2n2": SMALL["r2n2"],
    "genre-estimator": {**SMALL["genre"], "stage": "estimator"},
    "genre-inpaint": {**SMALL["genre"], "stage": "inpaint"},
    "genre-refine": {**SMALL["genre"], "stage": "refine"},
    "genre-joint": {**SMALL["genre"], "stage": "joint"},
    "ogn": SMALL["ogn"],
    "ogn-pred": {**SMALL["ogn"], "propagation": "pred"},
    "mem3d": SMALL["mem3d"],
    "psgn": SMALL["psgn"],
    "atlasnet": SMALL["atlasnet"],
    "r2n2-lstm-shallow": {
        **SMALL["r2n2"],
        "recurrent": "lstm",
        "decoder": "shallow",
        "random_view_count": False,
    },
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
    if type(method).predict_mesh is Method.predict_mesh:
        return  # a network other methods use (DISN's camera network) predicts no meshes of its own
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
        if column in ("train/loss", "train/camera", "train/point_distance"):
            assert np.mean(values[-4:]) < np.mean(values[:4]), column


def test_every_shipped_experiment_file_resolves():
    from recon.models.method import get_method
    from recon.train import resolve_experiment
    from tests.meshes import REPO

    files = sorted((REPO / "config" / "experiments").glob("*.yaml"))
    assert {f.stem for f in files} >= {"disn_demo", "r2n2_demo", "disn_shapenet", "r2n2_shapenet"}
    for path in files:
        method, model, train_config = resolve_experiment(path)
        assert method is get_method(max((m for m in METHODS if path.stem.startswith(m + "_")), key=len))
        assert train_config.steps > 0 and model is not None


def test_r2n2_items_carry_seeded_views_and_each_batch_feeds_one_count(packed):
    """Training items: the item's view then views drawn with replacement, a seeded view count that the
    batch's first item sets for the whole batch; prediction items: k consecutive views."""
    import torch

    from recon.io.loader import PackedDataset, collate
    from recon.models.method import get_method, method_config

    store = packed / "results" / "pack" / "train.zarr"
    method = get_method("r2n2")
    config = method_config("r2n2", SMALL["r2n2"])
    train_set = method.dataset(store, config, seed=0, train=True)
    assert len(train_set) == 6 * 4  # one item per (shape, view), as the packed loader
    item = train_set[6]
    assert item["image"].shape == (5, 64, 64, 4) and item["image"].dtype == torch.uint8
    assert (item["shape_index"], item["view"], int(item["views"][0])) == (1, 2, 2)
    assert len(set(item["views"].tolist())) < 5  # 5 views of 4: drawn with replacement
    assert item["crop"].shape == (5, 2) and item["flip"].shape == (5,) and item["background"].shape == (5, 3)
    again = train_set[6]
    assert all(torch.equal(torch.as_tensor(item[k]), torch.as_tensor(again[k])) for k in item)
    counts = [train_set[i]["n_views"] for i in range(len(train_set))]
    assert set(counts) <= {1, 2, 3, 4, 5} and len(set(counts)) >= 4
    first = next(i for i, c in enumerate(counts) if c == 2)
    batch = collate([train_set[first], train_set[(first + 1) % len(train_set)]])
    train_set.set_epoch(1)
    assert [train_set[i]["n_views"] for i in range(len(train_set))] != counts

    seen = []

    class Spy(torch.nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, views):
            seen.append(tuple(views.shape))
            return self.net(views)

    model = Spy(method.build(config))
    loss, _ = method.loss(model, batch, config)  # both items feed the first one's 2 views
    assert seen == [(2, 2, 3, 64, 64)] and np.isfinite(float(loss.detach()))

    val_set = method.dataset(store, config, seed=0, train=False)
    val_set.set_epoch(3)
    assert "crop" not in val_set[6] and torch.equal(val_set[6]["views"], method.dataset(
        store, config, seed=0, train=False)[6]["views"])  # fmt: skip

    three_config = method_config("r2n2", {**SMALL["r2n2"], "predict_views": 3})
    three = method.predict_dataset(store, three_config, 0, [0, 3])
    assert len(three) == 6 * 2
    plain = PackedDataset(store, targets=("image",))
    item = three[3]  # shape 1, first view 3
    assert (item["shape_index"], item["view"], item["views"].tolist()) == (1, 3, [3, 0, 1])
    assert torch.equal(item["image"][1], plain[1 * 4 + 0]["image"])


def test_disn_ground_truth_grid_box_is_each_shapes_disn_box(packed):
    """``grid_box: ground_truth`` predicts on each shape's own box, as the released test script: the
    ground-truth mesh's bounding box made a cube of its longest side, x 1.2 (test/create_sdf.py:246-255)."""
    import torch

    from recon.io.loader import collate
    from recon.io.packed import PackedSplit
    from recon.models.disn.grid import disn_box
    from recon.models.disn.images import encoder_input
    from recon.models.method import get_method, method_config

    store = packed / "results" / "pack" / "train.zarr"
    split = PackedSplit(store)
    method = get_method("disn")
    config = method_config("disn", {**SMALL["disn"], "grid_box": "ground_truth", "grid_resolution": 5})
    dataset = method.predict_dataset(store, config, 0, [0])
    assert len(dataset) == len(split)
    batch = collate([dataset[0], dataset[4]])
    for item, box in zip((dataset[0], dataset[4]), batch["grid_box"].numpy(), strict=True):
        vertices, _ = split.mesh(int(item["shape_index"]))
        np.testing.assert_allclose(box, disn_box(vertices.min(0), vertices.max(0)))
        assert np.ptp(box[1] - box[0]) < 1e-9 and 1.0 < (box[1] - box[0])[0] < 2.7  # a cube around the shape
    torch.manual_seed(0)
    model = method.build(config).eval()
    sdf = method.predict_sdf(model, batch, config, PredictContext.of(split))
    corners = batch["grid_box"].float()  # (2, 2, 3): nodes [0, 0, 0] and [4, 4, 4]
    with torch.no_grad():
        features = model.image_features(encoder_input(batch["image"], config.image_size))
        direct = model.decode(features, corners, batch["K"], batch["Rt"], (64, 64)) / 10
    torch.testing.assert_close(sdf[:, [0, -1], [0, -1], [0, -1]], direct, rtol=1e-4, atol=1e-5)
