"""Exact distances to a triangle soup on the grid nodes near it (numba kernel).

Every triangle visits the grid nodes of its bounding box grown by the band width and keeps,
per node, the smallest squared point-triangle distance, the index of that triangle and the
closest point on it. A node
whose distance to the surface is at most the band width lies in the grown box of the triangle
holding its closest point, so its value is exact; nodes farther away may hold an upper bound or
nothing (inf, triangle -1). The grid is cut into slabs along x, one thread per slab, so that no
two threads write the same node and the result does not depend on the thread count.
"""

from __future__ import annotations

import numba
import numpy as np

from recon.geometry.triangles import closest_on_triangle

__all__ = ["narrow_band"]


@numba.njit(cache=True)
def _node_boxes(tri, origin, spacing, shape, band):
    """(F, 6) int64 inclusive node index ranges i0, i1, j0, j1, k0, k1 of the grown triangle boxes."""
    boxes = np.empty((tri.shape[0], 6), np.int64)
    for f in range(tri.shape[0]):
        for axis in range(3):
            lo = min(tri[f, axis], tri[f, 3 + axis], tri[f, 6 + axis]) - band - origin[axis]
            hi = max(tri[f, axis], tri[f, 3 + axis], tri[f, 6 + axis]) + band - origin[axis]
            boxes[f, 2 * axis] = max(int(np.ceil(lo / spacing)), 0)
            boxes[f, 2 * axis + 1] = min(int(np.floor(hi / spacing)), shape[axis] - 1)
    return boxes


@numba.njit(cache=True, parallel=True)
def _band_kernel(tri, boxes, origin, spacing, shape, dist2, tid, closest):
    nx = shape[0]
    ox, oy, oz = origin[0], origin[1], origin[2]
    slabs = min(nx, 64)
    for s in numba.prange(slabs):
        lo = s * nx // slabs
        hi = (s + 1) * nx // slabs - 1
        for f in range(tri.shape[0]):
            i0 = max(boxes[f, 0], lo)
            i1 = min(boxes[f, 1], hi)
            for i in range(i0, i1 + 1):
                px = ox + i * spacing
                for j in range(boxes[f, 2], boxes[f, 3] + 1):
                    py = oy + j * spacing
                    for k in range(boxes[f, 4], boxes[f, 5] + 1):
                        pz = oz + k * spacing
                        qx, qy, qz = closest_on_triangle(px, py, pz, tri, f)
                        d = (px - qx) ** 2 + (py - qy) ** 2 + (pz - qz) ** 2
                        if d < dist2[i, j, k]:
                            dist2[i, j, k] = d
                            tid[i, j, k] = f
                            closest[i, j, k, 0] = qx
                            closest[i, j, k, 1] = qy
                            closest[i, j, k, 2] = qz


def narrow_band(
    tri: np.ndarray, origin: np.ndarray, spacing: float, shape: tuple, band: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact squared distances, closest triangles and points on the nodes within ``band`` of the surface.

    Args:
        tri: (F, 9) float64 triangle corners, from :func:`recon.geometry.triangles.triangle_table`.
        origin: (3,) float64 position of node (0, 0, 0).
        spacing: distance between neighbouring nodes.
        shape: (nx, ny, nz) number of nodes per axis.
        band: band width, in the units of the vertices.

    Returns:
        ``dist2`` (nx, ny, nz) float64 squared distance, exact where it is <= ``band**2``, an upper
        bound or inf elsewhere; ``tid`` (nx, ny, nz) int32, the triangle at that distance (-1 where
        none); ``closest`` (nx, ny, nz, 3) float32, the closest point on it (NaN where none).
    """
    shape = tuple(int(n) for n in shape)
    origin = np.asarray(origin, dtype=np.float64)
    dist2 = np.full(shape, np.inf)
    tid = np.full(shape, -1, np.int32)
    closest = np.full((*shape, 3), np.nan, np.float32)
    boxes = _node_boxes(tri, origin, float(spacing), shape, float(band))
    _band_kernel(tri, boxes, origin, float(spacing), shape, dist2, tid, closest)
    return dist2, tid, closest
