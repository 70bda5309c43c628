"""The training harness on a toy method and an in-memory dataset: learning, resumption, logs, configs, DDP."""

from __future__ import annotations

import math
import os
import signal
import socket
from dataclasses import dataclass, field

import numpy as np
import pytest
import yaml

from recon.config import ConfigError
from recon.io.tables import read_tsv
from recon.train import (
    METHODS,
    Method,
    TrainConfig,
    build_config,
    config_help,
    config_to_dict,
    get_method,
    load_experiment,
    method_config,
    register,
    resolve_experiment,
    train,
    train_from_files,
)
from recon.train.history import image_grid
from recon.train.optim import lr_factor, make_optimizer
from recon.train.sampling import StepBatchSampler, epoch_order, shard, step_batch

torch = pytest.importorskip("torch")

#: Test hooks of the toy method: make the n-th training loss call fail or send a signal.
HOOKS = {"calls": 0, "crash_at": None, "signal_at": None}
_W = np.array([0.5, -1.0, 2.0, 0.25], dtype=np.float32)


@dataclass(frozen=True)
class Inner:
    """A nested config section."""

    scale: float = field(default=1.0, metadata={"help": "output scale"})


@dataclass(frozen=True)
class ToyConfig:
    """Hyper-parameters of the toy regressor."""

    hidden: int = field(default=16, metadata={"help": "width of the hidden layer"})
    dropout: float = 0.1
    """Dropout probability (draws from the torch generator, which resumption must restore)."""
    sizes: tuple[int, ...] = (1, 2)
    """A tuple field (YAML lists)."""
    inner: Inner = field(default_factory=Inner)


class ToyData:
    """``n`` items: ``x`` (4,) float32, ``y`` = w . x + 0.5, the dataset's epoch; records item reads."""

    def __init__(self, n: int, seed: int = 0):
        gen = np.random.default_rng(seed)
        self.x = gen.normal(size=(n, 4)).astype(np.float32)
        self.y = (self.x @ _W + 0.5).astype(np.float32)
        self.epoch = 0
        self.reads: list[int] = []

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict:
        self.reads.append(int(i))
        return {
            "index": int(i),
            "x": torch.from_numpy(self.x[i]),
            "y": torch.tensor(self.y[i]),
            "epoch": self.epoch,
        }


@register
class ToyMethod(Method):
    """A two-layer MLP regressing ``y`` from ``x``."""

    name = "toy"
    Config = ToyConfig

    def targets(self, config):
        return {"targets": ("sdf",), "n_points": 8}

    def build(self, config):
        return torch.nn.Sequential(
            torch.nn.Linear(4, config.hidden),
            torch.nn.ReLU(),
            torch.nn.Dropout(config.dropout),
            torch.nn.Linear(config.hidden, 1),
        )

    def loss(self, model, batch, config):
        if model.training:
            HOOKS["calls"] += 1
            if HOOKS["calls"] == HOOKS["crash_at"]:
                raise RuntimeError("simulated crash")
            if HOOKS["calls"] == HOOKS["signal_at"]:
                os.kill(os.getpid(), signal.SIGTERM)
        pred = model(batch["x"]).squeeze(-1) * config.inner.scale
        loss = torch.nn.functional.mse_loss(pred, batch["y"])
        return loss, {
            "mae": (pred - batch["y"]).abs().mean().item(),
            "epoch_seen": batch["epoch"].float().mean().item(),
        }

    def images(self, model, batch, config):
        pred = model(batch["x"]).reshape(-1, 1, 1, 1).sigmoid()
        return {"pred": pred.expand(-1, 3, 4, 4)}

    def predict_mesh(self, model, batch, config, context):
        return [(np.zeros((3, 3)), np.array([[0, 1, 2]])) for _ in range(len(batch["x"]))]


@pytest.fixture(autouse=True)
def _reset_hooks():
    HOOKS.update(calls=0, crash_at=None, signal_at=None)
    yield
    HOOKS.update(calls=0, crash_at=None, signal_at=None)


