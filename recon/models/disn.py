"""DISN: Deep Implicit Surface Network (Wang et al., NeurIPS 2019; Xharlie/DISN).

An image encoder (VGG-16) gives a global feature vector and feature maps. Every query point is
encoded by a point MLP and projected into the image with the view's camera ``K [R|t]``; bilinear
samples of every feature map at that pixel are its *local features*. Two decoders, one on
``[point, global]`` and one on ``[point, local]`` features, each predict an SDF value; the
prediction is their sum (DISN's two-stream model, ``models/model_normalization.py``).

Units follow the released code: the network predicts ``10 · (sdf - 0.003)`` (``SDF_WEIGHT = 10``;
the ground truth is shifted by the iso level of DISN's ground-truth mesh), trained with the weighted
L1 loss ``mean(w · |pred - 10 (sdf - 0.003)|)``, ``w = m1 = 4`` where ``sdf - 0.003 <= 0.01`` (the
interior and the near band) and ``m2 = 1`` elsewhere, on 2,048 points per image. Meshes are the
zero level set of the prediction on a grid (``--sdf_res 64``: 65³ nodes), by marching cubes.

Camera estimation (DISN §3.2, ``cam_est``): a second network regresses the rotation in Zhou et
al.'s continuous 6D representation and the translation from the image, trained with the
point-cloud transform loss ``mean ||(R̂ p + t̂) - (R p + t)||²`` over the shape's sample points. The
SDF network then runs with the true camera (``camera: true``) or the estimated one
(``camera: estimated``); both are trained together when ``camera_loss_weight > 0``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from recon.io.loader import to_float_image
from recon.models.encoders import build_encoder
from recon.models.geometry import project_points, rotation_6d_to_matrix, sample_feature_maps, transform_points
from recon.models.inputs import prepare_images
from recon.train.method import Method, register, unwrap_model

__all__ = ["DISN", "CameraNet", "DISNConfig", "DISNNet", "disn_loss"]

#: DISN's SDF scale (``SDF_WEIGHT``) and the iso level its ground truth is shifted by.
SDF_SCALE = 10.0
ISO = 0.003


@dataclass(frozen=True)
class DISNConfig:
    """Hyper-parameters of DISN (defaults: the released code's)."""

    encoder: str = field(default="vgg16", metadata={"help": "image encoder: vgg16, vgg16_bn, resnet18, ..."})
    pretrained: str | None = field(default=None, metadata={"help": "torchvision-format weights file"})
    global_dim: int = field(default=1024, metadata={"help": "size of the global image embedding"})
    point_dims: tuple[int, ...] = field(default=(64, 256, 512), metadata={"help": "point MLP widths"})
    decoder_dims: tuple[int, ...] = field(
        default=(512, 256), metadata={"help": "hidden widths of both decoders"}
    )
    local: bool = field(default=True, metadata={"help": "use the local (projected) features stream"})
    n_points: int = field(default=2048, metadata={"help": "SDF samples per image"})
    sdf_preset: str = field(default="disn", metadata={"help": "packed SDF samples: disn or gaussian"})
    m1: float = field(default=4.0, metadata={"help": "loss weight near/inside the surface"})
    m2: float = field(default=1.0, metadata={"help": "loss weight elsewhere"})
    near: float = field(default=0.01, metadata={"help": "sdf - iso at or below which m1 applies"})
    camera: str = field(default="true", metadata={"help": "camera for the local features: true or estimated"})
    camera_loss_weight: float = field(
        default=0.0, metadata={"help": "weight of the camera network's loss (0: no camera network)"}
    )
    grid_resolution: int = field(default=65, metadata={"help": "nodes per axis of the prediction grid"})
    grid_half_extent: float = field(default=1.1, metadata={"help": "the grid covers [-h, h]^3"})
    image_size: int | None = field(default=None, metadata={"help": "resize views to this size (None: keep)"})


def _mlp(dims: list[int], last_activation: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(len(dims) - 1):
        layers.append(nn.Linear(dims[i], dims[i + 1]))
        if i < len(dims) - 2 or last_activation:
            layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class CameraNet(nn.Module):
    """Image -> world-to-camera ``[R | t]`` (B, 3, 4), R from the 6D representation."""

    def __init__(self, encoder: str = "vgg16", pretrained: str | None = None):
        super().__init__()
        self.encoder = build_encoder(encoder, pretrained)
        self.head = _mlp([self.encoder.channels[-1], 512, 256, 9], last_activation=False)
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
        self.global_embed = _mlp([self.encoder.channels[-1], config.global_dim], last_activation=True)
        self.point_mlp = _mlp([3, *config.point_dims], last_activation=True)
        p = config.point_dims[-1]
        self.global_decoder = _mlp([p + config.global_dim, *config.decoder_dims, 1], last_activation=False)
        if config.local:
            self.local_decoder = _mlp(
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


def disn_loss(pred: Tensor, sdf: Tensor, config: DISNConfig) -> Tensor:
    """DISN's weighted L1 ``mean(w |pred - 10 (sdf - 0.003)|)``; w = m1 if ``sdf - 0.003 <= near`` else m2."""
    target = sdf - ISO
    weight = torch.where(target <= config.near, config.m1, config.m2)
    return (weight * (pred - SDF_SCALE * target).abs()).mean()


def camera_loss(Rt_pred: Tensor, Rt_true: Tensor, points: Tensor) -> Tensor:
    """Point-cloud transform loss: ``mean ||(R̂ p + t̂) - (R p + t)||²`` over points (B, N, 3)."""
    return (transform_points(points, Rt_pred) - transform_points(points, Rt_true)).pow(2).sum(-1).mean()


@register
class DISN(Method):
    """DISN as a registered method (see the module docstring)."""

    name = "disn"
    Config = DISNConfig
    find_unused_parameters = False

    def targets(self, config):
        return {
            "targets": ("image", "camera", "sdf"),
            "n_points": config.n_points,
            "sdf_preset": config.sdf_preset,
        }

    def build(self, config):
        if config.camera not in ("true", "estimated"):
            raise ValueError(f"disn: camera must be 'true' or 'estimated', got {config.camera!r}")
        if config.camera == "estimated" and config.camera_loss_weight <= 0:
            raise ValueError("disn: camera 'estimated' needs the camera network (camera_loss_weight > 0)")
        return DISNNet(config)

    def _camera(self, net: DISNNet, images: Tensor, batch: dict, config) -> tuple[Tensor | None, Tensor]:
        estimated = net.camera_net(images) if net.camera_net is not None else None
        use = estimated.detach() if (config.camera == "estimated" and estimated is not None) else batch["Rt"]
        return estimated, use

    def loss(self, model, batch, config):
        net = unwrap_model(model)
        images = prepare_images(batch["image"], config.image_size)
        estimated, Rt = self._camera(net, images, batch, config)
        pred = model(images, batch["sdf_points"], batch["K"], Rt, tuple(batch["image"].shape[1:3]))
        sdf_loss = disn_loss(pred, batch["sdf"], config)
        logs = {"sdf_l1": float(sdf_loss.detach())}
        loss = sdf_loss
        if estimated is not None:
            cam = camera_loss(estimated, batch["Rt"], batch["sdf_points"])
            loss = loss + config.camera_loss_weight * cam
            logs["camera"] = float(cam.detach())
        return loss, logs

    def images(self, model, batch, config):
        return {"input": to_float_image(batch["image"][:8])}

    @torch.no_grad()
    def predict_sdf(self, model, batch, config, chunk: int = 32768) -> Tensor:
        """(B, R, R, R) predicted SDF (world units, iso-corrected) on the prediction grid."""
        net = unwrap_model(model)
        images = prepare_images(batch["image"], config.image_size)
        size = tuple(batch["image"].shape[1:3])
        _, Rt = self._camera(net, images, batch, config)
        features = net.image_features(images)
        r, h = config.grid_resolution, config.grid_half_extent
        axis = torch.linspace(-h, h, r, device=images.device)
        nodes = torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(1, -1, 3)
        nodes = nodes.expand(images.shape[0], -1, -1)
        out = [
            net.decode(features, nodes[:, i : i + chunk], batch["K"], Rt, size)
            for i in range(0, nodes.shape[1], chunk)
        ]
        return (torch.cat(out, 1) / SDF_SCALE).reshape(-1, r, r, r)

    def predict_mesh(self, model, batch, config):
        from recon.geometry.extract import Box, field_mesh

        grids = self.predict_sdf(model, batch, config).float().cpu().numpy()
        box = Box(config.grid_half_extent, config.grid_resolution)
        return [field_mesh(np.asarray(g, np.float64), box, 0.0, inside="below") for g in grids]
