"""The order in which a run reads its data: epochs, batches, shards, loaders.

Epoch ``e`` visits the items in the order of ``rng(seed, "train", "order", e)``'s permutation, in full
batches (``steps_per_epoch = len(dataset) // batch_size``; the remainder is dropped). Step ``s``
(0-based) reads batch ``s % steps_per_epoch`` of epoch ``s // steps_per_epoch`` (:func:`step_batch`).
The data loader is made anew for each epoch after ``dataset.set_epoch(e)`` (so worker processes see
the epoch), and a resumed run starts its loader at the right batch without reading the skipped ones
(:class:`StepBatchSampler`). Under ``torchrun`` with ``WORLD_SIZE > 1``, each step's batch is split
between the processes (process ``r`` of ``W`` takes items ``r, r + W, ...``; :func:`shard`), so
``batch_size`` is the global batch and results do not depend on the number of GPUs beyond
floating-point rounding. Validation reads a fixed subset in a fixed order (:func:`validation_batches`),
each batch sharded the same way.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from recon.models.method import Method
from recon.seeding import rng, stable_int
from recon.train.devices import Processes
from recon.train.experiment import TrainConfig

__all__ = [
    "CategorySubset",
    "ListBatchSampler",
    "StepBatchSampler",
    "data_loader",
    "epoch_loader",
    "epoch_order",
    "open_dataset",
    "shard",
    "step_batch",
    "validation_batches",
]


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


class ListBatchSampler:
    """A ``batch_sampler`` over a fixed list of (non-empty) index lists."""

    def __init__(self, batches: list[list[int]]):
        self.batches = batches

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches)


def validation_batches(seed: int, n_items: int, batch_size: int, count: int) -> list[list[int]]:
    """The validation batches (global item indices): the first ``count`` batches of the seed's fixed
    order of the ``n_items`` items (all of them for ``count`` 0), the last one possibly short."""
    order = rng(seed, "val", "order").permutation(n_items)
    if count:
        order = order[: count * batch_size]
    return [order[i : i + batch_size].tolist() for i in range(0, len(order), batch_size)]


def open_dataset(source, method: Method, config: Any, seed: int, train: bool, categories: Sequence[str] = ()):
    """A packed store path as the method's dataset over it (:meth:`Method.dataset`); a dataset as is.

    With ``categories`` (ids or names, ``train.categories``), only the items of shapes in those
    categories (:class:`CategorySubset`).
    """
    if source is None:
        return None
    if isinstance(source, (str, os.PathLike)):
        source = method.dataset(source, config, seed, train=train)
    return CategorySubset(source, categories) if categories else source


class CategorySubset:
    """The items of a dataset whose shapes belong to some categories (``train.categories``).

    The dataset says which shape each item shows through ``item_shapes()``, (n_items,) int64 shape
    indices of its packed store, and which store through ``store``; the categories are matched by id
    or by name (:func:`recon.io.packed.shapes_in_categories`). Item ``i`` of the subset is item
    ``indices[i]`` of the dataset, in the dataset's order.

    Raises:
        ValueError: the dataset cannot say its items' shapes, or a category is not in the store.
    """

    def __init__(self, dataset, categories: Sequence[str]):
        from recon.io.packed import shapes_in_categories

        if not hasattr(dataset, "item_shapes"):
            raise ValueError(
                f"{type(dataset).__name__} has no item_shapes(): train.categories cannot filter it"
            )
        shapes = np.asarray(dataset.item_shapes(), dtype=np.int64)
        self.dataset = dataset
        self.store = dataset.store
        self.indices = np.flatnonzero(shapes_in_categories(dataset.store, categories)[shapes])

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> dict:
        return self.dataset[int(self.indices[index])]

    def item_shapes(self) -> np.ndarray:
        """Shape index of every item, (n_items,) int64."""
        return np.asarray(self.dataset.item_shapes(), dtype=np.int64)[self.indices]

    def set_epoch(self, epoch: int) -> None:
        """Passed on to the dataset (new point subsets per epoch)."""
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)


def data_loader(dataset, batch_sampler, workers: int, device, generator_seed: int):
    """A ``DataLoader`` of ``dataset`` over ``batch_sampler``'s batches, collated
    (:func:`recon.io.loader.collate`), in pinned memory for CUDA, its workers seeded by ``generator_seed``."""
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


def epoch_loader(dataset, config: TrainConfig, epoch: int, first: int, count: int, procs: Processes):
    """The loader of batches ``first .. first + count - 1`` of epoch ``epoch``: this process's shards.

    Calls ``dataset.set_epoch(epoch)`` when the dataset has it; the loader's generator derives from
    ``config.seed``, the epoch and the rank.
    """
    if hasattr(dataset, "set_epoch"):
        dataset.set_epoch(epoch)
    order = epoch_order(config.seed, epoch, len(dataset))
    sampler = StepBatchSampler(order, config.batch_size, first, count, procs.rank, procs.world_size)
    seed = stable_int(config.seed, "train", "loader", epoch, procs.rank, bits=63)
    return data_loader(dataset, sampler, config.num_workers, procs.device, seed)
