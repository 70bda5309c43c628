"""Start a training run with one process per GPU: in this process for one, through ``torchrun`` for more.

The workflow's ``train_model`` rule asks SLURM (or the local scheduler) for its ``gpu`` resource (1
unless a profile or ``--set-resources train_model:gpu=N`` asks for more) and calls
:func:`train_processes` with the number of GPUs the job got. With ``processes > 1`` it runs::

    python -m torch.distributed.run --standalone --nproc-per-node N \\
        -m recon.train EXPERIMENT --train-store ... --val-store ... --out-dir ... --set k=v ...

on this node (``--standalone``: a rendezvous on localhost, so a single SLURM task with N GPUs is
enough; the profile sets ``tasks_per_gpu: 0`` for that). Every process trains its shard of each
batch (:mod:`recon.train.sampling`); process 0 writes the outputs. Processes use NCCL on GPUs and gloo
on CPUs, so the same path runs, slowly, on a machine without GPUs.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from recon.config import ConfigError
from recon.train.experiment import load_experiment
from recon.train.loop import train_from_files

log = logging.getLogger(__name__)


def _set_options(overrides: Mapping | None, prefix: str = "") -> list[str]:
    """``{"train": {"num_workers": 4}}`` -> ``["--set", "train.num_workers=4"]`` (JSON, read as YAML)."""
    out: list[str] = []
    for key, value in (overrides or {}).items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out += _set_options(value, f"{name}.")
        else:
            out += ["--set", f"{name}={json.dumps(value)}"]
    return out


def torchrun_command(
    experiment: Path | str,
    train_store: Path | str,
    val_store: Path | str | None,
    out_dir: Path | str,
    *,
    processes: int,
    overrides: Mapping | None = None,
    progress: bool = True,
) -> list[str]:
    """The ``torchrun`` command line :func:`train_processes` runs for ``processes > 1``."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}",
           "-m", "recon.train", str(experiment), "--train-store", str(train_store),
           "--out-dir", str(out_dir)]  # fmt: skip
    if val_store is not None:
        cmd += ["--val-store", str(val_store)]
    cmd += _set_options(overrides)
    if not progress:
        cmd.append("--no-progress")
    return cmd


def train_processes(
    experiment: Path | str,
    train_store: Path | str,
    val_store: Path | str | None,
    out_dir: Path | str,
    *,
    processes: int = 1,
    overrides: Mapping | None = None,
    seed: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Train an experiment file with ``processes`` processes (one per GPU); resumable like :func:`train`.

    Args:
        experiment: experiment YAML file (format in :mod:`recon.train`).
        train_store, val_store: packed split stores (``val_store`` may be None).
        out_dir: output folder (see :mod:`recon.train.loop`).
        processes: number of processes; 1 trains here, more start ``torchrun`` on this node.
        overrides: nested mapping on top of the experiment, e.g. ``{"train": {"num_workers": 8}}``.
        seed: the project seed (the config's ``seed``, as the workflow passes it): the run's
            ``train.seed``, so that initial weights, data order and point subsets derive from it.
            An experiment file that pins another ``train.seed`` is refused.
        progress: tqdm progress bar on stderr.

    Returns:
        the run's summary (:func:`recon.train.loop.train`'s return value).

    Raises:
        RuntimeError: when ``torchrun`` fails; its exit status is in the message (its output went
            to this process's stdout and stderr).
        ConfigError: the experiment file sets a ``train.seed`` other than ``seed``.
    """
    if processes < 1:
        raise ValueError(f"processes must be >= 1, got {processes}")
    if seed is not None:
        pinned = (load_experiment(experiment).get("train") or {}).get("seed")
        if pinned is not None and pinned != seed:
            raise ConfigError(
                f"{experiment}: train.seed is {pinned}, but the workflow trains with the config's seed "
                f"({seed}); remove train.seed from the experiment (or set seed: {pinned} in the config)"
            )
        overrides = {**(overrides or {}), "train": {**(overrides or {}).get("train", {}), "seed": int(seed)}}
    if processes == 1:
        return train_from_files(experiment, train_store, val_store, out_dir, overrides=overrides,
                                progress=progress)  # fmt: skip
    cmd = torchrun_command(experiment, train_store, val_store, out_dir, processes=processes,
                           overrides=overrides, progress=progress)  # fmt: skip
    log.info("starting %d training processes: %s", processes, " ".join(cmd))
    proc = subprocess.run(cmd)  # its output goes to ours as it comes
    if proc.returncode != 0:
        raise RuntimeError(f"torchrun with {processes} processes failed with exit status {proc.returncode}")
    return json.loads((Path(out_dir) / "summary.json").read_text())
