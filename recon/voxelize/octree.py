"""Adaptive octrees of a voxel grid (O-CNN / OGN style), stored as plain per-level arrays.

**Grid.** The input is an (n, n, n) bool occupancy grid, n = 2^depth, axes x, y, z, over the
cube ``[-h, h]^3``: voxel ``[i, j, k]`` covers ``-h + [i, i+1) * (2h/n)`` on x (then y, z).

**Morton keys.** A cell ``(i, j, k)`` of a level is named by its Morton (Z-order) key, the bits
of the three coordinates interleaved with **x in the highest bit of each triple**::

    key = sum_b  (x_b << (3b + 2)) | (y_b << (3b + 1)) | (z_b << 3b)

so ``(1, 0, 0) -> 4``, ``(0, 1, 0) -> 2``, ``(0, 0, 1) -> 1``. This is O-CNN's order
(``compute_key`` in ``octree/octree/octree_nn.cpp``; ``xyz2key`` in ocnn-pytorch's
``ocnn/octree/shuffled_key.py``). The 8 children of the node with key ``K`` have the keys
``8 K + c``, c = 0..7, with child offset ``(c >> 2 & 1, c >> 1 & 1, c & 1)`` on (x, y, z); the
level-``l + m`` descendants of ``K`` are exactly the keys in ``[K << 3m, (K + 1) << 3m)``.
:func:`morton_encode` / :func:`morton_decode` handle up to 21 bits per axis (63-bit keys).

**Octree** (:class:`Octree`), levels l = 0..depth, level l a grid of 2^l cells per axis, each
cell covering (2^(depth-l))^3 finest voxels. Per level:

- ``keys[l]``: (N_l,) uint32, Morton keys of the level's nodes, sorted ascending. Level 0 is
  the root, key 0. Levels below the deepest subdivided one are empty arrays (N_l = 0).
- ``state[l]``: (N_l,) uint8, OGN's three states: ``EMPTY`` (0, no voxel of the cell is
  occupied), ``FULL`` (1, all are), ``MIXED`` (2, otherwise).
- ``child[l]``: (N_l,) int32, index into level l + 1 of the node's first child; its 8 children
  are consecutive there, in key order. -1 for nodes without children.

Only MIXED nodes have children, and every MIXED node has all 8; a node at the last level is
never MIXED. The nodes of level l + 1 are therefore the children of the MIXED nodes of
level l, and the occupancy grid is the union of the blocks of the FULL nodes of all levels
(:func:`octree_to_dense` inverts :func:`build_octree` exactly). Keys fit uint32 because
depth <= 10 (as in OGN, whose keys are 32-bit).

**OGN keys.** OGN (Tatarchenko et al. 2017, ``lmb-freiburg/ogn``,
``include/image_tree_tools/octree.h``) names a cell of level l by ``(1 << 3l) | morton_3d(x, y,
z)``, the leading 1 bit marking the level, where its ``morton_3d``
(``include/image_tree_tools/zindex.h``) puts **x in the lowest** bit of each triple
(``x | y << 1 | z << 2``), the opposite of O-CNN. :func:`ogn_keys` reproduces that definition.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "EMPTY",
    "FULL",
    "MAX_DEPTH",
    "MIXED",
    "Octree",
    "build_octree",
    "morton_decode",
    "morton_encode",
    "node_centres",
    "node_counts",
    "octree_to_dense",
    "ogn_keys",
]

EMPTY = np.uint8(0)
FULL = np.uint8(1)
MIXED = np.uint8(2)

MAX_DEPTH = 10
"""Deepest octree :func:`build_octree` accepts: 3 * 10 = 30 key bits fit uint32."""

_MORTON_BITS = 21  # bits per axis that fit a uint64 key


def _spread_bits(v: np.ndarray) -> np.ndarray:
    """Insert two zero bits after each of the low 21 bits of uint64 ``v`` (bit b -> bit 3b)."""
    v = v & np.uint64(0x1FFFFF)
    v = (v | (v << np.uint64(32))) & np.uint64(0x1F00000000FFFF)
    v = (v | (v << np.uint64(16))) & np.uint64(0x1F0000FF0000FF)
    v = (v | (v << np.uint64(8))) & np.uint64(0x100F00F00F00F00F)
    v = (v | (v << np.uint64(4))) & np.uint64(0x10C30C30C30C30C3)
    v = (v | (v << np.uint64(2))) & np.uint64(0x1249249249249249)
    return v


def _compact_bits(v: np.ndarray) -> np.ndarray:
    """Inverse of :func:`_spread_bits`: gather bits 0, 3, 6, ... of uint64 ``v`` into 0, 1, 2, ..."""
    v = v & np.uint64(0x1249249249249249)
    v = (v | (v >> np.uint64(2))) & np.uint64(0x10C30C30C30C30C3)
    v = (v | (v >> np.uint64(4))) & np.uint64(0x100F00F00F00F00F)
    v = (v | (v >> np.uint64(8))) & np.uint64(0x1F0000FF0000FF)
    v = (v | (v >> np.uint64(16))) & np.uint64(0x1F00000000FFFF)
    v = (v | (v >> np.uint64(32))) & np.uint64(0x1FFFFF)
    return v


def morton_encode(ijk: np.ndarray) -> np.ndarray:
    """Morton keys of integer cell coordinates, x in the highest bit of each triple.

    Args:
        ijk: (N, 3) integer array of (x, y, z) cell indices, each in ``[0, 2^21)``.

    Returns:
        (N,) uint64 keys ``sum_b (x_b << 3b+2) | (y_b << 3b+1) | (z_b << 3b)``.
    """
    ijk = np.asarray(ijk)
    if ijk.ndim != 2 or ijk.shape[1] != 3:
        raise ValueError(f"ijk must have shape (N, 3), got {ijk.shape}")
    if ijk.size and not np.issubdtype(ijk.dtype, np.integer):
        raise TypeError(f"ijk must be integer, got {ijk.dtype}")
    if ijk.size and (ijk.min() < 0 or ijk.max() >= 1 << _MORTON_BITS):
        raise ValueError(f"cell indices must lie in [0, 2^{_MORTON_BITS})")
    v = ijk.astype(np.uint64)
    return (
        (_spread_bits(v[:, 0]) << np.uint64(2))
        | (_spread_bits(v[:, 1]) << np.uint64(1))
        | _spread_bits(v[:, 2])
    )


def morton_decode(keys: np.ndarray) -> np.ndarray:
    """Cell coordinates of Morton keys (inverse of :func:`morton_encode`).

    Args:
        keys: (N,) unsigned (or non-negative) integer keys of at most 63 bits.

    Returns:
        (N, 3) int64 (x, y, z) cell indices.
    """
    keys = np.asarray(keys)
    if keys.ndim != 1:
        raise ValueError(f"keys must have shape (N,), got {keys.shape}")
    if keys.size and np.issubdtype(keys.dtype, np.signedinteger) and keys.min() < 0:
        raise ValueError("keys must be non-negative")
    k = keys.astype(np.uint64)
    out = np.empty((k.shape[0], 3), dtype=np.int64)
    out[:, 0] = _compact_bits(k >> np.uint64(2))
    out[:, 1] = _compact_bits(k >> np.uint64(1))
    out[:, 2] = _compact_bits(k)
    return out


@dataclass(eq=False)
class Octree:
    """An adaptive octree of a (2^depth)^3 occupancy grid (format in the module docstring).

    Attributes:
        depth: number of subdivisions; the finest level is ``depth``, of 2^depth cells per axis.
        keys: per level l = 0..depth, (N_l,) uint32 Morton keys of the nodes, sorted ascending.
        state: per level, (N_l,) uint8 ``EMPTY`` / ``FULL`` / ``MIXED``.
        child: per level, (N_l,) int32 index into level l + 1 of the first of the node's 8
            consecutive children, -1 for nodes without children (all but MIXED nodes).
    """

    depth: int
    keys: list[np.ndarray]
    state: list[np.ndarray]
    child: list[np.ndarray]

    @property
    def resolution(self) -> int:
        """Voxels per axis of the finest level, 2^depth."""
        return 1 << self.depth


_CHILD_OFFSETS = np.array([[(c >> 2) & 1, (c >> 1) & 1, c & 1] for c in range(8)], dtype=np.int64)
"""(8, 3) int64 (x, y, z) offset of child c = 0..7 (its Morton digit)."""


def _check_depth(depth: int) -> int:
    if isinstance(depth, bool) or not isinstance(depth, int | np.integer):
        raise TypeError(f"depth must be an int, got {type(depth).__name__}")
    depth = int(depth)
    if not 0 <= depth <= MAX_DEPTH:
        raise ValueError(f"depth must be in [0, {MAX_DEPTH}], got {depth}")
    return depth


def _pool2(grid: np.ndarray, reduce) -> np.ndarray:
    """2x2x2 block reduction (``np.logical_or`` / ``np.logical_and``) of an (r, r, r) bool grid."""
    out = reduce(grid[0::2, 0::2, 0::2], grid[0::2, 0::2, 1::2])  # children 0 and 1
    for dx, dy, dz in _CHILD_OFFSETS[2:]:
        reduce(out, grid[dx::2, dy::2, dz::2], out=out)
    return out


def build_octree(occupied: np.ndarray, depth: int) -> Octree:
    """Adaptive octree of an occupancy grid.

    A node is FULL or EMPTY when its whole block of finest voxels is occupied or free, and is
    then a leaf; otherwise it is MIXED and has 8 children. Built from an any / all pooling
    pyramid, top down, in vectorized numpy.

    Args:
        occupied: (n, n, n) bool occupancy grid, axes x, y, z, n = 2^depth.
        depth: octree depth, 0..``MAX_DEPTH``.

    Returns:
        The :class:`Octree`; ``octree_to_dense(build_octree(g, d))`` equals ``g``.
    """
    depth = _check_depth(depth)
    occupied = np.asarray(occupied)
    n = 1 << depth
    if occupied.shape != (n, n, n):
        raise ValueError(f"occupied must have shape ({n}, {n}, {n}) for depth {depth}, got {occupied.shape}")
    if occupied.dtype != np.bool_:
        raise TypeError(f"occupied must be a bool array, got {occupied.dtype}")

    # any_[l] / all_[l]: (2^l,)^3 bool, some / every voxel of the level-l cell is occupied.
    any_: list[np.ndarray] = [occupied]
    all_: list[np.ndarray] = [occupied]
    for _ in range(depth):
        any_.append(_pool2(any_[-1], np.logical_or))
        all_.append(_pool2(all_[-1], np.logical_and))
    any_.reverse()
    all_.reverse()

    keys: list[np.ndarray] = []
    state: list[np.ndarray] = []
    child: list[np.ndarray] = []
    level_keys = np.zeros(1, dtype=np.uint64)
    level_ijk = np.zeros((1, 3), dtype=np.int64)
    for level in range(depth + 1):
        i, j, k = level_ijk.T
        st = np.where(all_[level][i, j, k], FULL, np.where(any_[level][i, j, k], MIXED, EMPTY))
        mixed = st == MIXED
        ch = np.full(st.shape, -1, dtype=np.int32)
        ch[mixed] = 8 * np.arange(np.count_nonzero(mixed), dtype=np.int32)
        keys.append(level_keys.astype(np.uint32))
        state.append(st.astype(np.uint8))
        child.append(ch)
        # Children of the MIXED nodes, in key order: parents are sorted and 8 K + c is
        # increasing in c, so the concatenation is sorted.
        level_keys = ((level_keys[mixed] << np.uint64(3))[:, None] + np.arange(8, dtype=np.uint64)).ravel()
        level_ijk = (2 * level_ijk[mixed][:, None, :] + _CHILD_OFFSETS).reshape(-1, 3)
    return Octree(depth=depth, keys=keys, state=state, child=child)


def octree_to_dense(octree: Octree) -> np.ndarray:
    """Occupancy grid of an octree: the union of the blocks of its FULL nodes at every level.

    Args:
        octree: an :class:`Octree`.

    Returns:
        (n, n, n) bool grid, n = 2^depth, axes x, y, z.
    """
    depth = _check_depth(octree.depth)
    if not len(octree.keys) == len(octree.state) == depth + 1:
        raise ValueError(f"an octree of depth {depth} has {depth + 1} levels")
    grid = np.zeros((1, 1, 1), dtype=bool)
    for level in range(depth + 1):
        if level:
            # Nearest-neighbour upsampling: each cell becomes its 2x2x2 children.
            r = grid.shape[0]
            finer = np.empty((2 * r, 2 * r, 2 * r), dtype=bool)
            finer.reshape(r, 2, r, 2, r, 2)[...] = grid[:, None, :, None, :, None]
            grid = finer
        full = octree.state[level] == FULL
        if np.any(full):
            i, j, k = morton_decode(octree.keys[level][full]).T
            grid[i, j, k] = True
    return grid


def node_centres(octree: Octree, level: int, half_extent: float = 1.0) -> np.ndarray:
    """World coordinates of the centres of a level's nodes.

    The cell ``(i, j, k)`` of level l has edge ``s = 2h / 2^l`` and centre ``-h + (i + 0.5) s``
    on x (then y, z), h = ``half_extent``.

    Args:
        octree: an :class:`Octree`.
        level: 0..depth.
        half_extent: the grid covers ``[-half_extent, half_extent]^3``.

    Returns:
        (N_l, 3) float64 centres, in the order of ``octree.keys[level]``.
    """
    if not 0 <= level <= octree.depth:
        raise ValueError(f"level must be in [0, {octree.depth}], got {level}")
    size = 2.0 * half_extent / (1 << level)
    return -half_extent + (morton_decode(octree.keys[level]) + 0.5) * size


def ogn_keys(octree: Octree, level: int) -> np.ndarray:
    """OGN's keys of a level's nodes: ``(1 << 3 level) | morton_3d(x, y, z)``.

    As ``GeneralOctree::compute_key`` in OGN's ``include/image_tree_tools/octree.h``, with its
    ``morton_3d`` (``zindex.h``) putting x in the **lowest** bit of each triple (the reverse of
    :func:`morton_encode`): bit ``3b`` is x_b, ``3b + 1`` y_b, ``3b + 2`` z_b. The leading 1
    bit gives the level (OGN's ``compute_level``: ``(bit_length - 1) // 3``).

    Args:
        octree: an :class:`Octree`.
        level: 0..depth.

    Returns:
        (N_l,) uint32 keys, in the order of ``octree.keys[level]`` (not sorted by OGN key).
    """
    if not 0 <= level <= octree.depth:
        raise ValueError(f"level must be in [0, {octree.depth}], got {level}")
    ijk = morton_decode(octree.keys[level])
    # OGN's morton_3d(x, y, z) is this module's Morton key of (z, y, x).
    return (morton_encode(ijk[:, ::-1]) | np.uint64(1 << (3 * level))).astype(np.uint32)


def node_counts(octree: Octree) -> list[dict[str, int]]:
    """Node counts per level, for summaries.

    Args:
        octree: an :class:`Octree`.

    Returns:
        One dict per level l = 0..depth: ``{"nodes", "empty", "full", "mixed"}`` (ints).
    """
    out = []
    for st in octree.state:
        counts = np.bincount(st, minlength=3)
        out.append(
            {
                "nodes": int(st.size),
                "empty": int(counts[EMPTY]),
                "full": int(counts[FULL]),
                "mixed": int(counts[MIXED]),
            }
        )
    return out