def _tc(**kw) -> dict:
    base = dict(
        steps=20, batch_size=4, lr=1e-2, log_every=3, val_every=5, val_batches=2, checkpoint_every=7,
        log_images_every=5, num_workers=0, deterministic=True, schedule="cosine", warmup_steps=3,
        device="cpu", grad_clip=1.0,
    )  # fmt: skip
    base.update(kw)
    return base


def _weights(out_dir):
    return torch.load(out_dir / "checkpoints" / "last.pt", weights_only=True)


def _rows(out_dir):
    return [{k: v for k, v in r.items() if k != "time_s"} for r in read_tsv(out_dir / "history.tsv")]


def _assert_same_state(a, b):
    assert a["step"] == b["step"]
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    for pid, state in a["optimizer"]["state"].items():
        for k, v in state.items():
            assert torch.equal(v, b["optimizer"]["state"][pid][k]), (pid, k)


# --------------------------------------------------------------------------------------------------
# Training runs


def test_loss_decreases_and_outputs_are_written(tmp_path):
    out = tmp_path / "run"
    config = _tc(steps=30, log_every=5, schedule="constant", lr=0.05, grad_clip=0.0)
    summary = train("toy", {"dropout": 0.0}, config, ToyData(64), ToyData(16, seed=1), out, progress=False)
    rows = read_tsv(out / "history.tsv")
    losses = [float(r["train/loss"]) for r in rows]
    assert [int(r["step"]) for r in rows] == [5, 10, 15, 20, 25, 30]
    assert losses[-1] < 0.25 * losses[0]
    assert summary["steps"] == 30 and summary["complete"] and summary["resumed_from"] == 0
    assert summary["final_train_loss"] == pytest.approx(losses[-1])
    assert summary["seconds_per_step"] > 0
    assert set(rows[0]) == {"step", "epoch", "lr", "time_s", "train/loss", "train/mae", "train/epoch_seen",
                            "train/grad_norm", "val/loss", "val/mae", "val/epoch_seen"}  # fmt: skip
    assert rows[0]["val/loss"] and rows[1]["val/loss"]  # val_every = 5
    for name in ("config.yaml", "summary.json", "checkpoints/last.pt", "checkpoints/best.pt"):
        assert (out / name).is_file(), name
    events = list((out / "tensorboard").glob("events.out.tfevents.*"))
    assert events and sum(e.stat().st_size for e in events) > 1000  # scalars and image grids


def test_workers_see_the_epoch(tmp_path):
    """The loader is made anew per epoch after set_epoch, so worker processes read the current epoch."""
    out = tmp_path / "run"
    train("toy", None, _tc(steps=6, batch_size=8, log_every=1, val_every=0, num_workers=2), ToyData(16),
          None, out, progress=False)  # fmt: skip
    rows = read_tsv(out / "history.tsv")
    assert [int(r["epoch"]) for r in rows] == [0, 0, 1, 1, 2, 2]
    assert [float(r["train/epoch_seen"]) for r in rows] == [0, 0, 1, 1, 2, 2]
    assert not (out / "checkpoints" / "best.pt").exists()


def test_resume_is_bit_identical_and_skips_without_reading(tmp_path):
    full, parts = tmp_path / "full", tmp_path / "parts"
    train("toy", None, _tc(), ToyData(30), ToyData(12, seed=1), full, progress=False)
    first = train("toy", None, _tc(), ToyData(30), ToyData(12, seed=1), parts, stop_at=10, progress=False)
    assert first["steps"] == 10 and not first["complete"]
    assert _weights(parts)["step"] == 10
    data = ToyData(30)
    second = train("toy", None, _tc(), data, ToyData(12, seed=1), parts, progress=False)
    assert second["resumed_from"] == 10 and second["complete"]
    _assert_same_state(_weights(full), _weights(parts))
    assert _rows(full) == _rows(parts)
    steps = [int(r["step"]) for r in _rows(parts)]
    assert steps == sorted(set(steps))
    # The resumed run read exactly the items of steps 10..19 (7 steps per epoch: epoch 1 from batch 3).
    expected = [i for s in range(10, 20) for i in step_batch(0, s, 30, 4)[1]]
    assert data.reads == expected
    # Resuming a finished run trains no more.
    again = train("toy", None, _tc(), ToyData(30), ToyData(12, seed=1), parts, progress=False)
    assert again["steps"] == 20 and again["seconds_per_step"] is None
    _assert_same_state(_weights(full), _weights(parts))


