"""Image encoders in plain PyTorch: VGG-16 (DISN) and ResNet-18/34/50 (3D-R2N2-style models and others).

The architectures are torchvision's, layer for layer, with the same parameter names, so a torchvision
state dict loads into them with ``strict=True`` semantics (:func:`load_pretrained`); only the classifier
heads (VGG's ``classifier.*``, or ``classifier.6.*`` when fc6 and fc7 are built; ResNet's ``fc.*``) are
not built, and their keys are skipped on loading.
torchvision itself is not needed.

Every encoder is an :class:`Encoder`: ``encoder(images)`` returns a list of feature maps, one per stage,
``encoder.channels[i]`` and ``encoder.strides[i]`` give the channel count and the downsampling factor of
map ``i`` (its size is ``H / stride`` when ``H`` is a multiple of the largest stride; otherwise VGG rounds
down and ResNet up), and ``encoder.global_features(images)`` (``encoder.global_vector(maps)`` from maps
already computed) is a (B, ``encoder.global_channels``) vector: the global average pool of the last map,
or, for a VGG built with ``fc=True``, VGG's own fc7. Inputs are (B, 3, H, W) float images normalized
with ImageNet's mean and standard deviation (:func:`normalize_images`), as torchvision's weights were
trained on.

==========  ======================================================  ============================
encoder     returned maps (torchvision module of each)               channels; strides
==========  ======================================================  ============================
vgg16       conv1_2, conv2_2, conv3_3, conv4_3, conv5_3 after ReLU   64, 128, 256, 512, 512;
            (``features.3, 8, 15, 22, 29``)                          1, 2, 4, 8, 16
vgg16_bn    the same, after BN + ReLU (``features.5, 12, 22, 32,     as vgg16
            42``)
resnet18    stem (``relu`` after ``conv1``/``bn1``, before           64, 64, 128, 256, 512;
/ 34        ``maxpool``), ``layer1`` .. ``layer4``                   2, 4, 8, 16, 32
resnet50    as resnet18                                              64, 256, 512, 1024, 2048;
                                                                     2, 4, 8, 16, 32
==========  ======================================================  ============================

The VGG maps are the five maps DISN samples local point features from (TF-slim's end points
``vgg_16/conv1/conv1_2`` .. ``vgg_16/conv5/conv5_3``, which are after the ReLU; 64 + 128 + 256 + 512 +
512 = 1472 channels); pool5 is not applied to them. ``VGG16(fc=True)`` (``build_encoder(..., fc=True)``)
also builds VGG's first two fully connected layers, torchvision's ``classifier.0`` (fc6, 25088 -> 4096)
and ``classifier.3`` (fc7, 4096 -> 4096), each with its ReLU: its global vector is pool5, torchvision's
adaptive average pool to 7x7 (the identity for 224x224 inputs), fc6, fc7. They load from torchvision's
files like the convolutions; only ``classifier.6`` (the 1000 ImageNet classes) is skipped. No dropout
(DISN runs TF-slim's ``vgg_16`` with ``is_training=False``). DISN's global feature is its own fc8, a
linear layer from this fc7 to 1024 outputs, as the released code's ``vgg_16(num_classes=1024)``.

Pretrained weights: ImageNet weights are torchvision's published files (``vgg16-397923af.pth``,
``vgg16_bn-6c64b313.pth``, ``resnet18-f37072fd.pth``, ``resnet34-b627a593.pth``,
``resnet50-0676ba61.pth`` or ``resnet50-11ad3fa6.pth``; URLs in torchvision's ``models`` docs), which
users download themselves and pass as a path: nothing here downloads anything. The weights' own
license and terms (torchvision's, and ImageNet's terms of use) apply to them and to models trained from
them.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import Tensor, nn

__all__ = [
    "ENCODERS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "VGG16",
    "CodeEncoder",
    "Encoder",
    "ResNet",
    "build_encoder",
    "composite",
    "load_pretrained",
    "normalize_images",
    "resnet18",
    "resnet34",
    "resnet50",
]

log = logging.getLogger(__name__)

#: ImageNet's per-channel RGB mean and standard deviation (torchvision's weights expect them).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def composite(rgba: Tensor, background: float = 1.0) -> Tensor:
    """(B, 4, H, W) straight-alpha RGBA floats in [0, 1] -> (B, 3, H, W) RGB over a ``background`` grey."""
    rgb, alpha = rgba[:, :3], rgba[:, 3:]
    return rgb * alpha + background * (1.0 - alpha)


def normalize_images(images: Tensor, background: float = 1.0) -> Tensor:
    """Images in [0, 1] -> encoder input: (B, 3, H, W), ``(rgb - IMAGENET_MEAN) / IMAGENET_STD``.

    Args:
        images: (B, 3, H, W) channels-first RGB, or (B, H, W, 3) RGB / (B, H, W, 4) RGBA channels-last,
            floats in [0, 1]. A tensor with ``shape[1] == 3`` is taken as channels-first. RGBA (straight
            alpha) is composited over ``background`` first (:func:`composite`).
        background: grey level of the background RGBA images are composited over (1 = white, what
            3D-R2N2 and DISN train on).

    Returns:
        (B, 3, H, W) tensor of the input's floating dtype, on its device.

    Raises:
        ValueError: a shape that is none of the above, or a non-floating dtype.
    """
    if not images.is_floating_point():
        raise ValueError(f"images must be floats in [0, 1], got {images.dtype}")
    if images.ndim != 4 or (images.shape[1] != 3 and images.shape[-1] not in (3, 4)):
        raise ValueError(
            f"images must be (B, 3, H, W), (B, H, W, 3) or (B, H, W, 4), got {tuple(images.shape)}"
        )
    if images.shape[1] != 3:
        images = images.permute(0, 3, 1, 2)
        if images.shape[1] == 4:
            images = composite(images, background)
    mean = images.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = images.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (images - mean) / std


class Encoder(nn.Module):
    """Base class: an image encoder returning one feature map per stage.

    Attributes:
        channels: channel count of each returned map.
        strides: downsampling factor of each returned map relative to the input.
        head_prefixes: state dict key prefixes of the classifier head that is not built (skipped by
            :func:`load_pretrained`).
        global_channels: size of the :meth:`global_vector`.
    """

    channels: list[int]
    strides: list[int]
    head_prefixes: tuple[str, ...] = ()
    global_channels: int

    def forward(self, images: Tensor) -> list[Tensor]:
        """Feature maps of normalized images.

        Args:
            images: (B, 3, H, W) float, ImageNet-normalized (:func:`normalize_images`).

        Returns:
            ``len(self.channels)`` maps; map ``i`` is (B, channels[i], ~H / strides[i], ~W / strides[i]).
        """
        raise NotImplementedError

    def global_vector(self, maps: list[Tensor]) -> Tensor:
        """(B, global_channels) global vector of the maps :meth:`forward` returned: by default the last
        map averaged over its pixels (torchvision's avgpool), global_channels = channels[-1]."""
        return maps[-1].mean((2, 3))

    def global_features(self, images: Tensor) -> Tensor:
        """(B, global_channels) global vector of normalized images: ``global_vector(self(images))``."""
        return self.global_vector(self(images))


def _kaiming_init(module: nn.Module) -> None:
    # torchvision's initialization of VGG and ResNet (convolutions: He normal, fan_out; norms: 1, 0;
    # VGG's fully connected layers: normal with standard deviation 0.01, zero bias).
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class VGG16(Encoder):
    """VGG-16 (configuration "D") convolutional part: 13 3x3 convolutions with ReLU, 5 max-pools.

    ``self.features`` is torchvision's ``vgg16().features`` (``vgg16_bn`` with ``batch_norm``), pool5
    included, so parameter names are ``features.<i>.weight`` / ``.bias`` (and BN's running stats).
    The forward pass stops at conv5_3's ReLU (pool5 is not applied).

    ``forward`` returns the maps after conv1_2, conv2_2, conv3_3, conv4_3, conv5_3 and their ReLU, i.e.
    ``features.3, 8, 15, 22, 29`` (``features.5, 12, 22, 32, 42`` with batch norm): channels
    64, 128, 256, 512, 512; strides 1, 2, 4, 8, 16. For a 224x224 input: 224, 112, 56, 28, 14 pixels.

    With ``fc=True`` it also has torchvision's ``avgpool`` (adaptive, to 7x7) and the first two fully
    connected layers, ``classifier.0`` (fc6, 25088 -> 4096) and ``classifier.3`` (fc7, 4096 -> 4096),
    each followed by a ReLU (``classifier.1``, ``.4``; ``classifier.2`` is the identity where torchvision
    has a dropout): :meth:`global_vector` is then fc7 of pool5, (B, 4096). Only ``classifier.6`` (the
    ImageNet classes) is not built.

    Args:
        batch_norm: put a BatchNorm2d after every convolution (torchvision's ``vgg16_bn``).
        fc: build fc6 and fc7 (DISN's global feature); otherwise the global vector is conv5_3 averaged.

    Attributes:
        features: the layers, indexed as torchvision's.
        taps: index in ``features`` of each returned map's ReLU: [3, 8, 15, 22, 29] or, with batch norm,
            [5, 12, 22, 32, 42].
        batch_norm: whether BatchNorm2d layers are present.
        fc: whether fc6 and fc7 (``classifier``) are present.
    """

    CONFIG = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))
    head_prefixes = ("classifier.",)

    def __init__(self, batch_norm: bool = False, fc: bool = False):
        super().__init__()
        layers: list[nn.Module] = []
        self.taps: list[int] = []  # index in self.features of each returned ReLU
        in_ch = 3
        for block in self.CONFIG:
            for out_ch in block:
                layers.append(nn.Conv2d(in_ch, out_ch, kernel_size=3, padding=1))
                if batch_norm:
                    layers.append(nn.BatchNorm2d(out_ch))
                layers.append(nn.ReLU(inplace=True))
                in_ch = out_ch
            self.taps.append(len(layers) - 1)
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        self.features = nn.Sequential(*layers)
        self.batch_norm = batch_norm
        self.fc = fc
        self.channels = [block[-1] for block in self.CONFIG]
        self.strides = [1, 2, 4, 8, 16]
        self.global_channels = self.channels[-1]
        if fc:
            self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
            self.classifier = nn.Sequential(
                nn.Linear(self.channels[-1] * 7 * 7, 4096),
                nn.ReLU(inplace=True),
                nn.Identity(),
                nn.Linear(4096, 4096),
                nn.ReLU(inplace=True),
            )
            self.head_prefixes = ("classifier.6.",)
            self.global_channels = 4096
        _kaiming_init(self)

    def forward(self, images: Tensor) -> list[Tensor]:
        """Maps after conv1_2, conv2_2, conv3_3, conv4_3, conv5_3 (+ ReLU); see the class docstring.

        Args:
            images: (B, 3, H, W) float, ImageNet-normalized.

        Returns:
            5 maps (B, C_i, H_i, W_i), C = 64, 128, 256, 512, 512, H_i = floor(H / 2^i), i = 0..4.
        """
        maps, x = [], images
        for i, layer in enumerate(self.features[: self.taps[-1] + 1]):
            x = layer(x)
            if i in self.taps:
                maps.append(x)
        return maps

    def global_vector(self, maps: list[Tensor]) -> Tensor:
        """(B, global_channels) global vector of the maps :meth:`forward` returned: fc7 of pool5 with
        ``fc=True`` (4096), else conv5_3 averaged over its pixels (512)."""
        if not self.fc:
            return super().global_vector(maps)
        pooled = self.avgpool(self.features[self.taps[-1] + 1](maps[-1]))  # pool5, then 7x7
        return self.classifier(torch.flatten(pooled, 1))


