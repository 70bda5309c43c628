"""3D-R2N2's 2D encoders: one view (B, 3, S, S) -> its feature vector (B, feature_dim).

- :class:`ResidualEncoder` (``encoder: r2n2``), the released default (``models/res_gru_net.py``
  lines 81-126): six blocks of two convolutions (7x7 then 3x3, then 3x3 pairs; 96, 128, 256, 256,
  256, 256 channels) with leaky ReLU 0.01. Blocks 2, 3 and 5 add a 1x1 convolution of their input,
  block 6 adds its input, blocks 1 and 4 add nothing; each block ends with a 2x2 max pool over a
  1-pixel padding (S -> S // 2 + 1: 127 -> 64, 33, 17, 9, 5, 3), then a linear layer of the
  flattened map (256 x 3 x 3 at 127 px) to ``feature_dim`` and a leaky ReLU.
- :class:`ShallowEncoder` (``encoder: r2n2_shallow``, ``models/gru_net.py`` lines 65-86): one
  convolution per block, no shortcuts; the paper's non-residual networks (3D-LSTM/GRU-1/3).
- :class:`TorchvisionEncoder` (any :func:`recon.models.encoders.build_encoder` name): the pooled
  last map and a linear layer, on ImageNet-normalized input.

The r2n2 encoders take RGB in [0, 1] as the release does (pixels / 255). Padding in the pool is
ignored by the maximum (PyTorch's, and cuDNN's on which the release trained; Theano's CPU pool pads
with zeros).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from recon.models.encoders import build_encoder, normalize_images

__all__ = ["ResidualEncoder", "ShallowEncoder", "TorchvisionEncoder", "pooled_size"]

#: Output channels of the six blocks (``n_convfilter``).
CHANNELS = (96, 128, 256, 256, 256, 256)


def pooled_size(size: int, blocks: int = 6) -> int:
    """Side of the last map of an S x S input: ``S -> S // 2 + 1`` per block (Theano's padded pool)."""
    for _ in range(blocks):
        size = size // 2 + 1
    return size


def _pool(x: Tensor) -> Tensor:
    """2x2 max pool, stride 2, over a 1-pixel padding (``lib/layers.py`` ``PoolLayer``)."""
    return F.max_pool2d(x, 2, 2, padding=1)


def _lrelu(x: Tensor) -> Tensor:
    return F.leaky_relu(x, 0.01)


class ResidualEncoder(nn.Module):
    """The released residual encoder (``encoder: r2n2``); layer names are the release's."""

    def __init__(self, feature_dim: int, image_size: int):
        super().__init__()
        c1, c2, c3, c4, c5, c6 = CHANNELS
        self.conv1a, self.conv1b = nn.Conv2d(3, c1, 7, padding=3), nn.Conv2d(c1, c1, 3, padding=1)
        self.conv2a, self.conv2b = nn.Conv2d(c1, c2, 3, padding=1), nn.Conv2d(c2, c2, 3, padding=1)
        self.conv2c = nn.Conv2d(c1, c2, 1)
        self.conv3a, self.conv3b = nn.Conv2d(c2, c3, 3, padding=1), nn.Conv2d(c3, c3, 3, padding=1)
        self.conv3c = nn.Conv2d(c2, c3, 1)
        self.conv4a, self.conv4b = nn.Conv2d(c3, c4, 3, padding=1), nn.Conv2d(c4, c4, 3, padding=1)
        self.conv5a, self.conv5b = nn.Conv2d(c4, c5, 3, padding=1), nn.Conv2d(c5, c5, 3, padding=1)
        self.conv5c = nn.Conv2d(c4, c5, 1)
        self.conv6a, self.conv6b = nn.Conv2d(c5, c6, 3, padding=1), nn.Conv2d(c6, c6, 3, padding=1)
        self.fc7 = nn.Linear(c6 * pooled_size(image_size) ** 2, feature_dim)

    def forward(self, images: Tensor) -> Tensor:
        """(B, 3, S, S) RGB in [0, 1] -> (B, feature_dim)."""
        x = _pool(_lrelu(self.conv1b(_lrelu(self.conv1a(images)))))
        x = _pool(self.conv2c(x) + _lrelu(self.conv2b(_lrelu(self.conv2a(x)))))
        x = _pool(self.conv3c(x) + _lrelu(self.conv3b(_lrelu(self.conv3a(x)))))
        x = _pool(_lrelu(self.conv4b(_lrelu(self.conv4a(x)))))
        x = _pool(self.conv5c(x) + _lrelu(self.conv5b(_lrelu(self.conv5a(x)))))
        x = _pool(x + _lrelu(self.conv6b(_lrelu(self.conv6a(x)))))
        return _lrelu(self.fc7(x.flatten(1)))


class ShallowEncoder(nn.Module):
    """The released plain encoder (``encoder: r2n2_shallow``): conv, pool, leaky ReLU, six times."""

    def __init__(self, feature_dim: int, image_size: int):
        super().__init__()
        ins = (3, *CHANNELS[:-1])
        self.convs = nn.ModuleList(
            nn.Conv2d(i, o, 7 if k == 0 else 3, padding=3 if k == 0 else 1)
            for k, (i, o) in enumerate(zip(ins, CHANNELS, strict=True))
        )
        self.fc7 = nn.Linear(CHANNELS[-1] * pooled_size(image_size) ** 2, feature_dim)

    def forward(self, images: Tensor) -> Tensor:
        """(B, 3, S, S) RGB in [0, 1] -> (B, feature_dim)."""
        x = images
        for conv in self.convs:
            x = _lrelu(_pool(conv(x)))
        return _lrelu(self.fc7(x.flatten(1)))


class TorchvisionEncoder(nn.Module):
    """A :func:`recon.models.encoders.build_encoder` network, its pooled last map, a linear layer."""

    def __init__(self, name: str, pretrained: str | None, feature_dim: int):
        super().__init__()
        self.encoder = build_encoder(name, pretrained)
        self.fc = nn.Linear(self.encoder.channels[-1], feature_dim)

    def forward(self, images: Tensor) -> Tensor:
        """(B, 3, S, S) RGB in [0, 1] -> (B, feature_dim)."""
        return _lrelu(self.fc(self.encoder.global_features(normalize_images(images))))
