"""Prediction stores: what a method (model or baseline) predicts for the items of a split.

``results/predict/<method>/<split>.zarr`` (docs/data_format.md §5.6) holds K distinct meshes
(and optionally voxel probabilities per mesh) and N items that point at them, so that a
view-independent method (the category mean shape) or a retrieval that returns the same train
shape for many views stores each mesh once.

=========================  ===========  =========  =============================================
array                      shape        dtype      meaning
=========================  ===========  =========  =============================================
``items/category``         (N,)         string     category of the item's ground-truth shape
``items/shape_id``         (N,)         string     its shape id
``items/view``             (N,)         int32      the input view, -1 for view-independent
``items/mesh``             (N,)         int32      index of the predicted mesh in [0, K)
``meshes/vertices``        (ΣV, 3)      float32    world frame, concatenated
``meshes/faces``           (ΣF, 3)      int32      0-based per mesh, outward-wound
``meshes/*_offsets``       (K + 1,)     int64      mesh k's rows: ``[offsets[k], offsets[k+1])``
``voxels/<n>``             (K, n, n, n) float16    occupancy probabilities over ``[-h, h]³``
``points/points``          (ΣP, 3)      float32    optional point clouds, one per mesh k, world frame
``points/points_offsets``  (K + 1,)     int64      cloud k's rows (P = 0: no cloud)
=========================  ===========  =========  =============================================

A prediction is a mesh, a point cloud, or both (PointSetGen's points with a mesh made from them):
mesh k with no face and cloud k with no point is an empty prediction.

Attributes: ``method``, ``split``, ``voxel_half_extent``, ``info`` (method-specific, e.g. the
train shape each retrieval returned) and ``provenance``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from recon.io.store import open_store, write_array, write_store

__all__ = ["Item", "Prediction", "PredictionSet", "write_predictions"]


@dataclass(frozen=True)
class Prediction:
    """One prediction in the world frame: a mesh, a point cloud or both, and optionally voxel
    occupancy probabilities.

    Attributes:
        vertices: (V, 3) float (V may be 0: no mesh).
        faces: (F, 3) int.
        voxels: resolution n → (n, n, n) float occupancy probabilities in [0, 1] over
            ``[-h, h]³`` with h = the ground truth's ``voxel_half_extent``; a protocol needing a
            resolution not given voxelizes the mesh (or the point cloud) instead.
        points: (P, 3) float point cloud (PointSetGen, AtlasNet), or None. Each protocol says
            which of mesh and points it reads (``recon.evaluate.protocols``).
    """

    vertices: np.ndarray
    faces: np.ndarray
    voxels: Mapping[int, np.ndarray] = field(default_factory=dict)
    points: np.ndarray | None = None

    @property
    def has_mesh(self) -> bool:
        """At least one triangle."""
        return len(self.vertices) > 0 and len(self.faces) > 0

    @property
    def has_points(self) -> bool:
        """A point cloud of at least one point."""
        return self.points is not None and len(self.points) > 0

    @property
    def empty(self) -> bool:
        """Neither a triangle nor a point."""
        return not (self.has_mesh or self.has_points)


@dataclass(frozen=True)
class Item:
    """One predicted item: the ground-truth shape, the input view (-1: none) and its mesh's index."""

    category: str
    shape_id: str
    view: int
    mesh: int


def _strings(group, name: str, values: Sequence[str]) -> None:
    n = max(1, len(values))
    array = group.create_array(name, shape=(len(values),), dtype=str, chunks=(n,), dimension_names=("item",))
    if values:
        array[:] = np.array(values, dtype=object)


