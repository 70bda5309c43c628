"""PointSetGen's network inputs from packed RGBA views: the released RGB + background mask, or ONet's RGB."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from recon.io.loader import to_float_image
from recon.models.inputs import prepare_images

__all__ = ["hourglass_input", "network_input"]


def hourglass_input(rgba: Tensor, size: tuple[int, int]) -> Tensor:
    """(B, h, w, 4) uint8 RGBA views -> (B, 4, H, W) float: RGB in [0, 1] on white, then the background mask.

    As the release's batches (``depthestimate/BatchFetcher.py:63-65``): colour / 255 and a fourth channel
    that is 1 off the shape (``depth == 0``; here ``1 - alpha``), no mean subtraction. The view is resized
    (area-averaged when shrinking, bilinear when growing) to fit H x W with its aspect kept, and centred;
    the rest is background (RGB 1, mask 1): a square 137² view becomes 192 x 192 in the middle of the
    release's 192 x 256 frame.
    """
    height, width = size
    rgb = to_float_image(rgba)  # (B, 3, h, w) on white
    alpha = rgba[..., 3].to(rgb.dtype)[:, None] / 255.0
    x = torch.cat([rgb, 1.0 - alpha], dim=1)
    h, w = x.shape[-2:]
    scale = min(height / h, width / w)
    fit = (max(1, round(h * scale)), max(1, round(w * scale)))
    if fit != (h, w):
        x = F.interpolate(x, size=fit, mode="area" if scale < 1 else "bilinear")
    top, left = (height - fit[0]) // 2, (width - fit[1]) // 2
    return F.pad(x, (left, width - fit[1] - left, top, height - fit[0] - top), value=1.0)


def network_input(rgba: Tensor, config) -> Tensor:
    """The input of ``config.encoder``'s network: :func:`hourglass_input`, or for resnet18 ImageNet-normalized
    RGB at ``image_size`` (:func:`recon.models.inputs.prepare_images`, ONet's input)."""
    if config.encoder == "hourglass":
        return hourglass_input(rgba, config.image_size)
    return prepare_images(rgba, config.image_size[0])
