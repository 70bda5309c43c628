"""GenRe as a registered method: what each stage reads, its loss, and the chain at prediction.

The chain (``models/genre_full_model.py`` ``Net.forward``), for one view in its view frame
(:mod:`recon.geometry.view_frame`):

1. the estimator predicts relative depth, its min/max, normals and a silhouette from the RGB image;
2. the absolute depth (:func:`~recon.models.genre.networks.absolute_depth`), cut to the object's
   silhouette (the image's alpha: GenRe's input mask), is back-projected with the view's camera into
   a partial spherical map (:func:`~recon.models.genre.projection.depth_to_spherical`) and into a
   volume (:func:`~recon.models.genre.projection.depth_to_volume`);
3. the inpainter completes the padded partial map into the full map;
4. the full map is back-projected into a volume
   (:func:`~recon.models.genre.projection.spherical_to_volume`), and the refiner turns both volumes
   into voxel logits in the view frame.

Meshes are the ``threshold`` level set of the probabilities, mapped from the view frame back to
the object frame (``x_world = M^T x_view / s^2``), so every protocol compares them with the ground
truth in the object frame, as every other method's.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from recon.geometry.view_frame import VIEW_HALF_EXTENT
from recon.models.encoders import normalize_images
from recon.models.genre.augment import augment_rgb
from recon.models.genre.config import GenReConfig
from recon.models.genre.loss import estimator_loss, inpaint_loss, surface_shell, voxel_loss
from recon.models.genre.model import GenReNet
from recon.models.genre.networks import SCALE_25D, absolute_depth, relative_depth
from recon.models.genre.projection import (
    depth_to_spherical,
    depth_to_volume,
    sph_crop,
    sph_pad,
    spherical_to_volume,
    world_to_view,
)
from recon.models.genre.views import resized_view
from recon.models.method import Method, PredictContext, register, unwrap_model

__all__ = ["GenRe"]


def _targets(config: GenReConfig, train: bool = True) -> tuple[str, ...]:
    """The loader targets a stage reads (prediction reads the image, camera and view frame only)."""
    if not train:
        return ("image", "camera", "view_frame") + (("depth",) if config.depth == "true" else ())
    targets = {"image", "camera", "view_frame"}
    if config.stage in ("estimator", "joint"):
        targets |= {"depth", "normal"}
    if config.stage != "estimator":
        targets |= {"depth"} if config.depth == "true" else set()
    if config.stage in ("inpaint", "joint"):
        targets.add("view_spherical")
    if config.stage in ("refine", "joint"):
        targets.add("view_voxels")
    order = ("image", "camera", "depth", "normal", "view_frame", "view_spherical", "view_voxels")
    return tuple(t for t in order if t in targets)


def run_chain(
    net: GenReNet, batch: dict, config: GenReConfig, until: str = "refine", augment: bool = False
) -> dict[str, Tensor]:
    """The chain on a batch, up to ``until`` (``estimator``, ``inpaint`` or ``refine``); ``augment``
    jitters the RGB input's colours and lighting as the release's training does (:mod:`.augment`).

    Returns:
        ``estimate`` (the estimator's raw outputs), ``view`` (:func:`resized_view`), and, past the
        estimator: ``depth`` (B, S, S) the depth projected (0 off the silhouette), ``partial`` (B, R, R),
        ``full`` (B, 1, R + 2m, R + 2m) the inpainter's padded output; past the inpainter: ``logits``
        (B, n, n, n) in the view frame.
    """
    view = resized_view(batch, config.image_size)
    rgb = augment_rgb(view["rgb"]) if augment else view["rgb"]
    estimate = net.estimator(normalize_images(rgb))
    out: dict[str, Any] = {"view": view, "estimate": estimate}
    if until == "estimator":
        return out
    silhouette = view["silhouette"] > 0.5
    if config.depth == "true":
        depth = view["depth"]
    else:
        depth = absolute_depth(estimate["depth"][:, 0] / SCALE_25D, estimate["depth_minmax"].detach())
    depth = depth * silhouette
    rt, scale = batch["Rt"].float(), batch["view_scale"].float()
    partial = depth_to_spherical(depth, silhouette, view["K"], rt, scale, config.sph_resolution)
    full = net.inpainter(sph_pad(partial[:, None], config.padding_margin))["spherical"]
    out.update(depth=depth, partial=partial, full=full)
    if until == "inpaint":
        return out
    n = config.volume_resolution
    sph_volume = spherical_to_volume(sph_crop(full, config.padding_margin)[:, 0], n)[0]
    depth_volume = depth_to_volume(depth, silhouette, view["K"], rt, scale, n)
    refine_input = torch.cat([sph_volume, depth_volume], dim=1)
    out["logits"] = net.refiner(refine_input)[:, 0]
    return out


def filled_shell(probabilities: Tensor, threshold: float) -> Tensor:
    """(B, n, n, n) probabilities with the inside of each predicted shell set to 1.

    The refiner predicts the surface shell (its target, :func:`~recon.models.genre.loss.surface_shell`),
    so the level set of its probabilities is a closed wall with an inner and an outer side, and the
    solid it encloses reads as empty. The voxels enclosed by the ``threshold`` set
    (``scipy.ndimage.binary_fill_holes``: not connected to the grid's border through the empty
    voxels, 6-connectivity) are set to 1, so the level set is the outer side only and the voxels and
    meshes are solid, as every protocol's ground truth (GenRe's own evaluation compares surface
    points, which the outer side keeps).
    """
    from scipy.ndimage import binary_fill_holes

    out = probabilities.clone()
    occupied = (probabilities >= threshold).cpu().numpy()
    for i, grid in enumerate(occupied):
        inside = torch.from_numpy(binary_fill_holes(grid) & ~grid).to(out.device)
        out[i][inside] = 1.0
    return out


@register
class GenRe(Method):
    """GenRe as a registered method (see :mod:`recon.models.genre`)."""

    name = "genre"
    Config = GenReConfig
    small_config: ClassVar[dict[str, Any]] = {
        "image_size": 64,
        "estimator_width": 8,
        "sph_resolution": 32,
        "padding_margin": 16,  # 32 + 2 * 16 = 64, a multiple of the U-ResNet's stride
        "volume_resolution": 32,
        "refiner_width": 8,
    }

    def targets(self, config):
        return {"targets": _targets(config), "voxel_resolution": config.volume_resolution}

    def predict_dataset(self, store, config, seed: int, views: list[int]):
        from recon.io.loader import PackedDataset

        return PackedDataset(store, targets=_targets(config, train=False), seed=seed, views=list(views))

    def predict_variants(self, config):
        """``oracle_depth``: the chain fed the rendered depth, not the estimator's (the paper's ablation)."""
        return {} if config.depth == "true" else {"oracle_depth": {"depth": "true"}}

    def build(self, config):
        return GenReNet(config)

    def loss(self, model, batch, config):
        until = {"estimator": "estimator", "inpaint": "inpaint"}.get(config.stage, "refine")
        augment = config.augment and model.training  # the release augments training images only
        out = run_chain(unwrap_model(model), batch, config, until, augment)
        scalars: dict[str, float] = {}
        loss = out["estimate"]["depth"].new_zeros(())
        if config.stage in ("estimator", "joint"):
            view = out["view"]
            relative, minmax = relative_depth(view["depth"], view["mask"])
            normal = (view["normal"] + 1.0) / 2.0  # camera frame, encoded in [0, 1] as the release's images
            weight = (
                config.image_size**2 / 2.0
            )  # the release's 256² / 2 (marrnet1.py), per pixel of this size
            part, terms = estimator_loss(out["estimate"], normal, relative, view["mask"], minmax, weight)
            loss = loss + part
            scalars.update({k: float(v.detach()) for k, v in terms.items()})
        if config.stage in ("inpaint", "joint"):
            target = sph_pad(batch["view_spherical"].float()[:, None], config.padding_margin)
            sph = inpaint_loss(out["full"], target)
            scalars["spherical"] = float(sph.detach())
            loss = loss + sph
        if config.stage in ("refine", "joint"):
            shell = surface_shell(batch["view_voxels"].float())[:, None]
            part, terms = voxel_loss(out["logits"][:, None], shell, config.surface_weight)
            loss = loss + part
            scalars.update({k: float(v.detach()) for k, v in terms.items()})
        return loss, scalars

    def images(self, model, batch, config):
        net = unwrap_model(model)
        until = "estimator" if config.stage == "estimator" else "inpaint"
        out = run_chain(net, batch, config, until)
        images = {
            "input": out["view"]["rgb"][:8],
            "depth": (out["estimate"]["depth"][:8] / SCALE_25D).clamp(0, 1),
            "normal": (out["estimate"]["normal"][:8] / SCALE_25D).clamp(0, 1),
        }
        if until == "inpaint":
            images["spherical_partial"] = out["partial"][:8, None]
            images["spherical_full"] = out["full"][:8].clamp(0, 1)
        return images

    @torch.no_grad()
    def predict_view_voxels(self, model, batch, config) -> Tensor:
        """(B, n, n, n) occupancy probabilities in each item's view frame over [-0.5, 0.5]^3, the
        predicted surface shell filled (:func:`filled_shell`)."""
        probabilities = torch.sigmoid(run_chain(unwrap_model(model), batch, config)["logits"].float())
        return filled_shell(probabilities, config.threshold)

    @torch.no_grad()
    def predict_voxels(self, model, batch, config, context: PredictContext | None = None) -> Tensor:
        """(B, n, n, n) probabilities over the packed voxels' cube in the object frame: the view-frame
        probabilities sampled (trilinearly, 0 outside the view cube) at each object voxel's centre."""
        probabilities = self.predict_view_voxels(model, batch, config)
        half = context.voxel_half_extent if context is not None else PredictContext().voxel_half_extent
        n = probabilities.shape[-1]
        centres = (torch.arange(n, device=probabilities.device, dtype=torch.float32) + 0.5) * (
            2 * half / n
        ) - half
        grid = torch.stack(torch.meshgrid(centres, centres, centres, indexing="ij"), dim=-1).reshape(-1, 3)
        m = world_to_view(batch["Rt"].float(), batch["view_scale"].float())  # (B, 3, 3)
        view_points = torch.einsum("bij,pj->bpi", m, grid) / VIEW_HALF_EXTENT  # in [-1, 1] inside the cube
        # grid_sample's (x, y, z) index the volume's (W, H, D) = our (k, j, i) axes.
        sample = view_points.flip(-1).view(len(m), n, n, n, 3)
        out = F.grid_sample(probabilities[:, None], sample, align_corners=False, padding_mode="zeros")
        return out[:, 0]

    def predict_mesh(self, model, batch, config, context: PredictContext):
        """The ``threshold`` level set of the view-frame probabilities, mapped to the object frame."""
        from recon.geometry.extract import occupancy_mesh

        probabilities = self.predict_view_voxels(model, batch, config).float().cpu().numpy()
        m = world_to_view(batch["Rt"].float(), batch["view_scale"].float()).cpu().double().numpy()
        meshes = []
        for p, mi in zip(probabilities, m, strict=True):
            vertices, faces = occupancy_mesh(p, VIEW_HALF_EXTENT, config.threshold)
            inverse = np.linalg.inv(mi)
            meshes.append(((np.asarray(vertices, np.float64) @ inverse.T).astype(np.float32), faces))
        return meshes
