"""Where a run's processes train: devices, the process group under ``torchrun``, mixed precision,
deterministic algorithms, and the signals that stop a run after its current step."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Processes", "Signals", "autocast_for", "determinism", "start_processes", "to_device"]

log = logging.getLogger(__name__)


@dataclass
class Processes:
    """This process among a run's processes (``torchrun`` sets ``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``)."""

    device: Any  # torch.device this process trains on
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    created: bool = False  # True when this process created the process group (and destroys it)

    @property
    def active(self) -> bool:
        """More than one process: batches are sharded and results reduced over the process group."""
        return self.world_size > 1

    @property
    def main(self) -> bool:
        """Process 0, which writes the outputs."""
        return self.rank == 0


def _pick_device(choice: str, local_rank: int):
    import torch

    cuda = torch.cuda.is_available()
    if choice == "cuda" and not cuda:
        raise RuntimeError("train.device is cuda but CUDA is not available")
    if choice == "cpu" or not cuda:
        return torch.device("cpu")
    return torch.device("cuda", local_rank % max(1, torch.cuda.device_count()))


def start_processes(device_choice: str) -> Processes:
    """This process's device (``train.device``: auto, cpu or cuda; one GPU per local rank), and the
    process group that ``torchrun`` describes in the environment joined when ``WORLD_SIZE > 1``
    (NCCL on CUDA, gloo on the CPU)."""
    import torch.distributed as dist

    device = _pick_device(device_choice, int(os.environ.get("LOCAL_RANK", "0")))
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Processes(device)
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    created = False
    if device.type == "cuda":
        import torch

        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        created = True
    return Processes(device, rank=rank, world_size=world_size, local_rank=local_rank, created=created)


def autocast_for(amp: str, device) -> Callable[[], contextlib.AbstractContextManager]:
    """The mixed-precision context of ``train.amp`` on ``device``, as a callable giving a new one.

    bf16 autocast on CUDA for ``bf16``, and for ``auto`` where the GPU supports bf16; a null context
    otherwise (with a warning for ``bf16`` off CUDA).
    """
    import torch

    use_bf16 = device.type == "cuda" and (amp == "bf16" or (amp == "auto" and torch.cuda.is_bf16_supported()))
    if amp == "bf16" and device.type != "cuda":
        log.warning("train.amp = bf16 needs CUDA; training in float32 on %s", device)

    def autocast():
        if use_bf16:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    return autocast


@contextlib.contextmanager
def determinism(on: bool, cuda: bool):
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


class Signals:
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


def to_device(obj, device, non_blocking: bool = False):
    """Tensors in ``obj`` (nested mappings, lists, tuples) moved to ``device``; other values as they are."""
    import torch

    if isinstance(obj, torch.Tensor):
        return obj.to(device, non_blocking=non_blocking)
    if isinstance(obj, Mapping):
        return {k: to_device(v, device, non_blocking) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_device(v, device, non_blocking) for v in obj)
    return obj
