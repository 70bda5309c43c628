"""Minimal deterministic PNG encoder (standard library only: ``zlib`` + ``struct``).

The image data is stored in uncompressed ("stored") deflate blocks that this module
lays out itself, so the bytes do not depend on the zlib build (zlib vs. zlib-ng,
compression heuristics). Demo textures are tiny, so size does not matter.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

__all__ = ["PNG_SIGNATURE", "encode_png", "write_png"]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_MAX_STORED = 65535


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


def encode_png(pixels: np.ndarray) -> bytes:
    """Encode an RGB image as PNG bytes.

    Args:
        pixels: ``(H, W, 3)`` ``uint8`` array, row 0 at the top.

    Returns:
        PNG file contents (8-bit RGB, no interlace, filter type 0 on every row).
    """
    img = np.asarray(pixels)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError("pixels must be an (H, W, 3) uint8 array")
    h, w = img.shape[:2]
    rows = np.concatenate([np.zeros((h, 1), dtype=np.uint8), img.reshape(h, w * 3)], axis=1)
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (
        PNG_SIGNATURE
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", _zlib_stored(rows.tobytes()))
        + _chunk(b"IEND", b"")
    )


def write_png(path, pixels: np.ndarray) -> None:
    """Write ``pixels`` (``(H, W, 3)`` ``uint8``) as a PNG file at ``path``."""
    with open(path, "wb") as f:
        f.write(encode_png(pixels))
