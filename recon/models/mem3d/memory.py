"""Mem3D's memory network: slots of (key = image feature, value = 32³ voxels, age), its reader and writer.

The memory is four registered buffers of :class:`ShapeMemory`, so it is part of the model's
``state_dict`` (checkpoints keep it bit for bit) and moves with ``.to(device)``:

=========  ======================  ==========================================================
buffer     shape, dtype            content
=========  ======================  ==========================================================
``keys``   (m, d) float32          unit-length image features (cosine similarity = dot product)
``values`` (m, n, n, n) bool       the ground-truth voxels written with the key
``ages``   (m,) int64              writes since the slot was last written or updated
``filled`` (m,) bool               slots written at least once (the others are never read)
=========  ======================  ==========================================================

Similarities (paper §3.1-3.2):

- key similarity ``S_k(F, K_i)``: cosine similarity of an image feature and a key;
- voxel similarity ``S_v(V, V') = 1 - mean((V - V')²)``: for binary voxels, one minus the fraction of
  voxels that differ (computed exactly, in integer counts).

**Reader** (:meth:`ShapeMemory.read`): the top-k filled slots by key similarity whose similarity
exceeds the read threshold, ordered by similarity; a missing read (fewer than k slots pass) is an
empty volume, so every item has k volumes.

**Writer** (:meth:`ShapeMemory.write`, training only; paper §3.1, the memory of Kaiser et al., ICLR
2017, with values compared by voxel similarity): the items of a batch are written one after the
other, in batch order, each seeing the memory the previous ones left. For an item with feature F and
ground truth V, let n1 be the filled slot of highest key similarity. If ``S_v(V, V_n1) > δ`` the
slot is *updated*: ``K_n1 ← normalize(F̂ + K_n1)`` (F̂ = F / ‖F‖), its value kept. Otherwise (also
when the memory is empty) the item is *written* into the first empty slot, or, when none is left,
the oldest one (highest age, the lowest index among equals): ``K ← F̂``, ``V ← V``. Either way the
written slot's age becomes 0 and the age of every other filled slot grows by 1.

Keys are stored normalized (the paper writes F and normalizes only updated keys): with unit keys an
update averages the directions of the old key and the new feature with equal weight, as in Kaiser et
al.; a raw F would outweigh the unit key by its norm. Similarities are the same either way.

All memory arithmetic runs in float32 with autocast disabled (bf16 would round the voxel counts).
:func:`gather_rows` gathers the items of every process under DDP, so that every process writes the
same items in the same order and the memories stay identical.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["ShapeMemory", "gather_rows", "key_similarity", "voxel_similarity"]

#: Slots compared at once by :func:`voxel_similarity` (bounds the float copy of the values).
CHUNK = 512


def key_similarity(features: Tensor, keys: Tensor) -> Tensor:
    """Cosine similarity S_k of (B, d) features to (m, d) unit keys: (B, m) float32 (differentiable)."""
    return F.normalize(features.float(), dim=1) @ keys.t()


@torch.no_grad()
def voxel_similarity(voxels: Tensor, values: Tensor) -> Tensor:
    """S_v = 1 - (voxels that differ) / n³ of every (B, n, n, n) bool grid to every (m, n, n, n) bool value.

    Returns:
        (B, m) float32, exact (counts of differing voxels are whole numbers below 2^24, and n³ is a
        power of two for n = 32).
    """
    a = voxels.reshape(voxels.shape[0], -1).float()
    total = a.shape[1]
    count_a = a.sum(1, keepdim=True)
    out = []
    with torch.autocast(voxels.device.type, enabled=False):
        for start in range(0, values.shape[0], CHUNK):
            b = values[start : start + CHUNK].reshape(-1, total).float()
            differ = count_a + b.sum(1)[None, :] - 2.0 * (a @ b.t())
            out.append(1.0 - differ / total)
    if not out:
        return a.new_zeros(a.shape[0], 0)
    return torch.cat(out, 1)


class ShapeMemory(nn.Module):
    """m slots of (unit key (d,), voxels (n, n, n) bool, age); see the module docstring.

    Args:
        slots: m.
        dim: d, the size of the image features.
        resolution: n, voxels per axis.
    """

    def __init__(self, slots: int, dim: int, resolution: int = 32):
        super().__init__()
        self.resolution = resolution
        self.register_buffer("keys", torch.zeros(slots, dim, dtype=torch.float32))
        grid = (resolution, resolution, resolution)
        self.register_buffer("values", torch.zeros(slots, *grid, dtype=torch.bool))
        self.register_buffer("ages", torch.zeros(slots, dtype=torch.int64))
        self.register_buffer("filled", torch.zeros(slots, dtype=torch.bool))

    @property
    def slots(self) -> int:
        return self.keys.shape[0]

    def similarity(self, features: Tensor) -> Tensor:
        """(B, d) features -> (B, m) float32 key similarity, -inf at empty slots (differentiable in F).

        With a gradient, the keys are copied into the graph, so that the writes that follow in the same
        step (in place) leave the backward pass its keys.
        """
        keys, filled = self.keys, self.filled
        if features.requires_grad:
            keys, filled = keys.clone(), filled.clone()
        with torch.autocast(features.device.type, enabled=False):
            s = key_similarity(features, keys)
        return s.masked_fill(~filled, float("-inf"))

    @torch.no_grad()
    def read(
        self, features: Tensor, k: int, threshold: float, order: str = "ascending"
    ) -> tuple[Tensor, Tensor, Tensor]:
        """The top-k values of each feature's most similar keys above ``threshold``.

        Args:
            features: (B, d) image features.
            k: values per item (at most m).
            threshold: a slot is read only when its key similarity exceeds it.
            order: ``descending`` (most similar first) or ``ascending`` (most similar last; the
                missing reads, empty volumes, then come first).

        Returns:
            ``(volumes, similarity, index)``: (B, k, n, n, n) float32 in {0, 1}, (B, k) float32
            (-inf where nothing was read) and (B, k) int64 slot indices (-1 where nothing was read),
            in ``order``.
        """
        top = self.similarity(features.detach()).topk(k, dim=1)  # descending
        read = top.values > threshold
        index = torch.where(read, top.indices, torch.full_like(top.indices, -1))
        similarity = torch.where(read, top.values, torch.full_like(top.values, float("-inf")))
        volumes = self.values[top.indices].float() * read[:, :, None, None, None]
        if order == "ascending":
            volumes, similarity, index = volumes.flip(1), similarity.flip(1), index.flip(1)
        return volumes, similarity, index

    @torch.no_grad()
    def write(self, features: Tensor, voxels: Tensor, delta: float) -> tuple[Tensor, Tensor]:
        """Write a batch into the memory, item after item (the writer of the module docstring).

        Args:
            features: (B, d) image features (detached; normalized here).
            voxels: (B, n, n, n) bool ground truth.
            delta: voxel similarity above which the nearest slot is updated rather than a slot written.

        Returns:
            ``(slot, updated)``: (B,) int64 the slot each item went to, (B,) bool whether it updated the
            nearest slot (else it was written into an empty or the oldest slot).
        """
        with torch.autocast(features.device.type, enabled=False):
            return self._write(F.normalize(features.detach().float(), dim=1), voxels.bool(), delta)

    def _write(self, keys: Tensor, voxels: Tensor, delta: float) -> tuple[Tensor, Tensor]:
        """:meth:`write` of (B, d) unit keys and (B, n, n, n) bool voxels, in float32."""
        total = voxels[0].numel()
        never = torch.iinfo(torch.int64).max
        slots, updated = [], []
        for f, v in zip(keys, voxels, strict=True):
            nearest = (self.keys @ f).masked_fill(~self.filled, float("-inf")).argmax()
            differ = (self.values[nearest] ^ v).sum()
            update = self.filled.any() & ((1.0 - differ.float() / total) > delta)
            # The first empty slot, else the oldest (argmax returns the first of equal maxima).
            replace = torch.where(self.filled, self.ages, torch.full_like(self.ages, never)).argmax()
            slot = torch.where(update, nearest, replace)
            self.keys[slot] = torch.where(update, F.normalize(f + self.keys[nearest], dim=0), f)
            self.values[slot] = torch.where(update, self.values[slot], v)
            self.filled[slot] = True
            self.ages += self.filled.long()
            self.ages[slot] = 0
            slots.append(slot)
            updated.append(update)
        return torch.stack(slots), torch.stack(updated)


def gather_rows(*tensors: Tensor) -> tuple[Tensor, ...]:
    """The rows of every process's tensors, concatenated in rank order (each tensor (B_r, ...)).

    Under ``torch.distributed`` with more than one process every process gets the same result (the
    batches may differ in length); otherwise the tensors are returned as they are. Bool tensors travel
    as uint8 (gloo has no bool). No gradient flows through the gathered rows.
    """
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2:
        return tensors
    world = dist.get_world_size()
    device = tensors[0].device
    size = torch.tensor([tensors[0].shape[0]], device=device)
    sizes = [torch.zeros_like(size) for _ in range(world)]
    dist.all_gather(sizes, size)
    sizes = [int(s) for s in sizes]
    longest = max(sizes)
    out = []
    for t in tensors:
        t = t.detach()
        sent = t.to(torch.uint8) if t.dtype == torch.bool else t
        padded = sent.new_zeros(longest, *sent.shape[1:])
        padded[: sent.shape[0]] = sent
        parts = [torch.empty_like(padded) for _ in range(world)]
        dist.all_gather(parts, padded.contiguous())
        rows = torch.cat([p[:n] for p, n in zip(parts, sizes, strict=True)])
        out.append(rows.bool() if t.dtype == torch.bool else rows)
    return tuple(out)
