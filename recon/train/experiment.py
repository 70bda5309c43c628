"""Experiment files: the training config, reading and resolving an experiment, and a run's ``config.yaml``.

An experiment (format in :mod:`recon.train`) names a method, overrides of its ``Config`` and overrides
of :class:`TrainConfig`; :func:`load_experiment` reads and checks one, :func:`resolve_experiment` turns
it into configs, :func:`experiment_stores` picks its stores, and :func:`write_run_config` writes the
resolved run back in the same format (``config.yaml`` of the output folder, itself an experiment).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from recon.config import ConfigError
from recon.io.atomic import atomic_write_text
from recon.models.method import Method, build_config, check_choices, get_method

__all__ = [
    "EXPERIMENT_KEYS",
    "TrainConfig",
    "describe_source",
    "experiment_stores",
    "load_experiment",
    "resolve_experiment",
    "training_plan",
    "write_run_config",
]


@dataclass(frozen=True)
class TrainConfig:
    """How a model is trained (the ``train:`` section of an experiment); the same for every method."""

    steps: int = field(default=100_000, metadata={"help": "optimizer steps in total"})
    batch_size: int = field(
        default=16, metadata={"help": "items per step, over all processes (a multiple of their number)"}
    )
    lr: float = field(default=1e-4, metadata={"help": "peak learning rate"})
    weight_decay: float = field(
        default=0.0, metadata={"help": "L2 penalty (adam) or decoupled weight decay (adamw)"}
    )
    weight_decay_on: Literal["all", "weights"] = field(
        default="all",
        metadata={
            "help": "parameters weight_decay applies to: all; weights = matrices and kernels only (2-D and "
            "up), not biases or normalization scales"
        },
    )
    optimizer: Literal["adam", "adamw"] = field(default="adam", metadata={"help": "adam or adamw"})
    betas: tuple[float, float] = field(default=(0.9, 0.999), metadata={"help": "Adam's beta1, beta2"})
    schedule: Literal["constant", "cosine", "step"] = field(
        default="constant",
        metadata={
            "help": "learning rate after the warm-up: constant; cosine decay to min_lr_ratio * lr at the "
            "last step; step: multiplied by step_gamma every step_size steps, or at each of milestones"
        },
    )
    warmup_steps: int = field(
        default=0, metadata={"help": "steps of linear warm-up from lr / warmup_steps to lr"}
    )
    step_size: int = field(default=10_000, metadata={"help": "steps between decays of the step schedule"})
    step_gamma: float = field(default=0.5, metadata={"help": "factor of each decay of the step schedule"})
    milestones: tuple[int, ...] = field(
        default=(),
        metadata={
            "help": "steps after the warm-up at which the step schedule decays (AtlasNet: epochs 120, 140, "
            "145); empty = every step_size steps"
        },
    )
    min_lr_ratio: float = field(
        default=0.0, metadata={"help": "final learning rate of the cosine schedule, as a fraction of lr"}
    )
    min_lr: float = field(
        default=0.0, metadata={"help": "floor of the learning rate after the warm-up, every schedule"}
    )
    grad_clip: float = field(default=0.0, metadata={"help": "maximum global gradient norm; 0 = no clipping"})
    log_every: int = field(default=50, metadata={"help": "steps between rows of history.tsv"})
    val_every: int = field(
        default=1000, metadata={"help": "steps between validations (also logged steps); 0 = never"}
    )
    val_batches: int = field(
        default=20, metadata={"help": "validation batches (a fixed subset of the val store); 0 = all of it"}
    )
    checkpoint_every: int = field(default=1000, metadata={"help": "steps between writes of last.pt"})
    log_images_every: int = field(
        default=5000, metadata={"help": "steps between TensorBoard image grids; 0 = never"}
    )
    num_workers: int = field(default=4, metadata={"help": "data loader worker processes per process"})
    seed: int = field(
        default=0,
        metadata={
            "help": "seed of initial weights, data order, point subsets, dropout; in the workflow, the "
            "config's seed"
        },
    )
    amp: Literal["auto", "bf16", "off"] = field(
        default="auto",
        metadata={"help": "mixed precision: bf16 autocast (CUDA only); auto = bf16 on CUDA, off on CPU"},
    )
    device: Literal["auto", "cpu", "cuda"] = field(
        default="auto", metadata={"help": "auto = CUDA when present"}
    )
    categories: tuple[str, ...] = field(
        default=(),
        metadata={
            "help": "categories the run trains and validates on, as ids or names (GenRe's generalization "
            "protocol: [car, chair, airplane]); empty = every category of the stores"
        },
    )
    init_from: str = field(
        default="",
        metadata={
            "help": "weights that start the run (a later stage from an earlier one): a checkpoint file, or "
            "the name of an experiment trained beside this run (its checkpoints/best.pt, else last.pt); "
            "empty = fresh weights"
        },
    )
    deterministic: bool = field(
        default=False,
        metadata={
            "help": "deterministic algorithms (torch.use_deterministic_algorithms, warn only; no cuDNN "
            "benchmarking): bit-identical runs on the same machine, slower on GPU"
        },
    )

    def __post_init__(self):
        check_choices(self)
        for name in ("steps", "batch_size", "log_every", "checkpoint_every", "step_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"train.{name} must be at least 1, not {getattr(self, name)}")
        for name in ("warmup_steps", "val_every", "val_batches", "log_images_every", "num_workers"):
            if getattr(self, name) < 0:
                raise ConfigError(f"train.{name} must not be negative, not {getattr(self, name)}")
        for name in ("weight_decay", "grad_clip", "min_lr_ratio"):
            if getattr(self, name) < 0:
                raise ConfigError(f"train.{name} must not be negative, not {getattr(self, name)}")
        if not self.lr > 0:
            raise ConfigError(f"train.lr must be positive, not {self.lr}")
        steps = list(self.milestones)
        if steps != sorted(set(steps)) or any(m < 1 for m in steps):
            raise ConfigError(f"train.milestones must be increasing positive steps, not {steps}")


#: Top-level keys of an experiment file: read (method, model, train, data), or only kept for the record.
EXPERIMENT_KEYS = {
    "method": "registered method name (or module:attribute)",
    "model": "overrides of the method's Config fields",
    "train": "overrides of TrainConfig fields",
    "data": "default stores: {train: path, val: path}",
    "description": "free text",
    "distributed": "written by the trainer (ignored)",
    "packages": "written by the trainer (ignored)",
}


def _merge(base: Mapping, over: Mapping) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), Mapping) else v
    return out


def load_experiment(experiment: Path | str | Mapping | None, overrides: Mapping | None = None) -> dict:
    """An experiment as a mapping: read from YAML (or given), ``overrides`` merged in, keys checked.

    Args:
        experiment: YAML file, mapping, or None (empty).
        overrides: nested mapping merged on top (``{"train": {"steps": 10}}``).

    Raises:
        ConfigError: unknown top-level key, or a section that is not a mapping.
    """
    if experiment is None:
        data: Mapping = {}
    elif isinstance(experiment, Mapping):
        data = experiment
    else:
        with open(experiment, encoding="utf-8") as f:
            data = yaml.safe_load(f) or {}
        if not isinstance(data, Mapping):
            raise ConfigError(f"{experiment}: an experiment is a mapping, not {type(data).__name__}")
    data = _merge(data, overrides or {})
    unknown = sorted(set(data) - set(EXPERIMENT_KEYS))
    if unknown:
        raise ConfigError(f"unknown experiment key {unknown[0]!r}; known keys: {sorted(EXPERIMENT_KEYS)}")
    for key in ("model", "train", "data"):
        if data.get(key) is not None and not isinstance(data[key], Mapping):
            raise ConfigError(f"experiment key {key!r} must be a mapping, not {data[key]!r}")
    return data


def resolve_experiment(
    experiment: Path | str | Mapping | None,
    method: str | Method | None = None,
    overrides: Mapping | None = None,
) -> tuple[Method, Any, TrainConfig]:
    """The method, its config and the train config of an experiment (defaults under the overrides).

    Args:
        experiment: see :func:`load_experiment`.
        method: the method, required when the experiment names none; must match the one it names.
        overrides: nested mapping merged on top of the experiment.

    Raises:
        ConfigError: no method, two different methods, or an invalid key or value.
    """
    data = load_experiment(experiment, overrides)
    name = data.get("method")
    if method is None and name is None:
        raise ConfigError("the experiment names no method (method: <name>) and none was given")
    if method is not None and name is not None and get_method(method).name != get_method(name).name:
        raise ConfigError(f"the experiment is for method {name!r}, not {get_method(method).name!r}")
    m = get_method(method if method is not None else name)
    return (
        m,
        build_config(m.Config, data.get("model"), where="model"),
        build_config(TrainConfig, data.get("train"), where="train"),
    )


def training_plan(experiment: Path | str | Mapping) -> tuple[str, tuple[str, ...]]:
    """``(train.init_from, train.categories)`` of an experiment: the run it starts from and the
    categories it trains on (what the workflow needs to order the runs and group the evaluation)."""
    _, _, tc = resolve_experiment(experiment)
    return tc.init_from, tuple(tc.categories)


def experiment_stores(
    data: Mapping, train_store: Path | str | None, val_store: Path | str | None
) -> tuple[Path | str, Path | str | None]:
    """The stores a run reads: those given, else the experiment's ``data.train`` and ``data.val``.

    A ``data.val`` that describes an in-memory dataset (``<...>``, as a run's ``config.yaml`` records
    one) means no validation.

    Raises:
        ConfigError: no training store, or ``data.train`` describes an in-memory dataset.
    """
    stores = data.get("data") or {}
    train_store = train_store if train_store is not None else stores.get("train")
    val_store = val_store if val_store is not None else stores.get("val")
    if train_store is None:
        raise ConfigError("no training store: pass train_store or set data.train in the experiment")
    if isinstance(train_store, str) and train_store.startswith("<"):
        raise ConfigError(f"data.train {train_store!r} describes an in-memory dataset, not a store")
    if isinstance(val_store, str) and val_store.startswith("<"):
        val_store = None
    return train_store, val_store


def describe_source(source) -> str | None:
    """A store path as text; a dataset as ``<module.Class, N items>``; None as None."""
    if source is None:
        return None
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    return f"<{type(source).__module__}.{type(source).__qualname__}, {len(source)} items>"


def write_run_config(
    out_dir: Path, method: Method, model_dict: dict, train_dict: dict, stores: tuple, world: int
) -> None:
    """Write ``out_dir/config.yaml``: the resolved run as an experiment, with the stores (``stores``:
    ``(train, val)``), the number of processes and the package versions for the record."""
    from recon.io.store import package_versions

    config = {
        "method": method.name,
        "model": model_dict,
        "train": train_dict,
        "data": {"train": describe_source(stores[0]), "val": describe_source(stores[1])},
        "distributed": {"world_size": world},
        "packages": package_versions(extra=("torch", "tensorboard")),
    }
    atomic_write_text(out_dir / "config.yaml", yaml.safe_dump(config, sort_keys=False))
