"""First hits of rays on triangle soups: brute-force Möller-Trumbore in NumPy, edge cases, validation."""

from __future__ import annotations

import numba
import numpy as np
import pytest
import trimesh

from recon.geometry.raycast import first_hit


def _brute_force(vertices, faces, origins, directions, max_distance=np.inf):
    """Textbook Möller-Trumbore over all rays x triangles.

    Returns (N,) smallest t (inf: none), (N,) its triangle (-1: none) and (N,) the second smallest t.
    """
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    a = v[f[:, 0]]
    e1 = v[f[:, 1]] - a
    e2 = v[f[:, 2]] - a
    o = np.asarray(origins, dtype=np.float64)[:, None, :]
    d = np.asarray(directions, dtype=np.float64)[:, None, :]
    p = np.cross(d, e2[None])
    det = np.sum(e1[None] * p, axis=-1)
    s = o - a[None]
    q = np.cross(s, e1[None])
    with np.errstate(divide="ignore", invalid="ignore"):
        u = np.sum(s * p, axis=-1) / det
        w = np.sum(d * q, axis=-1) / det
        t = np.sum(e2[None] * q, axis=-1) / det
    ok = (det != 0) & (u >= 0) & (u <= 1) & (w >= 0) & (u + w <= 1) & (t >= 0) & (t <= max_distance)
    t = np.where(ok, t, np.inf)
    order = np.sort(t, axis=1)
    runner_up = order[:, 1] if t.shape[1] > 1 else np.full(len(t), np.inf)
    return order[:, 0], np.where(np.isfinite(order[:, 0]), np.argmin(t, axis=1), -1), runner_up


def _check_against_brute_force(vertices, faces, origins, directions, max_distance=np.inf):
    t, tri = first_hit(vertices, faces, origins, directions, max_distance)
    t_ref, tri_ref, runner_up = _brute_force(vertices, faces, origins, directions, max_distance)
    assert t.dtype == np.float64 and tri.dtype == np.int64
    assert t.shape == tri.shape == (len(origins),)
    np.testing.assert_array_equal(np.isfinite(t), np.isfinite(t_ref))
    hit = np.isfinite(t_ref)
    np.testing.assert_allclose(t[hit], t_ref[hit], rtol=0, atol=1e-9)
    assert np.all(tri[~hit] == -1)
    unique = hit & ~(runner_up - np.where(hit, t_ref, 0.0) <= 1e-9)
    np.testing.assert_array_equal(tri[unique], tri_ref[unique])
    return t, tri, hit


def test_icosphere_random_rays_match_brute_force():
    rng = np.random.default_rng(1)
    centre = np.array([0.1, -0.2, 0.05])
    mesh = trimesh.creation.icosphere(subdivisions=3, radius=0.8)
    mesh.apply_translation(centre)
    n = 1500
    outside = rng.normal(size=(n, 3))
    outside *= rng.uniform(1.0, 3.0, size=(n, 1)) / np.linalg.norm(outside, axis=1, keepdims=True)
    targets = rng.uniform(-1.0, 1.0, size=(n, 3))
    origins = np.concatenate([outside, centre + rng.uniform(-0.4, 0.4, size=(n, 3))])
    directions = np.concatenate([targets - outside, rng.normal(size=(n, 3))])
    _, _, hit = _check_against_brute_force(mesh.vertices, mesh.faces, origins, directions)
    assert hit[n:].all()  # every ray from inside the closed sphere leaves it
    assert 0.5 * n < hit[:n].sum() < n  # both hits and misses from outside
    _check_against_brute_force(mesh.vertices, mesh.faces, origins, directions, max_distance=0.9)


def test_random_soup_matches_brute_force_and_scales_with_direction_length():
    rng = np.random.default_rng(2)
    centres = rng.uniform(-1.0, 1.0, size=(400, 1, 3))
    sizes = np.where(rng.random((400, 1, 1)) < 0.05, 1.5, 0.1)  # a few large triangles across many cells
    vertices = (centres + sizes * rng.normal(size=(400, 3, 3))).reshape(-1, 3)
    faces = np.arange(1200).reshape(400, 3)
    origins = rng.uniform(-2.0, 2.0, size=(2000, 3))
    directions = rng.normal(size=(2000, 3)) * rng.uniform(0.1, 5.0, size=(2000, 1))
    t, tri, hit = _check_against_brute_force(vertices, faces, origins, directions)
    assert 0.2 * len(t) < hit.sum() < len(t)
    t3, tri3 = first_hit(vertices, faces, origins, 3.0 * directions)
    np.testing.assert_allclose(t3[hit], t[hit] / 3.0, rtol=1e-12)
    np.testing.assert_array_equal(tri3, tri)


