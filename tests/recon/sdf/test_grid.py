"""SDF grids against analytic shapes, brute-force distances and libigl, on soups that break ray parity."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

pytest.importorskip("numba")
igl = pytest.importorskip("igl")

from recon.geometry.grid import GridSpec  # noqa: E402
from recon.geometry.triangles import triangle_table  # noqa: E402
from recon.sdf.grid import sdf_grid  # noqa: E402
from recon.sdf.narrow_band import narrow_band  # noqa: E402

SPEC = GridSpec(resolution=48, lo=-1.1, hi=1.1)


def _unsigned(points, mesh):
    """Exact unsigned distances from libigl's AABB tree (independent of our kernel)."""
    d, _, closest, _ = igl.signed_distance(
        np.ascontiguousarray(points, dtype=np.float64),
        np.ascontiguousarray(mesh.vertices, dtype=np.float64),
        np.ascontiguousarray(mesh.faces, dtype=np.int64),
        igl.SIGNED_DISTANCE_TYPE_UNSIGNED,
    )
    return np.abs(d), closest


def _soup():
    """Three overlapping boxes and a triangle-soup sphere: no boolean union, inner faces everywhere."""
    parts = [
        trimesh.creation.box((1.2, 0.3, 0.5)),
        trimesh.creation.box(
            (0.3, 1.0, 0.3), transform=trimesh.transformations.translation_matrix([0.3, 0.2, 0])
        ),
        trimesh.creation.box(
            (0.5, 0.5, 0.5), transform=trimesh.transformations.translation_matrix([-0.4, -0.3, 0.1])
        ),
        trimesh.creation.icosphere(2, radius=0.35).apply_translation([0.2, -0.4, -0.3]),
    ]
    return trimesh.util.concatenate(parts)


def test_narrow_band_is_exact():
    mesh = _soup()
    h = SPEC.spacing
    tri = triangle_table(mesh.vertices, mesh.faces)
    dist2, tid, closest = narrow_band(tri, np.full(3, SPEC.lo), h, (48, 48, 48), 3 * h)
    band = dist2 <= (3 * h) ** 2
    points = SPEC.points()[band.reshape(-1)]
    reference, _ = _unsigned(points, mesh)
    assert band.sum() > 1000
    np.testing.assert_allclose(np.sqrt(dist2[band]), reference, atol=1e-12)
    # The stored closest points (float32) are on the stored triangle, at that distance.
    np.testing.assert_allclose(np.linalg.norm(points - closest[band], axis=1), reference, atol=1e-6)
    _, _, on_triangle, _ = igl.signed_distance(
        closest[band].astype(np.float64),
        mesh.vertices,
        mesh.faces.astype(np.int64),
        igl.SIGNED_DISTANCE_TYPE_UNSIGNED,
    )
    np.testing.assert_allclose(on_triangle, closest[band], atol=1e-6)
    assert np.all(tid[band] >= 0) and np.all(tid[~band & (tid >= 0)] < len(mesh.faces))


def test_sphere_against_analytic_sdf():
    radius = 0.7
    mesh = trimesh.creation.icosphere(5, radius=radius)
    grid = sdf_grid(mesh.vertices, mesh.faces, SPEC)
    assert grid.dtype == np.float32 and grid.shape == (48, 48, 48)
    r = np.linalg.norm(SPEC.points(), axis=1).reshape(grid.shape) - radius
    # How far the facets dip below the sphere: radius minus the smallest distance of a facet plane.
    sagitta = radius - np.abs(np.einsum("ij,ij->i", mesh.face_normals, mesh.triangles[:, 0])).min()
    band = np.abs(r) < 3 * SPEC.spacing
    assert np.abs(grid - r)[band].max() <= sagitta + 1e-6
    assert np.abs(grid - r).max() <= 0.5 * SPEC.spacing * np.sqrt(3)
    assert np.all(grid[r < -sagitta] < 0) and np.all(grid[r > 0] > 0)


def test_far_field_is_close_to_exact_on_a_soup():
    mesh = _soup()
    grid = sdf_grid(mesh.vertices, mesh.faces, SPEC)
    reference, _ = _unsigned(SPEC.points(), mesh)
    reference = reference.reshape(grid.shape)
    error = np.abs(np.abs(grid) - reference)
    band = reference <= 3 * SPEC.spacing
    assert error[band].max() < 1e-6  # float32 rounding only
    assert error.max() <= 0.5 * SPEC.spacing * np.sqrt(3)
    assert np.all(np.abs(grid) >= reference - 1e-6)  # never below the true distance


def _open_box():
    box = trimesh.creation.box((1.0, 1.0, 1.0))
    top = np.isclose(box.triangles_center[:, 1], 0.5)
    return trimesh.Trimesh(box.vertices, box.faces[~top], process=False)


