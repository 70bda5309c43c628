"""Ingestion: find the raw meshes, check each one, bring it into the canonical frame.

Three steps, each a Snakemake rule (``workflow/rules/ingest.smk``):

1. :func:`scan_sources` lists the selected shapes of the source with their split
   (``results/ingest/sources.tsv``);
2. :func:`ingest_shape` loads one mesh, measures it, and writes its store
   (``results/ingest/shapes/<category>/<shape_id>.zarr``): the normalized mesh and the
   transform for a usable shape, only the ledger entry for a quarantined one;
3. :func:`build_ledger` gathers every shape's entry into the ledger (all shapes, with the
   quality columns, ``status`` and ``reason``), the manifest (usable shapes only, what later
   stages iterate over) and a per-category summary.

A bad mesh never fails a job: it is quarantined with a one-line reason and the run goes on.
"""

from __future__ import annotations

import logging
import os
import posixpath
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
from tqdm import tqdm

from recon.config import source_root
from recon.geometry.mesh_io import MeshLoadError, file_sha256, one_line, open_mesh, printable, read_mesh
from recon.geometry.mesh_limits import limit_reason
from recon.geometry.normalize import normalization, out_of_range_reason
from recon.geometry.quality import inspect_mesh, quarantine_reason
from recon.geometry.references import ShapeFolder, dropped_note, find_references, shape_folder
from recon.ingest.sources import SourceShape, discover, select_shapes
from recon.ingest.splits import SPLITS, assign_splits
from recon.io.store import open_store, provenance, write_array, write_store
from recon.io.tables import read_tsv, write_tsv

__all__ = [
    "LEDGER_COLUMNS",
    "MANIFEST_COLUMNS",
    "SOURCE_COLUMNS",
    "build_ledger",
    "ingest_shape",
    "measure_mesh",
    "scan_sources",
    "source_kind",
    "source_shapes",
]

log = logging.getLogger(__name__)

SOURCE_COLUMNS = (
    "category",
    "category_name",
    "shape_id",
    "split",
    "source_path",
    "source_format",
    "source_folder",
)

LEDGER_COLUMNS = (
    "category",
    "category_name",
    "shape_id",
    "split",
    "status",
    "reason",
    "note",
    "source_path",
    "source_format",
    "source_bytes",
    "source_sha256",
    "loads",
    "vertices",
    "faces",
    "nonfinite_vertices",
    "degenerate_faces",
    "duplicate_faces",
    "components",
    "watertight",
    "winding_consistent",
    "surface_area",
    "bbox_min",
    "bbox_max",
    "norm_method",
    "norm_center",
    "norm_scale",
)

MANIFEST_COLUMNS = ("category", "category_name", "shape_id", "split", "source_path", "source_sha256")

#: The config keys an ingest store depends on (recorded in its provenance). Not ``source``: where
#: the dataset lies is no part of a store (the shape's relative path and SHA-256 are), and not
#: ``seed``: ingest draws no random numbers.
INGEST_CONFIG_KEYS = ("ingest",)


def source_kind(config: Mapping) -> str:
    """The source's layout: ``shapenet_v1``, ``shapenet_v2`` or ``folder`` (the demo: its layout)."""
    kind = config["source"]["kind"]
    return f"shapenet_{config['demo']['layout']}" if kind == "demo" else kind


def source_shapes(config: Mapping) -> list[tuple[SourceShape, str]]:
    """The selected shapes of the configured source with their split, sorted by (category, id)."""
    kind = source_kind(config)
    root = source_root(config)
    shapes = select_shapes(discover(kind, root, config["source"]["taxonomy"]), config["selection"])
    if not shapes:
        raise ValueError(f"the selection matches no shape of {root}: {dict(config['selection'])}")
    splits = assign_splits(shapes, config["seed"], config["splits"]["ratios"], config["splits"]["lists"])
    dropped = sum((s.category, s.shape_id) not in splits for s in shapes)
    if dropped:
        log.warning("%d shapes are in no split list and are left out", dropped)
    return [(s, splits[(s.category, s.shape_id)]) for s in shapes if (s.category, s.shape_id) in splits]


def scan_sources(config: Mapping, out_tsv: Path | str) -> int:
    """Write ``sources.tsv``: one row per selected shape (:data:`SOURCE_COLUMNS`). Returns the count.

    ``source_folder`` is the shape's folder relative to the source root
    (:func:`recon.geometry.references.shape_folder`): the only place its files may name.
    """
    kind = source_kind(config)
    rows = [
        {
            "category": s.category,
            "category_name": s.category_name,
            "shape_id": s.shape_id,
            "split": split,
            "source_path": s.path,
            "source_format": s.format,
            "source_folder": shape_folder(s.path, kind),
        }
        for s, split in source_shapes(config)
    ]
    counts = Counter((r["category_name"], r["split"]) for r in rows)
    for name in sorted({n for n, _ in counts}):
        log.info("%s: %s", name, ", ".join(f"{counts[(name, s)]} {s}" for s in SPLITS))
    return write_tsv(out_tsv, rows, SOURCE_COLUMNS)


