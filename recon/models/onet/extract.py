"""Occupancy Networks' meshes: MISE over the padded box, then marching cubes at the threshold's logit.

As ``Generator3D`` (``im2mesh/onet/generation.py``) builds them for images: the threshold 0.2 is
taken to logit space (``log(t) - log(1 - t)``, lines 96 and 171), the decoder's logits are evaluated
by MISE from a 32³ grid refined twice (``resolution_0``, ``upsampling_steps``: 128 cells per axis,
lines 111-129) over the cube of side ``1 + padding`` (0.1) around ONet's unit box (lines 100, 121),
the dense grid is padded by one node of -1e6 so that the mesh is closed where the shape meets the
box (lines 174-175), and marching cubes runs at the threshold's logit (lines 176-185). No
refinement and no simplification (``generation.refine: false``, ``simplify_nfaces: null``).

The box follows the packed store's frame: ONet's unit box is ``[-0.5, 0.5]³`` (the ``unit_cube``
normalization); recon's is the packed voxels' cube ``[-h, h]³`` (h = 1 under ``unit_sphere``, 0.5
under ``unit_cube``: :attr:`recon.models.method.PredictContext.voxel_half_extent`), grown by
``padding`` the same way, which is also the box of the occupancy points the network trains on
(docs/data_format.md §5.3).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from recon.geometry.extract import field_mesh, mise
from recon.geometry.grid import GridSpec

__all__ = ["OUTSIDE", "logit", "mise_box", "mise_mesh"]

#: The value of the ring of nodes around MISE's grid (``generation.py:174-175``).
OUTSIDE = -1e6


def logit(p: float) -> float:
    """``log(p) - log(1 - p)``: the decoder's output at occupancy probability p (generation.py:96)."""
    return math.log(p) - math.log(1.0 - p)


def mise_box(voxel_half_extent: float, padding: float) -> float:
    """Half side of MISE's box: the voxels' cube ``[-h, h]³`` grown by ``padding`` times its side.

    ``box_size = 1 + padding`` around ONet's ``[-0.5, 0.5]³`` (generation.py:100) is h = 0.5: 0.55.
    """
    return float(voxel_half_extent) * (1.0 + float(padding))


def mise_mesh(
    field: Callable[[np.ndarray], np.ndarray],
    half_extent: float,
    threshold: float,
    resolution_0: int = 32,
    upsampling_steps: int = 2,
    batch_points: int = 100_000,
) -> tuple[np.ndarray, np.ndarray, int]:
    """The ``threshold`` surface of a logit field by MISE, closed at the box as released.

    Args:
        field: maps (P, 3) float64 points to (P,) logits (occupied where high).
        half_extent: MISE's box is ``[-half_extent, half_extent]³`` (:func:`mise_box`).
        threshold: occupancy probability of the surface; the field is cut at its :func:`logit`.
        resolution_0, upsampling_steps: MISE's coarsest cells per axis and refinements.
        batch_points: points per call of ``field``.

    Returns:
        ``(vertices (V, 3) float32, faces (F, 3) int32, evaluated)``: the outward-wound mesh (empty
        when no node is above the level) and how many points the field was asked for.
    """
    level = logit(threshold)
    values, grid, evaluated = mise(field, half_extent, resolution_0, upsampling_steps, level, batch_points)
    padded = np.pad(values, 1, constant_values=OUTSIDE)
    spec = GridSpec.cube(half_extent + grid.spacing, grid.resolution + 2)
    vertices, faces = field_mesh(padded, spec, level, inside="above")
    return vertices, faces, evaluated
