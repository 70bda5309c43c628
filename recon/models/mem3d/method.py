"""Mem3D as a registered method: its training loss (with the memory's writes), images and predictions."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor

from recon.models.inputs import prepare_images
from recon.models.mem3d.config import Mem3DConfig
from recon.models.mem3d.loss import voxel_triplet_loss
from recon.models.mem3d.memory import gather_rows, voxel_similarity
from recon.models.mem3d.networks import Mem3DNet
from recon.models.method import Method, PredictContext, register, unwrap_model
from recon.models.r2n2.loss import voxel_iou, voxel_loss

__all__ = ["Mem3D"]


@register
class Mem3D(Method):
    """Mem3D as a registered method (see :mod:`recon.models.mem3d`)."""

    name = "mem3d"
    Config = Mem3DConfig
    #: best.pt at the highest validation IoU (at ``threshold``), the checkpoint Pix2Vox keeps.
    selection = ("iou", "max")
    small_config: ClassVar[dict[str, Any]] = {
        "encoder": "resnet18",
        "image_size": 64,
        "head_dims": [32, 32, 32],
        "feature_dim": 64,
        "memory_size": 64,
        "lstm_hidden": 32,
        "decoder_dims": [32, 32, 16, 8],
    }

    def targets(self, config):
        return {"targets": ("image", "voxels"), "voxel_resolution": config.resolution}

    def build(self, config):
        return Mem3DNet(config)

    def loss(self, model, batch, config):
        """BCE of the voxels + ``triplet_weight`` x the voxel triplet loss; then, in training mode only,
        the batch (gathered from every process under DDP) is written into the memory.

        Scalars: ``bce``, ``triplet``, ``iou`` (at ``threshold``), and in training ``updated`` (the
        fraction of written items that updated their nearest slot) and ``filled`` (slots in use).
        """
        net = unwrap_model(model)
        logits, features = model(prepare_images(batch["image"], config.image_size))
        voxels = batch["voxels"]
        bce = voxel_loss(logits, voxels)
        scalars = {"bce": float(bce.detach()), "iou": float(voxel_iou(logits, voxels, config.threshold))}
        loss = bce
        memory = net.memory
        if memory is not None:
            similarity = memory.similarity(features)
            triplet, _ = voxel_triplet_loss(
                similarity, voxel_similarity(voxels, memory.values), config.beta, config.margin
            )
            loss = bce + config.triplet_weight * triplet
            scalars["triplet"] = float(triplet.detach())
            if net.training:
                with torch.no_grad():
                    written, all_voxels = gather_rows(features.detach(), voxels)
                    _, updated = memory.write(written, all_voxels, config.delta)
                scalars["updated"] = float(updated.float().mean())
                scalars["filled"] = float(memory.filled.sum())
        return loss, scalars

    def images(self, model, batch, config):
        from recon.io.loader import to_float_image

        return {"input": to_float_image(batch["image"][:8])}

    @torch.no_grad()
    def predict_voxels(self, model, batch, config, context: PredictContext | None = None) -> Tensor:
        """(B, 32, 32, 32) occupancy probabilities, reading the frozen memory (the model is in eval mode)."""
        logits, _ = unwrap_model(model)(prepare_images(batch["image"], config.image_size))
        return torch.sigmoid(logits)

    def predict_mesh(self, model, batch, config, context: PredictContext):
        """The ``threshold`` iso-surface of :meth:`predict_voxels`, over the packed voxels' cube."""
        from recon.geometry.extract import occupancy_mesh

        probabilities = self.predict_voxels(model, batch, config).float().cpu().numpy()
        half = context.voxel_half_extent
        return [occupancy_mesh(p, half, config.threshold) for p in probabilities]
