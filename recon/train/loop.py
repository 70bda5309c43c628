"""The training loop: one for every method, deterministic data order, resumable, multi-GPU.

:func:`train` trains a :class:`recon.models.method.Method` on a packed split store (or any map-style
dataset) and writes into ``out_dir``:

==========================  =====================================================================
``config.yaml``             the resolved run: ``method``, ``model`` (the method's config),
                            ``train`` (:class:`~recon.train.experiment.TrainConfig`), ``data`` (the
                            stores), ``distributed`` and ``packages`` (versions); itself a valid
                            experiment (:mod:`recon.train.experiment`)
``checkpoints/last.pt``     model, optimizer, scheduler, step, RNG states of every process, best
                            validation loss, the logging accumulator; written atomically every
                            ``checkpoint_every`` steps and at the end (:mod:`recon.train.checkpoints`)
``checkpoints/best.pt``     model weights at the best validation (``Method.selection``: the lowest
                            ``val/loss`` by default), with its step and scalars
``history.tsv``             one row per logged step: ``step``, ``epoch``, ``lr``, ``train/<name>``
                            (means over the logging interval), ``val/<name>``, ``time_s``
                            (:mod:`recon.train.history`)
``tensorboard/``            the same scalars and the method's image grids
``summary.json``            :func:`train`'s return value, once the run is complete
==========================  =====================================================================

The data order, the same for any number of processes, is :mod:`recon.train.sampling`'s. When
``checkpoints/last.pt`` exists, :func:`train` resumes from it (:mod:`recon.train.checkpoints`: which
config fields may change, bit-identical resumption). SIGINT and SIGTERM (single process) stop the run
after the current step with a checkpoint.

The parts: :mod:`~recon.train.experiment` (experiment files, :class:`TrainConfig`),
:mod:`~recon.train.run` (a run made ready: data, model, optimizer, state), :mod:`~recon.train.optim`
(optimizer, schedule, one step), :mod:`~recon.train.devices` (devices, processes, precision, signals).
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from recon.io.atomic import atomic_write_text
from recon.models.method import Method, build_config, get_method
from recon.train.checkpoints import save_best, save_last
from recon.train.devices import Signals, determinism, start_processes, to_device
from recon.train.experiment import TrainConfig, experiment_stores, load_experiment, resolve_experiment
from recon.train.history import Accumulator, RunLog
from recon.train.optim import train_step
from recon.train.run import Run, prepare_run
from recon.train.sampling import ListBatchSampler, data_loader, epoch_loader, shard

__all__ = ["train", "train_from_files"]


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
        ``{"steps", "final_train_loss", "selection", "best_value", "best_step", "seconds_per_step",
        "resumed_from", "complete"}``: steps done, the last logged ``train/loss``, the selection
        scalar (``val/loss`` by default, :attr:`Method.selection`), its best value and step (None
        without validation), mean seconds per step in this call
        (None when it ran no step), the step it started from, and whether all steps are done.
    """
    import torch

    method = get_method(method)
    model_config = build_config(method.Config, method_config, where="model")
    train_config = build_config(TrainConfig, train_config, where="train")
    if train_store is None:
        raise ValueError("train_store is required")
    procs = start_processes(train_config.device)
    try:
        with (
            determinism(train_config.deterministic, procs.device.type == "cuda"),
            Signals(not procs.active) as sig,
        ):
            run = prepare_run(
                method, model_config, train_config, (train_store, val_store), Path(out_dir), procs
            )
            return _train(run, sig, stop_at, progress)
    finally:
        if procs.created:
            torch.distributed.destroy_process_group()


def _train(run: Run, signals: Signals, stop_at: int | None, progress: bool) -> dict[str, Any]:
    """The loop: steps from the run's state to ``stop_at`` (or ``train.steps``); the summary."""
    tc, state, main = run.config, run.state, run.procs.main
    start = state.step
    end = tc.steps if stop_at is None else max(start, min(tc.steps, int(stop_at)))
    log = RunLog(run.out_dir, start, tc.steps, run.method.name, main=main, progress=progress)
    state.started = time.perf_counter()
    run.model.train()
    try:
        while state.step < end:
            epoch, first = divmod(state.step, run.per_epoch)
            count = min(run.per_epoch - first, end - state.step)
            for batch in epoch_loader(run.train_ds, tc, epoch, first, count, run.procs):
                batch = to_device(batch, run.procs.device, non_blocking=True)
                lr = run.optimizer.param_groups[0]["lr"]
                loss, scalars, grad_norm = train_step(
                    run.method, run.model, batch, run.model_config, run.optimizer, run.scheduler,
                    run.params, tc.grad_clip, run.autocast, where=f"at step {state.step + 1} (epoch {epoch})",
                )  # fmt: skip
                state.step += 1
                state.acc.add({**scalars, "loss": loss.item(), "grad_norm": float(grad_norm)})

                validating = bool(run.val_batches) and state.step % tc.val_every == 0
                if state.step % tc.log_every == 0 or state.step == tc.steps or validating:
                    log.add_row(_logged_row(run, epoch, lr, validating))
                if main and tc.log_images_every and state.step % tc.log_images_every == 0:
                    log.add_images(_images(run, batch), state.step)
                log.advance()
                if state.step % tc.checkpoint_every == 0 or state.step == end or signals.received is not None:
                    save_last(run)
                    log.write()
                if signals.received is not None:
                    break
            if signals.received is not None:
                break
    finally:
        log.close()
    return _summary(run, start, signals)


