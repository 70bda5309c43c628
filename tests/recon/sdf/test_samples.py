"""Sample presets reproduce their distributions (shares, sigma, bands, volume) and their values."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import trimesh

igl = pytest.importorskip("igl")
pytest.importorskip("numba")

from recon.sdf.grid import GridSpec, sdf_grid  # noqa: E402
from recon.sdf.samples import (  # noqa: E402
    DISN_BANDS,
    disn_samples,
    gaussian_samples,
    occupancy_samples,
    point_sdf,
    surface_samples,
)


def _distance_to(mesh, points):
    d, *_ = igl.signed_distance(
        np.asarray(points, np.float64),
        mesh.vertices.astype(np.float64),
        mesh.faces.astype(np.int64),
        igl.SIGNED_DISTANCE_TYPE_UNSIGNED,
    )
    return np.abs(d)


def test_point_sdf_of_a_sphere():
    mesh = trimesh.creation.icosphere(5, radius=0.6)
    points = np.random.default_rng(0).uniform(-1, 1, size=(2000, 3))
    analytic = np.linalg.norm(points, axis=1) - 0.6
    sdf = point_sdf(mesh.vertices, mesh.faces, points)
    assert sdf.dtype == np.float32
    np.testing.assert_allclose(sdf, analytic, atol=2e-4)  # facet sagitta of icosphere(5)


def test_surface_samples_are_on_the_surface_area_weighted_with_face_normals():
    small = trimesh.creation.box((0.2, 0.2, 0.2))
    big = trimesh.creation.box(
        (1.0, 1.0, 1.0), transform=trimesh.transformations.translation_matrix([2, 0, 0])
    )
    mesh = trimesh.util.concatenate([small, big])
    points, normals = surface_samples(mesh.vertices, mesh.faces, 20000, np.random.default_rng(1))
    assert _distance_to(mesh, points).max() < 1e-9
    share = np.mean(points[:, 0] > 1.0)  # on the big box
    expected = big.area / (big.area + small.area)
    assert abs(share - expected) < 4 * np.sqrt(expected * (1 - expected) / len(points))
    _, _, tri = trimesh.proximity.closest_point(mesh, points[:500])
    np.testing.assert_allclose(np.abs((normals[:500] * mesh.face_normals[tri]).sum(axis=1)), 1.0, atol=1e-9)
    same = surface_samples(mesh.vertices, mesh.faces, 20000, np.random.default_rng(1))[0]
    assert np.array_equal(points, same)


def test_gaussian_samples_recover_their_sigmas_and_uniform_share():
    # A large flat face: the SDF of a near-surface point is its offset along the normal.
    mesh = trimesh.creation.box((4.0, 4.0, 4.0))
    sigmas = (0.071, 0.022)
    points, sdf = gaussian_samples(
        mesh.vertices, mesh.faces, np.random.default_rng(2), 30000, sigmas, 0.1, (-2.5, 2.5)
    )
    assert points.shape == (30000, 3) and points.dtype == np.float32 and sdf.dtype == np.float32
    np.testing.assert_allclose(sdf, point_sdf(mesh.vertices, mesh.faces, points), atol=1e-6)
    near = sdf[:27000]
    for k, sigma in enumerate(sigmas):
        part = near[k * 13500 : (k + 1) * 13500]
        part = part[np.abs(part) < 5 * sigma]  # corners and edges aside
        assert np.std(part) == pytest.approx(sigma, rel=0.05)
    uniform = points[27000:]
    assert uniform.min() >= -2.5 and uniform.max() <= 2.5 and abs(uniform.mean()) < 0.05


def test_disn_samples_take_a_quarter_from_each_band():
    mesh = trimesh.creation.icosphere(4, radius=0.6)
    spec = GridSpec(96)  # fine enough for 2,000 nodes in each 0.03-thick shell
    grid = sdf_grid(mesh.vertices, mesh.faces, spec)
    points, sdf, counts = disn_samples(grid, spec, np.random.default_rng(3), n=8000)
    assert counts.tolist() == [2000, 2000, 2000, 2000]
    d = sdf.astype(np.float64) - 0.003
    for i, (lo, hi) in enumerate(itertools.pairwise(DISN_BANDS)):
        assert np.sum((d >= lo) & (d < hi)) == counts[i]
    # The values are the grid's values at those nodes.
    np.testing.assert_allclose(sdf, point_sdf(mesh.vertices, mesh.faces, points), atol=1e-3)


def test_disn_short_band_passes_its_quota_on():
    # A synthetic grid with 100 nodes in the deepest band and 3,000 in each other band.
    spec = GridSpec(24)
    values = np.full(spec.resolution**3, 0.5, dtype=np.float32)  # outside every band
    for start, value, count in ((0, -0.05, 100), (100, -0.01, 3000), (3100, 0.01, 3000), (6100, 0.05, 3000)):
        values[start : start + count] = value + 0.003
    grid = values.reshape(24, 24, 24)
    points, sdf, counts = disn_samples(grid, spec, np.random.default_rng(4), n=8000)
    # The deep band gives its 100 nodes once each and passes 1,900 on; the next band then wants
    # 3,900 of its 3,000 nodes, gives all once and passes 900 on to the third.
    assert counts.tolist() == [100, 3000, 2900, 2000]
    deep = np.isclose(sdf, -0.05 + 0.003)
    assert deep.sum() == 100 and len(np.unique(points[deep], axis=0)) == 100
    # Every band short: whatever is left after the last one goes back to the first.
    _, _, counts = disn_samples(grid, spec, np.random.default_rng(4), n=20000)
    assert counts.tolist() == [20000 - 9000, 3000, 3000, 3000]


def test_occupancy_inside_share_is_the_volume_share():
    radius = 0.6
    mesh = trimesh.creation.icosphere(5, radius=radius)
    points, packed = occupancy_samples(mesh.vertices, mesh.faces, np.random.default_rng(5), n=40000)
    assert points.dtype == np.float16 and packed.dtype == np.uint8 and packed.size == 5000
    inside = np.unpackbits(packed)[:40000].astype(bool)
    expected = (4 / 3 * np.pi * radius**3) / 2.2**3
    assert abs(inside.mean() - expected) < 4 * np.sqrt(expected * (1 - expected) / 40000)
    r = np.linalg.norm(points.astype(np.float64), axis=1)
    assert np.all(inside[r < radius - 0.01]) and not np.any(inside[r > radius + 0.01])
    near_points, _ = occupancy_samples(
        mesh.vertices, mesh.faces, np.random.default_rng(5), n=1000, near_fraction=0.5, sigma=0.01
    )
    assert np.abs(np.linalg.norm(near_points[500:].astype(np.float64), axis=1) - radius).max() < 0.1