def test_crash_and_signal_resume_without_duplicate_history(tmp_path):
    full, crashed = tmp_path / "full", tmp_path / "crashed"
    cfg = _tc(log_every=1, checkpoint_every=5)
    train("toy", None, cfg, ToyData(30), ToyData(12, seed=1), full, progress=False)
    HOOKS.update(calls=0, crash_at=13)  # dies inside step 13: last checkpoint at step 10
    with pytest.raises(RuntimeError, match="simulated crash"):
        train("toy", None, cfg, ToyData(30), ToyData(12, seed=1), crashed, progress=False)
    assert _weights(crashed)["step"] == 10
    assert [int(r["step"]) for r in read_tsv(crashed / "history.tsv")] == list(range(1, 11))
    HOOKS.update(calls=0, crash_at=None, signal_at=4)  # SIGTERM inside step 14: checkpoint after it
    with pytest.raises(RuntimeError, match="signal"):
        train("toy", None, cfg, ToyData(30), ToyData(12, seed=1), crashed, progress=False)
    assert _weights(crashed)["step"] == 14
    HOOKS.update(signal_at=None)
    train("toy", None, cfg, ToyData(30), ToyData(12, seed=1), crashed, progress=False)
    assert [int(r["step"]) for r in read_tsv(crashed / "history.tsv")] == list(range(1, 21))
    assert _rows(full) == _rows(crashed)
    _assert_same_state(_weights(full), _weights(crashed))


def test_best_checkpoint_has_the_lowest_val_loss(tmp_path):
    out = tmp_path / "run"
    summary = train("toy", None, _tc(val_every=2, val_batches=0, lr=0.05, schedule="constant"), ToyData(30),
                    ToyData(12, seed=1), out, progress=False)  # fmt: skip
    vals = [(float(r["val/loss"]), int(r["step"])) for r in read_tsv(out / "history.tsv") if r["val/loss"]]
    assert [s for _, s in vals] == list(range(2, 21, 2))
    best = torch.load(out / "checkpoints" / "best.pt", weights_only=True)
    low, step = min(vals)
    assert (best["val"]["loss"], best["step"]) == (low, step)
    assert (summary["selection"], summary["best_value"], summary["best_step"]) == ("val/loss", low, step)
    # The stored weights give that loss again.
    net = ToyMethod().build(ToyConfig())
    net.load_state_dict(best["model"])
    net.eval()
    val = ToyData(12, seed=1)
    order = np.random.Generator(np.random.PCG64(0)).permutation(12)  # any order: all 12 items are used
    with torch.no_grad():
        pred = net(torch.from_numpy(val.x[order])).squeeze(-1)
    assert torch.nn.functional.mse_loss(pred, torch.from_numpy(val.y[order])).item() == pytest.approx(
        low, rel=1e-5
    )


@register
class WorstMaeMethod(ToyMethod):
    """The toy regression, selected on its highest validation ``mae`` (a selection that is not the loss)."""

    name = "toy_worst_mae"
    selection = ("mae", "max")


def test_best_checkpoint_follows_the_methods_selection_scalar(tmp_path):
    """``Method.selection`` picks ``best.pt``: here the highest ``val/mae``, which is not the lowest loss
    (ONet selects on the highest validation IoU the same way)."""
    out = tmp_path / "run"
    summary = train("toy_worst_mae", None, _tc(val_every=2, val_batches=0, lr=0.05, schedule="constant"),
                    ToyData(30), ToyData(12, seed=1), out, progress=False)  # fmt: skip
    rows = [r for r in read_tsv(out / "history.tsv") if r["val/mae"]]
    high, step = max((float(r["val/mae"]), int(r["step"])) for r in rows)
    low_loss_step = min((float(r["val/loss"]), int(r["step"])) for r in rows)[1]
    assert step != low_loss_step  # the two selections differ on this run
    best = torch.load(out / "checkpoints" / "best.pt", weights_only=True)
    assert (best["val"]["mae"], best["step"]) == (high, step)
    assert (summary["selection"], summary["best_value"], summary["best_step"]) == ("val/mae", high, step)


