"""A run's state and its checkpoints: what ``last.pt`` and ``best.pt`` hold, resuming, random states.

``checkpoints/last.pt`` holds the model, optimizer, scheduler, step, the random states of every
process, the best validation value so far and the logging accumulator; it is written atomically every
``checkpoint_every`` steps and at the end (:func:`save_last`). ``checkpoints/best.pt`` holds the model
weights at the best validation value of the method's selection scalar (:attr:`Method.selection`: the
lowest ``val/loss`` by default, the highest ``val/iou`` for Occupancy Networks), with its step and
scalars (:func:`save_best`).

Resuming: when ``last.pt`` exists the run continues from it. The model and training configs must be
the same, except for the fields in :data:`RESUMABLE_FIELDS` (:func:`check_resume`). On CPU with
``deterministic``, a run stopped and resumed ends with the same weights, bit for bit, as one that ran
through.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from recon.config import ConfigError
from recon.io.atomic import atomic_path
from recon.models.method import Method, config_to_dict
from recon.seeding import stable_int
from recon.train.devices import Processes
from recon.train.experiment import TrainConfig
from recon.train.history import Accumulator

if TYPE_CHECKING:
    from recon.train.run import Run

__all__ = [
    "CHECKPOINT_FORMAT",
    "RESUMABLE_FIELDS",
    "RunState",
    "check_resume",
    "initial_weights",
    "load_checkpoint",
    "resume",
    "rng_state",
    "save_best",
    "save_last",
    "seed_all",
    "set_rng_state",
]

log = logging.getLogger(__name__)

#: Version of the checkpoint layout.
CHECKPOINT_FORMAT = 1

#: TrainConfig fields that may differ between a checkpoint and the run that resumes it.
RESUMABLE_FIELDS = frozenset(
    {"steps", "log_every", "checkpoint_every", "log_images_every", "num_workers", "device"}
)


@dataclass
class RunState:
    """Where a run stands, as ``last.pt`` keeps it (with the model, optimizer and scheduler)."""

    step: int = 0  # steps done
    elapsed: float = 0.0  # seconds of training in earlier calls
    best: dict = field(
        default_factory=lambda: {"value": None, "step": None}
    )  # best selection value, its step
    last_train: dict = field(default_factory=dict)  # the train scalars of the last logged step
    acc: Accumulator = field(default_factory=Accumulator)  # the current logging interval
    started: float = field(default_factory=time.perf_counter)  # when this call's loop started

    def seconds(self) -> float:
        """Seconds of training so far, earlier calls included."""
        return self.elapsed + (time.perf_counter() - self.started)


def _best(saved: dict) -> dict:
    """``RunState.best`` from a checkpoint (runs written before selection scalars kept ``loss``)."""
    return {"value": saved.get("value", saved.get("loss")), "step": saved["step"]}


def seed_all(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global random generators."""
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed % 2**63)


def rng_state(cuda: bool) -> dict:
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


def set_rng_state(state: Mapping) -> None:
    """Restore the random states :func:`rng_state` returned."""
    import torch

    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    version, py_state, py_gauss = state["python"]
    random.setstate((version, tuple(py_state), py_gauss))


def check_resume(ckpt: Mapping, method: Method, model_cfg: dict, train_cfg: dict) -> None:
    """Refuse to resume ``ckpt`` with another method, or configs that differ beyond
    :data:`RESUMABLE_FIELDS` (:class:`ConfigError`); model keys saved under an old name are read
    under the new one."""
    if ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ConfigError(f"checkpoint format {ckpt.get('format')} is not {CHECKPOINT_FORMAT}")
    if ckpt["method"] != method.name:
        raise ConfigError(f"the checkpoint is of method {ckpt['method']!r}, not {method.name!r}")
    # A checkpoint written before a model key was renamed (the config class's RENAMED_KEYS) still resumes.
    renamed = getattr(method.Config, "RENAMED_KEYS", {})
    saved = {renamed.get(k, k): v for k, v in ckpt["model_config"].items()}
    # A key added after the checkpoint was written reads as its default (the behaviour before it existed).
    model_defaults, train_defaults = config_to_dict(method.Config()), config_to_dict(TrainConfig())
    saved_train = ckpt["train_config"]
    diff = [
        f"model.{k}"
        for k in sorted(set(model_cfg) | set(saved))
        if model_cfg.get(k) != saved.get(k, model_defaults.get(k))
    ]
    diff += [
        f"train.{k}"
        for k in sorted(set(train_cfg) | set(saved_train))
        if k not in RESUMABLE_FIELDS and train_cfg.get(k) != saved_train.get(k, train_defaults.get(k))
    ]
    if diff:
        raise ConfigError(
            f"cannot resume: {diff} differ from the checkpoint's config (use another out_dir, or remove "
            "the checkpoints to start over)"
        )


