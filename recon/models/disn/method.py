"""DISN as a registered method: its targets, training loss, TensorBoard images and predictions."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from recon.io.loader import to_float_image
from recon.models.disn.config import DISNConfig
from recon.models.disn.loss import SDF_SCALE, camera_loss, disn_loss
from recon.models.disn.network import DISNNet
from recon.models.inputs import prepare_images
from recon.models.method import Method, PredictContext, register, unwrap_model

__all__ = ["DISN"]


@register
class DISN(Method):
    """DISN as a registered method (see :mod:`recon.models.disn`)."""

    name = "disn"
    Config = DISNConfig
    find_unused_parameters = False
    small_config: ClassVar[dict[str, Any]] = {
        "encoder": "resnet18",
        "image_size": 64,
        "n_points": 512,
        "global_dim": 128,
        "point_dims": [32, 64, 128],
        "decoder_dims": [128, 64],
        "grid_resolution": 33,
        "samples": "gaussian",  # its 6 % uniform points keep the far field positive early on
    }

    def targets(self, config):
        return {
            "targets": ("image", "camera", "sdf"),
            "n_points": config.n_points,
            "samples": config.samples,
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

    def predict_mesh(self, model, batch, config, context: PredictContext):
        """The zero level set of :meth:`predict_sdf` on the config's grid (the context is not needed)."""
        from recon.geometry.extract import field_mesh
        from recon.geometry.grid import GridSpec

        grids = self.predict_sdf(model, batch, config).float().cpu().numpy()
        grid = GridSpec.cube(config.grid_half_extent, config.grid_resolution)
        return [field_mesh(np.asarray(g, np.float64), grid, 0.0, inside="below") for g in grids]