def test_resume_refuses_another_config(tmp_path):
    out = tmp_path / "run"
    train("toy", None, _tc(steps=4), ToyData(30), None, out, progress=False)
    with pytest.raises(ConfigError, match=r"train\.lr"):
        train("toy", None, _tc(steps=8, lr=0.5), ToyData(30), None, out, progress=False)
    with pytest.raises(ConfigError, match=r"model\.hidden"):
        train("toy", {"hidden": 8}, _tc(steps=8), ToyData(30), None, out, progress=False)
    assert train("toy", None, _tc(steps=8, log_every=2), ToyData(30), None, out, progress=False)["steps"] == 8
    # A checkpoint written before a config key existed resumes when the key keeps its default.
    ckpt_path = out / "checkpoints" / "last.pt"
    ckpt = torch.load(ckpt_path, weights_only=True)
    del ckpt["train_config"]["min_lr"], ckpt["model_config"]["hidden"]
    torch.save(ckpt, ckpt_path)
    assert train("toy", None, _tc(steps=10), ToyData(30), None, out, progress=False)["steps"] == 10
    with pytest.raises(ConfigError, match=r"train\.min_lr"):
        train("toy", None, _tc(steps=12, min_lr=1e-3), ToyData(30), None, out, progress=False)


def test_store_paths_open_packed_datasets_with_the_method_targets(tmp_path, monkeypatch):
    """A store path becomes a PackedDataset with the method's targets and the run's seed."""
    import recon.io.loader

    opened = []

    def fake(store, **kwargs):
        opened.append((str(store), kwargs))
        return ToyData(30 if "train" in str(store) else 12)

    monkeypatch.setattr(recon.io.loader, "PackedDataset", fake)
    experiment = {"method": "toy", "train": _tc(steps=2, seed=7), "data": {"train": "pack/train.zarr"}}
    train_from_files(experiment, val_store="pack/val.zarr", out_dir=tmp_path / "run", progress=False)
    targets = {"targets": ("sdf",), "n_points": 8, "seed": 7}
    assert opened == [("pack/train.zarr", targets), ("pack/val.zarr", targets)]
    config = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert config["data"] == {"train": "pack/train.zarr", "val": "pack/val.zarr"}
    # A method with its own datasets (e.g. several views per item) is asked for them instead.
    hooks = []

    def dataset(self, store, config, seed, train=True):
        hooks.append((str(store), seed, train))
        return ToyData(30 if train else 12)

    monkeypatch.setattr(ToyMethod, "dataset", dataset)
    train_from_files(experiment, val_store="pack/val.zarr", out_dir=tmp_path / "hooked", progress=False)
    assert hooks == [("pack/train.zarr", 7, True), ("pack/val.zarr", 7, False)]


class ShapeToyData(ToyData):
    """ToyData whose items show shapes of a store: item i is shape i // 2 (what CategorySubset reads)."""

    def __init__(self, n: int, store):
        super().__init__(n)
        self.store = store

    def item_shapes(self):
        return np.arange(len(self)) // 2


def _category_store(path, categories):
    """A store with a packed split's category index: one entry per shape."""
    from recon.io.store import write_store

    names = {"03001627": "chair", "02691156": "airplane", "04379243": "table"}
    attrs = {"pack": {"categories": [{"category": c, "category_name": names[c]} for c in names]}}
    with write_store(path, attrs) as root:
        array = root.create_array("index/category", shape=(len(categories),), dtype=str)
        array[...] = np.asarray(categories, dtype=object)
    return path


