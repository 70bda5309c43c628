"""3D-R2N2's loss and the IoU it logs.

The release's loss (``lib/layers.py`` ``SoftmaxWithLoss3D``) is the mean over voxels of the
two-class softmax cross-entropy; on the occupancy logit ``l = score[1] - score[0]`` that is the
logistic loss, ``-log sigmoid(l)`` for occupied voxels and ``-log sigmoid(-l)`` for empty ones.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["voxel_iou", "voxel_loss"]


def voxel_loss(logits: Tensor, voxels: Tensor) -> Tensor:
    """Mean binary cross-entropy of (B, n, n, n) occupancy logits against (B, n, n, n) bool voxels; ()."""
    return F.binary_cross_entropy_with_logits(logits, voxels.float())


@torch.no_grad()
def voxel_iou(logits: Tensor, voxels: Tensor, threshold: float) -> Tensor:
    """() IoU of the voxels whose probability exceeds ``threshold`` with the (B, n, n, n) ground truth."""
    pred = logits > np.log(threshold / (1 - threshold))
    target = voxels.float() > 0.5
    union = (pred | target).sum().clamp_min(1)
    return (pred & target).sum() / union
