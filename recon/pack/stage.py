"""Pack the per-shape stores of one split into one sharded Zarr v3 store, with integrity checks.

``results/pack/<split>.zarr`` holds every shape of the split that passed ingest and the SDF checks,
sorted by (category, shape_id), stacked along a leading ``shape`` axis (layout and meaning of every
array: ``docs/data_format.md`` §5.5). Each shape (or each view of a shape) is one chunk, so a loader
reads one item with one chunk read per array; chunks are grouped into shards of
``pack.shard_shapes`` shapes, so a split of 30,000 shapes is a few thousand files, not millions.
Point sets are stored in a seeded random order (``rng(seed, "pack", category, shape_id, group)``),
chunked by ``pack.point_chunk`` points: any contiguous window is a uniform random subset, which is
how the loader draws fixed-size subsets with one or two chunk reads.

Checks while packing (a failure stops the job with a message naming the shape and array):
every shape of the split is packed or listed as quarantined with its stage and reason; every
array has the dtype of the contract and the same shape for all shapes; no float array holds a NaN
or infinity.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import zarr

from recon.config import plain
from recon.io.atomic import atomic_path
from recon.io.store import open_store, provenance
from recon.io.tables import read_tsv, write_tsv
from recon.seeding import rng

__all__ = ["PACK_ARRAY_COLUMNS", "PACK_SUMMARY_COLUMNS", "PackShape", "pack_split", "split_shapes"]

log = logging.getLogger(__name__)

#: Columns of results/pack/<split>.tsv (one row per category, then ``all``).
PACK_SUMMARY_COLUMNS = ("category", "category_name", "shapes", "views", "quarantined", "stored_bytes")
#: Columns of results/pack/<split>_arrays.tsv (one row per array).
PACK_ARRAY_COLUMNS = (
    "array",
    "shape",
    "dtype",
    "chunks",
    "shards",
    "stored_bytes",
    "uncompressed_bytes",
    "ratio",
    "stored_bytes_per_shape",
)

#: Elements per chunk and chunks per shard of the ragged (concatenated) arrays.
RAGGED_CHUNK = 65536
RAGGED_SHARD_CHUNKS = 64


@dataclass(frozen=True)
class PackShape:
    """One shape to pack: its ids and the paths of its per-shape stores."""

    category: str
    category_name: str
    shape_id: str
    render: str
    sdf: str
    voxelize: str


def split_shapes(
    split: str, ingest_ledger: Path | str, sdf_ledger: Path | str
) -> tuple[list[dict], list[dict]]:
    """The shapes of ``split``: those to pack and those quarantined, each sorted by (category, id).

    Returns:
        ``(ok, quarantined)``: ``ok`` rows have ``category``, ``category_name``, ``shape_id``;
        ``quarantined`` rows also ``stage`` (``ingest`` or ``sdf``) and ``reason``.
    """
    ingest = [r for r in read_tsv(ingest_ledger) if r["split"] == split]
    sdf = {(r["category"], r["shape_id"]): r for r in read_tsv(sdf_ledger) if r["split"] == split}
    ok, quarantined = [], []
    for row in sorted(ingest, key=lambda r: (r["category"], r["shape_id"])):
        key = (row["category"], row["shape_id"])
        ids = {
            "category": row["category"],
            "category_name": row["category_name"],
            "shape_id": row["shape_id"],
        }
        if row["status"] != "ok":
            quarantined.append({**ids, "stage": "ingest", "reason": row["reason"]})
        elif key not in sdf:
            raise ValueError(f"{key[0]}/{key[1]} passed ingest but is not in the SDF ledger {sdf_ledger}")
        elif sdf[key]["status"] != "ok":
            quarantined.append({**ids, "stage": "sdf", "reason": sdf[key]["reason"]})
        else:
            ok.append(ids)
    return ok, quarantined


@dataclass(frozen=True)
class _Entry:
    """A packed per-shape array: where it comes from and how it is laid out."""

    name: str
    store: str  # "render" | "sdf" | "voxelize"
    source: str  # array path in that store
    dtype: str
    dims: tuple[str, ...]  # dimension names after the leading "shape" axis
    per_view: bool = False  # chunk one view at a time
    points: str | None = None  # permutation group: chunk along the point axis
    compress: bool = True  # zstd; off where it saves < 10 % (random float32) and only slows reads
    transform: Callable[[np.ndarray, Mapping], np.ndarray] | None = None
    from_attrs: bool = False  # ``transform(None, attrs)`` of the source's attributes; its data is not read


def _unpack_occupancy(bits: np.ndarray, attrs: Mapping) -> np.ndarray:
    return np.unpackbits(bits, count=int(attrs["count"]), bitorder="big").astype(bool)


def _grid_box(_, attrs: Mapping) -> np.ndarray:
    """(2, 3) float32 ``[lo, hi]`` of an SDF grid's attributes (a number stands for all three axes)."""
    box = np.array([attrs["lo"], attrs["hi"]], dtype=np.float32).reshape(2, -1)
    return np.broadcast_to(box, (2, 3)).copy()