def test_flat_mesh_matches_brute_force():
    """A planar grid of triangles: the acceleration grid is one cell thick along z."""
    rng = np.random.default_rng(3)
    mesh = trimesh.creation.box(extents=(2.0, 2.0, 1.0))
    flat = trimesh.Trimesh(*trimesh.remesh.subdivide_to_size(mesh.vertices, mesh.faces, 0.1), process=False)
    top = flat.vertices[flat.faces][:, :, 2].min(axis=1) > 0.49
    vertices, faces = flat.vertices, flat.faces[top]
    origins = rng.uniform(-1.5, 1.5, size=(1000, 3))
    directions = rng.uniform(-1.0, 1.0, size=(1000, 3)) - origins * [0, 0, 1]
    _, _, hit = _check_against_brute_force(vertices, faces, origins, directions)
    assert hit.any() and not hit.all()


def test_edges_vertices_and_grazing_rays():
    square = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 1.0, 0.0]])
    faces = np.array([[0, 1, 2], [0, 2, 3]])
    origins = np.array(
        [
            [0.5, 0.5, 1.0],  # through the shared diagonal edge
            [0.0, 0.0, 2.0],  # through the shared vertex
            [0.3, 0.8, -0.5],  # from below: both sides count
            [-1.0, 0.5, 0.0],  # in the plane: never hits
            [0.2, 0.3, 0.0],  # starts on the triangle: t = 0
            [0.5, 0.5, 1.0],  # points away
            [0.5, 0.5, 1.0],  # zero direction
        ]
    )
    directions = np.array(
        [[0, 0, -1], [0, 0, -0.5], [0, 0, 2], [1, 0, 0], [1, 1, 1], [0, 0, 1], [0, 0, 0]], dtype=float
    )
    t, tri = first_hit(square, faces, origins, directions)
    np.testing.assert_allclose(t[:3], [1.0, 4.0, 0.25], rtol=0, atol=1e-15)
    assert t[4] == 0.0
    assert np.isinf(t[[3, 5, 6]]).all()
    assert tri.tolist() == [0, 0, 1, -1, 1, -1, -1]  # ties go to the lowest index


def test_box_grazing_along_faces_and_edges():
    """Rays in the plane of the top face of [-1, 1]^3 hit the side face on its edge, at t = 2."""
    box = trimesh.creation.box(extents=(2.0, 2.0, 2.0))
    origins = np.array([[-3.0, 0.1, 1.0], [-3.0, 1.0, 1.0], [-3.0, -0.7, -1.0], [0.3, 5.0, 1.0]])
    directions = np.array([[1.0, 0, 0], [1.0, 0, 0], [2.0, 0, 0], [0, -1.0, 0]])
    t, tri = first_hit(box.vertices, box.faces, origins, directions)
    np.testing.assert_allclose(t, [2.0, 2.0, 1.0, 4.0], rtol=0, atol=1e-12)
    assert np.all(tri >= 0)
    faces = box.vertices[box.faces[tri]]
    assert np.allclose(faces[0, :, 0], -1.0) and np.allclose(faces[3, :, 1], 1.0)  # the faces met


def test_empty_and_degenerate_meshes_and_no_rays():
    rng = np.random.default_rng(4)
    origins = rng.normal(size=(50, 3))
    directions = rng.normal(size=(50, 3))
    for vertices, faces in [
        (np.zeros((0, 3)), np.zeros((0, 3), int)),
        (np.array([[0.0, 0, 0], [1, 0, 0], [2, 0, 0]]), np.array([[0, 1, 2], [0, 0, 1]])),
    ]:
        t, tri = first_hit(vertices, faces, origins, directions)
        assert np.isinf(t).all() and (tri == -1).all() and t.shape == (50,)
    t, tri = first_hit(np.eye(3), [[0, 1, 2]], np.zeros((0, 3)), np.zeros((0, 3)))
    assert t.shape == tri.shape == (0,)


def test_thread_count_does_not_change_the_result():
    rng = np.random.default_rng(5)
    mesh = trimesh.creation.icosphere(subdivisions=4, radius=0.9)
    origins = rng.uniform(-1.5, 1.5, size=(3000, 3))
    directions = rng.normal(size=(3000, 3))
    t2, tri2 = first_hit(mesh.vertices, mesh.faces, origins, directions)
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        t1, tri1 = first_hit(mesh.vertices, mesh.faces, origins, directions)
    finally:
        numba.set_num_threads(threads)
    np.testing.assert_array_equal(t1, t2)
    np.testing.assert_array_equal(tri1, tri2)


def test_validation():
    v, f = np.eye(3), [[0, 1, 2]]
    with pytest.raises(ValueError, match="origins and directions"):
        first_hit(v, f, np.zeros((2, 3)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="finite"):
        first_hit(v, f, [[0.0, np.nan, 0.0]], [[1.0, 0.0, 0.0]])
    with pytest.raises(ValueError, match="face indices"):
        first_hit(v, [[0, 1, 3]], [[0.0, 0.0, 0.0]], [[1.0, 0.0, 0.0]])
    with pytest.raises(ValueError, match="max_distance"):
        first_hit(v, f, [[0.0, 0.0, 0.0]], [[1.0, 0.0, 0.0]], max_distance=-1.0)
