"""GenRe's three networks as released (xiumingzhang/GenRe-ShapeHD): depth estimator, spherical inpainter
and voxel refiner.

=============  ================================  =============================================================
network        released                          input -> output
=============  ================================  =============================================================
Estimator      ``models/marrnet1.py`` ``Net``    RGB (B, 3, 256, 256) -> normal (B, 3, .), depth (B, 1, .),
               (U-ResNet-18 + min/max head)      silhouette (B, 1, .) at the input size, depth min/max (B, 2)
Inpainter      ``networks/uresnet.py``           padded partial spherical map (B, 1, 160, 160) -> padded full
               ``Net_inpaint``                   spherical map (B, 1, 160, 160)
Refiner        ``networks/networks.py``          back-projected spherical map and depth (B, 2, 128, 128, 128)
               ``Unet_3D``                       -> voxel logits (B, 1, 128, 128, 128)
=============  ================================  =============================================================

**U-ResNet** (:class:`UResNet`, ``networks/uresnet.py`` + ``networks/revresnet.py``): a ResNet-18 encoder
(7x7/2 convolution, BN, ReLU, 3x3/2 max-pool, layer1..layer4: maps of ``w, w, 2w, 4w, 8w`` channels at
1/4, 1/4, 1/8, 1/16, 1/32 of the input, ``w`` = 64 released) and one reversed ResNet-18 decoder per
output. A decoder runs on the last map; after each of its four stages it concatenates the encoder map of
the same size (U-Net skips): 8w@1/32 -> 4w@1/16 (+4w) -> 2w@1/8 (+2w) -> w@1/4 (+w) -> w@1/4 (+w), then a
3x3/2 transposed convolution to ``w`` channels at 1/2, BN, ReLU and a 7x7/2 transposed convolution to the
output's channels at the input size. Outputs have no activation. The encoder's parameter names are
torchvision's, so ImageNet weights load with :func:`recon.models.encoders.load_pretrained` when
``width == 64`` and ``input_planes == 3`` (the release builds torchvision's pretrained ResNet-18, but its
``init_weight`` re-initializes the whole estimator right after, ``models/marrnet1.py:47``).

**Units of the estimator** (``models/marrnetbase.py:94-142``): the targets are images in [0, 1] multiplied
by :data:`SCALE_25D` = 100 (normals (n + 1) / 2, depth as :func:`relative_depth`, silhouette binarized at
0.999), so the raw outputs are in those units: divide them by :data:`SCALE_25D` to read them in [0, 1]. The
depth min/max head predicts absolute depths (not scaled). :func:`absolute_depth` turns a [0, 1] relative
depth and the min/max back into depth. The RGB input is ImageNet-normalized
(:func:`recon.models.encoders.normalize_images`, ``util/util_img.py:332-355``).

**Refiner** (:class:`Refiner`): a 3D U-Net. At 128^3 (released) the encoder goes 128 -> 64 (8^3/2 conv)
-> 32 -> 16 -> 8 -> 4 (4^3/2 convs) -> 1 (4^3 valid conv), with ``nf * (1, 2, 4, 8, 16, 32)`` channels; a
linear layer + LeakyReLU on the 1^3 bottleneck; the decoder mirrors it with a skip concatenated before each
transposed convolution, the 64 -> 128 one without BN or activation (voxel logits). Convolutions have biases,
every BN is followed by ``LeakyReLU(0.01)``. For a smaller ``resolution`` the stack keeps its first (8^3/2)
and last (4 -> 1) levels and drops 4^3/2 levels from the middle: ``log2(resolution) - 3`` of them (4 at
128^3, 3 at 64^3, 2 at 32^3), so the bottleneck has ``nf * 2 ** (log2(resolution) - 2)`` channels.

Every network starts as the release's ``init_weight`` (:func:`release_init`).
"""

from __future__ import annotations

import math
import re

import torch
from torch import Tensor, nn