class BasicBlock(nn.Module):
    """ResNet-18/34 block: two 3x3 convolutions with BN and an identity (or 1x1 projection) shortcut."""

    expansion = 1

    def __init__(self, in_ch: int, ch: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, ch, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(ch)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(ch, ch, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(ch)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        """(B, in_ch, H, W) -> (B, ch, H / stride, W / stride)."""
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class Bottleneck(nn.Module):
    """ResNet-50 block: 1x1 -> 3x3 (strided, torchvision's "ResNet v1.5") -> 1x1 x4 channels, with BN."""

    expansion = 4

    def __init__(self, in_ch: int, ch: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, ch, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(ch)
        self.conv2 = nn.Conv2d(ch, ch, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(ch)
        self.conv3 = nn.Conv2d(ch, ch * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(ch * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        """(B, in_ch, H, W) -> (B, 4 ch, H / stride, W / stride)."""
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + identity)


class ResNet(Encoder):
    """torchvision's ResNet less avgpool and fc: stem (7x7/2 conv, BN, ReLU, 3x3/2 max-pool), layer1..4.

    Parameter names are torchvision's: ``conv1.weight``, ``bn1.*``, ``layer1.0.conv1.weight``,
    ``layer2.0.downsample.0.weight`` (1x1 projection), ``layer2.0.downsample.1.*`` (its BN), ...

    ``forward`` returns the stem's ReLU output (before the max-pool) and the outputs of layer1..layer4:
    channels 64, 64 e, 128 e, 256 e, 512 e (e = block.expansion: 1 or 4); strides 2, 4, 8, 16, 32.

    Args:
        block: :class:`BasicBlock` (ResNet-18/34) or :class:`Bottleneck` (ResNet-50 and deeper).
        layers: number of blocks of layer1..layer4, e.g. (2, 2, 2, 2) for ResNet-18.
    """

    head_prefixes = ("fc.",)

    def __init__(self, block: type[BasicBlock] | type[Bottleneck], layers: tuple[int, int, int, int]):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.in_ch = 64
        for i, (ch, n) in enumerate(zip((64, 128, 256, 512), layers, strict=True)):
            setattr(self, f"layer{i + 1}", self._make_layer(block, ch, n, stride=1 if i == 0 else 2))
        self.channels = [64] + [ch * block.expansion for ch in (64, 128, 256, 512)]
        self.strides = [2, 4, 8, 16, 32]
        self.global_channels = self.channels[-1]
        _kaiming_init(self)

    def _make_layer(
        self, block: type[BasicBlock] | type[Bottleneck], ch: int, n: int, stride: int
    ) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.in_ch != ch * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.in_ch, ch * block.expansion, 1, stride=stride, bias=False),
                nn.BatchNorm2d(ch * block.expansion),
            )
        blocks = [block(self.in_ch, ch, stride, downsample)]
        self.in_ch = ch * block.expansion
        blocks += [block(self.in_ch, ch) for _ in range(n - 1)]
        return nn.Sequential(*blocks)

    def forward(self, images: Tensor) -> list[Tensor]:
        """Stem and layer1..layer4 outputs; see the class docstring.

        Args:
            images: (B, 3, H, W) float, ImageNet-normalized.

        Returns:
            5 maps (B, C_i, H_i, W_i), H_i = ceil(H / 2^(i+1)), i = 0..4 (112, 56, 28, 14, 7 for H = 224).
        """
        x = self.relu(self.bn1(self.conv1(images)))
        maps = [x]
        x = self.maxpool(x)
        for layer in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = layer(x)
            maps.append(x)
        return maps


def resnet18() -> ResNet:
    """ResNet-18 encoder (BasicBlock, 2-2-2-2): 11,176,512 parameters (torchvision's 11,689,512 less fc)."""
    return ResNet(BasicBlock, (2, 2, 2, 2))


def resnet34() -> ResNet:
    """ResNet-34 encoder (BasicBlock, 3-4-6-3): 21,284,672 parameters (torchvision's 21,797,672 less fc)."""
    return ResNet(BasicBlock, (3, 4, 6, 3))


def resnet50() -> ResNet:
    """ResNet-50 encoder (Bottleneck, 3-4-6-3): 23,508,032 parameters (torchvision's 25,557,032 less fc)."""
    return ResNet(Bottleneck, (3, 4, 6, 3))


#: Encoder names accepted by :func:`build_encoder`, with their constructors.
ENCODERS = {
    "vgg16": lambda: VGG16(batch_norm=False),
    "vgg16_bn": lambda: VGG16(batch_norm=True),
    "resnet18": resnet18,
    "resnet34": resnet34,
    "resnet50": resnet50,
}


def _head(names: list[str], n: int = 10) -> str:
    return str(names[:n])[:-1] + f", ... ({len(names)} in all)]" if len(names) > n else str(names)


def load_pretrained(encoder: Encoder, path: str | Path) -> list[str]:
    """Load a torchvision-format state dict file into ``encoder``, skipping the classifier head.

    The file is read with ``torch.load(..., weights_only=True)`` on the CPU. A dict wrapping the state
    dict as ``{"state_dict": ...}`` or ``{"model": ...}`` is unwrapped, and a ``module.`` prefix on every
    key (``nn.DataParallel``) is stripped. Keys of the head that is not built (``encoder.head_prefixes``:
    ``classifier.*`` for VGG, only ``classifier.6.*`` for a VGG with fc6 and fc7, ``fc.*`` for ResNet) are
    dropped; every other parameter and buffer must match exactly (``strict=True``), except
    BatchNorm's ``num_batches_tracked``, absent from files saved before PyTorch 0.4.1 (set to 0 then).

    Args:
        encoder: the encoder to fill in place.
        path: ``.pth`` file.

    Returns:
        The head keys that were skipped, sorted.

    Raises:
        FileNotFoundError: no such file.
        ValueError: missing or unexpected keys, or shapes that differ (the first 10 of each named in the
            message).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"pretrained weights not found: {path}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    for wrapper in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
    if not isinstance(state, dict):
        raise ValueError(f"{path}: not a state dict (a {type(state).__name__})")
    if state and all(k.startswith("module.") for k in state):
        state = {k.removeprefix("module."): v for k, v in state.items()}
    skipped = sorted(k for k in state if k.startswith(encoder.head_prefixes))
    state = {k: v for k, v in state.items() if not k.startswith(encoder.head_prefixes)}
    own = encoder.state_dict()
    for k in own:  # absent from files saved before PyTorch 0.4.1; BatchNorm starts it at 0 too
        if k.endswith("num_batches_tracked") and k not in state:
            state[k] = torch.tensor(0, dtype=torch.long)
    missing, unexpected = [k for k in own if k not in state], [k for k in state if k not in own]
    wrong = [
        f"{k} {tuple(v.shape)} vs {tuple(own[k].shape)}"
        for k, v in state.items()
        if k in own and v.shape != own[k].shape
    ]
    if missing or unexpected or wrong:
        raise ValueError(
            f"{path} does not fit {type(encoder).__name__} (expected: a torchvision state dict of the same "
            f"architecture): missing keys {_head(missing)}, unexpected keys {_head(unexpected)}, "
            f"shapes that differ (file vs model) {_head(wrong)}"
        )
    encoder.load_state_dict(state, strict=True)
    return skipped


def build_encoder(
    name: str, pretrained: str | Path | None = None, batch_norm: bool = False, fc: bool = False
) -> Encoder:
    """Build an encoder by name, optionally loading torchvision-format weights from a local file.

    Args:
        name: ``vgg16``, ``vgg16_bn``, ``resnet18``, ``resnet34`` or ``resnet50``.
        pretrained: ``.pth`` state dict (see :func:`load_pretrained` and the module docstring for where to
            get one); None keeps the random (torchvision-style) initialization. Nothing is downloaded.
        batch_norm: ``vgg16`` with batch norm, i.e. ``vgg16_bn``. ResNets always have batch norm, so it has
            no effect on them.
        fc: VGG only: also build fc6 and fc7 (:class:`VGG16`), which then load from ``pretrained`` too.

    Returns:
        The encoder, in training mode (call ``.eval()`` to use BN running statistics).

    Raises:
        ValueError: an unknown name, ``fc`` for a ResNet (torchvision's ResNet has no hidden fully
            connected layer), or weights that do not fit (:func:`load_pretrained`).
    """
    if name not in ENCODERS:
        raise ValueError(f"unknown encoder {name!r}; choose from {sorted(ENCODERS)}")
    if name == "vgg16" and batch_norm:
        name = "vgg16_bn"
    if fc and not name.startswith("vgg"):
        raise ValueError(f"fc: only VGG encoders have fully connected layers to build, not {name!r}")
    encoder = VGG16(batch_norm=name == "vgg16_bn", fc=True) if fc else ENCODERS[name]()
    if pretrained is not None:
        skipped = load_pretrained(encoder, pretrained)
        log.info(
            "loaded %s weights from %s; skipped %d head keys %s", name, pretrained, len(skipped), skipped
        )
    return encoder


class CodeEncoder(nn.Module):
    """ImageNet-normalized images (B, 3, S, S) -> codes (B, c_dim): an encoder's pooled last map, then ``fc``.

    Occupancy Networks' ``Resnet18`` (``im2mesh/encoder/conv.py:42-68``), AtlasNet's
    ``resnet18(num_classes=1024)`` and PointSetGen's ONet baseline: the parameters are ``features.*``
    (torchvision's names) and ``fc.*``.

    Args:
        name: a :func:`build_encoder` name (the releases: ``resnet18``).
        pretrained: torchvision-format weights file, or None (torchvision's random initialization).
        c_dim: size of the code.
    """

    def __init__(self, name: str, pretrained: str | Path | None, c_dim: int):
        super().__init__()
        self.features = build_encoder(name, pretrained)
        self.fc = nn.Linear(self.features.global_channels, c_dim)

    def forward(self, images: Tensor) -> Tensor:
        return self.fc(self.features.global_features(images))
