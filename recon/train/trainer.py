"""The training harness: one loop for every method, deterministic data order, resumable, multi-GPU.

:func:`train` trains a :class:`recon.train.method.Method` on a packed split store (or any map-style
dataset) and writes into ``out_dir``:

==========================  =====================================================================
``config.yaml``             the resolved run: ``method``, ``model`` (the method's config),
                            ``train`` (:class:`TrainConfig`), ``data`` (the stores),
                            ``distributed`` and ``packages`` (versions); itself a valid experiment
``checkpoints/last.pt``     model, optimizer, scheduler, step, RNG states of every process, best
                            validation loss, the logging accumulator; written atomically every
                            ``checkpoint_every`` steps and at the end
``checkpoints/best.pt``     model weights at the lowest ``val/loss`` (with its step and scalars)
``history.tsv``             one row per logged step: ``step``, ``epoch``, ``lr``, ``train/<name>``
                            (means over the logging interval), ``val/<name>``, ``time_s``
``tensorboard/``            the same scalars and the method's image grids
``summary.json``            :func:`train`'s return value, once the run is complete
==========================  =====================================================================

Data order: epoch ``e`` visits the items in the order of ``rng(seed, "train", "order", e)``'s
permutation, in full batches (``steps_per_epoch = len(dataset) // batch_size``; the remainder is
dropped). Step ``s`` (0-based) reads batch ``s % steps_per_epoch`` of epoch ``s // steps_per_epoch``.
The data loader is made anew for each epoch after ``dataset.set_epoch(e)`` (so worker processes see
the epoch), and a resumed run starts its loader at the right batch without reading the skipped ones.
Under ``torchrun`` with ``WORLD_SIZE > 1``, each step's batch is split between the processes
(process ``r`` of ``W`` takes items ``r, r + W, ...``; :func:`shard`), so ``batch_size`` is the global
batch and results do not depend on the number of GPUs beyond floating-point rounding.

Resuming: when ``checkpoints/last.pt`` exists, :func:`train` continues from it. The model and
training configs must be the same, except for the fields in :data:`RESUMABLE_FIELDS` (more steps,
another logging or checkpoint interval, other workers or device). On CPU with ``deterministic``,
a run stopped and resumed ends with the same weights, bit for bit, as one that ran through.
SIGINT and SIGTERM (single process) stop the run after the current step with a checkpoint.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import random
import signal
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml

from recon.config import ConfigError
from recon.io.atomic import atomic_path, atomic_write_text
from recon.io.tables import read_tsv, write_tsv
from recon.seeding import rng, stable_int
from recon.train.method import (
    Method,
    build_config,
    check_choices,
    config_to_dict,
    get_method,
)

__all__ = [
    "EXPERIMENT_KEYS",
    "RESUMABLE_FIELDS",
    "StepBatchSampler",
    "TrainConfig",
    "epoch_order",
    "image_grid",
    "load_experiment",
    "lr_factor",
    "resolve_experiment",
    "shard",
    "step_batch",
    "train",
    "train_from_files",
    "train_step",
]

log = logging.getLogger(__name__)

#: Version of the checkpoint layout.
CHECKPOINT_FORMAT = 1


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
    optimizer: Literal["adam", "adamw"] = field(default="adam", metadata={"help": "adam or adamw"})
    betas: tuple[float, float] = field(default=(0.9, 0.999), metadata={"help": "Adam's beta1, beta2"})
    schedule: Literal["constant", "cosine", "step"] = field(
        default="constant",
        metadata={
            "help": "learning rate after the warm-up: constant; cosine decay to min_lr_ratio * lr at the "
            "last step; step: multiplied by step_gamma every step_size steps"
        },
    )
    warmup_steps: int = field(
        default=0, metadata={"help": "steps of linear warm-up from lr / warmup_steps to lr"}
    )
    step_size: int = field(default=10_000, metadata={"help": "steps between decays of the step schedule"})
    step_gamma: float = field(default=0.5, metadata={"help": "factor of each decay of the step schedule"})
    min_lr_ratio: float = field(
        default=0.0, metadata={"help": "final learning rate of the cosine schedule, as a fraction of lr"}
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


#: TrainConfig fields that may differ between a checkpoint and the run that resumes it.
RESUMABLE_FIELDS = frozenset(
    {"steps", "log_every", "checkpoint_every", "log_images_every", "num_workers", "device"}
)


# --------------------------------------------------------------------------------------------------
# Data order


def epoch_order(seed: int, epoch: int, n_items: int) -> np.ndarray:
    """Order of the items in epoch ``epoch``: a permutation of ``range(n_items)``, (n_items,) int64."""
    return rng(seed, "train", "order", int(epoch)).permutation(int(n_items))


def step_batch(seed: int, step: int, n_items: int, batch_size: int) -> tuple[int, np.ndarray]:
    """The epoch and the item indices, (batch_size,) int64, of 0-based step ``step``."""
    per_epoch = n_items // batch_size
    if per_epoch < 1:
        raise ValueError(f"{n_items} items are fewer than one batch of {batch_size}")
    epoch, b = divmod(int(step), per_epoch)
    return epoch, epoch_order(seed, epoch, n_items)[b * batch_size : (b + 1) * batch_size]


def shard(indices: Sequence[int], rank: int, world_size: int) -> list[int]:
    """The items of a batch that process ``rank`` of ``world_size`` reads: ``indices[rank::world_size]``.

    The shards of all ranks are disjoint and together the whole batch; with ``len(indices)`` a multiple
    of ``world_size`` they are equal in size.
    """
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} outside a world of {world_size}")
    return [int(i) for i in indices[rank::world_size]]


class StepBatchSampler:
    """Batches ``first, first + 1, ..., first + count - 1`` of an epoch's order, sharded for one rank.

    A ``batch_sampler`` for ``torch.utils.data.DataLoader``: it yields lists of item indices and never
    touches the batches before ``first`` (that is how a resumed run skips to its step).

    Args:
        order: the epoch's item order, (n_items,) int.
        batch_size: global batch size.
        first: first batch to yield.
        count: number of batches to yield (at most ``len(order) // batch_size - first``).
        rank: this process's rank.
        world_size: number of processes.
    """

    def __init__(
        self, order: np.ndarray, batch_size: int, first: int, count: int, rank: int = 0, world_size: int = 1
    ):
        self.order = np.asarray(order)
        self.batch_size = int(batch_size)
        self.first = int(first)
        self.count = int(count)
        self.rank = int(rank)
        self.world_size = int(world_size)
        if self.first + self.count > len(self.order) // self.batch_size:
            raise ValueError(f"batches {self.first}..{self.first + self.count - 1} pass the epoch's end")

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[list[int]]:
        for b in range(self.first, self.first + self.count):
            batch = self.order[b * self.batch_size : (b + 1) * self.batch_size]
            yield shard(batch, self.rank, self.world_size)


class _ListBatchSampler:
    """A ``batch_sampler`` over a fixed list of (non-empty) index lists."""

    def __init__(self, batches: list[list[int]]):
        self.batches = batches

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches)


# --------------------------------------------------------------------------------------------------
# Learning rate, images


def lr_factor(step: int, config: TrainConfig) -> float:
    """Learning rate of 0-based step ``step`` as a fraction of ``config.lr``."""
    warm = config.warmup_steps
    if step < warm:
        return (step + 1) / warm
    if config.schedule == "constant":
        return 1.0
    if config.schedule == "step":
        return config.step_gamma ** ((step - warm) // config.step_size)
    span = max(1, config.steps - warm - 1)
    progress = min(1.0, (step - warm) / span)
    return config.min_lr_ratio + (1.0 - config.min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def image_grid(images, ncol: int = 8, pad: int = 2, background: float = 1.0):
    """Images side by side in rows of ``ncol``, for TensorBoard.

    Args:
        images: (B, C, H, W) or (C, H, W) tensor, C = 1 or 3, values in [0, 1] (clamped).
        ncol: images per row.
        pad: pixels between images and around the grid.
        background: value of the padding.

    Returns:
        (C, pad + rows * (H + pad), pad + cols * (W + pad)) float32 tensor on the CPU.
    """
    import torch

    x = images.detach().float().cpu()
    if x.dim() == 3:
        x = x[None]
    if x.dim() != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"expected (B, C, H, W) or (C, H, W) images with C = 1 or 3, got {tuple(x.shape)}")
    b, c, h, w = x.shape
    cols = max(1, min(ncol, b))
    rows = math.ceil(b / cols)
    grid = torch.full((c, pad + rows * (h + pad), pad + cols * (w + pad)), float(background))
    for i in range(b):
        r, col = divmod(i, cols)
        top, left = pad + r * (h + pad), pad + col * (w + pad)
        grid[:, top : top + h, left : left + w] = x[i].clamp(0.0, 1.0)
    return grid


# --------------------------------------------------------------------------------------------------
# Processes, devices, randomness


@dataclass
class _Dist:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    created: bool = False

    @property
    def active(self) -> bool:
        return self.world_size > 1


def _pick_device(choice: str, local_rank: int):
    import torch

    cuda = torch.cuda.is_available()
    if choice == "cuda" and not cuda:
        raise RuntimeError("train.device is cuda but CUDA is not available")
    if choice == "cpu" or not cuda:
        return torch.device("cpu")
    return torch.device("cuda", local_rank % max(1, torch.cuda.device_count()))


def _init_distributed(device) -> _Dist:
    """Join the process group that ``torchrun`` describes in the environment (``WORLD_SIZE > 1``)."""
    import torch.distributed as dist

    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return _Dist()
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    created = False
    if device.type == "cuda":
        import torch

        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        created = True
    return _Dist(rank=rank, world_size=world_size, local_rank=local_rank, created=created)


def _seed_all(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed % 2**63)


def _rng_state(cuda: bool) -> dict:
    """Random states of this process, in types that ``torch.load(weights_only=True)`` accepts."""
    import torch

    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    version, state, py_gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": list(torch.cuda.get_rng_state_all()) if cuda else [],
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(gauss)],
        "python": [version, list(state), py_gauss],
    }


def _set_rng_state(state: Mapping) -> None:
    import torch

    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    version, py_state, py_gauss = state["python"]
    random.setstate((version, tuple(py_state), py_gauss))


@contextlib.contextmanager
def _determinism(on: bool, cuda: bool):
    """Deterministic algorithms (and no cuDNN benchmarking) inside the block; previous settings after."""
    import torch

    before = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.cudnn.benchmark,
        torch.backends.cudnn.deterministic,
    )
    if on:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    elif cuda:
        torch.backends.cudnn.benchmark = True
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = before[2], before[3]


class _Signals:
    """SIGINT/SIGTERM set a flag that the loop checks after each step; a second signal acts at once."""

    def __init__(self, enabled: bool):
        self.received: int | None = None
        self._old: dict[int, Any] = {}
        self.enabled = enabled and threading.current_thread() is threading.main_thread()

    def __enter__(self):
        if self.enabled:
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.received is not None:
            self.__exit__()
            signal.raise_signal(signum)
            return
        self.received = signum
        log.warning("signal %d: stopping after this step (again to stop at once)", signum)

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old = {}


# --------------------------------------------------------------------------------------------------
# Helpers of the loop


def _to_device(obj, device, non_blocking: bool = False):
    import torch

    if isinstance(obj, torch.Tensor):
        return obj.to(device, non_blocking=non_blocking)
    if isinstance(obj, Mapping):
        return {k: _to_device(v, device, non_blocking) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_device(v, device, non_blocking) for v in obj)
    return obj


def train_step(
    method: Method,
    model,
    batch: dict,
    config: Any,
    optimizer,
    scheduler,
    params,
    grad_clip: float,
    autocast,
    where: str = "",
):
    """One optimization step: loss, backward, gradient norm (clipped when ``grad_clip`` > 0), update.

    Args:
        method, model, batch, config: what :meth:`Method.loss` takes (``model`` may be wrapped in DDP).
        optimizer, scheduler: stepped once each.
        params: the trained parameters (for the gradient norm).
        grad_clip: ``train.grad_clip``; 0 = measure the norm only.
        autocast: a callable giving the mixed-precision context (or a null context).
        where: the step, for the error message.

    Returns:
        ``(loss, scalars, grad_norm)``: the loss tensor, the method's scalars and the norm tensor.

    Raises:
        FloatingPointError: the loss is not finite (nothing is updated).
    """
    import torch

    with autocast():
        loss, scalars = method.loss(model, batch, config)
    if not torch.isfinite(loss):
        raise FloatingPointError(f"loss is {loss.item()} {where}".strip())
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip > 0:
        grad_norm = torch.nn.utils.clip_grad_norm_(params, grad_clip)
    else:
        grad_norm = torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None])
    optimizer.step()
    scheduler.step()
    return loss, scalars, grad_norm


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
        method.loss(model, _to_device(collate([dataset[0]]), device), config)
    model.train(was_training)


def _dataset(source, method: Method, config: Any, seed: int, train: bool):
    """A packed store path as the method's dataset over it (:meth:`Method.dataset`); a dataset as is."""
    if source is None:
        return None
    if isinstance(source, (str, os.PathLike)):
        return method.dataset(source, config, seed, train=train)
    return source


def _describe(source) -> str | None:
    if source is None:
        return None
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    return f"<{type(source).__module__}.{type(source).__qualname__}, {len(source)} items>"


def _loader(dataset, batch_sampler, workers: int, device, generator_seed: int):
    import torch
    from torch.utils.data import DataLoader

    from recon.io.loader import collate

    return DataLoader(
        dataset,
        batch_sampler=batch_sampler,
        collate_fn=collate,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        generator=torch.Generator().manual_seed(generator_seed % 2**63),
    )


class _Accumulator:
    """Sums and counts of logged scalars over a logging interval."""

    def __init__(self, state: Mapping | None = None):
        self.sums: dict[str, float] = dict(state["sums"]) if state else {}
        self.counts: dict[str, int] = dict(state["counts"]) if state else {}

    def add(self, scalars: Mapping[str, float], weight: int = 1) -> None:
        for k, v in scalars.items():
            self.sums[k] = self.sums.get(k, 0.0) + float(v) * weight
            self.counts[k] = self.counts.get(k, 0) + weight

    def state(self) -> dict:
        return {"sums": dict(self.sums), "counts": dict(self.counts)}

    def means(self, dist_: _Dist, device) -> dict[str, float]:
        """Means over the interval (and over processes), then empty."""
        keys = sorted(self.sums)
        sums = [self.sums[k] for k in keys]
        counts = [float(self.counts[k]) for k in keys]
        if dist_.active:
            import torch
            import torch.distributed as dist

            t = torch.tensor(sums + counts, dtype=torch.float64, device=device)
            dist.all_reduce(t)
            values = t.tolist()
            sums, counts = values[: len(keys)], values[len(keys) :]
        self.sums, self.counts = {}, {}
        return {k: s / c for k, s, c in zip(keys, sums, counts, strict=True) if c > 0}


def _history_columns(rows: list[Mapping]) -> list[str]:
    keys = {k for row in rows for k in row}
    train = sorted(k for k in keys if k.startswith("train/"))
    val = sorted(k for k in keys if k.startswith("val/"))
    return ["step", "epoch", "lr", *train, *val, "time_s"]


def _save(path: Path, obj: Any) -> None:
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def _check_resume(ckpt: Mapping, method: Method, model_cfg: dict, train_cfg: dict) -> None:
    if ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ConfigError(f"checkpoint format {ckpt.get('format')} is not {CHECKPOINT_FORMAT}")
    if ckpt["method"] != method.name:
        raise ConfigError(f"the checkpoint is of method {ckpt['method']!r}, not {method.name!r}")
    diff = [
        f"model.{k}"
        for k in sorted(set(model_cfg) | set(ckpt["model_config"]))
        if model_cfg.get(k) != ckpt["model_config"].get(k)
    ]
    diff += [
        f"train.{k}"
        for k in sorted(set(train_cfg) | set(ckpt["train_config"]))
        if k not in RESUMABLE_FIELDS and train_cfg.get(k) != ckpt["train_config"].get(k)
    ]
    if diff:
        raise ConfigError(
            f"cannot resume: {diff} differ from the checkpoint's config (use another out_dir, or remove "
            "the checkpoints to start over)"
        )


# --------------------------------------------------------------------------------------------------
# The loop


def train(
    method: str | Method,
    method_config: Any = None,
    train_config: TrainConfig | Mapping | None = None,
    train_store=None,
    val_store=None,
    out_dir: Path | str = "train",
    *,
    stop_at: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Train ``method`` (resuming from ``out_dir/checkpoints/last.pt`` when it exists).

    Args:
        method: a registered name or a :class:`Method`.
        method_config: the method's ``Config``, a mapping of overrides of its defaults, or None.
        train_config: a :class:`TrainConfig`, a mapping of overrides, or None (defaults).
        train_store: packed store path (``results/pack/train.zarr``; opened with
            :meth:`Method.dataset`) or a map-style dataset whose items
            :func:`recon.io.loader.collate` can batch (``set_epoch`` is called if it has one).
        val_store: the same for validation, or None (no validation, no ``best.pt``).
        out_dir: output folder (see the module docstring).
        stop_at: stop after this many steps with a checkpoint, as an interruption would (then run again
            to resume); None = run to ``steps``.
        progress: show a tqdm progress bar (process 0 only).

    Returns:
        ``{"steps", "final_train_loss", "best_val_loss", "best_step", "seconds_per_step",
        "resumed_from", "complete"}``: steps done, the last logged ``train/loss``, the best
        ``val/loss`` and its step (None without validation), mean seconds per step in this call
        (None when it ran no step), the step it started from, and whether all steps are done.
    """
    import torch

    method = get_method(method)
    model_config = build_config(method.Config, method_config, where="model")
    train_config = build_config(TrainConfig, train_config, where="train")
    if train_store is None:
        raise ValueError("train_store is required")
    out_dir = Path(out_dir)
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    device = _pick_device(train_config.device, int(os.environ.get("LOCAL_RANK", "0")))
    dist_ = _init_distributed(device)
    try:
        with (
            _determinism(train_config.deterministic, device.type == "cuda"),
            _Signals(world_size == 1) as signals,
        ):
            return _train(
                method,
                model_config,
                train_config,
                train_store,
                val_store,
                out_dir,
                device,
                dist_,
                stop_at,
                progress,
                signals,
            )
    finally:
        if dist_.created:
            torch.distributed.destroy_process_group()


def _train(
    method,
    model_config,
    tc: TrainConfig,
    train_store,
    val_store,
    out_dir: Path,
    device,
    dist_: _Dist,
    stop_at,
    progress,
    signals: _Signals,
) -> dict[str, Any]:
    import torch
    from tqdm import tqdm

    rank, world = dist_.rank, dist_.world_size
    main = rank == 0
    if tc.batch_size % world:
        raise ConfigError(f"train.batch_size = {tc.batch_size} is not a multiple of the {world} processes")
    train_ds = _dataset(train_store, method, model_config, tc.seed, train=True)
    val_ds = _dataset(val_store, method, model_config, tc.seed, train=False)
    n_items = len(train_ds)
    per_epoch = n_items // tc.batch_size
    if per_epoch < 1:
        raise ValueError(f"the training set has {n_items} items, fewer than one batch of {tc.batch_size}")
    model_dict, train_dict = config_to_dict(model_config), config_to_dict(tc)
    ckpt_dir = out_dir / "checkpoints"
    last_path, best_path = ckpt_dir / "last.pt", ckpt_dir / "best.pt"
    history_path = out_dir / "history.tsv"
    ckpt = torch.load(last_path, map_location="cpu", weights_only=True) if last_path.exists() else None
    if ckpt is not None:
        _check_resume(ckpt, method, model_dict, train_dict)

    use_bf16 = device.type == "cuda" and (
        tc.amp == "bf16" or (tc.amp == "auto" and torch.cuda.is_bf16_supported())
    )
    if tc.amp == "bf16" and device.type != "cuda":
        log.warning("train.amp = bf16 needs CUDA; training in float32 on %s", device)

    # Initial weights depend on the seed only (not on the rank or a checkpoint).
    _seed_all(stable_int(tc.seed, "train", "init", bits=63))
    model = method.build(model_config).to(device)
    _materialize(model, method, model_config, train_ds, device)
    params = [p for p in model.parameters() if p.requires_grad]
    opt_cls = torch.optim.AdamW if tc.optimizer == "adamw" else torch.optim.Adam
    optimizer = opt_cls(params, lr=tc.lr, betas=tc.betas, weight_decay=tc.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, tc))

    start, elapsed, best, history, last_train = 0, 0.0, {"loss": None, "step": None}, [], {}
    acc = _Accumulator()
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        start, elapsed, best = int(ckpt["step"]), float(ckpt["elapsed_s"]), dict(ckpt["best"])
        acc = _Accumulator(ckpt["accumulator"])
        last_train = dict(ckpt["last_train"])
        states = ckpt["rng"]
        if len(states) == world:
            _set_rng_state(states[rank])
        else:
            log.warning(
                "checkpoint of %d processes resumed by %d: random streams reseeded", len(states), world
            )
            _seed_all(stable_int(tc.seed, "train", "resume", start, rank, bits=63))
        if history_path.exists():
            history = [r for r in read_tsv(history_path) if int(r["step"]) <= start]
        log.info("resuming %s from step %d of %d", out_dir, start, tc.steps)
    else:
        _seed_all(stable_int(tc.seed, "train", "run", rank, bits=63))

    net = model
    if dist_.active:
        from torch.nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(
            model,
            device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=method.find_unused_parameters,
        )

    writer = None
    if main:
        out_dir.mkdir(parents=True, exist_ok=True)
        _write_config(out_dir, method, model_dict, train_dict, train_store, val_store, world)
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(out_dir / "tensorboard"), purge_step=start if start else None)

    # Validation: a fixed subset in a fixed order, each batch sharded like the training batches.
    val_batches: list[list[int]] = []
    if val_ds is not None and len(val_ds) and tc.val_every:
        order = rng(tc.seed, "val", "order").permutation(len(val_ds))
        if tc.val_batches:
            order = order[: tc.val_batches * tc.batch_size]
        val_batches = [order[i : i + tc.batch_size].tolist() for i in range(0, len(order), tc.batch_size)]
    image_batch = None

    def autocast():
        if use_bf16:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def validate() -> dict[str, float]:
        net.eval()
        val_acc = _Accumulator()
        mine = [shard(b, rank, world) for b in val_batches]
        mine = [b for b in mine if b]
        if hasattr(val_ds, "set_epoch"):
            val_ds.set_epoch(0)
        loader = _loader(val_ds, _ListBatchSampler(mine), tc.num_workers, device, 0)
        with torch.no_grad(), autocast():
            for idx, batch in zip(mine, loader, strict=True):
                batch = _to_device(batch, device, non_blocking=True)
                loss, scalars = method.loss(net, batch, model_config)
                val_acc.add({**scalars, "loss": float(loss)}, weight=len(idx))
        net.train()
        return val_acc.means(dist_, device)

    def draw_images(step: int, batch) -> None:
        nonlocal image_batch
        if image_batch is None:
            if val_batches:
                from recon.io.loader import collate

                if hasattr(val_ds, "set_epoch"):
                    val_ds.set_epoch(0)
                image_batch = collate([val_ds[i] for i in val_batches[0]])
            else:
                image_batch = _to_device(batch, "cpu")
        net.eval()
        with torch.no_grad(), autocast():
            images = method.images(net, _to_device(image_batch, device), model_config)
        net.train()
        for tag, img in images.items():
            writer.add_image(f"images/{tag}", image_grid(img), step, dataformats="CHW")

    def checkpoint(step: int) -> None:
        state = _rng_state(device.type == "cuda")
        if dist_.active:
            import torch.distributed as dist

            states = [None] * world
            dist.all_gather_object(states, state)
        else:
            states = [state]
        if not main:
            return
        _save(
            last_path,
            {
                "format": CHECKPOINT_FORMAT,
                "method": method.name,
                "model_config": model_dict,
                "train_config": train_dict,
                "step": step,
                "epoch": step // per_epoch,
                "model": net.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "scaler": None,  # bf16 autocast needs no gradient scaler
                "rng": states,
                "best": best,
                "accumulator": acc.state(),
                "last_train": last_train,
                "elapsed_s": elapsed + (time.perf_counter() - t0),
            },
        )
        write_tsv(history_path, history, _history_columns(history))
        writer.flush()

    end = tc.steps if stop_at is None else max(start, min(tc.steps, int(stop_at)))
    step = start
    t0 = time.perf_counter()
    bar = tqdm(
        total=tc.steps,
        initial=start,
        desc=f"train {method.name}",
        disable=not (progress and main),
        mininterval=0.5 if sys.stderr.isatty() else 30.0,
        dynamic_ncols=True,
    )
    model.train()
    try:
        while step < end:
            epoch, first = divmod(step, per_epoch)
            count = min(per_epoch - first, end - step)
            if hasattr(train_ds, "set_epoch"):
                train_ds.set_epoch(epoch)
            sampler = StepBatchSampler(
                epoch_order(tc.seed, epoch, n_items), tc.batch_size, first, count, rank, world
            )
            loader = _loader(
                train_ds,
                sampler,
                tc.num_workers,
                device,
                stable_int(tc.seed, "train", "loader", epoch, rank, bits=63),
            )
            for batch in loader:
                batch = _to_device(batch, device, non_blocking=True)
                lr = optimizer.param_groups[0]["lr"]
                loss, scalars, grad_norm = train_step(
                    method,
                    model,
                    batch,
                    model_config,
                    optimizer,
                    scheduler,
                    params,
                    tc.grad_clip,
                    autocast,
                    where=f"at step {step + 1} (epoch {epoch})",
                )
                step += 1
                acc.add({**scalars, "loss": loss.item(), "grad_norm": float(grad_norm)})

                validating = bool(val_batches) and step % tc.val_every == 0
                if step % tc.log_every == 0 or step == tc.steps or validating:
                    means = acc.means(dist_, device)
                    last_train = means
                    row = {"step": step, "epoch": epoch, "lr": lr}
                    row.update({f"train/{k}": v for k, v in means.items()})
                    if validating:
                        val = validate()
                        row.update({f"val/{k}": v for k, v in val.items()})
                        if best["loss"] is None or val["loss"] < best["loss"]:
                            best = {"loss": val["loss"], "step": step}
                            if main:
                                _save(
                                    best_path,
                                    {
                                        "format": CHECKPOINT_FORMAT,
                                        "method": method.name,
                                        "model_config": model_dict,
                                        "step": step,
                                        "val": val,
                                        "model": net.state_dict(),
                                    },
                                )
                    row["time_s"] = round(elapsed + time.perf_counter() - t0, 3)
                    if main:
                        history.append(row)
                        for k, v in row.items():
                            if k not in ("step", "epoch", "time_s"):
                                writer.add_scalar(k, v, step)
                        bar.set_postfix(loss=f"{means.get('loss', float('nan')):.4g}", refresh=False)
                if main and tc.log_images_every and step % tc.log_images_every == 0:
                    draw_images(step, batch)
                bar.update(1)
                if step % tc.checkpoint_every == 0 or step == end or signals.received is not None:
                    checkpoint(step)
                if signals.received is not None:
                    break
            del loader
            if signals.received is not None:
                break
    finally:
        bar.close()
        if writer is not None:
            writer.flush()
            writer.close()
    run_s = time.perf_counter() - t0
    if signals.received == signal.SIGINT:
        raise KeyboardInterrupt(f"stopped at step {step}; checkpoint written, run again to resume")
    if signals.received is not None:
        raise RuntimeError(f"stopped by signal {signals.received} at step {step}; run again to resume")
    summary = {
        "steps": step,
        "final_train_loss": last_train.get("loss"),
        "best_val_loss": best["loss"],
        "best_step": best["step"],
        "seconds_per_step": run_s / (step - start) if step > start else None,
        "resumed_from": start,
        "complete": step >= tc.steps,
    }
    if main and summary["complete"] and step > start:
        atomic_write_text(out_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
    if dist_.active:
        import torch.distributed as dist

        dist.barrier()
    return summary


# --------------------------------------------------------------------------------------------------
# Config files and experiments


def _write_config(out_dir, method, model_dict, train_dict, train_store, val_store, world) -> None:
    from recon.io.store import package_versions

    config = {
        "method": method.name,
        "model": model_dict,
        "train": train_dict,
        "data": {"train": _describe(train_store), "val": _describe(val_store)},
        "distributed": {"world_size": world},
        "packages": package_versions(extra=("torch", "tensorboard")),
    }
    atomic_write_text(out_dir / "config.yaml", yaml.safe_dump(config, sort_keys=False))


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


def train_from_files(
    experiment: Path | str | Mapping | None,
    train_store: Path | str | None = None,
    val_store: Path | str | None = None,
    out_dir: Path | str = "train",
    *,
    method: str | None = None,
    overrides: Mapping | None = None,
    stop_at: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Train from an experiment file: the entry point of the workflow's training script.

    Args:
        experiment: experiment YAML path or mapping (format in :mod:`recon.train`).
        train_store: training store; default the experiment's ``data.train``.
        val_store: validation store; default the experiment's ``data.val`` (none when absent).
        out_dir: output folder.
        method: method name, when the experiment names none (or to check the one it names).
        overrides: nested mapping on top of the experiment, e.g. ``{"train": {"num_workers": 8}}``.
        stop_at: see :func:`train`.
        progress: see :func:`train`.

    Returns:
        :func:`train`'s summary.
    """
    data = load_experiment(experiment, overrides)
    m, model_config, train_config = resolve_experiment(data, method)
    stores = data.get("data") or {}
    train_store = train_store if train_store is not None else stores.get("train")
    val_store = val_store if val_store is not None else stores.get("val")
    if train_store is None:
        raise ConfigError("no training store: pass train_store or set data.train in the experiment")
    if isinstance(train_store, str) and train_store.startswith("<"):
        raise ConfigError(f"data.train {train_store!r} describes an in-memory dataset, not a store")
    if isinstance(val_store, str) and val_store.startswith("<"):
        val_store = None
    return train(
        m, model_config, train_config, train_store, val_store, out_dir, stop_at=stop_at, progress=progress
    )
