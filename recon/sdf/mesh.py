"""Meshes from SDF grids: the iso-surface by marching cubes (PyMCubes).

DISN's ground-truth mesh is the iso-0.003 surface of its grid, which ``iso_mesh(grid, spec,
0.003)`` reproduces; evaluation protocols that compare against it need the same level.
"""

from __future__ import annotations

import numpy as np

from recon.sdf.grid import GridSpec

__all__ = ["iso_mesh"]


def iso_mesh(grid: np.ndarray, spec: GridSpec, iso: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """The ``iso`` level set of an SDF grid as a triangle mesh, in the grid's (world) frame.

    Args:
        grid: (n, n, n) SDF, negative inside, node ``[i, j, k]`` at ``spec.origin + (i, j, k) * spacing``.
        spec: the grid.
        iso: the level (DISN: 0.003).

    Returns:
        ``vertices`` (V, 3) float32 and ``faces`` (F, 3) int32, triangles wound so that their
        normals point toward larger SDF (outward); empty arrays when the level is not crossed.
    """
    import mcubes

    values = np.asarray(grid, dtype=np.float64)
    if not (values.min() < iso < values.max()):
        return np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int32)
    vertices, faces = mcubes.marching_cubes(values, float(iso))
    vertices = spec.origin + vertices * spec.spacing
    faces = faces.astype(np.int64)
    # PyMCubes winds triangles around the region above the level; ours is below it: flip them.
    return vertices.astype(np.float32), faces[:, ::-1].astype(np.int32)
