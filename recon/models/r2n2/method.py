"""3D-R2N2 as a registered method: its dataset, training loss, TensorBoard images and predictions."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor

from recon.io.loader import to_float_image
from recon.models.inputs import prepare_images
from recon.models.method import Method, PredictContext, register, unwrap_model
from recon.models.r2n2.config import R2N2Config
from recon.models.r2n2.loss import voxel_iou, voxel_loss
from recon.models.r2n2.network import R2N2Net
from recon.models.r2n2.views import MultiViewDataset

__all__ = ["R2N2"]


def _views(batch: dict, config: R2N2Config) -> Tensor:
    """(B, V, 3, S, S) encoder input of the batch's (B, H, W, 4) or (B, V, H, W, 4) views."""
    image = batch["image"]
    if image.dim() == 4:  # (B, H, W, 4): one view per item
        image = image[:, None]
    b, v = image.shape[:2]
    x = prepare_images(image.flatten(0, 1), config.image_size)
    return x.view(b, v, *x.shape[1:])


@register
class R2N2(Method):
    """3D-R2N2 as a registered method (see :mod:`recon.models.r2n2`)."""

    name = "r2n2"
    Config = R2N2Config
    small_config: ClassVar[dict[str, Any]] = {
        "encoder": "resnet18",
        "image_size": 64,
        "feature_dim": 256,
        "hidden": 32,
        "decoder_dims": [32, 16, 8],
    }

    def targets(self, config):
        return {"targets": ("image", "voxels"), "voxel_resolution": config.resolution}

    def dataset(self, store, config, seed: int, train: bool = True):
        """A multi-view dataset when ``views_per_item > 1``; the plain packed dataset otherwise."""
        single = super().dataset(store, config, seed, train)
        if config.views_per_item == 1:
            return single
        return MultiViewDataset(single, config.views_per_item, seed, shuffle_views=train)

    def build(self, config):
        return R2N2Net(config)

    def loss(self, model, batch, config):
        logits = model(_views(batch, config))
        loss = voxel_loss(logits, batch["voxels"])
        iou = voxel_iou(logits, batch["voxels"], config.threshold)
        return loss, {"bce": float(loss.detach()), "iou": float(iou)}

    def images(self, model, batch, config):
        views = batch["image"][:8] if batch["image"].dim() == 4 else batch["image"][:8, 0]
        return {"input": to_float_image(views)}

    @torch.no_grad()
    def predict_voxels(self, model, batch, config) -> Tensor:
        """(B, 32, 32, 32) occupancy probabilities."""
        return torch.sigmoid(unwrap_model(model)(_views(batch, config)))

    def predict_mesh(self, model, batch, config, context: PredictContext):
        """The ``threshold`` iso-surface of :meth:`predict_voxels`, over the packed voxels' cube."""
        from recon.geometry.extract import occupancy_mesh

        probabilities = self.predict_voxels(model, batch, config).float().cpu().numpy()
        half = context.voxel_half_extent
        return [occupancy_mesh(p, half, config.threshold) for p in probabilities]
