"""Mem3D's networks: image encoder, LSTM shape encoder, voxel decoder, and the whole model with its memory.

- :class:`ImageEncoder` (paper §3.3): an ImageNet CNN cut after one of its stages (the paper: ResNet-50
  through its third block, conv1 + layer1 + layer2, 512 x 28 x 28 at 224 px), then three 3x3
  convolutions with batch norm and ReLU (512, 256, 256 channels, 2x2 max-pools after the second and
  third: 256 x 7 x 7), flattened and mapped linearly to the image feature F (B, d). F has no
  activation, so its cosine similarities span [-1, 1] (the reimplementation's ``models/encoder.py:
  108-130`` does the same).
- :class:`ShapeEncoder` (paper §3.2-3.3): a one-layer LSTM over the k retrieved volumes, each
  flattened to n³ values, in similarity order; its last hidden state is the shape prior vector
  (B, h) (reimplementation ``models/lstm_shape_encoder.py:23-67``).
- :class:`VoxelDecoder` (paper §3.3): [F, prior] -> linear -> (c0, 2, 2, 2), four 4³ stride-2
  transposed convolutions with batch norm and ReLU (512, 128, 32, 8 channels: 2³ -> 32³), a 1³
  transposed convolution to one channel; returns logits (the paper's sigmoid is applied by the loss
  and the prediction). The linear map to 2³ follows the reimplementation (``models/decoder.py:
  24-25``); the paper does not say how the vector becomes a grid.
- :class:`Mem3DNet`: encoder, :class:`~recon.models.mem3d.memory.ShapeMemory`, shape encoder and
  decoder; with ``k = 0`` there is no memory and no LSTM, and the decoder sees a zero prior.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from recon.models.encoders import VGG16, ResNet, build_encoder
from recon.models.mem3d.config import Mem3DConfig
from recon.models.mem3d.memory import ShapeMemory

__all__ = ["ImageEncoder", "Mem3DNet", "ShapeEncoder", "VoxelDecoder", "he_init"]


#: Occupancy the decoder predicts everywhere before training (filled 32³ ShapeNet shapes occupy about a
#: tenth of their grid).
PRIOR_OCCUPANCY = 0.1


def he_init(module: nn.Module) -> None:
    """He-normal weights on each (transposed) convolution's true fan-in, zero biases, under ``module``.

    PyTorch's default for a transposed convolution takes its *output* channels as the fan-in (a 1³
    convolution to one channel gets weights U(-1, 1), logits of a few units, and a network that can
    start by predicting every voxel occupied and stay there); ``fan_out`` of its weight is the true
    fan-in. Mem3D's initialization is not published; this is chosen.
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Conv3d)):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
        elif isinstance(m, nn.ConvTranspose3d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        else:
            continue
        if m.bias is not None:
            nn.init.zeros_(m.bias)


class ImageEncoder(nn.Module):
    """ImageNet-normalized (B, 3, S, S) images -> (B, feature_dim) image features F.

    The trunk is a :func:`recon.models.encoders.build_encoder` network (weights loaded before it is
    cut) whose layers after ``stage`` are removed; parameter names stay torchvision's under
    ``trunk.``.
    """

    def __init__(
        self,
        name: str,
        pretrained: str | None,
        stage: int,
        head_dims: tuple[int, int, int],
        feature_dim: int,
        image_size: int,
    ):
        super().__init__()
        trunk = build_encoder(name, pretrained)
        if stage >= len(trunk.channels):
            raise ValueError(f"encoder_stage {stage}: {name} has stages 0..{len(trunk.channels) - 1}")
        if isinstance(trunk, ResNet):
            for i in range(stage + 1, 5):
                delattr(trunk, f"layer{i}")
            side = math.ceil(image_size / trunk.strides[stage])  # ResNet rounds up
        elif isinstance(trunk, VGG16):
            trunk.features = trunk.features[: trunk.taps[stage] + 1]
            side = image_size // trunk.strides[stage]  # VGG rounds down
        else:
            raise ValueError(f"encoder {name!r}: Mem3D cuts ResNet and VGG trunks only")
        self.trunk, self.stage = trunk, stage
        layers: list[nn.Module] = []
        channels = trunk.channels[stage]
        for i, width in enumerate(head_dims):
            layers += [nn.Conv2d(channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
            if i > 0:
                layers.append(nn.MaxPool2d(2))
                side //= 2
            channels = width
        if side < 1:
            raise ValueError(f"image_size {image_size} is too small for encoder_stage {stage} and two pools")
        self.head = nn.Sequential(*layers)
        self.fc = nn.Linear(channels * side * side, feature_dim)
        he_init(self.head)

    def _trunk(self, images: Tensor) -> Tensor:
        t = self.trunk
        if isinstance(t, VGG16):
            return t.features(images)
        x = t.relu(t.bn1(t.conv1(images)))
        if self.stage == 0:
            return x
        x = t.maxpool(x)
        for i in range(1, self.stage + 1):
            x = getattr(t, f"layer{i}")(x)
        return x

    def forward(self, images: Tensor) -> Tensor:
        """(B, 3, S, S) ImageNet-normalized RGB -> (B, feature_dim) features (no activation)."""
        return self.fc(self.head(self._trunk(images)).flatten(1))


class ShapeEncoder(nn.Module):
    """(B, k, n, n, n) retrieved volumes -> (B, hidden) shape prior vector (the LSTM's last hidden state)."""

    def __init__(self, resolution: int, hidden: int):
        super().__init__()
        self.lstm = nn.LSTM(resolution**3, hidden, num_layers=1, batch_first=True)

    def forward(self, volumes: Tensor) -> Tensor:
        _, (h, _) = self.lstm(volumes.flatten(2))
        return h[-1]


class VoxelDecoder(nn.Module):
    """(B, in_dim) vector -> (B, 32, 32, 32) occupancy logits (see the module docstring)."""

    def __init__(self, in_dim: int, dims: tuple[int, int, int, int]):
        super().__init__()
        self.start = dims[0]
        self.fc = nn.Linear(in_dim, dims[0] * 8)
        layers: list[nn.Module] = []
        channels = dims[0]
        for width in dims:
            layers += [
                nn.ConvTranspose3d(channels, width, 4, stride=2, padding=1),
                nn.BatchNorm3d(width),
                nn.ReLU(inplace=True),
            ]
            channels = width
        layers.append(nn.ConvTranspose3d(channels, 1, 1))
        self.layers = nn.Sequential(*layers)
        he_init(self.layers)
        # The output's bias starts at the logit of the prior occupancy (RetinaNet's prior-probability
        # initialization): Adam moves the mean logit by about lr per step, and a start with most voxels
        # above 1/2 takes hundreds of steps to undo.
        nn.init.constant_(layers[-1].bias, math.log(PRIOR_OCCUPANCY / (1.0 - PRIOR_OCCUPANCY)))

    def forward(self, x: Tensor) -> Tensor:
        grid = self.fc(x).view(x.shape[0], self.start, 2, 2, 2)
        if grid.device.type == "cpu":  # PyTorch's CPU 3D (transposed) convolutions run faster channels-last
            grid = grid.contiguous(memory_format=torch.channels_last_3d)
        return self.layers(grid)[:, 0]


class Mem3DNet(nn.Module):
    """Images -> (occupancy logits (B, 32, 32, 32), image features (B, d)), reading the memory (k > 0).

    The memory's buffers are left out of DistributedDataParallel's buffer broadcast: every process
    writes the same gathered items (:func:`~recon.models.mem3d.memory.gather_rows`), so the memories
    stay identical without sending m x 32³ voxels at every step.
    """

    MEMORY_BUFFERS = ("memory.keys", "memory.values", "memory.ages", "memory.filled")

    def __init__(self, config: Mem3DConfig):
        super().__init__()
        self.k, self.read_threshold, self.order = config.k, config.read_threshold, config.sequence_order
        self.prior_dim = config.lstm_hidden
        self.encoder = ImageEncoder(
            config.encoder,
            config.pretrained,
            config.encoder_stage,
            tuple(config.head_dims),
            config.feature_dim,
            config.image_size,
        )
        self.memory: ShapeMemory | None = None
        self.shape_encoder: ShapeEncoder | None = None
        if config.uses_memory:
            self.memory = ShapeMemory(config.memory_size, config.feature_dim, config.resolution)
            self.shape_encoder = ShapeEncoder(config.resolution, config.lstm_hidden)
            from torch.nn.parallel import DistributedDataParallel as DDP

            DDP._set_params_and_buffers_to_ignore_for_model(self, list(self.MEMORY_BUFFERS))
        self.decoder = VoxelDecoder(config.feature_dim + config.lstm_hidden, tuple(config.decoder_dims))

    def prior(self, features: Tensor) -> Tensor:
        """(B, d) features -> (B, h) shape prior vector: the LSTM of the read volumes, zeros when k = 0."""
        if self.memory is None:
            return features.new_zeros(features.shape[0], self.prior_dim)
        volumes, _, _ = self.memory.read(features, self.k, self.read_threshold, self.order)
        return self.shape_encoder(volumes.to(features.dtype))

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """(B, 3, S, S) ImageNet-normalized RGB -> ((B, 32, 32, 32) logits, (B, d) features F)."""
        features = self.encoder(images)
        logits = self.decoder(torch.cat([features, self.prior(features)], 1))
        return logits, features
