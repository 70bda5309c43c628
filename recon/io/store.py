"""Zarr v3 stores: written atomically by one job, with provenance in the root attributes.

The layout of every store is the contract in ``docs/data_format.md``. This module holds the
mechanics shared by all stages: create a store under a temporary name and rename it when
complete (:func:`write_store`), add arrays with dimension names (:func:`write_array`),
record provenance (:func:`provenance`) and open stores for reading (:func:`open_store`).
"""

from __future__ import annotations

import platform
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import zarr

import recon
from recon.config import config_digest, plain
from recon.io.atomic import atomic_path

__all__ = ["FORMAT_VERSION", "open_store", "provenance", "write_array", "write_store"]

#: Version of docs/data_format.md that a store follows; bumped on incompatible changes.
FORMAT_VERSION = 1

_PACKAGES = ("numpy", "scipy", "trimesh", "zarr")

# Snakemake marks directory outputs (our stores) with a `.snakemake_timestamp` file, which
# zarr reports when listing a group. It is expected and harmless.
warnings.filterwarnings("ignore", message="Object at .snakemake_timestamp is not recognized")


def package_versions(extra: Sequence[str] = ()) -> dict[str, str]:
    """Versions of Python, recon and the packages that shape the data (plus ``extra``)."""
    versions = {"python": platform.python_version(), "recon": recon.__version__}
    for name in (*_PACKAGES, *extra):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def provenance(
    stage: str, config: Mapping[str, Any], seed: int | None, source_sha256: str | None = None
) -> dict[str, Any]:
    """The ``provenance`` attribute every store carries.

    Args:
        stage: the stage that wrote the store (``ingest``, ``render``, ...).
        config: the config keys that determine the store's content, recorded with their keys sorted
            at every level; never a machine path (``source.path`` is not recorded anywhere).
        seed: the project seed, or None for a stage without random draws (ingest).
        source_sha256: SHA-256 of the raw mesh file the store derives from, if any.

    Returns:
        JSON-serializable dict with ``format_version``, ``stage``, ``seed``, ``config``,
        ``config_digest``, ``source_sha256`` and ``packages``. Nothing time- or machine-path
        dependent goes in, and no key order of the config file, so two runs write identical bytes.
    """
    config = plain(config)
    return {
        "format_version": FORMAT_VERSION,
        "stage": stage,
        "seed": None if seed is None else int(seed),
        "config": config,
        "config_digest": config_digest(config),
        "source_sha256": source_sha256,
        "packages": package_versions(),
    }


@contextmanager
def write_store(path: Path | str, attributes: Mapping[str, Any]) -> Iterator[zarr.Group]:
    """Create a Zarr v3 group store at ``path`` atomically and yield its root group.

    The store is built under a temporary sibling name and renamed onto ``path`` when the
    ``with`` block ends without an exception; an existing store at ``path`` is replaced. The
    attributes are written with their keys sorted at every level (:func:`recon.config.plain`).
    """
    with atomic_path(path) as tmp:
        root = zarr.open_group(str(tmp), mode="w", zarr_format=3, attributes=plain(attributes))
        yield root


def write_array(
    group: zarr.Group,
    name: str,
    data: np.ndarray,
    dimension_names: Sequence[str],
    chunks: Sequence[int] | None = None,
    attributes: Mapping[str, Any] | None = None,
    compressors: Any = "auto",
) -> zarr.Array:
    """Write ``data`` as array ``name`` of ``group`` (dtype kept as given).

    Args:
        group: destination group.
        name: array path inside ``group`` (``"mesh/vertices"`` creates the subgroup).
        data: the array; its dtype is the stored dtype.
        dimension_names: one name per axis, e.g. ``("vertex", "xyz")``.
        chunks: chunk shape; None = one chunk for the whole array.
        attributes: array attributes (units, frame, ...).
        compressors: Zarr v3 bytes-to-bytes codecs; ``"auto"`` = Zarr's default (zstd).
    """
    data = np.ascontiguousarray(data)
    chunk_shape = tuple(chunks) if chunks is not None else tuple(max(1, n) for n in data.shape)
    array = group.create_array(
        name,
        shape=data.shape,
        dtype=data.dtype,
        chunks=chunk_shape,
        dimension_names=tuple(dimension_names),
        attributes=plain(attributes or {}),
        fill_value=0,
        compressors=compressors,
    )
    if data.size:
        array[...] = data
    return array


def open_store(path: Path | str) -> zarr.Group:
    """Open a store read-only."""
    return zarr.open_group(str(path), mode="r", zarr_format=3)
