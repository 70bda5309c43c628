"""Images on disk: sRGB encoding, PNG files (the project's one PNG writer) and contact sheets.

- :func:`srgb_encode`, :func:`to_rgba8`: colour encoding of rendered (linear) images.
- :func:`to_uint8_image`, :func:`encode_png`, :func:`write_png`: PNG files of (H, W) grey,
  (H, W, 3) RGB or (H, W, 4) RGBA images, written atomically (:func:`recon.io.atomic.atomic_write_bytes`),
  with no timestamp chunk (the same pixels give the same bytes). Two ways to lay out the pixel data:

  - compressed (the default): Pillow's PNG encoder (zlib deflate, adaptive row filters); render
    contact sheets and report images;
  - stored (``stored=True``): filter type 0 on every row in uncompressed ("stored") deflate blocks
    that this module lays out itself, so the bytes do not depend on the zlib build (zlib vs. zlib-ng,
    compression heuristics) or on Pillow. The demo dataset's textures are written so: the demo is
    generated from the seed and its files are hashed downstream. They are tiny, so size does not matter.

- :func:`contact_sheet`: one picture of a shape's rendered views (RGB, depth, normals, albedo).

Pure NumPy and the standard library, except Pillow for compressed PNGs (imported where used).
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from recon.io.atomic import atomic_write_bytes

__all__ = [
    "PNG_SIGNATURE",
    "contact_sheet",
    "encode_png",
    "srgb_encode",
    "to_rgba8",
    "to_uint8_image",
    "write_png",
]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_MAX_STORED = 65535
#: PNG colour type by channel count: greyscale, RGB, RGBA.
_COLOR_TYPE = {1: 0, 3: 2, 4: 6}

# ---------------------------------------------------------------------------------------------------
# Colour encoding
# ---------------------------------------------------------------------------------------------------


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


def to_uint8_image(image: np.ndarray) -> np.ndarray:
    """An image as uint8: uint8 as is, bool as 0/255, floats in [0, 1] scaled (and clipped).

    Args:
        image: (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) array.

    Returns:
        (H, W), (H, W, 3) or (H, W, 4) uint8 array.

    Raises:
        ValueError: another shape or dtype.
    """
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] in (3, 4))) or a.shape[0] < 1 or a.shape[1] < 1:
        raise ValueError(f"an image must be (H, W), (H, W, 3) or (H, W, 4), got {a.shape}")
    if a.dtype == np.uint8:
        return a
    if a.dtype == bool:
        return a.astype(np.uint8) * 255
    if np.issubdtype(a.dtype, np.floating):
        return np.round(255.0 * np.clip(np.nan_to_num(a), 0.0, 1.0)).astype(np.uint8)
    raise ValueError(f"an image must be uint8, bool or float in [0, 1], got {a.dtype}")


# ---------------------------------------------------------------------------------------------------
# PNG files
# ---------------------------------------------------------------------------------------------------


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def _zlib_stored(raw: bytes) -> bytes:
    """A zlib stream holding ``raw`` in stored (uncompressed) deflate blocks."""
    out = bytearray(b"\x78\x01")  # deflate, 32K window, no preset dictionary, FCHECK valid
    if not raw:
        out += b"\x01\x00\x00\xff\xff"
    for start in range(0, len(raw), _MAX_STORED):
        block = raw[start : start + _MAX_STORED]
        final = 1 if start + _MAX_STORED >= len(raw) else 0
        out += struct.pack("<BHH", final, len(block), len(block) ^ 0xFFFF) + block
    out += struct.pack(">I", zlib.adler32(raw) & 0xFFFFFFFF)
    return bytes(out)


def _encode_stored(image: np.ndarray) -> bytes:
    """PNG bytes of a (H, W) or (H, W, C) uint8 image, C in (3, 4): 8 bits, no interlace, filter 0."""
    h, w = image.shape[:2]
    channels = 1 if image.ndim == 2 else image.shape[2]
    rows = np.concatenate([np.zeros((h, 1), dtype=np.uint8), image.reshape(h, w * channels)], axis=1)
    ihdr = struct.pack(">IIBBBBB", w, h, 8, _COLOR_TYPE[channels], 0, 0, 0)
    return (
        PNG_SIGNATURE
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", _zlib_stored(rows.tobytes()))
        + _chunk(b"IEND", b"")
    )


def encode_png(image: np.ndarray, *, stored: bool = False) -> bytes:
    """PNG bytes of an image (no timestamp chunk: the same pixels give the same bytes).

    Args:
        image: (H, W) grey, (H, W, 3) RGB or (H, W, 4) RGBA, row 0 at the top; uint8, bool or float
            in [0, 1] (:func:`to_uint8_image`).
        stored: lay the pixels out in uncompressed deflate blocks (bytes independent of zlib and
            Pillow) instead of compressing them with Pillow (see the module docstring).

    Returns:
        The PNG file's bytes (8 bits per channel).

    Raises:
        ValueError: another shape or dtype.
    """
    pixels = to_uint8_image(image)
    if stored:
        return _encode_stored(pixels)
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(buffer, format="PNG")
    return buffer.getvalue()


def write_png(path: Path | str, image: np.ndarray, *, stored: bool = False) -> Path:
    """Write an image as a PNG file (:func:`encode_png`), atomically.

    Args:
        path: output file.
        image: (H, W) grey, (H, W, 3) RGB or (H, W, 4) RGBA; uint8, bool or float in [0, 1].
        stored: uncompressed deflate blocks (:func:`encode_png`).

    Returns:
        ``path`` as a Path.
    """
    path = Path(path)
    atomic_write_bytes(path, encode_png(image, stored=stored))
    return path


# ---------------------------------------------------------------------------------------------------
# Contact sheets
# ---------------------------------------------------------------------------------------------------


def contact_sheet(
    rgba: Sequence[np.ndarray],
    depth: Sequence[np.ndarray],
    normal: Sequence[np.ndarray],
    albedo: Sequence[np.ndarray],
    mask: Sequence[np.ndarray],
    max_views: int = 8,
) -> np.ndarray:
    """A shape's rendered views in one picture: rows RGB (on white), depth, normals, albedo.

    Depth is shown near = dark over each view's own range; normals as ``0.5 * n + 0.5``; albedo
    sRGB-encoded; background white.

    Args:
        rgba: per view an (H, W, 4) uint8 sRGB image with straight alpha.
        depth: per view an (H, W) float depth.
        normal: per view an (H, W, 3) float unit normal.
        albedo: per view an (H, W, 3) float linear albedo.
        mask: per view an (H, W) bool object mask.
        max_views: the first ``n = min(max_views, len(rgba))`` views are shown, one column each.

    Returns:
        (4 H, n W, 3) uint8 RGB image.
    """
    columns = []
    for i in range(min(max_views, len(rgba))):
        m = np.asarray(mask[i], bool)[..., None]
        rgb = rgba[i][..., :3].astype(np.float64) / 255.0
        a = rgba[i][..., 3:4].astype(np.float64) / 255.0
        on_white = rgb * a + (1.0 - a)
        d = np.asarray(depth[i], np.float64)
        lo, hi = (d[m[..., 0]].min(), d[m[..., 0]].max()) if m.any() else (0.0, 1.0)
        grey = np.where(m[..., 0], 0.15 + 0.8 * (d - lo) / max(hi - lo, 1e-9), 1.0)
        n = np.where(m, 0.5 * np.asarray(normal[i], np.float64) + 0.5, 1.0)
        alb = np.where(m, srgb_encode(np.asarray(albedo[i], np.float64)), 1.0)
        columns.append(np.concatenate([on_white, np.repeat(grey[..., None], 3, -1), n, alb], axis=0))
    return np.round(np.concatenate(columns, axis=1) * 255.0).astype(np.uint8)
