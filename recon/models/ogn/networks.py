"""OGN's network: image encoder -> dense 3D decoder to ``dense_level`` -> one octree block per level.

The dense decoder reshapes a linear map of the image code to a 4³ grid and runs, per level up to
``dense_level``, a 2³ up-convolution (``ConvTranspose3d``, stride 2) and ``block_convs`` 3³
convolutions, each followed by a leaky ReLU; a 1³ convolution classifies every cell of
``dense_level`` as empty, full or mixed. Each octree block (``OctreeBlock``, one per level
``dense_level + 1 .. depth``) has the same layers, run on the cells that propagation
(:func:`~recon.models.ogn.octree.propagate`) keeps from the level above: the up-convolution to their
8 children, the 3³ convolutions on those children (absent neighbours read 0) and the classifier.

Propagation follows the ground truth's mixed cells (``known``: ``OGNProp`` with ``PROP_KNOWN``) or
the predicted ones (``pred``: ``PROP_PRED``, the argmax of the 3 scores), see
``src/caffe/layers/ogn_prop_layer.cpp:97-118``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor, nn

from recon.models.encoders import build_encoder, load_pretrained
from recon.models.ogn.config import FIRST_LEVEL, OGNConfig
from recon.models.ogn.convolution import neighbour_convolution, pointwise, up_convolution
from recon.models.ogn.octree import (
    BatchedOctree,
    cell_coordinates,
    children,
    children_neighbour_index,
    level_keys,
    neighbour_index,
    propagate,
)

__all__ = ["DenseDecoder", "LevelOutput", "OGNNet", "OctreeBlock"]

#: The three states a classifier scores (``OGN_NUM_CLASSES``).
CLASSES = 3


@dataclass
class LevelOutput:
    """A level's cells and their scores.

    Attributes:
        level: the level (2^level cells per axis).
        keys: (M,) int64 sorted batched keys of its cells (:mod:`recon.models.ogn.octree`).
        logits: (M, 3) scores of empty, full, mixed.
        supervised: (M,) bool, the cells the loss sees: all cells of the dense level, and the children of
            the cells refined as mixed below it (the others are the neighbours the convolutions read).
    """

    level: int
    keys: Tensor
    logits: Tensor
    supervised: Tensor


class DenseDecoder(nn.Module):
    """Image code -> (B, C, n, n, n) features and (B, 3, n, n, n) scores at ``dense_level`` (n = 2^level)."""

    def __init__(self, config: OGNConfig, code_dim: int):
        super().__init__()
        self.slope = config.negative_slope
        first = config.width(FIRST_LEVEL)
        self.fc = nn.Linear(code_dim, first * 8**FIRST_LEVEL)
        self.up = nn.ModuleList(
            nn.ConvTranspose3d(config.width(level - 1), config.width(level), 2, stride=2)
            for level in range(FIRST_LEVEL + 1, config.dense_level + 1)
        )
        self.convs = nn.ModuleList(
            nn.ModuleList(
                nn.Conv3d(config.width(level), config.width(level), 3, padding=1)
                for _ in range(config.block_convs)
            )
            for level in range(FIRST_LEVEL, config.dense_level + 1)
        )
        self.classifier = nn.Conv3d(config.width(config.dense_level), CLASSES, 1)

    def forward(self, code: Tensor) -> tuple[Tensor, Tensor]:
        size = 1 << FIRST_LEVEL
        x = F.leaky_relu(self.fc(code), self.slope).view(len(code), -1, size, size, size)
        for i, convs in enumerate(self.convs):
            if i:
                x = F.leaky_relu(self.up[i - 1](x), self.slope, inplace=True)
            for conv in convs:
                x = F.leaky_relu(conv(x), self.slope, inplace=True)
        return x, self.classifier(x)


class OctreeBlock(nn.Module):
    """One octree level: up-convolution of the propagated cells to their children, 3³ convolutions on
    the children, 3-way classifier (:mod:`recon.models.ogn.convolution`)."""

    def __init__(self, level: int, config: OGNConfig):
        super().__init__()
        self.level = level
        self.slope = config.negative_slope
        width = config.width(level)
        self.up = nn.ConvTranspose3d(config.width(level - 1), width, 2, stride=2)
        self.convs = nn.ModuleList(nn.Conv3d(width, width, 3, padding=1) for _ in range(config.block_convs))
        self.classifier = nn.Conv3d(width, CLASSES, 1)

    def forward(self, keys: Tensor, features: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(K,) sorted keys of cells of level ``level - 1`` and their (K, C) features ->
        ``(keys (8K,), features (8K, C'), logits (8K, 3))`` of their children."""
        x = F.leaky_relu(up_convolution(features, self.up), self.slope, inplace=True)
        if len(self.convs):
            neighbours = children_neighbour_index(neighbour_index(keys, keys, self.level - 1, 1))
            for conv in self.convs:
                x = F.leaky_relu(neighbour_convolution(x, neighbours, conv), self.slope, inplace=True)
        return children(keys), x, pointwise(x, self.classifier)


