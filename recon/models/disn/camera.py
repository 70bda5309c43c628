"""DISN's camera network as a registered method, ``disn_camera``, trained on its own.

The released code trains it separately (``cam_est/train_sdf_cam.py``) and the SDF network then
predicts with its cameras (``test/create_sdf.py --cam_est``). Here a ``disn`` experiment names a
trained ``disn_camera`` experiment as its ``camera_experiment`` (:meth:`DISN.upstream`); this
method has no meshes of its own to predict.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from recon.io.loader import to_float_image
from recon.models.disn.config import DISNCameraConfig
from recon.models.disn.loss import camera_loss
from recon.models.disn.method import camera_images
from recon.models.disn.network import CameraNet
from recon.models.geometry import transform_points
from recon.models.method import Method, register, unwrap_model

__all__ = ["DISNCamera"]


@register
class DISNCamera(Method):
    """The released camera network and its point-cloud transform loss (see :class:`CameraNet`).

    It predicts cameras, not meshes (no :meth:`predict_mesh`): a ``disn`` experiment names it as its
    ``camera_experiment`` and predicts with it.
    """

    name = "disn_camera"
    Config = DISNCameraConfig
    find_unused_parameters = False
    small_config: ClassVar[dict[str, Any]] = {
        "encoder": "resnet18",
        "image_size": 64,
        "global_dim": 128,
        "rotation_dims": [64, 32],
        "distance_dims": [32, 16],
        "n_points": 256,
        "samples": "gaussian",
    }

    def targets(self, config):
        return {"targets": ("image", "camera", "sdf"), "n_points": config.n_points, "samples": config.samples}

    def build(self, config):
        return CameraNet(config)

    def loss(self, model, batch, config):
        Rt = model(camera_images(batch["image"], unwrap_model(model)))
        loss = camera_loss(Rt, batch["Rt"], batch["sdf_points"])
        with torch.no_grad():
            points = batch["sdf_points"]
            distance = (transform_points(points, Rt) - transform_points(points, batch["Rt"])).norm(dim=-1)
            cos = ((Rt[:, :, :3] * batch["Rt"][:, :, :3]).sum((1, 2)) - 1) / 2  # trace(R̂ Rᵀ)
            angle = torch.rad2deg(torch.acos(cos.clamp(-1.0, 1.0)))
        return loss, {"point_distance": float(distance.mean()), "rotation_deg": float(angle.mean())}

    def images(self, model, batch, config):
        return {"input": to_float_image(batch["image"][:8])}
