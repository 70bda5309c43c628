"""The canonical frame: every mesh is normalized once, and the transform is kept.

``x_normalized = scale * (x_raw - center)``: a uniform scale and a translation, no rotation
(the source's axes are kept: ShapeNet's +Y up, front toward -Z). The 4x4 matrix is stored with
each shape so every later artefact can be mapped back to the raw file's frame.

Methods:

- ``unit_sphere`` (DISN): ``center`` = area-weighted centroid of the surface, ``scale`` = 1 /
  the largest distance from it to the surface, so the surface lies in the unit ball and
  touches its boundary. DISN's ``get_normalize_mesh`` estimates both from 16,384 random
  surface samples; this computes their exact values (the centroid the sample mean converges
  to, and the farthest surface point, which is always a vertex), so no randomness is
  involved and no part of the surface pokes out of the sphere. DISN's sampled frame differs by
  a fraction of a percent in scale (``bench/bench_normalization.py``; figures in
  ``docs/data_format.md`` §1.1).
- ``unit_cube`` (Occupancy Networks): ``center`` = bounding-box centre, ``scale`` = 1 /
  (longest side * (1 + padding)), so the mesh fits [-0.5, 0.5]^3.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recon.geometry.quality import face_areas

__all__ = ["HALF_EXTENT", "Normalization", "normalization", "out_of_range_reason"]

#: Half the side of the cube ``[-h, h]^3`` each method fits the surface into: the unit ball fits
#: [-1, 1]^3; the unit cube is [-0.5, 0.5]^3 (GenRe's and Occupancy Networks' voxel box). The
#: voxel grids and the occupancy points' cube are built on it.
HALF_EXTENT = {"unit_sphere": 1.0, "unit_cube": 0.5}


@dataclass(frozen=True)
class Normalization:
    """A uniform scale and translation from the raw file's frame to the canonical frame.

    Attributes:
        method: ``unit_sphere`` or ``unit_cube``.
        center: (3,) float64, raw-frame point sent to the origin.
        scale: float, raw-frame length 1 becomes ``scale``.
    """

    method: str
    center: np.ndarray
    scale: float

    @property
    def matrix(self) -> np.ndarray:
        """(4, 4) float64 homogeneous transform raw -> normalized."""
        m = np.eye(4) * self.scale
        m[3, 3] = 1.0
        m[:3, 3] = -self.scale * np.asarray(self.center, dtype=np.float64)
        return m

    @property
    def inverse(self) -> np.ndarray:
        """(4, 4) float64 homogeneous transform normalized -> raw."""
        m = np.eye(4) / self.scale
        m[3, 3] = 1.0
        m[:3, 3] = np.asarray(self.center, dtype=np.float64)
        return m

    def apply(self, points: np.ndarray) -> np.ndarray:
        """Map raw-frame (N, 3) points to the canonical frame; returns (N, 3) float64."""
        return (np.asarray(points, dtype=np.float64) - self.center) * self.scale

    def invert(self, points: np.ndarray) -> np.ndarray:
        """Map canonical-frame (N, 3) points back to the raw frame; returns (N, 3) float64."""
        return np.asarray(points, dtype=np.float64) / self.scale + self.center

    def to_attrs(self) -> dict:
        """JSON-serializable description for store attributes."""
        return {
            "method": self.method,
            "center": [float(c) for c in self.center],
            "scale": float(self.scale),
            "matrix": self.matrix.tolist(),
            "inverse": self.inverse.tolist(),
        }


def normalization(
    vertices: np.ndarray, faces: np.ndarray, method: str = "unit_sphere", padding: float = 0.0
) -> Normalization:
    """Compute the canonical-frame transform of a mesh.

    Args:
        vertices: (V, 3) float, finite.
        faces: (F, 3) int, with positive total area.
        method: ``unit_sphere`` or ``unit_cube`` (see module docstring).
        padding: ``unit_cube`` only: longest side becomes ``1 / (1 + padding)``.

    Returns:
        The :class:`Normalization`; only vertices referenced by ``faces`` count.
    """
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    referenced = np.zeros(len(vertices), dtype=bool)
    referenced[faces.ravel()] = True
    used = vertices[referenced]
    if method == "unit_sphere":
        areas = face_areas(vertices, faces)
        centroids = vertices[faces].mean(axis=1)
        center = (centroids * areas[:, None]).sum(axis=0) / areas.sum()
        radius = float(np.linalg.norm(used - center, axis=1).max())
        return Normalization(method, center, 1.0 / radius)
    if method == "unit_cube":
        lo, hi = used.min(axis=0), used.max(axis=0)
        side = float((hi - lo).max())
        return Normalization(method, (lo + hi) / 2.0, 1.0 / (side * (1.0 + padding)))
    raise ValueError(f"unknown normalization {method!r} (expected unit_sphere or unit_cube)")


def out_of_range_reason(norm: Normalization, vertices: np.ndarray) -> str | None:
    """Why a finite mesh has no usable canonical frame, or None.

    Coordinates near float64's limit (``1e308``) overflow the surface area or the radius, and
    a vertex far from the surface (one no face uses) overflows once scaled and stored as
    float32: the frame or the stored vertices are not finite. One line, for the ledger.

    Args:
        norm: the mesh's :func:`normalization`.
        vertices: (V, 3) float64, the raw vertices (all of them: every one is stored).
    """
    with np.errstate(all="ignore"):
        frame_ok = np.isfinite(norm.center).all() and np.isfinite(norm.scale) and norm.scale > 0
        if frame_ok:
            moved = norm.apply(vertices).astype(np.float32)  # as stored
            bad = int((~np.isfinite(moved).all(axis=1)).sum())
            if not bad:
                return None
            return f"coordinates out of range: {bad} vertices overflow float32 in the canonical frame"
    extent = float(np.abs(vertices).max()) if len(vertices) else 0.0
    return f"coordinates out of range: no finite canonical frame (|coordinate| up to {extent:.3g})"
