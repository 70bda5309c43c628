"""AtlasNet's templates: the unit square and the unit sphere, random points for training, regular
meshes for test (ThibaultGROUEIX/AtlasNet v2, ``model/template.py``).

- square (``SquareTemplate``): training points uniform in ``[0, 1]²`` (lines 66-73); at test the
  vertices of a regular ``g x g`` grid, ``g = int(sqrt(n))`` for ``n`` points per patch, triangulated
  as ``generate_square`` does (lines 90-117): vertex ``i g + j`` at ``(i, j) / (g - 1)``, two
  triangles per cell, an open sheet.
- sphere (``SphereTemplate``): training points of a standard normal scaled to unit length, uniform on
  the sphere (lines 34-43); at test an icosphere of 4 subdivisions (``pymesh.generate_icosphere(1,
  [0, 0, 0], 4)``, line 51: 2,562 vertices whatever ``n``), here trimesh's, closed.

Every patch draws its own random points, shared by the items of a batch (``(1, dim, n)``,
``model/atlasnet.py:47-49``).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
from torch import Tensor

__all__ = ["grid_side", "random_points", "regular_mesh", "square_grid", "template_dim"]


def template_dim(template: str) -> int:
    """Coordinates of a template point: 2 (square) or 3 (sphere)."""
    return 2 if template == "square" else 3


def grid_side(n: int) -> int:
    """Side of the test grid of a square patch of ``n`` points: ``int(sqrt(n))`` (template.py:82, 97)."""
    return int(math.sqrt(n))


def square_grid(side: int) -> tuple[np.ndarray, np.ndarray]:
    """The regular grid of the unit square, triangulated (``generate_square``, template.py:90-117).

    Args:
        side: vertices per side (the release's ``grain``; at least 2).

    Returns:
        ``(vertices (side², 2) float64, faces (2 (side - 1)², 3) int64)``: vertex ``i side + j`` at
        ``(i, j) / (side - 1)``; for each cell the release's two triangles, in its order (first every
        ``[j + s i, j + s i + 1, j + s (i - 1)]``, then every ``[j + s i, j + s i - 1, j + s (i + 1)]``).
    """
    g = side - 1
    i, j = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
    vertices = np.stack([i.ravel() / g, j.ravel() / g], axis=1)
    i, j = np.meshgrid(np.arange(1, side), np.arange(side - 1), indexing="ij")
    k = (j + side * i).ravel()
    first = np.stack([k, k + 1, k - side], axis=1)
    i, j = np.meshgrid(np.arange(side - 1), np.arange(1, side), indexing="ij")
    k = (j + side * i).ravel()
    second = np.stack([k, k - 1, k + side], axis=1)
    return vertices, np.concatenate([first, second]).astype(np.int64)


@lru_cache(maxsize=8)
def _icosphere(subdivisions: int) -> tuple[np.ndarray, np.ndarray]:
    import trimesh

    mesh = trimesh.creation.icosphere(subdivisions=subdivisions, radius=1.0)
    return np.asarray(mesh.vertices, np.float64), np.asarray(mesh.faces, np.int64)


def regular_mesh(template: str, n: int, subdivisions: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """One patch's test-time template mesh: ``(vertices (P, dim) float64, faces (F, 3) int64)``.

    Args:
        template: ``square`` (the :func:`square_grid` of side :func:`grid_side` (n)) or ``sphere`` (the
            icosphere of ``subdivisions``, unit radius).
        n: points per patch asked for (the square's; the sphere ignores it, as released).
    """
    if template == "square":
        return square_grid(max(2, grid_side(n)))
    vertices, faces = _icosphere(subdivisions)
    return vertices.copy(), faces.copy()


def random_points(template: str, patches: int, n: int, device=None) -> Tensor:
    """Training points of every patch: (patches, dim, n) float32, uniform on the template.

    Square: uniform in ``[0, 1]²`` (template.py:71-72); sphere: normal samples over their norm
    (template.py:40-42).
    """
    if template == "square":
        return torch.rand(patches, 2, n, device=device)
    points = torch.randn(patches, 3, n, device=device)
    return points / points.square().sum(1, keepdim=True).sqrt()
