"""Exact distances to a triangle soup on the grid nodes near it (numba kernel).

Every triangle visits the grid nodes of its bounding box grown by the band width and keeps,
per node, the smallest point-triangle distance and the closest point. A node whose distance to
the surface is at most the band width lies in the grown box of the triangle holding its closest
point, so its value is exact; nodes farther away may hold an upper bound or nothing (inf).
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["narrow_band"]


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


@numba.njit(cache=True)
def _band_kernel(vertices, faces, origin, spacing, shape, band, dist2, closest):
    nx, ny, nz = shape
    ox, oy, oz = origin[0], origin[1], origin[2]
    for f in range(faces.shape[0]):
        ax, ay, az = vertices[faces[f, 0], 0], vertices[faces[f, 0], 1], vertices[faces[f, 0], 2]
        bx, by, bz = vertices[faces[f, 1], 0], vertices[faces[f, 1], 1], vertices[faces[f, 1], 2]
        cx, cy, cz = vertices[faces[f, 2], 0], vertices[faces[f, 2], 1], vertices[faces[f, 2], 2]
        i0 = max(int(np.ceil((min(ax, bx, cx) - band - ox) / spacing)), 0)
        j0 = max(int(np.ceil((min(ay, by, cy) - band - oy) / spacing)), 0)
        k0 = max(int(np.ceil((min(az, bz, cz) - band - oz) / spacing)), 0)
        i1 = min(int(np.floor((max(ax, bx, cx) + band - ox) / spacing)), nx - 1)
        j1 = min(int(np.floor((max(ay, by, cy) + band - oy) / spacing)), ny - 1)
        k1 = min(int(np.floor((max(az, bz, cz) + band - oz) / spacing)), nz - 1)
        for i in range(i0, i1 + 1):
            px = ox + i * spacing
            for j in range(j0, j1 + 1):
                py = oy + j * spacing
                for k in range(k0, k1 + 1):
                    pz = oz + k * spacing
                    qx, qy, qz = _closest_on_triangle(px, py, pz, ax, ay, az, bx, by, bz, cx, cy, cz)
                    d = (px - qx) ** 2 + (py - qy) ** 2 + (pz - qz) ** 2
                    if d < dist2[i, j, k]:
                        dist2[i, j, k] = d
                        closest[i, j, k, 0] = qx
                        closest[i, j, k, 1] = qy
                        closest[i, j, k, 2] = qz


def narrow_band(
    vertices: np.ndarray, faces: np.ndarray, origin: np.ndarray, spacing: float, shape: tuple, band: float
) -> tuple[np.ndarray, np.ndarray]:
    """Exact unsigned distances and closest points on the nodes within ``band`` of the surface.

    Args:
        vertices: (V, 3) float64.
        faces: (F, 3) int64.
        origin: (3,) float64 position of node (0, 0, 0).
        spacing: distance between neighbouring nodes.
        shape: (nx, ny, nz) number of nodes per axis.
        band: band width, in the units of ``vertices``.

    Returns:
        ``distance`` (nx, ny, nz) float64, exact where it is <= ``band``, an upper bound or inf
        elsewhere; ``closest`` (nx, ny, nz, 3) float64, the closest surface point found (NaN where
        none).
    """
    dist2 = np.full(shape, np.inf)
    closest = np.full((*shape, 3), np.nan)
    _band_kernel(
        np.ascontiguousarray(vertices, dtype=np.float64),
        np.ascontiguousarray(faces, dtype=np.int64),
        np.asarray(origin, dtype=np.float64),
        float(spacing),
        tuple(int(n) for n in shape),
        float(band),
        dist2,
        closest,
    )
    return np.sqrt(dist2), closest
