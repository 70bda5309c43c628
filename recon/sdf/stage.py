"""The SDF stage of one shape: grid, samples, ground-truth mesh and quality checks, in one store.

Reads the shape's ingest store (the normalized mesh, world frame) and writes
``results/sdf/<category>/<shape_id>.zarr`` (layout: ``docs/data_format.md`` §5.3). Every draw
comes from ``rng(seed, "sdf", category, shape_id, group)``. A shape that fails the quality
checks (:mod:`recon.sdf.quality`) still gets its store, with ``status = "quarantined"`` and the
reason in its attributes, so it can be inspected; the SDF ledger leaves it out of the manifest.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from recon.geometry.extract import field_mesh
from recon.geometry.grid import GridSpec
from recon.geometry.normalize import HALF_EXTENT
from recon.geometry.sampling import surface_samples
from recon.io.store import open_store, provenance, write_array, write_store
from recon.io.tables import read_tsv, write_tsv
from recon.sdf.grid import sdf_grid
from recon.sdf.quality import QUALITY_COLUMNS, quality_metrics, quality_reason
from recon.sdf.samples import disn_samples, gaussian_samples, occupancy_samples
from recon.seeding import rng

__all__ = [
    "SDF_LEDGER_COLUMNS",
    "SIGMA_SETS",
    "UNIFORM_FRACTION",
    "build_sdf_ledger",
    "gaussian_params",
    "grid_spec",
    "occupancy_box",
    "quantize_far_field",
    "sdf_shape",
    "store_grid",
]

log = logging.getLogger(__name__)

#: The named sets of ``sdf.samples.gaussian.sigmas``: the offsets' standard deviations (world units).
#: DeepSDF (``PreprocessMesh.cpp``): variances 0.005 and 0.0005. mesh_to_sdf
#: (``sample_sdf_near_surface``): scales 0.0025 and 0.00025.
SIGMA_SETS = {
    "deepsdf": [float(np.sqrt(0.005)), float(np.sqrt(0.0005))],
    "mesh_to_sdf": [0.0025, 0.00025],
}

#: The uniform share of the ``gaussian`` points where ``uniform_fraction`` is null, that of both sets:
#: DeepSDF draws 47/50 of its points near the surface, mesh_to_sdf 47 % at each sigma; the rest are
#: uniform (there in the unit sphere, here in the grid's box).
UNIFORM_FRACTION = 0.06

#: Columns of results/sdf/ledger.tsv (the manifest has the ingest manifest's columns).
SDF_LEDGER_COLUMNS = ("category", "shape_id", "split", "status", "reason", *QUALITY_COLUMNS, "iso_faces")

#: Chunk edge of the stored grid and its codec (Blosc zstd level 5, byte shuffle).
GRID_CHUNK = 32


def gaussian_params(cfg: Mapping) -> dict:
    """The ``sdf.samples.gaussian`` config resolved, as the SDF store records it (``samples.gaussian``).

    Returns:
        ``count``; ``sigmas``, a list (a named set's values, :data:`SIGMA_SETS`); ``uniform_fraction``
        (null = :data:`UNIFORM_FRACTION`); and ``preset``, the stored attribute naming the set
        (``custom`` for a list).
    """
    sigmas, uniform = cfg["sigmas"], cfg["uniform_fraction"]
    named = isinstance(sigmas, str)
    return {
        "count": cfg["count"],
        "preset": sigmas if named else "custom",
        "sigmas": list(SIGMA_SETS[sigmas] if named else sigmas),
        "uniform_fraction": UNIFORM_FRACTION if uniform is None else uniform,
    }


def grid_spec(grid_cfg: Mapping, vertices: np.ndarray) -> GridSpec:
    """The grid of a shape from the ``sdf.grid`` config.

    ``box = "fixed"``: ``[-half_extent, half_extent]^3`` around the world frame's origin.
    ``box = "disn"``: the box of DISN's Vega call (``computeDistanceField ... 256 256 256 -e 1.2``;
    Vega FEM ``distanceFieldBase.cpp:computeBoundingBox`` with equal resolutions, then
    ``BoundingBox::expand``): the vertices' bounding box made a cube of its longest side around
    its own centre, then scaled by 1.2 about that centre. Its corner lies off the diagonal
    x = y = z for most shapes. DISN's grid has 257 nodes per axis (256 cells).

    Args:
        grid_cfg: the ``sdf.grid`` section.
        vertices: (V, 3) float, the mesh in the world frame.
    """
    n = int(grid_cfg["resolution"])
    if grid_cfg["box"] == "fixed":
        half = float(grid_cfg["half_extent"])
        return GridSpec(n, -half, half)
    lo, hi = np.min(vertices, axis=0).astype(np.float64), np.max(vertices, axis=0).astype(np.float64)
    centre = 0.5 * (lo + hi)
    half = 1.2 * 0.5 * float(np.max(hi - lo))
    return GridSpec(n, tuple(centre - half), tuple(centre + half))


def occupancy_box(normalization: str, padding: float) -> tuple[float, float]:
    """The cube Occupancy Networks' points fill: the normalization's cube, padded by ``padding``.

    ONet (``scripts/sample_mesh.py``, ``export_points``) draws them uniformly in a cube of side
    ``1 + points_padding`` (0.1) around the origin of its frame, where the mesh's bounding box has
    longest side 1: ``[-0.55, 0.55]^3``. Here the cube the normalization fits the surface into
    (:data:`recon.geometry.normalize.HALF_EXTENT`: [-0.5, 0.5]^3 for ``unit_cube``, [-1, 1]^3 for
    ``unit_sphere``) is padded the same way: ``[-0.55, 0.55]^3`` and ``[-1.1, 1.1]^3``.
    """
    half = HALF_EXTENT[normalization] * (1.0 + float(padding))
    return (-half, half)


def quantize_far_field(grid: np.ndarray, exact_within: float, quantum: float) -> np.ndarray:
    """Round |sdf| >= ``exact_within`` up to a multiple of ``quantum`` (sign kept); the rest unchanged.

    Rounding up keeps every far value an upper bound of the distance and at least
    ``exact_within``, so the near band reads back bit for bit and the far field compresses ~6x.
    Returns a new (n, n, n) float32 array.
    """
    out = np.array(grid, dtype=np.float32, copy=True)
    far = np.abs(out) >= exact_within
    magnitude = np.ceil(np.abs(out[far]).astype(np.float64) / quantum) * quantum
    out[far] = (np.sign(out[far]) * magnitude).astype(np.float32)
    return out


def store_grid(root, grid: np.ndarray, spec: GridSpec, exact_within: float, quantum: float, iso: float):
    """Write ``grid/sdf`` (quantized far field, Blosc zstd + shuffle, 32^3 chunks) into ``root``."""
    from zarr.codecs import BloscCodec, BloscShuffle

    write_array(
        root,
        "grid/sdf",
        quantize_far_field(grid, exact_within, quantum),
        ("x", "y", "z"),
        chunks=(GRID_CHUNK,) * 3,
        compressors=BloscCodec(cname="zstd", clevel=5, shuffle=BloscShuffle.shuffle),
        attributes={
            **spec.to_attrs(),
            "node": "node [i, j, k] at lo + (i, j, k) * spacing (x, y, z)",
            "sign": "negative inside (generalized winding number |w| > 0.5)",
            "exact_within": exact_within,
            "far_quantum": quantum,
            "iso": iso,
        },
    )


def _grid(vertices, faces, spec: GridSpec, cfg: Mapping) -> np.ndarray:
    if cfg["backend"] == "mesh_to_sdf":
        from recon.sdf.mesh_to_sdf_backend import mesh_to_sdf_grid

        return mesh_to_sdf_grid(vertices, faces, spec)
    return sdf_grid(vertices, faces, spec, exact_within=float(cfg["exact_within"]))


def sdf_shape(ingest_store: Path | str, out_store: Path | str, config: Mapping) -> dict:
    """Compute and store the SDF data of one shape.

    Args:
        ingest_store: the shape's ingest store (``mesh/vertices``, ``mesh/faces``, world frame;
            its ``normalization`` method sets the occupancy points' cube, :func:`occupancy_box`).
        out_store: the SDF store to write (atomically).
        config: the resolved config (``seed`` and ``sdf`` are used and recorded).

    Returns:
        The shape's SDF ledger row: ``category``, ``shape_id``, ``status`` (ok / quarantined),
        ``reason``, the quality metrics and ``iso_faces`` (also stored as the ``ledger`` attribute).
    """
    ingest = open_store(ingest_store)
    attrs = dict(ingest.attrs)
    category, shape_id = attrs["shape"]["category"], attrs["shape"]["shape_id"]
    vertices = np.asarray(ingest["mesh/vertices"][...], dtype=np.float64)
    faces = np.asarray(ingest["mesh/faces"][...], dtype=np.int64)
    cfg = config["sdf"]
    seed = int(config["seed"])
    spec = grid_spec(cfg["grid"], vertices)
    start = time.perf_counter()
    grid = _grid(vertices, faces, spec, cfg)
    seconds = time.perf_counter() - start
    samples = cfg["samples"]
    box = (spec.lo, spec.hi)

    surface_points, surface_normals = surface_samples(
        vertices, faces, int(samples["surface"]["count"]), rng(seed, "sdf", category, shape_id, "surface")
    )
    g_params = gaussian_params(samples["gaussian"])
    gauss_points, gauss_sdf = gaussian_samples(
        vertices,
        faces,
        rng(seed, "sdf", category, shape_id, "gaussian"),
        int(g_params["count"]),
        g_params["sigmas"],
        float(g_params["uniform_fraction"]),
        box,
        grid,
        spec,
    )
    d = samples["disn"]
    disn_points, disn_sdf, disn_counts = disn_samples(
        grid,
        spec,
        rng(seed, "sdf", category, shape_id, "disn"),
        int(d["count"]),
        iso=float(d["iso"]),
        bands=tuple(d["bands"]),
    )
    o = samples["occupancy"]
    occ_box = occupancy_box(attrs["normalization"]["method"], float(o["padding"]))
    occ_points, occ_bits = occupancy_samples(
        vertices,
        faces,
        rng(seed, "sdf", category, shape_id, "occupancy"),
        int(o["count"]),
        box=occ_box,
        near_fraction=float(o["near_fraction"]),
        sigma=float(o["near_sigma"]),
        grid=grid,
        spec=spec,
    )
    iso = float(cfg["iso"])
    mesh_vertices, mesh_faces = field_mesh(grid, spec, iso)

    q = cfg["quality"]
    probe = rng(seed, "sdf", category, shape_id, "quality")
    pick = probe.choice(len(surface_points), min(int(q["probes"]), len(surface_points)), replace=False)
    metrics = quality_metrics(
        vertices,
        faces,
        surface_points[pick],
        surface_normals[pick],
        grid,
        float(q["offset_voxels"]) * spec.spacing,
    )
    reason = quality_reason(metrics, q)
    row = {
        "category": category,
        "shape_id": shape_id,
        "status": "quarantined" if reason else "ok",
        "reason": reason,
        **{k: round(v, 6) for k, v in metrics.items()},
        "iso_faces": len(mesh_faces),
    }
    if reason:
        log.warning("%s/%s quarantined: %s", category, shape_id, reason)

    store_attrs = {
        "shape": attrs["shape"],
        "ledger": row,
        "grid": {"resolution": spec.resolution, "lo": spec.lo, "hi": spec.hi, "box": cfg["grid"]["box"]},
        "backend": cfg["backend"],
        "samples": {
            "surface": dict(samples["surface"]),
            "gaussian": g_params,
            "disn": {**dict(d), "band_counts": [int(c) for c in disn_counts]},
            "occupancy": {**dict(o), "box": list(occ_box)},
        },
        "provenance": provenance(
            "sdf", {"seed": seed, "sdf": cfg}, seed, attrs["provenance"]["source_sha256"]
        ),
    }
    world = {"frame": "world (normalized object frame)"}
    with write_store(out_store, store_attrs) as root:
        store_grid(root, grid, spec, float(cfg["exact_within"]), float(cfg["far_quantum"]), iso)
        write_array(
            root,
            "samples/surface/points",
            surface_points.astype(np.float32),
            ("point", "xyz"),
            attributes=world,
        )
        write_array(
            root,
            "samples/surface/normals",
            surface_normals.astype(np.float16),
            ("point", "xyz"),
            attributes={"definition": "unit face normal of the sampled triangle, as wound"},
        )
        write_array(root, "samples/gaussian/points", gauss_points, ("point", "xyz"), attributes=world)
        write_array(
            root, "samples/gaussian/sdf", gauss_sdf, ("point",), attributes={"sign": "negative inside"}
        )
        write_array(
            root, "samples/disn/points", disn_points.astype(np.float32), ("point", "xyz"), attributes=world
        )
        write_array(
            root,
            "samples/disn/sdf",
            disn_sdf.astype(np.float32),
            ("point",),
            attributes={"sign": "negative inside"},
        )
        write_array(root, "samples/occupancy/points", occ_points, ("point", "xyz"), attributes=world)
        write_array(
            root,
            "samples/occupancy/occupied",
            occ_bits,
            ("byte",),
            attributes={"packing": "numpy.packbits, big bit order", "count": int(o["count"])},
        )
        write_array(root, "mesh/vertices", mesh_vertices, ("vertex", "xyz"), attributes={**world, "iso": iso})
        write_array(
            root,
            "mesh/faces",
            mesh_faces,
            ("face", "corner"),
            attributes={"indexing": "0-based into mesh/vertices", "winding": "outward"},
        )
    log.info(
        "%s/%s: grid %.2f s, %d iso faces, %s", category, shape_id, seconds, len(mesh_faces), row["status"]
    )
    return row


def build_sdf_ledger(
    ingest_manifest: Path | str, stores: list[Path | str], ledger_tsv: Path | str, manifest_tsv: Path | str
) -> dict[str, int]:
    """Gather the SDF stores' checks into the SDF ledger and the manifest of shapes still usable.

    Args:
        ingest_manifest: results/ingest/manifest.tsv (its rows are carried into the new manifest).
        stores: every SDF store of the shapes of ``ingest_manifest``.
        ledger_tsv: output, one row per shape (:data:`SDF_LEDGER_COLUMNS`).
        manifest_tsv: output, the ingest manifest's rows of the shapes that passed.

    Returns:
        ``{"ok": n, "quarantined": m}``.
    """
    rows = read_tsv(ingest_manifest)
    checks = {}
    for store in stores:
        ledger = dict(open_store(store).attrs)["ledger"]
        checks[(ledger["category"], ledger["shape_id"])] = ledger
    missing = [
        f"{r['category']}/{r['shape_id']}" for r in rows if (r["category"], r["shape_id"]) not in checks
    ]
    if missing:
        raise ValueError(f"no SDF store for {len(missing)} manifest shapes, e.g. {missing[:3]}")
    ledger_rows = [{**checks[(r["category"], r["shape_id"])], "split": r["split"]} for r in rows]
    ok = [r for r in rows if checks[(r["category"], r["shape_id"])]["status"] == "ok"]
    write_tsv(ledger_tsv, ledger_rows, SDF_LEDGER_COLUMNS)
    write_tsv(manifest_tsv, ok, list(rows[0].keys()) if rows else ["category", "shape_id"])
    for r in ledger_rows:
        if r["status"] != "ok":
            log.warning("quarantined %s/%s: %s", r["category"], r["shape_id"], r["reason"])
    log.info("%d shapes ok, %d quarantined by the SDF checks", len(ok), len(rows) - len(ok))
    return {"ok": len(ok), "quarantined": len(rows) - len(ok)}
