"""PointSetGen as a registered method: its loss, its point clouds and the meshes made from them."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from recon.geometry.extract import occupancy_mesh
from recon.geometry.voxels import VoxelSpec, filled_point_voxels
from recon.io.loader import to_float_image
from recon.models.method import Method, PredictContext, register, unwrap_model
from recon.models.psgn.config import PsgnConfig
from recon.models.psgn.images import network_input
from recon.models.psgn.loss import l2_regularizer, psgn_chamfer, psgn_emd
from recon.models.psgn.networks import HourglassGenerator, ResnetGenerator

__all__ = ["PointSetGen"]


@register
class PointSetGen(Method):
    """The Point Set Generation Network from one image (see :mod:`recon.models.psgn`)."""

    name = "psgn"
    Config = PsgnConfig
    small_config: ClassVar[dict[str, Any]] = {
        "image_size": [48, 64],
        "width": 4,
        "fc_hidden": [256, 128],
        "n_points": 1024,
        "n_target_points": 2048,
        "init": "he",
    }

    def targets(self, config):
        return {"targets": ("image", "surface"), "n_points": config.n_target_points}

    def build(self, config):
        if config.encoder == "hourglass":
            return HourglassGenerator(
                config.image_size, config.n_points, config.width, config.fc_hidden, config.init
            )
        return ResnetGenerator(config.pretrained, config.c_dim, config.hidden, config.n_points)

    def loss(self, model, batch, config):
        """The release's Chamfer (and/or the EMD) plus ``regularizer`` x its L2 term; logs each term."""
        pred = model(network_input(batch["image"], config)).float()  # (B, N, 3)
        gt = batch["surface_points"].float()
        scalars: dict[str, float] = {}
        loss = pred.new_zeros(())
        if "chamfer" in config.loss:
            chamfer, fwd, bwd = psgn_chamfer(pred, gt, config.chamfer_weights)
            loss = loss + chamfer
            scalars |= {
                "chamfer": float(chamfer.detach()),
                "gt_to_pred": float(fwd.detach()),
                "pred_to_gt": float(bwd.detach()),
            }
        if "emd" in config.loss:
            emd = psgn_emd(pred, gt[:, : pred.shape[1]])
            loss = loss + config.emd_weight * emd
            scalars["emd"] = float(emd.detach())
        if config.regularizer > 0:
            regularizer = l2_regularizer(unwrap_model(model))
            loss = loss + config.regularizer * regularizer
            scalars["regularizer"] = float(regularizer.detach())
        return loss, scalars

    def images(self, model, batch, config):
        return {"input": to_float_image(batch["image"][:8])}

    @torch.no_grad()
    def predict_points(self, model, batch, config, context: PredictContext | None = None) -> list[np.ndarray]:
        """One (n_points, 3) float32 cloud per item, in the packed store's normalized object frame (the
        frame of the surface points it trained on)."""
        net = unwrap_model(model)
        points = net(network_input(batch["image"], config)).float().cpu().numpy()
        return list(points)

    def _voxels(self, clouds: list[np.ndarray], config, context: PredictContext | None) -> np.ndarray:
        spec = VoxelSpec(config.voxel_resolution, (context or PredictContext()).voxel_half_extent)
        return np.stack([filled_point_voxels(p, spec, config.dilation) for p in clouds])

    @torch.no_grad()
    def predict_voxels(self, model, batch, config, context: PredictContext | None = None) -> Tensor:
        """(B, n, n, n) float 0/1 occupancy: each cloud's filled voxels over the context's cube ``[-h, h]³``
        (:func:`recon.geometry.voxels.filled_point_voxels` with ``dilation``, n = ``voxel_resolution``)."""
        voxels = self._voxels(self.predict_points(model, batch, config, context), config, context)
        return torch.from_numpy(voxels).float()

    def predict_mesh(self, model, batch, config, context: PredictContext):
        """Per item the marching-cubes mesh (level 0.5) of :meth:`predict_voxels`, or an empty mesh with
        ``mesh: none`` (the cloud alone, :meth:`predict_points`)."""
        clouds = self.predict_points(model, batch, config, context)
        if config.mesh == "none":
            return [(np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int32)) for _ in clouds]
        half = (context or PredictContext()).voxel_half_extent
        return [
            occupancy_mesh(v.astype(np.float64), half, 0.5) for v in self._voxels(clouds, config, context)
        ]
