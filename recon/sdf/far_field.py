"""Distances beyond the exact band, by sweeping closest points across the grid (numba kernel).

Each node outside the band takes, from its already-visited neighbours, the surface point that is
closest to it among their closest points, in eight Gauss-Seidel sweeps (one per octant
direction), as in fast-sweeping closest-point transforms. A node's value is the exact distance
to a real surface point, so it is never below the true distance; it exceeds it only where the
true closest point is not passed along by any neighbour.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["sweep_closest_points"]


@numba.njit(cache=True)
def _sweep(distance, closest, fixed, origin, spacing):
    nx, ny, nz = distance.shape
    ox, oy, oz = origin[0], origin[1], origin[2]
    for sx in (1, -1):
        for sy in (1, -1):
            for sz in (1, -1):
                i_range = range(nx) if sx > 0 else range(nx - 1, -1, -1)
                for i in i_range:
                    px = ox + i * spacing
                    j_range = range(ny) if sy > 0 else range(ny - 1, -1, -1)
                    for j in j_range:
                        py = oy + j * spacing
                        k_range = range(nz) if sz > 0 else range(nz - 1, -1, -1)
                        for k in k_range:
                            if fixed[i, j, k]:
                                continue
                            pz = oz + k * spacing
                            best = distance[i, j, k]
                            for di, dj, dk in (
                                (sx, 0, 0),
                                (0, sy, 0),
                                (0, 0, sz),
                                (sx, sy, 0),
                                (sx, 0, sz),
                                (0, sy, sz),
                                (sx, sy, sz),
                            ):
                                a, b, c = i - di, j - dj, k - dk
                                if a < 0 or a >= nx or b < 0 or b >= ny or c < 0 or c >= nz:
                                    continue
                                qx = closest[a, b, c, 0]
                                if qx != qx:  # NaN: nothing known there yet
                                    continue
                                qy = closest[a, b, c, 1]
                                qz = closest[a, b, c, 2]
                                d = np.sqrt((px - qx) ** 2 + (py - qy) ** 2 + (pz - qz) ** 2)
                                if d < best:
                                    best = d
                                    closest[i, j, k, 0] = qx
                                    closest[i, j, k, 1] = qy
                                    closest[i, j, k, 2] = qz
                            distance[i, j, k] = best


def sweep_closest_points(
    distance: np.ndarray, closest: np.ndarray, fixed: np.ndarray, origin: np.ndarray, spacing: float
) -> None:
    """Fill the nodes that are not ``fixed`` with distances to propagated closest points, in place.

    Args:
        distance: (nx, ny, nz) float, exact on ``fixed`` nodes, inf or an upper bound elsewhere.
        closest: (nx, ny, nz, 3) float, closest surface point per node (NaN where unknown).
        fixed: (nx, ny, nz) bool, nodes whose values are exact and left unchanged.
        origin: (3,) position of node (0, 0, 0).
        spacing: node spacing.
    """
    _sweep(distance, closest, fixed, np.asarray(origin, dtype=np.float64), float(spacing))
