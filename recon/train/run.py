"""A training run made ready for the loop: its data, model, optimizer and state, in one :class:`Run`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recon.config import ConfigError
from recon.models.method import Method, config_to_dict
from recon.seeding import stable_int
from recon.train.checkpoints import (
    RunState,
    check_resume,
    initial_weights,
    load_checkpoint,
    resume,
    seed_all,
)
from recon.train.devices import Processes, autocast_for, to_device
from recon.train.experiment import TrainConfig, write_run_config
from recon.train.optim import make_optimizer
from recon.train.sampling import open_dataset, validation_batches

__all__ = ["Run", "prepare_run"]

log = logging.getLogger(__name__)


@dataclass
class Run:
    """Everything the loop of one run works with (made by :func:`prepare_run`)."""

    method: Method
    model_config: Any  # the method's Config
    config: TrainConfig
    out_dir: Path
    procs: Processes  # this process, its device
    train_ds: Any  # map-style datasets (val_ds may be None)
    val_ds: Any
    val_batches: list[list[int]]  # validation batches, global item indices (empty: no validation)
    net: Any  # the model
    model: Any  # the model as trained: ``net``, wrapped in DistributedDataParallel under torchrun
    params: list  # the trained parameters
    optimizer: Any
    scheduler: Any
    autocast: Callable  # gives the mixed-precision context
    state: RunState
    model_dict: dict  # the configs as plain data (checkpoints, config.yaml)
    train_dict: dict
    image_batch: dict | None = None  # the batch of TensorBoard's images, once drawn

    @property
    def per_epoch(self) -> int:
        """Steps per epoch: full batches of the training set."""
        return len(self.train_ds) // self.config.batch_size


def prepare_run(
    method: Method, model_config: Any, tc: TrainConfig, stores: tuple, out_dir: Path, procs: Processes
) -> Run:
    """Open the stores (``(train, val)``), build the model and optimizer, resume from ``last.pt``
    when there is one (else start from ``train.init_from``'s weights when set), and (process 0)
    write the run's ``config.yaml``.

    Initial weights depend on the seed only (not on the rank or a checkpoint); the random streams of
    the run then on the seed and the rank, or on the checkpoint.

    Raises:
        ConfigError: ``batch_size`` is not a multiple of the number of processes, or the checkpoint
            is not resumable with these configs.
        ValueError: the training set holds less than one batch.
    """
    world = procs.world_size
    if tc.batch_size % world:
        raise ConfigError(f"train.batch_size = {tc.batch_size} is not a multiple of the {world} processes")
    train_ds = open_dataset(stores[0], method, model_config, tc.seed, train=True, categories=tc.categories)
    val_ds = open_dataset(stores[1], method, model_config, tc.seed, train=False, categories=tc.categories)
    n_items = len(train_ds)
    if n_items // tc.batch_size < 1:
        raise ValueError(f"the training set has {n_items} items, fewer than one batch of {tc.batch_size}")
    model_dict, train_dict = config_to_dict(model_config), config_to_dict(tc)
    ckpt = load_checkpoint(out_dir / "checkpoints" / "last.pt")
    if ckpt is not None:
        check_resume(ckpt, method, model_dict, train_dict)
    autocast = autocast_for(tc.amp, procs.device)

    seed_all(stable_int(tc.seed, "train", "init", bits=63))
    net = method.build(model_config).to(procs.device)
    _materialize(net, method, model_config, train_ds, procs.device)
    if tc.init_from and ckpt is None:
        path = initial_weights(tc.init_from, out_dir)
        net.load_state_dict(load_checkpoint(path)["model"])
        log.info("%s starts from the weights of %s", out_dir, path)
    params = [p for p in net.parameters() if p.requires_grad]
    optimizer, scheduler = make_optimizer(params, tc)
    if ckpt is not None:
        state = resume(ckpt, net, optimizer, scheduler, tc.seed, procs)
        log.info("resuming %s from step %d of %d", out_dir, state.step, tc.steps)
    else:
        state = RunState()
        seed_all(stable_int(tc.seed, "train", "run", procs.rank, bits=63))
    model = _distributed(net, method, procs)

    if procs.main:
        out_dir.mkdir(parents=True, exist_ok=True)
        write_run_config(out_dir, method, model_dict, train_dict, stores, world)
    val = []
    if val_ds is not None and len(val_ds) and tc.val_every:
        val = validation_batches(tc.seed, len(val_ds), tc.batch_size, tc.val_batches)
    return Run(
        method=method,
        model_config=model_config,
        config=tc,
        out_dir=out_dir,
        procs=procs,
        train_ds=train_ds,
        val_ds=val_ds,
        val_batches=val,
        net=net,
        model=model,
        params=params,
        optimizer=optimizer,
        scheduler=scheduler,
        autocast=autocast,
        state=state,
        model_dict=model_dict,
        train_dict=train_dict,
    )


def _distributed(net, method: Method, procs: Processes):
    """``net`` in DistributedDataParallel under torchrun (more than one process); else ``net``."""
    if not procs.active:
        return net
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(
        net,
        device_ids=[procs.device.index] if procs.device.type == "cuda" else None,
        find_unused_parameters=method.find_unused_parameters,
    )


def _materialize(model, method: Method, config: Any, dataset, device) -> None:
    """Give lazy modules (``nn.LazyLinear``) their shapes before the optimizer and DDP see them.

    A model with uninitialized parameters (3D-R2N2's encoder sizes its linear layer from the
    images it first sees) runs one forward pass, in eval mode and without gradients, on the
    training set's first item; DistributedDataParallel refuses uninitialized parameters. Every
    process and a single-process run do the same, under the initial-weights seed, so the weights
    depend on the seed only. Models without lazy modules are left untouched.
    """
    import torch
    from torch.nn.parameter import UninitializedParameter

    if not any(isinstance(p, UninitializedParameter) for p in model.parameters()):
        return
    from recon.io.loader import collate

    was_training = model.training
    model.eval()
    with torch.no_grad():
        method.loss(model, to_device(collate([dataset[0]]), device), config)
    model.train(was_training)