from recon.models.encoders import BasicBlock, Encoder, ResNet

__all__ = [
    "SCALE_25D",
    "Estimator",
    "Inpainter",
    "Refiner",
    "UResNet",
    "UResNetEncoder",
    "absolute_depth",
    "from_released_state_dict",
    "relative_depth",
    "release_init",
]

#: Scale of the estimator's image targets and outputs (``scale_25d``, ``models/marrnetbase.py:17``).
SCALE_25D = 100.0

#: Added to max - min by the release's ``to_abs_depth`` (``models/marrnetbase.py:150``).
_MINMAX_EPS = 1e-4


def release_init(module: nn.Module) -> None:
    """The release's ``init_weight`` (``models/netinterface.py:38-63``, ``init_type='kaiming'``).

    Convolutions, transposed convolutions and linear layers: He normal, fan-in (``kaiming_normal_(a=0,
    mode='fan_in')``), zero biases; batch norms: weight N(1, 0.02), bias 0. Applied to the whole
    estimator (``models/marrnet1.py:47``), the inpainter (``models/depth_pred_with_sph_inpaint.py:49``) and
    the refiner (``models/genre_full_model.py:49``).
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.ConvTranspose3d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, a=0, mode="fan_in")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def absolute_depth(depth: Tensor, minmax: Tensor) -> Tensor:
    """The release's ``to_abs_depth(1 - depth, minmax)`` (``models/marrnetbase.py:144-151``).

    Args:
        depth: (B, 1, H, W) or (B, H, W) relative depth in [0, 1] (the estimator's depth output divided
            by :data:`SCALE_25D`): 1 at the nearest foreground point, 0 at the farthest.
        minmax: (B, 2) float, per image (nearest, farthest) foreground depth.

    Returns:
        Depth of ``depth``'s shape: ``(1 - depth) * (max - min + 1e-4) + min``. Background pixels
        (relative depth 0) come out at ``max + 1e-4``; the caller masks them.
    """
    view = (-1,) + (1,) * (depth.ndim - 1)
    lo, hi = minmax[:, 0].view(view), minmax[:, 1].view(view)
    return (1.0 - depth) * (hi - lo + _MINMAX_EPS) + lo


def relative_depth(depth: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """The estimator's depth target: depth normalized per image by its foreground min and max.

    The release reads it from its renders (``*_depth.png`` and ``*.npy``, ``datasets/shapenet.py:17-24``,
    ``:171-180``); its readers fix the encoding: foreground ``1 - (z - min) / (max - min)``, background 0
    (``util/util_img.py:53-67``, ``models/marrnet1.py:89-93``).

    Args:
        depth: (B, H, W) float depth (any unit; the min/max are in it).
        mask: (B, H, W) bool foreground.

    Returns:
        relative: (B, H, W) float in [0, 1]: 1 at the nearest foreground pixel, 0 at the farthest and on
            the background. ``absolute_depth(relative, minmax)`` gives ``depth`` back on the foreground
            to a relative error of 1e-4 / (max - min).
        minmax: (B, 2) float (min, max) of each image's foreground depth; (0, 0) for an empty mask.
    """
    inf = torch.finfo(depth.dtype).max
    lo = torch.where(mask, depth, inf).flatten(1).amin(1)
    hi = torch.where(mask, depth, -inf).flatten(1).amax(1)
    empty = ~mask.flatten(1).any(1)
    lo, hi = torch.where(empty, 0.0, lo), torch.where(empty, 0.0, hi)
    span = (hi - lo).clamp_min(torch.finfo(depth.dtype).eps).view(-1, 1, 1)
    relative = torch.where(mask, (hi.view(-1, 1, 1) - depth) / span, 0.0)
    return relative, torch.stack([lo, hi], dim=1)


def from_released_state_dict(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """Rename a released checkpoint's keys to this module's (the networks' own parts keep their names).

    The release's U-ResNet encoder is a ``ModuleList`` (``networks/uresnet.py:15-31``): ``encoder.0.0``
    (conv1), ``encoder.0.1`` (bn1), ``encoder.1`` .. ``encoder.4`` (layer1..4) become ``encoder.conv1``,
    ``encoder.bn1``, ``encoder.layer1`` .. ``encoder.layer4``, under any prefix (``net1.``,
    ``depth_and_inpaint.net2.``, ...). ``Net_inpaint`` also registers its last layer at its top level as
    ``deconv2`` (``networks/uresnet.py:104``), a second name of ``decoder_spherical.4.3``: dropped. Every
    other key (decoders, ``decoder_minmax``, the refiner's) is unchanged.

    Args:
        state: released state dict, e.g. ``torch.load(path)['nets'][0]`` (``models/genre_full_model.py:113``).

    Returns:
        A new dict with renamed keys, the same tensors.
    """
    out = {}
    for key, value in state.items():
        parts = key.split(".")
        if parts[-2:] == ["deconv2", "weight"] and (len(parts) == 2 or not parts[-3].isdigit()):
            continue  # Net_inpaint's top-level alias; a RevBasicBlock's deconv2 follows its block index
        key = re.sub(r"(^|\.)encoder\.0\.0\.", r"\1encoder.conv1.", key)
        key = re.sub(r"(^|\.)encoder\.0\.1\.", r"\1encoder.bn1.", key)
        key = re.sub(r"(^|\.)encoder\.([1-4])\.", r"\1encoder.layer\2.", key)
        out[key] = value
    return out


class UResNetEncoder(ResNet):
    """The U-ResNet's ResNet-18 encoder, ``networks/uresnet.py:14-31``, of base width ``width``.

    torchvision's ResNet-18 less avgpool and fc, with its parameter names (``conv1``, ``bn1``,
    ``layer1.0.conv1``, ...), so :func:`recon.models.encoders.load_pretrained` fills it for ``width == 64``
    and ``input_planes == 3``. Unlike :class:`~recon.models.encoders.ResNet`, ``forward`` returns the map
    after the max-pool (what the release's decoders concatenate), not the stem's ReLU before it.

    Args:
        input_planes: input channels (3 for RGB; the inpainter's 1, ``networks/uresnet.py:88-92``).
        width: channels of the stem and layer1; layer2..4 have 2, 4, 8 times as many (64 released).
    """

    def __init__(self, input_planes: int = 3, width: int = 64):
        Encoder.__init__(self)
        self.conv1 = nn.Conv2d(input_planes, width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.in_ch = width
        for i in range(4):
            layer = self._make_layer(BasicBlock, width * 2**i, 2, stride=1 if i == 0 else 2)
            setattr(self, f"layer{i + 1}", layer)
        self.channels = [width, width, 2 * width, 4 * width, 8 * width]
        self.strides = [4, 4, 8, 16, 32]
        self.global_channels = 8 * width

    def forward(self, images: Tensor) -> list[Tensor]:
        """(B, input_planes, H, W) -> 5 maps (B, channels[i], H / strides[i], W / strides[i]) for H, W
        multiples of 32: after the max-pool, then after layer1..layer4."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(images))))
        maps = [x]
        for layer in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = layer(x)
            maps.append(x)
        return maps


class RevBasicBlock(nn.Module):
    """``networks/revresnet.py:21-48``: 3x3 transposed conv, BN, ReLU, 3x3 transposed conv (stride
    ``stride``, output padding 1 when strided), BN, plus the input or its ``upsample``, ReLU. No biases."""

    def __init__(self, in_ch: int, ch: int, stride: int = 1, upsample: nn.Module | None = None):
        super().__init__()
        self.deconv1 = nn.ConvTranspose2d(in_ch, ch, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(ch)
        self.relu = nn.ReLU(inplace=True)
        self.deconv2 = nn.ConvTranspose2d(
            ch, ch, 3, stride=stride, padding=1, output_padding=1 if stride > 1 else 0, bias=False
        )
        self.bn2 = nn.BatchNorm2d(ch)
        self.upsample = upsample

    def forward(self, x: Tensor) -> Tensor:
        """(B, in_ch, H, W) -> (B, ch, stride H, stride W)."""
        residual = x if self.upsample is None else self.upsample(x)
        out = self.relu(self.bn1(self.deconv1(x)))
        return self.relu(self.bn2(self.deconv2(out)) + residual)


def _rev_layer(in_ch: int, ch: int, stride: int) -> nn.Sequential:
    """``RevResNet._make_layer`` with two blocks (``networks/revresnet.py:146-165``): the first block gets a
    1x1 transposed conv + BN shortcut when it changes the size or the channels."""
    upsample = None
    if stride != 1 or in_ch != ch:
        upsample = nn.Sequential(
            nn.ConvTranspose2d(
                in_ch, ch, 1, stride=stride, output_padding=1 if stride > 1 else 0, bias=False
            ),
            nn.BatchNorm2d(ch),
        )
    return nn.Sequential(RevBasicBlock(in_ch, ch, stride, upsample), RevBasicBlock(ch, ch))


def _decoder(out_planes: int, width: int, last_kernel: int) -> nn.ModuleList:
    """One output's decoder, ``revuresnet18`` (``networks/revresnet.py:189-200``) as the release's U-Net
    uses it (``networks/uresnet.py:36-53``): layer1..layer4 and [deconv1, bn1, relu, deconv2].

    Stage inputs include the concatenated skips: 8w -> 4w, 8w -> 2w, 4w -> w, 2w -> w (stride 1), then
    2w -> w (3x3/2 transposed conv with bias) and w -> ``out_planes`` (7x7/2, padding 3, output padding 1,
    no bias; the inpainter's 8x8/2, padding 3: ``networks/uresnet.py:104``).
    """
    w = width
    if last_kernel == 7:
        last = nn.ConvTranspose2d(w, out_planes, 7, stride=2, padding=3, output_padding=1, bias=False)
    elif last_kernel == 8:
        last = nn.ConvTranspose2d(w, out_planes, 8, stride=2, padding=3, bias=False)
    else:
        raise ValueError(f"last_kernel must be 7 (estimator) or 8 (inpainter), got {last_kernel}")
    return nn.ModuleList(
        [
            _rev_layer(8 * w, 4 * w, 2),
            _rev_layer(8 * w, 2 * w, 2),
            _rev_layer(4 * w, w, 2),
            _rev_layer(2 * w, w, 1),
            nn.Sequential(
                nn.ConvTranspose2d(2 * w, w, 3, stride=2, padding=1, output_padding=1),
                nn.BatchNorm2d(w),
                nn.ReLU(inplace=True),
                last,
            ),
        ]
    )


class UResNet(nn.Module):
    """The release's U-ResNet-18 (``networks/uresnet.py`` ``Net``), optionally with MarrNet-1's depth
    min/max head (``models/marrnet1.py:137-161``); see the module docstring.

    Attributes ``encoder`` (:class:`UResNetEncoder`), ``decoder_<name>`` (one per output, the release's
    names and layout) and ``decoder_minmax``.

    Args:
        out_planes: channels of each output.
        out_names: name of each output (the keys of the returned dict).
        input_planes: input channels.
        pred_depth_minmax: add the min/max head on the last encoder map: 2x2/2 conv, conv to 1x1 (4x4 at
            the released 256 input), flatten, linear 8w -> 4w, BN, ReLU, 4w -> 2w, BN, ReLU, 2w -> 2.
        width: base width ``w`` (64 released); every layer's channels scale with it, the min/max head's
            hidden layers (256, 128 released) too.
        input_size: input height and width the min/max head is built for (a multiple of 64); without the
            head any multiple of 32 works.
        last_kernel: 7 (``Net``) or 8 (``Net_inpaint``, whose last layer is an 8x8/2 transposed conv).
    """

    def __init__(
        self,
        out_planes: list[int],
        out_names: list[str],
        input_planes: int = 3,
        pred_depth_minmax: bool = False,
        width: int = 64,
        input_size: int = 256,
        last_kernel: int = 7,
    ):
        super().__init__()
        if len(out_planes) != len(out_names):
            raise ValueError(f"{len(out_planes)} out_planes for {len(out_names)} out_names")
        self.out_names = list(out_names)
        self.encoder = UResNetEncoder(input_planes, width)
        for planes, name in zip(out_planes, out_names, strict=True):
            setattr(self, f"decoder_{name}", _decoder(planes, width, last_kernel))
        self.pred_depth_minmax = pred_depth_minmax
        if pred_depth_minmax:
            if input_size % 64:
                raise ValueError(f"the min/max head needs an input size divisible by 64, got {input_size}")
            c = 8 * width
            self.decoder_minmax = nn.Sequential(
                nn.Conv2d(c, c, 2, stride=2),
                nn.Conv2d(c, c, input_size // 64),
                nn.Flatten(),
                nn.Linear(c, 4 * width),
                nn.BatchNorm1d(4 * width),
                nn.ReLU(inplace=True),
                nn.Linear(4 * width, 2 * width),
                nn.BatchNorm1d(2 * width),
                nn.ReLU(inplace=True),
                nn.Linear(2 * width, 2),
            )

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        """(B, input_planes, H, W) float -> {name: (B, planes, H, W)} raw outputs, plus ``depth_minmax``
        (B, 2) with the min/max head. H and W multiples of 32 (the head's ``input_size``)."""
        maps = self.encoder(x)
        outputs = {}
        for name in self.out_names:
            y = maps[-1]
            stages = getattr(self, f"decoder_{name}")
            for i, stage in enumerate(stages):
                y = stage(y)
                if i < len(stages) - 1:
                    y = torch.cat((y, maps[-(i + 2)]), dim=1)
            outputs[name] = y
        if self.pred_depth_minmax:
            outputs["depth_minmax"] = self.decoder_minmax(maps[-1])
        return outputs


class Estimator(UResNet):
    """MarrNet-1 / GenRe's depth estimator (``models/marrnet1.py:26-30``, ``Net`` at ``:137-161``).

    ``UResNet([3, 1, 1], ['normal', 'depth', 'silhou'], pred_depth_minmax=True)``, initialized with
    :func:`release_init`.

    Input: (B, 3, S, S) ImageNet-normalized RGB, S = ``input_size`` (256 released:
    ``models/marrnetbase.py:12,81``). Outputs (raw, no activation, :data:`SCALE_25D` units): ``normal``
    (B, 3, S, S), targets 100 (n + 1) / 2; ``depth`` (B, 1, S, S), target 100 x :func:`relative_depth`;
    ``silhou`` (B, 1, S, S), target 0 or 100; ``depth_minmax`` (B, 2) absolute (min, max) depth. Training
    mode needs B >= 2 (batch norms in the min/max head).
    """

    def __init__(self, width: int = 64, input_size: int = 256):
        super().__init__(
            [3, 1, 1],
            ["normal", "depth", "silhou"],
            3,
            pred_depth_minmax=True,
            width=width,
            input_size=input_size,
        )
        release_init(self)


class Inpainter(UResNet):
    """GenRe's spherical map inpainter (``models/depth_pred_with_sph_inpaint.py:102``): ``Net_inpaint([1],
    ['spherical'], input_planes=1)`` (``networks/uresnet.py:77-145``), initialized with
    :func:`release_init`.

    Input: (B, 1, S, S) partial spherical map padded by ``sph_pad`` (128 + 2 x 16 = 160 released), values
    in [0, 1] (distance from the unit sphere inward, 1 where the ray misses). Output ``spherical`` (B, 1, S,
    S): the padded full map, raw (no activation; the target is the full map padded the same way).
    """

    def __init__(self, width: int = 64):
        super().__init__([1], ["spherical"], 1, width=width, last_kernel=8)
        release_init(self)


class _Conv3dBlock(nn.Module):
    """``Conv3d_block`` (``networks/networks.py:193-203``): Conv3d with bias, BatchNorm3d, LeakyReLU(0.01)."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int, pad: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv3d(in_ch, out_ch, kernel, stride, pad), nn.BatchNorm3d(out_ch), nn.LeakyReLU()
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class _Deconv3dSkip(nn.Module):
    """``Deconv3d_skip`` (``networks/networks.py:206-222``): concatenate the skip, ConvTranspose3d with bias,
    then BatchNorm3d and LeakyReLU(0.01) unless it is the last layer."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int, pad: int, activate: bool = True):
        super().__init__()
        deconv = nn.ConvTranspose3d(in_ch, out_ch, kernel, stride, pad, 0)
        self.net = nn.Sequential(deconv, nn.BatchNorm3d(out_ch), nn.LeakyReLU()) if activate else deconv

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        return self.net(torch.cat((x, skip), dim=1))


class Refiner(nn.Module):
    """GenRe's voxel refiner, ``Unet_3D`` (``networks/networks.py:147-190``;
    ``models/genre_full_model.py:105``), initialized with :func:`release_init`. See the module docstring
    for the layers.

    Layers ``enc1``..``enc<L>``, ``full_conv_block``, ``dec1``..``dec<L>``, L = log2(resolution) - 1 (6 at
    128^3, the release's names).

    Args:
        nf: base width (20 released).
        in_channels: 2 released: the back-projected full spherical map, then the back-projected depth
            (``models/genre_full_model.py:127``).
        resolution: grid size, a power of two >= 16 (128 released).

    Input (B, in_channels, R, R, R) float -> (B, 1, R, R, R) voxel logits. Training mode needs B >= 2 (the
    batch norm on the 1^3 bottleneck level).
    """

    def __init__(self, nf: int = 20, in_channels: int = 2, resolution: int = 128):
        super().__init__()
        if resolution < 16 or resolution & (resolution - 1):
            raise ValueError(f"resolution must be a power of two >= 16, got {resolution}")
        levels = int(math.log2(resolution)) - 1
        ch = [nf * 2**i for i in range(levels)]
        self.levels, self.resolution = levels, resolution
        self.enc1 = _Conv3dBlock(in_channels, ch[0], 8, 2, 3)
        for i in range(1, levels - 1):
            setattr(self, f"enc{i + 1}", _Conv3dBlock(ch[i - 1], ch[i], 4, 2, 1))
        setattr(self, f"enc{levels}", _Conv3dBlock(ch[-2], ch[-1], 4, 1, 0))
        self.full_conv_block = nn.Sequential(nn.Linear(ch[-1], ch[-1]), nn.LeakyReLU())
        self.dec1 = _Deconv3dSkip(2 * ch[-1], ch[-2], 4, 1, 0)
        for j in range(2, levels):
            kernel, pad = (8, 3) if j == levels - 1 else (4, 1)
            setattr(self, f"dec{j}", _Deconv3dSkip(2 * ch[levels - j], ch[levels - j - 1], kernel, 2, pad))
        setattr(self, f"dec{levels}", _Deconv3dSkip(2 * ch[0], 1, 4, 2, 1, activate=False))
        release_init(self)

    def forward(self, x: Tensor) -> Tensor:
        """(B, in_channels, R, R, R) -> (B, 1, R, R, R) logits."""
        skips = []
        for i in range(1, self.levels + 1):
            x = getattr(self, f"enc{i}")(x)
            skips.append(x)
        y = self.full_conv_block(x.flatten(1)).view_as(x)
        for j in range(1, self.levels + 1):
            y = getattr(self, f"dec{j}")(y, skips[-j])
        return y
