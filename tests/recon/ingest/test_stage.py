"""Ingestion of single shapes (each kind of bad mesh), scanning, and the ledger."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from recon.config import resolve_config
from recon.ingest.stage import build_ledger, ingest_shape, scan_sources
from recon.io.store import open_store
from recon.io.tables import read_tsv
from tests.meshes import BAD_MESHES, TEST_LIMITS, ingest_file, ingest_source


def _config(**ingest):
    return resolve_config(
        {"source": {"kind": "folder", "path": "unused"}, "ingest": {**TEST_LIMITS, **ingest}}
    )


@pytest.mark.parametrize("kind", sorted(BAD_MESHES))
def test_each_bad_kind_is_quarantined_with_its_reason(tmp_path, kind):
    name, writer, reason = BAD_MESHES[kind]
    path = tmp_path / name
    writer(path)
    row = ingest_file(path, tmp_path / "s.zarr", _config())
    assert row["status"] == "quarantined"
    assert row["reason"].startswith(reason)
    assert "\n" not in row["reason"]
    store = open_store(tmp_path / "s.zarr")
    assert store.attrs["ledger"] == row
    assert "normalization" not in store.attrs and list(store.keys()) == []
    assert row["source_sha256"] and len(row["source_sha256"]) == 64


def test_too_large_file_is_not_loaded(tmp_path):
    path = tmp_path / "big.obj"
    trimesh.creation.icosphere(3).export(path)
    row = ingest_file(path, tmp_path / "s.zarr", _config(max_file_mb=0.01, max_faces=10**6))
    assert (
        row["reason"].startswith("absurdly large file: 0.") and "> ingest.max_file_mb = 0.01" in row["reason"]
    )
    assert row["loads"] is False and row["faces"] is None


def test_missing_file_is_quarantined(tmp_path):
    row = ingest_file(tmp_path / "gone.obj", tmp_path / "s.zarr", _config())
    assert (row["status"], row["reason"], row["source_sha256"]) == ("quarantined", "file not found", None)


@pytest.mark.parametrize("method", ["unit_sphere", "unit_cube"])
def test_good_shape_store(tmp_path, method):
    mesh = trimesh.creation.box((2.0, 1.0, 0.5))
    mesh.apply_translation([3.0, 4.0, 5.0])
    path = tmp_path / "box.ply"
    mesh.export(path)
    row = ingest_file(path, tmp_path / "s.zarr", _config(normalization=method))
    assert row["status"] == "ok" and row["reason"] is None
    assert (row["vertices"], row["faces"], row["components"], row["watertight"]) == (8, 12, 1, True)
    store = open_store(tmp_path / "s.zarr")
    v = store["mesh/vertices"][...]
    f = store["mesh/faces"][...]
    assert v.dtype == np.float32 and f.dtype == np.int32 and f.shape == (12, 3)
    if method == "unit_sphere":
        assert np.linalg.norm(v, axis=1).max() == pytest.approx(1.0, abs=1e-6)
    else:
        np.testing.assert_allclose(v.min(axis=0), [-0.5, -0.25, -0.125], atol=1e-6)
    # The stored transform maps the normalized mesh back onto the raw file.
    inverse = np.asarray(store.attrs["normalization"]["inverse"])
    raw = (np.c_[v, np.ones(len(v))] @ inverse.T)[:, :3]
    np.testing.assert_allclose(np.sort(raw, axis=0), np.sort(mesh.vertices, axis=0), atol=1e-5)
    prov = store.attrs["provenance"]
    assert prov["stage"] == "ingest" and prov["config"]["ingest"]["normalization"] == method


def test_scan_and_ledger(tmp_path, mesh_folder):
    config = resolve_config({"source": {"kind": "folder", "path": str(mesh_folder)}, "ingest": TEST_LIMITS})
    n = scan_sources(config, tmp_path / "sources.tsv")
    sources = read_tsv(tmp_path / "sources.tsv")
    assert n == len(sources) == 5 + len(BAD_MESHES)
    assert {r["split"] for r in sources} <= {"train", "val", "test"}
    stores = []
    for r in sources:
        store = tmp_path / "shapes" / r["category"] / f"{r['shape_id']}.zarr"
        ingest_shape(
            mesh_folder / r["source_path"],
            store,
            category=r["category"],
            category_name=r["category_name"],
            shape_id=r["shape_id"],
            source_path=r["source_path"],
            source_format=r["source_format"],
            config=config,
        )
        stores.append(store)
    counts = build_ledger(
        tmp_path / "sources.tsv",
        stores,
        tmp_path / "ledger.tsv",
        tmp_path / "manifest.tsv",
        tmp_path / "summary.tsv",
    )
    assert counts == {"ok": 5, "quarantined": len(BAD_MESHES)}
    ledger = read_tsv(tmp_path / "ledger.tsv")
    assert [(r["category"], r["shape_id"]) for r in ledger] == sorted(
        (r["category"], r["shape_id"]) for r in sources
    )
    assert {r["split"] for r in ledger} == {r["split"] for r in sources}
    summary = {r["category"]: r for r in read_tsv(tmp_path / "summary.tsv")}
    assert summary["bad"]["quarantined"] == str(len(BAD_MESHES)) and summary["boxes"]["ok"] == "2"
    with pytest.raises(ValueError, match="scanned shapes have no ingest store"):
        build_ledger(
            tmp_path / "sources.tsv", stores[1:], tmp_path / "l.tsv", tmp_path / "m.tsv", tmp_path / "s.tsv"
        )


def test_demo_v1_and_v2_land_in_the_same_canonical_frame(tmp_path):
    """v2 models are v1 models rescaled and recentred; the canonical frame must undo that."""
    from recon.demo import make_demo_dataset
    from recon.ingest.sources import discover_shapenet

    worlds = {}
    for layout in ("v1", "v2"):
        root = tmp_path / layout
        make_demo_dataset(root, seed=0, layout=layout, shapes_per_category=1)
        config = resolve_config({"source": {"kind": f"shapenet_{layout}", "path": str(root)}})
        for s in discover_shapenet(root, layout):
            store = tmp_path / "stores" / layout / f"{s.shape_id}.zarr"
            row = ingest_source(root, s, store, config)
            assert row["status"] == "ok", row
            worlds[(layout, s.category_name)] = open_store(store)["mesh/vertices"][...]
    names = {name for _, name in worlds}
    assert names == {"airplane", "bottle", "chair", "lamp", "mug", "table"}
    for name in names:
        v1, v2 = worlds[("v1", name)], worlds[("v2", name)]
        # Both within the unit sphere and equal up to float32 rounding of the two files (%.6f).
        assert np.linalg.norm(v1, axis=1).max() == pytest.approx(1.0, abs=1e-5)
        np.testing.assert_allclose(v1, v2, atol=1e-4)


def test_a_reference_out_of_the_folder_is_noted_and_the_shape_stays_ok(tmp_path):
    """Geometry is fine, so the shape is ok; the ledger says what was dropped."""
    from recon.geometry.references import OUTSIDE_NOTE

    (tmp_path / "secret.mtl").write_text("newmtl a\nKd 1 0 1\n")
    shape = tmp_path / "meshes" / "things"
    shape.mkdir(parents=True)
    text = trimesh.exchange.obj.export_obj(trimesh.creation.box())
    (shape / "box.obj").write_text("mtllib ../../secret.mtl\nmtllib box.mtl\n" + text)
    (shape / "box.mtl").write_text("newmtl a\nKd 0 0 1\nmap_Kd /etc/shadow\nmap_Ka gone.png\n")
    row = ingest_file(shape / "box.obj", tmp_path / "s.zarr", _config())
    assert (row["status"], row["reason"], row["faces"]) == ("ok", None, 12)
    assert row["note"] == (
        f"{OUTSIDE_NOTE} (mtllib ../../secret.mtl, map_Kd /etc/shadow); "
        "material file missing: dropped (map_Ka gone.png)"
    )
    attrs = open_store(tmp_path / "s.zarr").attrs
    assert attrs["ledger"]["note"] == row["note"] and attrs["shape"]["folder"] == ""


def test_a_mesh_file_out_of_the_folder_is_quarantined_unread(tmp_path):
    trimesh.creation.box().export(tmp_path / "private.obj")
    (tmp_path / "meshes").mkdir()
    (tmp_path / "meshes" / "box.obj").symlink_to(tmp_path / "private.obj")
    row = ingest_file(tmp_path / "meshes" / "box.obj", tmp_path / "s.zarr", _config())
    assert (row["status"], row["reason"]) == ("quarantined", "mesh file outside the shape folder")
    assert row["source_sha256"] is None and row["source_bytes"] is None


def test_the_shape_folder_of_shapenet_v2_holds_its_images(tmp_path):
    """v2's models/model_normalized.mtl names ../images/: the shape folder is <synset>/<id>."""
    from recon.demo import make_demo_dataset

    root = tmp_path / "v2"
    make_demo_dataset(root, seed=0, layout="v2", categories=["table"], shapes_per_category=2)
    config = resolve_config({"source": {"kind": "shapenet_v2", "path": str(root)}})
    scan_sources(config, tmp_path / "sources.tsv")
    rows = read_tsv(tmp_path / "sources.tsv")
    assert [r["source_folder"] for r in rows] == [r["source_path"].rsplit("/", 2)[0] for r in rows]
    for r in rows:
        store = tmp_path / f"{r['shape_id']}.zarr"
        keys = ("category", "category_name", "shape_id", "source_path", "source_format", "source_folder")
        row = ingest_shape(root / r["source_path"], store, **{k: r[k] for k in keys}, config=config)
        assert row["status"] == "ok" and row["note"] is None, row
        assert open_store(store).attrs["shape"]["folder"] == r["source_folder"]
    # The same files judged from the mesh's own folder: ../images/ is outside it.
    textured = next(r for r in rows if (root / r["source_folder"] / "images").is_dir())
    row = ingest_file(root / textured["source_path"], tmp_path / "strict.zarr", _config())
    assert row["note"] == "material path outside the shape folder: dropped (map_Kd ../images/texture0.png)"