def measure_mesh(
    path: Path | str, fmt: str, ingest_cfg: Mapping, folder: Path | str | None = None
) -> tuple[dict, np.ndarray | None, np.ndarray | None]:
    """Load and measure one mesh file with the limits of ``config["ingest"]``.

    Args:
        path: the mesh file.
        fmt: its format (obj, off, ply, stl, glb).
        ingest_cfg: the config's ``ingest`` section.
        folder: the shape's folder, the only place the file and the files it names may lead
            (:mod:`recon.geometry.references`); None = the file's own folder.

    Returns:
        ``(fields, vertices, faces)``: the ledger fields (``loads``, ``source_bytes``,
        ``source_sha256``, the :func:`~recon.geometry.quality.inspect_mesh` report, ``reason``,
        None when usable, and ``note``, the material references dropped, None when none), and
        the raw (V, 3) float64 / (F, 3) int64 arrays, or None when the file could not be read or
        was refused before loading.
    """
    path = Path(os.path.abspath(path))
    shape_dir = ShapeFolder(path.parent if folder is None else folder)
    row: dict = {"loads": False}
    limit_mb = ingest_cfg["max_file_mb"]
    try:
        with open_mesh(path, shape_dir) as f:
            row["source_bytes"] = os.fstat(f.fileno()).st_size
            row["source_sha256"] = file_sha256(f)
            if row["source_bytes"] > limit_mb * 2**20:
                row["reason"] = (
                    f"absurdly large file: {row['source_bytes'] / 2**20:.1f} MB > "
                    f"ingest.max_file_mb = {limit_mb}"
                )
                return row, None, None
            f.seek(0)
            data = f.read()
    except MeshLoadError as err:  # missing, or a symlink out of the shape folder: never opened
        row["reason"] = str(err)
        return row, None, None
    # Materials are not read here, but a shape whose files name a file outside its folder
    # (dropped from the render's copy) is flagged in the ledger. The render reads the same
    # references, so a file whose references cannot be read is quarantined here.
    try:
        row["note"] = dropped_note(find_references(path, shape_dir, fmt, data))
    except (ImportError, MemoryError):
        raise  # the machine's problem, not the file's
    except Exception as err:
        row["reason"] = f"unreadable {fmt} file references: {type(err).__name__}: {one_line(err)}"
        return row, None, None
    # A file that declares or holds more than the limits (or whose header lies about its size)
    # is refused before a reader allocates per its counts.
    row["reason"] = limit_reason(data, fmt, ingest_cfg)
    if row["reason"]:
        return row, None, None
    try:
        vertices, faces = read_mesh(data, fmt, shape_dir, path.parent, int(limit_mb * 2**20))
    except MeshLoadError as err:
        row["reason"] = str(err)
        return row, None, None
    row["loads"] = True
    if len(faces) > ingest_cfg["max_faces"]:
        # Do not run the full analysis on a mesh we refuse anyway.
        row.update(vertices=len(vertices), faces=len(faces))
        row["reason"] = f"absurdly large: {len(faces)} faces > ingest.max_faces = {ingest_cfg['max_faces']}"
        return row, None, None
    report = inspect_mesh(vertices, faces, ingest_cfg["degenerate_area"])
    row.update(report)
    row["reason"] = quarantine_reason(report, ingest_cfg["max_faces"], ingest_cfg["max_duplicate_fraction"])
    return row, vertices, faces


