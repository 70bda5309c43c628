"""Finding meshes in ShapeNet v1 / v2 layouts and plain folders; selection."""

from __future__ import annotations

import json
import re

import pytest
import trimesh

from recon.ingest.sources import discover, discover_folder, discover_shapenet, select_shapes


def _shapenet(root, version, models):
    """Write a tiny ShapeNet tree: models = {synset: [ids]}; returns root."""
    names = {"03001627": "chair", "02691156": "airplane,aeroplane,plane"}
    (root).mkdir(parents=True, exist_ok=True)
    (root / "taxonomy.json").write_text(
        json.dumps(
            [
                {"synsetId": s, "name": names[s], "children": [], "numInstances": len(ids)}
                for s, ids in models.items()
            ]
        )
    )
    mesh = trimesh.creation.box()
    for synset, ids in models.items():
        for i in ids:
            rel = "model.obj" if version == "v1" else "models/model_normalized.obj"
            path = root / synset / i / rel
            path.parent.mkdir(parents=True)
            mesh.export(path)
    return root


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_shapenet_layouts(tmp_path, version):
    root = _shapenet(tmp_path / "sn", version, {"03001627": ["b2", "a1"], "02691156": ["c3"]})
    (root / "README.txt").write_text("not a synset")
    shapes = discover_shapenet(root, version)
    assert [(s.category, s.shape_id) for s in shapes] == [
        ("02691156", "c3"),
        ("03001627", "a1"),
        ("03001627", "b2"),
    ]
    assert shapes[0].category_name == "airplane"
    assert shapes[1].category_name == "chair"
    expected = "model.obj" if version == "v1" else "models/model_normalized.obj"
    assert shapes[1].path == f"03001627/a1/{expected}"
    assert all(s.exists and s.format == "obj" for s in shapes)


def test_shapenet_model_without_mesh_is_listed_as_missing(tmp_path):
    root = _shapenet(tmp_path / "sn", "v1", {"03001627": ["a1"]})
    (root / "03001627" / "zz").mkdir()
    shapes = discover_shapenet(root, "v1")
    assert [(s.shape_id, s.exists) for s in shapes] == [("a1", True), ("zz", False)]


def test_shapenet_without_taxonomy_uses_synset_names(tmp_path):
    root = _shapenet(tmp_path / "sn", "v1", {"03001627": ["a1"]})
    (root / "taxonomy.json").unlink()
    assert discover_shapenet(root, "v1")[0].category_name == "03001627"


def test_folder_formats_categories_and_ids(mesh_folder):
    (mesh_folder / "boxes" / "sub dir").mkdir()
    trimesh.creation.box().export(mesh_folder / "boxes" / "sub dir" / "x.obj")
    trimesh.creation.box().export(mesh_folder / "loose.stl")
    (mesh_folder / "boxes" / "notes.txt").write_text("ignored")
    shapes = {(s.category, s.shape_id): s for s in discover_folder(mesh_folder)}
    assert shapes[("boxes", "tall")].format == "obj"
    assert shapes[("boxes", "long")].format == "ply"
    assert shapes[("balls", "capsule")].format == "glb"
    assert shapes[("balls", "cyl")].format == "off"
    assert shapes[("balls", "ico")].format == "stl"
    assert shapes[("boxes", "sub_dir__x")].path == "boxes/sub dir/x.obj"
    assert shapes[("uncategorized", "loose")].path == "loose.stl"
    assert not any(s.path.endswith(".txt") for s in shapes.values())


def test_folder_same_stem_two_formats_get_distinct_ids(tmp_path):
    root = tmp_path / "m" / "cat"
    root.mkdir(parents=True)
    trimesh.creation.box().export(root / "a.obj")
    trimesh.creation.box().export(root / "a.ply")
    assert [s.shape_id for s in discover_folder(tmp_path / "m")] == ["a-obj", "a-ply"]


def test_selection(tmp_path):
    root = _shapenet(tmp_path / "sn", "v1", {"03001627": ["a", "b", "c", "d"], "02691156": ["e", "f"]})
    shapes = discover("shapenet_v1", root)
    pick = lambda **sel: [s.shape_id for s in select_shapes(shapes, sel)]  # noqa: E731
    assert pick(categories=["chair"]) == ["a", "b", "c", "d"]
    assert pick(categories=["02691156"]) == ["e", "f"]
    assert pick(categories=["Airplane", "chair"], max_per_category=1) == ["e", "a"]
    assert pick(include=["a", "e"], exclude=["e"]) == ["a"]
    with pytest.raises(ValueError, match=r"'sofa' is not in the source; found: 02691156 \(airplane\)"):
        pick(categories=["sofa"])


def test_missing_root_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="ShapeNet folder not found"):
        discover("shapenet_v2", tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="mesh folder not found"):
        discover("folder", tmp_path / "nope")


def test_source_without_meshes_names_the_folder_and_layout(tmp_path):
    (tmp_path / "empty").mkdir()
    expected = "empty: expected <synset: 8 digits>/<model id>/model.obj"
    with pytest.raises(ValueError, match=r"no ShapeNetCore.v1 mesh in .*" + re.escape(expected)):
        discover("shapenet_v1", tmp_path / "empty")
    expected = "empty: expected <category>/**/<name>.<obj|off|ply|stl|glb> under it"
    with pytest.raises(ValueError, match=r"no mesh file in .*" + re.escape(expected)):
        discover("folder", tmp_path / "empty")
    v2 = _shapenet(tmp_path / "sn", "v2", {"03001627": ["a1", "b2"]})
    expected = "none of its 2 model folders holds model.obj; they hold models/model_normalized.obj"
    with pytest.raises(ValueError, match=re.escape(expected + ": set source.kind: shapenet_v2")):
        discover("shapenet_v1", v2)
