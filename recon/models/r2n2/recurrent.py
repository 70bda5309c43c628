"""3D-R2N2's recurrent units: a 4³ grid of hidden cells updated by each view's feature vector.

Every gate is an :class:`FCConv3d` (``lib/layers.py`` ``FCConv3DLayer``): a bias-free linear map
of the view's features reshaped to the grid, plus a ``k``³ convolution of a hidden grid (each cell
sees its neighbourhood), plus one bias per channel. The hidden state starts at zero.

- :class:`GRU3d` (``recurrent: gru``), the release's (``models/res_gru_net.py`` lines 128-151)::

      u = sigmoid(U(x, h)),  r = sigmoid(R(x, h)),  h' = u * h + (1 - u) * tanh(C(x, r * h))

- :class:`LSTM3d` (``recurrent: lstm``), the paper's 3D convolutional LSTM (the release's
  ``imgs/lstm.png``; the release has no LSTM network): no output gate, ::

      f = sigmoid(F(x, h)),  i = sigmoid(I(x, h)),  s' = f * s + i * tanh(C(x, h)),  h' = tanh(s')
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["FCConv3d", "GRU3d", "LSTM3d"]


class FCConv3d(nn.Module):
    """``fc(x)`` on the grid + ``conv(h)`` + bias per channel: (B, F), (B, C, g, g, g) -> (B, C, g, g, g)."""

    def __init__(self, feature_dim: int, channels: int, grid: int, kernel: int):
        super().__init__()
        self.channels, self.grid = channels, grid
        self.fc = nn.Linear(feature_dim, channels * grid**3, bias=False)
        self.conv = nn.Conv3d(channels, channels, kernel, padding=kernel // 2)

    def forward(self, x: Tensor, h: Tensor) -> Tensor:
        g = self.grid
        return self.fc(x).view(x.shape[0], self.channels, g, g, g) + self.conv(h)


class GRU3d(nn.Module):
    """The released 3D convolutional GRU: update, reset and candidate gates."""

    def __init__(self, feature_dim: int, hidden: int, kernel: int = 3, grid: int = 4):
        super().__init__()
        self.hidden, self.grid = hidden, grid
        self.update = FCConv3d(feature_dim, hidden, grid, kernel)
        self.reset = FCConv3d(feature_dim, hidden, grid, kernel)
        self.candidate = FCConv3d(feature_dim, hidden, grid, kernel)

    def step(self, x: Tensor, h: Tensor) -> Tensor:
        """One view's features (B, F) and the hidden grid (B, C, g, g, g) -> the new hidden grid."""
        u = torch.sigmoid(self.update(x, h))
        r = torch.sigmoid(self.reset(x, h))
        return u * h + (1 - u) * torch.tanh(self.candidate(x, r * h))

    def forward(self, features: Tensor) -> Tensor:
        """(B, V, F) features of V views, fed in order -> (B, C, g, g, g) the last hidden grid."""
        g = self.grid
        h = features.new_zeros(features.shape[0], self.hidden, g, g, g)
        for k in range(features.shape[1]):
            h = self.step(features[:, k], h)
        return h


class LSTM3d(nn.Module):
    """The paper's 3D convolutional LSTM: forget, input and candidate gates, ``h = tanh(s)``."""

    def __init__(self, feature_dim: int, hidden: int, kernel: int = 3, grid: int = 4):
        super().__init__()
        self.hidden, self.grid = hidden, grid
        self.forget = FCConv3d(feature_dim, hidden, grid, kernel)
        self.input = FCConv3d(feature_dim, hidden, grid, kernel)
        self.candidate = FCConv3d(feature_dim, hidden, grid, kernel)

    def step(self, x: Tensor, h: Tensor, s: Tensor) -> tuple[Tensor, Tensor]:
        """One view's features (B, F), the hidden and memory grids (B, C, g, g, g) -> the new (h, s)."""
        f = torch.sigmoid(self.forget(x, h))
        i = torch.sigmoid(self.input(x, h))
        s = f * s + i * torch.tanh(self.candidate(x, h))
        return torch.tanh(s), s

    def forward(self, features: Tensor) -> Tensor:
        """(B, V, F) features of V views, fed in order -> (B, C, g, g, g) the last hidden grid."""
        g = self.grid
        h = s = features.new_zeros(features.shape[0], self.hidden, g, g, g)
        for k in range(features.shape[1]):
            h, s = self.step(features[:, k], h, s)
        return h
