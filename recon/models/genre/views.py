"""A packed view at the estimator's size: the image, its silhouette, depth and normals, and its camera.

The packed views (``docs/data_format.md`` §5.5) are resized to the square the estimator works on:
the RGB image bilinearly, the mask, depth and normals by their nearest pixel (so no depth is blended
with the background at the silhouette), both with half-pixel centres, and the intrinsics to match:
pixel ``(u, v)`` of the H x W view lands at ``((u + 1/2) S / W - 1/2, (v + 1/2) S / H - 1/2)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from recon.io.loader import to_float_image
from recon.models.geometry import resize_bilinear

__all__ = ["resize_intrinsics", "resized_view"]


def resize_intrinsics(K: Tensor, height: int, width: int, size: int) -> Tensor:
    """(B, 3, 3) intrinsics of an H x W view resized to S x S (half-pixel centres)."""
    sx, sy = size / width, size / height
    scale = K.new_tensor([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5], [0.0, 0.0, 1.0]])
    return scale @ K


def _nearest(x: Tensor, size: int) -> Tensor:
    """(B, C, H, W) -> (B, C, S, S), nearest pixel with half-pixel centres."""
    return F.interpolate(x, size=(size, size), mode="nearest-exact")


def resized_view(batch: dict, size: int, background: float = 0.0) -> dict[str, Tensor]:
    """The batch's views at S x S, float32.

    Args:
        batch: a collated batch with ``image`` (B, H, W, 4) uint8 and ``K`` (B, 3, 3); ``depth``
            (B, H, W), ``mask`` (B, H, W) and ``normal`` (B, H, W, 3) (world frame) where present.
        size: S.
        background: grey level the image is composited over (GenRe's renders: black).

    Returns:
        ``rgb`` (B, 3, S, S); ``silhouette`` (B, S, S), the image's alpha > 1/2 resized (the
        object's mask, an input of GenRe: ``genre_full_model.py:149``); ``K`` (B, 3, 3); and where
        the batch has them ``mask`` (B, S, S) bool, ``depth`` (B, S, S) (0 off the mask) and
        ``normal`` (B, 3, S, S) in the camera frame (0 off the mask).
    """
    image = batch["image"]
    h, w = image.shape[1:3]
    rgb = to_float_image(image, background)
    if (h, w) != (size, size):
        rgb = resize_bilinear(rgb, (size, size))
    alpha = (image[..., 3].float() > 127.5).float()[:, None]
    out = {
        "rgb": rgb,
        "silhouette": _nearest(alpha, size)[:, 0],
        "K": resize_intrinsics(batch["K"].float(), h, w, size),
    }
    if "mask" in batch:
        mask = _nearest(batch["mask"].float()[:, None], size)[:, 0] > 0.5
        out["mask"] = mask
        out["depth"] = _nearest(batch["depth"].float()[:, None], size)[:, 0] * mask
    if "normal" in batch:
        rotation = batch["Rt"].float()[:, :, :3]
        normal = torch.einsum("bij,bhwj->bihw", rotation, batch["normal"].float())
        out["normal"] = (
            _nearest(normal, size) * out["mask"][:, None] if "mask" in out else _nearest(normal, size)
        )
    return out
