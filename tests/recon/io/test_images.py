"""recon.io.images: PNG files (compressed and stored), colour encoding and contact sheets."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from recon.io.images import contact_sheet, encode_png, srgb_encode, to_rgba8, write_png


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(tag, body) of every chunk of a PNG file, CRCs checked."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        tag, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(tag + body) & 0xFFFFFFFF
        chunks.append((tag, body))
        pos += 12 + length
    return chunks


@pytest.mark.parametrize("stored", [False, True])
@pytest.mark.parametrize("shape", [(5, 7), (5, 7, 3), (5, 7, 4), (300, 200, 3)])
def test_png_round_trip(tmp_path, stored, shape):
    image = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    path = write_png(tmp_path / "a.png", image, stored=stored)
    with Image.open(path) as decoded:
        np.testing.assert_array_equal(np.asarray(decoded), image)
    assert path.read_bytes() == encode_png(image, stored=stored)
    assert [tag for tag, _ in _chunks(path.read_bytes())][-1] == b"IEND"


def test_stored_png_layout():
    """One IDAT of stored deflate blocks, filter type 0 on every row: no compressor in the bytes."""
    image = np.random.default_rng(1).integers(0, 256, (300, 200, 3), dtype=np.uint8)  # > 64 KiB raw
    chunks = _chunks(encode_png(image, stored=True))
    assert [tag for tag, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    assert struct.unpack(">IIBBBBB", chunks[0][1]) == (200, 300, 8, 2, 0, 0, 0)
    idat = chunks[1][1]
    assert idat[:2] == b"\x78\x01" and idat[2] == 0  # first block: stored, not final
    raw = zlib.decompress(idat)
    assert len(idat) == 2 + len(raw) + 5 * -(-len(raw) // 65535) + 4
    rows = np.frombuffer(raw, np.uint8).reshape(300, 1 + 3 * 200)
    assert (rows[:, 0] == 0).all()
    np.testing.assert_array_equal(rows[:, 1:].reshape(image.shape), image)


def test_png_dtypes_and_errors(tmp_path):
    grey = np.asarray(Image.open(write_png(tmp_path / "b.png", np.array([[0.0, 0.5, 1.0]]))))
    np.testing.assert_array_equal(grey, [[0, 128, 255]])
    mask = np.asarray(Image.open(io.BytesIO(encode_png(np.array([[True, False]]), stored=True))))
    np.testing.assert_array_equal(mask, [[255, 0]])
    for bad in (np.zeros((2, 2, 2)), np.zeros((0, 3, 3), np.uint8), np.zeros((2, 2), np.int32)):
        for stored in (False, True):
            with pytest.raises(ValueError):
                encode_png(bad, stored=stored)


def test_colour_encoding():
    np.testing.assert_allclose(srgb_encode([-1.0, 0.0, 0.0031308, 0.5, 1.0, 2.0])[[0, 1, 4, 5]], [0, 0, 1, 1])
    assert abs(srgb_encode(0.5) - 0.7354) < 1e-4
    rgba = np.array([[[0.25, 0.0, 0.0, 0.5], [0.3, 0.3, 0.3, 0.0]]])  # premultiplied
    np.testing.assert_array_equal(to_rgba8(rgba), [[[188, 0, 0, 128], [0, 0, 0, 0]]])


def test_contact_sheet():
    """Rows RGB on white, depth (near dark), normals, albedo; white background; max_views columns."""
    h, w, views = 4, 3, 5
    mask = np.zeros((views, h, w), bool)
    mask[:, 1:3, 1] = True
    rgba = np.zeros((views, h, w, 4), np.uint8)
    rgba[mask] = (255, 0, 0, 255)
    depth = np.where(mask, np.arange(h)[None, :, None] + 1.0, 0.0)
    normal = np.where(mask[..., None], np.array([0.0, 1.0, 0.0]), 0.0)
    albedo = np.where(mask[..., None], np.array([1.0, 0.0, 0.0]), 0.0)
    sheet = contact_sheet(rgba, depth, normal, albedo, mask, max_views=3)
    assert sheet.shape == (4 * h, 3 * w, 3) and sheet.dtype == np.uint8
    rgb, grey, nrm, alb = (sheet[i * h : (i + 1) * h, :w] for i in range(4))
    assert (rgb[~mask[0]] == 255).all() and (rgb[mask[0]] == (255, 0, 0)).all()
    assert tuple(grey[1, 1]) == (38, 38, 38) and tuple(grey[2, 1]) == (242, 242, 242)
    assert (nrm[mask[0]] == (128, 255, 128)).all() and (alb[mask[0]] == (255, 0, 0)).all()
    assert (grey[~mask[0]] == 255).all()
