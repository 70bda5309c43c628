"""Mesh extraction: marching cubes of analytic fields, MISE against the dense grid, voxel boundaries."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from recon.geometry.extract import Box, field_mesh, mise, voxel_mesh


def _sphere_sdf(points, r=0.6, c=(0.05, -0.1, 0.02)):
    return np.linalg.norm(points - np.asarray(c), axis=-1) - r


def test_field_mesh_of_a_sphere_sdf_is_outward_and_on_the_sphere():
    box = Box(1.0, 65)
    v, f = field_mesh(_sphere_sdf(box.nodes()).reshape((65,) * 3), box, 0.0)
    radius = np.linalg.norm(v - np.array([0.05, -0.1, 0.02]), axis=1)
    # Linear interpolation along a cell edge misses the sphere by at most ~h²/(8r) (h = 1/32).
    assert np.abs(radius - 0.6).max() < 2e-3
    mesh = trimesh.Trimesh(v, f, process=False)
    assert mesh.is_watertight
    assert mesh.volume == pytest.approx(4 / 3 * np.pi * 0.6**3, rel=0.01)  # positive: outward


def test_field_mesh_of_occupancy_is_wound_outward_too():
    box = Box(1.0, 33)
    occupancy = (_sphere_sdf(box.nodes()) < 0).astype(float).reshape((33,) * 3)
    v, f = field_mesh(occupancy, box, 0.5, inside="above")
    assert trimesh.Trimesh(v, f, process=False).volume > 0
    empty = field_mesh(np.zeros((33,) * 3), box, 0.5, inside="above")
    assert empty[0].shape == (0, 3) and empty[1].shape == (0, 3)


def test_mise_gives_the_dense_grid_where_the_surface_is_for_far_fewer_evaluations():
    values, box, evaluated = mise(_sphere_sdf, 1.0, resolution_0=16, upsampling_steps=2, level=0.0)
    assert box.resolution == 65
    dense = _sphere_sdf(box.nodes()).reshape((65,) * 3)
    v_mise, f_mise = field_mesh(values, box, 0.0)
    v_dense, f_dense = field_mesh(dense, box, 0.0)
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
