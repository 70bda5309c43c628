"""3D-R2N2's input pipeline: views on a background colour, cropped, flipped, scaled to [0, 1].

As the released ``lib/data_augmentation.py`` prepares a rendering:

- background: every pixel whose alpha is 0 takes the background colour, every other pixel keeps its
  RGB (no blending); in training the colour is drawn per channel from [225, 255] (``TRAIN.
  NO_BG_COLOR_RANGE``), at test time it is grey 240 (``TEST.NO_BG_COLOR_RANGE``);
- crop: ``margin`` pixels come off each axis (``TRAIN.PAD_X = PAD_Y = 10``: 137² renders become
  127²); in training at a random offset in ``[0, margin)`` per axis, at test time centred;
- flip: in training a horizontal flip with probability 1/2 (``TRAIN.FLIP``);
- scale: RGB divided by 255, no mean subtraction.

:func:`draw_augmentation` draws one view's training parameters from a seeded generator (the dataset
does, per item and epoch: :mod:`recon.models.r2n2.views`); :func:`prepare_views` applies them, or
the test-time preparation when there are none, to a batch of RGBA views on the model's device.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["TEST_BACKGROUND", "TRAIN_BACKGROUND", "draw_augmentation", "prepare_views"]

#: Inclusive range of each background channel in training (``TRAIN.NO_BG_COLOR_RANGE``).
TRAIN_BACKGROUND = (225, 255)
#: Background grey at test time (``TEST.NO_BG_COLOR_RANGE``).
TEST_BACKGROUND = 240


def draw_augmentation(gen: np.random.Generator, views: int, margin: int) -> dict[str, np.ndarray]:
    """Training parameters of ``views`` views.

    Returns:
        ``crop`` (views, 2) int64 row and column offsets, each in ``[0, margin)``; ``flip`` (views,)
        bool, true with probability 1/2; ``background`` (views, 3) uint8 RGB, each channel in
        :data:`TRAIN_BACKGROUND`.
    """
    lo, hi = TRAIN_BACKGROUND
    return {
        "crop": gen.integers(0, max(margin, 1), (views, 2)).astype(np.int64),
        "flip": gen.random(views) > 0.5,
        "background": gen.integers(lo, hi + 1, (views, 3)).astype(np.uint8),
    }


def prepare_views(
    rgba: Tensor,
    margin: int,
    size: int,
    crop: Tensor | None = None,
    flip: Tensor | None = None,
    background: Tensor | None = None,
) -> Tensor:
    """RGBA views -> the encoder's input.

    Args:
        rgba: (N, H, W, 4) uint8 straight-alpha views.
        margin: pixels cropped off each axis: the crop is (H - margin, W - margin).
        size: side of the returned images; the crops are resized to it when they differ (area
            averaging when shrinking, bilinear when growing).
        crop, flip, background: the training parameters of :func:`draw_augmentation`, (N, 2) int,
            (N,) bool and (N, 3) uint8 tensors; None (all three): the test-time centre crop on grey
            :data:`TEST_BACKGROUND`, unflipped.

    Returns:
        (N, 3, size, size) float32 RGB in [0, 1].
    """
    n, height, width = rgba.shape[:3]
    h, w = height - margin, width - margin
    device = rgba.device
    if crop is None:
        crop = torch.tensor([(height - h) // 2, (width - w) // 2], device=device).expand(n, 2)
        flip = torch.zeros(n, dtype=torch.bool, device=device)
        background = torch.full((n, 3), TEST_BACKGROUND, dtype=torch.uint8, device=device)
    rows = crop[:, :1].long() + torch.arange(h, device=device)  # (N, h)
    cols = crop[:, 1:].long() + torch.arange(w, device=device)  # (N, w)
    cols = torch.where(flip[:, None].bool(), cols.flip(1), cols)
    views = rgba[torch.arange(n, device=device)[:, None, None], rows[:, :, None], cols[:, None, :]]
    rgb = torch.where(views[..., 3:] == 0, background[:, None, None, :].to(rgba.dtype), views[..., :3])
    images = rgb.permute(0, 3, 1, 2).float() / 255.0
    if (h, w) != (size, size):
        mode = "area" if size < min(h, w) else "bilinear"
        images = F.interpolate(images, size=(size, size), mode=mode)
    return images