def _entries(cfg: Mapping, voxelize_root: zarr.Group, render_root: zarr.Group) -> list[_Entry]:
    """The per-shape arrays of the packed store, from the config and a first shape's stores."""
    image = {"rgba": ("uint8", ("y", "x", "rgba")), "mask": ("bool", ("y", "x"))}
    image |= {"depth": ("float32", ("y", "x")), "normal": ("float16", ("y", "x", "xyz"))}
    image |= {"albedo": ("float16", ("y", "x", "rgb"))}
    entries = [
        _Entry(f"views/{p}", "render", f"views/{p}", image[p][0], ("view", *image[p][1]), per_view=True)
        for p in cfg["views"]
    ]
    for name, arr in sorted(render_root["cameras"].arrays()):
        dims = ("view", *(arr.metadata.dimension_names or ())[1:])
        entries.append(
            _Entry(
                f"cameras/{name}",
                "render",
                f"cameras/{name}",
                str(arr.dtype),
                dims,
                per_view=True,
                compress=False,
            )
        )
    pts = ("point", "xyz")
    raw = {"compress": False}
    entries += [
        _Entry(
            "sdf/gaussian/points", "sdf", "samples/gaussian/points", "float32", pts, points="gaussian", **raw
        ),
        _Entry(
            "sdf/gaussian/sdf", "sdf", "samples/gaussian/sdf", "float32", ("point",), points="gaussian", **raw
        ),
        _Entry("sdf/disn/points", "sdf", "samples/disn/points", "float32", pts, points="disn", **raw),
        _Entry("sdf/disn/sdf", "sdf", "samples/disn/sdf", "float32", ("point",), points="disn", **raw),
        _Entry("surface/points", "sdf", "samples/surface/points", "float32", pts, points="surface", **raw),
        _Entry("surface/normals", "sdf", "samples/surface/normals", "float16", pts, points="surface"),
        _Entry("occupancy/points", "sdf", "samples/occupancy/points", "float16", pts, points="occupancy"),
        _Entry(
            "occupancy/occupied",
            "sdf",
            "samples/occupancy/occupied",
            "bool",
            ("point",),
            points="occupancy",
            transform=_unpack_occupancy,
        ),
    ]
    if cfg["sdf_grid"]:
        entries.append(_Entry("sdf/grid", "sdf", "grid/sdf", "float32", ("x", "y", "z")))
        # Each shape's own box: under sdf.grid.box = disn every shape has another.
        box = {"compress": False, "transform": _grid_box, "from_attrs": True}
        entries.append(_Entry("sdf/grid_box", "sdf", "grid/sdf", "float32", ("bound", "xyz"), **box))
    for n in sorted(voxelize_root["voxels"].group_keys(), key=int):
        for kind in ("solid", "surface"):
            entries.append(
                _Entry(f"voxels/{n}/{kind}", "voxelize", f"voxels/{n}/{kind}", "bool", ("x", "y", "z"))
            )
    entries.append(_Entry("spherical/full", "voxelize", "spherical/full", "float32", ("polar", "azimuth")))
    for name in ("partial", "view_full", "view_partial"):  # view_*: with voxelize.view_aligned.enabled
        if name in voxelize_root["spherical"]:
            dims = ("view", "polar", "azimuth")
            entries.append(
                _Entry(f"spherical/{name}", "voxelize", f"spherical/{name}", "float32", dims, per_view=True)
            )
    if "views" in voxelize_root and "voxels" in voxelize_root["views"]:
        dims = ("view", "x_view", "y_view", "z_view")
        entries.append(_Entry("views/voxels", "voxelize", "views/voxels", "bool", dims, per_view=True))
    return entries


def _ragged_entries(voxelize_root: zarr.Group) -> list[tuple[str, str, str, str, tuple[str, ...]]]:
    """(name, store, source, dtype, dims) of the per-shape arrays of varying length."""
    out = [
        ("mesh/vertices", "sdf", "mesh/vertices", "float32", ("vertex", "xyz")),
        ("mesh/faces", "sdf", "mesh/faces", "int32", ("face", "corner")),
    ]
    levels = sorted(voxelize_root["octree"].group_keys(), key=lambda k: int(k.split("_")[1]))
    for level in levels:
        for name, arr in sorted(voxelize_root["octree"][level].arrays()):
            dims = tuple(arr.metadata.dimension_names)
            out.append((f"octree/{level}/{name}", "voxelize", f"octree/{level}/{name}", str(arr.dtype), dims))
    return out