class OGNNet(nn.Module):
    """Encoder, dense decoder and octree blocks (see the module docstring)."""

    def __init__(self, config: OGNConfig):
        super().__init__()
        self.encoder = build_encoder(config.encoder)
        if config.pretrained:
            load_pretrained(self.encoder, config.pretrained)
        self.dense = DenseDecoder(config, self.encoder.global_channels)
        self.blocks = nn.ModuleList(
            OctreeBlock(level, config) for level in range(config.dense_level + 1, config.depth + 1)
        )
        self.dense_level = config.dense_level
        # A block's 3³ convolutions read, at the children, up to block_convs cells away, hence the
        # parents' neighbours within ceil(block_convs / 2) (OGNProp's NetworkGraph,
        # include/caffe/layers/ogn_prop_layer.hpp:74-154).
        self.radius = math.ceil(config.block_convs / 2) if config.neighbours else 0

    def forward(
        self, images: Tensor, octree: BatchedOctree | None = None, mode: str = "pred"
    ) -> list[LevelOutput]:
        """Scores of every level from (B, 3, S, S) encoder input.

        Args:
            images: normalized images.
            octree: the ground truth, needed when ``mode`` is ``known``.
            mode: ``known`` (refine the ground truth's mixed cells) or ``pred`` (the predicted ones).

        Returns:
            One :class:`LevelOutput` per level ``dense_level .. depth``.
        """
        return self.decode(self.encoder.global_features(images), octree, mode)

    def decode(
        self, code: Tensor, octree: BatchedOctree | None = None, mode: str = "pred"
    ) -> list[LevelOutput]:
        """:meth:`forward` from (B, D) image codes."""
        if mode not in ("known", "pred"):
            raise ValueError(f"mode must be 'known' or 'pred', not {mode!r}")
        if mode == "known" and octree is None:
            raise ValueError("known propagation needs the ground-truth octree")
        grid, scores = self.dense(code)
        level = self.dense_level
        keys = level_keys(len(code), level, code.device)
        batch, xyz = cell_coordinates(keys, level)
        x, y, z = xyz.unbind(1)
        features = grid.permute(0, 2, 3, 4, 1)[batch, x, y, z]
        logits = scores.permute(0, 2, 3, 4, 1)[batch, x, y, z]
        supervised = keys.new_ones(keys.shape, dtype=bool)
        outputs = [LevelOutput(level, keys, logits, supervised)]
        for block in self.blocks:
            states = octree.states(keys, level) if mode == "known" else logits.detach().argmax(1)
            index, refined = propagate(keys, level, supervised, states, self.radius)
            keys, features, logits = block(keys[index], features[index])
            supervised = refined.repeat_interleave(8)
            level += 1
            outputs.append(LevelOutput(level, keys, logits, supervised))
        return outputs
