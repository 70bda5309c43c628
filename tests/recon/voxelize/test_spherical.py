"""GenRe spherical maps: the grid, analytic maps of spheres and boxes, depth-image maps, back-projection."""

from __future__ import annotations

import math

import numpy as np
import pytest
import trimesh
from scipy import ndimage

from recon.geometry.cameras import camera_center, intrinsics, look_at, unproject
from recon.geometry.raycast import first_hit
from recon.geometry.view_frame import view_scale, world_to_view
from recon.voxelize.spherical import (
    depth_mesh,
    partial_spherical_map,
    sphere_grid,
    spherical_map,
    spherical_to_voxels,
)

#: Largest rounding error of a float32 map value in [0, 1] (half an ulp below 1).
F32 = 2.0**-25


def _icosphere(radius: float) -> trimesh.Trimesh:
    mesh = trimesh.creation.icosphere(subdivisions=5)
    mesh.vertices *= radius
    return mesh


def _facet_deficit(radius: float, longest_edge: float) -> float:
    """How far inside a sphere a triangle with corners on it and edges <= L can reach.

    A point ``q = sum w_i p_i`` of a triangle with corners on the sphere has
    ``|q|^2 = r^2 - 1/2 sum_{i != j} w_i w_j |p_i - p_j|^2 >= r^2 - L^2 (1 - sum w_i^2) / 2
    >= r^2 - L^2 / 3``, so ``r - |q| <= r - sqrt(r^2 - L^2 / 3)``.
    """
    return radius - math.sqrt(radius**2 - longest_edge**2 / 3.0)


def test_grid_is_genre_make_sgrid():
    directions, polar, azimuth = sphere_grid(128)
    assert directions.shape == (128, 128, 3) and directions.dtype == np.float64
    assert polar.shape == azimuth.shape == (128,)
    np.testing.assert_allclose(np.linalg.norm(directions, axis=-1), 1.0, rtol=0, atol=1e-15)
    np.testing.assert_allclose(polar, (np.arange(128) + 0.5) * np.pi / 128, rtol=0, atol=1e-15)
    assert polar[0] > 0.0 and polar[-1] < np.pi
    np.testing.assert_allclose(azimuth, np.arange(128) * 2.0 * np.pi / 128, rtol=0, atol=1e-15)
    assert azimuth[0] == 0.0
    # GenRe's own construction (util_sph.make_sgrid, b = 64): angles in degrees by np.linspace.
    phi = np.radians(np.linspace(0, 180, 2 * 128 + 1)[1::2])
    theta = np.radians(np.linspace(0, 360, 128 + 1)[:-1])
    np.testing.assert_allclose(polar, phi, rtol=0, atol=1e-14)
    np.testing.assert_allclose(azimuth, theta, rtol=0, atol=1e-14)
    # Cell [a, b] = (sin p cos q, sin p sin q, cos p): north pole first, azimuth from +x toward +y.
    p = np.pi / 256
    np.testing.assert_allclose(directions[0, 0], [math.sin(p), 0.0, math.cos(p)], atol=1e-15)
    np.testing.assert_allclose(directions[127, 0], [math.sin(p), 0.0, -math.cos(p)], atol=1e-15)
    np.testing.assert_allclose(directions[63, 32], [0.0, math.cos(p), math.sin(p)], atol=1e-15)
    np.testing.assert_allclose(directions[64, 64], [-math.cos(p), 0.0, -math.sin(p)], atol=1e-15)
    small = sphere_grid(4)[0]
    assert small.shape == (4, 4, 3)
    with pytest.raises(ValueError):
        sphere_grid(0)


@pytest.mark.parametrize("radius", [0.3, 0.7])
def test_sphere_map_is_one_minus_radius(radius):
    """Rays are radial, so a hit at distance s is at radius 1 - s: within the facets' deficit of r."""
    mesh = _icosphere(radius)
    sph = spherical_map(mesh.vertices, mesh.faces)
    assert sph.shape == (128, 128) and sph.dtype == np.float32
    deficit = _facet_deficit(radius, float(mesh.edges_unique_length.max()))
    assert deficit < 3e-4 * radius
    assert sph.min() >= 1.0 - radius - F32
    assert sph.max() <= 1.0 - radius + deficit + F32


