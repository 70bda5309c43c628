"""The dataset fingerprint: one SHA-256 per packed split over its arrays' contents.

Two sites that rebuilt the same data compare one line of ``results/pack/fingerprint.tsv`` (or of
``recon fingerprint results/``). The digest covers what a model sees: every array's name, dtype,
shape and values. It leaves out how they are stored and where they came from: compression,
chunking, sharding, attributes, provenance, package versions, paths and times. So it is the same
for two runs of the same config on any machine, and changes with any value of any packed array.

Definitions (``sha256`` of UTF-8 text; lines end with ``\\n``):

- **array digest**: SHA-256 of ``<name>\\n<dtype>\\n<shape>\\n`` followed by the values in C order,
  little-endian (``dtype`` as NumPy's little-endian ``str``, e.g. ``<f4``, ``|b1``; string arrays are
  ``string`` and each value is its UTF-8 bytes preceded by their length as little-endian uint64;
  ``shape`` as comma-separated sizes);
- **stage digest**: SHA-256 of the lines ``<name>\\t<array digest>`` of the arrays one stage produced,
  sorted by name. The stage of an array is its ``stage`` attribute, set by the pack
  (``index``: the ids of the packed shapes; ``render``, ``sdf``, ``voxelize``: the per-shape stores
  the array comes from; docs/data_format.md §5.5);
- **split digest** (stage ``all``): SHA-256 of the lines ``<stage>\\t<stage digest>``, sorted by stage;
- **dataset digest** (split ``all``, stage ``all``): SHA-256 of the lines ``<split>\\t<split digest>``
  in the order train, val, test.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import zarr

from recon.io.store import open_store
from recon.io.tables import format_value, write_tsv

__all__ = [
    "FINGERPRINT_COLUMNS",
    "array_digest",
    "fingerprint_rows",
    "format_rows",
    "store_fingerprint",
    "write_fingerprint",
]

#: Columns of results/pack/fingerprint.tsv.
FINGERPRINT_COLUMNS = ("split", "stage", "arrays", "sha256")
#: Split order of the dataset digest.
SPLIT_ORDER = ("train", "val", "test")


def _sha256_lines(lines: Iterable[str]) -> str:
    return hashlib.sha256("".join(f"{line}\n" for line in lines).encode("utf-8")).hexdigest()


def array_digest(name: str, array: zarr.Array) -> str:
    """SHA-256 of one array's name, dtype, shape and values (module docstring).

    Reads the array one chunk row (along its first axis) at a time, so memory stays at one chunk row.
    """
    strings = array.dtype.kind in "OTU"
    dtype = "string" if strings else np.dtype(array.dtype).newbyteorder("<").str
    h = hashlib.sha256(f"{name}\n{dtype}\n{','.join(map(str, array.shape))}\n".encode())
    if array.ndim == 0:
        blocks: Iterable[np.ndarray] = [np.asarray(array[...]).reshape(1)]
    else:
        step = max(1, int(array.chunks[0]))
        blocks = (np.asarray(array[i : i + step]) for i in range(0, array.shape[0], step))
    for block in blocks:
        if strings:
            for value in block.reshape(-1):
                data = str(value).encode("utf-8")
                h.update(len(data).to_bytes(8, "little") + data)
        else:
            block = np.ascontiguousarray(block, dtype=np.dtype(dtype))
            h.update(block.reshape(-1).view(np.uint8))
    return h.hexdigest()


def _arrays(group: zarr.Group, prefix: str = "") -> Iterable[tuple[str, zarr.Array]]:
    for name, member in sorted(group.members()):
        if isinstance(member, zarr.Array):
            yield f"{prefix}{name}", member
        else:
            yield from _arrays(member, f"{prefix}{name}/")


def store_fingerprint(path: Path | str) -> dict:
    """The digests of one packed split store.

    Returns:
        ``{"split": name, "sha256": split digest, "stages": {stage: {"sha256": stage digest,
        "arrays": {array name: array digest}}}}``.

    Raises:
        ValueError: an array has no ``stage`` attribute (a store packed before the fingerprint
            existed: pack it again).
    """
    root = open_store(path)
    stages: dict[str, dict[str, str]] = {}
    for name, array in _arrays(root):
        stage = array.attrs.get("stage")
        if not stage:
            raise ValueError(f"{path}: array {name} has no 'stage' attribute; pack the split again")
        stages.setdefault(str(stage), {})[name] = array_digest(name, array)
    out = {
        stage: {"sha256": _sha256_lines(f"{n}\t{d}" for n, d in sorted(arrays.items())), "arrays": arrays}
        for stage, arrays in sorted(stages.items())
    }
    return {
        "split": str(root.attrs["pack"]["split"]),
        "sha256": _sha256_lines(f"{stage}\t{s['sha256']}" for stage, s in out.items()),
        "stages": out,
    }


def fingerprint_rows(stores: Sequence[Path | str]) -> list[dict]:
    """Rows of the fingerprint table (:data:`FINGERPRINT_COLUMNS`) of the packed split stores.

    Per split: one row per stage, then the split's row (stage ``all``); last the dataset's row
    (split ``all``, stage ``all``) over the splits given.
    """
    prints = [store_fingerprint(p) for p in stores]
    order = {s: i for i, s in enumerate(SPLIT_ORDER)}
    prints.sort(key=lambda f: (order.get(f["split"], len(order)), f["split"]))
    names = [f["split"] for f in prints]
    if len(set(names)) != len(names):
        raise ValueError(f"two stores of the same split among {[str(p) for p in stores]}")
    rows = []
    for f in prints:
        for stage, s in f["stages"].items():
            rows.append(
                {"split": f["split"], "stage": stage, "arrays": len(s["arrays"]), "sha256": s["sha256"]}
            )
        count = sum(len(s["arrays"]) for s in f["stages"].values())
        rows.append({"split": f["split"], "stage": "all", "arrays": count, "sha256": f["sha256"]})
    rows.append(
        {
            "split": "all",
            "stage": "all",
            "arrays": sum(r["arrays"] for r in rows if r["stage"] == "all"),
            "sha256": _sha256_lines(f"{f['split']}\t{f['sha256']}" for f in prints),
        }
    )
    return rows


def format_rows(rows: Sequence[Mapping]) -> str:
    """The table as text, exactly as :func:`write_fingerprint` writes it."""
    lines = ["\t".join(FINGERPRINT_COLUMNS)]
    lines += ["\t".join(format_value(r[c]) for c in FINGERPRINT_COLUMNS) for r in rows]
    return "\n".join(lines) + "\n"


def write_fingerprint(stores: Sequence[Path | str], out_tsv: Path | str) -> list[dict]:
    """Write ``results/pack/fingerprint.tsv`` for the packed split stores; returns its rows."""
    rows = fingerprint_rows(stores)
    write_tsv(out_tsv, rows, FINGERPRINT_COLUMNS)
    return rows
