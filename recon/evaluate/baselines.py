"""Baselines that need no network: the category mean shape and nearest-neighbour retrieval.

Tatarchenko et al. (CVPR 2019, "What Do Single-view 3D Reconstruction Networks Learn?") showed
that such baselines match or beat the single-view networks of their time, so every model's
table here shows them next to it, evaluated under the same protocols.

* ``mean_shape``: per category, the mean of the train shapes' filled voxel grids (an occupancy
  probability per voxel); its mesh is the iso-surface at the level that maximizes the mean IoU
  with the train shapes (searched over 0.05 … 0.95), and the probability grids go along as the
  prediction's voxels. The same shape for every test item of the category (view -1). A category
  without train shapes gets the mean of all train shapes (``info`` says so).
* ``retrieval_oracle``: for each test shape, the train shape of highest 32³ voxel IoU with its
  ground truth (an upper bound of any retrieval; it looks at the answer). View -1.
* ``retrieval_image``: for each test view, the train shape of the most similar train view, by
  cosine similarity of a pixel descriptor: the mask (32x32 box-filtered) and the RGB on white
  (16x16), each block unit-normalized. It returns the train shape's ground-truth mesh and voxels.

Every baseline writes a prediction store (:mod:`recon.io.predictions`); retrievals record
which train shape each item got in the store's ``info``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from recon.evaluate.metrics import iou
from recon.geometry.extract import occupancy_mesh
from recon.io.packed import PackedSplit
from recon.io.predictions import Item, write_predictions
from recon.io.store import provenance

__all__ = [
    "BASELINES",
    "image_descriptors",
    "mean_shape",
    "retrieval_image",
    "retrieval_oracle",
    "run_baseline",
]

log = logging.getLogger(__name__)

#: Levels searched for the mean shape's iso-surface.
MEAN_SHAPE_LEVELS = tuple(np.round(np.arange(0.05, 0.951, 0.05), 2))


def _test_items(test: PackedSplit, per_view: bool, views: int | None) -> list[tuple[int, int]]:
    """(shape index, view) pairs: one per shape (view -1), or its first ``views`` views."""
    if not per_view:
        return [(i, -1) for i in range(len(test))]
    v = test.views if views is None else min(views, test.views)
    return [(i, j) for i in range(len(test)) for j in range(v)]


def mean_shape(train: PackedSplit, test: PackedSplit, resolutions: tuple[int, ...] = (32, 128)):
    """Per category mean occupancy of the train shapes; see the module docstring.

    Returns:
        ``(items, meshes, voxels, info)`` for :func:`write_predictions`.
    """
    resolutions = tuple(n for n in resolutions if n in train.voxel_resolutions)
    categories = sorted(set(test.categories))
    if not categories:
        return [], [], {}, {"categories": {}}
    mesh_res = max(resolutions)
    meshes, grids, info = [], {n: [] for n in resolutions}, {}
    filled = {n: train.voxels(n) for n in resolutions}
    for category in categories:
        members = [i for i, c in enumerate(train.categories) if c == category]
        fallback = not members
        if fallback:  # a category with test shapes only: the mean of every train shape, said so in info
            log.warning("no train shape of category %s: its mean shape is that of all train shapes", category)
            members = list(range(len(train)))
        if not members:
            raise ValueError("the mean shape needs at least one train shape; the train split is empty")
        means = {n: filled[n][members].mean(axis=0) for n in resolutions}
        scores = [
            float(np.mean([iou(means[mesh_res] >= t, filled[mesh_res][i], ndim=3) for i in members]))
            for t in MEAN_SHAPE_LEVELS
        ]
        level = float(MEAN_SHAPE_LEVELS[int(np.argmax(scores))])
        meshes.append(occupancy_mesh(means[mesh_res], train.voxel_half_extent, level))
        for n in resolutions:
            grids[n].append(means[n])
        info[category] = {
            "train_shapes": len(members),
            "level": level,
            "train_iou": max(scores),
            "from": "all train shapes" if fallback else "category",
        }
    k = {c: i for i, c in enumerate(categories)}
    items = [Item(test.categories[i], test.shape_ids[i], -1, k[test.categories[i]]) for i in range(len(test))]
    return items, meshes, {n: np.stack(g) for n, g in grids.items()}, {"categories": info}


def _retrieved(train: PackedSplit, picks: list[int], resolutions: tuple[int, ...]):
    """Meshes and voxels of the distinct train shapes in ``picks``; item → mesh index."""
    distinct = sorted(set(picks))
    if not distinct:
        return [], [], {}
    k = {t: i for i, t in enumerate(distinct)}
    meshes = [train.mesh(t) for t in distinct]
    voxels = {
        n: train.voxels(n)[distinct].astype(np.float16) for n in resolutions if n in train.voxel_resolutions
    }
    return [k[p] for p in picks], meshes, voxels


def retrieval_oracle(train: PackedSplit, test: PackedSplit, resolution: int = 32, resolutions=(32, 128)):
    """For each test shape, the train shape of highest ``resolution``³ voxel IoU with it."""
    if not len(test):
        return [], [], {}, {"retrieved": []}
    a = train.voxels(resolution).reshape(len(train), -1)
    b = test.voxels(resolution).reshape(len(test), -1)
    inter = b.astype(np.float64) @ a.T.astype(np.float64)
    union = b.sum(1, dtype=np.float64)[:, None] + a.sum(1, dtype=np.float64)[None, :] - inter
    scores = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
    picks = [int(np.argmax(row)) for row in scores]
    index, meshes, voxels = _retrieved(train, picks, resolutions)
    items = [Item(test.categories[i], test.shape_ids[i], -1, index[i]) for i in range(len(test))]
    info = {
        "retrieved": [
            {
                "category": test.categories[i],
                "shape_id": test.shape_ids[i],
                "view": -1,
                "train_category": train.categories[p],
                "train_shape_id": train.shape_ids[p],
                "iou": float(scores[i, p]),
            }
            for i, p in enumerate(picks)
        ]
    }
    return items, meshes, voxels, info


def _box_filter(image: np.ndarray, size: int) -> np.ndarray:
    """(H, W[, C]) → (size, size[, C]) by averaging equal blocks (H, W multiples of size after cropping)."""
    h, w = image.shape[:2]
    bh, bw = h // size, w // size
    x = image[: bh * size, : bw * size].astype(np.float64)
    return x.reshape(size, bh, size, bw, *image.shape[2:]).mean(axis=(1, 3))


def image_descriptors(rgba: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Pixel descriptors of views: mask at 32x32 and RGB on white at 16x16, each block unit length.

    Args:
        rgba: (M, H, W, 4) uint8 views.
        mask: (M, H, W) bool object masks.

    Returns:
        (M, 32·32 + 16·16·3) float32, unit length.
    """
    out = []
    for image, m in zip(rgba, mask, strict=True):
        alpha = image[..., 3:4] / 255.0
        on_white = image[..., :3] / 255.0 * alpha + (1.0 - alpha)
        parts = [
            _box_filter(np.asarray(m, np.float64), 32).ravel(),
            (1.0 - _box_filter(on_white, 16)).ravel(),
        ]
        parts = [p / max(np.linalg.norm(p), 1e-12) for p in parts]
        d = np.concatenate(parts)
        out.append(d / np.linalg.norm(d))
    return np.asarray(out, np.float32)