def test_train_categories_keep_only_their_shapes(tmp_path):
    """train.categories (ids or names) keeps the items of those categories' shapes, in order."""
    from recon.train.sampling import CategorySubset

    store = _category_store(tmp_path / "split.zarr", ["03001627", "02691156", "04379243", "03001627"])
    data = ShapeToyData(8, store)
    subset = CategorySubset(data, ["chair", "04379243"])
    assert subset.indices.tolist() == [0, 1, 4, 5, 6, 7]
    assert [subset[i]["index"] for i in range(len(subset))] == [0, 1, 4, 5, 6, 7]
    assert subset.item_shapes().tolist() == [0, 0, 2, 2, 3, 3]
    subset.set_epoch(3)
    assert data.epoch == 3
    with pytest.raises(ValueError, match="no categories \\['car'\\]"):
        CategorySubset(data, ["car"])
    with pytest.raises(ValueError, match="item_shapes"):
        CategorySubset(ToyData(4), ["chair"])
    # The trainer trains on the subset only.
    experiment = {"method": "toy", "train": _tc(steps=3, val_every=0, batch_size=2, categories=["airplane"])}
    train_from_files(experiment, train_store=ShapeToyData(8, store), out_dir=tmp_path / "run", progress=False)
    assert (tmp_path / "run" / "checkpoints" / "last.pt").exists()


def test_init_from_starts_from_another_runs_weights(tmp_path):
    """train.init_from names a sibling run (its best.pt, else last.pt) or a checkpoint file."""
    from recon.train.checkpoints import initial_weights

    train(
        "toy",
        {"dropout": 0.0},
        _tc(steps=6, val_every=0),
        ToyData(30),
        None,
        tmp_path / "first",
        progress=False,
    )
    first = _weights(tmp_path / "first")["model"]
    train("toy", {"dropout": 0.0}, _tc(steps=1, val_every=0, lr=1e-12, warmup_steps=0, init_from="first"),
          ToyData(30), None, tmp_path / "second", progress=False)  # fmt: skip
    second = _weights(tmp_path / "second")["model"]
    for k in first:
        torch.testing.assert_close(second[k], first[k], rtol=0, atol=1e-6)
    torch.manual_seed(0)
    fresh = get_method("toy").build(method_config("toy", {"dropout": 0.0})).state_dict()
    assert any((fresh[k] - first[k]).abs().max() > 1e-3 for k in first)
    assert initial_weights("first", tmp_path / "second") == tmp_path / "first" / "checkpoints" / "last.pt"
    path = tmp_path / "first" / "checkpoints" / "last.pt"
    assert initial_weights(str(path), tmp_path / "x") == path
    with pytest.raises(FileNotFoundError, match="train that experiment first"):
        initial_weights("missing", tmp_path / "second")


def test_the_project_seed_is_the_training_seed(tmp_path):
    """The workflow passes the config's seed: another seed trains other weights, the same one the same."""
    from recon.train.stage import train_processes

    experiment = {"method": "toy", "train": _tc(steps=6, val_every=0, log_images_every=0)}

    def weights(name, seed):
        train_processes(experiment, ToyData(30), None, tmp_path / name, seed=seed, progress=False)
        assert yaml.safe_load((tmp_path / name / "config.yaml").read_text())["train"]["seed"] == seed
        return _weights(tmp_path / name)["model"]

    a, b, c = weights("a", 3), weights("b", 3), weights("c", 4)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not any(torch.equal(a[k], c[k]) for k in a)
    pinned = {**experiment, "train": {**experiment["train"], "seed": 7}}
    with pytest.raises(
        ConfigError, match=r"train\.seed is 7, but the workflow trains with the config's seed \(3\)"
    ):
        train_processes(pinned, ToyData(30), None, tmp_path / "d", seed=3, progress=False)
    assert not (tmp_path / "d").exists()


# --------------------------------------------------------------------------------------------------
# Configs and experiments


