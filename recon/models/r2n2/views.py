"""Several views of one shape per item, for multi-view 3D-R2N2 (``views_per_item > 1``)."""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["MultiViewDataset"]


class MultiViewDataset:
    """Items of ``views_per_item`` distinct views of one shape (a ``torch.utils.data.Dataset``).

    Wraps a single-view dataset over a packed split (:class:`recon.io.loader.PackedDataset`: item
    ``i`` is view ``i % V`` of shape ``i // V``, with ``n_shapes``, ``views`` and ``set_epoch``).
    Item i is shape i; its views are a seeded random choice per epoch
    (``rng(seed, "r2n2-views", epoch, i)``), the first ones of the shape in order when
    ``shuffle_views`` is false. Keys as the inner dataset's, with ``image`` (V, H, W, 4) and the
    other targets of the shape's first chosen view.
    """

    def __init__(self, inner, views_per_item: int, seed: int, shuffle_views: bool = True):
        self.inner = inner
        self.v = views_per_item
        self.seed, self.epoch, self.shuffle = seed, 0, shuffle_views
        if views_per_item > len(self.inner.views):
            raise ValueError(f"views_per_item {views_per_item} > the {len(self.inner.views)} views served")

    def __len__(self) -> int:
        return self.inner.n_shapes

    def _total_views(self) -> int:
        return len(self.inner.views)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.inner.set_epoch(epoch)

    def __getitem__(self, index: int) -> dict:
        from recon.seeding import rng

        total = self._total_views()
        if self.shuffle:
            chosen = rng(self.seed, "r2n2-views", self.epoch, index).choice(total, self.v, replace=False)
        else:
            chosen = np.arange(self.v)
        items = [self.inner[index * total + int(k)] for k in chosen]
        out = dict(items[0])
        out["image"] = torch.stack([torch.as_tensor(it["image"]) for it in items])
        return out
