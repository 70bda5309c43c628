"""Meshes from fields and voxels: marching cubes of a field on a grid, hierarchical refinement, voxels.

* :func:`field_mesh`: the level set of an SDF or occupancy field sampled on the nodes of a
  :class:`recon.geometry.grid.GridSpec` (the SDF stage's ground-truth mesh: its grid at level
  0.003, DISN's ``isosurf.obj``; DISN's predictions: SDF on a 65³ grid at level 0; Occupancy
  Networks: probabilities at 0.2).
* :func:`occupancy_mesh`: the level set of a grid of voxel (cell-centred) occupancies, the mean
  shape's and 3D-R2N2's meshes.
* :func:`mise`: Occupancy Networks' Multiresolution IsoSurface Extraction
  (``im2mesh/utils/libmise/mise.pyx``): evaluate the field on a coarse grid, subdivide only the
  cells the surface can cross, and fill the nodes never evaluated by trilinear interpolation of
  the coarser level; the result is the dense fine grid that :func:`field_mesh` meshes.
* :func:`voxel_mesh`: the boundary faces of a boolean voxel grid (the "cubified" voxels of
  3D-R2N2-style predictions), two triangles per exposed face.

Every mesh comes back as ``(vertices (V, 3) float32, faces (F, 3) int32)`` in the world frame,
wound so that normals point out of the solid (toward lower occupancy / higher SDF).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from recon.geometry.grid import GridSpec

__all__ = ["field_mesh", "mise", "occupancy_mesh", "voxel_mesh"]


def field_mesh(values: np.ndarray, grid: GridSpec, level: float, inside: str = "below"):
    """The ``level`` set of a field sampled at the nodes of ``grid``, by marching cubes (PyMCubes).

    Args:
        values: (R, R, R) field values at the nodes, R = ``grid.resolution``; node ``[i, j, k]``
            at ``grid.origin + (i, j, k) * grid.spacing``.
        grid: where the nodes are.
        level: the iso-value (SDF: 0, or DISN's 0.003 for its ground truth; occupancy: a
            probability threshold such as Occupancy Networks' 0.2).
        inside: ``below`` when the solid is where ``values < level`` (SDF), ``above`` when it is
            where ``values > level`` (occupancy, voxel probabilities).

    Returns:
        ``(vertices, faces)``, float32 and int32, outward-wound; empty when the level is not
        crossed.
    """
    import mcubes

    v = np.asarray(values, dtype=np.float64)
    if v.shape != (grid.resolution,) * 3:
        raise ValueError(f"values must be {(grid.resolution,) * 3} for this grid, got {v.shape}")
    if inside not in ("below", "above"):
        raise ValueError(f"inside must be 'below' or 'above', got {inside!r}")
    if not (v.min() < level < v.max()):
        return np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int32)
    vertices, faces = mcubes.marching_cubes(v, float(level))
    vertices = grid.origin + vertices * grid.spacing
    faces = faces.astype(np.int64)
    # PyMCubes winds triangles around the region above the level.
    if inside == "below":
        faces = faces[:, ::-1]
    return vertices.astype(np.float32), faces.astype(np.int32)


def occupancy_mesh(probabilities: np.ndarray, half_extent: float, level: float):
    """The ``level`` set of a cell-centred occupancy grid over ``[-h, h]³`` (zero-padded).

    Voxel ``[i, j, k]`` of an (n, n, n) grid is the cube ``-h + [i, i+1] · s`` (x j, k),
    s = 2h / n (:class:`recon.geometry.voxels.VoxelSpec`); its value sits at the voxel's centre.
    A ring of zeros around the grid closes the surface where the occupancy reaches the border.

    Args:
        probabilities: (n, n, n) float occupancy probabilities.
        half_extent: h.
        level: the iso-value (the solid is above it).

    Returns:
        ``(vertices (V, 3) float32, faces (F, 3) int32)``, outward-wound.
    """
    n = probabilities.shape[0]
    s = 2.0 * half_extent / n
    padded = np.pad(np.asarray(probabilities, np.float64), 1)
    return field_mesh(padded, GridSpec.cube(half_extent + s / 2.0, n + 2), level, inside="above")


def _upsample(coarse: np.ndarray) -> np.ndarray:
    """(n, n, n) node values → (2n - 1,)³ by trilinear interpolation (exact at the old nodes)."""
    n = coarse.shape[0]
    fine = np.empty((2 * n - 1,) * 3, dtype=coarse.dtype)
    fine[::2, ::2, ::2] = coarse
    fine[1::2, ::2, ::2] = 0.5 * (coarse[:-1] + coarse[1:])
    fine[:, 1::2, ::2] = 0.5 * (fine[:, :-1:2, ::2] + fine[:, 2::2, ::2])
    fine[:, :, 1::2] = 0.5 * (fine[:, :, :-1:2] + fine[:, :, 2::2])
    return fine


def _active_cells(values: np.ndarray, level: float) -> np.ndarray:
    """(n-1,)³ bool: cells whose 8 corner values are not all on one side of ``level``."""
    above = values > level
    corners = [
        above[i : i + above.shape[0] - 1, j : j + above.shape[1] - 1, k : k + above.shape[2] - 1]
        for i in (0, 1)
        for j in (0, 1)
        for k in (0, 1)
    ]
    anyone = np.logical_or.reduce(corners)
    everyone = np.logical_and.reduce(corners)
    return anyone & ~everyone


def _dilate(cells: np.ndarray) -> np.ndarray:
    out = cells.copy()
    for axis in range(3):
        shifted = np.zeros_like(out)
        sl_a = [slice(None)] * 3
        sl_b = [slice(None)] * 3
        sl_a[axis], sl_b[axis] = slice(1, None), slice(None, -1)
        shifted[tuple(sl_a)] |= out[tuple(sl_b)]
        shifted[tuple(sl_b)] |= out[tuple(sl_a)]
        out |= shifted
    return out


def mise(
    field: Callable[[np.ndarray], np.ndarray],
    half_extent: float,
    resolution_0: int = 32,
    upsampling_steps: int = 2,
    level: float = 0.0,
    batch_points: int = 100_000,
) -> tuple[np.ndarray, GridSpec, int]:
    """Multiresolution IsoSurface Extraction (Occupancy Networks, Mescheder et al. 2019, §3.3).

    The field is evaluated at the (r₀+1)³ nodes of the coarse grid. At each of the
    ``upsampling_steps`` refinements the grid doubles; the cells whose corners straddle
    ``level`` (dilated by one cell, so a surface between two coarse samples is not missed) are
    *active*, the fine nodes at the corners of active cells are evaluated, and every other fine
    node takes the trilinear interpolation of the coarser grid, as ``libmise`` does.

    Args:
        field: maps (P, 3) float64 world points to (P,) values.
        half_extent: the cube ``[-h, h]³`` the grid covers.
        resolution_0: cells per axis of the coarsest grid (ONet: 32).
        upsampling_steps: refinements (ONet: 2 → 128 cells per axis).
        level: the iso-value that decides which cells are active.
        batch_points: points per call of ``field``.

    Returns:
        ``(values, grid, evaluated)``: the (R, R, R) float64 dense values with
        R = r₀ · 2^steps + 1, the :class:`~recon.geometry.grid.GridSpec` of those nodes
        (``[-h, h]³``), and how many points ``field`` was asked for (≤ R³).
    """

    def evaluate(points: np.ndarray) -> np.ndarray:
        out = np.empty(len(points))
        for start in range(0, len(points), batch_points):
            out[start : start + batch_points] = np.asarray(field(points[start : start + batch_points]))
        return out

    # The coarse nodes by linspace (the last one exactly h), the refined ones as -h + index * spacing.
    axis = np.linspace(-half_extent, half_extent, resolution_0 + 1)
    coarse = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(-1, 3)
    values = evaluate(coarse).reshape((resolution_0 + 1,) * 3)
    grid = GridSpec.cube(half_extent, resolution_0 + 1)
    evaluated = values.size
    for _ in range(upsampling_steps):
        active = _dilate(_active_cells(values, level))
        values = _upsample(values)
        grid = GridSpec.cube(half_extent, values.shape[0])
        # Fine nodes at the corners of the fine cells inside active coarse cells.
        fine_active = np.repeat(np.repeat(np.repeat(active, 2, 0), 2, 1), 2, 2)
        todo = np.zeros(values.shape, bool)
        for i in (0, 1):
            for j in (0, 1):
                for k in (0, 1):
                    todo[
                        i : i + fine_active.shape[0],
                        j : j + fine_active.shape[1],
                        k : k + fine_active.shape[2],
                    ] |= fine_active
        index = np.nonzero(todo)
        if len(index[0]):
            points = -half_extent + np.stack(index, -1) * grid.spacing
            values[index] = evaluate(points)
            evaluated += len(points)
    return values, grid, evaluated


# The four corner offsets of the face of a voxel normal to each axis, at +side, in the order that
# winds the face counter-clockwise seen from +axis (outward for a face at the voxel's + side).
_FACE_CORNERS = {
    0: np.array([[1, 0, 0], [1, 1, 0], [1, 1, 1], [1, 0, 1]]),
    1: np.array([[0, 1, 0], [0, 1, 1], [1, 1, 1], [1, 1, 0]]),
    2: np.array([[0, 0, 1], [1, 0, 1], [1, 1, 1], [0, 1, 1]]),
}


def voxel_mesh(occupied: np.ndarray, half_extent: float):
    """The closed boundary of a boolean voxel grid over ``[-h, h]³`` as a triangle mesh.

    Voxel ``[i, j, k]`` is the cube ``-h + [i, i+1] · s`` (x j, k) with ``s = 2h / R``, as in
    :class:`recon.geometry.voxels.VoxelSpec`. Every face between an occupied voxel and an empty
    one (or the outside of the grid) becomes two triangles wound outward; vertices are shared
    between faces, so the mesh is watertight and its volume is ``count · s³``.

    Args:
        occupied: (R, R, R) bool.
        half_extent: h.

    Returns:
        ``(vertices (V, 3) float32, faces (F, 3) int32)``.
    """
    occ = np.asarray(occupied, bool)
    if occ.ndim != 3 or len(set(occ.shape)) != 1:
        raise ValueError(f"occupied must be a cubic (R, R, R) grid, got {occ.shape}")
    r = occ.shape[0]
    padded = np.pad(occ, 1)
    quads = []
    for axis in range(3):
        for side in (1, -1):
            neighbour = np.roll(padded, -side, axis=axis)[1:-1, 1:-1, 1:-1]
            cells = np.argwhere(occ & ~neighbour)
            if not len(cells):
                continue
            corners = _FACE_CORNERS[axis].copy()
            if side == -1:
                corners[:, axis] = 0
                corners = corners[::-1]
            quads.append(cells[:, None, :] + corners[None])
    if not quads:
        return np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int32)
    corners = np.concatenate(quads)  # (Q, 4, 3) integer lattice points
    lattice, inverse = np.unique(corners.reshape(-1, 3), axis=0, return_inverse=True)
    quad_index = inverse.reshape(-1, 4)
    faces = np.concatenate([quad_index[:, [0, 1, 2]], quad_index[:, [0, 2, 3]]])
    vertices = -half_extent + lattice * (2.0 * half_extent / r)
    return vertices.astype(np.float32), faces.astype(np.int32)
