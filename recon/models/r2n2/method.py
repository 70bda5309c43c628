"""3D-R2N2 as a registered method: its datasets, training loss, TensorBoard images and predictions."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor

from recon.models.method import Method, PredictContext, register, unwrap_model
from recon.models.r2n2.augment import prepare_views
from recon.models.r2n2.config import R2N2Config
from recon.models.r2n2.loss import voxel_iou, voxel_loss
from recon.models.r2n2.network import R2N2Net
from recon.models.r2n2.views import MultiViewDataset, PredictionViews

__all__ = ["R2N2"]

#: The per-view augmentation keys of a training batch (:func:`~recon.models.r2n2.augment.draw_augmentation`).
AUGMENTATION = ("crop", "flip", "background")


def _views(batch: dict, config: R2N2Config, count: int | None = None) -> Tensor:
    """(B, T, 3, S, S) encoder input of the batch's (B, H, W, 4) or (B, T, H, W, 4) RGBA views.

    The first ``count`` views (all when None), prepared with the augmentation the batch carries
    (training) or the test-time preparation (:func:`~recon.models.r2n2.augment.prepare_views`).
    """
    image = batch["image"]
    if image.dim() == 4:  # (B, H, W, 4): one view per item
        image = image[:, None]
    image = image[:, :count]
    b, t = image.shape[:2]
    augmentation = {k: batch[k][:, :t].flatten(0, 1) for k in AUGMENTATION if k in batch}
    x = prepare_views(image.flatten(0, 1), config.crop_margin, config.image_size, **augmentation)
    return x.view(b, t, *x.shape[1:])


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
        "decoder_dims": [32, 32, 16, 8],
    }

    def targets(self, config):
        return {"targets": ("image", "voxels"), "voxel_resolution": config.resolution}

    def dataset(self, store, config, seed: int, train: bool = True):
        """Items of ``views_per_item`` views (:class:`~recon.models.r2n2.views.MultiViewDataset`)."""
        return MultiViewDataset(
            store,
            self.targets(config),
            seed,
            config.views_per_item,
            config.random_view_count,
            train=train,
            crop_margin=config.crop_margin,
        )

    def predict_dataset(self, store, config, seed: int, views: list[int]):
        """Items of ``predict_views`` views from each of ``views`` (:class:`~.views.PredictionViews`)."""
        return PredictionViews(store, self.targets(config), seed, views, config.predict_views)

    def predict_variants(self, config):
        """``<k>views`` for each k of ``test_views``: the trained model fed k views per shape."""
        return {f"{k}views": {"predict_views": int(k)} for k in config.test_views}

    def build(self, config):
        return R2N2Net(config)

    def loss(self, model, batch, config):
        """Voxel cross-entropy from the first ``n_views`` views of the batch's first item (all without it)."""
        count = int(batch["n_views"][0]) if "n_views" in batch else None
        logits = model(_views(batch, config, count))
        loss = voxel_loss(logits, batch["voxels"])
        iou = voxel_iou(logits, batch["voxels"], config.threshold)
        return loss, {"bce": float(loss.detach()), "iou": float(iou)}

    def images(self, model, batch, config):
        return {"input": _views(batch, config, 1)[:8, 0]}

    @torch.no_grad()
    def predict_voxels(self, model, batch, config, context: PredictContext | None = None) -> Tensor:
        """(B, 32, 32, 32) occupancy probabilities from all the views of each item, test-time prepared."""
        return torch.sigmoid(unwrap_model(model)(_views(batch, config)))

    def predict_mesh(self, model, batch, config, context: PredictContext):
        """The ``threshold`` iso-surface of :meth:`predict_voxels`, over the packed voxels' cube."""
        from recon.geometry.extract import occupancy_mesh

        probabilities = self.predict_voxels(model, batch, config).float().cpu().numpy()
        half = context.voxel_half_extent
        return [occupancy_mesh(p, half, config.threshold) for p in probabilities]
