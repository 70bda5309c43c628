"""Octrees of a batch in PyTorch: the pipeline's octree store (Morton keys, empty / full / mixed states)
as tensors, and the structure operations of OGN's layers (children, neighbours, propagation, painting).

**Keys.** A cell ``(x, y, z)`` of level l (2^l cells per axis) of batch item b has the key
``(b << 3l) | morton(x, y, z)``, ``morton`` the store's order (x in the highest bit of each triple,
``docs/data_format.md`` §5.4; :func:`recon.voxelize.octree.morton_encode`). Sorting keys sorts by
item, then in Z order; the 8 children of key K are ``(K << 3) | c``, c = 0..7 with child offset
``(c >> 2 & 1, c >> 1 & 1, c & 1)``, so children of sorted cells come out sorted, and ``K >> 3m`` is
the key of K's ancestor m levels up, batch prefix included. A level of a batch is a sorted (M,)
int64 key tensor with an (M, C) feature tensor in the same order; nothing here allocates a dense
grid finer than the level a caller asks to paint.

**Ground truth.** :class:`BatchedOctree` stacks the loader's ``octree`` target (per item, per level
``keys``, ``state``, ``child``) into batched keys and states per level. :meth:`BatchedOctree.states`
gives the state of any cell: its own when the octree has it, else that of its nearest ancestor the
octree has (a leaf, so empty or full): OGN's ``get_value(key, use_voxel_grid=true)``
(``include/image_tree_tools/octree.h:157-177``), which ``OGNLossPrep`` uses for the targets of
predicted cells (``src/caffe/layers/ogn_loss_prep_layer.cpp:75-77``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = [
    "EMPTY",
    "FULL",
    "MIXED",
    "BatchedOctree",
    "cell_coordinates",
    "cell_keys",
    "children",
    "children_neighbour_index",
    "decode",
    "encode",
    "level_keys",
    "lookup",
    "neighbour_index",
    "neighbour_offsets",
    "paint",
    "propagate",
]

EMPTY, FULL, MIXED = 0, 1, 2

#: Neighbour keys searched per call in :func:`neighbour_index` (bounds its temporary memory).
_LOOKUP_CHUNK = 1 << 21


def _spread(v: Tensor) -> Tensor:
    """Bit b of the low 21 bits of int64 ``v`` moved to bit 3b (``recon.voxelize.octree._spread_bits``)."""
    v = v & 0x1FFFFF
    v = (v | (v << 32)) & 0x1F00000000FFFF
    v = (v | (v << 16)) & 0x1F0000FF0000FF
    v = (v | (v << 8)) & 0x100F00F00F00F00F
    v = (v | (v << 4)) & 0x10C30C30C30C30C3
    return (v | (v << 2)) & 0x1249249249249249


def _compact(v: Tensor) -> Tensor:
    """Inverse of :func:`_spread`: bits 0, 3, 6, ... of int64 ``v`` gathered into 0, 1, 2, ..."""
    v = v & 0x1249249249249249
    v = (v | (v >> 2)) & 0x10C30C30C30C30C3
    v = (v | (v >> 4)) & 0x100F00F00F00F00F
    v = (v | (v >> 8)) & 0x1F0000FF0000FF
    v = (v | (v >> 16)) & 0x1F00000000FFFF
    return (v | (v >> 32)) & 0x1FFFFF


def encode(xyz: Tensor, level: int) -> Tensor:
    """Morton keys of (M, 3) integer cell coordinates of ``level`` (x highest in each triple); (M,) int64."""
    xyz = xyz.long()
    return (_spread(xyz[:, 0]) << 2) | (_spread(xyz[:, 1]) << 1) | _spread(xyz[:, 2])


def decode(keys: Tensor, level: int) -> Tensor:
    """(M, 3) int64 cell coordinates (x, y, z) of (M,) Morton keys of ``level`` (batch prefix ignored)."""
    keys = keys.long() & ((1 << (3 * level)) - 1)
    return torch.stack([_compact(keys >> 2), _compact(keys >> 1), _compact(keys)], dim=1)


def cell_keys(batch: Tensor, xyz: Tensor, level: int) -> Tensor:
    """(M,) int64 batched keys of cells given by (M,) batch indices and (M, 3) coordinates at ``level``."""
    return (batch.long() << (3 * level)) | encode(xyz, level)


def cell_coordinates(keys: Tensor, level: int) -> tuple[Tensor, Tensor]:
    """``(batch (M,), xyz (M, 3))`` int64 of (M,) batched keys of ``level``."""
    keys = keys.long()
    return keys >> (3 * level), decode(keys & ((1 << (3 * level)) - 1), level)


def level_keys(batch_size: int, level: int, device=None) -> Tensor:
    """(B · 8^level,) int64 sorted keys of every cell of ``level`` of every item (a dense level)."""
    return torch.arange(batch_size << (3 * level), dtype=torch.long, device=device)


def children(keys: Tensor) -> Tensor:
    """(8M,) keys of the 8 children of each of (M,) keys, in key order (sorted if ``keys`` is)."""
    return ((keys.long() << 3).unsqueeze(1) | torch.arange(8, device=keys.device)).reshape(-1)


def lookup(query: Tensor, keys: Tensor) -> Tensor:
    """(M,) int64 index of each query key in the sorted (N,) ``keys``, -1 where it is absent."""
    if keys.numel() == 0:
        return torch.full_like(query, -1, dtype=torch.long)
    pos = torch.searchsorted(keys, query.contiguous())
    found = keys[pos.clamp(max=keys.numel() - 1)] == query
    return torch.where(found, pos, -1)


def neighbour_offsets(radius: int, device=None) -> Tensor:
    """((2r+1)³, 3) int64 offsets, x slowest: the order of a ``Conv3d`` kernel's (D, H, W) taps."""
    r = torch.arange(-radius, radius + 1, device=device)
    return torch.stack(torch.meshgrid(r, r, r, indexing="ij"), dim=-1).reshape(-1, 3)


