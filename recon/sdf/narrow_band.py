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

__all__ = ["narrow_band", "point_triangle_distance2", "triangle_table"]


@numba.njit(cache=True, inline="always")
def _closest_on_triangle(px, py, pz, ax, ay, az, bx, by, bz, cx, cy, cz):
    """Closest point to p on triangle abc (Ericson, Real-Time Collision Detection 5.1.5), as scalars."""
    abx, aby, abz = bx - ax, by - ay, bz - az
    acx, acy, acz = cx - ax, cy - ay, cz - az
    apx, apy, apz = px - ax, py - ay, pz - az
    d1 = abx * apx + aby * apy + abz * apz
    d2 = acx * apx + acy * apy + acz * apz
    if d1 <= 0.0 and d2 <= 0.0:
        return ax, ay, az
    bpx, bpy, bpz = px - bx, py - by, pz - bz
    d3 = abx * bpx + aby * bpy + abz * bpz
    d4 = acx * bpx + acy * bpy + acz * bpz
    if d3 >= 0.0 and d4 <= d3:
        return bx, by, bz
    vc = d1 * d4 - d3 * d2
    if vc <= 0.0 and d1 >= 0.0 and d3 <= 0.0:
        t = d1 / (d1 - d3)
        return ax + t * abx, ay + t * aby, az + t * abz
    cpx, cpy, cpz = px - cx, py - cy, pz - cz
    d5 = abx * cpx + aby * cpy + abz * cpz
    d6 = acx * cpx + acy * cpy + acz * cpz
    if d6 >= 0.0 and d5 <= d6:
        return cx, cy, cz
    vb = d5 * d2 - d1 * d6
    if vb <= 0.0 and d2 >= 0.0 and d6 <= 0.0:
        t = d2 / (d2 - d6)
        return ax + t * acx, ay + t * acy, az + t * acz
    va = d3 * d6 - d5 * d4
    if va <= 0.0 and (d4 - d3) >= 0.0 and (d5 - d6) >= 0.0:
        t = (d4 - d3) / ((d4 - d3) + (d5 - d6))
        return bx + t * (cx - bx), by + t * (cy - by), bz + t * (cz - bz)
    denom = 1.0 / (va + vb + vc)
    v = vb * denom
    w = vc * denom
    return ax + abx * v + acx * w, ay + aby * v + acy * w, az + abz * v + acz * w


@numba.njit(cache=True, inline="always")
def closest_on_triangle(px, py, pz, tri, f):
    """Closest point to p on triangle ``tri[f]`` (a row of :func:`triangle_table`), as scalars."""
    a = (tri[f, 0], tri[f, 1], tri[f, 2])
    b = (tri[f, 3], tri[f, 4], tri[f, 5])
    c = (tri[f, 6], tri[f, 7], tri[f, 8])
    return _closest_on_triangle(px, py, pz, a[0], a[1], a[2], b[0], b[1], b[2], c[0], c[1], c[2])


@numba.njit(cache=True, inline="always")
def point_triangle_distance2(px, py, pz, tri, f):
    """Squared distance from point p to triangle ``tri[f]`` (a row of :func:`triangle_table`)."""
    qx, qy, qz = closest_on_triangle(px, py, pz, tri, f)
    return (px - qx) ** 2 + (py - qy) ** 2 + (pz - qz) ** 2


def triangle_table(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(F, 9) float64 corner coordinates ``a, b, c`` of every triangle, the kernels' input."""
    v = np.asarray(vertices, dtype=np.float64)
    return np.ascontiguousarray(v[np.asarray(faces, dtype=np.int64)].reshape(-1, 9))


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
        tri: (F, 9) float64 triangle corners, from :func:`triangle_table`.
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
