"""Predictions that use other experiments' trained models (upstream) and prediction variants."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest
import yaml

from recon.io.predictions import PredictionSet
from recon.models.method import Method, register
from recon.train import train
from recon.train.predict import predict_split, prediction_plan, split_name

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.workflow


@dataclass(frozen=True)
class BoxConfig:
    scale: float = field(default=1.0, metadata={"help": "prediction-time factor on the box's size"})
    uses: str | None = field(default=None, metadata={"help": "experiment whose size net is added"})


class SizeNet(torch.nn.Module):
    """One learnable size; trained towards 0.5 (upstream) or 0.25 (downstream)."""

    def __init__(self):
        super().__init__()
        self.size = torch.nn.Parameter(torch.tensor(0.0))


class BoxMethod(Method):
    """Predicts an axis-aligned box of half-size ``scale * (own size + upstream size)``."""

    name = "test_box"
    Config = BoxConfig

    def targets(self, config):
        return {"targets": ("image",)}

    def build(self, config):
        return SizeNet()

    def loss(self, model, batch, config):
        goal = 0.25 if config.uses else 0.5
        loss = (model.size - goal) ** 2 + 0 * batch["image"].float().mean()
        return loss, {}

    def upstream(self, config):
        return {"size": config.uses} if config.uses else {}

    def predict_variants(self, config):
        return {"double": {"scale": 2.0}}

    def predict_mesh(self, model, batch, config, context):
        import trimesh

        half = float(model.size) + (float(context.upstream["size"].size) if config.uses else 0.0)
        box = trimesh.creation.box((2 * half * config.scale,) * 3)
        return [(np.asarray(box.vertices), np.asarray(box.faces))] * len(batch["image"])


@pytest.fixture(scope="module", autouse=True)
def _box_method():
    from recon.models.method import METHODS

    register(BoxMethod, replace=True)
    yield
    METHODS.pop("test_box", None)


def _half_sizes(store) -> set[float]:
    predictions = PredictionSet(store)
    return {
        round(float(np.abs(predictions.prediction(i).vertices).max()), 3) for i in range(len(predictions))
    }


def test_upstream_models_and_variants_reach_the_predictions(packed, tmp_path):
    split = packed / "results" / "pack" / "test.zarr"
    store = packed / "results" / "pack" / "train.zarr"
    settings = {"steps": 150, "batch_size": 2, "lr": 0.05, "val_every": 0, "num_workers": 0}
    runs = tmp_path / "train"
    train("test_box", None, settings, store, None, runs / "up", progress=False)
    train("test_box", {"uses": "up"}, settings, store, None, runs / "down", progress=False)
    config = {"seed": 0}
    assert predict_split(runs / "up", split, tmp_path / "up.zarr", 2, config) == 4
    assert _half_sizes(tmp_path / "up.zarr") == {0.5}
    # The downstream run's prediction adds the upstream run's trained size to its own.
    predict_split(runs / "down", split, tmp_path / "down.zarr", 2, config)
    assert _half_sizes(tmp_path / "down.zarr") == {0.75}
    predict_split(runs / "down", split, tmp_path / "down2.zarr", 2, config, variant="double")
    assert _half_sizes(tmp_path / "down2.zarr") == {1.5}
    attrs = PredictionSet(tmp_path / "down2.zarr").attrs
    assert attrs["method"] == "down@double" and attrs["provenance"]["config"]["variant"] == "double"
    with pytest.raises(ValueError, match="no prediction variant 'triple'"):
        predict_split(runs / "down", split, tmp_path / "x.zarr", 2, config, variant="triple")


def test_prediction_plan_reads_the_experiment(tmp_path):
    path = tmp_path / "down.yaml"
    path.write_text(yaml.safe_dump({"method": "test_box", "model": {"uses": "up"}}))
    assert prediction_plan(path) == ({"size": "up"}, ["double"])
    assert split_name("r2n2_shapenet@3views") == ("r2n2_shapenet", "3views")
    assert split_name("disn_demo") == ("disn_demo", None)
