"""Exact first hits of rays on a triangle soup (numba kernels).

:func:`first_hit` returns, for every ray ``o + t d``, the smallest ``t >= 0`` at which it meets a
triangle, and that triangle. The intersection test is Möller-Trumbore (1997) in double precision;
both sides of a triangle count, and a ray in a triangle's plane (``det == 0``) never hits it. The
barycentric bounds get a tolerance of ``1e-12`` (``u, v >= -1e-12``, ``u + v <= 1 + 1e-12``), so
that a ray through an edge or a vertex shared by several triangles hits at least one of them
instead of slipping between them through rounding (plain Möller-Trumbore is not watertight).

**Acceleration.** The triangles are bucketed into a uniform grid over their (slightly padded)
bounding box, about :data:`CELLS_PER_TRIANGLE` cells per triangle with cubic cells, at most
:data:`MAX_CELLS_PER_AXIS` per axis. A triangle goes into every cell that its bounding box
overlaps and its plane cuts (both tests padded by ``1e-6`` of a cell), stored as CSR arrays
(``cell_start``, ``cell_tris``). Every ray is clipped to the grid's box and walks the cells it
crosses in order (3D DDA, Amanatides & Woo 1987), testing every triangle of every cell and keeping
the best hit so far; it stops at the first cell whose exit parameter is not smaller than that best
hit, because every triangle met further on lies in cells the ray enters later. The rays are
independent and run in parallel (``numba.prange``); the result does not depend on the thread count.
Among triangles hit at the same smallest ``t`` the lowest index is returned, so the answer does
not depend on the traversal order either.
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["CELLS_PER_TRIANGLE", "MAX_CELLS_PER_AXIS", "first_hit"]

#: Grid cells per triangle of the acceleration grid (its resolution is about this many cells per
#: triangle over the triangles' bounding box).
CELLS_PER_TRIANGLE = 2.0

#: Upper bound of the acceleration grid's resolution along any axis.
MAX_CELLS_PER_AXIS = 256

_BARY_EPS = 1e-12
_CELL_PAD = 1e-6


@numba.njit(cache=True)
def _triangle_table(vertices, faces):
    """(F, 9) float64 rows ``a, e1 = b - a, e2 = c - a``, (F,) bool "non-degenerate" flags and the
    (2, 3) bounding box of the non-degenerate triangles (inverted, min > max, where there are none)."""
    nf = faces.shape[0]
    tab = np.empty((nf, 9), np.float64)
    ok = np.empty(nf, np.bool_)
    box = np.empty((2, 3), np.float64)
    box[0, :] = np.inf
    box[1, :] = -np.inf
    for f in range(nf):
        ia, ib, ic = faces[f, 0], faces[f, 1], faces[f, 2]
        for axis in range(3):
            a = vertices[ia, axis]
            tab[f, axis] = a
            tab[f, 3 + axis] = vertices[ib, axis] - a
            tab[f, 6 + axis] = vertices[ic, axis] - a
        nx = tab[f, 4] * tab[f, 8] - tab[f, 5] * tab[f, 7]
        ny = tab[f, 5] * tab[f, 6] - tab[f, 3] * tab[f, 8]
        nz = tab[f, 3] * tab[f, 7] - tab[f, 4] * tab[f, 6]
        ok[f] = (nx != 0.0 or ny != 0.0 or nz != 0.0) and np.isfinite(nx + ny + nz)
        if ok[f]:
            for corner in (ia, ib, ic):
                for axis in range(3):
                    box[0, axis] = min(box[0, axis], vertices[corner, axis])
                    box[1, axis] = max(box[1, axis], vertices[corner, axis])
    return tab, ok, box


@numba.njit(cache=True, inline="always")
def _index(x, n):
    """``floor(x)`` clamped to [0, n - 1] (clamped as a float first, so huge ``x`` cannot overflow)."""
    return int(np.floor(min(max(x, 0.0), n - 1.0)))


@numba.njit(cache=True, inline="always")
def _cell_range(a, b, c, pad, lo, cell, n):
    """Inclusive range of cells along one axis that the padded interval [min(a,b,c), max(a,b,c)] meets."""
    return _index((min(a, b, c) - pad - lo) / cell, n), _index((max(a, b, c) + pad - lo) / cell, n)


@numba.njit(cache=True)
def _bucket(tab, ok, lo, cell, dims, pad, count_only, cell_start, cell_tris, cursor):
    """Count (``count_only``) or store the cells of every triangle: bounding box and plane overlap."""
    total = 0
    hx, hy, hz = 0.5 * cell[0] + pad, 0.5 * cell[1] + pad, 0.5 * cell[2] + pad
    for f in range(tab.shape[0]):
        if not ok[f]:
            continue
        ax, ay, az = tab[f, 0], tab[f, 1], tab[f, 2]
        e1x, e1y, e1z = tab[f, 3], tab[f, 4], tab[f, 5]
        e2x, e2y, e2z = tab[f, 6], tab[f, 7], tab[f, 8]
        nx = e1y * e2z - e1z * e2y
        ny = e1z * e2x - e1x * e2z
        nz = e1x * e2y - e1y * e2x
        d = nx * ax + ny * ay + nz * az
        reach = abs(nx) * hx + abs(ny) * hy + abs(nz) * hz
        i0, i1 = _cell_range(ax, ax + e1x, ax + e2x, pad, lo[0], cell[0], dims[0])
        j0, j1 = _cell_range(ay, ay + e1y, ay + e2y, pad, lo[1], cell[1], dims[1])
        k0, k1 = _cell_range(az, az + e1z, az + e2z, pad, lo[2], cell[2], dims[2])
        for i in range(i0, i1 + 1):
            cx = lo[0] + (i + 0.5) * cell[0]
            for j in range(j0, j1 + 1):
                cy = lo[1] + (j + 0.5) * cell[1]
                for k in range(k0, k1 + 1):
                    cz = lo[2] + (k + 0.5) * cell[2]
                    if abs(nx * cx + ny * cy + nz * cz - d) > reach:
                        continue
                    c_id = (i * dims[1] + j) * dims[2] + k
                    if count_only:
                        cell_start[c_id + 1] += 1
                    else:
                        cell_tris[cursor[c_id]] = f
                        cursor[c_id] += 1
                    total += 1
    return total


@numba.njit(cache=True, inline="always")
def _hit(tab, f, ox, oy, oz, dx, dy, dz):
    """Möller-Trumbore: ray parameter of the hit of ray o + t d on triangle ``tab[f]``, or inf."""
    e1x, e1y, e1z = tab[f, 3], tab[f, 4], tab[f, 5]
    e2x, e2y, e2z = tab[f, 6], tab[f, 7], tab[f, 8]
    px = dy * e2z - dz * e2y
    py = dz * e2x - dx * e2z
    pz = dx * e2y - dy * e2x
    det = e1x * px + e1y * py + e1z * pz
    if det == 0.0:
        return np.inf
    inv = 1.0 / det
    sx, sy, sz = ox - tab[f, 0], oy - tab[f, 1], oz - tab[f, 2]
    u = (sx * px + sy * py + sz * pz) * inv
    if not (u >= -_BARY_EPS and u <= 1.0 + _BARY_EPS):
        return np.inf
    qx = sy * e1z - sz * e1y
    qy = sz * e1x - sx * e1z
    qz = sx * e1y - sy * e1x
    v = (dx * qx + dy * qy + dz * qz) * inv
    if not (v >= -_BARY_EPS and u + v <= 1.0 + _BARY_EPS):
        return np.inf
    t = (e2x * qx + e2y * qy + e2z * qz) * inv
    if not t >= 0.0:
        return np.inf
    return t


@numba.njit(cache=True, inline="always")
def _boundary_t(o, d, lo, cell, idx):
    """Ray parameter at which the ray leaves cell ``idx`` along one axis (inf if it never does)."""
    if d > 0.0:
        return (lo + (idx + 1) * cell - o) / d
    if d < 0.0:
        return (lo + idx * cell - o) / d
    return np.inf


@numba.njit(cache=True, parallel=True)
def _trace(tab, cell_start, cell_tris, lo, hi, cell, dims, origins, directions, max_distance, t_out, f_out):
    n = origins.shape[0]
    for r in numba.prange(n):
        ox, oy, oz = origins[r, 0], origins[r, 1], origins[r, 2]
        dx, dy, dz = directions[r, 0], directions[r, 1], directions[r, 2]
        o = (ox, oy, oz)
        d = (dx, dy, dz)
        t0 = 0.0
        t1 = max_distance
        inside = True
        for axis in range(3):
            if d[axis] != 0.0:
                ta = (lo[axis] - o[axis]) / d[axis]
                tb = (hi[axis] - o[axis]) / d[axis]
                t0 = max(t0, min(ta, tb))
                t1 = min(t1, max(ta, tb))
            elif o[axis] < lo[axis] or o[axis] > hi[axis]:
                inside = False
        best_t = np.inf
        best_f = -1
        if inside and t0 <= t1:
            ix = _index((ox + t0 * dx - lo[0]) / cell[0], dims[0])
            iy = _index((oy + t0 * dy - lo[1]) / cell[1], dims[1])
            iz = _index((oz + t0 * dz - lo[2]) / cell[2], dims[2])
            tx = _boundary_t(ox, dx, lo[0], cell[0], ix)
            ty = _boundary_t(oy, dy, lo[1], cell[1], iy)
            tz = _boundary_t(oz, dz, lo[2], cell[2], iz)
            while True:
                c_id = (ix * dims[1] + iy) * dims[2] + iz
                for s in range(cell_start[c_id], cell_start[c_id + 1]):
                    f = cell_tris[s]
                    t = _hit(tab, f, ox, oy, oz, dx, dy, dz)
                    if t <= max_distance and (t < best_t or (t == best_t and f < best_f)):
                        best_t = t
                        best_f = f
                t_exit = min(tx, ty, tz)
                if best_t <= t_exit or t_exit >= t1:
                    break
                if tx == t_exit:
                    ix += 1 if dx > 0.0 else -1
                    if ix < 0 or ix >= dims[0]:
                        break
                    tx = _boundary_t(ox, dx, lo[0], cell[0], ix)
                elif ty == t_exit:
                    iy += 1 if dy > 0.0 else -1
                    if iy < 0 or iy >= dims[1]:
                        break
                    ty = _boundary_t(oy, dy, lo[1], cell[1], iy)
                else:
                    iz += 1 if dz > 0.0 else -1
                    if iz < 0 or iz >= dims[2]:
                        break
                    tz = _boundary_t(oz, dz, lo[2], cell[2], iz)
        t_out[r] = best_t
        f_out[r] = best_f


def _grid(vertices: np.ndarray, faces: np.ndarray):
    """Acceleration grid: triangle table, CSR cell arrays, box, cell size and dimensions."""
    tab, ok, (vmin, vmax) = _triangle_table(vertices, faces)
    if not ok.any():
        return None
    extent = vmax - vmin
    scale = float(extent.max())
    box_pad = 1e-6 * scale
    lo, hi = vmin - box_pad, vmax + box_pad
    size = hi - lo
    n_tri = int(ok.sum())
    volume = float(np.prod(np.maximum(size, scale / MAX_CELLS_PER_AXIS)))
    edge = (volume / (CELLS_PER_TRIANGLE * n_tri)) ** (1.0 / 3.0)
    dims = np.clip(np.ceil(size / edge).astype(np.int64), 1, MAX_CELLS_PER_AXIS)
    cell = size / dims
    pad = _CELL_PAD * float(cell.max())
    n_cells = int(np.prod(dims))
    cell_start = np.zeros(n_cells + 1, np.int64)
    dummy = np.zeros(0, np.int64)
    _bucket(tab, ok, lo, cell, dims, pad, True, cell_start, dummy, dummy)
    np.cumsum(cell_start, out=cell_start)
    cell_tris = np.empty(int(cell_start[-1]), np.int64)
    cursor = cell_start[:-1].copy()
    _bucket(tab, ok, lo, cell, dims, pad, False, cell_start, cell_tris, cursor)
    return tab, cell_start, cell_tris, lo, hi, cell, dims


def first_hit(
    vertices, faces, origins, directions, max_distance: float = math.inf
) -> tuple[np.ndarray, np.ndarray]:
    """First triangle hit by every ray ``origins[r] + t * directions[r]``, ``0 <= t <= max_distance``.

    ``t`` is measured in units of the direction's length (the hit point is ``o + t d``; for unit
    directions it is the distance from the origin). Directions need not be normalized; a zero
    direction hits nothing. Both sides of a triangle count; a ray lying in a triangle's plane does
    not hit it; degenerate (zero-area) triangles are never hit. Edges and vertices count for every
    triangle that has them, with a barycentric tolerance of 1e-12 (module docstring).

    Args:
        vertices: (V, 3) float vertex positions.
        faces: (F, 3) int triangle vertex indices (F may be 0).
        origins: (N, 3) float ray origins.
        directions: (N, 3) float ray directions.
        max_distance: largest ``t`` that counts as a hit, >= 0.

    Returns:
        ``(t, tri)``: (N,) float64 smallest ``t`` in ``[0, max_distance]`` at which the ray meets a
        triangle (``inf`` where it meets none), and (N,) int64 index of that triangle (the lowest
        index among ties; -1 where none).

    Raises:
        ValueError: bad shapes, face indices out of range, or non-finite origins or directions.
    """
    v = np.ascontiguousarray(vertices, dtype=np.float64).reshape(-1, 3)
    f = np.ascontiguousarray(faces, dtype=np.int64).reshape(-1, 3)
    o = np.ascontiguousarray(origins, dtype=np.float64)
    d = np.ascontiguousarray(directions, dtype=np.float64)
    if o.ndim != 2 or o.shape[1] != 3 or d.shape != o.shape:
        raise ValueError(f"origins and directions must both be (N, 3), got {o.shape} and {d.shape}")
    if not (np.isfinite(o).all() and np.isfinite(d).all()):
        raise ValueError("origins and directions must be finite")
    if len(f) and (f.min() < 0 or f.max() >= len(v)):
        raise ValueError(f"face indices must lie in [0, {len(v)}), got [{f.min()}, {f.max()}]")
    if not max_distance >= 0.0:
        raise ValueError(f"max_distance must be >= 0, got {max_distance}")
    t = np.full(len(o), np.inf)
    tri = np.full(len(o), -1, np.int64)
    grid = _grid(v, f) if len(f) and len(o) else None
    if grid is None:
        return t, tri
    tab, cell_start, cell_tris, lo, hi, cell, dims = grid
    _trace(tab, cell_start, cell_tris, lo, hi, cell, dims, o, d, float(max_distance), t, tri)
    return t, tri
