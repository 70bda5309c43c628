"""AtlasNet's image input: views cropped (at random in training, centred at test), flipped in training,
resized, as ``dataset/dataset_shapenet.py`` (ThibaultGROUEIX/AtlasNet v2, lines 161-176, 196-206) prepares
a rendering: ``RandomCrop(127)`` and ``RandomHorizontalFlip()`` of the 137 px render in training,
``CenterCrop(127)`` at test, then ``Resize(224)`` (bilinear) and ``ToTensor()`` (RGB in [0, 1], no mean
subtraction), keeping RGB.

The packed views are RGBA over a transparent background; they are composited over white first (the
release drops the alpha channel of its renders).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from recon.io.loader import to_float_image
from recon.models.encoders import normalize_images

__all__ = ["prepare_atlas_images"]


def prepare_atlas_images(
    rgba: Tensor, size: int, crop: float, train: bool, flip: bool = True, normalize: str = "none"
) -> Tensor:
    """(B, H, W, 4) uint8 RGBA views -> (B, 3, size, size) float encoder input.

    Args:
        rgba: the loader's ``image`` batch.
        size: side of the output (224 as released).
        crop: share of the side kept, ``round(crop H)`` pixels; in training each view at a random offset
            in ``[0, H - c]`` per axis (``RandomCrop``), at test centred (``CenterCrop``: offset
            ``round((H - c) / 2)``).
        train: random crop and flips (the torch generator draws them) or the test-time centre crop.
        flip: in training, flip each view left-right with probability 1/2.
        normalize: ``none`` (RGB in [0, 1]) or ``imagenet`` (:func:`recon.models.encoders.normalize_images`).
    """
    images = to_float_image(rgba)  # (B, 3, H, W) over white
    b, _, h, w = images.shape
    ch, cw = max(1, round(crop * h)), max(1, round(crop * w))
    if (ch, cw) != (h, w):
        if train:
            rows = torch.randint(0, h - ch + 1, (b,)).tolist()
            cols = torch.randint(0, w - cw + 1, (b,)).tolist()
        else:
            rows, cols = [round((h - ch) / 2.0)] * b, [round((w - cw) / 2.0)] * b
        images = torch.stack(
            [im[:, r : r + ch, c : c + cw] for im, r, c in zip(images, rows, cols, strict=True)]
        )
    if train and flip:
        flips = (torch.rand(b) < 0.5).to(images.device)
        images = torch.where(flips[:, None, None, None], images.flip(-1), images)
    if images.shape[-2:] != (size, size):
        shrink = size < images.shape[-1]  # PIL's bilinear resize filters when it shrinks
        images = F.interpolate(
            images, size=(size, size), mode="bilinear", align_corners=False, antialias=shrink
        )
    return normalize_images(images) if normalize == "imagenet" else images
