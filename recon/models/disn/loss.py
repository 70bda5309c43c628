"""DISN's losses: the weighted L1 on the scaled SDF and the camera network's point-cloud transform loss."""

from __future__ import annotations

import torch
from torch import Tensor

from recon.models.disn.config import DISNConfig
from recon.models.geometry import transform_points

__all__ = ["ISO", "SDF_SCALE", "camera_loss", "disn_loss"]

#: DISN's SDF scale (``SDF_WEIGHT``) and the iso level its ground truth is shifted by.
SDF_SCALE = 10.0
ISO = 0.003


def disn_loss(pred: Tensor, sdf: Tensor, config: DISNConfig) -> Tensor:
    """DISN's weighted L1 ``mean(w |pred - 10 (sdf - 0.003)|)``; w = m1 if ``sdf - 0.003 <= near`` else m2.

    Args:
        pred: (B, N) predictions of ``10 (sdf - 0.003)``.
        sdf: (B, N) ground-truth SDF (world units, negative inside).
        config: gives ``m1``, ``m2`` and ``near``.

    Returns:
        () the loss.
    """
    target = sdf - ISO
    weight = torch.where(target <= config.near, config.m1, config.m2)
    return (weight * (pred - SDF_SCALE * target).abs()).mean()


def camera_loss(Rt_pred: Tensor, Rt_true: Tensor, points: Tensor) -> Tensor:
    """Point-cloud transform loss: ``mean ||(R̂ p + t̂) - (R p + t)||²`` over points (B, N, 3).

    ``Rt_pred`` and ``Rt_true`` are (B, 3, 4) world-to-camera ``[R | t]``; returns () the loss.
    """
    return (transform_points(points, Rt_pred) - transform_points(points, Rt_true)).pow(2).sum(-1).mean()
