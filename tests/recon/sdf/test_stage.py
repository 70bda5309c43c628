"""The SDF stage of one shape: store layout, stored precision, samples, checks and the ledger."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

pytest.importorskip("igl")

from recon.config import resolve_config
from recon.geometry.grid import GridSpec
from recon.geometry.sampling import inside_points, surface_samples
from recon.ingest.sources import discover
from recon.io.store import open_store
from recon.io.tables import read_tsv, write_tsv
from recon.sdf.grid import sdf_grid
from recon.sdf.quality import quality_metrics
from recon.sdf.stage import build_sdf_ledger, gaussian_params, grid_spec, quantize_far_field, sdf_shape
from tests.meshes import SMALL_SDF, ingest_source

SMALL = {"sdf": SMALL_SDF}


def _ingested(tmp_path, meshes: dict[str, trimesh.Trimesh], normalization: str = "unit_sphere"):
    root = tmp_path / "meshes"
    (root / "things").mkdir(parents=True)
    for name, mesh in meshes.items():
        mesh.export(root / "things" / f"{name}.obj")
    config = resolve_config(
        {"source": {"kind": "folder", "path": str(root)}, "ingest": {"normalization": normalization}}
    )
    stores = {}
    for shape in discover("folder", root):
        store = tmp_path / "ingest" / f"{shape.shape_id}.zarr"
        ingest_source(root, shape, store, config)
        stores[shape.shape_id] = store
    return stores


def test_quantized_far_field_keeps_the_band_bit_for_bit():
    rng = np.random.default_rng(0)
    grid = rng.uniform(-1.5, 1.5, (20, 20, 20)).astype(np.float32)
    grid[0, 0, :4] = [0.1, -0.1, 0.0999999, np.float32(0.1) + np.float32(1e-7)]
    q = 2.0**-9
    out = quantize_far_field(grid, 0.1, q)
    near = np.abs(grid) < 0.1
    assert np.array_equal(out[near], grid[near])
    far = ~near
    assert np.all(np.abs(out[far]) >= np.abs(grid[far]))  # rounded away from zero: still upper bounds
    assert np.all(np.abs(out[far]) - np.abs(grid[far]) < q)
    assert np.all(np.sign(out[far]) == np.sign(grid[far]))
    assert np.allclose(out[far] / q, np.round(out[far] / q))
    assert np.all(np.abs(out[far]) >= 0.1)


def test_gaussian_sigmas_are_a_named_set_or_a_list():
    mesh_to_sdf = gaussian_params(
        resolve_config({"sdf": {"samples": {"gaussian": {"sigmas": "mesh_to_sdf"}}}})["sdf"]["samples"][
            "gaussian"
        ]
    )
    assert mesh_to_sdf["sigmas"] == [0.0025, 0.00025] and mesh_to_sdf["uniform_fraction"] == 0.06
    assert mesh_to_sdf["preset"] == "mesh_to_sdf"  # the stored attribute naming the set
    own = gaussian_params({"count": 10, "sigmas": [0.1], "uniform_fraction": None})
    assert own == {"count": 10, "preset": "custom", "sigmas": [0.1], "uniform_fraction": 0.06}
    assert gaussian_params({"count": 10, "sigmas": [0.1], "uniform_fraction": 0.2})["uniform_fraction"] == 0.2


def test_disn_box_is_a_padded_cube_around_the_bounding_box():
    vertices = np.array([[-0.5, -0.5, -0.5], [0.5, 0.5, 0.5], [0.0, 0.2, -0.1]])
    spec = grid_spec({"resolution": 257, "box": "disn", "half_extent": 1.1}, vertices)
    assert spec.resolution == 257
    np.testing.assert_allclose([spec.origin, spec.corner], [[-0.6] * 3, [0.6] * 3])
    fixed = grid_spec({"resolution": 256, "box": "fixed", "half_extent": 1.1}, vertices)
    assert (fixed.lo, fixed.hi) == (-1.1, 1.1)
    # Off the diagonal (Vega's computeBoundingBox + expand(1.2)): the bounding box, centre
    # (-0.1, 0.1, 0.025) and longest side 0.8 (x), made a cube of side 0.8, then 0.96.
    vertices = np.array([[-0.5, -0.2, 0.1], [0.3, 0.4, 0.0], [0.0, 0.1, -0.05]])
    spec = grid_spec({"resolution": 257, "box": "disn", "half_extent": 1.1}, vertices)
    np.testing.assert_allclose(spec.origin, np.array([-0.1, 0.1, 0.025]) - 0.48, atol=1e-15)
    np.testing.assert_allclose(spec.corner, np.array([-0.1, 0.1, 0.025]) + 0.48, atol=1e-15)
    assert spec.spacing == pytest.approx(0.96 / 256)
    assert GridSpec.from_attrs(spec.to_attrs()) == spec


def test_inside_points_with_a_grid_equals_winding_numbers():
    mesh = trimesh.creation.annulus(0.3, 0.6, 0.5, sections=48)
    spec = GridSpec(40)
    grid = sdf_grid(mesh.vertices, mesh.faces, spec)
    points = np.random.default_rng(0).uniform(-1.2, 1.2, (20_000, 3))
    fast = inside_points(mesh.vertices, mesh.faces, points, grid, spec)
    slow = inside_points(mesh.vertices, mesh.faces, points)
    assert np.array_equal(fast, slow)
    assert slow.mean() == pytest.approx(np.pi * (0.6**2 - 0.3**2) * 0.5 / 2.4**3, rel=0.1)


def test_quality_metrics_tell_clean_inner_and_flipped_meshes_apart():
    box = trimesh.creation.box((1.0, 1.0, 1.0))
    wall = trimesh.creation.box((0.002, 0.9, 0.9))
    cases = {
        "clean": box,
        "inner": trimesh.util.concatenate([box, wall, wall.copy().apply_translation([0.2, 0, 0])]),
        "flipped": trimesh.Trimesh(box.vertices, box.faces[:, ::-1], process=False),
        "sheet": trimesh.Trimesh([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]], [[0, 1, 2], [0, 2, 3]]),
    }
    spec = GridSpec(32)
    out = {}
    for name, mesh in cases.items():
        grid = sdf_grid(mesh.vertices, mesh.faces, spec)
        points, normals = surface_samples(mesh.vertices, mesh.faces, 3000, np.random.default_rng(0))
        out[name] = quality_metrics(mesh.vertices, mesh.faces, points, normals, grid, 0.002)
    assert out["clean"]["mixed_sign_fraction"] > 0.99 and out["clean"]["flipped_fraction"] == 0.0
    nodes_inside = np.all(np.abs(spec.points()) < 0.5, axis=1).mean()
    assert out["clean"]["interior_fraction"] == pytest.approx(nodes_inside)
    # Two inner walls add area with inside on both sides: their share of the samples is not mixed.
    inner_area = 4 * 0.9 * 0.9 / (6 + 4 * 0.81 + 4 * 0.9 * 0.002)
    assert out["inner"]["mixed_sign_fraction"] == pytest.approx(1 - inner_area, abs=0.03)
    assert out["inner"]["occupied_fraction"] > 0.99
    assert out["flipped"]["flipped_fraction"] > 0.99 and out["flipped"]["mixed_sign_fraction"] > 0.99
    assert out["sheet"]["interior_fraction"] == 0.0 and out["sheet"]["occupied_fraction"] == 0.0


def test_sdf_store_of_a_box(tmp_path):
    half = np.array([0.5, 0.3, 0.2])
    stores = _ingested(tmp_path, {"box": trimesh.creation.box(2 * half)})
    config = resolve_config(SMALL)
    row = sdf_shape(stores["box"], tmp_path / "sdf.zarr", config)
    assert row["status"] == "ok" and row["reason"] == ""
    store = open_store(tmp_path / "sdf.zarr")
    ingest = open_store(stores["box"])
    v, f = ingest["mesh/vertices"][...], ingest["mesh/faces"][...]
    spec = GridSpec(40, -1.1, 1.1)
    expected = quantize_far_field(sdf_grid(v, f, spec), 0.1, 2.0**-9)
    stored = store["grid/sdf"]
    assert stored.dtype == np.float32 and stored.shape == (40, 40, 40)
    assert np.array_equal(stored[...], expected)
    assert stored.attrs["lo"] == -1.1 and stored.attrs["exact_within"] == 0.1

    # The normalized box (half-extents scaled by the unit-sphere normalization) is analytic.
    scale = 1 / np.linalg.norm(half)
    for group in ("gaussian", "disn"):
        p = store[f"samples/{group}/points"][...].astype(np.float64)
        q = np.abs(p) - half * scale
        exact = np.linalg.norm(np.maximum(q, 0), axis=1) + np.minimum(q.max(axis=1), 0)
        sdf = store[f"samples/{group}/sdf"][...]
        tol = 1e-5 if group == "gaussian" else 0.5 * spec.spacing * np.sqrt(3)
        assert np.abs(sdf - exact).max() < tol, group
    assert store["samples/gaussian/points"].shape == (6000, 3)
    assert store["samples/disn/points"].shape == (2048, 3)
    assert store["samples/surface/normals"].dtype == np.float16
    occ = store["samples/occupancy"]
    inside = np.unpackbits(occ["occupied"][...])[:5000].astype(bool)
    inside_exact = np.all(np.abs(occ["points"][...].astype(np.float64)) < half * scale, axis=1)
    assert np.mean(inside != inside_exact) < 1e-3  # float16 points on the faces may go either way
    mv = store["mesh/vertices"][...]
    assert np.allclose(np.abs(mv).max(axis=0), half * scale + 0.003, atol=0.02)
    attrs = dict(store.attrs)
    assert attrs["samples"]["gaussian"]["sigmas"] == pytest.approx([0.005**0.5, 0.0005**0.5])
    assert attrs["samples"]["gaussian"]["preset"] == "deepsdf"
    assert sum(attrs["samples"]["disn"]["band_counts"]) <= 2048  # DISN loses a short last band's deficit
    assert attrs["samples"]["occupancy"]["box"] == [-1.1, 1.1]  # unit_sphere: the unit ball's cube, padded
    assert attrs["provenance"]["stage"] == "sdf" and attrs["provenance"]["config"]["sdf"] == config["sdf"]

    # Same seed, same store.
    sdf_shape(stores["box"], tmp_path / "again.zarr", config)
    again = open_store(tmp_path / "again.zarr")
    for name in ("samples/gaussian/points", "samples/disn/sdf", "samples/occupancy/occupied"):
        assert np.array_equal(again[name][...], store[name][...])


def _plate_with_leg() -> trimesh.Trimesh:
    """A plate with one leg: unit-sphere normalized, its bounding box is centred off x = y = z."""
    leg = trimesh.transformations.translation_matrix([0.4, -0.6, 0.25])
    return trimesh.util.concatenate(
        [trimesh.creation.box((1.0, 0.1, 0.6)), trimesh.creation.cylinder(0.05, 1.2, transform=leg)]
    )


def test_sdf_store_on_disns_box_of_an_off_centre_shape(tmp_path):
    igl = pytest.importorskip("igl")
    stores = _ingested(tmp_path, {"plate": _plate_with_leg()})
    config = resolve_config({"sdf": {**SMALL_SDF, "grid": {"resolution": 65, "box": "disn"}}})
    row = sdf_shape(stores["plate"], tmp_path / "sdf.zarr", config)
    assert row["status"] == "ok"
    ingest = open_store(stores["plate"])
    v, f = ingest["mesh/vertices"][...].astype(np.float64), ingest["mesh/faces"][...]
    lo, hi = v.min(axis=0), v.max(axis=0)
    centre, half = (lo + hi) / 2, 0.6 * (hi - lo).max()
    assert np.ptp(centre) > 0.1  # not on the diagonal: the case that used to raise
    store = open_store(tmp_path / "sdf.zarr")
    stored = store["grid/sdf"]
    spec = GridSpec.from_attrs(dict(stored.attrs))
    np.testing.assert_allclose(spec.origin, centre - half, atol=1e-12)
    np.testing.assert_allclose(spec.corner, centre + half, atol=1e-12)
    assert stored.attrs["lo"] == list(spec.origin) and dict(store.attrs)["grid"]["lo"] == list(spec.origin)
    # The grid's values against libigl's exact distances at the nodes near the surface, and the
    # sign against the winding number everywhere.
    grid = stored[...]
    nodes = spec.points()
    exact, *_ = igl.signed_distance(nodes, v, f.astype(np.int64), igl.SIGNED_DISTANCE_TYPE_UNSIGNED)
    exact = exact.reshape(grid.shape)
    near = np.abs(exact) < 0.1
    assert np.abs(np.abs(grid[near]) - np.abs(exact[near])).max() < 1e-4
    assert np.array_equal(grid.reshape(-1) < 0, inside_points(v, f, nodes))
    # DISN's samples are nodes of this grid, with its values; the iso mesh lies inside the box.
    p = store["samples/disn/points"][...].astype(np.float64)
    ijk = (p - spec.origin) / spec.spacing
    assert np.abs(ijk - np.rint(ijk)).max() < 1e-3
    i, j, k = np.rint(ijk).astype(int).T
    values = store["samples/disn/sdf"][...]
    exact_band = np.abs(values) < 0.1  # the stored grid rounds |sdf| >= 0.1 up to 2^-9 steps
    assert np.array_equal(values[exact_band], grid[i, j, k][exact_band])
    assert np.abs(values - grid[i, j, k]).max() < 2.0**-9
    mv = store["mesh/vertices"][...]
    assert np.all(mv >= spec.origin - 1e-6) and np.all(mv <= spec.corner + 1e-6)
    np.testing.assert_allclose(mv.min(axis=0), lo, atol=0.02)  # iso 0.003, 65 nodes


def test_occupancy_points_fill_onets_box_under_unit_cube(tmp_path):
    # Occupancy Networks (scripts/sample_mesh.py, export_points): bounding box centred, longest
    # side 1; points uniform in a cube of side 1 + points_padding (0.1). The same box, one
    # independent draw of ONet's formula, and the same inside share.
    dims = np.array([1.0, 0.6, 0.4])
    stores = _ingested(tmp_path, {"box": trimesh.creation.box(2 * dims)}, normalization="unit_cube")
    config = resolve_config(SMALL)
    sdf_shape(stores["box"], tmp_path / "sdf.zarr", config)
    store = open_store(tmp_path / "sdf.zarr")
    n = 5000
    points = store["samples/occupancy/points"][...].astype(np.float64)
    inside = np.unpackbits(store["samples/occupancy/occupied"][...])[:n].astype(bool)
    assert dict(store.attrs)["samples"]["occupancy"]["box"] == [-0.55, 0.55]
    assert np.abs(points).max() <= 0.55 and np.abs(points).max() > 0.549
    boxsize = 1 + 0.1
    onet = boxsize * (np.random.RandomState(0).rand(n, 3) - 0.5)
    onet_inside = np.all(np.abs(onet) < dims / 2, axis=1)
    share = np.prod(dims) / boxsize**3  # 0.18
    sigma = np.sqrt(share * (1 - share) / n)
    assert abs(inside.mean() - share) < 4 * sigma and abs(onet_inside.mean() - share) < 4 * sigma
    exact = np.all(np.abs(points) < dims / 2, axis=1)
    assert np.mean(inside != exact) < 1e-3


def test_open_sheet_is_quarantined_and_left_out_of_the_manifest(tmp_path):
    sheet = trimesh.Trimesh([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]], [[0, 1, 2], [0, 2, 3]])
    stores = _ingested(tmp_path, {"box": trimesh.creation.box((1, 1, 1)), "sheet": sheet})
    config = resolve_config(SMALL)
    rows = []
    for name, store in stores.items():
        sdf_shape(store, tmp_path / "sdf" / f"{name}.zarr", config)
        rows.append({"category": "things", "shape_id": name, "split": "train", "category_name": "things"})
    write_tsv(tmp_path / "manifest.tsv", rows, ["category", "category_name", "shape_id", "split"])
    counts = build_sdf_ledger(
        tmp_path / "manifest.tsv",
        sorted((tmp_path / "sdf").glob("*.zarr")),
        tmp_path / "ledger.tsv",
        tmp_path / "ok.tsv",
    )
    assert counts == {"ok": 1, "quarantined": 1}
    ledger = {r["shape_id"]: r for r in read_tsv(tmp_path / "ledger.tsv")}
    assert ledger["sheet"]["status"] == "quarantined"
    assert ledger["sheet"]["reason"].startswith("no interior")
    assert float(ledger["box"]["mixed_sign_fraction"]) > 0.99
    assert [r["shape_id"] for r in read_tsv(tmp_path / "ok.tsv")] == ["box"]
