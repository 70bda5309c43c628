"""Occupancy Networks' single-image network: a ResNet-18 image code, a CBN decoder of points.

Layer for layer the release's (autonomousvision/occupancy_networks at 406f7946), with its parameter
names, so the state dict of a released ``OccupancyNetwork`` with ``encoder: resnet18``, ``decoder:
cbatchnorm`` and ``z_dim: 0`` has the same keys and shapes:

- :class:`recon.models.encoders.CodeEncoder` (``im2mesh/encoder/conv.py`` ``Resnet18``, lines
  42-68): torchvision's ResNet-18 without its classifier (``features``, the same names), the global
  average pool of its last map (512) and a linear layer ``fc`` to ``c_dim``, on
  ImageNet-normalized input (``normalize_imagenet``, ``im2mesh/common.py:144-154``);
- :class:`CResnetBlockConv1d` (``im2mesh/layers.py:51-107``): ``x + fc_1(relu(bn_1(fc_0(relu(bn_0(x,
  c))), c)))``, 1x1 convolutions, ``fc_1``'s weights zero at initialization, so every block starts as
  the identity;
- :class:`DecoderCBatchNorm` (``im2mesh/onet/models/decoder.py:77-133``): ``fc_p`` (a 1x1 convolution
  of the 3 coordinates to ``hidden``), ``block0`` .. ``block4``, then ``fc_out(relu(bn(net, c)))`` to one
  logit per point;
- the conditional batch norm is :class:`recon.models.layers.ConditionalBatchNorm1d`
  (``CBatchNorm1d``, ``im2mesh/layers.py:193-242``: ``gamma(c) * BN(x) + beta(c)``, a BN without affine
  parameters, ``conv_gamma`` and ``conv_beta`` 1x1 convolutions of c with zero weights and biases 1 and
  0, so it starts as a plain batch norm).

``z_dim`` is 0 for images (``configs/img/onet.yaml``): no latent code, no ``fc_z``.
"""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn import functional as F

from recon.models.encoders import CodeEncoder
from recon.models.layers import ConditionalBatchNorm1d

__all__ = ["CResnetBlockConv1d", "DecoderCBatchNorm", "OccupancyNetwork"]


class CResnetBlockConv1d(nn.Module):
    """The release's conditional ResNet block on (B, size, T) point features and (B, c_dim) codes."""

    def __init__(self, c_dim: int, size: int):
        super().__init__()
        self.bn_0 = ConditionalBatchNorm1d(c_dim, size)
        self.bn_1 = ConditionalBatchNorm1d(c_dim, size)
        self.fc_0 = nn.Conv1d(size, size, 1)
        self.fc_1 = nn.Conv1d(size, size, 1)
        nn.init.zeros_(self.fc_1.weight)

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        """Args: x (B, size, T), c (B, c_dim). Returns: (B, size, T)."""
        net = self.fc_0(F.relu(self.bn_0(x, c)))
        return x + self.fc_1(F.relu(self.bn_1(net, c)))


class DecoderCBatchNorm(nn.Module):
    """Points (B, T, 3) and codes (B, c_dim) -> occupancy logits (B, T).

    Args:
        c_dim: size of the code.
        hidden: channels of every layer (the release: 256).
        blocks: number of :class:`CResnetBlockConv1d` (the release: 5), named ``block0`` ...
        dim: coordinates per point.
    """

    def __init__(self, c_dim: int = 256, hidden: int = 256, blocks: int = 5, dim: int = 3):
        super().__init__()
        self.blocks = blocks
        self.fc_p = nn.Conv1d(dim, hidden, 1)
        for i in range(blocks):
            setattr(self, f"block{i}", CResnetBlockConv1d(c_dim, hidden))
        self.bn = ConditionalBatchNorm1d(c_dim, hidden)
        self.fc_out = nn.Conv1d(hidden, 1, 1)

    def forward(self, points: Tensor, c: Tensor) -> Tensor:
        net = self.fc_p(points.transpose(1, 2))
        for i in range(self.blocks):
            net = getattr(self, f"block{i}")(net, c)
        return self.fc_out(F.relu(self.bn(net, c))).squeeze(1)


class OccupancyNetwork(nn.Module):
    """Images and points -> occupancy logits: ``decoder(points, encoder(images))``.

    Args:
        encoder: image encoder name; pretrained: its weights file or None; c_dim, hidden, blocks: the
            decoder's sizes (:class:`DecoderCBatchNorm`).
    """

    def __init__(self, encoder: str, pretrained: str | None, c_dim: int, hidden: int, blocks: int):
        super().__init__()
        self.encoder = CodeEncoder(encoder, pretrained, c_dim)
        self.decoder = DecoderCBatchNorm(c_dim, hidden, blocks)

    def forward(self, images: Tensor, points: Tensor) -> Tensor:
        """Args: images (B, 3, S, S) ImageNet-normalized, points (B, T, 3). Returns: (B, T) logits."""
        return self.decoder(points, self.encoder(images))
