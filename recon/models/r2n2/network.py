"""3D-R2N2's network: a 2D encoder per view, a 3D convolutional LSTM, a 3D decoder to 32³ logits."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from recon.models.encoders import build_encoder
from recon.models.layers import upsample_conv3d
from recon.models.r2n2.config import R2N2Config

__all__ = ["ConvLSTM3d", "R2N2Net"]


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
        blocks = [m for i in range(3) for m in upsample_conv3d(chans[i], chans[i + 1])]
        self.decoder = nn.Sequential(*blocks, nn.Conv3d(chans[-1], 1, 3, padding=1))

    def forward(self, views: Tensor) -> Tensor:
        """Args: views (B, V, 3, H, W) ImageNet-normalized. Returns: (B, 32, 32, 32) logits."""
        b, v = views.shape[:2]
        features = self.encoder(views.flatten(0, 1)).view(b, v, -1)
        state = None
        for k in range(v):
            state = self.lstm(features[:, k], state)
        return self.decoder(state[0])[:, 0]
