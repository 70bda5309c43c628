"""Several views of one shape per item: 3D-R2N2's training items and its k-view prediction items.

Both wrap a packed split (:class:`recon.io.loader.PackedDataset`, ``V`` views per shape) and have
one item per (shape, view) pair, item ``i`` being view ``i % V`` of shape ``i // V`` as in the
packed loader, so an epoch is as long as the other families'. The views an item carries are (T,
H, W, 4) uint8 RGBA under ``image``, their indices (T,) int64 under ``views``; the other keys are
the packed loader's for the shape, with ``view`` the item's first view.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from recon.models.r2n2.augment import draw_augmentation
from recon.seeding import rng

__all__ = ["MultiViewDataset", "PredictionViews"]


class _Views:
    """A packed split read as shapes (their non-image targets) and as single views (their images)."""

    def __init__(self, store, targets: Mapping[str, Any], seed: int):
        from recon.io.loader import PackedDataset

        targets = dict(targets)
        names = tuple(targets.pop("targets", ("image",)))
        targets.pop("views", None)
        self.images = PackedDataset(store, targets=("image",), seed=seed, **targets)
        shape_targets = tuple(t for t in names if t != "image")
        self.shapes = PackedDataset(store, targets=shape_targets, seed=seed, views=[0], **targets)
        self.total = self.images.n_views

    def item(self, shape: int, views: Sequence[int]) -> dict:
        """The shape's targets and its T ``views``: ``image`` (T, H, W, 4) uint8, ``views`` (T,) int64."""
        out = dict(self.shapes[shape])
        out["image"] = torch.stack([self.images[shape * self.total + int(v)]["image"] for v in views])
        out["view"] = int(views[0])
        out["views"] = torch.tensor([int(v) for v in views], dtype=torch.int64)
        return out


class MultiViewDataset:
    """3D-R2N2's training (or validation) items, as the released ``lib/data_process.py`` draws them.

    Item ``i`` carries ``views_per_item`` views of shape ``i // V``: view ``i % V`` then views
    drawn uniformly with replacement (the release's ``np.random.choice(NUM_RENDERING, n)``, line
    141), and ``n_views`` () int64, the number of them a batch feeds: uniform in
    ``1..views_per_item`` when ``random_count`` (``randint(N_VIEWS) + 1`` per batch, lines 127-128),
    else ``views_per_item``. A batch feeds its first item's count (the method's loss truncates
    every item to it), so each batch has one count, drawn with the batch's first item.

    In training an item also carries its views' augmentation (:func:`~recon.models.r2n2.augment.
    draw_augmentation`: ``crop`` (T, 2) int64, ``flip`` (T,) bool, ``background`` (T, 3) uint8);
    validation items carry none (the test-time preparation). Every draw comes from
    ``rng(seed, "r2n2", "train", epoch, i)`` in training and ``rng(seed, "r2n2", "val", i)`` in
    validation (the same items at every validation).

    Args:
        store: packed split store.
        targets: :class:`~recon.io.loader.PackedDataset` keyword arguments (the method's targets).
        seed: the run's seed.
        views_per_item: views loaded per item.
        random_count: draw each batch's view count.
        train: training items (augmented, drawn anew each epoch) or validation items.
        crop_margin: the augmentation's crop margin (pixels).
    """

    def __init__(
        self,
        store,
        targets: Mapping[str, Any],
        seed: int,
        views_per_item: int,
        random_count: bool = True,
        train: bool = True,
        crop_margin: int = 10,
    ):
        self.views = _Views(store, targets, seed)
        self.seed, self.epoch = int(seed), 0
        self.per_item, self.random_count = int(views_per_item), bool(random_count)
        self.train, self.margin = bool(train), int(crop_margin)

    def __len__(self) -> int:
        return self.views.shapes.n_shapes * self.views.total

    @property
    def store(self):
        """The packed store the items come from."""
        return self.views.shapes.store

    def item_shapes(self) -> np.ndarray:
        """Shape index (in the store) of every item, (n_items,) int64."""
        return np.arange(len(self), dtype=np.int64) // self.views.total

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < len(self):
            raise IndexError(index)
        shape, first = divmod(int(index), self.views.total)
        key = ("train", self.epoch, index) if self.train else ("val", index)
        gen = rng(self.seed, "r2n2", *key)
        count = int(gen.integers(1, self.per_item + 1)) if self.random_count else self.per_item
        views = [first, *gen.integers(0, self.views.total, self.per_item - 1).tolist()]
        item = self.views.item(shape, views)
        item["index"] = int(index)
        item["n_views"] = count
        if self.train:
            for k, v in draw_augmentation(gen, self.per_item, self.margin).items():
                item[k] = torch.from_numpy(v)
        return item


class PredictionViews:
    """Items predicted from ``n_views`` views: one per shape and view of ``views``.

    The item of view ``v`` carries views ``v, v + 1, ..., v + n_views - 1`` (modulo the ``V`` views
    of the store), so every view count is predicted from the same first view and a count's views
    include the smaller counts'. Keys: ``index``, ``shape_index``, ``view`` (= ``v``),
    ``category_index`` () int64, ``image`` (n_views, H, W, 4) uint8 and ``views`` (n_views,) int64.

    Args:
        store: packed split store.
        targets: :class:`~recon.io.loader.PackedDataset` keyword arguments (only ``image`` is read).
        seed: the config's seed (nothing is drawn).
        views: the first view of each predicted item, per shape.
        n_views: views fed per prediction.
    """

    def __init__(self, store, targets: Mapping[str, Any], seed: int, views: Sequence[int], n_views: int):
        self.views = _Views(store, {**targets, "targets": ("image",)}, seed)
        self.first = [int(v) for v in views]
        self.n_views = int(n_views)

    def __len__(self) -> int:
        return self.views.shapes.n_shapes * len(self.first)

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < len(self):
            raise IndexError(index)
        shape, k = divmod(int(index), len(self.first))
        total = self.views.total
        item = self.views.item(shape, [(self.first[k] + t) % total for t in range(self.n_views)])
        item["index"] = int(index)
        return item
