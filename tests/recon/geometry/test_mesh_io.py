"""Loading every accepted format, and a clear reason for every file that cannot be read."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from recon.geometry.mesh_io import MeshLoadError, file_sha256, load_mesh


@pytest.mark.parametrize("fmt", ["obj", "off", "ply", "stl", "glb"])
def test_formats_round_trip_geometry(tmp_path, fmt):
    mesh = trimesh.creation.box((1, 2, 3))
    mesh.apply_translation([0.5, 0, -1])
    path = tmp_path / f"m.{fmt}"
    mesh.export(path)
    vertices, faces = load_mesh(path)
    assert vertices.dtype == np.float64 and faces.dtype == np.int64
    assert len(faces) == 12
    np.testing.assert_allclose(vertices.min(axis=0), [0, -1, -2.5], atol=1e-6)
    np.testing.assert_allclose(vertices.max(axis=0), [1, 1, 0.5], atol=1e-6)


def test_glb_scene_nodes_are_transformed_and_concatenated(tmp_path):
    scene = trimesh.Scene()
    scene.add_geometry(
        trimesh.creation.box(), transform=trimesh.transformations.translation_matrix([5, 0, 0])
    )
    scene.add_geometry(
        trimesh.creation.box(), transform=trimesh.transformations.translation_matrix([-5, 0, 0])
    )
    path = tmp_path / "two.glb"
    scene.export(path)
    vertices, faces = load_mesh(path)
    assert len(faces) == 24
    assert vertices[:, 0].min() == pytest.approx(-5.5) and vertices[:, 0].max() == pytest.approx(5.5)


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("empty.obj", b"", "empty file (0 bytes)"),
        ("bad.glb", b"\x00garbage" * 8, "unreadable glb file: ValueError"),
        (
            "bad.ply",
            b"ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nend_header\n1 2\n",
            "unreadable ply file",
        ),
        ("bad.off", b"OFF\n3 1 0\n0 0 0\n1 0 0\n", "unreadable off file"),
        ("junk.obj", bytes(range(1, 256)), "unreadable obj file: no geometry found"),
        ("nul.obj", bytes(range(256)), "unreadable obj file: NUL bytes (UTF-16 or binary data"),
        ("index.obj", b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 9\n", "unreadable obj file: IndexError"),
    ],
)
def test_unreadable_files_raise_with_reason(tmp_path, name, data, reason):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(MeshLoadError) as err:
        load_mesh(path)
    assert str(err.value).startswith(reason)
    assert "\n" not in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(MeshLoadError, match="file not found"):
        load_mesh(tmp_path / "nope.obj")


def test_vertices_without_faces_load_as_points(tmp_path):
    path = tmp_path / "p.obj"
    path.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\n")
    vertices, faces = load_mesh(path)
    assert vertices.shape == (3, 3) and faces.shape == (0, 3)


def test_sha256(tmp_path):
    path = tmp_path / "x"
    path.write_bytes(b"abc")
    assert file_sha256(path) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_an_external_glb_buffer_larger_than_the_limit_is_not_read(tmp_path):
    """A GLB's external buffer counts against ``ingest.max_file_mb`` like the mesh file itself."""
    import json
    import struct

    from recon.geometry.mesh_io import read_mesh

    box = trimesh.creation.box()
    positions = box.vertices.astype(np.float32).tobytes()
    indices = box.faces.astype(np.uint32).tobytes()
    (tmp_path / "buffer.bin").write_bytes(positions + indices)
    header = {
        "asset": {"version": "2.0"},
        "buffers": [{"uri": "buffer.bin", "byteLength": len(positions) + len(indices)}],
        "bufferViews": [
            {"buffer": 0, "byteOffset": 0, "byteLength": len(positions)},
            {"buffer": 0, "byteOffset": len(positions), "byteLength": len(indices)},
        ],
        "accessors": [
            {"bufferView": 0, "componentType": 5126, "count": 8, "type": "VEC3"},
            {"bufferView": 1, "componentType": 5125, "count": 36, "type": "SCALAR"},
        ],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0}, "indices": 1}]}],
        "nodes": [{"mesh": 0}],
        "scenes": [{"nodes": [0]}],
        "scene": 0,
    }
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 4)
    data = b"glTF" + struct.pack("<II", 2, 20 + len(text)) + struct.pack("<II", len(text), 0x4E4F534A) + text
    vertices, faces = read_mesh(data, "glb", tmp_path, tmp_path, max_bytes=1000)
    assert len(vertices) == 8 and len(faces) == 12  # 240 bytes: read
    with pytest.raises(MeshLoadError, match=r"absurdly large: the file names buffer.bin of 0.0 MB"):
        read_mesh(data, "glb", tmp_path, tmp_path, max_bytes=100)
