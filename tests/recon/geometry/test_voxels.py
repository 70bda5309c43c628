"""Voxel grids against analytic shapes, trimesh's voxelizer and the binvox readers."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh
from scipy.spatial.transform import Rotation

from recon.geometry.cameras import camera_center, look_at
from recon.geometry.grid import GridSpec
from recon.geometry.view_frame import view_scale, world_to_view
from recon.geometry.voxels import VoxelSpec, solid_voxels, surface_voxels, view_aligned_voxels
from recon.sdf.grid import sdf_grid
from recon.voxelize.binvox import read_binvox, write_binvox


def _box(lo, hi):
    """Closed axis-aligned box mesh from corner ``lo`` to corner ``hi``."""
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    box = trimesh.creation.box(extents=hi - lo)
    box.apply_translation((lo + hi) / 2)
    return np.asarray(box.vertices), np.asarray(box.faces)


def test_voxel_spec_centres():
    spec = VoxelSpec(4, 1.0)
    assert spec.size == 0.5
    np.testing.assert_allclose(spec.centres_1d, [-0.75, -0.25, 0.25, 0.75])
    c = spec.centres().reshape(4, 4, 4, 3)
    np.testing.assert_allclose(c[1, 2, 3], [-0.25, 0.25, 0.75])


def test_box_voxels_are_analytic():
    """Faces through voxel centres: the surface voxels are exactly the layers they cut."""
    spec = VoxelSpec(32, 1.0)
    c = spec.centres_1d
    lo_i, hi_i = np.array([5, 9, 12]), np.array([20, 27, 17])
    vertices, faces = _box(c[lo_i], c[hi_i])
    solid = solid_voxels(vertices, faces, spec)
    surface = surface_voxels(vertices, faces, spec)
    i, j, k = np.meshgrid(np.arange(32), np.arange(32), np.arange(32), indexing="ij")
    ijk = (i, j, k)
    closed = np.all([(ijk[a] >= lo_i[a]) & (ijk[a] <= hi_i[a]) for a in range(3)], axis=0)
    open_ = np.all([(ijk[a] > lo_i[a]) & (ijk[a] < hi_i[a]) for a in range(3)], axis=0)
    np.testing.assert_array_equal(surface, closed & ~open_)
    # Centres on the faces have winding number 1/2 (1/4, 1/8 on edges and corners): either label
    # is right there. Everywhere else the solid voxels are the strictly interior ones.
    off_boundary = ~(closed & ~open_)
    np.testing.assert_array_equal(solid[off_boundary], open_[off_boundary])


def test_sphere_voxels_are_analytic():
    """An icosphere of radius r: solid and surface voxels as the sphere's, up to the facets' sagitta."""
    r, spec = 0.62, VoxelSpec(48, 1.0)
    sphere = trimesh.creation.icosphere(subdivisions=5, radius=r)
    vertices, faces = np.asarray(sphere.vertices), np.asarray(sphere.faces)
    # Every facet lies between radius r and r - sagitta (edges subtend < 0.04 rad at 5 subdivisions).
    edge = np.max(sphere.edges_unique_length)
    sagitta = r - np.sqrt(r**2 - (edge / np.sqrt(3)) ** 2)
    centres = spec.centres()
    radius = np.linalg.norm(centres, axis=1).reshape((48,) * 3)
    solid = solid_voxels(vertices, faces, spec)
    sure = (radius < r - sagitta) | (radius > r)
    np.testing.assert_array_equal(solid[sure], radius[sure] < r)
    # Surface voxels: the closed cube's nearest and farthest points from the origin bracket r.
    h = spec.size / 2
    nearest = np.linalg.norm(np.maximum(np.abs(centres) - h, 0), axis=1).reshape(radius.shape)
    farthest = np.linalg.norm(np.abs(centres) + h, axis=1).reshape(radius.shape)
    surface = surface_voxels(vertices, faces, spec)
    must = (nearest < r - sagitta) & (farthest > r)
    cannot = (nearest > r) | (farthest < r - sagitta)
    assert must.sum() > 3000
    assert np.all(surface[must])
    assert not np.any(surface[cannot])


def test_solid_with_sdf_grid_equals_winding_numbers():
    """The SDF grid shortcut gives the same solid voxels as winding numbers everywhere."""
    torus = trimesh.creation.torus(0.55, 0.2, major_sections=48, minor_sections=24)
    vertices, faces = np.asarray(torus.vertices), np.asarray(torus.faces)
    gspec = GridSpec(64, -1.1, 1.1)
    grid = sdf_grid(vertices, faces, gspec)
    spec = VoxelSpec(40, 1.0)
    np.testing.assert_array_equal(
        solid_voxels(vertices, faces, spec, grid, gspec), solid_voxels(vertices, faces, spec)
    )


def test_agrees_with_trimesh_voxelizer():
    """32^3 filled voxels of a chair-like mesh match trimesh's subdivide-and-fill to IoU >= 0.95."""
    from recon.demo.shapes import generate_shape
    from recon.seeding import rng

    parts, _ = generate_shape("chair", rng(0, "demo", "chair", 3))
    chair = trimesh.util.concatenate([mesh for _, mesh, _ in parts])
    vertices, faces = np.asarray(chair.vertices), np.asarray(chair.faces)
    scale = 1 / np.max(np.linalg.norm(vertices - vertices.mean(0), axis=1))
    vertices = (vertices - vertices.mean(0)) * scale * 0.95
    spec = VoxelSpec(32, 1.0)
    ours = solid_voxels(vertices, faces, spec) | surface_voxels(vertices, faces, spec)
    # trimesh puts voxel centres on multiples of the pitch; shift the mesh by half a pitch so its
    # centres are ours, then map its filled voxels' centres back to our indices.
    pitch = spec.size
    mesh = trimesh.Trimesh(vertices + pitch / 2, faces, process=False)
    filled = mesh.voxelized(pitch, method="subdivide").fill()
    index = np.round((filled.points - pitch / 2 + 1.0) / pitch - 0.5).astype(int)
    theirs = np.zeros_like(ours)
    theirs[tuple(index.T)] = True
    iou = np.sum(ours & theirs) / np.sum(ours | theirs)
    assert iou >= 0.95, iou


