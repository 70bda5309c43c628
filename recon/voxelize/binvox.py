"""Read and write ``.binvox`` files (Patrick Min's binvox format, 3D-R2N2's ``model.binvox``).

The format: an ASCII header ::

    #binvox 1
    dim D D D
    translate tx ty tz
    scale s
    data

then run-length pairs of bytes ``(value, count)``, count 1..255, over the D^3 voxels in binvox's
order: **y runs fastest, then z, then x** (index = x·D² + z·D + y). Voxel ``(x, y, z)`` covers
``translate + s · [x, x+1] / D`` (and likewise y, z): ``scale`` is the cube's edge length. recon's
grids are (n, n, n) arrays in x, y, z order (:mod:`recon.geometry.voxels`), so a grid over
``[-h, h]^3`` is written with translate ``(-h, -h, -h)`` and scale ``2h``. (3D-R2N2's readers,
``binvox_rw.read_as_3d_array``, return the same (x, y, z) array.)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from recon.io.atomic import atomic_write_bytes

__all__ = ["read_binvox", "write_binvox"]


def _runs(flat: np.ndarray) -> bytes:
    """Run-length pairs (value, count <= 255) of a 1-D uint8 array of 0/1."""
    if flat.size == 0:
        return b""
    change = np.flatnonzero(np.diff(flat)) + 1
    starts = np.concatenate([[0], change])
    lengths = np.diff(np.concatenate([starts, [flat.size]]))
    values = flat[starts]
    pairs = []
    for value, length in zip(values.tolist(), lengths.tolist(), strict=True):
        full, rest = divmod(length, 255)
        pairs.extend([value, 255] * full)
        if rest:
            pairs.extend([value, rest])
    return bytes(pairs)


def write_binvox(path: Path | str, voxels: np.ndarray, half_extent: float) -> None:
    """Write an (n, n, n) bool grid over ``[-half_extent, half_extent]^3`` as a binvox file (atomically)."""
    voxels = np.asarray(voxels, dtype=bool)
    n = voxels.shape[0]
    if voxels.shape != (n, n, n):
        raise ValueError(f"binvox needs a cubic grid, got shape {voxels.shape}")
    h = float(half_extent)
    header = f"#binvox 1\ndim {n} {n} {n}\ntranslate {-h!r} {-h!r} {-h!r}\nscale {2 * h!r}\ndata\n"
    body = _runs(voxels.transpose(0, 2, 1).reshape(-1).astype(np.uint8))
    atomic_write_bytes(path, header.encode("ascii") + body)


def read_binvox(path: Path | str) -> tuple[np.ndarray, np.ndarray, float]:
    """Read a binvox file.

    Returns:
        ``(voxels, translate, scale)``: (D, D, D) bool in x, y, z order, (3,) float64, float.
    """
    raw = Path(path).read_bytes()
    header_end = raw.index(b"data\n") + len(b"data\n")
    fields = {}
    for line in raw[:header_end].decode("ascii").splitlines():
        key, *values = line.split()
        fields[key] = values
    if fields.get("#binvox") != ["1"]:
        raise ValueError(f"{path}: not a binvox 1 file")
    dims = [int(d) for d in fields["dim"]]
    pairs = np.frombuffer(raw[header_end:], dtype=np.uint8).reshape(-1, 2)
    flat = np.repeat(pairs[:, 0], pairs[:, 1].astype(np.int64)).astype(bool)
    if flat.size != np.prod(dims):
        raise ValueError(f"{path}: {flat.size} voxels in the data, header says {dims}")
    dx, dy, dz = dims
    voxels = flat.reshape(dx, dz, dy).transpose(0, 2, 1)
    return voxels, np.array([float(t) for t in fields["translate"]]), float(fields["scale"][0])
