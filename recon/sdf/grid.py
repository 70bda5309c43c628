"""Dense signed distance grids of triangle soups: exact near the surface, fast everywhere.

``sdf_grid`` computes the SDF on an ``n^3`` node grid in three steps:

1. **Near band, exact** (:func:`recon.sdf.narrow_band.narrow_band`): every node within
   ``band_voxels`` node spacings of the surface gets its exact unsigned distance and closest
   surface point.
2. **Far field, by closest-point sweeps** (:mod:`recon.sdf.far_field`): every other node takes
   the nearest of its neighbours' closest surface points, in eight fast-sweeping passes. The
   result is never below the true distance and, on the tested shapes, within half a node
   diagonal of it.
3. **Sign, from the generalized winding number** (libigl's fast winding number, Barill et al.
   2018), robust to open meshes, inner faces, overlaps and flipped triangles: evaluated exactly
   at the band nodes, and on a grid ``sign_stride`` times coarser, trilinearly interpolated, for
   the far nodes (the winding number is smooth away from the surface). Inside = |winding| > 0.5,
   so a mesh whose triangles all face inward is still solid.

Negative inside. Node ``[i, j, k]`` is at ``origin + (i, j, k) * spacing``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["GridSpec", "sdf_grid", "winding_numbers"]


@dataclass(frozen=True)
class GridSpec:
    """A cubic node grid: ``resolution`` nodes per axis from ``lo`` to ``hi`` (both included).

    Attributes:
        resolution: nodes per axis (256, or 257 for DISN's node count).
        lo: coordinate of the first node on every axis.
        hi: coordinate of the last node on every axis.
    """

    resolution: int = 256
    lo: float = -1.1
    hi: float = 1.1

    @property
    def spacing(self) -> float:
        """Distance between neighbouring nodes."""
        return (self.hi - self.lo) / (self.resolution - 1)

    @property
    def axis(self) -> np.ndarray:
        """(resolution,) float64 node coordinates along each axis."""
        return self.lo + self.spacing * np.arange(self.resolution)

    def points(self) -> np.ndarray:
        """(resolution^3, 3) float64 node positions, x slowest (``meshgrid(indexing="ij")`` order)."""
        x = self.axis
        return np.stack(np.meshgrid(x, x, x, indexing="ij"), axis=-1).reshape(-1, 3)


def winding_numbers(vertices: np.ndarray, faces: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Generalized winding numbers of (N, 3) points w.r.t. a triangle soup; (N,) float64."""
    import igl

    if len(points) == 0:
        return np.zeros(0)
    return igl.fast_winding_number(
        np.ascontiguousarray(vertices, dtype=np.float64),
        np.ascontiguousarray(faces, dtype=np.int64),
        np.ascontiguousarray(points, dtype=np.float64),
    )


def _coarse_winding(vertices, faces, spec: GridSpec, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Winding numbers on every ``stride``-th node (plus the last); returns (axis indices, grid)."""
    n = spec.resolution
    idx = np.unique(np.r_[np.arange(0, n, stride), n - 1])
    x = spec.axis[idx]
    pts = np.stack(np.meshgrid(x, x, x, indexing="ij"), axis=-1).reshape(-1, 3)
    return idx, winding_numbers(vertices, faces, pts).reshape(len(idx), len(idx), len(idx))


def _upsample(idx: np.ndarray, coarse: np.ndarray, n: int) -> np.ndarray:
    """Trilinear upsampling of a grid given on node indices ``idx`` to all ``n`` nodes per axis.

    Separable: linear interpolation along x, then y, then z. Returns (n, n, n) float64.
    """
    fine = np.arange(n)
    j = np.clip(np.searchsorted(idx, fine, side="right") - 1, 0, len(idx) - 2)
    t = (fine - idx[j]) / (idx[j + 1] - idx[j])
    out = coarse
    for axis in range(3):
        shape = [1, 1, 1]
        shape[axis] = n
        w = t.reshape(shape)
        out = np.take(out, j, axis=axis) * (1.0 - w) + np.take(out, j + 1, axis=axis) * w
    return out


def sdf_grid(
    vertices: np.ndarray,
    faces: np.ndarray,
    spec: GridSpec = GridSpec(),
    band_voxels: float = 3.0,
    sign_stride: int = 4,
) -> np.ndarray:
    """Signed distance of every grid node to a triangle soup.

    Args:
        vertices: (V, 3) float, in the grid's frame.
        faces: (F, 3) int.
        spec: the grid.
        band_voxels: width of the exact band, in node spacings.
        sign_stride: the far field's winding numbers are computed on every ``sign_stride``-th node.

    Returns:
        (n, n, n) float32 SDF, negative inside.
    """
    from recon.sdf.far_field import sweep_closest_points
    from recon.sdf.narrow_band import narrow_band

    n = spec.resolution
    h = spec.spacing
    band = band_voxels * h
    origin = np.full(3, spec.lo)
    distance, closest = narrow_band(vertices, faces, origin, h, (n, n, n), band)
    in_band = distance <= band
    far = ~in_band
    has_far = bool(far.any())
    if has_far:
        sweep_closest_points(distance, closest, in_band, origin, h)
    winding = np.empty((n, n, n))
    band_nodes = np.argwhere(in_band)
    winding[in_band] = winding_numbers(vertices, faces, origin + band_nodes * h)
    if has_far:
        idx, coarse = _coarse_winding(vertices, faces, spec, sign_stride)
        winding[far] = _upsample(idx, coarse, n)[far]
    return np.where(np.abs(winding) > 0.5, -distance, distance).astype(np.float32)