def test_view_aligned_voxels_of_a_known_camera():
    """Camera on world +x looking at the origin, image up world +y (``look_at``): the view frame's
    axes are (-x, +z, +y) of the world, scaled by s = 0.5 (unit_sphere). An off-centre box with
    x in [-0.2, 0.4] (toward the camera), y in [0.3, 0.7] (up), z in [-0.6, -0.2] (image right) lies
    at x_view in [-0.2, 0.1], y_view in [-0.3, -0.1], z_view in [0.15, 0.35]: the voxels are exactly
    the centres inside that box, and those meeting the mapped box's surface (filled voxels)."""
    vertices, faces = _box([-0.2, 0.3, -0.6], [0.4, 0.7, -0.2])
    r, t = look_at(camera_center(0.0, 0.0, 2.5))
    m = world_to_view(np.concatenate([r, t[:, None]], axis=1), view_scale("unit_sphere"))
    n = 20
    views = view_aligned_voxels(vertices, faces, m[None], n)
    assert views.shape == (1, n, n, n) and views.dtype == bool
    c = VoxelSpec(n, 0.5).centres_1d  # -0.475 + 0.05 i: no centre on a face of the box
    along = [(c > lo) & (c < hi) for lo, hi in ((-0.2, 0.1), (-0.3, -0.1), (0.15, 0.35))]
    expected = along[0][:, None, None] & along[1][None, :, None] & along[2][None, None, :]
    assert expected.sum() == 6 * 4 * 4
    surface = surface_voxels(vertices @ m.T, faces, VoxelSpec(n, 0.5))
    np.testing.assert_array_equal(views[0], expected | surface)
    # A voxel meets the closed box iff its cube overlaps the box on every axis (the box is convex).
    overlap = [
        (c + 0.025 >= lo - 1e-9) & (c - 0.025 <= hi + 1e-9)
        for lo, hi in ((-0.2, 0.1), (-0.3, -0.1), (0.15, 0.35))
    ]
    touching = overlap[0][:, None, None] & overlap[1][None, :, None] & overlap[2][None, None, :]
    assert expected.sum() < views[0].sum() <= touching.sum() and not np.any(views[0] & ~touching)


