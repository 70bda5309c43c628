"""Distances beyond the exact band: closest points swept across the grid, then refined (numba).

1. :func:`sweep_closest_points`: each node outside the band takes, from the nine neighbours in the
   previous plane of a sweep, the closest point (and its triangle) nearest to itself, then from
   its neighbour along z, up and down its row. Four sweeps run plane by plane along +x, -x, +y and
   -y, as in fast-sweeping closest-point transforms (Tsai 2002). The rows of a plane are
   independent of each other, so each plane is shared among threads and the result does not
   depend on their number. A node's value is the distance to a real surface point, so it is never
   below the true distance. :func:`sweep_coarse` runs it on every second node and hands the
   result down to the others.
2. :func:`refine_by_descent`: on the nodes that must be exact (the near band), the swept triangle
   is the start of a descent over the mesh: the triangles around its corners are tried, the
   closest taken, until none is closer. On a smooth patch the swept triangle is a neighbour of
   the true closest one, which the first step finds.
"""

from __future__ import annotations

import numba
import numpy as np

from recon.geometry.triangles import point_triangle_distance2

__all__ = ["refine_by_descent", "sweep_closest_points", "sweep_coarse", "vertex_stars"]


@numba.njit(cache=True, inline="always")
def _take(tid, closest, px, py, pz, best, src, a, b, c):
    """Offer node (a, b, c)'s closest point to point p; returns the updated (best, source)."""
    if tid[a, b, c] >= 0:
        dx = px - closest[a, b, c, 0]
        dy = py - closest[a, b, c, 1]
        dz = pz - closest[a, b, c, 2]
        d = dx * dx + dy * dy + dz * dz
        if d < best:
            return d, (a, b, c)
    return best, src


@numba.njit(cache=True, inline="always")
def _copy(dist2, tid, closest, i, j, k, best, src_tid, src_closest, a, b, c):
    """Node (i, j, k) takes distance ``best`` and the triangle and closest point of source (a, b, c)."""
    dist2[i, j, k] = best
    tid[i, j, k] = src_tid[a, b, c]
    closest[i, j, k, 0] = src_closest[a, b, c, 0]
    closest[i, j, k, 1] = src_closest[a, b, c, 1]
    closest[i, j, k, 2] = src_closest[a, b, c, 2]


@numba.njit(cache=True, parallel=True)
def _sweep(dist2, tid, closest, origin, spacing, band2, axis, step):
    """One sweep along x (axis 0) or y (axis 1), then along z within every row, both ways."""
    nx, ny, nz = dist2.shape
    planes = nx if axis == 0 else ny
    rows = ny if axis == 0 else nx
    start = 1 if step > 0 else planes - 2
    stop = planes if step > 0 else -1
    for plane in range(start, stop, step):
        for row in numba.prange(rows):
            i = np.int64(plane) if axis == 0 else np.int64(row)
            j = np.int64(row) if axis == 0 else np.int64(plane)
            di = step if axis == 0 else 0
            dj = step if axis == 1 else 0
            px = origin[0] + i * spacing
            py = origin[1] + j * spacing
            # From the previous plane: the 3 x 3 neighbours.
            for k in range(nz):
                best = dist2[i, j, k]
                if best <= band2:
                    continue
                pz = origin[2] + k * spacing
                src = (np.int64(-1), np.int64(-1), np.int64(-1))
                for dr in range(-1, 2):
                    a = i - di + (dr if axis == 1 else 0)
                    b = j - dj + (dr if axis == 0 else 0)
                    if a < 0 or a >= nx or b < 0 or b >= ny:
                        continue
                    for dk in range(-1, 2):
                        c = k + dk
                        if 0 <= c < nz:
                            best, src = _take(tid, closest, px, py, pz, best, src, a, b, c)
                if src[0] >= 0:
                    _copy(dist2, tid, closest, i, j, k, best, tid, closest, src[0], src[1], src[2])
            # Along the row, up and down.
            for sweep in range(2):
                for kk in range(1, nz):
                    k = kk if sweep == 0 else nz - 1 - kk
                    c = k - 1 if sweep == 0 else k + 1
                    best = dist2[i, j, k]
                    if best <= band2:
                        continue
                    pz = origin[2] + k * spacing
                    src = (np.int64(-1), np.int64(-1), np.int64(-1))
                    best, src = _take(tid, closest, px, py, pz, best, src, i, j, c)
                    if src[0] >= 0:
                        _copy(dist2, tid, closest, i, j, k, best, tid, closest, i, j, c)


def sweep_closest_points(
    dist2: np.ndarray, tid: np.ndarray, closest: np.ndarray, origin: np.ndarray, spacing: float, band: float
) -> None:
    """Fill the nodes farther than ``band`` from the surface, in place.

    Args:
        dist2: (nx, ny, nz) float64 squared distances, exact where <= ``band**2``, an upper bound
            or inf elsewhere (the output of :func:`recon.sdf.narrow_band.narrow_band`).
        tid: (nx, ny, nz) int32 triangle of the closest point (-1 where none).
        closest: (nx, ny, nz, 3) float32 closest point.
        origin: (3,) position of node (0, 0, 0).
        spacing: node spacing.
        band: nodes within this distance are exact and left unchanged.
    """
    origin = np.asarray(origin, dtype=np.float64)
    for axis in range(2):
        for step in (1, -1):
            _sweep(dist2, tid, closest, origin, float(spacing), float(band) ** 2, axis, step)


