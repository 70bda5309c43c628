"""Meshes for tests: a minimal OBJ writer and every kind of bad mesh the ledger must catch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import trimesh

REPO = Path(__file__).resolve().parents[1]


def write_obj(path: Path, vertices, faces=()) -> Path:
    """Write a minimal OBJ (1-based faces) exactly as given, NaN included."""
    lines = [f"v {x!r} {y!r} {z!r}" for x, y, z in np.asarray(vertices, dtype=float).tolist()]
    lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in np.asarray(faces, dtype=int).reshape(-1, 3)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


#: Each kind of bad mesh the ledger must quarantine: file name, bytes writer, expected reason start.
BAD_MESHES = {
    "empty": ("empty.obj", lambda p: p.write_bytes(b""), "empty file (0 bytes)"),
    "unreadable": (
        "unreadable.glb",
        lambda p: p.write_bytes(b"\x00garbage, not glTF" * 8),
        "unreadable glb file",
    ),
    "binary_junk": ("junk.obj", lambda p: p.write_bytes(bytes(range(256)) * 4), "unreadable obj file"),
    "nan": (
        "nan.obj",
        lambda p: write_obj(p, [[np.nan, 0, 0], [1, 0, 0], [0, 1, 0]], [[0, 1, 2]]),
        "1 vertices with NaN or infinite coordinates",
    ),
    "zero_area": (
        "flat.obj",
        lambda p: write_obj(p, [[0, 0, 0], [1, 0, 0], [2, 0, 0]], [[0, 1, 2], [0, 2, 1]]),
        "zero surface area (all 2 faces degenerate)",
    ),
    "no_faces": (
        "points.obj",
        lambda p: write_obj(p, [[0, 0, 0], [1, 0, 0], [0, 1, 0]]),
        "no faces (3 vertices)",
    ),
    "huge": (
        "huge.obj",
        lambda p: p.write_text(trimesh.exchange.obj.export_obj(trimesh.creation.icosphere(2))),
        "absurdly large: 320 faces > ingest.max_faces = 100",
    ),
}

#: ingest limits used with BAD_MESHES (max_faces small enough that "huge" trips it).
TEST_LIMITS = {"max_faces": 100, "max_file_mb": 1024, "degenerate_area": 1e-12}

#: A small ``sdf`` config section for tests (the default is 256^3 with 250,000 Gaussian samples).
SMALL_SDF = {
    "grid": {"resolution": 40},
    "samples": {
        "surface": {"count": 4000},
        "gaussian": {"count": 6000},
        "disn": {"count": 2048},
        "occupancy": {"count": 5000},
    },
    "quality": {"probes": 2000},
}


def ingest_file(path: Path, store: Path, config: dict, fmt: str | None = None) -> dict:
    """Ingest one mesh file, its own folder the shape's folder, into ``store``; returns the ledger row.

    ``config``: a resolved config (its ``ingest`` section is what counts); ``fmt``: the format
    (None = the suffix).
    """
    from recon.ingest.stage import ingest_shape

    return ingest_shape(
        path,
        store,
        category="c",
        category_name="c",
        shape_id=path.stem,
        source_path=path.name,
        source_format=fmt or path.suffix.lstrip("."),
        config=config,
    )


def ingest_source(root: Path, shape, store: Path, config: dict | None = None) -> dict:
    """Ingest one discovered :class:`recon.ingest.sources.SourceShape` of ``root`` into ``store``."""
    from recon.config import resolve_config
    from recon.geometry.references import shape_folder
    from recon.ingest.stage import ingest_shape, source_kind

    config = config or resolve_config({})
    return ingest_shape(
        root / shape.path,
        store,
        category=shape.category,
        category_name=shape.category_name,
        shape_id=shape.shape_id,
        source_path=shape.path,
        source_format=shape.format,
        source_folder=shape_folder(shape.path, source_kind(config)),
        config=config,
    )


#: A small ``voxelize`` config section for tests (octree depth 4 = 16^3, 32x32 spherical maps).
SMALL_VOXELIZE = {
    "resolutions": [16, 32],
    "binvox": 32,
    "octree": {"depth": 4},
    "spherical": {"resolution": 32},
}
