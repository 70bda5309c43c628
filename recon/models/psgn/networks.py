"""PointSetGen's networks: the released two-branch hourglass generator and ONet's ResNet-18 baseline.

:class:`HourglassGenerator` is ``build_graph`` of fanhqme/PointSetGeneration (``depthestimate/train_nn.py``,
lines cited as ``train_nn.py:N``), layer for layer, with the channels of the release at ``width`` 16
(16, 32, 64, 128, 256, 512 for the stages c0 .. c5):

- **encoder 1** (lines 44-73): on the (B, 4, H, W) input, stage 0 two 3x3 convolutions of c0; stages 1 to
  5 a stride-2 convolution (3x3 to stage 3, then 5x5) and two (stage 5: three) 3x3 convolutions, all
  ReLU; their outputs x1 .. x5 (at H/2 .. H/32) are kept; a last stride-2 5x5 convolution to c5 at H/64;
- **fc a** (line 75): a fully connected layer of that map to ``fc_hidden[0]`` (2048), ReLU;
- **decoder 1** (lines 76-104): from H/64 up to H/2, at each scale a 5x5 stride-2 transposed convolution
  to c(k-1) added to a linear 3x3 convolution of x_k, ReLU, then a 3x3 convolution with ReLU, which
  becomes the new x_k (x1 is kept);
- **encoder 2** (lines 105-129): back down to H/32, at each scale a linear stride-2 convolution (3x3,
  then 5x5 from H/16) added to a linear 3x3 convolution of x_k, ReLU, a 3x3 convolution with ReLU (the
  new x_k), then the stride-2 5x5 convolution to c5 at H/64 with ReLU;
- **fc b** (lines 131-132): ReLU(fc(fc a, linear) + fc(the map, linear)), both ``fc_hidden[0]`` wide;
- **decoder 2** (lines 133-150): up to H/8 as decoder 1, then two more 3x3 convolutions of c2;
- **heads**: fc ``fc_hidden[1]`` (1024) with ReLU and a linear fc to (n_points - H/8 W/8) x 3 points
  (lines 152-154); a linear 3x3 convolution to 3 channels at H/8 x W/8, one point per pixel in row-major
  order (24 x 32 = 768 at 192 x 256, lines 155-156); the fully connected branch's points first (line 157).

Every transposed convolution is given the size of the map it is added to (tflearn's explicit
``output_shape``), so any input size divisible by 8 works. Padding is symmetric (``k // 2``) where TF's
``SAME`` pads a stride-2 convolution of an even map one pixel more on the bottom and right; no released
weights exist to load, so only the sampling grid shifts by a pixel. Initialization as tflearn's defaults:
convolutions ``uniform_scaling`` (uniform in +-sqrt(3 / fan_in), fan_in = k k c_in; for a transposed
convolution k k c_out, TF's filter layout), fully connected layers a normal of sigma 0.02 truncated at two
sigma, biases zero. Each layer carries its ``weight_decay`` (tflearn's L2 ``weight_decay``: 1e-5 on
convolutions, 1e-3 on the fully connected layers but 1e-4 on fc b's first, line 131), read by
:func:`recon.models.psgn.loss.l2_regularizer`.

:class:`ResnetGenerator` is Occupancy Networks' PSGN baseline (``configs/img/psgn.yaml``: ``encoder:
resnet18``, ``decoder: simple``, c_dim 256): the ResNet-18 code of ONet
(:class:`recon.models.encoders.CodeEncoder`, ``im2mesh/encoder/conv.py:42-68``) and
``im2mesh/psgn/models/decoder.py`` ``Decoder``: ``fc_0`` c_dim -> 512, ``fc_1``, ``fc_2`` 512 -> 512 and
``fc_out`` 512 -> n_points x 3, ReLU before each but the first.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from recon.models.encoders import CodeEncoder

__all__ = ["CONV_DECAY", "HourglassGenerator", "ResnetGenerator", "SimpleDecoder", "deconv_points"]

#: tflearn's ``weight_decay`` of every (transposed) convolution of build_graph.
CONV_DECAY = 1e-5


def deconv_points(height: int, width: int) -> int:
    """Points of the deconvolution branch for an input of ``height`` x ``width``: one per pixel at 1/8."""
    return (height // 8) * (width // 8)


def _conv(c_in: int, c_out: int, k: int = 3, stride: int = 1) -> nn.Conv2d:
    conv = nn.Conv2d(c_in, c_out, k, stride, padding=k // 2)
    bound = math.sqrt(3.0 / (k * k * c_in))  # uniform_scaling: fan_in = prod(filter shape[:-1])
    nn.init.uniform_(conv.weight, -bound, bound)
    nn.init.zeros_(conv.bias)
    conv.weight_decay = CONV_DECAY
    return conv


def _deconv(c_in: int, c_out: int) -> nn.ConvTranspose2d:
    deconv = nn.ConvTranspose2d(c_in, c_out, 5, 2, padding=2)
    bound = math.sqrt(3.0 / (5 * 5 * c_out))  # TF's transposed filter is (k, k, c_out, c_in)
    nn.init.uniform_(deconv.weight, -bound, bound)
    nn.init.zeros_(deconv.bias)
    deconv.weight_decay = CONV_DECAY
    return deconv


def _fc(n_in: int, n_out: int, decay: float) -> nn.Linear:
    fc = nn.Linear(n_in, n_out)
    nn.init.trunc_normal_(fc.weight, 0.0, 0.02, -0.04, 0.04)  # tflearn's truncated_normal, stddev 0.02
    nn.init.zeros_(fc.bias)
    fc.weight_decay = decay
    return fc


def _up(deconv: nn.ConvTranspose2d, x: Tensor, like: Tensor) -> Tensor:
    """A stride-2 transposed convolution of ``x`` to the spatial size of ``like``."""
    return deconv(x, output_size=like.shape[-2:])


class HourglassGenerator(nn.Module):
    """(B, 4, H, W) RGB + background mask in [0, 1] -> (B, n_points, 3) points (see the module).

    Args:
        image_size: (H, W), multiples of 8; the deconvolution branch gives H/8 x W/8 points.
        n_points: points in all; the fully connected branch gives the rest.
        width: channels of stage 0 (the release: 16), doubled at every stride-2 stage.
        fc_hidden: widths of fc a / fc b and of the last hidden fully connected layer (2048, 1024).
        init: ``tflearn`` (the release's initialization, see the module) or ``he`` (He et al.'s normal of
            variance 2 / fan_in for every weight, biases zero).
    """

    def __init__(
        self,
        image_size=(192, 256),
        n_points: int = 1024,
        width: int = 16,
        fc_hidden=(2048, 1024),
        init="tflearn",
    ):
        super().__init__()
        height, wide = image_size
        self.n_conv = deconv_points(height, wide)
        self.n_fc = n_points - self.n_conv
        if self.n_fc < 1:
            raise ValueError(f"n_points {n_points} leaves no points to the fully connected branch")
        c = [width * 2**k for k in range(6)]  # c0 .. c5
        bottleneck = c[5] * math.ceil(height / 64) * math.ceil(wide / 64)
        # encoder 1 (train_nn.py:44-73)
        self.stem = nn.ModuleList([_conv(4, c[0]), _conv(c[0], c[0])])
        self.down1 = nn.ModuleList()
        for k in range(1, 6):
            kernel = 3 if k <= 3 else 5
            layers = [_conv(c[k - 1], c[k], kernel, 2)] + [
                _conv(c[k], c[k]) for _ in range(3 if k == 5 else 2)
            ]
            self.down1.append(nn.ModuleList(layers))
        self.bottom1 = _conv(c[5], c[5], 5, 2)
        self.fc_a = _fc(bottleneck, fc_hidden[0], 1e-3)  # line 75
        # decoder 1 (lines 76-104): scales k = 5 .. 1, deconv to c[k-1] + skip conv of x_k, then a conv
        self.up1 = nn.ModuleList([_deconv(c[k], c[k - 1]) for k in range(5, 0, -1)])
        self.skip_up1 = nn.ModuleList([_conv(c[k], c[k - 1]) for k in range(5, 0, -1)])
        self.post_up1 = nn.ModuleList([_conv(c[k - 1], c[k - 1]) for k in range(5, 0, -1)])
        # encoder 2 (lines 105-129): scales k = 2 .. 5
        self.down2 = nn.ModuleList([_conv(c[k - 2], c[k - 1], 3 if k <= 3 else 5, 2) for k in range(2, 6)])
        self.skip_down2 = nn.ModuleList([_conv(c[k - 1], c[k - 1]) for k in range(2, 6)])
        self.post_down2 = nn.ModuleList([_conv(c[k - 1], c[k - 1]) for k in range(2, 6)])
        self.bottom2 = _conv(c[4], c[5], 5, 2)
        self.fc_b = _fc(fc_hidden[0], fc_hidden[0], 1e-4)  # line 131
        self.fc_b_map = _fc(bottleneck, fc_hidden[0], 1e-3)  # line 132
        # decoder 2 (lines 133-150): scales k = 5 .. 3
        self.up2 = nn.ModuleList([_deconv(c[k], c[k - 1]) for k in range(5, 2, -1)])
        self.skip_up2 = nn.ModuleList([_conv(c[k - 1], c[k - 1]) for k in range(5, 2, -1)])
        self.post_up2 = nn.ModuleList([_conv(c[k - 1], c[k - 1]) for k in range(5, 2, -1)])
        self.post_map = _conv(c[2], c[2])  # line 150
        # heads (lines 152-156)
        self.fc_c = _fc(fc_hidden[0], fc_hidden[1], 1e-3)
        self.fc_points = _fc(fc_hidden[1], self.n_fc * 3, 1e-3)
        self.conv_points = _conv(c[2], 3)
        if init == "he":
            for m in self.modules():
                if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                    nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
        elif init != "tflearn":
            raise ValueError(f"unknown init {init!r}")

    def branches(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """The two branches' points: fully connected (B, n_points - H/8 W/8, 3), deconvolution
        (B, H/8 W/8, 3)."""
        batch = len(x)
        for conv in self.stem:
            x = F.relu(conv(x))
        skips = {}
        for k, stage in enumerate(self.down1, start=1):
            for conv in stage:
                x = F.relu(conv(x))
            skips[k] = x
        x = F.relu(self.bottom1(x))
        hidden = F.relu(self.fc_a(x.flatten(1)))
        for i, k in enumerate(range(5, 0, -1)):
            x = F.relu(_up(self.up1[i], x, skips[k]) + self.skip_up1[i](skips[k]))
            x = F.relu(self.post_up1[i](x))
            if k > 1:  # line 104: x1 is not replaced
                skips[k] = x
        for i, k in enumerate(range(2, 6)):
            x = F.relu(self.down2[i](x) + self.skip_down2[i](skips[k]))
            x = F.relu(self.post_down2[i](x))
            skips[k] = x
        x = F.relu(self.bottom2(x))
        hidden = F.relu(self.fc_b(hidden) + self.fc_b_map(x.flatten(1)))
        for i, k in enumerate(range(5, 2, -1)):
            x = F.relu(_up(self.up2[i], x, skips[k]) + self.skip_up2[i](skips[k]))
            x = F.relu(self.post_up2[i](x))
        x = F.relu(self.post_map(x))
        fc_points = self.fc_points(F.relu(self.fc_c(hidden))).view(batch, self.n_fc, 3)
        conv_points = self.conv_points(x).permute(0, 2, 3, 1).reshape(batch, -1, 3)  # NHWC order, line 156
        return fc_points, conv_points

    def forward(self, x: Tensor) -> Tensor:
        """(B, 4, H, W) -> (B, n_points, 3): the fully connected branch's points, then the deconvolution's."""
        return torch.cat(self.branches(x), dim=1)


class SimpleDecoder(nn.Module):
    """ONet's PSGN ``Decoder`` (``im2mesh/psgn/models/decoder.py:5-39``): (B, c_dim) -> (B, n_points, 3)."""

    def __init__(self, c_dim: int = 256, hidden: int = 512, n_points: int = 1024):
        super().__init__()
        self.n_points = n_points
        self.fc_0 = nn.Linear(c_dim, hidden)
        self.fc_1 = nn.Linear(hidden, hidden)
        self.fc_2 = nn.Linear(hidden, hidden)
        self.fc_out = nn.Linear(hidden, 3 * n_points)

    def forward(self, c: Tensor) -> Tensor:
        net = self.fc_1(F.relu(self.fc_0(c)))
        net = self.fc_2(F.relu(net))
        return self.fc_out(F.relu(net)).view(len(c), self.n_points, 3)


class ResnetGenerator(nn.Module):
    """ONet's PSGN baseline: (B, 3, S, S) ImageNet-normalized RGB -> (B, n_points, 3) (``PCGN``,
    ``im2mesh/psgn/models/__init__.py:11-32``: ``decoder(encoder(x))``)."""

    def __init__(self, pretrained: str | None, c_dim: int, hidden: int, n_points: int):
        super().__init__()
        self.encoder = CodeEncoder("resnet18", pretrained, c_dim)
        self.decoder = SimpleDecoder(c_dim, hidden, n_points)

    def forward(self, images: Tensor) -> Tensor:
        return self.decoder(self.encoder(images))
