"""DISN's networks: the two-stream SDF network and the camera network (see :mod:`recon.models.disn`)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from recon.models.disn.config import DISNCameraConfig, DISNConfig
from recon.models.encoders import Encoder, build_encoder
from recon.models.geometry import (
    project_points,
    rotation_6d_to_matrix,
    sample_feature_maps,
    sample_resized_feature_maps,
)
from recon.models.layers import mlp

__all__ = ["CameraNet", "DISNNet", "image_encoder"]


def image_encoder(name: str, pretrained: str | None, global_dim: int) -> tuple[Encoder, nn.Linear]:
    """DISN's image encoder and its fc8: ``(encoder, fc8)``.

    VGG (the released code's TF-slim ``vgg_16(num_classes=global_dim)``): conv1_1 .. conv5_3, pool5,
    fc6 (7x7 over pool5) and fc7 with ReLU, built by the encoder so that torchvision's weights load
    into them, then fc8, a linear layer fc7 (4096) -> ``global_dim``. A ResNet has no hidden fully
    connected layer: its fc8 maps the average pool of layer4 to ``global_dim``.
    """
    encoder = build_encoder(name, pretrained, fc=name.startswith("vgg"))
    return encoder, nn.Linear(encoder.global_channels, global_dim)


def _head(dims: list[int], batch_norm: bool) -> nn.Sequential:
    """``tf_util.fully_connected`` layers: Linear (+ BatchNorm1d) + ReLU for each hidden width, then a
    Linear without either (the released heads' last layers have ``bn=False``)."""
    layers: list[nn.Module] = []
    for i in range(len(dims) - 2):
        layers.append(nn.Linear(dims[i], dims[i + 1]))
        if batch_norm:
            # tf.contrib.layers.batch_norm's epsilon; its decay 0.9 (tf_util's default, as the camera
            # network is built without bn_decay) is PyTorch's default momentum 0.1.
            layers.append(nn.BatchNorm1d(dims[i + 1], eps=1e-3))
        layers.append(nn.ReLU(inplace=True))
    layers.append(nn.Linear(dims[-2], dims[-1]))
    return nn.Sequential(*layers)


class CameraNet(nn.Module):
    """Image -> world-to-camera ``[R | t]`` (B, 3, 4): the released camera network.

    ``cam_est/model_cam.py`` and ``models/posenet.py`` (``get_cam_mat``): its own VGG-16 to fc8
    (1024) on 224x224 views, then two heads of ``tf_util.fully_connected`` layers with batch norm:
    ``ortho6d`` 1024 -> 512 -> 256 -> 6, Zhou et al.'s 6D rotation
    (:func:`~recon.models.geometry.rotation_6d_to_matrix`), and ``distratio`` 1024 -> 64 -> 32 -> 1,
    a distance ``d = lo + (hi - lo) sigmoid(x)`` along the optical axis, ``t = (0, 0, d)``: the
    camera looks at the world origin. The release's distance is ``(0.6 + 0.4 sigmoid(x)) · 1.75``
    in its render frame, where the camera looks at the origin (the shape's bounding-box centre at
    ShapeNet's scale), and it reaches the normalized frame of the SDF network through the test
    shape's own normalization (``norm_params``, ground truth). recon's cameras are in the world
    (normalized) frame, so ``distance_range`` is in world units. With ``translation: free`` the
    distance head also gives t's x and y.

    The release's distance head ends with ``tf_util.fully_connected``'s default ReLU before the
    sigmoid, which keeps the ratio in [0.8, 1.0] of its [0.6, 1.0]; ``distance_relu`` restores it.
    """

    def __init__(self, config: DISNCameraConfig):
        super().__init__()
        self.config = config
        self.encoder, self.fc8 = image_encoder(config.encoder, config.pretrained, config.global_dim)
        g = config.global_dim
        self.rotation = _head([g, *config.rotation_dims, 6], config.batch_norm)
        n_t = 1 if config.translation == "distance" else 3
        self.distance = _head([g, *config.distance_dims, n_t], config.batch_norm)

    def forward(self, images: Tensor) -> Tensor:
        """(B, 3, S, S) encoder input (:mod:`~recon.models.disn.images`) -> (B, 3, 4) ``[R | t]``."""
        feat = self.fc8(self.encoder.global_features(images))
        R = rotation_6d_to_matrix(self.rotation(feat))
        out = self.distance(feat)
        x = out[:, -1]
        if self.config.distance_relu:
            x = torch.relu(x)
        lo, hi = self.config.distance_range
        d = lo + (hi - lo) * torch.sigmoid(x)
        xy = out[:, :2] if self.config.translation == "free" else out.new_zeros(out.shape[0], 2)
        t = torch.cat([xy, d[:, None]], dim=1)
        return torch.cat([R, t[:, :, None]], dim=2)


class DISNNet(nn.Module):
    """The SDF network: image and camera + query points -> SDF (scaled by 10, shifted by the iso level).

    Two streams, each with its own point MLP (``models/sdfnet.py``: ``get_sdf_basic2`` under the
    scope ``sdfprediction`` and ``get_sdf_basic2_imgfeat_twostream`` under ``sdfprediction_imgfeat``):
    the global stream decodes ``[point MLP, fc8]``, the local stream ``[point MLP, local features]``;
    the prediction is their sum.
    """

    def __init__(self, config: DISNConfig):
        super().__init__()
        self.config = config
        self.encoder, self.fc8 = image_encoder(config.encoder, config.pretrained, config.global_dim)
        p = config.point_dims[-1]
        self.global_point_mlp = mlp([3, *config.point_dims], last_activation=True)
        self.global_decoder = mlp([p + config.global_dim, *config.decoder_dims, 1], last_activation=False)
        if config.local:
            self.local_point_mlp = mlp([3, *config.point_dims], last_activation=True)
            self.local_decoder = mlp(
                [p + sum(self.encoder.channels), *config.decoder_dims, 1], last_activation=False
            )
        self.camera_net = (
            CameraNet(
                DISNCameraConfig(
                    encoder=config.encoder,
                    pretrained=config.pretrained,
                    image_size=config.image_size,
                    input=config.input,
                    background=config.background,
                    global_dim=config.global_dim,
                )
            )
            if config.camera == "joint"
            else None
        )

    def image_features(self, images: Tensor) -> tuple[Tensor, list[Tensor]]:
        """(B, 3, S, S) encoder input -> (B, global_dim) global features (fc8) and the feature maps."""
        maps = self.encoder(images)
        return self.fc8(self.encoder.global_vector(maps)), maps

    def local_features(self, maps: list[Tensor], uv: Tensor, size: tuple[int, int]) -> Tensor:
        """(B, N, ΣC) features of the maps at pixels ``uv`` (B, N, 2) of the (H, W) = ``size`` views."""
        if self.config.sampling == "native":
            return sample_feature_maps(maps, uv, *size)
        return sample_resized_feature_maps(maps, uv, *size, half_pixel=self.config.sampling == "aligned")

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
        n = points.shape[1]
        sdf = self.global_decoder(
            torch.cat([self.global_point_mlp(points), global_feat[:, None].expand(-1, n, -1)], -1)
        )[..., 0]
        if self.config.local:
            uv, _ = project_points(points, K, Rt)
            local = self.local_features(maps, uv, size)
            sdf = sdf + self.local_decoder(torch.cat([self.local_point_mlp(points), local], -1))[..., 0]
        return sdf

    def forward(self, images: Tensor, points: Tensor, K: Tensor, Rt: Tensor, size: tuple[int, int]) -> Tensor:
        """Predict the scaled SDF.

        Args:
            images: (B, 3, S, S) encoder input (:func:`~recon.models.disn.images.encoder_input`).
            points: (B, N, 3) world query points.
            K: (B, 3, 3) intrinsics in pixels of the rendered (H, W) views.
            Rt: (B, 3, 4) world-to-camera extrinsics (true or estimated).
            size: (H, W) of the rendered views.

        Returns:
            (B, N) predictions of ``10 (sdf - 0.003)``.
        """
        return self.decode(self.image_features(images), points, K, Rt, size)
