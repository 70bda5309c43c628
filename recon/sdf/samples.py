"""Point samples with signed distances or occupancies: the sample groups of DeepSDF, DISN and ONet.

All draws come from the generator passed in (the stage seeds it with
``rng(seed, "sdf", category, shape_id, group)``). Points are in the world frame; SDF values
are negative inside, in world units.

- surface points: area-weighted, with their face normals
  (:func:`recon.geometry.sampling.surface_samples`).
- :func:`gaussian_samples` (DeepSDF / mesh_to_sdf): surface points moved by isotropic
  N(0, sigma^2) offsets, one equal share per sigma, plus a uniform share in the box; exact SDF.
- :func:`disn_samples` (DISN ``preprocessing/create_point_sdf_grid.py:sample_sdf``): grid nodes
  drawn in four SDF bands around the iso level, a quarter each, with replacement, a band short of
  nodes drawing as many times as it has nodes and passing its deficit to the next; the last
  band's deficit is lost, as in DISN (:func:`disn_band_counts`).
- :func:`occupancy_samples` (Occupancy Networks ``sample_mesh.py``): points uniform in the box,
  optionally a near-surface share, with inside/outside labels, bit-packed.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from recon.geometry.grid import GridSpec
from recon.geometry.sampling import inside_points, surface_samples

__all__ = [
    "DISN_BANDS",
    "disn_band_counts",
    "disn_samples",
    "gaussian_samples",
    "occupancy_samples",
    "point_sdf",
]

#: DISN's SDF bands around the iso level (``sdf - iso`` in [b_i, b_{i+1})).
DISN_BANDS = (-0.1, -0.03, 0.0, 0.03, 0.1)


def point_sdf(
    vertices: np.ndarray,
    faces: np.ndarray,
    points: np.ndarray,
    grid: np.ndarray | None = None,
    spec: GridSpec | None = None,
) -> np.ndarray:
    """Exact signed distances of (N, 3) points; (N,) float32.

    Distance from libigl's AABB tree, sign from :func:`recon.geometry.sampling.inside_points`
    (``grid`` and ``spec`` only save work; they do not change the result).
    """
    import igl

    v = np.ascontiguousarray(vertices, dtype=np.float64)
    f = np.ascontiguousarray(faces, dtype=np.int64)
    p = np.ascontiguousarray(points, dtype=np.float64)
    if len(p) == 0:
        return np.zeros(0, np.float32)
    distance, *_ = igl.signed_distance(p, v, f, igl.SIGNED_DISTANCE_TYPE_UNSIGNED)
    inside = inside_points(v, f, p, grid, spec)
    return np.where(inside, -np.abs(distance), np.abs(distance)).astype(np.float32)


def gaussian_samples(
    vertices: np.ndarray,
    faces: np.ndarray,
    rng: np.random.Generator,
    n: int,
    sigmas: Sequence[float],
    uniform_fraction: float,
    box: tuple,
    grid: np.ndarray | None = None,
    spec: GridSpec | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Near-surface Gaussian samples plus uniform ones, with exact SDF.

    Args:
        vertices, faces: the mesh, world frame.
        rng: generator.
        n: total number of points.
        sigmas: standard deviations of the offsets (world units), one equal share of the
            near-surface points each.
        uniform_fraction: share of points uniform in ``box``.
        box: ``(lo, hi)``, the box the uniform points fill: numbers (the cube ``[lo, hi]^3``) or
            (x, y, z) corners (a grid's :attr:`GridSpec.lo` and :attr:`GridSpec.hi`).
        grid, spec: the shape's SDF grid, to skip winding numbers far from the surface
            (:func:`recon.geometry.sampling.inside_points`).

    Returns:
        ``points`` (n, 3) float32 and ``sdf`` (n,) float32; uniform points come last.
    """
    n_uniform = round(n * uniform_fraction)
    n_near = n - n_uniform
    shares = np.diff(np.round(np.linspace(0, n_near, len(sigmas) + 1)).astype(int))
    base, _ = surface_samples(vertices, faces, n_near, rng)
    offsets = np.concatenate([rng.normal(0.0, s, size=(k, 3)) for s, k in zip(sigmas, shares, strict=True)])
    uniform = rng.uniform(box[0], box[1], size=(n_uniform, 3))
    points = np.concatenate([base + offsets, uniform])
    points = points.astype(np.float32)
    return points, point_sdf(vertices, faces, points, grid, spec)


