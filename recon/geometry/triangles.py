"""Triangle soups as flat tables, and the closest point on a triangle (numba kernels).

:func:`triangle_table` packs a mesh into the (F, 9) float64 array the numba kernels of the SDF
grid (:mod:`recon.sdf.narrow_band`, :mod:`recon.sdf.far_field`) and of the voxelizer
(:mod:`recon.geometry.voxels`) read: row f holds the corners ``a, b, c`` of triangle f. The
closest-point routines take a table and a row index and work on scalars, so that they inline into
those kernels without allocating.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["closest_on_triangle", "point_triangle_distance2", "triangle_table"]


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
