"""Occupancy Networks' training loss and its validation IoU, on the occupancy points of a batch."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from recon.models.onet.extract import logit

__all__ = ["occupancy_iou", "occupancy_loss"]


def occupancy_loss(logits: Tensor, occupied: Tensor) -> Tensor:
    """BCE with logits summed over each item's points, averaged over the batch.

    As ``compute_loss`` (``im2mesh/onet/training.py:167-171``: ``loss_i.sum(-1).mean()``; no KL term
    with ``z_dim: 0``).

    Args:
        logits: (B, T) float decoder outputs.
        occupied: (B, T) bool (or 0/1 float) labels of the points.

    Returns:
        () float loss.
    """
    loss = F.binary_cross_entropy_with_logits(logits.float(), occupied.float(), reduction="none")
    return loss.sum(-1).mean()


def occupancy_iou(logits: Tensor, occupied: Tensor, threshold: float) -> Tensor:
    """IoU of the predicted occupancy (probability >= ``threshold``) and the labels, mean over items.

    As ``eval_step`` (``im2mesh/onet/training.py:92-95``, ``compute_iou`` in ``im2mesh/common.py:7-35``:
    intersection over union of the points' inside sets per item, then the mean). An item whose two
    sets are both empty scores 1 (every point agrees; the release's 0/0 is NaN, which its 100,000
    points never meet).

    Args:
        logits: (B, T) float decoder outputs; occupied: (B, T) bool labels; threshold: probability.

    Returns:
        () float IoU in [0, 1].
    """
    predicted = logits.float() >= logit(threshold)
    truth = occupied.bool()
    union = (predicted | truth).sum(-1).float()
    intersection = (predicted & truth).sum(-1).float()
    iou = torch.where(union > 0, intersection / union.clamp(min=1.0), torch.ones_like(union))
    return iou.mean()
