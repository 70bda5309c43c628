"""The canonical frame against analytic shapes and DISN's sampled estimate."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from recon.geometry.normalize import HALF_EXTENT, normalization


def test_unit_sphere_of_an_offset_box_is_analytic():
    box = trimesh.creation.box((2.0, 4.0, 6.0))
    box.apply_translation([10.0, -3.0, 5.0])
    n = normalization(box.vertices, box.faces, "unit_sphere")
    np.testing.assert_allclose(n.center, [10.0, -3.0, 5.0], atol=1e-12)
    assert n.scale == pytest.approx(1 / np.sqrt(1 + 4 + 9))
    out = n.apply(box.vertices)
    assert np.linalg.norm(out, axis=1).max() == pytest.approx(1.0)


def test_unit_sphere_centroid_is_area_weighted_not_vertex_mean():
    # Refine only the top face of a cube: the vertex mean moves up, the surface centroid does not.
    box = trimesh.creation.box((1, 1, 1))
    vertices, faces = box.vertices, box.faces
    for _ in range(3):
        top = np.flatnonzero(np.isclose(vertices[faces][:, :, 2], 0.5).all(axis=1))
        vertices, faces = trimesh.remesh.subdivide(vertices, faces, face_index=top)
    assert vertices.mean(axis=0)[2] > 0.1
    n = normalization(vertices, faces, "unit_sphere")
    np.testing.assert_allclose(n.center, 0.0, atol=1e-12)
    assert n.scale == pytest.approx(2 / np.sqrt(3))


def test_unit_sphere_matches_disn_sampling_estimate():
    """DISN estimates centre and radius from 16,384 area-weighted samples; ours is their limit."""
    mesh = trimesh.util.concatenate(
        [
            trimesh.creation.box((1.0, 0.2, 0.6)),
            trimesh.creation.cylinder(
                0.1, 1.5, transform=trimesh.transformations.translation_matrix([0.4, -0.8, 0])
            ),
        ]
    )
    n = normalization(mesh.vertices, mesh.faces, "unit_sphere")
    samples, _ = trimesh.sample.sample_surface(mesh, 16384, seed=0)
    disn_center = samples.mean(axis=0)
    disn_radius = np.linalg.norm(samples - disn_center, axis=1).max()
    size = 1 / n.scale
    # Sample mean: standard error ~ spread / sqrt(16384) < 1% of the size.
    assert np.linalg.norm(disn_center - n.center) < 0.01 * size
    # The sampled maximum approaches the true maximum from below.
    assert disn_radius <= size * (1 + 0.01) and disn_radius > 0.97 * size


def test_unit_cube_with_padding():
    box = trimesh.creation.box((2.0, 4.0, 1.0))
    box.apply_translation([1.0, 2.0, 3.0])
    n = normalization(box.vertices, box.faces, "unit_cube", padding=0.1)
    out = n.apply(box.vertices)
    np.testing.assert_allclose(out.min(axis=0), [-0.25 / 1.1, -0.5 / 1.1, -0.125 / 1.1])
    np.testing.assert_allclose(out.max(axis=0), [0.25 / 1.1, 0.5 / 1.1, 0.125 / 1.1])


def test_every_method_fits_the_surface_in_its_half_extent_cube():
    # The voxel grids and the occupancy points' cube are built on HALF_EXTENT: the surface must
    # fit, and touch it (a long thin box: the unit ball's cube is not tight on the short axes).
    box = trimesh.creation.box((3.0, 0.5, 0.2))
    box.apply_translation([2.0, -1.0, 0.5])
    for method, half in HALF_EXTENT.items():
        out = normalization(box.vertices, box.faces, method).apply(box.vertices)
        assert np.abs(out).max() <= half + 1e-12
        touch = np.linalg.norm(out, axis=1).max() if method == "unit_sphere" else np.abs(out).max()
        assert touch == pytest.approx(half)


def test_transform_round_trip_and_matrices():
    rng = np.random.default_rng(0)
    mesh = trimesh.creation.icosphere(2)
    mesh.apply_scale(3.7)
    mesh.apply_translation([5, -1, 2])
    n = normalization(mesh.vertices, mesh.faces, "unit_sphere")
    points = rng.normal(size=(100, 3))
    np.testing.assert_allclose(n.invert(n.apply(points)), points, atol=1e-12)
    homog = np.c_[points, np.ones(len(points))]
    np.testing.assert_allclose((homog @ n.matrix.T)[:, :3], n.apply(points), atol=1e-12)
    np.testing.assert_allclose(n.matrix @ n.inverse, np.eye(4), atol=1e-12)
    attrs = n.to_attrs()
    assert attrs["method"] == "unit_sphere" and np.allclose(attrs["matrix"], n.matrix)


def test_unreferenced_vertices_do_not_count():
    box = trimesh.creation.box()
    vertices = np.vstack([box.vertices, [[100.0, 100.0, 100.0]]])
    for method in ("unit_sphere", "unit_cube"):
        a = normalization(vertices, box.faces, method)
        b = normalization(box.vertices, box.faces, method)
        assert a.scale == pytest.approx(b.scale) and np.allclose(a.center, b.center)


def test_unknown_method():
    box = trimesh.creation.box()
    with pytest.raises(ValueError, match="unknown normalization 'unit_ball'"):
        normalization(box.vertices, box.faces, "unit_ball")
