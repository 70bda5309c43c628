"""Model inputs from packed batches: RGBA views -> normalized encoder input at a chosen size."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from recon.io.loader import to_float_image
from recon.models.encoders import normalize_images

__all__ = ["prepare_images"]


def prepare_images(rgba: Tensor, size: int | None = None) -> Tensor:
    """(B, H, W, 4) uint8 RGBA views -> (B, 3, S, S) ImageNet-normalized RGB on white.

    Args:
        rgba: the loader's ``image`` batch.
        size: resize to ``size`` x ``size`` (area-averaged when shrinking), or keep H x W when None.
            Pixel coordinates of the original image stay valid for feature sampling
            (:func:`recon.models.geometry.sample_feature_maps` takes the original H and W), since a
            resized image covers the same extent.
    """
    images = to_float_image(rgba)
    if size is not None and tuple(images.shape[-2:]) != (size, size):
        mode = "area" if size < images.shape[-1] else "bilinear"
        images = F.interpolate(images, size=(size, size), mode=mode)
    return normalize_images(images)
