"""Mesh extraction: marching cubes of analytic fields, MISE against the dense grid, voxel boundaries."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

pytest.importorskip("mcubes")

from recon.geometry.extract import field_mesh, mise, occupancy_mesh, voxel_mesh
from recon.geometry.grid import GridSpec
from recon.geometry.voxels import VoxelSpec


def _sphere_sdf(points, r=0.6, c=(0.05, -0.1, 0.02)):
    return np.linalg.norm(points - np.asarray(c), axis=-1) - r


def test_field_mesh_of_a_sphere_sdf_is_outward_and_on_the_sphere():
    grid = GridSpec.cube(1.0, 65)
    v, f = field_mesh(_sphere_sdf(grid.points()).reshape((65,) * 3), grid, 0.0)
    radius = np.linalg.norm(v - np.array([0.05, -0.1, 0.02]), axis=1)
    # Linear interpolation along a cell edge misses the sphere by at most ~h²/(8r) (h = 1/32).
    assert np.abs(radius - 0.6).max() < 2e-3
    mesh = trimesh.Trimesh(v, f, process=False)
    assert mesh.is_watertight
    assert mesh.volume == pytest.approx(4 / 3 * np.pi * 0.6**3, rel=0.01)  # positive: outward


@pytest.mark.parametrize("iso", [0.0, 0.003, 0.05])
@pytest.mark.parametrize(
    "grid",
    [GridSpec(64), GridSpec(64, (-1.0, -1.2, -0.9), (1.2, 1.0, 1.3))],
    ids=["fixed-box", "per-axis-box"],
)
def test_sdf_level_sets_of_a_grid_lie_on_the_sphere_closed_and_outward(grid, iso):
    """The SDF stage's ground-truth mesh: a float32 grid, a cube or per-axis corners, any level."""
    radius = 0.6
    values = (np.linalg.norm(grid.points(), axis=1) - radius).reshape((64,) * 3).astype(np.float32)
    vertices, faces = field_mesh(values, grid, iso)
    assert vertices.dtype == np.float32 and faces.dtype == np.int32
    r = np.linalg.norm(vertices.astype(np.float64), axis=1)
    assert np.abs(r - (radius + iso)).max() < 0.25 * grid.spacing  # linear interpolation of a smooth field
    mesh = trimesh.Trimesh(vertices, faces, process=True)
    assert mesh.is_watertight
    assert mesh.volume == pytest.approx(4 / 3 * np.pi * (radius + iso) ** 3, rel=0.02)  # > 0: wound outward
    outward = np.einsum("ij,ij->i", mesh.face_normals, mesh.triangles_center)
    assert np.all(outward > 0)


def test_level_not_crossed_gives_an_empty_mesh():
    vertices, faces = field_mesh(np.ones((16, 16, 16), np.float32), GridSpec(16), 0.0)
    assert vertices.shape == (0, 3) and faces.shape == (0, 3)
    with pytest.raises(ValueError, match="for this grid"):
        field_mesh(np.ones((16, 16, 16)), GridSpec(17), 0.0)


def test_field_mesh_of_occupancy_is_wound_outward_too():
    grid = GridSpec.cube(1.0, 33)
    occupancy = (_sphere_sdf(grid.points()) < 0).astype(float).reshape((33,) * 3)
    v, f = field_mesh(occupancy, grid, 0.5, inside="above")
    assert trimesh.Trimesh(v, f, process=False).volume > 0
    empty = field_mesh(np.zeros((33,) * 3), grid, 0.5, inside="above")
    assert empty[0].shape == (0, 3) and empty[1].shape == (0, 3)


def test_occupancy_mesh_of_voxels_is_closed_at_the_border_and_on_the_voxel_centres():
    spec = VoxelSpec(16, 0.5)
    inside = _sphere_sdf(spec.centres(), r=0.3, c=(0.0, 0.0, 0.0)) < 0
    v, f = occupancy_mesh(inside.reshape((16,) * 3).astype(float), spec.half_extent, 0.5)
    mesh = trimesh.Trimesh(v, f, process=True)
    assert mesh.is_watertight and mesh.volume > 0
    # A full grid: the zero ring closes it halfway between the outer centres and the padding nodes.
    v, f = occupancy_mesh(np.ones((4, 4, 4)), 1.0, 0.5)
    np.testing.assert_allclose(trimesh.Trimesh(v, f).bounds, [[-1.0] * 3, [1.0] * 3], atol=1e-6)


def test_grid_cube_is_the_box_minus_h_to_h():
    grid = GridSpec.cube(1.1, 256)
    assert grid == GridSpec(256, -1.1, 1.1)
    assert grid.spacing == 2.0 * 1.1 / 255
    with pytest.raises(ValueError):
        GridSpec.cube(0.0, 8)


def test_mise_gives_the_dense_grid_where_the_surface_is_for_far_fewer_evaluations():
    values, grid, evaluated = mise(_sphere_sdf, 1.0, resolution_0=16, upsampling_steps=2, level=0.0)
    assert grid.resolution == 65
    dense = _sphere_sdf(grid.points()).reshape((65,) * 3)
    v_mise, f_mise = field_mesh(values, grid, 0.0)
    v_dense, f_dense = field_mesh(dense, grid, 0.0)
    # Every node of a cell the surface crosses was evaluated, so marching cubes sees the same values.
    np.testing.assert_array_equal(f_mise, f_dense)
    np.testing.assert_allclose(v_mise, v_dense, atol=1e-6)
    assert evaluated < 0.5 * 65**3


def test_voxel_mesh_of_one_voxel_is_a_closed_cube():
    occ = np.zeros((4, 4, 4), bool)
    occ[1, 2, 3] = True
    v, f = voxel_mesh(occ, 1.0)  # voxel size 0.5
    mesh = trimesh.Trimesh(v, f, process=False)
    assert len(v) == 8 and len(f) == 12
    assert mesh.is_watertight and mesh.volume == pytest.approx(0.125)
    np.testing.assert_allclose(mesh.bounds, [[-0.5, 0.0, 0.5], [0.0, 0.5, 1.0]])


def test_voxel_mesh_of_a_blob_has_the_voxels_volume_and_no_hidden_faces():
    rng = np.random.default_rng(0)
    occ = rng.random((10, 10, 10)) > 0.4
    v, f = voxel_mesh(occ, 1.0)
    mesh = trimesh.Trimesh(v, f, process=False)
    assert mesh.volume == pytest.approx(occ.sum() * 0.2**3)
    padded = np.pad(occ, 1)
    exposed = sum(
        (padded[1:-1, 1:-1, 1:-1] & ~np.roll(padded, s, a)[1:-1, 1:-1, 1:-1]).sum()
        for a in range(3)
        for s in (1, -1)
    )
    assert len(f) == 2 * exposed
    assert voxel_mesh(np.zeros((3, 3, 3), bool), 1.0)[1].shape == (0, 3)