def initial_weights(init_from: str, out_dir: Path) -> Path:
    """The checkpoint ``train.init_from`` names: a ``.pt`` file, or an experiment trained beside the run.

    An experiment name ``E`` means ``out_dir/../E/checkpoints/best.pt`` (its best validation), else
    ``last.pt`` of that run: the workflow trains every experiment into ``results/train/<name>``.

    Raises:
        FileNotFoundError: no such checkpoint.
    """
    path = Path(init_from)
    if path.suffix == ".pt":
        if not path.exists():
            raise FileNotFoundError(f"train.init_from: no checkpoint {path}")
        return path
    run = Path(out_dir).parent / init_from / "checkpoints"
    for name in ("best.pt", "last.pt"):
        if (run / name).exists():
            return run / name
    raise FileNotFoundError(
        f"train.init_from = {init_from!r}: no checkpoint in {run} (train that experiment first)"
    )


def load_checkpoint(path: Path):
    """The checkpoint at ``path`` (on the CPU), or None when there is none."""
    import torch

    return torch.load(path, map_location="cpu", weights_only=True) if path.exists() else None


def resume(ckpt: Mapping, model, optimizer, scheduler, seed: int, procs: Processes) -> RunState:
    """Load ``last.pt``'s weights and optimizer and scheduler states; restore this process's random
    states (reseeded from ``seed``, the step and the rank when the number of processes changed).

    Returns:
        the run's state at the checkpoint.
    """
    model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    scheduler.load_state_dict(ckpt["scheduler"])
    state = RunState(
        step=int(ckpt["step"]),
        elapsed=float(ckpt["elapsed_s"]),
        best=_best(ckpt["best"]),
        last_train=dict(ckpt["last_train"]),
        acc=Accumulator(ckpt["accumulator"]),
    )
    states = ckpt["rng"]
    if len(states) == procs.world_size:
        set_rng_state(states[procs.rank])
    else:
        log.warning(
            "checkpoint of %d processes resumed by %d: random streams reseeded", len(states), procs.world_size
        )
        seed_all(stable_int(seed, "train", "resume", state.step, procs.rank, bits=63))
    return state


def _save(path: Path, obj: Any) -> None:
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def save_last(run: Run) -> None:
    """Write ``checkpoints/last.pt`` (process 0). Every process calls it: it gathers their random states."""
    state = rng_state(run.procs.device.type == "cuda")
    if run.procs.active:
        import torch.distributed as dist

        states = [None] * run.procs.world_size
        dist.all_gather_object(states, state)
    else:
        states = [state]
    if not run.procs.main:
        return
    _save(
        run.out_dir / "checkpoints" / "last.pt",
        {
            "format": CHECKPOINT_FORMAT,
            "method": run.method.name,
            "model_config": run.model_dict,
            "train_config": run.train_dict,
            "step": run.state.step,
            "epoch": run.state.step // run.per_epoch,
            "model": run.net.state_dict(),
            "optimizer": run.optimizer.state_dict(),
            "scheduler": run.scheduler.state_dict(),
            "scaler": None,  # bf16 autocast needs no gradient scaler
            "rng": states,
            "best": run.state.best,
            "accumulator": run.state.acc.state(),
            "last_train": run.state.last_train,
            "elapsed_s": run.state.seconds(),
        },
    )


def save_best(run: Run, val: dict[str, float]) -> None:
    """Write ``checkpoints/best.pt`` (process 0): the weights, the step and the validation scalars."""
    if not run.procs.main:
        return
    _save(
        run.out_dir / "checkpoints" / "best.pt",
        {
            "format": CHECKPOINT_FORMAT,
            "method": run.method.name,
            "model_config": run.model_dict,
            "step": run.state.step,
            "val": val,
            "model": run.net.state_dict(),
        },
    )