def neighbour_index(query: Tensor, keys: Tensor, level: int, radius: int = 1) -> Tensor:
    """Where the neighbours of cells are among the cells of a level.

    Args:
        query: (M,) batched keys of cells of ``level``.
        keys: (N,) sorted batched keys of the level's cells present.
        level: the level (2^level cells per axis).
        radius: neighbours within ``radius`` cells on each axis (the cell itself included).

    Returns:
        (M, (2r+1)³) int32: index into ``keys`` of the neighbour at each offset of
        :func:`neighbour_offsets`, -1 where it is absent or outside the grid (OGN's
        ``get_neighbor_keys``, ``include/image_tree_tools/octree.h:117-155``).
    """
    batch, xyz = cell_coordinates(query, level)
    size = 1 << level
    offsets = neighbour_offsets(radius, query.device)
    out = torch.empty(query.numel(), len(offsets), dtype=torch.int32, device=query.device)
    step = max(1, _LOOKUP_CHUNK // max(query.numel(), 1))  # offsets searched at once
    for start in range(0, len(offsets), step):
        moved = xyz.unsqueeze(1) + offsets[start : start + step]  # (M, s, 3)
        inside = ((moved >= 0) & (moved < size)).all(dim=2)
        index = lookup(
            cell_keys(
                batch.unsqueeze(1).expand_as(inside).reshape(-1),
                moved.clamp(0, size - 1).reshape(-1, 3),
                level,
            ),
            keys,
        )
        out[:, start : start + step] = torch.where(inside, index.view(inside.shape), -1)
    return out


def _children_taps() -> tuple[Tensor, Tensor]:
    """(8, 27) int64 parent tap and child digit of the neighbour at each 3³ tap of each child digit."""
    offsets = neighbour_offsets(1)  # (27, 3)
    digits = torch.tensor([[(c >> 2) & 1, (c >> 1) & 1, c & 1] for c in range(8)])  # (8, 3)
    moved = digits[:, None, :] + offsets[None]  # (8, 27, 3) in -1..2, at the children's level
    parent = moved.div(2, rounding_mode="floor") + 1  # the neighbour's parent's offset, + 1
    child = moved.remainder(2)
    tap = (parent * torch.tensor([9, 3, 1])).sum(-1)
    digit = (child * torch.tensor([4, 2, 1])).sum(-1)
    return tap, digit.to(torch.int32)


_PARENT_TAP, _CHILD_DIGIT = _children_taps()


def children_neighbour_index(parents: Tensor) -> Tensor:
    """The 3³ neighbours of the children of cells, from the 3³ neighbours of those cells.

    Args:
        parents: (K, 27) int, :func:`neighbour_index` (radius 1) of K sorted cells among themselves.

    Returns:
        (8K, 27) int32, equal to ``neighbour_index(children(keys), children(keys), level + 1, 1)``: the
        neighbour of child c at tap t is child ``d`` of the parent's neighbour at tap ``T(c, t)`` (a
        cell's children are rows 8i .. 8i + 7), so 8 times fewer keys are searched.
    """
    tap, digit = _PARENT_TAP.to(parents.device), _CHILD_DIGIT.to(parents.device)
    parent = parents.to(torch.int32)[:, tap]  # (K, 8, 27)
    out = torch.where(parent >= 0, parent * 8 + digit, -1)
    return out.reshape(-1, tap.shape[1])


def propagate(
    keys: Tensor, level: int, supervised: Tensor, states: Tensor, radius: int
) -> tuple[Tensor, Tensor]:
    """OGN's propagation layer (``OGNProp``, ``src/caffe/layers/ogn_prop_layer.cpp:74-157``): the cells of a
    level whose children the next level computes.

    The supervised cells in state MIXED (the ground truth's in ``known`` mode, the argmax of the
    prediction in ``pred`` mode), and, when ``radius`` > 0, the present cells within ``radius`` of them,
    which the next level's convolutions read (``PROP_FALSE``: computed, never supervised nor refined).

    Args:
        keys: (M,) sorted batched keys of the level's cells.
        level: their level.
        supervised: (M,) bool, the cells the loss sees (OGN's ``PROP_TRUE``).
        states: (M,) int, the state that decides (0 empty, 1 full, 2 mixed).
        radius: neighbourhood of a mixed cell that is propagated with it.

    Returns:
        ``(index, refined)``: (K,) int64 sorted indices of the propagated cells into ``keys``, and (K,)
        bool, True for the mixed cells (their children are supervised) and False for the neighbours.
    """
    refine = supervised & (states == MIXED)
    keep = refine.clone()
    if radius > 0 and bool(refine.any()):
        near = neighbour_index(keys[refine], keys, level, radius).reshape(-1)
        keep[near[near >= 0].long()] = True
    index = keep.nonzero().squeeze(1)
    return index, refine[index]


def paint(levels: Sequence[tuple[int, Tensor]], depth: int, batch_size: int) -> Tensor:
    """(B, n, n, n) bool voxels, n = 2^depth: the union of the blocks of full cells of several levels.

    Args:
        levels: ``(level, keys)`` pairs, each the (M,) batched keys of the full cells of that level,
            levels in increasing order.
        depth: level of the output voxels.
        batch_size: B.

    The grid is built at the first level and upsampled level by level (each cell to its 2³
    children), as :func:`recon.voxelize.octree.octree_to_dense`; axes x, y, z.
    """
    device = levels[0][1].device if levels else None
    start = levels[0][0] if levels else depth
    grid = torch.zeros(batch_size, *(1 << start,) * 3, dtype=torch.bool, device=device)
    current = start
    for level, keys in levels:
        while current < level:
            grid = grid.repeat_interleave(2, 1).repeat_interleave(2, 2).repeat_interleave(2, 3)
            current += 1
        batch, xyz = cell_coordinates(keys, level)
        grid[batch, xyz[:, 0], xyz[:, 1], xyz[:, 2]] = True
    while current < depth:
        grid = grid.repeat_interleave(2, 1).repeat_interleave(2, 2).repeat_interleave(2, 3)
        current += 1
    return grid


@dataclass
class BatchedOctree:
    """The ground-truth octrees of a batch, level by level (format in the module docstring).

    Attributes:
        depth: the finest level D.
        batch_size: B.
        keys: per level l = 0..D, (N_l,) int64 sorted batched keys of the octrees' nodes.
        state: per level, (N_l,) int64 states (0 empty, 1 full, 2 mixed).
    """

    depth: int
    batch_size: int
    keys: list[Tensor]
    state: list[Tensor]

    @classmethod
    def stack(cls, octrees: Sequence[Sequence[dict]], device=None) -> BatchedOctree:
        """The octrees of the loader's ``octree`` target, one per item (per level dicts of ``keys``
        (M,) int64, ``state`` (M,) uint8, ``child`` (M,) int32)."""
        depths = {len(levels) - 1 for levels in octrees}
        if len(depths) != 1:
            raise ValueError(f"the batch's octrees have different depths: {sorted(depths)}")
        (depth,) = depths
        keys, state = [], []
        for level in range(depth + 1):
            keys.append(
                torch.cat(
                    [(b << (3 * level)) | levels[level]["keys"].long() for b, levels in enumerate(octrees)]
                ).to(device)
            )
            state.append(torch.cat([levels[level]["state"].long() for levels in octrees]).to(device))
        return cls(depth, len(octrees), keys, state)

    def unstack(self) -> list[list[dict[str, Tensor]]]:
        """The octrees in the store's format: per item, per level ``keys`` (M,) int64 (without the batch
        prefix), ``state`` (M,) uint8 and ``child`` (M,) int32, the index in level l + 1 of the first of
        a mixed node's 8 consecutive children, -1 for the others."""
        out: list[list[dict[str, Tensor]]] = [[] for _ in range(self.batch_size)]
        for level, (keys, state) in enumerate(zip(self.keys, self.state, strict=True)):
            batch = keys >> (3 * level)
            for b in range(self.batch_size):
                mine = batch == b
                st = state[mine]
                mixed = st == MIXED
                child = torch.full(st.shape, -1, dtype=torch.int32, device=st.device)
                child[mixed] = 8 * torch.arange(int(mixed.sum()), dtype=torch.int32, device=st.device)
                out[b].append(
                    {
                        "keys": keys[mine] & ((1 << (3 * level)) - 1),
                        "state": st.to(torch.uint8),
                        "child": child,
                    }
                )
        return out

    def states(self, query: Tensor, level: int) -> Tensor:
        """(M,) int64 ground-truth state of (M,) batched cell keys of ``level``: the cell's own, else its
        nearest ancestor's in the octree (a leaf: empty or full)."""
        out = torch.full(query.shape, -1, dtype=torch.long, device=query.device)
        for up in range(level + 1):
            missing = out < 0
            if not bool(missing.any()):
                break
            index = lookup(query[missing] >> (3 * up), self.keys[level - up])
            found = index >= 0
            out[missing.nonzero().squeeze(1)[found]] = self.state[level - up][index[found]]
        return out

    def voxels(self) -> Tensor:
        """(B, n, n, n) bool occupancy, n = 2^depth: the union of the blocks of the full nodes."""
        pairs = enumerate(zip(self.keys, self.state, strict=True))
        return paint(
            [(level, keys[state == FULL]) for level, (keys, state) in pairs], self.depth, self.batch_size
        )
