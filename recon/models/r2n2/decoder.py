"""3D-R2N2's 3D decoders: the last hidden grid (B, C, 4, 4, 4) -> two-class scores (B, 2, 32, 32, 32).

Three zero-fill unpoolings (:func:`unpool3d`, ``lib/layers.py`` ``Unpool3DLayer``) double the grid
4³ -> 8³ -> 16³ -> 32³; every convolution is 3³ with zero padding unless named 1x1x1, followed by
a leaky ReLU 0.01 except the last. Channels ``d0, d1, d2, d3`` are ``decoder_dims`` (the release's
``n_deconvfilter[1:5]`` = 128, 128, 64, 32).

- :class:`ResidualDecoder` (``decoder: residual``, ``models/res_gru_net.py`` lines 165-197), 11
  convolutions::

      x = unpool(h);  x = x + conv7b(conv7a(x))                        8³,  d0 (= C)
      x = unpool(x);  x = x + conv8b(conv8a(x))                        16³, d1 (= d0)
      x = unpool(x);  x = conv9c(x) + conv9b(conv9a(x))                32³, d2 (conv9c 1x1x1)
      a = conv10a(x); x = conv10c(a) + conv10b(a)                      32³, d3
      scores = conv11(x)                                               32³, 2

  (the release's last "shortcut" ``conv10c`` is a 3³ convolution of ``conv10a``'s output, not of
  the block's input: kept as released).
- :class:`ShallowDecoder` (``decoder: shallow``, ``models/gru_net.py`` lines 124-137): unpool and
  convolve three times (d0, d1, d2), then ``conv10`` (d3) and ``conv11`` (2) at 32³.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["ResidualDecoder", "ShallowDecoder", "unpool3d"]


def unpool3d(x: Tensor) -> Tensor:
    """(B, C, n, n, n) -> (B, C, 2n, 2n, 2n): each cell at the lowest corner of its 2x2x2 block, 0 elsewhere.

    ``out[:, :, 2i, 2j, 2k] = x[:, :, i, j, k]``, as ``Unpool3DLayer`` sets ``output[:, ::2, :, ::2, ::2]``
    of its (B, D, C, H, W) layout. The output keeps the input's memory format.
    """
    b, c, d, h, w = x.shape
    last = x.is_contiguous(memory_format=torch.channels_last_3d) and not x.is_contiguous()
    fmt = torch.channels_last_3d if last else torch.contiguous_format
    out = torch.empty(b, c, 2 * d, 2 * h, 2 * w, dtype=x.dtype, device=x.device, memory_format=fmt).zero_()
    out[:, :, ::2, ::2, ::2] = x
    return out


def _layout(h: Tensor) -> Tensor:
    """``h`` channels-last on the CPU, where PyTorch's 3D convolutions of a few channels run several
    times faster in that layout (the decoder's 32³ stages, 8 -> 2 channels above all); as is elsewhere."""
    return h.contiguous(memory_format=torch.channels_last_3d) if h.device.type == "cpu" else h


def _lrelu(x: Tensor) -> Tensor:
    return F.leaky_relu(x, 0.01)


def _conv(i: int, o: int, k: int = 3) -> nn.Conv3d:
    return nn.Conv3d(i, o, k, padding=k // 2)


class ResidualDecoder(nn.Module):
    """The released residual decoder (``decoder: residual``); layer names are the release's."""

    def __init__(self, hidden: int, dims: tuple[int, ...]):
        super().__init__()
        d0, d1, d2, d3 = dims
        if not hidden == d0 == d1:
            raise ValueError(f"residual decoder: decoder_dims[:2] must equal hidden {hidden}, got {dims}")
        self.conv7a, self.conv7b = _conv(hidden, d0), _conv(d0, d0)
        self.conv8a, self.conv8b = _conv(d0, d1), _conv(d1, d1)
        self.conv9a, self.conv9b, self.conv9c = _conv(d1, d2), _conv(d2, d2), _conv(d1, d2, 1)
        self.conv10a, self.conv10b, self.conv10c = _conv(d2, d3), _conv(d3, d3), _conv(d3, d3)
        self.conv11 = _conv(d3, 2)

    def forward(self, h: Tensor) -> Tensor:
        """(B, C, 4, 4, 4) -> (B, 2, 32, 32, 32) scores (class 0 empty, 1 occupied)."""
        x = unpool3d(_layout(h))
        x = x + _lrelu(self.conv7b(_lrelu(self.conv7a(x))))
        x = unpool3d(x)
        x = x + _lrelu(self.conv8b(_lrelu(self.conv8a(x))))
        x = unpool3d(x)
        x = self.conv9c(x) + _lrelu(self.conv9b(_lrelu(self.conv9a(x))))
        a = _lrelu(self.conv10a(x))
        x = self.conv10c(a) + _lrelu(self.conv10b(a))
        return self.conv11(x)


class ShallowDecoder(nn.Module):
    """The released plain decoder (``decoder: shallow``)."""

    def __init__(self, hidden: int, dims: tuple[int, ...]):
        super().__init__()
        d0, d1, d2, d3 = dims
        self.conv7, self.conv8, self.conv9 = _conv(hidden, d0), _conv(d0, d1), _conv(d1, d2)
        self.conv10, self.conv11 = _conv(d2, d3), _conv(d3, 2)

    def forward(self, h: Tensor) -> Tensor:
        """(B, C, 4, 4, 4) -> (B, 2, 32, 32, 32) scores (class 0 empty, 1 occupied)."""
        x = _lrelu(self.conv7(unpool3d(_layout(h))))
        x = _lrelu(self.conv8(unpool3d(x)))
        x = _lrelu(self.conv9(unpool3d(x)))
        return self.conv11(_lrelu(self.conv10(x)))
