"""AtlasNet (single image) as a registered method: Chamfer on random template points, clouds and meshes
from the templates' regular meshes."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from recon.io.loader import to_float_image
from recon.models.atlasnet.config import AtlasnetConfig
from recon.models.atlasnet.images import prepare_atlas_images
from recon.models.atlasnet.loss import atlas_chamfer
from recon.models.atlasnet.networks import AtlasNet
from recon.models.atlasnet.template import random_points, regular_mesh, template_dim
from recon.models.method import Method, PredictContext, register, unwrap_model

__all__ = ["Atlasnet", "decode_regular"]


def _images(batch: dict, config: AtlasnetConfig, train: bool) -> Tensor:
    return prepare_atlas_images(batch["image"], config.image_size, config.crop, train, config.flip,
                                config.normalize)  # fmt: skip


def decode_regular(net: AtlasNet, images: Tensor, config: AtlasnetConfig) -> tuple[Tensor, np.ndarray]:
    """Every patch's regular template mesh deformed: points (B, K, P, 3) float and the faces (K F, 3)
    int64 of the concatenated patches (patch k's vertices are rows ``k P .. (k + 1) P - 1``).

    As ``Atlasnet.forward(train=False)`` and ``generate_mesh`` (model/atlasnet.py:50-53, 62-80): each
    patch deforms the regular points of its template (``number_points_eval // nb_primitives`` asked
    for), and its mesh carries the template's faces (``pymesh.merge_meshes`` of the patches).
    """
    vertices, faces = regular_mesh(
        config.template, config.points // config.patches, config.sphere_subdivisions
    )
    templates = torch.as_tensor(vertices.T, dtype=torch.float32, device=images.device)
    templates = templates[None].expand(config.patches, -1, -1).contiguous()
    points = net(images, templates)
    offsets = np.arange(config.patches, dtype=np.int64)[:, None, None] * len(vertices)
    return points, (faces[None] + offsets).reshape(-1, 3)


@register
class Atlasnet(Method):
    """AtlasNet from one image (see :mod:`recon.models.atlasnet`)."""

    name = "atlasnet"
    Config = AtlasnetConfig
    small_config: ClassVar[dict[str, Any]] = {"image_size": 64, "bottleneck": 128, "hidden": 64, "patches": 4}

    def targets(self, config):
        return {"targets": ("image", "surface"), "n_points": config.points}

    def build(self, config):
        dim = template_dim(config.template)
        return AtlasNet(config.encoder, config.pretrained, config.patches, dim, config.bottleneck,
                        config.hidden, config.layers, config.activation, config.tanh)  # fmt: skip

    def loss(self, model, batch, config):
        """Chamfer (squared, mean each way, summed) of the fused patches and the item's surface points:
        random template points in training (model/atlasnet.py:46-49), the regular ones in eval mode
        (validation, lines 50-53), as the release's test epochs."""
        train = model.training
        images = _images(batch, config, train)
        if train:
            n = config.points // config.patches
            pred = model(images, random_points(config.template, config.patches, n, images.device))
        else:
            pred, _ = decode_regular(unwrap_model(model), images, config)
        loss = atlas_chamfer(pred, batch["surface_points"])
        return loss, {"chamfer": float(loss.detach())}

    def images(self, model, batch, config):
        return {"input": to_float_image(batch["image"][:8])}

    @torch.no_grad()
    def predict_points(self, model, batch, config, context: PredictContext | None = None) -> list[np.ndarray]:
        """One (P, 3) float32 cloud per item, the K patches' regular points deformed (P = K x the
        patch's points: 2,500 for 25 squares of 10 x 10 or 1 of 50 x 50; 2,562 for the sphere), in the
        packed store's normalized object frame (the frame of the surface points it trains on)."""
        net = unwrap_model(model)
        points, _ = decode_regular(net, _images(batch, config, False), config)
        return [p.reshape(-1, 3).float().cpu().numpy() for p in points]

    @torch.no_grad()
    def predict_mesh(self, model, batch, config, context: PredictContext | None = None):
        """Each item's patches as one mesh: the regular template meshes with the decoders' points as
        vertices (the vertices are :meth:`predict_points`' cloud, in its order); square patches are open
        sheets, the sphere closed."""
        net = unwrap_model(model)
        points, faces = decode_regular(net, _images(batch, config, False), config)
        return [(p.reshape(-1, 3).float().cpu().numpy(), faces.copy()) for p in points]