def test_config_yaml_round_trips(tmp_path):
    out = tmp_path / "run"
    model = {"hidden": 8, "sizes": [3, 4], "inner": {"scale": 2}}
    train("toy", model, _tc(steps=2, lr="1e-3"), ToyData(30), None, out, progress=False)
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["method"] == "toy"
    assert set(config["packages"]) >= {"python", "recon", "numpy", "torch", "tensorboard"}
    assert config["data"]["val"] is None and config["distributed"] == {"world_size": 1}
    expected_model = ToyConfig(hidden=8, sizes=(3, 4), inner=Inner(scale=2.0))
    assert method_config("toy", config["model"]) == expected_model
    assert build_config(TrainConfig, config["train"]) == TrainConfig(**{**_tc(steps=2), "lr": 1e-3})
    method, model_config, train_config = resolve_experiment(out / "config.yaml")
    assert (method, model_config) == (METHODS["toy"], expected_model)
    assert config_to_dict(train_config) == config["train"]
    # The run's config.yaml is an experiment: training from it again (more steps) resumes the run.
    summary = train_from_files(out / "config.yaml", ToyData(30), None, out, overrides={"train": {"steps": 3}},
                               progress=False)  # fmt: skip
    assert (summary["resumed_from"], summary["steps"]) == (2, 3)


