"""DISN's networks: the two-stream SDF network and the camera network (see :mod:`recon.models.disn`)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from recon.models.disn.config import DISNConfig
from recon.models.encoders import build_encoder
from recon.models.geometry import project_points, rotation_6d_to_matrix, sample_feature_maps
from recon.models.layers import mlp

__all__ = ["CameraNet", "DISNNet"]


class CameraNet(nn.Module):
    """Image -> world-to-camera ``[R | t]`` (B, 3, 4), R from the 6D representation."""

    def __init__(self, encoder: str = "vgg16", pretrained: str | None = None):
        super().__init__()
        self.encoder = build_encoder(encoder, pretrained)
        self.head = mlp([self.encoder.channels[-1], 512, 256, 9], last_activation=False)
        # Start near the identity rotation and a camera 2 units in front: a sane first guess.
        with torch.no_grad():
            self.head[-1].bias.copy_(torch.tensor([1.0, 0, 0, 0, 1.0, 0, 0, 0, 2.0]))

    def forward(self, images: Tensor) -> Tensor:
        """(B, 3, H, W) normalized images -> (B, 3, 4) ``[R | t]``."""
        out = self.head(self.encoder.global_features(images))
        R = rotation_6d_to_matrix(out[:, :6])
        return torch.cat([R, out[:, 6:, None]], dim=2)


class DISNNet(nn.Module):
    """The SDF network: image and camera + query points -> SDF (scaled by 10, shifted by the iso level)."""

    def __init__(self, config: DISNConfig):
        super().__init__()
        self.config = config
        self.encoder = build_encoder(config.encoder, config.pretrained)
        self.global_embed = mlp([self.encoder.channels[-1], config.global_dim], last_activation=True)
        self.point_mlp = mlp([3, *config.point_dims], last_activation=True)
        p = config.point_dims[-1]
        self.global_decoder = mlp([p + config.global_dim, *config.decoder_dims, 1], last_activation=False)
        if config.local:
            self.local_decoder = mlp(
                [p + sum(self.encoder.channels), *config.decoder_dims, 1], last_activation=False
            )
        self.camera_net = (
            CameraNet(config.encoder, config.pretrained) if config.camera_loss_weight > 0 else None
        )

    def image_features(self, images: Tensor) -> tuple[Tensor, list[Tensor]]:
        """(B, 3, H, W) normalized images -> (B, global_dim) global features and the feature maps."""
        maps = self.encoder(images)
        return self.global_embed(maps[-1].mean((2, 3))), maps

    def decode(
        self,
        features: tuple[Tensor, list[Tensor]],
        points: Tensor,
        K: Tensor,
        Rt: Tensor,
        size: tuple[int, int],
    ) -> Tensor:
        """SDF predictions (B, N) at world points (B, N, 3) from precomputed image features.

        ``size`` is (H, W) of the image ``K`` refers to (the rendered view, whatever size the
        encoder saw it at).
        """
        global_feat, maps = features
        point_feat = self.point_mlp(points)
        n = points.shape[1]
        sdf = self.global_decoder(torch.cat([point_feat, global_feat[:, None].expand(-1, n, -1)], -1))[..., 0]
        if self.config.local:
            uv, _ = project_points(points, K, Rt)
            local = sample_feature_maps(maps, uv, *size)
            sdf = sdf + self.local_decoder(torch.cat([point_feat, local], -1))[..., 0]
        return sdf

    def forward(self, images: Tensor, points: Tensor, K: Tensor, Rt: Tensor, size: tuple[int, int]) -> Tensor:
        """Predict the scaled SDF.

        Args:
            images: (B, 3, h, w) ImageNet-normalized images.
            points: (B, N, 3) world query points.
            K: (B, 3, 3) intrinsics in pixels of the rendered (H, W) views.
            Rt: (B, 3, 4) world-to-camera extrinsics (true or estimated).
            size: (H, W) of the rendered views.

        Returns:
            (B, N) predictions of ``10 (sdf - 0.003)``.
        """
        return self.decode(self.image_features(images), points, K, Rt, size)
