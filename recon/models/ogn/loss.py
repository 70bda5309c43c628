"""OGN's loss: per level, the softmax cross-entropy of the supervised cells' 3-way scores against their
ground-truth states, averaged over those cells; the levels summed.

As released: ``OGNLossPrep`` labels the cells a propagation marked ``PROP_TRUE`` with their ground-truth
state (their own, or their nearest ancestor's when the ground truth stops above them) and every other
cell ``CLASS_IGNORE`` (``src/caffe/layers/ogn_loss_prep_layer.cpp:59-84``), and Caffe's
``SoftmaxWithLoss`` with that ignore label averages over the labelled cells (normalization ``VALID``,
divided by at least 1: ``src/caffe/layers/softmax_loss_layer.cpp:59-111``). The prototxts that sum the
levels are not published; each level weighs 1 here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from recon.models.ogn.networks import LevelOutput
from recon.models.ogn.octree import BatchedOctree

__all__ = ["level_targets", "ogn_loss"]


def level_targets(output: LevelOutput, octree: BatchedOctree) -> Tensor:
    """(K,) int64 ground-truth states of a level's K supervised cells (:meth:`BatchedOctree.states`)."""
    return octree.states(output.keys[output.supervised], output.level)


def ogn_loss(outputs: list[LevelOutput], octree: BatchedOctree) -> tuple[Tensor, dict[str, float]]:
    """The summed per-level cross-entropy () and scalars to log.

    Scalars: ``ce_<n>`` the level of n³ cells' mean cross-entropy, ``accuracy`` the share of
    supervised cells (all levels) whose argmax is their state, ``cells`` the supervised cells of the
    finest level per item.
    """
    total = outputs[0].logits.new_zeros((), dtype=torch.float32)
    scalars: dict[str, float] = {}
    right = seen = 0
    for output in outputs:
        target = level_targets(output, octree)
        logits = output.logits[output.supervised].float()
        count = max(int(target.numel()), 1)
        loss = F.cross_entropy(logits, target, reduction="sum") / count
        total = total + loss
        scalars[f"ce_{1 << output.level}"] = float(loss.detach())
        right += int((logits.detach().argmax(1) == target).sum())
        seen += int(target.numel())
    scalars["accuracy"] = right / max(seen, 1)
    scalars["cells"] = int(outputs[-1].supervised.sum()) / octree.batch_size
    return total, scalars