class _Sources:
    """Opens each shape's stores once per shard block."""

    def __init__(self, shape: PackShape):
        self.shape = shape
        self._open = {}

    def root(self, store: str) -> zarr.Group:
        if store not in self._open:
            self._open[store] = open_store(getattr(self.shape, store))
        return self._open[store]

    def read(self, store: str, source: str, data: bool = True) -> tuple[np.ndarray | None, Mapping]:
        arr = self.root(store)[source]
        return (np.asarray(arr[...]) if data else None), dict(arr.attrs)


def _check(name: str, shape: PackShape, data: np.ndarray, dtype: str, expected: tuple | None) -> None:
    where = f"{shape.category}/{shape.shape_id}: {name}"
    if str(data.dtype) != dtype:
        raise ValueError(f"{where} has dtype {data.dtype}, the data contract says {dtype}")
    if expected is not None and data.shape != expected:
        raise ValueError(f"{where} has shape {data.shape}, other shapes have {expected}")
    if data.dtype.kind == "f" and not np.all(np.isfinite(data)):
        raise ValueError(f"{where} holds {int(np.sum(~np.isfinite(data)))} NaN or infinite values")


def _permutation(seed: int, shape: PackShape, group: str, count: int) -> np.ndarray:
    return rng(seed, "pack", shape.category, shape.shape_id, group).permutation(count)