def write_predictions(
    path: Path | str,
    items: Sequence[Item],
    meshes: Sequence[tuple[np.ndarray, np.ndarray]],
    attributes: Mapping[str, Any],
    voxels: Mapping[int, np.ndarray] | None = None,
    points: Sequence[np.ndarray] | None = None,
) -> None:
    """Write a prediction store atomically.

    Args:
        path: the ``.zarr`` directory.
        items: N items; ``item.mesh`` indexes ``meshes``.
        meshes: K ``(vertices (V, 3), faces (F, 3))`` pairs (V = F = 0 for a point-cloud-only
            prediction).
        attributes: ``method``, ``split``, ``voxel_half_extent``, ``info``, ``provenance``.
        voxels: optional n → (K, n, n, n) probabilities in [0, 1], one grid per mesh.
        points: optional K (P, 3) point clouds, one per mesh (P may differ, and be 0).
    """
    if any(not 0 <= it.mesh < len(meshes) for it in items):
        raise ValueError(f"an item points outside the {len(meshes)} meshes")
    if points is not None and len(points) != len(meshes):
        raise ValueError(f"{len(points)} point clouds for {len(meshes)} meshes: one per mesh")
    with write_store(path, attributes) as root:
        _strings(root, "items/category", [it.category for it in items])
        _strings(root, "items/shape_id", [it.shape_id for it in items])
        write_array(root, "items/view", np.array([it.view for it in items], np.int32), ("item",))
        write_array(root, "items/mesh", np.array([it.mesh for it in items], np.int32), ("item",))
        for name, dtype, width in (("vertices", np.float32, 3), ("faces", np.int32, 3)):
            parts = [np.asarray(m[0 if name == "vertices" else 1], dtype).reshape(-1, width) for m in meshes]
            offsets = np.concatenate([[0], np.cumsum([len(p) for p in parts])]).astype(np.int64)
            data = np.concatenate(parts) if parts else np.zeros((0, width), dtype)
            write_array(root, f"meshes/{name}", data, ("row", "xyz"), chunks=(65536, width))
            write_array(root, f"meshes/{name}_offsets", offsets, ("mesh",))
        for n, grids in (voxels or {}).items():
            g = np.asarray(grids, np.float16)
            if g.shape != (len(meshes), n, n, n):
                raise ValueError(f"voxels/{n} must be {(len(meshes), n, n, n)}, got {g.shape}")
            write_array(root, f"voxels/{n}", g, ("mesh", "x", "y", "z"), chunks=(1, n, n, n))
        if points is not None:
            parts = [np.asarray(p, np.float32).reshape(-1, 3) for p in points]
            offsets = np.concatenate([[0], np.cumsum([len(p) for p in parts])]).astype(np.int64)
            data = np.concatenate(parts) if parts else np.zeros((0, 3), np.float32)
            write_array(root, "points/points", data, ("row", "xyz"), chunks=(65536, 3))
            write_array(root, "points/points_offsets", offsets, ("mesh",))


class PredictionSet:
    """Read access to a prediction store: ``items`` and the :class:`Prediction` of each.

    Recently read meshes are cached, so items sharing a mesh mostly cost one read.
    """

    def __init__(self, path: Path | str):
        self.root = open_store(path)
        self.attrs = dict(self.root.attrs)
        self.items = [
            Item(str(c), str(s), int(v), int(m))
            for c, s, v, m in zip(
                self.root["items/category"][:],
                self.root["items/shape_id"][:],
                self.root["items/view"][:],
                self.root["items/mesh"][:],
                strict=True,
            )
        ]
        self._offsets = {n: self.root[f"meshes/{n}_offsets"][:] for n in ("vertices", "faces")}
        self._voxels = (
            {int(n): self.root[f"voxels/{n}"] for n in self.root["voxels"]} if "voxels" in self.root else {}
        )
        self._points = (
            (self.root["points/points"], self.root["points/points_offsets"][:])
            if "points" in self.root
            else None
        )
        self._cache: dict[int, Prediction] = {}

    def __len__(self) -> int:
        return len(self.items)

    @property
    def mesh_count(self) -> int:
        return len(self._offsets["vertices"]) - 1

    def mesh(self, k: int) -> Prediction:
        """The prediction stored as mesh ``k``."""
        if k not in self._cache:
            parts = []
            for name in ("vertices", "faces"):
                o = self._offsets[name]
                parts.append(self.root[f"meshes/{name}"][o[k] : o[k + 1]])
            voxels = {n: np.asarray(a[k], np.float32) for n, a in self._voxels.items()}
            points = None
            if self._points is not None:
                data, o = self._points
                points = np.asarray(data[o[k] : o[k + 1]], np.float32)
            if len(self._cache) >= 64:
                self._cache.clear()
            self._cache[k] = Prediction(parts[0], parts[1], voxels, points)
        return self._cache[k]

    def prediction(self, i: int) -> Prediction:
        """The prediction of item ``i``."""
        return self.mesh(self.items[i].mesh)
