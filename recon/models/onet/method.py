"""Occupancy Networks (single image) as a registered method: its loss, validation IoU and MISE meshes."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from recon.io.loader import to_float_image
from recon.models.inputs import prepare_images
from recon.models.method import Method, PredictContext, register, unwrap_model
from recon.models.onet.config import OnetConfig
from recon.models.onet.extract import mise_box, mise_mesh
from recon.models.onet.loss import occupancy_iou, occupancy_loss
from recon.models.onet.networks import OccupancyNetwork

__all__ = ["ONet", "decode_points"]


def decode_points(net: OccupancyNetwork, code: Tensor, points: np.ndarray, batch_points: int) -> np.ndarray:
    """Logits of one item's code at many points, in chunks: (c_dim,) code, (P, 3) points -> (P,) float64.

    As ``Generator3D.eval_points`` (``im2mesh/onet/generation.py:137-157``): the network in eval mode,
    ``batch_points`` points per decoder call.
    """
    out = np.empty(len(points), np.float64)
    with torch.no_grad():
        for start in range(0, len(points), batch_points):
            chunk = torch.as_tensor(points[start : start + batch_points], dtype=torch.float32)
            chunk = chunk.to(code.device)
            out[start : start + len(chunk)] = net.decoder(chunk[None], code[None])[0].double().cpu().numpy()
    return out


@register
class ONet(Method):
    """Occupancy Networks from one image (see :mod:`recon.models.onet`)."""

    name = "onet"
    Config = OnetConfig
    #: The release selects ``model_best.pt`` on the validation IoU, higher is better (configs/img/onet.yaml).
    selection: ClassVar[tuple[str, str]] = ("iou", "max")
    small_config: ClassVar[dict[str, Any]] = {"image_size": 64, "c_dim": 64, "hidden": 64}

    def targets(self, config):
        return {"targets": ("image", "occupancy"), "n_points": config.n_points}

    def build(self, config):
        return OccupancyNetwork(config.encoder, config.pretrained, config.c_dim, config.hidden, config.blocks)

    def loss(self, model, batch, config):
        """BCE summed over the points, mean over the batch; ``iou`` at ``threshold`` (selection scalar)."""
        logits = model(prepare_images(batch["image"], config.image_size), batch["occ_points"])
        loss = occupancy_loss(logits, batch["occ"])
        iou = occupancy_iou(logits.detach(), batch["occ"], config.threshold)
        return loss, {"bce": float(loss.detach()), "iou": float(iou)}

    def images(self, model, batch, config):
        return {"input": to_float_image(batch["image"][:8])}

    def predict_mesh(self, model, batch, config, context: PredictContext):
        """MISE meshes of each item's logits over the voxels' cube grown by ``padding`` (:mod:`.extract`)."""
        net = unwrap_model(model)
        with torch.no_grad():
            codes = net.encoder(prepare_images(batch["image"], config.image_size))
        half = mise_box(context.voxel_half_extent, config.padding)
        meshes = []
        for code in codes:
            vertices, faces, _ = mise_mesh(
                lambda p, code=code: decode_points(net, code, p, config.batch_points),
                half,
                config.threshold,
                config.resolution_0,
                config.upsampling_steps,
                config.batch_points,
            )
            meshes.append((vertices, faces))
        return meshes

    @torch.no_grad()
    def predict_voxels(self, model, batch, config, context: PredictContext | None = None) -> Tensor:
        """(B, n, n, n) occupancy probabilities at the centres of the n³ voxels of ``[-h, h]³``
        (n = ``voxel_resolution``, h the context's ``voxel_half_extent``)."""
        net = unwrap_model(model)
        half = (context or PredictContext()).voxel_half_extent
        n = config.voxel_resolution
        axis = -half + (np.arange(n) + 0.5) * (2.0 * half / n)
        centres = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(-1, 3)
        codes = net.encoder(prepare_images(batch["image"], config.image_size))
        logits = [decode_points(net, code, centres, config.batch_points) for code in codes]
        return torch.sigmoid(torch.from_numpy(np.stack(logits)).float()).view(-1, n, n, n)