def test_empty_mesh_map_is_all_ones():
    sph = spherical_map(np.zeros((0, 3)), np.zeros((0, 3), int), resolution=16)
    assert sph.shape == (16, 16) and np.all(sph == 1.0)


def test_box_map_is_analytic():
    """For the box |x_i| <= s_i around the centre, the ray from u along -u hits it at radius
    rho(u) = 1 / max_i(|u_i| / s_i) (the box's radial extent along u), at distance 1 - rho."""
    half = np.array([0.5, 0.3, 0.4])
    box = trimesh.creation.box(extents=2.0 * half)
    directions = sphere_grid(128)[0]
    expected = 1.0 - 1.0 / np.max(np.abs(directions) / half, axis=-1)
    u = directions.reshape(-1, 3)
    t, tri = first_hit(box.vertices, box.faces, u, -u, max_distance=1.0)
    np.testing.assert_allclose(t, expected.ravel(), rtol=0, atol=1e-9)
    assert np.all(tri >= 0)
    sph = spherical_map(box.vertices, box.faces)
    np.testing.assert_allclose(sph, expected, rtol=0, atol=F32)
    # Moved half out of the unit ball, rays from the far side meet nothing before the centre.
    shifted = spherical_map(box.vertices + np.array([1.0, 0.0, 0.0]), box.faces)
    assert np.all(shifted[directions[..., 0] < 0] == 1.0)


def _sphere_view(radius: float, azimuth_deg: float, elevation_deg: float):
    """Analytic depth image of a sphere at the origin: 224 x 224, 35 mm lens on a 32 mm sensor."""
    size = 224
    k = intrinsics(35.0, 32.0, size, size)
    centre = camera_center(azimuth_deg, elevation_deg, 2.5)
    r, t = look_at(centre)
    rt = np.concatenate([r, t[:, None]], axis=1)
    v, u = np.mgrid[0:size, 0:size].astype(np.float64)
    ray_cam = np.stack([u, v, np.ones_like(u)], axis=-1) @ np.linalg.inv(k).T  # camera z = 1
    ray = ray_cam @ r  # world direction of each pixel ray, parametrized by depth
    b = ray @ centre
    a = np.sum(ray * ray, axis=-1)
    disc = b * b - a * (centre @ centre - radius**2)
    mask = disc >= 0.0
    depth = np.where(mask, (-b - np.sqrt(np.maximum(disc, 0.0))) / a, 0.0)
    points = centre + depth[..., None] * ray
    return depth.astype(np.float32), mask, k, rt, centre, points


@pytest.mark.parametrize(("radius", "azimuth", "elevation"), [(0.7, 30.0, 20.0), (0.3, 200.0, -35.0)])
def test_partial_map_of_a_rendered_sphere(radius, azimuth, elevation):
    depth, mask, k, rt, centre, points = _sphere_view(radius, azimuth, elevation)
    partial = partial_spherical_map(depth, mask, k, rt)
    assert partial.shape == (128, 128) and partial.dtype == np.float32
    u = sphere_grid(128)[0]
    distance = float(np.linalg.norm(centre))
    # Tilt of the sphere point r u away from facing the camera: cos = u . (C - r u) / |C - r u|.
    to_camera = centre - radius * u
    cos_tilt = np.sum(u * to_camera, axis=-1) / np.linalg.norm(to_camera, axis=-1)

    # Facets of the depth mesh have corners on the sphere (float32 depths: ~3e-7 off), so they lie
    # inside it by at most r - sqrt(r^2 - L^2 / 3), L their longest edge. L is bounded by the largest
    # distance between the surface points of a 2 x 2 pixel block whose corners are tilted <= 70 deg.
    # Cells tilted <= 60 deg are hit on such blocks (their neighbourhood is a few pixels away from
    # the silhouette and well below the 85-degree slope rule).
    corners = [points[:-1, :-1], points[:-1, 1:], points[1:, :-1], points[1:, 1:]]
    block = mask[:-1, :-1] & mask[:-1, 1:] & mask[1:, :-1] & mask[1:, 1:]
    longest = np.zeros(block.shape)
    corner_cos = np.ones(block.shape)
    for i, p in enumerate(corners):
        g = centre - p
        with np.errstate(invalid="ignore"):  # background pixels sit at the camera: NaN, not kept
            cos_p = np.sum(p / radius * g, axis=-1) / np.linalg.norm(g, axis=-1)
        corner_cos = np.minimum(corner_cos, cos_p)
        for q in corners[i + 1 :]:
            longest = np.maximum(longest, np.linalg.norm(p - q, axis=-1))
    edge = longest[block & (corner_cos >= math.cos(math.radians(70.0)))].max()
    tol = _facet_deficit(radius, edge) + 1e-6
    assert tol < 2e-3

    visible = cos_tilt >= math.cos(math.radians(60.0))
    assert visible.sum() > 1500
    np.testing.assert_allclose(partial[visible], 1.0 - radius, rtol=0, atol=tol)
    # A ray that meets the sphere at a point hidden from the camera cannot reach the seen cap
    # {p . C > r^2} (which holds every depth-mesh triangle) before passing the centre: it reads 1.
    hidden = u @ centre < radius**2 - 1e-3 * distance
    assert hidden.sum() > 6000
    assert np.all(partial[hidden] == 1.0)
    # Every facet lies inside the sphere, so no cell reads less than the full map 1 - r.
    assert partial.min() >= 1.0 - radius - 1e-6


