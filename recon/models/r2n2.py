"""3D-R2N2 (Choy et al., ECCV 2016; chrischoy/3D-R2N2): views -> 3D convolutional LSTM -> 32³ voxels.

Each view is encoded by a 2D CNN into a vector; a fully connected layer maps it to the input of
a 3D convolutional LSTM whose hidden state is a 4³ grid of ``hidden`` channels (each cell sees its
3³ neighbourhood, ``lib/layer.py``'s ``FCConv3DLayer``); the views are fed one after the other and
the last hidden state is decoded by 3D convolutions and unpooling (4³ -> 8³ -> 16³ -> 32³) into
occupancy logits, trained with the voxel-wise cross-entropy against the filled 32³ voxels, solid or
surface (the loader's ``voxels`` target: what 3D-R2N2's ``ShapeNetVox32`` holds and what the r2n2
preset evaluates against; two-class softmax = a logistic loss on the logit difference). One view:
single-view reconstruction; several views of a shape (``views_per_item``): multi-view.

The encoder is the paper's shallow CNN (``encoder: r2n2``: six 3x3 / 7x7 conv + pool stages, 1,024-d
output) or any :func:`recon.models.encoders.build_encoder` name (its pooled last map + a linear
layer to 1,024). Predictions: occupancy probabilities at 32³ (evaluated as voxels by the r2n2 and
pix3d presets) and their iso-surface at 0.4 as the mesh.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from recon.io.loader import PackedDataset, to_float_image
from recon.models.encoders import build_encoder
from recon.models.inputs import prepare_images
from recon.train.method import Method, register, unwrap_model

__all__ = ["R2N2", "MultiViewDataset", "R2N2Config", "R2N2Net"]


@dataclass(frozen=True)
class R2N2Config:
    """Hyper-parameters of 3D-R2N2 (defaults: the paper's residual LSTM network, single view)."""

    encoder: str = field(default="r2n2", metadata={"help": "r2n2 (the paper's CNN) or an encoders.py name"})
    pretrained: str | None = field(default=None, metadata={"help": "weights file for a torchvision encoder"})
    feature_dim: int = field(default=1024, metadata={"help": "size of the per-view feature vector"})
    hidden: int = field(default=128, metadata={"help": "channels of the 4^3 LSTM hidden state"})
    views_per_item: int = field(
        default=1, metadata={"help": "views fed to the LSTM per shape (1: single view)"}
    )
    resolution: int = field(default=32, metadata={"help": "output voxels per axis (packed resolution)"})
    decoder_dims: tuple[int, ...] = field(
        default=(128, 64, 32), metadata={"help": "channels at 8^3, 16^3, 32^3"}
    )
    threshold: float = field(default=0.4, metadata={"help": "occupancy level of the predicted mesh"})
    image_size: int | None = field(default=None, metadata={"help": "resize views to this size (None: keep)"})


class _ShallowEncoder(nn.Module):
    """The paper's 2D encoder: conv 7x7/3x3 + max-pool stages with leaky ReLU, then a linear layer."""

    def __init__(self, feature_dim: int):
        super().__init__()
        chans = [3, 96, 128, 256, 256, 256, 256]
        layers: list[nn.Module] = []
        for i in range(6):
            layers += [
                nn.Conv2d(chans[i], chans[i + 1], 7 if i == 0 else 3, padding=3 if i == 0 else 1),
                nn.LeakyReLU(0.01),
                nn.MaxPool2d(2, ceil_mode=True),
            ]
        self.features = nn.Sequential(*layers)
        self.fc = nn.LazyLinear(feature_dim)

    def forward(self, images: Tensor) -> Tensor:
        return F.leaky_relu(self.fc(self.features(images).flatten(1)), 0.01)


class _TorchvisionEncoder(nn.Module):
    def __init__(self, name: str, pretrained: str | None, feature_dim: int):
        super().__init__()
        self.encoder = build_encoder(name, pretrained)
        self.fc = nn.Linear(self.encoder.channels[-1], feature_dim)

    def forward(self, images: Tensor) -> Tensor:
        return F.leaky_relu(self.fc(self.encoder.global_features(images)), 0.01)


class ConvLSTM3d(nn.Module):
    """3D-R2N2's LSTM cell: gates = FC(x) reshaped to the 4³ grid + 3³ convolution of the hidden state."""

    def __init__(self, feature_dim: int, hidden: int, grid: int = 4):
        super().__init__()
        self.hidden, self.grid = hidden, grid
        self.input_fc = nn.Linear(feature_dim, 4 * hidden * grid**3)
        self.recurrent = nn.Conv3d(hidden, 4 * hidden, 3, padding=1, bias=False)

    def forward(self, x: Tensor, state: tuple[Tensor, Tensor] | None) -> tuple[Tensor, Tensor]:
        """One view's features (B, F) and the previous (h, c) -> the new (h, c), each (B, hidden, 4, 4, 4)."""
        b = x.shape[0]
        gates = self.input_fc(x).view(b, 4 * self.hidden, self.grid, self.grid, self.grid)
        if state is None:
            h = c = x.new_zeros(b, self.hidden, self.grid, self.grid, self.grid)
        else:
            h, c = state
        gates = gates + self.recurrent(h)
        i, f, o, g = gates.chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c


class R2N2Net(nn.Module):
    """Views (B, V, 3, H, W) -> occupancy logits (B, 32, 32, 32)."""

    def __init__(self, config: R2N2Config):
        super().__init__()
        if config.resolution != 32:
            raise ValueError(f"r2n2 decodes 32^3 voxels, got resolution {config.resolution}")
        self.encoder = (
            _ShallowEncoder(config.feature_dim)
            if config.encoder == "r2n2"
            else _TorchvisionEncoder(config.encoder, config.pretrained, config.feature_dim)
        )
        self.lstm = ConvLSTM3d(config.feature_dim, config.hidden)
        chans = [config.hidden, *config.decoder_dims]
        if len(chans) != 4:
            raise ValueError(
                f"r2n2: decoder_dims needs 3 widths (8^3, 16^3, 32^3), got {config.decoder_dims}"
            )
        blocks: list[nn.Module] = []
        for i in range(3):
            blocks += [
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv3d(chans[i], chans[i + 1], 3, padding=1),
                nn.LeakyReLU(0.01),
            ]
        self.decoder = nn.Sequential(*blocks, nn.Conv3d(chans[-1], 1, 3, padding=1))

    def forward(self, views: Tensor) -> Tensor:
        """Args: views (B, V, 3, H, W) ImageNet-normalized. Returns: (B, 32, 32, 32) logits."""
        b, v = views.shape[:2]
        features = self.encoder(views.flatten(0, 1)).view(b, v, -1)
        state = None
        for k in range(v):
            state = self.lstm(features[:, k], state)
        return self.decoder(state[0])[:, 0]


class MultiViewDataset:
    """Items of ``views_per_item`` distinct views of one shape (a ``torch.utils.data.Dataset``).

    Item i is shape i of the packed split; its views are a seeded random choice per epoch
    (``rng(seed, "r2n2-views", epoch, i)``), the first ones of the shape in order when
    ``shuffle_views`` is false. Keys as :class:`recon.io.loader.PackedDataset`'s, with ``image``
    (V, H, W, 4) and the other targets of the shape's first chosen view.
    """

    def __init__(self, store, views_per_item: int, seed: int, shuffle_views: bool = True, **kwargs):
        self.inner = PackedDataset(store, seed=seed, **kwargs)
        self.v = views_per_item
        self.seed, self.epoch, self.shuffle = seed, 0, shuffle_views
        if views_per_item > len(self.inner.views):
            raise ValueError(f"views_per_item {views_per_item} > the {len(self.inner.views)} views served")

    def __len__(self) -> int:
        return self.inner.n_shapes

    def _total_views(self) -> int:
        return len(self.inner.views)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.inner.set_epoch(epoch)

    def __getitem__(self, index: int) -> dict:
        from recon.seeding import rng

        total = self._total_views()
        if self.shuffle:
            chosen = rng(self.seed, "r2n2-views", self.epoch, index).choice(total, self.v, replace=False)
        else:
            chosen = np.arange(self.v)
        items = [self.inner[index * total + int(k)] for k in chosen]
        out = dict(items[0])
        out["image"] = torch.stack([torch.as_tensor(it["image"]) for it in items])
        return out


@register
class R2N2(Method):
    """3D-R2N2 as a registered method (see the module docstring)."""

    name = "r2n2"
    Config = R2N2Config

    def targets(self, config):
        return {"targets": ("image", "voxels"), "voxel_resolution": config.resolution}

    def dataset(self, store, config, seed: int, train: bool = True):
        """A multi-view dataset when ``views_per_item > 1``; the plain packed dataset otherwise."""
        if config.views_per_item == 1:
            return PackedDataset(store, seed=seed, **self.targets(config))
        return MultiViewDataset(
            store, config.views_per_item, seed, shuffle_views=train, **self.targets(config)
        )

    def build(self, config):
        return R2N2Net(config)

    @staticmethod
    def _views(batch, config) -> Tensor:
        image = batch["image"]
        if image.dim() == 4:  # (B, H, W, 4): one view per item
            image = image[:, None]
        b, v = image.shape[:2]
        x = prepare_images(image.flatten(0, 1), config.image_size)
        return x.view(b, v, *x.shape[1:])

    def loss(self, model, batch, config):
        logits = model(self._views(batch, config))
        target = batch["voxels"].float()
        loss = F.binary_cross_entropy_with_logits(logits, target)
        with torch.no_grad():
            pred = logits > np.log(config.threshold / (1 - config.threshold))
            union = (pred | (target > 0.5)).sum().clamp_min(1)
            iou = (pred & (target > 0.5)).sum() / union
        return loss, {"bce": float(loss.detach()), "iou": float(iou)}

    def images(self, model, batch, config):
        return {
            "input": to_float_image(
                batch["image"][:8] if batch["image"].dim() == 4 else batch["image"][:8, 0]
            )
        }

    @torch.no_grad()
    def predict_voxels(self, model, batch, config) -> Tensor:
        """(B, 32, 32, 32) occupancy probabilities."""
        return torch.sigmoid(unwrap_model(model)(self._views(batch, config)))

    def predict_mesh(self, model, batch, config):
        from recon.evaluate.baselines import occupancy_mesh

        probabilities = self.predict_voxels(model, batch, config).float().cpu().numpy()
        half = float(batch.get("voxel_half_extent", 1.0))  # the packed voxels' cube, set by the caller
        return [occupancy_mesh(p, half, config.threshold) for p in probabilities]