@pytest.mark.parametrize(
    "name",
    ["open_box", "overlapping_boxes", "inner_faces", "flipped_normals"],
)
def test_signs_on_meshes_that_break_ray_parity(name):
    box = trimesh.creation.box((1.0, 1.0, 1.0))
    if name == "open_box":
        mesh = _open_box()
    elif name == "overlapping_boxes":
        mesh = trimesh.util.concatenate(
            [
                box,
                trimesh.creation.box(
                    (1, 1, 1), transform=trimesh.transformations.translation_matrix([0.4, 0, 0])
                ),
            ]
        )
    elif name == "inner_faces":
        wall = trimesh.creation.box((0.01, 0.9, 0.9))
        mesh = trimesh.util.concatenate([box, wall])
    else:  # every triangle facing inward
        mesh = trimesh.Trimesh(box.vertices, box.faces[:, ::-1], process=False)
    grid = sdf_grid(mesh.vertices, mesh.faces, SPEC)
    pts = SPEC.points().reshape(48, 48, 48, 3)
    lo, hi = mesh.bounds
    margin = 2 * SPEC.spacing
    inside = np.all((pts > lo + margin) & (pts < hi - margin), axis=-1)
    outside = np.any((pts < lo - margin) | (pts > hi + margin), axis=-1)
    if name == "open_box":  # the missing top face: the inside is still the box, below its opening
        inside &= pts[..., 1] < 0.5 - 0.25
    assert np.all(grid[inside] < 0), f"{(grid[inside] >= 0).mean():.3%} wrong inside"
    assert np.all(grid[outside] > 0), f"{(grid[outside] <= 0).mean():.3%} wrong outside"


def test_agrees_with_libigl_signed_distance_on_a_soup():
    """Sign from libigl's winding-number signed distance, magnitude from its AABB distance."""
    mesh = _soup()
    grid = sdf_grid(mesh.vertices, mesh.faces, SPEC).reshape(-1)
    points = SPEC.points()
    rng = np.random.default_rng(0)
    pick = rng.choice(len(points), 5000, replace=False)
    signed, *_ = igl.signed_distance(
        points[pick],
        mesh.vertices.astype(np.float64),
        mesh.faces.astype(np.int64),
        igl.SIGNED_DISTANCE_TYPE_FAST_WINDING_NUMBER,
    )
    reference, _ = _unsigned(points[pick], mesh)
    agree = np.sign(grid[pick]) == np.sign(signed)
    assert agree.mean() > 0.999
    np.testing.assert_allclose(np.abs(grid[pick]), reference, atol=0.5 * SPEC.spacing * np.sqrt(3))


def _box_sdf(points, half):
    """Analytic SDF of an axis-aligned box centred at the origin with half-extents ``half``."""
    q = np.abs(points) - half
    outside = np.linalg.norm(np.maximum(q, 0.0), axis=-1)
    return outside + np.minimum(q.max(axis=-1), 0.0)


def _torus_sdf(points, major, minor):
    ring = np.linalg.norm(points[..., [0, 1]], axis=-1) - major
    return np.hypot(ring, points[..., 2]) - minor


SPEC128 = GridSpec(resolution=128, lo=-1.1, hi=1.1)  # node spacing 0.0173: |d| < 0.1 spans ~6 nodes


def test_box_against_analytic_sdf_exact_within_the_band():
    half = np.array([0.6, 0.35, 0.45])
    mesh = trimesh.creation.box(2 * half)
    grid = sdf_grid(mesh.vertices, mesh.faces, SPEC128)
    exact = _box_sdf(SPEC128.points(), half).reshape(grid.shape)
    error = np.abs(grid - exact)
    band = np.abs(exact) < 0.1
    assert band.sum() > 50_000
    assert error[band].max() <= 1e-4
    assert error.max() <= 0.5 * SPEC128.spacing * np.sqrt(3)
    assert np.all(np.sign(grid[np.abs(exact) > 1e-6]) == np.sign(exact[np.abs(exact) > 1e-6]))


def test_torus_against_analytic_sdf_exact_within_the_band():
    major, minor = 0.6, 0.25
    mesh = trimesh.creation.torus(major, minor, major_sections=512, minor_sections=256)
    grid = sdf_grid(mesh.vertices, mesh.faces, SPEC128)
    exact = _torus_sdf(SPEC128.points(), major, minor).reshape(grid.shape)
    # The facets sit inside the true torus by at most the sagitta of both sections.
    sagitta = minor * (1 - np.cos(np.pi / 256)) + (major + minor) * (1 - np.cos(np.pi / 512))
    assert sagitta < 5e-5
    error = np.abs(grid - exact)
    band = np.abs(exact) < 0.1
    assert band.sum() > 50_000
    assert error[band].max() <= 1e-4
    assert error.max() <= 0.5 * SPEC128.spacing * np.sqrt(3)
    assert np.all(grid[exact < -sagitta] < 0) and np.all(grid[exact > 0] > 0)


def test_fine_sphere_against_analytic_sdf_exact_within_the_band():
    radius = 0.7
    mesh = trimesh.creation.icosphere(6, radius=radius)
    grid = sdf_grid(mesh.vertices, mesh.faces, SPEC128)
    exact = (np.linalg.norm(SPEC128.points(), axis=1) - radius).reshape(grid.shape)
    band = np.abs(exact) < 0.1
    assert np.abs(grid - exact)[band].max() <= 1e-4


def test_refined_band_matches_libigl_on_a_soup():
    """Beyond the rasterized band, descent makes the swept distances exact near the surface."""
    mesh = _soup()
    grid = sdf_grid(mesh.vertices, mesh.faces, SPEC128).reshape(-1)
    points = SPEC128.points()
    near = np.flatnonzero(np.abs(grid) < 0.1)
    pick = np.random.default_rng(1).choice(near, 20_000, replace=False)
    reference, _ = _unsigned(points[pick], mesh)
    err = np.abs(np.abs(grid[pick]) - reference)
    assert np.quantile(err, 0.999) < 1e-6
    assert err.max() < 1e-4
