"""The recon command line on real files."""

from __future__ import annotations

import json

import trimesh
import yaml

from recon.cli import main


def test_demo_then_check_then_show(tmp_path, capsys):
    assert main(["demo", str(tmp_path / "d"), "--categories", "mug", "--shapes-per-category", "1"]) == 0
    assert "wrote 1 shapes" in capsys.readouterr().out
    obj = next((tmp_path / "d").rglob("model.obj"))
    assert main(["check", str(obj)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["status"] == "ok" and report["faces"] > 0


def test_check_exits_1_on_quarantine(tmp_path, capsys):
    path = tmp_path / "empty.obj"
    path.write_bytes(b"")
    assert main(["check", str(path)]) == 1
    assert json.loads(capsys.readouterr().out)["reason"] == "empty file (0 bytes)"


def test_config_prints_resolved_defaults(tmp_path, capsys):
    path = tmp_path / "c.yaml"
    path.write_text("seed: 5\n")
    assert main(["config", str(path)]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["seed"] == 5 and printed["ingest"]["max_faces"] == 5000000


def test_check_folder_is_where_named_files_may_be(tmp_path, capsys):
    """A v2 mesh's ``../images/`` texture is outside the mesh's folder but inside its shape folder."""
    shape = tmp_path / "03797390" / "m1"
    (shape / "models").mkdir(parents=True)
    (shape / "images").mkdir()
    (shape / "images" / "wood.png").write_bytes(b"not read by check")
    trimesh.creation.box().export(shape / "models" / "model_normalized.obj", include_texture=False)
    obj = shape / "models" / "model_normalized.obj"
    obj.write_text("mtllib model_normalized.mtl\nusemtl m\n" + obj.read_text())
    (shape / "models" / "model_normalized.mtl").write_text("newmtl m\nmap_Kd ../images/wood.png\n")
    assert main(["check", str(obj)]) == 0
    assert "material path outside the shape folder: dropped" in json.loads(capsys.readouterr().out)["note"]
    assert main(["check", str(obj), "--folder", str(shape)]) == 0
    assert json.loads(capsys.readouterr().out)["note"] is None


def test_bad_config_is_a_short_message_and_exit_2(tmp_path, capsys):
    path = tmp_path / "c.yaml"
    path.write_text("seed: x\n")
    assert main(["config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err == "recon config: invalid config:\n  seed: got 'x' (str); expected integer\n"


def test_show_lists_arrays(tmp_path, capsys):
    from recon.config import resolve_config
    from recon.ingest.stage import ingest_shape

    trimesh.creation.box().export(tmp_path / "b.obj")
    ingest_shape(
        tmp_path / "b.obj",
        tmp_path / "b.zarr",
        category="c",
        category_name="c",
        shape_id="b",
        source_path="b.obj",
        source_format="obj",
        config=resolve_config({}),
    )
    assert main(["show", str(tmp_path / "b.zarr")]) == 0
    out = capsys.readouterr().out
    assert "vertices: (8, 3) float32 (vertex, xyz)" in out and "faces: (12, 3) int32 (face, corner)" in out
    assert '"provenance"' not in out
