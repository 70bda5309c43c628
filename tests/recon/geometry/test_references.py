"""Judging the files a mesh names: absolute, ``..``, symlinks, spaces, options, case, CRLF, missing."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import numpy as np
import pytest
import trimesh

from recon.geometry.mesh_io import MeshLoadError, load_mesh
from recon.geometry.references import (
    MISSING,
    OUTSIDE,
    OUTSIDE_NOTE,
    OutsideFolderError,
    ShapeFolder,
    dropped_note,
    find_references,
    open_in_folder,
    sanitized_copy,
    shape_folder,
)
from recon.geometry.references import _parse_map as parse_map


@pytest.fixture
def tree(tmp_path):
    """A ShapeNet v2 shape folder next to a folder of private files, with symlinks both ways."""
    shape = tmp_path / "root" / "03001627" / "abc"
    (shape / "models").mkdir(parents=True)
    (shape / "images").mkdir()
    (shape / "images" / "wood grain.png").write_bytes(b"png inside")
    (shape / "models" / "model_normalized.mtl").write_text("newmtl a\nKd 1 0 0\n")
    outside = tmp_path / "private"
    outside.mkdir()
    (outside / "secret.png").write_bytes(b"secret")
    (shape / "images" / "link_out.png").symlink_to(outside / "secret.png")
    (shape / "images" / "link_in.png").symlink_to("wood grain.png")
    (shape / "out_dir").symlink_to(outside, target_is_directory=True)
    (shape / "loop").symlink_to("loop")
    (shape / "models" / "up").symlink_to(shape / "images", target_is_directory=True)
    return {"shape": shape, "outside": outside, "folder": ShapeFolder(shape)}


@pytest.mark.parametrize(
    ("name", "base", "problem", "target"),
    [
        ("../images/wood grain.png", "models", None, "images/wood grain.png"),
        ("images/wood grain.png", "", None, "images/wood grain.png"),
        ("./images//wood grain.png", "", None, "images/wood grain.png"),
        ("models/../images/wood grain.png", "", None, "images/wood grain.png"),
        ("images/link_in.png", "", None, "images/wood grain.png"),
        ("up/wood grain.png", "models", None, "images/wood grain.png"),
        ("../../../../private/secret.png", "models", OUTSIDE, None),
        ("../abc/images/wood grain.png", "", None, "images/wood grain.png"),
        ("../other/x.png", "", OUTSIDE, None),
        ("..", "", OUTSIDE, None),
        ("images/link_out.png", "", OUTSIDE, None),
        ("out_dir/secret.png", "", OUTSIDE, None),
        ("/etc/shadow", "", OUTSIDE, None),
        ("images/missing.png", "", MISSING, None),
        ("images", "", MISSING, None),  # a directory is no texture
        ("images/wood grain.png/x", "", MISSING, None),
        ("loop", "", MISSING, None),
        ("nothing/../../../private/secret.png", "", OUTSIDE, None),  # judged as a string past a gap
        ("nul\x00.png", "", MISSING, None),
    ],
)
def test_resolve(tree, name, base, problem, target):
    resolved = tree["folder"].resolve(name, str(tree["shape"] / base))
    assert resolved.problem == problem
    expected = None if target is None else os.path.realpath(tree["shape"] / target)
    assert resolved.path == expected


def test_absolute_names_inside_are_kept(tree):
    path = tree["shape"] / "images" / "wood grain.png"
    assert tree["folder"].resolve(str(path)).path == str(path)


def test_string_and_kernel_must_both_stay_inside(tree):
    """``deep/../../x``: the kernel follows ``deep`` two levels down; a string reader goes up."""
    (tree["shape"] / "a" / "b").mkdir(parents=True)
    (tree["shape"] / "deep").symlink_to(tree["shape"] / "a" / "b", target_is_directory=True)
    (tree["shape"] / "a" / "x.png").write_bytes(b"x")
    assert tree["folder"].resolve("deep/../x.png").path == str(tree["shape"] / "a" / "x.png")
    assert tree["folder"].resolve("deep/../../x.png").problem == OUTSIDE


def test_nothing_outside_is_touched(tree, monkeypatch):
    """Judging a name never stats, reads a link of, or opens a path outside the folder."""
    seen = []
    for fn in ("lstat", "stat", "readlink", "open"):
        real = getattr(os, fn)

        def spy(path, *args, _real=real, **kwargs):
            seen.append(os.fsdecode(path) if not isinstance(path, int) else "")
            return _real(path, *args, **kwargs)

        monkeypatch.setattr(os, fn, spy)
    folder = tree["folder"]
    for name in (
        "../../../../private/secret.png",
        "/etc/shadow",
        "images/link_out.png",
        "out_dir/secret.png",
        str(tree["outside"] / "secret.png"),
    ):
        assert folder.resolve(name).problem == OUTSIDE
        with pytest.raises(OutsideFolderError):
            open_in_folder(folder, name).__enter__()
    monkeypatch.undo()
    private = str(tree["outside"])
    assert seen and not [p for p in seen if p.startswith(private) or p.startswith("/etc")]


def test_open_in_folder_reads_inside_and_refuses_a_swapped_symlink(tree):
    folder = tree["folder"]
    with open_in_folder(folder, "images/wood grain.png") as f:
        assert f.read() == b"png inside"
    with pytest.raises(FileNotFoundError):
        open_in_folder(folder, "images/missing.png").__enter__()
    # A folder swapped for a symlink out after the open: the open file is the checked one, and
    # the next open refuses the path.
    (tree["shape"] / "sub").mkdir()
    (tree["shape"] / "sub" / "secret.png").write_bytes(b"checked")
    with open_in_folder(folder, "sub/secret.png") as f:
        (tree["shape"] / "sub" / "secret.png").unlink()
        (tree["shape"] / "sub").rmdir()
        (tree["shape"] / "sub").symlink_to(tree["outside"], target_is_directory=True)
        assert f.read() == b"checked"  # opened before the swap
    with pytest.raises(OutsideFolderError):
        open_in_folder(folder, "sub/secret.png").__enter__()


@pytest.mark.parametrize(
    ("rest", "options", "name"),
    [
        ("tex.png", [], "tex.png"),
        ("-s 1 1 1 -bm 0.5 wood grain.png", ["-s", "1", "1", "1", "-bm", "0.5"], "wood grain.png"),
        ("-o 0.1 tex.png", ["-o", "0.1"], "tex.png"),
        ("-mm 0 1.5e0 tex.png", ["-mm", "0", "1.5e0"], "tex.png"),
        (
            "-clamp on -imfchan R -blendu off t.png",
            ["-clamp", "on", "-imfchan", "r", "-blendu", "off"],
            "t.png",
        ),
        ("-type sphere refl.png", ["-type", "sphere"], "refl.png"),
        ("-clamp ../../etc/passwd tex.png", [], "tex.png"),  # malformed option: skipped, not copied
        ("-s tex.png", [], "tex.png"),
        ('"quoted name.png"', [], "quoted name.png"),
        ("-unknown tex.png", [], "-unknown tex.png"),
        ("-s 1 1 1\r", ["-s", "1", "1", "1"], ""),
        ("   ", [], ""),
    ],
)
def test_parse_map(rest, options, name):
    assert parse_map(rest) == (options, name)


def _write(path: Path, text: str, newline: str = "\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.replace("\n", newline).encode())
    return path


def _quad_obj(mtllib_lines: str) -> str:
    return mtllib_lines + "v 0 0 0\nv 1 0 0\nv 1 1 0\nvt 0 0\nvt 1 0\nvt 1 1\nusemtl a\nf 1/1 2/2 3/3\n"


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_sanitized_copy(tree, tmp_path, newline):
    shape, outside = tree["shape"], tree["outside"]
    secret = outside / "secret.png"
    mtl = _write(
        shape / "models" / "model_normalized.mtl",
        "# comment naming /etc/passwd\n"
        "newmtl a\n"
        "Kd 1 0 0\n"
        "map_Kd -s 1 1 1 ../images/wood grain.png\n"
        f"map_Ka {secret}\n"
        "MAP_KS ../../../../private/secret.png\n"
        "bump -bm 0.5 ../images/link_out.png\n"
        "disp ../images/missing.png\n"
        "refl -type sphere ../images/link_in.png\n"
        "map_Pr C:\\textures\\wood grain.png\n"
        "Ka spectral ../../../../private/curve.rfl 1.0\n"
        "unknown_statement /etc/passwd\n"
        "newmtl b\n"
        "Kd 0 1 0\n",
        newline,
    )
    _write(outside / "evil.mtl", "newmtl a\nKd 1 0 1\n")
    obj = _write(
        shape / "models" / "model_normalized.obj",
        _quad_obj(
            "MTLLIB ../../../../private/evil.mtl\n"
            'mtllib "model_normalized.mtl"\n'
            "mtllib \\\n  ../../../../private/evil.mtl\n"
            f"call {outside}/x.obj\n"
            "csh rm -rf /\n"
        ),
        newline,
    )
    copy = sanitized_copy(obj, shape, tmp_path / "copy")
    by_name = {(r.statement, r.name): r for r in copy.references}
    assert by_name[("mtllib", "model_normalized.mtl")].target == str(mtl)
    assert by_name[("MTLLIB", "../../../../private/evil.mtl")].problem == OUTSIDE
    assert by_name[("mtllib", "../../../../private/evil.mtl")].problem == OUTSIDE  # continued line
    assert by_name[("map_Kd", "../images/wood grain.png")].problem is None
    assert by_name[("map_Ka", str(secret))].problem == OUTSIDE
    assert by_name[("MAP_KS", "../../../../private/secret.png")].problem == OUTSIDE
    assert by_name[("bump", "../images/link_out.png")].problem == OUTSIDE
    assert by_name[("disp", "../images/missing.png")].problem == MISSING
    assert by_name[("refl", "../images/link_in.png")].target == str(shape / "images" / "wood grain.png")
    # Blender's last try: the base name next to the .mtl (the texture is not there: missing).
    assert by_name[("map_Pr", "C:\\textures\\wood grain.png")].problem == MISSING
    assert by_name[("Ka spectral", "../../../../private/curve.rfl")].problem == OUTSIDE
    assert {r.line for r in copy.references if r.source.endswith(".mtl")} == {4, 5, 6, 7, 8, 9, 10, 11}

    files = sorted(p.relative_to(copy.path.parent).as_posix() for p in copy.path.parent.rglob("*"))
    assert files == ["lib0.mtl", "mesh.obj", "textures", "textures/tex0.png"]
    assert (copy.path.parent / "textures" / "tex0.png").read_bytes() == b"png inside"
    lib = (copy.path.parent / "lib0.mtl").read_text()
    assert lib.splitlines() == [
        "newmtl a",
        "Kd 1 0 0",
        "map_Kd -s 1 1 1 textures/tex0.png",
        "refl -type sphere textures/tex0.png",
        "newmtl b",
        "Kd 0 1 0",
    ]
    text = copy.path.read_text()
    assert [line for line in text.splitlines() if "mtllib" in line.lower()] == ["mtllib lib0.mtl"]
    assert "private" not in text and "call" not in text and "csh" not in text and ".." not in text
    # The geometry is untouched.
    mesh = trimesh.load(copy.path, process=False, skip_materials=True)
    assert len(mesh.faces) == 1
    # Judging without copying finds the same references.
    found = find_references(obj, shape, "obj")
    assert [(r.statement, r.name, r.problem) for r in found] == [
        (r.statement, r.name, r.problem) for r in copy.references
    ]
    note = dropped_note(copy.references)
    assert note.startswith(OUTSIDE_NOTE + " (MTLLIB ../../../../private/evil.mtl, ")
    assert "; material file missing: dropped (disp ../images/missing.png, " in note
    assert "\n" not in note


def test_default_mtl_is_judged_like_a_named_one(tree, tmp_path):
    """Blender reads ``<stem>.mtl`` next to the OBJ unnamed: the copy keeps it, or drops a symlink out."""
    shape = tree["shape"]
    obj = _write(shape / "models" / "model_normalized.obj", _quad_obj(""))
    copy = sanitized_copy(obj, shape, tmp_path / "one")
    assert [(r.line, r.statement, r.name, r.problem) for r in copy.references] == [
        (0, "mtllib", "model_normalized.mtl", None)
    ]
    assert "mtllib lib0.mtl" in copy.path.read_text()
    (shape / "models" / "model_normalized.mtl").unlink()
    (shape / "models" / "model_normalized.mtl").symlink_to(tree["outside"] / "secret.png")
    copy = sanitized_copy(obj, shape, tmp_path / "two")
    assert [r.problem for r in copy.references] == [OUTSIDE]
    assert "mtllib" not in copy.path.read_text()


def test_a_mesh_outside_its_folder_is_refused(tree, tmp_path):
    shape = tree["shape"]
    trimesh.creation.box().export(tree["outside"] / "box.obj")
    (shape / "models" / "model_normalized.obj").symlink_to(tree["outside"] / "box.obj")
    with pytest.raises(OutsideFolderError):
        sanitized_copy(shape / "models" / "model_normalized.obj", shape, tmp_path / "copy")
    with pytest.raises(MeshLoadError, match=r"^mesh file outside the shape folder$"):
        load_mesh(shape / "models" / "model_normalized.obj", "obj", shape)
    with pytest.raises(OutsideFolderError):
        sanitized_copy(tree["outside"] / "box.obj", shape, tmp_path / "copy")


def _glb_with_external_buffer(path: Path, uri: str) -> bytes:
    """A GLB whose one triangle lives in an external buffer ``uri``; returns that buffer's bytes."""
    positions = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], dtype=np.float32).tobytes()
    header = {
        "asset": {"version": "2.0"},
        "buffers": [{"uri": uri, "byteLength": len(positions)}],
        "bufferViews": [{"buffer": 0, "byteOffset": 0, "byteLength": len(positions)}],
        "accessors": [
            {
                "bufferView": 0,
                "componentType": 5126,
                "count": 3,
                "type": "VEC3",
                "min": [0, 0, 0],
                "max": [1, 1, 0],
            }
        ],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0}}]}],
        "nodes": [{"mesh": 0}],
        "scenes": [{"nodes": [0]}],
        "scene": 0,
    }
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 4)
    dummy = b"\0\0\0\0"  # a BIN chunk: trimesh reads external buffers while walking the chunks
    chunks = struct.pack("<II", len(text), 0x4E4F534A) + text + struct.pack("<II", 4, 0x004E4942) + dummy
    path.write_bytes(b"glTF" + struct.pack("<II", 2, 12 + len(chunks)) + chunks)
    return positions


