"""3D-R2N2's network: a 2D encoder per view, a 3D recurrent unit over the views, a 3D decoder.

Views (B, V, 3, S, S) -> :mod:`~recon.models.r2n2.encoder` -> (B, V, feature_dim) ->
:mod:`~recon.models.r2n2.recurrent` (fed in view order) -> (B, hidden, 4, 4, 4) ->
:mod:`~recon.models.r2n2.decoder` -> (B, 2, 32, 32, 32) two-class scores. The released network
ends in a voxel-wise softmax over the two classes; :class:`R2N2Net` returns the occupancy logit
``score[1] - score[0]``, whose sigmoid is that softmax's occupied probability.

The r2n2 layers start as the release's ``lib/layers.py`` ``Weight``: weights normal with standard
deviation ``sqrt(2 / n)``, ``n`` the mean of fan-in and fan-out (Xavier normal with gain sqrt 2),
biases 0.1; a torchvision encoder keeps its own initialization (its linear layer is r2n2's).
"""

from __future__ import annotations

import math

from torch import Tensor, nn

from recon.models.r2n2.config import R2N2Config
from recon.models.r2n2.decoder import ResidualDecoder, ShallowDecoder
from recon.models.r2n2.encoder import ResidualEncoder, ShallowEncoder, TorchvisionEncoder
from recon.models.r2n2.recurrent import GRU3d, LSTM3d

__all__ = ["R2N2Net", "release_init"]


def release_init(module: nn.Module) -> None:
    """Initialize the linear and convolution layers under ``module`` as the release does."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.Conv3d)):
            nn.init.xavier_normal_(m.weight, gain=math.sqrt(2.0))
            if m.bias is not None:
                nn.init.constant_(m.bias, 0.1)


class R2N2Net(nn.Module):
    """Views (B, V, 3, S, S) RGB in [0, 1] -> occupancy logits (B, 32, 32, 32)."""

    def __init__(self, config: R2N2Config):
        super().__init__()
        if config.encoder == "r2n2":
            self.encoder = ResidualEncoder(config.feature_dim, config.image_size)
        elif config.encoder == "r2n2_shallow":
            self.encoder = ShallowEncoder(config.feature_dim, config.image_size)
        else:
            self.encoder = TorchvisionEncoder(config.encoder, config.pretrained, config.feature_dim)
        cell = GRU3d if config.recurrent == "gru" else LSTM3d
        self.recurrent = cell(config.feature_dim, config.hidden, config.recurrent_kernel)
        decoder = ResidualDecoder if config.decoder == "residual" else ShallowDecoder
        self.decoder = decoder(config.hidden, tuple(config.decoder_dims))
        torchvision = isinstance(self.encoder, TorchvisionEncoder)
        for part in (self.encoder.fc if torchvision else self.encoder, self.recurrent, self.decoder):
            release_init(part)

    def forward(self, views: Tensor) -> Tensor:
        """Args: views (B, V, 3, S, S) RGB in [0, 1]. Returns: (B, 32, 32, 32) occupancy logits."""
        b, v = views.shape[:2]
        features = self.encoder(views.flatten(0, 1)).view(b, v, -1)
        scores = self.decoder(self.recurrent(features))
        return scores[:, 1] - scores[:, 0]
