"""Marching cubes of SDF grids: the level set lies where it should, closed and wound outward."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

pytest.importorskip("mcubes")

from recon.sdf.grid import GridSpec
from recon.sdf.mesh import iso_mesh


@pytest.mark.parametrize("iso", [0.0, 0.003, 0.05])
def test_sphere_level_sets(iso):
    spec = GridSpec(64)
    radius = 0.6
    grid = (np.linalg.norm(spec.points(), axis=1) - radius).reshape(64, 64, 64).astype(np.float32)
    vertices, faces = iso_mesh(grid, spec, iso)
    assert vertices.dtype == np.float32 and faces.dtype == np.int32
    r = np.linalg.norm(vertices.astype(np.float64), axis=1)
    assert np.abs(r - (radius + iso)).max() < 0.25 * spec.spacing  # linear interpolation of a smooth field
    mesh = trimesh.Trimesh(vertices, faces, process=True)
    assert mesh.is_watertight
    assert mesh.volume == pytest.approx(4 / 3 * np.pi * (radius + iso) ** 3, rel=0.02)  # > 0: wound outward
    outward = np.einsum("ij,ij->i", mesh.face_normals, mesh.triangles_center)
    assert np.all(outward > 0)


def test_level_not_crossed_gives_an_empty_mesh():
    spec = GridSpec(16)
    vertices, faces = iso_mesh(np.ones((16, 16, 16), np.float32), spec, 0.0)
    assert vertices.shape == (0, 3) and faces.shape == (0, 3)
