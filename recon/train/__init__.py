"""Training: the method interface and registry, and one training harness for every model family.

A model family (DISN, 3D-R2N2, ...) is a :class:`Method` with a ``Config`` dataclass of
hyper-parameters, registered by name (:func:`register`); :func:`train` trains any of them on packed
split stores with the same data order, checkpoints, logs and resumption (see
:mod:`recon.train.loop`), and :func:`train_from_files` does so from an experiment file.

Experiment files are small YAML files: the method, overrides of its config's defaults and overrides of
:class:`TrainConfig`'s defaults. Every key is checked (an unknown one is an error that names it)::

    method: disn                         # a registered method name
    description: DISN, VGG-16, 2k steps  # optional free text
    model:                               # fields of the method's Config (nested dataclasses nest)
      encoder: vgg16
    train:                               # fields of TrainConfig
      steps: 2000
      batch_size: 16
      lr: 1e-4                           # YAML reads 1e-4 as text; it is converted to a float
      schedule: cosine
      warmup_steps: 100
    data:                                # optional default stores (the workflow passes its own)
      train: results/pack/train.zarr
      val: results/pack/val.zarr

In the workflow, every run's ``train.seed`` is the config's ``seed``
(:func:`recon.train.stage.train_processes`); an experiment file there may not set another.

A run's ``config.yaml`` has the same format (plus ``distributed`` and ``packages``, kept for the
record), so it can be given back as an experiment. From the command line::

    python -m recon.train experiment.yaml --train-store results/pack/train.zarr \\
        --val-store results/pack/val.zarr --out-dir results/train/disn --set train.steps=100
    torchrun --nproc_per_node 4 -m recon.train experiment.yaml ...   # one process per GPU
    python -m recon.train --describe disn                              # a method's config fields
"""

from recon.models.method import (
    METHODS,
    Method,
    PredictContext,
    build_config,
    config_help,
    config_to_dict,
    get_method,
    method_config,
    register,
    unwrap_model,
)
from recon.train.experiment import TrainConfig, load_experiment, resolve_experiment
from recon.train.loop import train, train_from_files

__all__ = [
    "METHODS",
    "Method",
    "PredictContext",
    "TrainConfig",
    "build_config",
    "config_help",
    "config_to_dict",
    "get_method",
    "load_experiment",
    "method_config",
    "register",
    "resolve_experiment",
    "train",
    "train_from_files",
    "unwrap_model",
]
