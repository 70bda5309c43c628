"""PointSetGen's training loss: the released Chamfer distance, the paper's EMD and the L2 regularizer."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from recon.models.point_losses import chamfer_terms, emd_loss

__all__ = ["l2_regularizer", "psgn_chamfer", "psgn_emd"]


def psgn_chamfer(
    pred: Tensor, gt: Tensor, weights: tuple[float, float] = (10000.0, 5000.0)
) -> tuple[Tensor, Tensor, Tensor]:
    """The release's Chamfer loss, ``(mean fwd + mean bwd / 2) x 10000`` with the default weights.

    ``nn_distance(pt_gt, x)`` (``depthestimate/train_nn.py:160-165``) gives ``dists_forward``, each
    ground-truth point's squared distance to its nearest predicted point, and ``dists_backward``, each
    predicted point's to the ground truth; each is averaged over the batch and the points
    (``reduce_mean``), and the loss is ``weights[0] * fwd + weights[1] * bwd``. The nearest neighbours are
    held fixed and both points of a pair get the gradient, as ``tf_nndistance_g.cu``
    (:func:`recon.models.point_losses.chamfer_terms`).

    Args:
        pred: (B, N, 3) float predicted points; gt: (B, M, 3) float ground-truth points.
        weights: factors of the mean ground truth -> prediction and prediction -> ground truth terms.

    Returns:
        ``(loss, fwd, bwd)``: () float tensors; fwd and bwd are the unweighted batch means.
    """
    pred_to_gt, gt_to_pred = chamfer_terms(pred, gt, squared=True, reduction="mean")
    fwd, bwd = gt_to_pred.mean(), pred_to_gt.mean()
    return weights[0] * fwd + weights[1] * bwd, fwd, bwd


def psgn_emd(pred: Tensor, gt: Tensor) -> Tensor:
    """The paper's EMD, ``sum_x ||x - phi(x)||`` over the N predicted points under a near-optimal bijection
    phi, mean over the batch: N x :func:`recon.models.point_losses.emd_loss` (the mean matched distance).

    Args:
        pred: (B, N, 3) float; gt: (B, N, 3) float, the same N.

    Returns:
        () float tensor.
    """
    return (emd_loss(pred, gt) * pred.shape[1]).mean()


def l2_regularizer(model: nn.Module) -> Tensor:
    """``sum weight_decay * ||W||^2 / 2`` over the layers that carry a ``weight_decay`` (tflearn's
    ``L2`` regularizer on weights only, collected in ``REGULARIZATION_LOSSES``, train_nn.py:166).

    Returns:
        () float tensor (0 when no layer has a decay).
    """
    terms = [
        m.weight_decay * m.weight.float().square().sum() / 2
        for m in model.modules()
        if getattr(m, "weight_decay", 0) and getattr(m, "weight", None) is not None
    ]
    if not terms:
        return torch.zeros((), device=next(model.parameters()).device)
    return torch.stack(terms).sum()
