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
    "resize_bilinear",
    "rotation_6d_to_matrix",
    "sample_feature_maps",
    "sample_resized_feature_maps",
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
    """Bilinear samples of every feature map, at its own size, at the pixels ``uv`` of the input image.

    Each map is read where it covers the pixel (a stride-s map's pixel j covers input pixels
    ``s j .. s j + s - 1``), with zeros outside the image. The released DISN code resizes the maps to
    the image and clips the pixels instead: :func:`sample_resized_feature_maps`.

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


def _source_coordinates(n_out: int, n_in: int, half_pixel: bool, like: Tensor) -> Tensor:
    """Where output pixels 0 .. n_out - 1 of a bilinear resize from n_in pixels sample the input.

    Half-pixel centres (TensorFlow 2's ``tf.image.resize``, ``half_pixel_centers=True``, and PyTorch's
    ``align_corners=False``): ``(i + 0.5) n_in / n_out - 0.5``; TensorFlow 1.x's default
    (``resize_bilinear`` without ``half_pixel_centers``): ``i n_in / n_out``. Both clamped to
    ``[0, n_in - 1]`` as their kernels clamp the neighbours they read.
    """
    i = torch.arange(n_out, device=like.device, dtype=like.dtype)
    scale = n_in / n_out
    src = (i + 0.5) * scale - 0.5 if half_pixel else i * scale
    return src.clamp(0, n_in - 1)


def _input_grid(src: Tensor, n_in: int) -> Tensor:
    """Input pixel coordinates (pixel centres at integers) -> ``grid_sample`` ``align_corners=True``."""
    return 2.0 * src / max(n_in - 1, 1) - 1.0


def resize_bilinear(images: Tensor, size: tuple[int, int], half_pixel: bool = True) -> Tensor:
    """Bilinear resize of (B, C, h, w) maps to (B, C, H, W) = ``size``, as TensorFlow resizes them.

    ``half_pixel=True`` is TensorFlow 2's ``tf.image.resize`` (equal to PyTorch's
    ``F.interpolate(..., mode="bilinear", align_corners=False)``): the images' extents coincide.
    ``half_pixel=False`` is TensorFlow 1.x's ``tf.image.resize_bilinear`` default, which the released
    DISN code uses: output pixel i reads input position ``i h / H``, which shifts the content by
    ``(h / H - 1) / 2`` input pixels against the half-pixel resize. No antialiasing either way.
    """
    height, width = size
    h, w = images.shape[-2:]
    gy = _input_grid(_source_coordinates(height, h, half_pixel, images), h)
    gx = _input_grid(_source_coordinates(width, w, half_pixel, images), w)
    grid = torch.stack(torch.meshgrid(gx, gy, indexing="xy"), dim=-1)  # (H, W, 2) as (x, y)
    grid = grid.expand(images.shape[0], height, width, 2)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=True)


def sample_resized_feature_maps(
    maps: list[Tensor], uv: Tensor, height: int, width: int, half_pixel: bool = True
) -> Tensor:
    """Local features as the released DISN code samples them: every map resized to the image, points clipped.

    The released code (``models/model_normalization.py``, ``get_model``) resizes each map bilinearly
    to the (H, W) image the pixels refer to, clips the pixels to ``[0, W - 1] x [0, H - 1]``
    (``get_img_points``) and reads the resized maps bilinearly there, with pixel centres at integer
    coordinates (``tf.contrib.resampler``). This computes exactly that without materializing the
    resized maps: the four resized pixels around each point are bilinear samples of the map at their
    source positions (:func:`resize_bilinear`'s), blended with the point's bilinear weights.

    Args:
        maps: feature maps (B, C_i, h_i, w_i) of one (H, W) image batch.
        uv: (B, N, 2) pixel coordinates in the input image (OpenCV: pixel centres at integers).
        height, width: H and W of the input image (the size the maps are resized to).
        half_pixel: resize with half-pixel centres (aligned maps); False is TensorFlow 1.x's resize,
            the released code's, which misaligns a map of stride s by about (s - 1) / 2 input pixels.

    Returns:
        (B, N, ΣC_i) features; points outside the image get the features of the nearest border pixel.
    """
    u = uv[..., 0].clamp(0, width - 1)
    v = uv[..., 1].clamp(0, height - 1)
    u0 = u.floor().clamp(max=max(width - 2, 0))
    v0 = v.floor().clamp(max=max(height - 2, 0))
    fu, fv = u - u0, v - v0
    du = uv.new_tensor([0.0, 1.0, 0.0, 1.0])
    dv = uv.new_tensor([0.0, 0.0, 1.0, 1.0])
    cu = (u0[..., None] + du).clamp(max=width - 1)  # (B, N, 4) integer pixels around each point
    cv = (v0[..., None] + dv).clamp(max=height - 1)
    weights = (du * fu[..., None] + (1 - du) * (1 - fu[..., None])) * (
        dv * fv[..., None] + (1 - dv) * (1 - fv[..., None])
    )
    samples = []
    for m in maps:
        h, w = m.shape[-2:]
        if half_pixel:
            su, sv = (cu + 0.5) * (w / width) - 0.5, (cv + 0.5) * (h / height) - 0.5
        else:
            su, sv = cu * (w / width), cv * (h / height)
        grid = torch.stack([_input_grid(su.clamp(0, w - 1), w), _input_grid(sv.clamp(0, h - 1), h)], -1)
        corners = F.grid_sample(
            m, grid.to(m.dtype), mode="bilinear", padding_mode="border", align_corners=True
        )  # (B, C, N, 4)
        samples.append((corners * weights[:, None].to(m.dtype)).sum(-1))
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