@pytest.mark.parametrize("normalization", ["unit_sphere", "unit_cube"])
def test_view_frame_map_of_a_sphere_is_one_minus_scaled_radius(normalization):
    """Mapped into a view frame (any camera), a sphere of radius r becomes one of radius s r."""
    radius = 0.8
    mesh = _icosphere(radius)
    scale = view_scale(normalization)
    rt = np.concatenate([look_at(camera_center(70.0, 25.0, 2.0))[0], np.zeros((3, 1))], axis=1)
    sph = spherical_map(mesh.vertices @ world_to_view(rt, scale).T, mesh.faces, 64)
    deficit = scale * _facet_deficit(radius, float(mesh.edges_unique_length.max()))
    assert sph.min() >= 1.0 - scale * radius - F32
    assert sph.max() <= 1.0 - scale * radius + deficit + F32


def test_partial_map_in_the_view_frame():
    """A rendered sphere's partial map in the view frame: the camera sits on the frame's -x axis,
    the seen cap is centred on the map's equator at azimuth 180 degrees (column R/2), its cells read
    1 - s r, and the rest 1."""
    radius, scale = 0.7, view_scale("unit_sphere")
    depth, mask, k, rt, centre, _ = _sphere_view(radius, 30.0, 20.0)
    m = world_to_view(rt, scale)
    camera = m @ centre
    np.testing.assert_allclose(camera, [-scale * 2.5, 0.0, 0.0], atol=1e-12)
    partial = partial_spherical_map(depth, mask, k, rt, 64, transform=m)
    assert partial.shape == (64, 64) and partial.dtype == np.float32
    vertices, faces = depth_mesh(depth, mask, k, rt)
    np.testing.assert_array_equal(partial, spherical_map(vertices @ m.T, faces, 64))
    u = sphere_grid(64)[0]
    to_camera = camera - scale * radius * u
    cos_tilt = np.sum(u * to_camera, axis=-1) / np.linalg.norm(to_camera, axis=-1)
    visible = cos_tilt >= math.cos(math.radians(60.0))
    assert visible[31:33, 32].all() and not visible[:, 0].any()  # around azimuth 180, not at 0
    # test_partial_map_of_a_rendered_sphere's bound on the facets, scaled into the view frame.
    np.testing.assert_allclose(partial[visible], 1.0 - scale * radius, rtol=0, atol=scale * 2e-3)
    hidden = u @ camera < (scale * radius) ** 2 - 1e-3  # inside the far side of the seen cap's plane
    assert hidden.sum() > 1500 and np.all(partial[hidden] == 1.0)
    assert partial.min() >= 1.0 - scale * radius - 1e-6