def _views(split: PackedSplit, shape: int, views: int) -> np.ndarray:
    return image_descriptors(split.root["views/rgba"][shape, :views], split.root["views/mask"][shape, :views])


def retrieval_image(train: PackedSplit, test: PackedSplit, views: int | None = None, resolutions=(32, 128)):
    """For each test view (the first ``views``), the train shape of the most similar train view."""
    if not len(test):
        return [], [], {}, {"retrieved": []}
    if not train.views or not test.views:
        raise ValueError("image retrieval needs rendered views in the train and test stores (pack.views)")
    train_desc = np.concatenate([_views(train, i, train.views) for i in range(len(train))])
    owner = np.repeat(np.arange(len(train)), train.views)
    pairs = _test_items(test, True, views)
    picks, similarity = [], []
    for i in range(len(test)):
        count = sum(1 for s, _ in pairs if s == i)
        scores = _views(test, i, count) @ train_desc.T
        for row in scores:
            best = int(np.argmax(row))
            picks.append(int(owner[best]))
            similarity.append(float(row[best]))
    index, meshes, voxels = _retrieved(train, picks, resolutions)
    items = [Item(test.categories[s], test.shape_ids[s], v, index[n]) for n, (s, v) in enumerate(pairs)]
    info = {
        "descriptor": "mask 32x32 + rgb-on-white 16x16, cosine",
        "retrieved": [
            {
                "category": test.categories[s],
                "shape_id": test.shape_ids[s],
                "view": v,
                "train_category": train.categories[p],
                "train_shape_id": train.shape_ids[p],
                "similarity": sim,
            }
            for (s, v), p, sim in zip(pairs, picks, similarity, strict=True)
        ],
    }
    return items, meshes, voxels, info


BASELINES = {
    "mean_shape": mean_shape,
    "retrieval_oracle": retrieval_oracle,
    "retrieval_image": retrieval_image,
}


def run_baseline(
    name: str, train_store: Path | str, test_store: Path | str, out_store: Path | str, config: Mapping
) -> dict:
    """Predict the test split with baseline ``name`` and write its prediction store.

    Args:
        name: a key of :data:`BASELINES`.
        train_store, test_store: packed split stores.
        out_store: ``results/predict/<name>/<split>.zarr``.
        config: a mapping holding the config's ``evaluate.views`` (all this reads and records; the
            baselines draw no random numbers).

    Returns:
        The store's ``info`` attribute.
    """
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; known: {', '.join(BASELINES)}")
    train, test = PackedSplit(train_store), PackedSplit(test_store)
    cfg = config["evaluate"]
    if name == "retrieval_image":
        items, meshes, voxels, info = retrieval_image(train, test, cfg["views"])
    else:
        items, meshes, voxels, info = BASELINES[name](train, test)
    attributes = {
        "method": name,
        "split": str(test.root.attrs["pack"]["split"]),
        "voxel_half_extent": test.voxel_half_extent,
        "info": info,
        "provenance": provenance("predict", {"method": name, "evaluate": {"views": cfg["views"]}}, None),
    }
    write_predictions(out_store, items, meshes, attributes, voxels)
    return info
