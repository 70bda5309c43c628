"""Model inputs from packed batches: RGBA views -> float RGB -> normalized encoder input at a chosen size."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from recon.models.encoders import composite, normalize_images

__all__ = ["prepare_images", "rgba_to_float"]


def rgba_to_float(rgba: Tensor, background: float = 1.0) -> Tensor:
    """(B, H, W, 4) uint8 RGBA views (the loader's ``image`` batch) -> (B, 3, H, W) float32 RGB in [0, 1].

    Straight alpha, composited over a ``background`` grey (1 = white, what 3D-R2N2 and DISN train
    on); the same numbers as :func:`recon.io.loader.to_float_image`.
    """
    return composite(rgba.permute(0, 3, 1, 2).float() / 255.0, background)


def prepare_images(rgba: Tensor, size: int | None = None) -> Tensor:
    """(B, H, W, 4) uint8 RGBA views -> (B, 3, S, S) ImageNet-normalized RGB on white.

    Args:
        rgba: the loader's ``image`` batch.
        size: resize to ``size`` x ``size`` (area-averaged when shrinking), or keep H x W when None.
            Pixel coordinates of the original image stay valid for feature sampling
            (:func:`recon.models.geometry.sample_feature_maps` takes the original H and W), since a
            resized image covers the same extent.
    """
    images = rgba_to_float(rgba)
    if size is not None and tuple(images.shape[-2:]) != (size, size):
        mode = "area" if size < images.shape[-1] else "bilinear"
        images = F.interpolate(images, size=(size, size), mode=mode)
    return normalize_images(images)
