"""Mem3D's voxel triplet loss (paper §4.2, Eq. 9-12, as the reimplementation cites them); the BCE term is
:func:`recon.models.r2n2.loss.voxel_loss` (the mean binary cross-entropy of the logits).

For an item with image feature F and ground truth V, the filled memory slots split by voxel
similarity: positives ``S_v(V, V_i) > β``, negatives the rest. With ``p`` the positive slot of highest
key similarity and ``q`` the negative one of highest key similarity (the nearest positive and the
nearest negative, as in the memory loss of Kaiser et al., ICLR 2017, whose update and replace rules
Mem3D's writer has)::

    L_t = max(0, S_k(F, K_q) - S_k(F, K_p) + alpha)

averaged over the items that have both a positive and a negative (0 when none has). The gradient
reaches F only: keys are buffers. The reimplementation (``utils/losses.py:127-156``) takes the
*least* similar positive instead (batch-hard mining); the nearest positive is what the reader
needs, one positive ranked above every negative.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["voxel_triplet_loss"]


def voxel_triplet_loss(
    similarity: Tensor, voxel_similarity: Tensor, beta: float, margin: float
) -> tuple[Tensor, Tensor]:
    """The voxel triplet loss of a batch.

    Args:
        similarity: (B, m) float key similarities S_k(F, K_i), -inf at empty slots (differentiable in F).
        voxel_similarity: (B, m) float S_v(V, V_i) of each item's ground truth to every slot's value.
        beta: voxel similarity above which a slot is a positive.
        margin: alpha.

    Returns:
        ``(loss, valid)``: () float32 mean over the valid items, and (B,) bool, the items with at least
        one positive and one negative.
    """
    filled = torch.isfinite(similarity)
    positive = filled & (voxel_similarity > beta)
    negative = filled & ~(voxel_similarity > beta)
    low = torch.finfo(similarity.dtype).min
    nearest_positive = similarity.masked_fill(~positive, low).amax(1)
    nearest_negative = similarity.masked_fill(~negative, low).amax(1)
    valid = positive.any(1) & negative.any(1)
    hinge = (nearest_negative - nearest_positive + margin).clamp_min(0.0)
    if not bool(valid.any()):
        return (similarity.masked_fill(~filled, 0.0) * 0.0).sum(), valid
    return hinge[valid].mean(), valid
