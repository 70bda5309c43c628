"""OGN as a registered method: what it reads, its loss, and voxels and meshes from the predicted octree."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor

from recon.models.inputs import prepare_images
from recon.models.method import Method, PredictContext, register, unwrap_model
from recon.models.ogn.config import OGNConfig
from recon.models.ogn.loss import ogn_loss
from recon.models.ogn.networks import LevelOutput, OGNNet
from recon.models.ogn.octree import FULL, BatchedOctree, paint

__all__ = ["OGN", "predicted_voxels"]


def predicted_voxels(outputs: list[LevelOutput], depth: int, batch_size: int) -> Tensor:
    """(B, n, n, n) bool voxels of predicted levels, n = 2^depth: the blocks of the supervised cells whose
    argmax is full, at every level (OGN's ``OGNOutput`` writes every non-mixed cell,
    ``src/caffe/layers/ogn_output_layer.cpp:44-70``, and ``to_voxel_grid`` paints the full ones,
    ``include/image_tree_tools/octree.h:179-212``); a finest cell scored mixed is left empty, as there."""
    full = [(o.level, o.keys[o.supervised & (o.logits.argmax(1) == FULL)]) for o in outputs]
    return paint(full, depth, batch_size)


@register
class OGN(Method):
    """OGN as a registered method (see :mod:`recon.models.ogn`)."""

    name = "ogn"
    Config = OGNConfig
    # A level with no mixed cell leaves the blocks below it without a gradient.
    find_unused_parameters = True
    small_config: ClassVar[dict[str, Any]] = {
        "image_size": 64,
        "depth": 4,
        "dense_level": 2,
        "channels": [32, 16, 8],
    }

    def targets(self, config):
        return {"targets": ("image", "octree")}

    def build(self, config):
        return OGNNet(config)

    def loss(self, model, batch, config):
        images = prepare_images(batch["image"], config.image_size)
        octree = BatchedOctree.stack(batch["octree"], images.device)
        if octree.depth != config.depth:
            raise ValueError(
                f"model.depth is {config.depth} but the packed octrees have depth {octree.depth} "
                "(voxelize.octree.depth)"
            )
        outputs = model(images, octree, config.propagation)
        return ogn_loss(outputs, octree)

    def images(self, model, batch, config):
        from recon.io.loader import to_float_image

        return {"input": to_float_image(batch["image"][:8])}

    @torch.no_grad()
    def predict_levels(self, model, batch, config) -> list[LevelOutput]:
        """The levels predicted from the batch's images, following the predicted structure."""
        images = prepare_images(batch["image"], config.image_size)
        return unwrap_model(model)(images, None, "pred")

    @torch.no_grad()
    def predict_voxels(self, model, batch, config, context: PredictContext | None = None) -> Tensor:
        """(B, n, n, n) float 0/1 voxels at the octree's finest level (n = 2^depth) over the packed voxels'
        cube (:func:`predicted_voxels`)."""
        outputs = self.predict_levels(model, batch, config)
        return predicted_voxels(outputs, config.depth, len(batch["image"])).float()

    def predict_mesh(self, model, batch, config, context: PredictContext):
        """The boundary of :meth:`predict_voxels` (:func:`recon.geometry.extract.voxel_mesh`)."""
        from recon.geometry.extract import voxel_mesh

        voxels = self.predict_voxels(model, batch, config, context).cpu().numpy() > 0.5
        return [voxel_mesh(v, context.voxel_half_extent) for v in voxels]