def test_glb_external_buffers_stay_in_the_folder(tree):
    shape, outside = tree["shape"], tree["outside"]
    positions = _glb_with_external_buffer(shape / "inside.glb", "geometry.bin")
    (shape / "geometry.bin").write_bytes(positions)
    vertices, faces = load_mesh(shape / "inside.glb", "glb", shape)
    assert faces.shape == (1, 3) and vertices[:, 0].max() == 1.0

    (outside / "geometry.bin").write_bytes(positions)
    _glb_with_external_buffer(shape / "escape.glb", "../../../private/geometry.bin")
    with pytest.raises(MeshLoadError, match=r"^glb file names a file outside the shape folder"):
        load_mesh(shape / "escape.glb", "glb", shape)
    refs = find_references(shape / "escape.glb", shape, "glb")
    assert [(r.statement, r.problem) for r in refs] == [("buffers uri", OUTSIDE)]
    _glb_with_external_buffer(shape / "encoded.glb", "..%2F..%2F..%2Fprivate%2Fgeometry.bin")
    refs = find_references(shape / "encoded.glb", shape, "glb")
    assert [r.problem for r in refs] == [MISSING, OUTSIDE]  # as spelled, and percent-decoded


def test_ply_texture_file_is_judged(tree):
    ply = tree["shape"] / "m.ply"
    trimesh.creation.box().export(ply, encoding="ascii")
    header = "format ascii 1.0\n"
    text = ply.read_text().replace(header, header + "comment TextureFile ../../../private/secret.png\n", 1)
    ply.write_text(text)
    refs = find_references(ply, tree["shape"], "ply")
    assert [(r.statement, r.name, r.problem) for r in refs] == [
        ("TextureFile", "../../../private/secret.png", OUTSIDE)
    ]
    assert len(load_mesh(ply, "ply", tree["shape"])[1]) == 12


def test_shape_folder():
    assert shape_folder("03001627/abc/model.obj", "shapenet_v1") == "03001627/abc"
    assert shape_folder("03001627/abc/models/model_normalized.obj", "shapenet_v2") == "03001627/abc"
    assert shape_folder("chairs/sub/a.obj", "folder") == "chairs/sub"
    assert shape_folder("a.obj", "folder") == ""
    with pytest.raises(ValueError, match="not a ShapeNet mesh path"):
        shape_folder("a.obj", "shapenet_v1")


def test_obj_lines_other_than_file_statements_are_kept_byte_for_byte(tree, tmp_path):
    shape = tree["shape"]
    body = _quad_obj("")
    obj = _write(
        shape / "models" / "model_normalized.obj",
        "mtllib\n" + body + "MTLLIB model_normalized.mtl\n# mtllib in a comment\ntrace_obj\tx.obj\n",
    )
    copy = sanitized_copy(obj, shape, tmp_path / "copy")
    assert copy.path.read_text() == "\n" + body + "MTLLIB lib0.mtl\n# mtllib in a comment\n\n"
    assert [(r.line, r.statement, r.problem) for r in copy.references] == [(10, "MTLLIB", None)]
