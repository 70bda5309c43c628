"""AtlasNet's training loss: the Chamfer distance of the fused patches' points and the target points."""

from __future__ import annotations

from torch import Tensor

from recon.models.point_losses import chamfer_loss

__all__ = ["atlas_chamfer"]


def atlas_chamfer(pred: Tensor, target: Tensor) -> Tensor:
    """``mean(dist1) + mean(dist2)`` of squared nearest-neighbour distances (``training/trainer_loss.py:
    44-48``, ChamferDistancePytorch's ``chamfer_3DDist``), the patches fused into one cloud per item
    (``fuse_primitives``, lines 28-37).

    Args:
        pred: (B, K, n, 3) or (B, N, 3) predicted points.
        target: (B, M, 3) target points.

    Returns:
        () float: the mean over the batch of each item's two mean squared distances, summed (every
        cloud of a batch has the same size, so the release's means over batch and points are this).
    """
    pred = pred.reshape(len(pred), -1, 3).float()
    return chamfer_loss(pred, target.float()).mean()