def test_experiment_files(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("method: toy\nmodel: {hidden: 4}\ntrain: {steps: 3, lr: 1e-4, batch_size: 2}\n")
    method, model, tc = resolve_experiment(path)
    assert method.name == "toy" and model.hidden == 4
    assert (tc.steps, tc.lr, tc.batch_size, tc.optimizer) == (3, 1e-4, 2, "adam")
    _, _, tc = resolve_experiment(path, "toy", overrides={"train": {"optimizer": "adamw"}})
    assert tc.optimizer == "adamw" and tc.steps == 3
    with pytest.raises(ConfigError, match="names no method"):
        resolve_experiment({"train": {"steps": 1}})
    assert resolve_experiment({"train": {"steps": 1}}, method="toy")[2].steps == 1
    with pytest.raises(ValueError, match="unknown method 'other'"):
        resolve_experiment(path, method="other")
    with pytest.raises(ConfigError, match="no training store"):
        train_from_files(path, out_dir=tmp_path / "out")


def test_unknown_keys_and_bad_values_raise():
    with pytest.raises(ConfigError, match=r"unknown key 'model\.hiden'.*'hidden'"):
        method_config("toy", {"hiden": 3})
    with pytest.raises(ConfigError, match=r"unknown key 'model\.inner\.bogus'.*\['scale'\]"):
        method_config("toy", {"inner": {"bogus": 1}})
    with pytest.raises(ConfigError, match=r"unknown key 'train\.stepz'.*'steps'"):
        build_config(TrainConfig, {"stepz": 1}, where="train")
    with pytest.raises(ConfigError, match="unknown experiment key 'modle'"):
        load_experiment({"method": "toy", "modle": {}})
    with pytest.raises(ConfigError, match="expected an integer"):
        method_config("toy", {"hidden": "wide"})
    with pytest.raises(ConfigError, match=r"'sgd' is not one of \['adam', 'adamw'\]"):
        build_config(TrainConfig, {"optimizer": "sgd"})
    with pytest.raises(ConfigError, match="not one of"):
        TrainConfig(schedule="linear")
    with pytest.raises(ConfigError, match="steps must be at least 1"):
        TrainConfig(steps=0)
    with pytest.raises(ConfigError, match="expected true or false"):
        build_config(TrainConfig, {"deterministic": "yes please"})
    assert method_config("toy", {"dropout": "1e-1", "sizes": [5]}) == ToyConfig(dropout=0.1, sizes=(5,))
    assert build_config(TrainConfig, {"steps": 1e3}).steps == 1000


def test_config_help_reads_metadata_and_docstrings():
    info = config_help(ToyConfig)
    assert list(info) == ["hidden", "dropout", "sizes", "inner.scale"]
    assert info["hidden"]["help"] == "width of the hidden layer" and info["hidden"]["default"] == 16
    assert info["dropout"]["help"].startswith("Dropout probability")
    assert info["sizes"]["default"] == [1, 2]
    assert info["inner.scale"]["help"] == "output scale"
    assert all(v["help"] for v in config_help(TrainConfig).values())


def test_registry():
    assert get_method("toy") is METHODS["toy"] and get_method(METHODS["toy"]) is METHODS["toy"]
    assert get_method("tests.recon.train.test_trainer:ToyMethod") is METHODS["toy"]
    with pytest.raises(ValueError, match=r"unknown method 'nope'; known: \[.*'toy'"):
        get_method("nope")

    class Other(ToyMethod):
        pass

    with pytest.raises(ValueError, match="taken"):
        register(Other)

    @dataclass
    class NoDefaults:
        width: int

    class Bad(ToyMethod):
        name = "bad"
        Config = NoDefaults

    with pytest.raises(TypeError, match="default"):
        register(Bad)
    assert "bad" not in METHODS


# --------------------------------------------------------------------------------------------------
# Data order, sharding, schedules, images


def test_step_order_is_a_permutation_per_epoch():
    n, b = 30, 4  # 7 steps per epoch, 2 items dropped
    seen = np.concatenate([step_batch(3, s, n, b)[1] for s in range(7)])
    assert len(set(seen.tolist())) == 28
    assert np.array_equal(seen, epoch_order(3, 0, n)[:28])
    assert step_batch(3, 7, n, b)[0] == 1
    assert not np.array_equal(epoch_order(3, 0, n), epoch_order(3, 1, n))
    assert np.array_equal(epoch_order(3, 1, n), epoch_order(3, 1, n))


@pytest.mark.parametrize("world", [1, 2, 3, 4])
def test_ddp_shards_are_disjoint_and_complete(world):
    batch = epoch_order(0, 0, 50)[: 4 * world]
    shards = [shard(batch, r, world) for r in range(world)]
    assert sorted(i for s in shards for i in s) == sorted(batch.tolist())
    assert all(len(s) == 4 for s in shards)
    # Over an epoch, the ranks' samplers read every item of the full batches exactly once.
    order = epoch_order(0, 2, 50)
    per_epoch = 50 // (4 * world)
    reads = [i for r in range(world) for batch in StepBatchSampler(order, 4 * world, 0, per_epoch, r, world)
             for i in batch]  # fmt: skip
    assert sorted(reads) == sorted(order[: per_epoch * 4 * world].tolist())
    # A sampler started at an offset yields the tail of the full one.
    full = list(StepBatchSampler(order, 4 * world, 0, per_epoch, world - 1, world))
    assert list(StepBatchSampler(order, 4 * world, 1, per_epoch - 1, world - 1, world)) == full[1:]
    with pytest.raises(ValueError, match="epoch's end"):
        StepBatchSampler(order, 4 * world, 1, per_epoch, 0, world)


def test_lr_schedules():
    cos = TrainConfig(steps=11, warmup_steps=2, schedule="cosine", min_lr_ratio=0.1)
    assert [lr_factor(s, cos) for s in (0, 1, 2)] == [0.5, 1.0, 1.0]
    assert lr_factor(10, cos) == pytest.approx(0.1)
    assert lr_factor(6, cos) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    step = TrainConfig(schedule="step", step_size=3, step_gamma=0.1)
    assert [lr_factor(s, step) for s in (0, 2, 3, 6)] == pytest.approx([1, 1, 0.1, 0.01])
    # Decays at given steps (AtlasNet's epochs 120, 140, 145), counted after the warm-up.
    multi = TrainConfig(schedule="step", milestones=(4, 6, 7), step_gamma=0.1, warmup_steps=1)
    assert [lr_factor(s, multi) for s in range(10)] == pytest.approx(
        [1, 1, 1, 1, 1, 0.1, 0.1, 0.01, 1e-3, 1e-3]
    )
    with pytest.raises(ConfigError, match="milestones"):
        TrainConfig(schedule="step", milestones=(6, 4))
    assert lr_factor(123, TrainConfig()) == 1.0
    # min_lr floors every schedule after the warm-up (DISN: x0.9 decays floored at an absolute rate).
    floored = TrainConfig(lr=1e-4, schedule="step", step_size=3, step_gamma=0.1, min_lr=2e-6, warmup_steps=2)
    assert [lr_factor(s, floored) for s in (0, 2, 5, 8, 11)] == pytest.approx([0.5, 1, 0.1, 0.02, 0.02])
    assert lr_factor(10, TrainConfig(steps=11, schedule="cosine", min_lr=5e-5)) == pytest.approx(0.5)


def test_weight_decay_on_weights_only():
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Conv1d(4, 2, 1))
    params = list(net.parameters())
    optimizer, _ = make_optimizer(params, TrainConfig(weight_decay=0.1, weight_decay_on="weights"))
    decayed = {id(p) for g in optimizer.param_groups if g["weight_decay"] == 0.1 for p in g["params"]}
    assert decayed == {id(net[0].weight), id(net[2].weight)}
    assert sum(len(g["params"]) for g in optimizer.param_groups) == len(params)
    optimizer, _ = make_optimizer(params, TrainConfig(weight_decay=0.1))
    assert [len(g["params"]) for g in optimizer.param_groups] == [len(params)]
    assert optimizer.param_groups[0]["weight_decay"] == 0.1


