"""Tests for recon.demo: the procedural ShapeNet-layout demo dataset."""

from __future__ import annotations

import hashlib
import json
import re
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import trimesh

import recon.demo.stage as demo_dataset
from recon.demo import DEMO_CATEGORIES, MAIN_VARIANT, PALETTES, generate_shape, make_demo_dataset
from recon.demo.obj_writer import ObjPart, format_obj
from recon.seeding import rng

N = 8


@pytest.fixture(scope="module")
def v1(tmp_path_factory):
    root = tmp_path_factory.mktemp("v1") / "demo"
    return root, make_demo_dataset(root, seed=0, layout="v1")


@pytest.fixture(scope="module")
def v2(tmp_path_factory):
    root = tmp_path_factory.mktemp("v2") / "demo"
    return root, make_demo_dataset(root, seed=0, layout="v2")


def _tree_hashes(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _parse_mtl(path: Path) -> dict[str, dict[str, object]]:
    mats: dict[str, dict[str, object]] = {}
    cur = None
    for line in path.read_text().splitlines():
        tok = line.split()
        if not tok or tok[0].startswith("#"):
            continue
        if tok[0] == "newmtl":
            cur = mats.setdefault(tok[1], {})
        elif tok[0] in ("Ka", "Kd", "Ks"):
            cur[tok[0]] = tuple(float(x) for x in tok[1:4])
        else:
            cur[tok[0]] = " ".join(tok[1:])
    return mats


def _obj_vertices(path: Path) -> np.ndarray:
    rows = [line.split()[1:4] for line in path.read_text().splitlines() if line.startswith("v ")]
    return np.asarray(rows, dtype=np.float64)


def _decode_png(data: bytes) -> tuple[int, int, np.ndarray]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, ihdr = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        tag = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(tag + body) & 0xFFFFFFFF
        if tag == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif tag == b"IDAT":
            idat += body
        pos += 12 + length
    assert tag == b"IEND"
    w, h, depth, color, _, _, interlace = ihdr
    assert (depth, color, interlace) == (8, 2, 0)
    raw = zlib.decompress(idat)
    assert len(raw) == h * (1 + 3 * w)
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(h, 1 + 3 * w)
    assert (rows[:, 0] == 0).all()  # filter type 0 everywhere
    return w, h, rows[:, 1:].reshape(h, w, 3)


def test_v1_layout_paths_and_taxonomy(v1):
    root, records = v1
    assert len(records) == 6 * N
    tax = json.loads((root / "taxonomy.json").read_text())
    assert [t["name"] for t in tax] == list(DEMO_CATEGORIES)
    assert all(
        t["synsetId"] == DEMO_CATEGORIES[t["name"]] and t["numInstances"] == N and t["children"] == []
        for t in tax
    )
    assert sorted(p.name for p in root.iterdir()) == sorted([*DEMO_CATEGORIES.values(), "taxonomy.json"])
    ids = set()
    for r in records:
        assert re.fullmatch(r"[0-9a-f]{32}", r["shape_id"])
        assert r["synset"] == DEMO_CATEGORIES[r["category"]]
        assert r["path"] == f"{r['synset']}/{r['shape_id']}/model.obj"
        shape_dir = root / r["synset"] / r["shape_id"]
        assert (shape_dir / "model.obj").is_file() and (shape_dir / "model.mtl").is_file()
        assert "mtllib model.mtl" in (shape_dir / "model.obj").read_text()
        assert (shape_dir / "images" / "texture0.png").is_file() == (r["category"] == "table")
        json.dumps(r["params"])  # JSON-serializable
        ids.add(r["shape_id"])
    assert len(ids) == len(records)
    for synset in DEMO_CATEGORIES.values():
        assert len(list((root / synset).iterdir())) == N


def test_v2_layout_json_and_normalization(v2):
    root, records = v2
    for r in records:
        shape_dir = root / r["synset"] / r["shape_id"]
        obj = shape_dir / "models" / "model_normalized.obj"
        assert r["path"] == obj.relative_to(root).as_posix()
        assert (shape_dir / "models" / "model_normalized.mtl").is_file()
        info = json.loads((shape_dir / "models" / "model_normalized.json").read_text())
        v = _obj_vertices(obj)
        lo, hi = v.min(axis=0), v.max(axis=0)
        np.testing.assert_allclose((lo + hi) / 2, 0.0, atol=1e-5)
        assert abs(np.linalg.norm(hi - lo) - 1.0) < 1e-5
        assert info["id"] == r["shape_id"] and info["numVertices"] == len(v)
        np.testing.assert_allclose(info["min"], lo, atol=2e-6)
        np.testing.assert_allclose(info["max"], hi, atol=2e-6)
        np.testing.assert_allclose(info["centroid"], v.mean(axis=0), atol=2e-6)
        if r["category"] == "table":
            assert (shape_dir / "images" / "texture0.png").is_file()
            assert (
                _parse_mtl(shape_dir / "models" / "model_normalized.mtl")["top"]["map_Kd"]
                == "../images/texture0.png"
            )


def test_v1_meshes_are_raw_not_normalized(v1):
    root, records = v1
    for r in records:
        v = _obj_vertices(root / r["path"])
        lo, hi = v.min(axis=0), v.max(axis=0)
        centre_off = np.abs((lo + hi) / 2).max()
        diag = np.linalg.norm(hi - lo)
        assert centre_off > 1e-3 or abs(diag - 1.0) > 1e-3
        assert lo[1] > -0.15 * (hi[1] - lo[1])  # stands on / near y = 0
        height = hi[1] - lo[1]
        if r["category"] == "chair":
            assert 0.7 < height < 1.2
        if r["category"] == "mug":
            assert 0.06 < height < 0.16
        if r["category"] == "airplane":
            assert hi[0] - lo[0] > 2.0  # span of a few units


@pytest.mark.parametrize("fixture", ["v1", "v2"])
def test_every_obj_loads_with_trimesh(fixture, request):
    root, records = request.getfixturevalue(fixture)
    for r in records:
        mesh = trimesh.load(root / r["path"], force="mesh")
        assert len(mesh.faces) > 0
        assert np.isfinite(mesh.vertices).all()
        text = (root / r["path"]).read_text()
        groups = [line.split()[1] for line in text.splitlines() if line.startswith("g ")]
        assert len(groups) == len(set(groups)) >= 2
        assert "-0.000000" not in text


def test_determinism_same_seed_identical_different_seed_differs(tmp_path, v1):
    root_a, _ = v1
    root_b = tmp_path / "b"
    make_demo_dataset(root_b, seed=0, layout="v1")
    hashes_a, hashes_b = _tree_hashes(root_a), _tree_hashes(root_b)
    assert hashes_a == hashes_b
    root_c = tmp_path / "c"
    recs_c = make_demo_dataset(root_c, seed=1, layout="v1", categories=["chair"])
    hashes_c = _tree_hashes(root_c)
    assert set(hashes_c).isdisjoint({k for k in hashes_a if "/" in k})  # new ids
    objs_a = sorted(h for k, h in hashes_a.items() if k.startswith("03001627/") and k.endswith(".obj"))
    objs_c = sorted(h for k, h in hashes_c.items() if k.endswith(".obj"))
    assert len(objs_c) == N and set(objs_a).isdisjoint(objs_c)
    assert recs_c[0]["params"] != generate_shape("chair", rng(0, "demo", "chair", 0))[1]


def test_records_match_generate_shape(v1):
    _, records = v1
    for r in records[::7]:
        index = [x["shape_id"] for x in records if x["category"] == r["category"]].index(r["shape_id"])
        _, params = generate_shape(r["category"], rng(0, "demo", r["category"], index))
        assert params == r["params"]


def test_mtl_colours_match_palette(v1):
    root, records = v1
    for r in records:
        obj = root / r["path"]
        mats = _parse_mtl(obj.with_suffix(".mtl"))
        used = {line.split()[1] for line in obj.read_text().splitlines() if line.startswith("usemtl ")}
        assert used == set(mats) == set(r["params"]["materials"])
        palette = np.asarray(PALETTES[r["category"]])
        for name, m in mats.items():
            kd = np.asarray(m["Kd"])
            assert np.abs(palette - kd).max(axis=1).min() < 1e-6, (r["category"], name, kd)
            np.testing.assert_allclose(kd, r["params"]["materials"][name]["Kd"], atol=1e-6)
            assert m["d"] == "1" and m["illum"] == "2" and "Ka" in m and "Ks" in m and "Ns" in m


def test_texture_png_and_uvs(v1):
    root, records = v1
    tables = [r for r in records if r["category"] == "table"]
    kinds = set()
    for r in tables:
        obj = root / r["path"]
        mats = _parse_mtl(obj.with_suffix(".mtl"))
        assert mats["top"]["map_Kd"] == "images/texture0.png"
        png = obj.parent / mats["top"]["map_Kd"]
        spec = r["params"]["materials"]["top"]["texture"]
        kinds.add(spec["kind"])
        w, h, pixels = _decode_png(png.read_bytes())
        assert (w, h) == (spec["size"], spec["size"]) == (64, 64)
        assert len(np.unique(pixels.reshape(-1, 3), axis=0)) >= 2  # a pattern, not a flat colour
        lines = obj.read_text().splitlines()
        vt = np.asarray([line.split()[1:] for line in lines if line.startswith("vt ")], dtype=np.float64)
        assert len(vt) > 0 and vt.min() >= 0.0 and vt.max() <= 1.0
        assert any(re.fullmatch(r"f \d+/\d+ \d+/\d+ \d+/\d+", line) for line in lines)
        assert any(re.fullmatch(r"f \d+ \d+ \d+", line) for line in lines)  # untextured parts
    assert kinds  # at least one texture kind was drawn


def test_obj_writer_format():
    part = ObjPart("p", np.array([[-1e-9, 0.5, 1.0], [1, 0, 0], [0, 1, 0]]), np.array([[0, 1, 2]]), "m")
    text = format_obj([part, part], "x.mtl")
    assert text.splitlines()[:5] == ["mtllib x.mtl", "o p", "g p", "usemtl m", "v 0.000000 0.500000 1.000000"]
    assert "f 4 5 6" in text and text.endswith("\n")


def test_within_category_variation():
    seen: dict[str, dict[str, set]] = {c: {} for c in DEMO_CATEGORIES}
    for cat in DEMO_CATEGORIES:
        for i in range(N):
            parts, params = generate_shape(cat, rng(0, "demo", cat, i))
            for key, value in params.items():
                if isinstance(value, (str, bool, int)) and not isinstance(value, float):
                    seen[cat].setdefault(key, set()).add(value)
            for name, mesh, material in parts:
                assert mesh.is_watertight and mesh.volume > 0, (cat, i, name)
                assert material in params["materials"]
    for cat, key in MAIN_VARIANT.items():
        assert len(seen[cat][key]) >= 2, (cat, key, seen[cat][key])
    assert seen["chair"]["arms"] == {True, False}
    assert len(seen["chair"]["legs"]) >= 2
    for cat, key in [("table", "top_shape"), ("lamp", "kind"), ("mug", "handle"), ("bottle", "body_shape")]:
        assert len(seen[cat][key]) >= 2, (cat, key)


def test_orientation_front_is_minus_z_up_is_y():
    parts, _ = generate_shape("airplane", rng(0, "demo", "airplane", 0))
    by_name = {n: m for n, m, _ in parts}
    all_v = np.concatenate([m.vertices for m in by_name.values()])
    assert by_name["nose"].vertices[:, 2].min() == pytest.approx(all_v[:, 2].min())
    wing_x = np.ptp(np.concatenate([by_name["wing_0"].vertices, by_name["wing_1"].vertices])[:, 0])
    assert wing_x > np.ptp(by_name["fuselage"].vertices[:, 0]) * 5  # wings along X
    parts, _ = generate_shape("chair", rng(0, "demo", "chair", 5))
    by_name = {n: m for n, m, _ in parts}
    assert by_name["back_0"].vertices[:, 2].mean() > by_name["seat"].vertices[:, 2].mean()
    assert by_name["back_0"].vertices[:, 1].max() > by_name["seat"].vertices[:, 1].max()


def test_subset_and_atomic_replace(tmp_path):
    root = tmp_path / "data" / "demo"
    make_demo_dataset(root, categories=["mug", "chair"], shapes_per_category=2)
    tax = json.loads((root / "taxonomy.json").read_text())
    assert [(t["name"], t["numInstances"]) for t in tax] == [("mug", 2), ("chair", 2)]
    recs = make_demo_dataset(root, layout="v2", categories=["bottle"], shapes_per_category=1)
    assert sorted(p.name for p in root.iterdir()) == ["02876657", "taxonomy.json"]
    assert (root / recs[0]["path"]).is_file()
    assert [p.name for p in root.parent.iterdir()] == ["demo"]  # no temp / old dirs left


def test_failure_leaves_no_partial_root(tmp_path, monkeypatch):
    root = tmp_path / "demo"
    calls = []

    def boom(*args, **kwargs):
        calls.append(1)
        if len(calls) > 2:
            raise RuntimeError("disk full")
        return real(*args, **kwargs)

    real = demo_dataset.write_shape
    monkeypatch.setattr(demo_dataset, "write_shape", boom)
    with pytest.raises(RuntimeError):
        make_demo_dataset(root, categories=["mug"], shapes_per_category=4)
    assert list(tmp_path.iterdir()) == []

    monkeypatch.setattr(demo_dataset, "write_shape", real)
    make_demo_dataset(root, categories=["mug"], shapes_per_category=1)
    before = _tree_hashes(root)
    calls.clear()
    monkeypatch.setattr(demo_dataset, "write_shape", boom)
    with pytest.raises(RuntimeError):
        make_demo_dataset(root, categories=["lamp"], shapes_per_category=4)
    assert _tree_hashes(root) == before  # the old dataset survives a failed rebuild
    assert [p.name for p in tmp_path.iterdir()] == ["demo"]


def test_bad_arguments_raise(tmp_path):
    with pytest.raises(ValueError, match="chair") as exc:
        make_demo_dataset(tmp_path / "x", categories=["chair", "sofa"])
    assert "sofa" in str(exc.value) and "bottle" in str(exc.value)
    with pytest.raises(ValueError):
        make_demo_dataset(tmp_path / "x", layout="v3")
    with pytest.raises(ValueError):
        generate_shape("sofa", rng(0))
    assert list(tmp_path.iterdir()) == []