def disn_band_counts(sizes: Sequence[int], n: int) -> list[int]:
    """DISN's number of draws per band, given how many grid nodes each band holds.

    DISN's ``sample_sdf`` (``preprocessing/create_point_sdf_grid.py``, lines 74-113) gives each of
    the k bands ``int(n / k)`` draws; a band with fewer nodes than it is due draws once per node
    (still with replacement) and adds the difference to the next band's due; the last band's
    difference, and the remainder of ``n / k``, are lost.

    Args:
        sizes: nodes in each band, in band order.
        n: points asked for.

    Returns:
        Draws per band; their sum is at most ``n``.
    """
    counts = [int(n) // len(sizes)] * len(sizes)
    for i, size in enumerate(sizes):
        if size < counts[i]:
            if i + 1 < len(counts):
                counts[i + 1] += counts[i] - size
            counts[i] = int(size)
    return counts


def disn_samples(
    grid: np.ndarray,
    spec: GridSpec,
    rng: np.random.Generator,
    n: int = 32768,
    iso: float = 0.003,
    bands: Sequence[float] = DISN_BANDS,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """DISN's band-stratified samples of grid nodes, always ``n`` of them.

    Nodes are bucketed by ``d = sdf - iso`` into ``[bands[i], bands[i+1])``, in float32 as DISN
    computes it; each bucket gets the draws :func:`disn_band_counts` gives it, uniform over its
    nodes with replacement (DISN's ``np.random.randint``). When the draws add up to m < n (the
    last band ran short, or ``n`` is not a multiple of the number of bands), DISN keeps only m
    points; here the first m rows are those and the other n - m repeat them, each draw once per
    round in a seeded random order, so every shape stores n points and drawing uniformly from
    them weights DISN's m points equally (to within one repeat).

    Returns:
        ``points`` (n, 3) float32 node positions, ``sdf`` (n,) float32 (the grid values, not
        shifted by ``iso``), and ``counts`` (buckets,) int, DISN's draws per bucket (n minus their
        sum rows are repeats).

    Raises:
        ValueError: no draws at all (no grid node in any band, or ``n`` below the band count).
    """
    values = np.asarray(grid, dtype=np.float32).reshape(-1)
    d = values - np.float32(iso)
    edges = np.asarray(bands, dtype=np.float32)
    nodes = [np.flatnonzero((d >= lo) & (d < hi)) for lo, hi in itertools.pairwise(edges)]
    counts = np.array(disn_band_counts([len(m) for m in nodes], n), dtype=int)
    if counts.sum() == 0:
        raise ValueError(
            f"no DISN draws: {n} points over bands holding {[len(m) for m in nodes]} grid nodes "
            "(the mesh is empty, the grid misses it, or fewer points than bands)"
        )
    picked = np.concatenate(
        [
            members[rng.integers(0, len(members), size=k)]
            for members, k in zip(nodes, counts, strict=True)
            if k
        ]
    )
    if len(picked) < n:
        picked = np.concatenate([picked, picked[np.resize(rng.permutation(len(picked)), n - len(picked))]])
    i, j, k = np.unravel_index(picked, np.shape(grid))
    x, y, z = spec.axes
    points = np.stack([x[i], y[j], z[k]], axis=1)
    return points.astype(np.float32), values[picked], counts


def occupancy_samples(
    vertices: np.ndarray,
    faces: np.ndarray,
    rng: np.random.Generator,
    n: int = 100_000,
    box: tuple[float, float] = (-1.1, 1.1),
    near_fraction: float = 0.0,
    sigma: float = 0.01,
    grid: np.ndarray | None = None,
    spec: GridSpec | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Occupancy Networks' labelled points: uniform in the box, plus an optional near-surface share.

    Returns:
        ``points`` (n, 3) float16 (as ONet stores them) and ``occupancies`` (ceil(n / 8),) uint8,
        ``numpy.packbits`` of inside labels (inside = generalized winding number > 0.5 in size).
    """
    n_near = round(n * near_fraction)
    uniform = rng.uniform(box[0], box[1], size=(n - n_near, 3))
    base, _ = surface_samples(vertices, faces, n_near, rng) if n_near else (np.zeros((0, 3)), None)
    near = base + rng.normal(0.0, sigma, size=base.shape)
    points = np.concatenate([uniform, near]).astype(np.float16)
    inside = inside_points(vertices, faces, points.astype(np.float64), grid, spec)
    return points, np.packbits(inside)