def test_view_aligned_voxels_of_turned_boxes_are_analytic():
    """Random cameras, unit_cube scale, with and without the SDF grid: voxel [v, i, j, k] is set iff
    the world point M_v^-1 c_ijk lies in the box (centres within 1e-9 of a face left out) or the voxel
    meets the mapped box's surface."""
    lo, hi = np.array([-0.45, -0.1, -0.3]), np.array([0.2, 0.35, 0.05])
    vertices, faces = _box(lo, hi)
    rotations = Rotation.random(3, random_state=0).as_matrix()
    rt = np.concatenate([rotations, np.zeros((3, 3, 1))], axis=2)
    scale = view_scale("unit_cube")
    m = world_to_view(rt, scale)
    n = 24
    gspec = GridSpec(48, -0.6, 0.6)
    grid = sdf_grid(vertices, faces, gspec)
    centres = VoxelSpec(n, 0.5).centres()
    for kwargs in ({}, {"grid": grid, "grid_spec": gspec}):
        views = view_aligned_voxels(vertices, faces, m, n, **kwargs)
        for v in range(3):
            # M^-1 c = R^T P^T c / s, with P^T c = (-c_y, -c_z, c_x) (camera axes of a view point).
            camera = np.stack([-centres[:, 1], -centres[:, 2], centres[:, 0]], axis=1)
            world = camera @ rotations[v] / scale
            inside = np.all((world > lo) & (world < hi), axis=1)
            margin = np.min(np.abs(np.concatenate([world - lo, world - hi], axis=1)), axis=1)
            sure = margin > 1e-9
            # About the box's volume in voxels: 0.65 * 0.45 * 0.35 * (s n)^3 = 273.
            assert 250 < inside.sum() < 300 and sure.mean() > 0.999
            surface = surface_voxels(vertices @ m[v].T, faces, VoxelSpec(n, 0.5)).reshape(-1)
            np.testing.assert_array_equal(views[v].reshape(-1)[sure], (inside | surface)[sure])


def test_binvox_round_trip_and_trimesh_reads_it(tmp_path):
    rng = np.random.default_rng(0)
    voxels = rng.random((32, 32, 32)) < 0.3
    voxels[:10] = True  # long runs, > 255
    path = tmp_path / "model.binvox"
    write_binvox(path, voxels, 0.5)
    back, translate, scale = read_binvox(path)
    np.testing.assert_array_equal(back, voxels)
    np.testing.assert_allclose(translate, [-0.5, -0.5, -0.5])
    assert scale == 1.0
    # An independent reader decodes the same voxels (its transform reads `scale` as the distance
    # between the first and last voxel centres, not binvox's cube edge, so only the data is compared).
    with open(path, "rb") as f:
        grid = trimesh.exchange.binvox.load_binvox(f)
    np.testing.assert_array_equal(grid.matrix, voxels)
    header = path.read_bytes().split(b"data\n")[0].decode()
    assert header == "#binvox 1\ndim 32 32 32\ntranslate -0.5 -0.5 -0.5\nscale 1.0\n"


def test_binvox_rejects_non_cubic(tmp_path):
    with pytest.raises(ValueError, match="cubic"):
        write_binvox(tmp_path / "x.binvox", np.zeros((2, 3, 4), bool), 1.0)
