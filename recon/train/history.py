"""What a run records as it trains: means over a logging interval, ``history.tsv``, TensorBoard
scalars and image grids, and the progress bar.

``history.tsv`` has one row per logged step: ``step``, ``epoch``, ``lr``, ``train/<name>`` (means over
the logging interval, and over the processes), ``val/<name>``, ``time_s``. TensorBoard (``tensorboard/``)
gets the same scalars and the method's image grids. Process 0 writes them all.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from pathlib import Path

from recon.io.tables import read_tsv, write_tsv
from recon.train.devices import Processes

__all__ = ["Accumulator", "RunLog", "history_columns", "image_grid"]


class Accumulator:
    """Sums and counts of logged scalars over a logging interval."""

    def __init__(self, state: Mapping | None = None):
        self.sums: dict[str, float] = dict(state["sums"]) if state else {}
        self.counts: dict[str, int] = dict(state["counts"]) if state else {}

    def add(self, scalars: Mapping[str, float], weight: int = 1) -> None:
        """Add ``scalars`` (``{name: value}``), each counted ``weight`` times (items of a shard)."""
        for k, v in scalars.items():
            self.sums[k] = self.sums.get(k, 0.0) + float(v) * weight
            self.counts[k] = self.counts.get(k, 0) + weight

    def state(self) -> dict:
        """Sums and counts, as a checkpoint keeps them (the argument of :class:`Accumulator`)."""
        return {"sums": dict(self.sums), "counts": dict(self.counts)}

    def means(self, procs: Processes) -> dict[str, float]:
        """Means over the interval (and over processes), then empty."""
        keys = sorted(self.sums)
        sums = [self.sums[k] for k in keys]
        counts = [float(self.counts[k]) for k in keys]
        if procs.active:
            import torch
            import torch.distributed as dist

            t = torch.tensor(sums + counts, dtype=torch.float64, device=procs.device)
            dist.all_reduce(t)
            values = t.tolist()
            sums, counts = values[: len(keys)], values[len(keys) :]
        self.sums, self.counts = {}, {}
        return {k: s / c for k, s, c in zip(keys, sums, counts, strict=True) if c > 0}


def history_columns(rows: list[Mapping]) -> list[str]:
    """Columns of ``history.tsv`` for ``rows``: step, epoch, lr, the train and val scalars (sorted), time."""
    keys = {k for row in rows for k in row}
    train = sorted(k for k in keys if k.startswith("train/"))
    val = sorted(k for k in keys if k.startswith("val/"))
    return ["step", "epoch", "lr", *train, *val, "time_s"]


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


class RunLog:
    """The records of one call of the loop: ``history.tsv``'s rows, TensorBoard, the progress bar.

    Only process 0 (``main``) records; on the others the methods do nothing (the bar is disabled).
    A resumed run (``start > 0``) keeps the rows of ``history.tsv`` up to its step, and TensorBoard
    drops the events after it.

    Args:
        out_dir: the run's output folder.
        start: the step the run starts from.
        total: the run's steps (``train.steps``), for the progress bar.
        name: the method's name, for the progress bar.
        main: this is process 0.
        progress: show the progress bar (process 0 only).
    """

    def __init__(self, out_dir: Path, start: int, total: int, name: str, *, main: bool, progress: bool):
        from tqdm import tqdm

        self.path = out_dir / "history.tsv"
        self.main = main
        self.rows: list[dict] = []
        self.writer = None
        if main:
            from torch.utils.tensorboard import SummaryWriter

            if start and self.path.exists():
                self.rows = [r for r in read_tsv(self.path) if int(r["step"]) <= start]
            self.writer = SummaryWriter(str(out_dir / "tensorboard"), purge_step=start if start else None)
        self.bar = tqdm(
            total=total,
            initial=start,
            desc=f"train {name}",
            disable=not (progress and main),
            mininterval=0.5 if sys.stderr.isatty() else 30.0,
            dynamic_ncols=True,
        )

    def add_row(self, row: dict) -> None:
        """A row of ``history.tsv`` (``step``, ``epoch``, ``lr``, scalars, ``time_s``); its scalars to
        TensorBoard, its ``train/loss`` to the progress bar."""
        if not self.main:
            return
        self.rows.append(row)
        for k, v in row.items():
            if k not in ("step", "epoch", "time_s"):
                self.writer.add_scalar(k, v, row["step"])
        self.bar.set_postfix(loss=f"{row.get('train/loss', float('nan')):.4g}", refresh=False)

    def add_images(self, images: Mapping, step: int) -> None:
        """The method's images (``{tag: (B, C, H, W) tensor}``) as TensorBoard grids ``images/<tag>``."""
        if not self.main:
            return
        for tag, img in images.items():
            self.writer.add_image(f"images/{tag}", image_grid(img), step, dataformats="CHW")

    def advance(self) -> None:
        """One step done (the progress bar)."""
        self.bar.update(1)

    def write(self) -> None:
        """Write ``history.tsv`` and flush TensorBoard (with every checkpoint)."""
        if not self.main:
            return
        write_tsv(self.path, self.rows, history_columns(self.rows))
        self.writer.flush()

    def close(self) -> None:
        """Close the progress bar and TensorBoard."""
        self.bar.close()
        if self.writer is not None:
            self.writer.flush()
            self.writer.close()
