"""Colour encoding of rendered images (no bpy needed)."""

from __future__ import annotations

import numpy as np

__all__ = ["srgb_encode", "to_rgba8"]


def srgb_encode(linear: np.ndarray) -> np.ndarray:
    """The sRGB transfer function (IEC 61966-2-1) of linear values, clipped to [0, 1]; float64."""
    x = np.clip(np.asarray(linear, dtype=np.float64), 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)


def to_rgba8(rgba: np.ndarray) -> np.ndarray:
    """Linear premultiplied (H, W, 4) float RGBA -> (H, W, 4) uint8 sRGB with straight alpha."""
    alpha = np.clip(rgba[..., 3:4], 0.0, 1.0)
    straight = np.where(alpha > 0, rgba[..., :3] / np.maximum(alpha, 1e-8), 0.0)
    out = np.concatenate([srgb_encode(straight), alpha], axis=-1)
    return np.round(out * 255.0).astype(np.uint8)