def _write_stacked(
    root, entry: _Entry, shapes: Sequence[PackShape], sources, cfg: Mapping, seed: int
) -> None:
    """Write one per-shape array, a shard block of shapes at a time."""
    from zarr.codecs import ZstdCodec

    first, attrs = sources[0].read(entry.store, entry.source, data=not entry.from_attrs)
    # The packed array keeps the source attributes every shape shares (an SDF grid's box does not
    # hold for all shapes under sdf.grid.box = disn); an array made from attributes keeps none.
    shared = {} if entry.from_attrs else {k: v for k, v in attrs.items() if k not in ("count", "packing")}
    if entry.transform is not None:
        first = entry.transform(first, attrs)
    item = first.shape
    s = int(cfg["shard_shapes"])
    chunk = (1, *item)
    if entry.per_view:
        chunk = (1, 1, *item[1:])
    if entry.points is not None:
        chunk = (1, min(int(cfg["point_chunk"]), item[0]), *item[1:])
    shard = (s, *item)
    if entry.points is not None:  # a shard holds whole chunks: round the point axis up
        shard = (s, -(-item[0] // chunk[1]) * chunk[1], *item[1:])
    arr = root.create_array(
        entry.name,
        shape=(len(shapes), *item),
        dtype=entry.dtype,
        chunks=chunk,
        shards=shard,
        compressors=ZstdCodec(level=3) if entry.compress else None,
        fill_value=0,
        dimension_names=("shape", *entry.dims),
        attributes={"stage": entry.store},
    )
    for start in range(0, len(shapes), s):
        block = np.empty((min(s, len(shapes) - start), *item), dtype=entry.dtype)
        for i in range(len(block)):
            data, attrs = sources[start + i].read(entry.store, entry.source, data=not entry.from_attrs)
            shared = {k: v for k, v in shared.items() if attrs.get(k) == v}
            if entry.transform is not None:
                data = entry.transform(data, attrs)
            _check(entry.name, shapes[start + i], data, entry.dtype, item)
            if entry.points is not None:
                data = data[_permutation(seed, shapes[start + i], entry.points, len(data))]
            block[i] = data
        arr[start : start + len(block)] = block
    arr.attrs.update(plain(shared))


def _write_ragged(root, spec, shapes: Sequence[PackShape], sources) -> None:
    """Write one per-shape array of varying length: all shapes concatenated, plus offsets.

    Streams: the lengths come from the stores' metadata first, then whole shards are written as
    the shapes' rows arrive, so memory stays at one shard plus one shape whatever the split's size
    (a 30,000-shape split holds about 70 GB of mesh rows).
    """
    from zarr.codecs import ZstdCodec

    name, store, source, dtype, dims = spec
    arrays = [src.root(store)[source] for src in sources]  # metadata only; data is read below
    offsets = np.concatenate([[0], np.cumsum([a.shape[0] for a in arrays], dtype=np.int64)]).astype(np.int64)
    row = tuple(arrays[0].shape[1:]) if arrays else ()
    shard_rows = RAGGED_CHUNK * RAGGED_SHARD_CHUNKS
    arr = root.create_array(
        name,
        shape=(int(offsets[-1]), *row),
        dtype=dtype,
        chunks=(RAGGED_CHUNK, *row),
        shards=(shard_rows, *row),
        compressors=ZstdCodec(level=3),
        fill_value=0,
        dimension_names=dims,
        attributes={"stage": store},
    )
    pending: list[np.ndarray] = []
    written = buffered = 0
    for shape, array in zip(shapes, arrays, strict=True):
        data = np.asarray(array[...])
        _check(name, shape, data, dtype, None)
        if data.shape[1:] != row:
            where = f"{shape.category}/{shape.shape_id}: {name}"
            raise ValueError(f"{where} rows have shape {data.shape[1:]}, other shapes have {row}")
        pending.append(data)
        buffered += len(data)
        if buffered >= shard_rows:  # write the whole shards gathered so far, keep the rest
            block = np.concatenate(pending)
            full = (len(block) // shard_rows) * shard_rows
            arr[written : written + full] = block[:full]
            written += full
            pending, buffered = [block[full:]], len(block) - full
    if buffered:
        arr[written : written + buffered] = np.concatenate(pending)
    root.create_array(
        f"{name}_offsets",
        shape=(len(offsets),),
        dtype="int64",
        chunks=(len(offsets),),
        shards=(len(offsets),),
        compressors=ZstdCodec(level=3),
        fill_value=0,
        dimension_names=("shape_boundary",),
        attributes={"meaning": f"shape i's rows of {name} are [offsets[i], offsets[i + 1])", "stage": store},
    )[...] = offsets


def _stored_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and f.name != "zarr.json")


def pack_split(
    split: str,
    shapes: Sequence[PackShape],
    ingest_ledger: Path | str,
    sdf_ledger: Path | str,
    out_store: Path | str,
    summary_tsv: Path | str,
    arrays_tsv: Path | str,
    config: Mapping,
) -> dict:
    """Write the packed store of one split, its summary table and its per-array size table.

    Args:
        split: ``train``, ``val`` or ``test``.
        shapes: the shapes to pack with their stores, sorted by (category, shape_id).
        ingest_ledger, sdf_ledger: ``results/ingest/ledger.tsv`` and ``results/sdf/ledger.tsv``: the
            split's shapes must be exactly ``shapes`` plus those quarantined there
            (:func:`split_shapes`); the quarantined ones are listed in the store with stage and reason.
        out_store: ``results/pack/<split>.zarr`` (written atomically, consolidated metadata).
        summary_tsv: per category: shapes, views, quarantined, stored bytes (:data:`PACK_SUMMARY_COLUMNS`).
        arrays_tsv: per array: shape, dtype, chunks, shards, stored and uncompressed bytes.
        config: a mapping holding the config's ``seed`` and ``pack`` (all this reads and records).

    Returns:
        ``{"shapes": N, "quarantined": Q, "stored_bytes": B}``.

    Raises:
        ValueError: a shape of the split is neither given nor quarantined (or given but
            quarantined), a store is missing, or an array breaks the contract (dtype, shape, NaN).
    """
    cfg = config["pack"]
    seed = int(config["seed"])
    shapes = list(shapes)
    keys = [(s.category, s.shape_id) for s in shapes]
    if keys != sorted(keys) or len(set(keys)) != len(keys):
        raise ValueError("pack_split needs unique shapes sorted by (category, shape_id)")
    ok, quarantined = split_shapes(split, ingest_ledger, sdf_ledger)
    expected = [(r["category"], r["shape_id"]) for r in ok]
    if keys != expected:
        lost = sorted(set(expected) - set(keys))
        extra = sorted(set(keys) - set(expected))
        raise ValueError(
            f"{split}: shapes not packed nor quarantined {lost[:5]}; packed but not usable {extra[:5]}"
        )
    absent = [p for s in shapes for p in (s.render, s.sdf, s.voxelize) if not Path(p).is_dir()]
    if absent:
        raise ValueError(f"{split}: {len(absent)} per-shape stores missing, e.g. {absent[:3]}")
    sources = [_Sources(s) for s in shapes]
    categories = sorted(
        {(s.category, s.category_name) for s in shapes}
        | {(q["category"], q["category_name"]) for q in quarantined}
    )
    cat_index = {c: i for i, (c, _) in enumerate(categories)}
    views = 0
    stage_provenance = {}
    if shapes:
        for store in ("render", "sdf", "voxelize"):
            prov = dict(sources[0].root(store).attrs)["provenance"]
            stage_provenance[store] = {"config": prov["config"], "config_digest": prov["config_digest"]}
        views = int(sources[0].root("render")["cameras/K"].shape[0])
    ranges = []
    for c, name in categories:
        ranges.append(
            {
                "category": c,
                "category_name": name,
                "first": sum(s.category < c for s in shapes),
                "count": sum(s.category == c for s in shapes),
                "quarantined": sum(q["category"] == c for q in quarantined),
            }
        )
    attrs = {
        "pack": {
            "split": split,
            "shapes": len(shapes),
            "views": views,
            "categories": ranges,
            "quarantined": [dict(q) for q in quarantined],
            "point_order": "permuted by rng(seed, 'pack', category, shape_id, group)",
        },
        "stages": stage_provenance,
        "provenance": provenance("pack", {"seed": seed, "pack": cfg}, seed),
    }
    from zarr.codecs import ZstdCodec

    out_store = Path(out_store)
    with atomic_path(out_store) as tmp:
        root = zarr.open_group(str(tmp), mode="w", zarr_format=3, attributes=plain(attrs))
        n = max(1, len(shapes))
        index = {"stage": "index"}  # the stage each array comes from (recon.pack.fingerprint groups by it)
        for name, values in (
            ("index/category", [s.category for s in shapes]),
            ("index/shape_id", [s.shape_id for s in shapes]),
        ):
            root.create_array(
                name,
                shape=(len(shapes),),
                dtype=str,
                chunks=(n,),
                dimension_names=("shape",),
                attributes=index,
            )[...] = np.asarray(values, dtype=object)
        root.create_array(
            "index/category_index",
            shape=(len(shapes),),
            dtype="int32",
            chunks=(n,),
            shards=(n,),
            compressors=ZstdCodec(level=3),
            dimension_names=("shape",),
            attributes=index,
        )[...] = np.asarray([cat_index[s.category] for s in shapes], dtype=np.int32)
        if shapes:
            for entry in _entries(cfg, sources[0].root("voxelize"), sources[0].root("render")):
                _write_stacked(root, entry, shapes, sources, cfg, seed)
            for spec in _ragged_entries(sources[0].root("voxelize")):
                _write_ragged(root, spec, shapes, sources)
        zarr.consolidate_metadata(str(tmp))
        rows = _array_rows(tmp, len(shapes))
        total = _stored_bytes(tmp)
    write_tsv(arrays_tsv, rows, PACK_ARRAY_COLUMNS)
    summary = [
        {
            "category": r["category"],
            "category_name": r["category_name"],
            "shapes": r["count"],
            "views": r["count"] * views,
            "quarantined": r["quarantined"],
            "stored_bytes": "",
        }
        for r in ranges
    ]
    summary.append(
        {
            "category": "all",
            "category_name": "",
            "shapes": len(shapes),
            "views": len(shapes) * views,
            "quarantined": len(quarantined),
            "stored_bytes": total,
        }
    )
    write_tsv(summary_tsv, summary, PACK_SUMMARY_COLUMNS)
    log.info(
        "%s: packed %d shapes (%d quarantined), %.1f MB", split, len(shapes), len(quarantined), total / 1e6
    )
    return {"shapes": len(shapes), "quarantined": len(quarantined), "stored_bytes": total}


def _array_rows(path: Path, n_shapes: int) -> list[dict]:
    """One row per array of the store at ``path``: layout, stored and uncompressed bytes."""
    root = zarr.open_group(str(path), mode="r", zarr_format=3)
    rows = []

    def visit(group, prefix):
        for name, arr in sorted(group.arrays()):
            full = f"{prefix}{name}"
            stored = _stored_bytes(path / full)
            raw = int(np.prod(arr.shape)) * arr.dtype.itemsize if arr.dtype.kind != "O" else 0
            rows.append(
                {
                    "array": full,
                    "shape": list(arr.shape),
                    "dtype": str(arr.dtype),
                    "chunks": list(arr.chunks),
                    "shards": list(arr.shards) if arr.shards else "",
                    "stored_bytes": stored,
                    "uncompressed_bytes": raw,
                    "ratio": round(raw / stored, 2) if stored and raw else "",
                    "stored_bytes_per_shape": round(stored / n_shapes) if n_shapes else "",
                }
            )
        for name, sub in sorted(group.groups()):
            visit(sub, f"{prefix}{name}/")

    visit(root, "")
    return rows