def test_image_grid():
    grid = image_grid(torch.zeros(5, 3, 4, 6), ncol=2, pad=1)
    assert grid.shape == (3, 1 + 3 * 5, 1 + 2 * 7)
    assert grid[:, 1:5, 1:7].eq(0).all() and grid[:, 0].eq(1).all()
    assert image_grid(torch.rand(1, 8, 8)).shape == (1, 12, 12)
    with pytest.raises(ValueError, match="C = 1 or 3"):
        image_grid(torch.zeros(2, 4, 8, 8))


# --------------------------------------------------------------------------------------------------
# Two processes (gloo on CPU)


def _ddp_worker(rank: int, port: int, out_dir) -> None:
    """One process of a 2-process run, with the environment torchrun would set."""
    os.environ.update(
        RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port)
    )
    train("toy", {"dropout": 0.0}, _tc(steps=6, val_every=3), ToyData(30), ToyData(12, seed=1), out_dir,
          progress=False)  # fmt: skip


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed is not available")
def test_two_processes_match_one(tmp_path):
    """DDP over 2 CPU processes (each half of every batch) ends where one process does; rank 0 writes."""
    single, ddp = tmp_path / "single", tmp_path / "ddp"
    train("toy", {"dropout": 0.0}, _tc(steps=6, val_every=3), ToyData(30), ToyData(12, seed=1), single,
          progress=False)  # fmt: skip
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # fork: the children inherit the imported modules (and the registered toy method) and start in ms.
    torch.multiprocessing.start_processes(_ddp_worker, args=(port, ddp), nprocs=2, start_method="fork")
    a, b = _weights(single), _weights(ddp)
    assert b["step"] == 6 and len(b["rng"]) == 2
    for k in a["model"]:
        torch.testing.assert_close(a["model"][k], b["model"][k], rtol=1e-5, atol=1e-6)
    ra, rb = read_tsv(single / "history.tsv"), read_tsv(ddp / "history.tsv")
    assert [r["step"] for r in ra] == [r["step"] for r in rb]
    for key in ("train/loss", "val/loss"):
        va, vb = ([float(r[key] or 0) for r in rows] for rows in (ra, rb))
        assert vb == pytest.approx(va, rel=1e-4), key
    assert yaml.safe_load((ddp / "config.yaml").read_text())["distributed"] == {"world_size": 2}
    assert sorted(p.name for p in ddp.iterdir()) == sorted(p.name for p in single.iterdir())
    assert not [p for p in ddp.rglob("*") if p.name.startswith(".")]  # no temporary files left


def test_command_line_describes_methods(capsys):
    from recon.train.__main__ import main

    assert main(["--describe", "train"]) == 0
    assert 'optimizer: "adam"' in capsys.readouterr().out
    assert main(["--describe", "toy"]) == 0
    assert "width of the hidden layer" in capsys.readouterr().out
    assert main(["--list"]) == 0
    assert "toy\ttests.recon.train.test_trainer.ToyMethod" in capsys.readouterr().out