@numba.njit(cache=True, parallel=True)
def _from_coarse(dist2, tid, closest, ctid, cclosest, origin, spacing, band2):
    """Every far fine node takes the nearest of the closest points of its 2 x 2 x 2 coarse corners."""
    nx, ny, nz = dist2.shape
    mx, my, mz = ctid.shape
    for i in numba.prange(nx):
        px = origin[0] + i * spacing
        i0 = i // 2
        i1 = min(i0 + i % 2, mx - 1)
        for j in range(ny):
            py = origin[1] + j * spacing
            j0 = j // 2
            j1 = min(j0 + j % 2, my - 1)
            for k in range(nz):
                best = dist2[i, j, k]
                if best <= band2:
                    continue
                pz = origin[2] + k * spacing
                k0 = k // 2
                k1 = min(k0 + k % 2, mz - 1)
                src = (np.int64(-1), np.int64(-1), np.int64(-1))
                for a in (i0, i1):
                    for b in (j0, j1):
                        for c in (k0, k1):
                            best, src = _take(ctid, cclosest, px, py, pz, best, src, a, b, c)
                if src[0] >= 0:
                    _copy(dist2, tid, closest, i, j, k, best, ctid, cclosest, src[0], src[1], src[2])


def sweep_coarse(
    dist2: np.ndarray, tid: np.ndarray, closest: np.ndarray, origin: np.ndarray, spacing: float, band: float
) -> None:
    """:func:`sweep_closest_points` on every second node, then the others from their coarse corners.

    Eight times fewer nodes are swept; each remaining far node takes the nearest of the closest
    points of the (up to) eight coarse nodes around it. Same arguments, same guarantees (every
    value is the distance to a real surface point), a little less accurate far from the surface.
    """
    cdist2 = np.ascontiguousarray(dist2[::2, ::2, ::2])
    ctid = np.ascontiguousarray(tid[::2, ::2, ::2])
    cclosest = np.ascontiguousarray(closest[::2, ::2, ::2])
    sweep_closest_points(cdist2, ctid, cclosest, origin, 2 * spacing, band)
    _from_coarse(
        dist2,
        tid,
        closest,
        ctid,
        cclosest,
        np.asarray(origin, dtype=np.float64),
        float(spacing),
        float(band) ** 2,
    )


def vertex_stars(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Triangles around every vertex, with coincident vertices welded (soups share no indices).

    Returns:
        ``corners`` (F, 3) int64 welded vertex index of every triangle corner; ``offsets`` (W+1,)
        int64 and ``star`` (3F,) int32: the triangles around welded vertex w are
        ``star[offsets[w]:offsets[w + 1]]``.
    """
    _, welded = np.unique(np.asarray(vertices, dtype=np.float64), axis=0, return_inverse=True)
    corners = welded.reshape(-1)[np.asarray(faces, dtype=np.int64)]
    flat = corners.reshape(-1)
    order = np.argsort(flat, kind="stable")
    offsets = np.searchsorted(flat[order], np.arange(welded.max() + 2))
    return corners, offsets.astype(np.int64), (order // 3).astype(np.int32)


@numba.njit(cache=True, parallel=True)
def _descend(nodes, dist2, tid, start_tid, tri, corners, offsets, star, origin, spacing):
    nx, ny, nz = dist2.shape
    for n in numba.prange(nodes.shape[0]):
        i, j, k = nodes[n, 0], nodes[n, 1], nodes[n, 2]
        px = origin[0] + i * spacing
        py = origin[1] + j * spacing
        pz = origin[2] + k * spacing
        t = start_tid[i, j, k]
        best = point_triangle_distance2(px, py, pz, tri, t)
        # Start from the best of the node's and its 26 neighbours' triangles.
        for da in range(-1, 2):
            for db in range(-1, 2):
                for dc in range(-1, 2):
                    a, b, c = i + da, j + db, k + dc
                    if a < 0 or b < 0 or c < 0 or a >= nx or b >= ny or c >= nz:
                        continue
                    u = start_tid[a, b, c]
                    if u < 0 or u == t:
                        continue
                    d = point_triangle_distance2(px, py, pz, tri, u)
                    if d < best:
                        best = d
                        t = u
        while True:
            start = t
            for c in range(3):
                w = corners[start, c]
                for s in range(offsets[w], offsets[w + 1]):
                    u = star[s]
                    if u == start:
                        continue
                    d = point_triangle_distance2(px, py, pz, tri, u)
                    if d < best:
                        best = d
                        t = u
            if t == start:
                break
        dist2[i, j, k] = best
        tid[i, j, k] = t


def refine_by_descent(
    nodes: np.ndarray,
    dist2: np.ndarray,
    tid: np.ndarray,
    tri: np.ndarray,
    stars: tuple[np.ndarray, np.ndarray, np.ndarray],
    origin: np.ndarray,
    spacing: float,
    passes: int = 2,
) -> None:
    """Improve the distances of ``nodes`` by descent over the mesh from their swept triangles, in place.

    Every pass starts each node from the best of its own and its 26 neighbours' triangles as they
    were when the pass began (a snapshot, so the result does not depend on the thread count), so a
    second pass hands on what the first found.

    Args:
        nodes: (M, 3) int64 grid indices to refine.
        dist2, tid: as in :func:`sweep_closest_points` (``closest`` is not updated).
        tri: (F, 9) float64 triangle corners.
        stars: the output of :func:`vertex_stars`.
        origin: (3,) position of node (0, 0, 0).
        spacing: node spacing.
        passes: number of passes.
    """
    corners, offsets, star = stars
    nodes = np.ascontiguousarray(nodes, dtype=np.int64)
    for _ in range(passes):
        _descend(
            nodes,
            dist2,
            tid,
            tid.copy(),
            tri,
            corners,
            offsets,
            star,
            np.asarray(origin, dtype=np.float64),
            float(spacing),
        )
