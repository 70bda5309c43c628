"""Direct chunk reads from the sharded arrays of a packed store, for the training loader.

zarr-python spends ~3 ms of fixed cost on every read (its async machinery), which caps a loader at
a few hundred items per second whatever the data. The packed stores use one codec pipeline only
(``recon.pack.stage``): a ``sharding_indexed`` codec, index at the end (little-endian uint64
offset/length pairs plus a CRC32C), inner chunks encoded by ``bytes`` (little endian), then
``zstd`` or nothing (uncompressed arrays). :class:`ShardedArray` reads exactly that layout from the
files: it opens a shard once, keeps its index, and then costs one ``pread`` (and one zstd
decompression) per chunk, about 5 µs plus the decompression. It refuses any other layout (use zarr
for those); tests check it against zarr's own reads.

File handles belong to the process that opened them: a reader carried into a DataLoader worker
(fork or spawn) reopens its files on first use there.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

__all__ = ["ShardedArray", "array_metadata"]

_EMPTY = np.uint64(2**64 - 1)


def array_metadata(store: Path | str) -> dict[str, dict]:
    """{array path: zarr.json metadata} of every array in a store with consolidated metadata."""
    root = json.loads((Path(store) / "zarr.json").read_text())
    meta = root.get("consolidated_metadata", {}).get("metadata")
    if meta is None:
        raise ValueError(f"{store} has no consolidated metadata: is it a packed store?")
    return {name: m for name, m in meta.items() if m.get("node_type") == "array"}


class ShardedArray:
    """Read-only chunk access to one sharded array of a packed store.

    Args:
        store: the store's root folder.
        name: the array's path inside the store (``"views/rgba"``).
        metadata: its ``zarr.json`` content (from :func:`array_metadata`).

    Raises:
        ValueError: the array does not use the packed stores' codec pipeline.
    """

    def __init__(self, store: Path | str, name: str, metadata: dict):
        self.path = Path(store) / name
        self.name = name
        self.shape = tuple(metadata["shape"])
        self.dtype = np.dtype(metadata["data_type"] if metadata["data_type"] != "bool" else "bool")
        self.fill_value = metadata["fill_value"]
        codecs = metadata["codecs"]
        sep = metadata["chunk_key_encoding"]["configuration"].get("separator", "/")
        if (
            len(codecs) != 1
            or codecs[0]["name"] != "sharding_indexed"
            or metadata["chunk_key_encoding"]["name"] != "default"
            or sep != "/"
        ):
            raise ValueError(f"{name}: not a sharded array of a packed store")
        conf = codecs[0]["configuration"]
        inner = [c["name"] for c in conf["codecs"]]
        index = [c["name"] for c in conf["index_codecs"]]
        endian = [c.get("configuration", {}).get("endian", "little") for c in conf["codecs"][:1]]
        if (
            inner not in (["bytes"], ["bytes", "zstd"])
            or index != ["bytes", "crc32c"]
            or conf["index_location"] != "end"
        ):
            raise ValueError(f"{name}: codecs {inner} / index {index} are not the packed stores' pipeline")
        if endian != ["little"]:
            raise ValueError(f"{name}: big-endian chunks are not supported")
        self.shard_shape = tuple(metadata["chunk_grid"]["configuration"]["chunk_shape"])
        self.chunk_shape = tuple(conf["chunk_shape"])
        self.per_shard = tuple(s // c for s, c in zip(self.shard_shape, self.chunk_shape, strict=True))
        self.compressed = inner == ["bytes", "zstd"]
        self._le_dtype = self.dtype.newbyteorder("<")
        # Leading axes chunked one element at a time, and the first axis after which every axis is
        # whole in a chunk (reads may split only the axis right after the indexed ones).
        self._unit_lead = next((i for i, c in enumerate(self.chunk_shape) if c != 1), len(self.shape))
        self._first_split = next(
            (i for i in range(len(self.shape), 0, -1) if self.chunk_shape[i - 1] != self.shape[i - 1]), 0
        )
        self.chunk_bytes = int(np.prod(self.chunk_shape)) * self.dtype.itemsize
        # Row-major strides of a chunk's position inside its shard (the shard index order).
        self._local_strides = tuple(int(np.prod(self.per_shard[i + 1 :])) for i in range(len(self.per_shard)))
        self._pid = None
        self._files = {}
        self._indexes = {}
        self._zstd = None

    def __getstate__(self):
        state = dict(self.__dict__)
        state.update(_pid=None, _files={}, _indexes={}, _zstd=None)
        return state

    def _reset_if_forked(self):
        if self._pid != os.getpid():  # a new process (DataLoader worker): its own file handles
            self._pid = os.getpid()
            self._files, self._indexes = {}, {}
            import zstandard

            self._zstd = zstandard.ZstdDecompressor()

    def _shard(self, coords: tuple[int, ...]):
        """(file descriptor, (chunks, 2) uint64 index) of the shard at shard coordinates, or None."""
        if coords not in self._indexes:
            path = self.path.joinpath("c", *map(str, coords))
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                self._indexes[coords] = None
                return None
            n = int(np.prod(self.per_shard))
            size = os.fstat(fd).st_size
            raw = os.pread(fd, 16 * n + 4, size - 16 * n - 4)
            self._files[coords] = fd
            self._indexes[coords] = np.frombuffer(raw[: 16 * n], dtype="<u8").reshape(n, 2)
        index = self._indexes[coords]
        return None if index is None else (self._files[coords], index)

    def chunk(self, coords: tuple[int, ...]) -> np.ndarray:
        """The decoded chunk at chunk coordinates ``coords``; its full chunk shape (edges padded)."""
        if self._pid != os.getpid():
            self._reset_if_forked()
        shard, local = [], 0
        for c, p, s in zip(coords, self.per_shard, self._local_strides, strict=True):
            q, r = divmod(c, p)
            shard.append(q)
            local += r * s
        found = self._shard(tuple(shard))
        if found is not None:
            fd, index = found
            offset, nbytes = index[local]
            if offset != _EMPTY:
                data = os.pread(fd, int(nbytes), int(offset))
                if self.compressed:
                    data = self._zstd.decompress(data, max_output_size=self.chunk_bytes)
                return np.frombuffer(data, dtype=self._le_dtype).reshape(self.chunk_shape)
        return np.full(self.chunk_shape, self.fill_value, dtype=self.dtype)

    def read(self, lead: tuple[int, ...], start: int | None = None, stop: int | None = None) -> np.ndarray:
        """Elements ``[*lead, start:stop]`` (all of the remaining axes).

        Args:
            lead: indices of the leading axes, each of which must have chunk size 1
                (shape, or shape and view).
            start, stop: range along the next axis (default: all of it); it may span chunks.

        Returns:
            Array of shape ``(stop - start, *rest)`` (or the remaining axes' shape), C-contiguous.
        """
        k = len(lead)
        if k > self._unit_lead:
            raise ValueError(f"{self.name}: axes {list(range(k))} are not chunked one element at a time")
        for i, n in zip(lead, self.shape[:k], strict=True):
            if not 0 <= i < n:
                raise IndexError(f"{self.name}: index {lead} out of bounds for shape {self.shape}")
        if k == len(self.shape):
            return self.chunk(tuple(lead)).reshape(())
        if k < self._first_split - 1:
            raise ValueError(f"{self.name}: trailing axes are chunked; read them with zarr")
        n = self.shape[k]
        start = 0 if start is None else start
        stop = n if stop is None else stop
        if not 0 <= start <= stop <= n:
            raise IndexError(f"{self.name}: range [{start}, {stop}) out of bounds for axis of {n}")
        size = self.chunk_shape[k]
        tail = (0,) * (len(self.shape) - k - 1)
        first, last = start // size, (stop - 1) // size
        if stop == start:
            return np.zeros((0, *self.shape[k + 1 :]), dtype=self.dtype)
        if first == last:  # one chunk: the common case
            block = self.chunk((*lead, first, *tail))[(0,) * k]
            return block[start - first * size : stop - first * size].copy()
        parts = []
        for c in range(first, last + 1):
            block = self.chunk((*lead, c, *tail))[(0,) * k]
            parts.append(block[max(start - c * size, 0) : min(stop - c * size, size)])
        return np.concatenate(parts)

    def close(self) -> None:
        """Close the open shard files (of this process)."""
        if self._pid == os.getpid():
            for fd in self._files.values():
                os.close(fd)
        self._files, self._indexes = {}, {}