def ingest_shape(
    source: Path | str,
    store: Path | str,
    *,
    category: str,
    category_name: str,
    shape_id: str,
    source_path: str,
    source_format: str,
    config: Mapping,
    source_folder: str | None = None,
) -> dict:
    """Check one raw mesh and write its ingest store; never raises for a bad mesh.

    Args:
        source: the mesh file to read (may be missing: the shape is then quarantined).
        store: output store path (``.../<shape_id>.zarr``), written atomically.
        category, category_name, shape_id: the shape's identity.
        source_path: path relative to the source root, as recorded in the ledger.
        source_format: file format (obj, off, ply, stl, glb).
        config: a mapping holding the config's ``ingest`` section (all this reads and records).
        source_folder: the shape's folder relative to the source root (``sources.tsv``'s
            ``source_folder``): the mesh and every file it names must lead inside it; None = the
            mesh's own folder.

    Returns:
        The shape's ledger row (:data:`LEDGER_COLUMNS` except ``split``).

    A shape whose files name a file outside its folder (or a missing one) stays ``ok`` if its
    geometry is: the reference is dropped (the render reads a copy without it) and the row's
    ``note`` says so. A mesh file that itself leads outside is quarantined, unread.

    The store's root attributes hold ``shape`` (identity, and ``folder``), ``ledger`` (the row),
    ``provenance``, and for usable shapes ``normalization``; its arrays are
    ``mesh/vertices`` (V, 3) float32 in the canonical frame and ``mesh/faces`` (F, 3) int32.
    """
    ingest_cfg = config["ingest"]
    folder = posixpath.dirname(source_path) if source_folder is None else source_folder
    root = Path(os.path.abspath(source))
    if not root.as_posix().endswith("/" + source_path.lstrip("/")):
        raise ValueError(f"source {source} does not end with source_path {source_path}")
    for _ in Path(source_path).parts:
        root = root.parent
    row, vertices, faces = measure_mesh(Path(source), source_format, ingest_cfg, root / folder)
    row.update(
        category=category,
        category_name=category_name,
        shape_id=shape_id,
        source_path=source_path,
        source_format=source_format,
        status="quarantined" if row["reason"] else "ok",
    )
    for key in ("reason", "note"):  # names from the files: any bytes
        if row.get(key):
            row[key] = printable(row[key])
    norm = None
    if row["status"] == "ok":
        norm = normalization(vertices, faces, ingest_cfg["normalization"], ingest_cfg["cube_padding"])
        row["reason"] = out_of_range_reason(norm, vertices)
        if row["reason"]:
            norm, row["status"] = None, "quarantined"
    if row["status"] == "ok":
        row.update(
            norm_method=norm.method, norm_center=[float(c) for c in norm.center], norm_scale=norm.scale
        )
        log.info("%s/%s ok: %d vertices, %d faces", category, shape_id, row["vertices"], row["faces"])
    else:
        log.warning("%s/%s quarantined (%s): %s", category, shape_id, source_path, row["reason"])
    if row.get("note"):
        log.warning("%s/%s (%s): %s", category, shape_id, source_path, row["note"])
    ledger = {k: row.get(k) for k in LEDGER_COLUMNS if k != "split"}
    attrs = {
        "shape": {
            "category": category,
            "category_name": category_name,
            "shape_id": shape_id,
            "source_path": source_path,
            "source_format": source_format,
            "folder": folder,
        },
        "ledger": ledger,
        "provenance": provenance(
            "ingest", {k: config[k] for k in INGEST_CONFIG_KEYS}, None, row.get("source_sha256")
        ),
    }
    if norm is not None:
        attrs["normalization"] = norm.to_attrs()
    with write_store(store, attrs) as root:
        if norm is not None:
            frame = {"frame": "world (normalized object frame)", "units": "normalized"}
            write_array(
                root,
                "mesh/vertices",
                norm.apply(vertices).astype(np.float32),
                ("vertex", "xyz"),
                attributes=frame,
            )
            write_array(
                root,
                "mesh/faces",
                faces.astype(np.int32),
                ("face", "corner"),
                attributes={"indexing": "0-based into mesh/vertices"},
            )
    return ledger


def build_ledger(
    sources_tsv: Path | str,
    stores: Iterable[Path | str],
    ledger_tsv: Path | str,
    manifest_tsv: Path | str,
    summary_tsv: Path | str,
) -> dict[str, int]:
    """Gather the per-shape ingest stores into the ledger, the manifest and a summary.

    Args:
        sources_tsv: the scan's table (gives each shape its split).
        stores: every shape's ingest store.
        ledger_tsv: output, one row per shape (:data:`LEDGER_COLUMNS`).
        manifest_tsv: output, one row per usable shape (:data:`MANIFEST_COLUMNS`).
        summary_tsv: output, per category: shapes, ok, quarantined, and ok per split.

    Returns:
        ``{"ok": n, "quarantined": m}``.
    """
    splits = {(r["category"], r["shape_id"]): r["split"] for r in read_tsv(sources_tsv)}
    rows = []
    for store in tqdm(list(stores), desc="ledger", unit="shape", mininterval=30):
        row = dict(open_store(store).attrs["ledger"])
        row["split"] = splits[(row["category"], row["shape_id"])]
        rows.append(row)
    rows.sort(key=lambda r: (r["category"], r["shape_id"]))
    missing = set(splits) - {(r["category"], r["shape_id"]) for r in rows}
    if missing:
        raise ValueError(f"{len(missing)} scanned shapes have no ingest store, e.g. {sorted(missing)[0]}")
    write_tsv(ledger_tsv, rows, LEDGER_COLUMNS)
    ok = [r for r in rows if r["status"] == "ok"]
    write_tsv(manifest_tsv, ok, MANIFEST_COLUMNS)
    summary = {}
    for r in rows:
        s = summary.setdefault(
            r["category"],
            {
                "category": r["category"],
                "category_name": r["category_name"],
                "shapes": 0,
                "ok": 0,
                "quarantined": 0,
                **{f"ok_{sp}": 0 for sp in SPLITS},
            },
        )
        s["shapes"] += 1
        s[r["status"]] += 1
        if r["status"] == "ok":
            s[f"ok_{r['split']}"] += 1
    columns = ("category", "category_name", "shapes", "ok", "quarantined", *(f"ok_{sp}" for sp in SPLITS))
    write_tsv(summary_tsv, [summary[c] for c in sorted(summary)], columns)
    for r in rows:
        if r["status"] != "ok":
            log.warning("quarantined %s/%s: %s", r["category"], r["shape_id"], r["reason"])
        if r.get("note"):
            log.warning("%s/%s: %s", r["category"], r["shape_id"], r["note"])
    log.info("%d shapes ok, %d quarantined", len(ok), len(rows) - len(ok))
    return {"ok": len(ok), "quarantined": len(rows) - len(ok)}
