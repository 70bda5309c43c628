"""DISN's losses: the weighted L1 on the scaled SDF and the camera network's point-cloud transform loss.

The released SDF loss is ``1000 · mean(w |...|)`` plus L2 weight decay ``1e-5 · ½ Σ w²`` on every
convolution and fully connected weight (``models/model_normalization.py``, ``get_loss``). The factor
1000 is left out here: Adam's steps do not depend on the loss's scale, so the decay becomes
``train.weight_decay: 1.0e-8`` (1e-5 / 1000) with ``weight_decay_on: weights``.
"""

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
    """Point-cloud transform loss: ``½ Σ ||(R̂ p + t̂) - (R p + t)||²`` over every point of the batch.

    The released code's ``tf.reduce_mean(tf.nn.l2_loss(sub_3d))`` (``cam_est/model_cam.py``,
    ``get_loss``): ``tf.nn.l2_loss`` of the whole (B, N, 3) difference is already a scalar, half its
    sum of squares, so the loss grows with the batch size and the number of points.

    Args:
        Rt_pred: (B, 3, 4) estimated world-to-camera ``[R | t]``.
        Rt_true: (B, 3, 4) true ``[R | t]``.
        points: (B, N, 3) world points (the shape's SDF samples).

    Returns:
        () the loss.
    """
    return 0.5 * (transform_points(points, Rt_pred) - transform_points(points, Rt_true)).pow(2).sum()