def test_depth_mesh_of_a_plane_and_the_slope_rule():
    k = intrinsics(350.0, 32.0, 8, 6)  # 87.5 px focal length: a pixel is 1.7 % of the depth across
    rt = np.concatenate([np.eye(3), [[0.1], [-0.2], [2.0]]], axis=1)
    depth = np.full((6, 8), 1.5, np.float32)
    depth[:, 4:] = 3.0  # two fronto-parallel layers with a jump between columns 3 and 4
    mask = np.ones((6, 8), bool)
    mask[0, 0] = False
    depth[5, 7] = np.nan  # masked but invalid: not a vertex
    vertices, faces = depth_mesh(depth, mask, k, rt)
    rows, cols = np.nonzero(mask & np.isfinite(depth))
    assert vertices.shape == (46, 3) and vertices.dtype == np.float64
    np.testing.assert_allclose(vertices, unproject(k, rt, np.stack([cols, rows], 1), depth[rows, cols]))
    # Full 2 x 2 blocks: 7 x 5 = 35, less the one at (0, 0), the one at (4, 6) and the 5 across the jump.
    assert faces.dtype == np.int64 and faces.shape == (2 * (35 - 2 - 5), 3)
    cam = vertices @ rt[:, :3].T + rt[:, 3]
    z = cam[faces, 2]
    assert np.ptp(z, axis=1).max() < 1e-9  # no triangle spans the jump
    normals = np.cross(cam[faces[:, 1]] - cam[faces[:, 0]], cam[faces[:, 2]] - cam[faces[:, 0]])
    assert np.all(normals[:, 2] < 0)  # wound counter-clockwise as seen from the camera
    _, all_faces = depth_mesh(depth, mask, k, rt, max_slope_deg=90.0)
    assert len(all_faces) == 2 * (35 - 2)
    empty_v, empty_f = depth_mesh(depth, np.zeros_like(mask), k, rt)
    assert empty_v.shape == (0, 3) and empty_f.shape == (0, 3)
    with pytest.raises(ValueError):
        depth_mesh(depth, mask, k, rt, max_slope_deg=0.0)


def test_slope_rule_on_a_tilted_plane():
    """A plane through (0, 0, 2) with normal tilted 60 deg from the optical axis, seen in a narrow view."""
    k = intrinsics(1000.0, 32.0, 9, 9)  # about 1.6 degrees across
    rt = np.concatenate([np.eye(3), np.zeros((3, 1))], axis=1)
    n = np.array([math.sin(math.radians(60.0)), 0.0, -math.cos(math.radians(60.0))])
    v, u = np.mgrid[0:9, 0:9].astype(np.float64)
    ray = np.stack([u, v, np.ones_like(u)], axis=-1) @ np.linalg.inv(k).T
    depth = (2.0 * -n[2]) / (ray @ -n)  # z of ray * depth on the plane n . (x - (0, 0, 2)) = 0
    tilt = np.degrees(np.arccos(np.abs(ray @ n) / np.linalg.norm(ray, axis=-1)))
    assert tilt.min() > 58.0 and tilt.max() < 62.0
    mask = np.ones((9, 9), bool)
    assert len(depth_mesh(depth, mask, k, rt, max_slope_deg=65.0)[1]) == 2 * 8 * 8
    assert len(depth_mesh(depth, mask, k, rt, max_slope_deg=55.0)[1]) == 0


def test_partial_map_of_an_empty_view_is_all_ones():
    k = intrinsics(35.0, 32.0, 16, 16)
    rt = np.concatenate([np.eye(3), [[0.0], [0.0], [2.5]]], axis=1)
    blank = np.zeros((16, 16), np.float32)
    sph = partial_spherical_map(blank, blank > 0, k, rt, resolution=32)
    assert sph.shape == (32, 32) and np.all(sph == 1.0)


def _reference_back_projection(sph, n, h, m):
    """spherical_to_voxels by explicit loops over cells, blocks and fine positions."""
    r = sph.shape[0]
    out = np.zeros((n, n, n), bool)

    def mark(polar, azimuth, value):
        p = (1.0 - value) * np.array(
            [math.sin(polar) * math.cos(azimuth), math.sin(polar) * math.sin(azimuth), math.cos(polar)]
        )
        idx = np.floor((p + h) / (2.0 * h / n)).astype(int)
        if np.all((idx >= 0) & (idx < n)):
            out[tuple(idx)] = True

    dp, dq = math.pi / r, 2.0 * math.pi / r
    for a in range(r):
        for b in range(r):
            if sph[a, b] < 1.0:
                mark((a + 0.5) * dp, b * dq, sph[a, b])
            if a == r - 1:
                continue
            c = [sph[a, b], sph[a, (b + 1) % r], sph[a + 1, b], sph[a + 1, (b + 1) % r]]
            if max(c) >= 1.0:
                continue
            for i in range(m):
                for j in range(m):
                    if i or j:
                        wa, wb = i / m, j / m
                        value = (1 - wa) * (1 - wb) * c[0] + (1 - wa) * wb * c[1] + wa * (1 - wb) * c[2]
                        mark((a + 0.5 + wa) * dp, (b + wb) * dq, value + wa * wb * c[3])
    return out


