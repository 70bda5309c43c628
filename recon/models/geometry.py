"""Camera geometry shared by the model families: projection, feature sampling, 6D rotations.

Conventions are the data contract's (docs/data_format.md §1.1): OpenCV cameras, ``x_cam = R x + t``,
``(u, v, 1)ᵀ ∝ K x_cam``, pixel ``(u, v)`` = column u, row v, the top-left pixel's centre at (0, 0),
so an image of width W spans ``[-0.5, W - 0.5]``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "matrix_to_rotation_6d",
    "pixels_to_grid",
    "project_points",
    "rotation_6d_to_matrix",
    "sample_feature_maps",
    "transform_points",
]


def transform_points(points: Tensor, Rt: Tensor) -> Tensor:
    """World points into the camera frame: ``R x + t``.

    Args:
        points: (B, N, 3) world points.
        Rt: (B, 3, 4) world-to-camera ``[R | t]``.

    Returns:
        (B, N, 3) camera-frame points (z = depth along the viewing direction).
    """
    return points @ Rt[:, :, :3].transpose(1, 2) + Rt[:, None, :, 3]


def project_points(points: Tensor, K: Tensor, Rt: Tensor) -> tuple[Tensor, Tensor]:
    """Pixel coordinates and depths of world points seen by OpenCV cameras (DISN's ``K [R|t]``).

    Args:
        points: (B, N, 3) world points.
        K: (B, 3, 3) intrinsics in pixels.
        Rt: (B, 3, 4) world-to-camera extrinsics.

    Returns:
        ``(uv, z)``: (B, N, 2) pixel coordinates (u = column, v = row) and (B, N) depths. Points
        behind the camera (z <= 0) get finite but meaningless pixels; callers mask them by ``z``.
    """
    cam = transform_points(points, Rt)
    z = cam[..., 2]
    pix = cam @ K.transpose(1, 2)
    uv = pix[..., :2] / z.clamp_min(1e-8)[..., None]
    return uv, z


def pixels_to_grid(uv: Tensor, height: int, width: int) -> Tensor:
    """Pixel coordinates -> ``grid_sample`` coordinates in [-1, 1] (``align_corners=False``).

    With ``align_corners=False`` the grid's -1 and 1 are the outer edges of the image, which are
    pixels -0.5 and W - 0.5 in the OpenCV convention: ``x = (2u + 1) / W - 1``. Any feature map
    covering the same image (a stride-s map of a W-wide image, W divisible by s) is sampled at the
    same place with the same coordinates.
    """
    x = (2.0 * uv[..., 0] + 1.0) / width - 1.0
    y = (2.0 * uv[..., 1] + 1.0) / height - 1.0
    return torch.stack([x, y], dim=-1)


def sample_feature_maps(maps: list[Tensor], uv: Tensor, height: int, width: int) -> Tensor:
    """Bilinear samples of every feature map at the pixels ``uv`` of the input image (DISN's local features).

    Args:
        maps: feature maps (B, C_i, h_i, w_i) of one (H, W) image batch.
        uv: (B, N, 2) pixel coordinates in the input image.
        height, width: H and W of the input image.

    Returns:
        (B, N, ΣC_i) features; zeros where a point falls outside the image.
    """
    grid = pixels_to_grid(uv, height, width)[:, :, None, :]  # (B, N, 1, 2)
    samples = [
        F.grid_sample(m, grid.to(m.dtype), mode="bilinear", padding_mode="zeros", align_corners=False)[..., 0]
        for m in maps
    ]
    return torch.cat(samples, dim=1).transpose(1, 2)


def rotation_6d_to_matrix(d6: Tensor) -> Tensor:
    """Zhou et al.'s continuous 6D rotation representation -> rotation matrices (Gram-Schmidt).

    The first two rows ``a1, a2`` of the 6 numbers become ``b1 = a1 / |a1|``,
    ``b2 = normalize(a2 - (b1·a2) b1)``, ``b3 = b1 x b2``, stacked as the matrix's rows (PyTorch3D's
    convention).

    Args:
        d6: (..., 6).

    Returns:
        (..., 3, 3) rotation matrices.
    """
    a1, a2 = d6[..., :3], d6[..., 3:]
    b1 = F.normalize(a1, dim=-1)
    b2 = F.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack([b1, b2, b3], dim=-2)


def matrix_to_rotation_6d(matrix: Tensor) -> Tensor:
    """Rotation matrices (..., 3, 3) -> their 6D representation (..., 6): the first two rows."""
    return matrix[..., :2, :].reshape(*matrix.shape[:-2], 6)