def _logged_row(run: Run, epoch: int, lr: float, validating: bool) -> dict:
    """The row of ``history.tsv`` of this step: the interval's means over the processes, and the
    validation's when ``validating`` (then ``best.pt`` when the method's selection scalar is the best
    yet: :attr:`Method.selection`)."""
    state = run.state
    means = state.last_train = state.acc.means(run.procs)
    row = {"step": state.step, "epoch": epoch, "lr": lr, **{f"train/{k}": v for k, v in means.items()}}
    if validating:
        val = _validate(run)
        row.update({f"val/{k}": v for k, v in val.items()})
        name, order = run.method.selection
        if name not in val:
            raise KeyError(
                f"{run.method.name}: selection scalar {name!r} is not among the validation's {sorted(val)}"
            )
        value = val[name]
        best = state.best["value"]
        if best is None or (value < best if order == "min" else value > best):
            state.best = {"value": value, "step": state.step}
            save_best(run, val)
    row["time_s"] = round(state.seconds(), 3)
    return row


def _validate(run: Run) -> dict[str, float]:
    """Mean loss and scalars over the validation batches (each sharded over the processes)."""
    import torch

    run.net.eval()
    val_acc = Accumulator()
    mine = [shard(b, run.procs.rank, run.procs.world_size) for b in run.val_batches]
    mine = [b for b in mine if b]
    if hasattr(run.val_ds, "set_epoch"):
        run.val_ds.set_epoch(0)
    loader = data_loader(run.val_ds, ListBatchSampler(mine), run.config.num_workers, run.procs.device, 0)
    with torch.no_grad(), run.autocast():
        for idx, batch in zip(mine, loader, strict=True):
            batch = to_device(batch, run.procs.device, non_blocking=True)
            loss, scalars = run.method.loss(run.net, batch, run.model_config)
            val_acc.add({**scalars, "loss": float(loss)}, weight=len(idx))
    run.net.train()
    return val_acc.means(run.procs)


def _images(run: Run, batch) -> dict:
    """The method's TensorBoard images (:meth:`Method.images`) of a fixed batch: the first
    validation batch, else the first training batch drawn."""
    import torch

    if run.image_batch is None:
        if run.val_batches:
            from recon.io.loader import collate

            if hasattr(run.val_ds, "set_epoch"):
                run.val_ds.set_epoch(0)
            run.image_batch = collate([run.val_ds[i] for i in run.val_batches[0]])
        else:
            run.image_batch = to_device(batch, "cpu")
    run.net.eval()
    with torch.no_grad(), run.autocast():
        images = run.method.images(run.net, to_device(run.image_batch, run.procs.device), run.model_config)
    run.net.train()
    return images


def _summary(run: Run, start: int, signals: Signals) -> dict[str, Any]:
    """:func:`train`'s return value (``summary.json`` once the run is complete); raises when a
    signal stopped the run."""
    state = run.state
    run_s = time.perf_counter() - state.started
    if signals.received == signal.SIGINT:
        raise KeyboardInterrupt(f"stopped at step {state.step}; checkpoint written, run again to resume")
    if signals.received is not None:
        raise RuntimeError(f"stopped by signal {signals.received} at step {state.step}; run again to resume")
    summary = {
        "steps": state.step,
        "final_train_loss": state.last_train.get("loss"),
        "selection": f"val/{run.method.selection[0]}",
        "best_value": state.best["value"],
        "best_step": state.best["step"],
        "seconds_per_step": run_s / (state.step - start) if state.step > start else None,
        "resumed_from": start,
        "complete": state.step >= run.config.steps,
    }
    if run.procs.main and summary["complete"] and state.step > start:
        atomic_write_text(run.out_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
    if run.procs.active:
        import torch.distributed as dist

        dist.barrier()
    return summary


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
    train_store, val_store = experiment_stores(data, train_store, val_store)
    return train(
        m, model_config, train_config, train_store, val_store, out_dir, stop_at=stop_at, progress=progress
    )
