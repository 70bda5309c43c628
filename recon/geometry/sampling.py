"""Points of a shape: area-weighted samples of its surface, and the inside test of points.

- :func:`surface_samples`: area-weighted points on the surface with their face normals.
- :func:`inside_points`: |generalized winding number| > 0.5, sped up by the shape's SDF grid
  where the grid is sure of the sign.

All draws come from the generator passed in.
"""

from __future__ import annotations

import numpy as np

from recon.geometry.grid import GridSpec
from recon.geometry.quality import face_areas
from recon.geometry.winding import winding_numbers

__all__ = ["inside_points", "surface_samples"]


def inside_points(
    vertices: np.ndarray,
    faces: np.ndarray,
    points: np.ndarray,
    grid: np.ndarray | None = None,
    spec: GridSpec | None = None,
) -> np.ndarray:
    """Inside labels (|winding number| > 0.5) of (N, 3) points; (N,) bool.

    With the shape's SDF ``grid`` (and its ``spec``), a point whose trilinearly interpolated grid
    value is more than 1.5 node spacings from zero takes the grid's sign: the SDF is 1-Lipschitz,
    so the interpolation is within half a node diagonal of the point's own SDF, and the grid's
    values are within a few thousandths of the truth. Only the other points need their own
    winding number, which is most of the cost.
    """
    p = np.ascontiguousarray(points, dtype=np.float64)
    if len(p) == 0:
        return np.zeros(0, bool)
    if grid is None:
        return np.abs(winding_numbers(vertices, faces, p)) > 0.5
    from scipy.ndimage import map_coordinates

    coords = ((p - spec.origin) / spec.spacing).T
    value = map_coordinates(np.asarray(grid, dtype=np.float32), coords, order=1, mode="nearest")
    inside = value < 0
    outside_box = np.any((p < spec.origin) | (p > spec.corner), axis=1)
    unsure = (np.abs(value) <= 1.5 * spec.spacing) | outside_box
    inside[unsure] = np.abs(winding_numbers(vertices, faces, p[unsure])) > 0.5
    return inside


def surface_samples(
    vertices: np.ndarray, faces: np.ndarray, n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` area-weighted surface points and their face normals.

    Returns:
        ``points`` (n, 3) float64 and ``normals`` (n, 3) float64 unit face normals (as the
        triangles are wound).
    """
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    areas = face_areas(v, f)
    face = rng.choice(len(f), size=n, p=areas / areas.sum())
    r1, r2 = rng.random(n), rng.random(n)
    s = np.sqrt(r1)
    a, b, c = v[f[face, 0]], v[f[face, 1]], v[f[face, 2]]
    points = (1 - s)[:, None] * a + (s * (1 - r2))[:, None] * b + (s * r2)[:, None] * c
    normals = np.cross(b - a, c - a)
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-30)
    return points, normals