def test_back_projection_matches_loops_and_marks_single_cells():
    rng = np.random.default_rng(6)
    sph = rng.uniform(0.0, 0.9, size=(12, 12))
    sph[rng.random((12, 12)) < 0.25] = 1.0
    sph[:, 0] = rng.uniform(0.0, 0.9, size=12)  # blocks wrapping from the last column to the first
    sph[:, -1] = rng.uniform(0.0, 0.9, size=12)
    for m in (1, 3):
        np.testing.assert_array_equal(
            spherical_to_voxels(sph, 20, 1.0, m), _reference_back_projection(sph, 20, 1.0, m)
        )
    one = np.ones((16, 16))
    one[5, 9] = 0.65
    u = sphere_grid(16)[0][5, 9]
    expected = np.floor((0.35 * u + 0.5) / (1.0 / 10)).astype(int)
    for m in (1, 2):
        vox = spherical_to_voxels(one, 10, 0.5, m)  # isolated cell: no complete block, one point
        assert vox.shape == (10, 10, 10) and vox.dtype == bool
        assert np.argwhere(vox).tolist() == [expected.tolist()]
    assert not spherical_to_voxels(np.ones((16, 16)), 10).any()
    with pytest.raises(ValueError):
        spherical_to_voxels(np.ones((4, 5)))


@pytest.mark.parametrize("radius", [0.3, 0.7])
def test_back_projection_of_a_sphere_is_a_closed_shell(radius):
    n, h, m, res = 64, 1.0, 2, 128
    mesh = _icosphere(radius)
    sph = spherical_map(mesh.vertices, mesh.faces, res)
    vox = spherical_to_voxels(sph, n, h, m)
    size = 2.0 * h / n
    centres = -h + (np.indices((n, n, n)).reshape(3, -1).T + 0.5) * size
    norm = np.linalg.norm(centres, axis=1).reshape(n, n, n)
    deficit = _facet_deficit(radius, float(mesh.edges_unique_length.max()))

    # Every point lies within the deficit inside the sphere, so its voxel centre within half a
    # voxel diagonal (+ deficit) of radius r.
    marked = norm[vox]
    assert np.all(np.abs(marked - radius) <= math.sqrt(3.0) / 2.0 * size + deficit + 1e-12)

    # Every point of the sphere is at most d = r (dp + dq) / 2 from a sample direction (half a step
    # along each angle, dp = pi / (m R), dq = 2 pi / (m R); also in the polar caps of angular radius
    # pi / (2R) = dp that hold no samples), so a voxel whose inscribed ball (radius size / 2) holds
    # the sphere's points within d + deficit of the one closest to its centre holds a point.
    d = radius * (math.pi / (m * res) + 2.0 * math.pi / (m * res)) / 2.0
    near = np.abs(norm - radius) <= size / 2.0 - d - deficit
    assert near.sum() > 500 and np.all(vox[near])

    # Voxels the sphere passes through: closest point inside, farthest corner outside. A marked
    # voxel holds a point at radius in [r - deficit, r]. Voxels that the sphere only clips at a
    # corner hold an arbitrarily small patch that point samples can miss; at this sampling 86 %
    # (r = 0.7) and 96 % (r = 0.3) of them are marked.
    lo = centres - size / 2.0
    hi = centres + size / 2.0
    closest = np.linalg.norm(np.clip(0.0, lo, hi), axis=1).reshape(n, n, n)
    farthest = np.linalg.norm(np.maximum(np.abs(lo), np.abs(hi)), axis=1).reshape(n, n, n)
    crossed = (closest < radius) & (farthest > radius)
    assert not np.any(vox & ~((closest <= radius) & (farthest > radius - deficit)))
    assert (vox & crossed).sum() >= 0.85 * crossed.sum()

    # The shell is closed: no 6-connected path of empty voxels leads from the centre to a corner.
    labels, _ = ndimage.label(~vox)
    assert labels[n // 2, n // 2, n // 2] != labels[0, 0, 0]
    if radius == 0.7:  # without the interpolated points the shell leaks
        labels, _ = ndimage.label(~spherical_to_voxels(sph, n, h, 1))
        assert labels[n // 2, n // 2, n // 2] == labels[0, 0, 0]
