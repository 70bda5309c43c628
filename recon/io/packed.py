"""Ground truth for evaluation and baselines, read from a packed split store (§5.5).

Voxels are served *filled*: ``voxels/<n>/solid | voxels/<n>/surface``, the occupancy of 3D-R2N2's
``ShapeNetVox32``, of recon's ``.binvox`` and of the loader's ``voxels`` training target, so that
one definition holds from training to every protocol (a prediction equal to the ground truth scores
IoU 1).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recon.io.store import open_store

__all__ = ["GroundTruth", "PackedSplit", "shapes_in_categories"]


@dataclass(frozen=True)
class GroundTruth:
    """One shape's ground truth in the world frame (docs/data_format.md §5.5).

    Attributes:
        mesh_vertices: (V, 3) float, the SDF stage's iso mesh (DISN's ``isosurf.obj``).
        mesh_faces: (F, 3) int.
        surface_points: (S, 3) float, area-weighted samples of the normalized mesh.
        surface_normals: (S, 3) float, their face normals.
        occupancy_points: (O, 3) float, points in the padded box.
        occupancy: (O,) bool, inside labels of those points.
        voxels: resolution → (n, n, n) bool *filled* voxels: solid (centre inside) or surface
            (meeting a triangle), as 3D-R2N2's ``ShapeNetVox32``, recon's ``.binvox`` and the
            ``voxels`` training target (docs/data_format.md §5.4).
        voxel_half_extent: the cube ``[-h, h]³`` the voxels cover.
    """

    mesh_vertices: np.ndarray
    mesh_faces: np.ndarray
    surface_points: np.ndarray
    surface_normals: np.ndarray
    occupancy_points: np.ndarray
    occupancy: np.ndarray
    voxels: Mapping[int, np.ndarray]
    voxel_half_extent: float


class PackedSplit:
    """The shapes of one packed split: ids, ground truth per shape, views, voxels.

    Args:
        path: ``results/pack/<split>.zarr``.
    """

    def __init__(self, path: Path | str):
        self.root = open_store(path)
        self.categories = [str(c) for c in self.root["index/category"][:]]
        self.shape_ids = [str(s) for s in self.root["index/shape_id"][:]]
        self.category_names = {
            c["category"]: c.get("category_name", c["category"])
            for c in self.root.attrs["pack"]["categories"]
        }
        self.index = {key: i for i, key in enumerate(zip(self.categories, self.shape_ids, strict=True))}
        solid = self.root.get("voxels", {})
        self.voxel_resolutions = sorted(int(n) for n in solid)
        first = self.root[f"voxels/{self.voxel_resolutions[0]}/solid"] if self.voxel_resolutions else None
        self.voxel_half_extent = float(first.attrs["half_extent"]) if first is not None else 1.0
        # A split without shapes has the index arrays only.
        self._mesh_offsets = {
            n: self.root[f"mesh/{n}_offsets"][:] if "mesh" in self.root else np.zeros(1, np.int64)
            for n in ("vertices", "faces")
        }

    def __len__(self) -> int:
        return len(self.shape_ids)

    @property
    def views(self) -> int:
        """Views per shape (0 when the split has no renders)."""
        return int(self.root["views/mask"].shape[1]) if "views/mask" in self.root else 0

    def mesh(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Shape i's ground-truth iso mesh: (V, 3) float32 vertices and (F, 3) int32 faces."""
        out = []
        for name in ("vertices", "faces"):
            o = self._mesh_offsets[name]
            out.append(self.root[f"mesh/{name}"][o[i] : o[i + 1]])
        return out[0], out[1]

    def voxels(self, resolution: int) -> np.ndarray:
        """(N, n, n, n) bool filled voxels (solid or surface) of every shape at ``resolution``."""
        return self.root[f"voxels/{resolution}/solid"][:] | self.root[f"voxels/{resolution}/surface"][:]

    def ground_truth(self, i: int) -> GroundTruth:
        """Everything the protocols compare shape i's predictions with."""
        vertices, faces = self.mesh(i)
        return GroundTruth(
            mesh_vertices=vertices,
            mesh_faces=faces,
            surface_points=self.root["surface/points"][i],
            surface_normals=self.root["surface/normals"][i].astype(np.float32),
            occupancy_points=self.root["occupancy/points"][i].astype(np.float64),
            occupancy=self.root["occupancy/occupied"][i],
            voxels={
                n: self.root[f"voxels/{n}/solid"][i] | self.root[f"voxels/{n}/surface"][i]
                for n in self.voxel_resolutions
            },
            voxel_half_extent=self.voxel_half_extent,
        )


def shapes_in_categories(store: Path | str, categories) -> np.ndarray:
    """Which shapes of a packed split belong to ``categories``: (N,) bool over the split's shapes.

    Args:
        store: ``results/pack/<split>.zarr``.
        categories: category ids (``03001627``) or names (``chair``), as the store's ``pack.categories``
            attribute lists them.

    Raises:
        ValueError: a category the store does not have (a typo would otherwise train on nothing).
    """
    root = open_store(store)
    known = {}
    for c in root.attrs["pack"]["categories"]:
        known[c["category"]] = c["category"]
        known[c.get("category_name", c["category"])] = c["category"]
    unknown = sorted(str(c) for c in categories if str(c) not in known)
    if unknown:
        raise ValueError(f"{store}: no categories {unknown}; it has {sorted(known)}")
    ids = {known[str(c)] for c in categories}
    return np.array([str(c) in ids for c in root["index/category"][:]], dtype=bool)
