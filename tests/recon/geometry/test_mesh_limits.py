"""Resource limits checked on a mesh file's bytes before it is parsed (recon.geometry.mesh_limits)."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
import trimesh

import recon.ingest.stage
from recon.config import resolve_config
from recon.demo.stage import make_demo_dataset
from recon.geometry.mesh_limits import (
    DEEP,
    LARGE,
    MEM_BASE_MB,
    MEM_PER_FACE,
    MEM_PER_FILE_MB,
    MEM_PER_VERTEX,
    MISMATCH,
    REASON_PREFIXES,
    VERTEX_BYTES,
    ingest_mem_mb,
    json_depth,
    limit_reason,
    obj_counts,
)
from tests.meshes import REPO, ingest_file

LIMITS = resolve_config({})["ingest"]


def _limits(**changes) -> dict:
    return {**LIMITS, **changes}


def _export(mesh: trimesh.Trimesh, file_type: str, **kwargs) -> bytes:
    data = trimesh.exchange.export.export_mesh(mesh, None, file_type, **kwargs)
    return data.encode() if isinstance(data, str) else data


def _glb_parts(data: bytes) -> tuple[dict, bytes]:
    """A GLB's JSON (parsed) and what follows the JSON chunk (the BIN chunk with its header)."""
    (length,) = struct.unpack_from("<I", data, 12)
    return json.loads(data[20 : 20 + length]), data[20 + length :]


def _glb(header: dict | bytes, rest: bytes, total: int | None = None) -> bytes:
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    text += b" " * (-len(text) % 4)
    body = struct.pack("<II", len(text), 0x4E4F534A) + text + rest
    return b"glTF" + struct.pack("<II", 2, 12 + len(body) if total is None else total) + body


@pytest.fixture(scope="module")
def box_glb() -> bytes:
    return trimesh.Scene(trimesh.creation.box()).export(file_type="glb")


# --- files that pass ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("file_type", "fmt", "kwargs"),
    [
        ("obj", "obj", {}),
        ("off", "off", {}),
        ("ply", "ply", {"encoding": "binary"}),
        ("ply", "ply", {"encoding": "ascii"}),
        ("stl", "stl", {}),
        ("stl_ascii", "stl", {}),
        ("glb", "glb", {}),
    ],
)
def test_trimesh_exports_pass_with_default_limits(file_type, fmt, kwargs):
    mesh = trimesh.creation.icosphere(4)  # 5120 faces, 2562 vertices
    data = _export(mesh, file_type, **kwargs)
    assert limit_reason(data, fmt, LIMITS) is None
    # ... and the counts are exactly what the file holds: one fewer is too many.
    small = _limits(max_faces=5119)
    assert limit_reason(data, fmt, small).startswith(f"{LARGE}: 5120 faces > ingest.max_faces = 5119 (")


def test_demo_meshes_pass_with_default_limits(tmp_path):
    records = make_demo_dataset(
        tmp_path / "demo", seed=0, categories=["chair", "lamp"], shapes_per_category=3
    )
    for record in records:
        data = (tmp_path / "demo" / record["path"]).read_bytes()
        assert limit_reason(data, "obj", LIMITS) is None, record["path"]
        counts = obj_counts(data)
        mesh = trimesh.load(tmp_path / "demo" / record["path"], process=False, force="mesh")
        assert counts["triangles"] == len(mesh.faces), record["path"]


def test_demo_mesh_through_ingest_stays_ok(tmp_path):
    records = make_demo_dataset(tmp_path / "demo", seed=0, categories=["mug"], shapes_per_category=1)
    path = tmp_path / "demo" / records[0]["path"]
    row = _ingest(path, tmp_path / "s.zarr", "obj", LIMITS)
    assert row["status"] == "ok" and row["reason"] is None


# --- OBJ ---------------------------------------------------------------------------------------------


def test_obj_counts_lines_and_triangles_as_trimesh_reads_them():
    text = (
        b"# a comment with v 1 2 3\n"
        b"v 0 0 0\r\n"
        b"  v 1 0 0\n"  # leading blanks
        b"v\t0 1 0\n"  # a tab
        b"v 0 0 1\n"
        b"vt 0 0\nvt 1 0\nvn 0 0 1\n"
        b"vp 0 0\n"  # not a vertex
        b"f 1 2 3\r\n"
        b"f 1/1 2/2 3/1 4/2\n"  # a quad: 2 triangles
        b"\tf 1 2 3 4 1 2 3 4\n"  # 8 corners: 6
        b"f 1 2 \\\n3 4\n"  # continued: a quad
        b"f 1 2\n"  # no triangle
        b"fo 1 2 3\n"
        b"g f\n"
    )
    assert obj_counts(text) == {"v": 4, "vt": 2, "vn": 1, "f": 5, "triangles": 1 + 2 + 6 + 2}


def test_obj_counts_across_blocks(monkeypatch):
    """Blocks end at line ends: the counts do not depend on the block size."""
    import recon.geometry.mesh_limits as mesh_limits

    text = b"".join(b"v %d 0 0\nf 1 2 3 4 5\n" % i for i in range(5000)) + b"f " + b"1 " * 3000
    monkeypatch.setattr(mesh_limits, "_CHUNK", 1000)  # smaller than the last line
    assert obj_counts(text) == {"v": 5000, "vt": 0, "vn": 0, "f": 5001, "triangles": 5000 * 3 + 2998}


def test_obj_with_more_vertices_than_the_limit():
    text = b"v 0 0 0\n" * 101 + b"f 1 2 3\n"
    assert limit_reason(text, "obj", _limits(max_vertices=100)) == (
        f"{LARGE}: 101 vertices > ingest.max_vertices = 100 (counted in the OBJ text)"
    )
    assert limit_reason(text, "obj", _limits(max_vertices=101)) is None
    normals = b"v 0 0 0\n" + b"vn 0 0 1\n" * 101
    assert limit_reason(normals, "obj", _limits(max_vertices=100)).startswith(
        f"{LARGE}: 101 normals (vn) > ingest.max_vertices = 100"
    )


def test_obj_polygons_count_as_their_triangles():
    text = b"v 0 0 0\nv 1 0 0\nv 0 1 0\n" + b"f " + b"1 2 3 " * 40 + b"\n"  # 120 corners: 118 triangles
    assert limit_reason(text, "obj", _limits(max_faces=117)) == (
        f"{LARGE}: 118 faces > ingest.max_faces = 117 (counted in the OBJ text)"
    )


def test_obj_check_is_fast_on_50_mb():
    line = b"v 0.123456 -0.234567 0.345678\nvt 0.5 0.25\nf 1/1 2/2 3/3\n"
    text = line * (50 * 2**20 // len(line))
    start = time.perf_counter()
    counts = obj_counts(text)
    seconds = time.perf_counter() - start
    n = 50 * 2**20 // len(line)
    assert counts == {"v": n, "vt": n, "vn": 0, "f": n, "triangles": n}
    assert seconds < 1.0, seconds


# --- OFF ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [b"OFF\n3 1 0\n", b"OFF 3 1 0\n", b"# made by hand\nCOFF\n# counts\n3 1 0\n", b"NOFF\n\n3 1\n"],
)
def test_off_header_variants(header):
    body = b"0 0 0\n1 0 0\n0 1 0\n3 0 1 2\n"
    assert limit_reason(header + body, "off", LIMITS) is None
    assert limit_reason(header + body, "off", _limits(max_vertices=2)) == (
        f"{LARGE}: 3 vertices > ingest.max_vertices = 2 (declared in the OFF header)"
    )
    assert limit_reason(header + body[:-8], "off", LIMITS) == (
        f"{MISMATCH}: OFF header declares 3 vertices and 1 faces, which need 4 lines; "
        "the file has 3 after the header"
    )


def test_off_with_everything_on_its_counts_line():
    data = b"OFF\n3 1 0 " + b"0.5 " * 1_000_000
    assert limit_reason(data, "off", LIMITS) == (
        f"{MISMATCH}: OFF header declares 3 vertices and 1 faces, which need 4 lines; "
        "the file has 0 after the header"
    )


def test_text_rows_too_short_for_their_reader():
    """trimesh holds every OFF and ASCII PLY line as Python objects: past 100,000 of them, a file
    must average 12 bytes a line (or comment)."""
    tri = b"0 0 0\n1 0 0\n0 1 0\n"
    off = b"OFF\n3 1 0\n" + tri + b"3 0 1 2\n" + b"#\n" * 200_000
    assert limit_reason(off, "off", LIMITS) == (
        f"{LARGE}: 400004 OFF lines and # comments in {len(off)} bytes, fewer than 12 bytes each"
    )
    assert limit_reason(off[: -2 * 160_000], "off", LIMITS) is None  # 80,004: allowed
    head = (
        b"ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\n"
        b"property float z\nelement face 1\nproperty list uchar int vertex_indices\n"
    )
    ply = (
        head + b"element junk 200000\nproperty uchar a\nend_header\n" + tri + b"3 0 1 2\n" + b"0\n" * 200_000
    )
    assert limit_reason(ply, "ply", LIMITS) == (
        f"{LARGE}: 200004 ASCII PLY rows in {len(ply)} bytes, fewer than 12 bytes each"
    )


def test_off_header_that_lies():
    data = b"OFF\n3 2147483648 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 2\n"
    assert limit_reason(data, "off", LIMITS) == (
        f"{MISMATCH}: OFF header declares 3 vertices and 2147483648 faces, which need 2147483651 lines; "
        "the file has 4 after the header"
    )


# --- PLY ---------------------------------------------------------------------------------------------


def test_ply_header_with_2_to_the_31_faces_in_a_tiny_file():
    data = _export(trimesh.creation.box(), "ply", encoding="binary")
    assert b"element face 12\n" in data
    lie = data.replace(b"element face 12\n", b"element face 2147483648\n")
    body = len(lie) - lie.index(b"end_header\n") - len(b"end_header\n")
    assert limit_reason(lie, "ply", LIMITS) == (
        f"{MISMATCH}: PLY header declares 8 vertices and 2147483648 faces, which need at least "
        f"{8 * 12 + 2147483648} bytes (2048.0 MB); the file has {body} bytes after the header"
    )


def test_ply_ascii_rows_must_match_the_header():
    data = _export(trimesh.creation.box(), "ply", encoding="ascii")
    assert limit_reason(data + b"\n\n", "ply", LIMITS) is None  # trailing blank lines
    for faces, lines in ((13, 21), (11, 19)):
        lie = data.replace(b"element face 12\n", b"element face %d\n" % faces)
        assert limit_reason(lie, "ply", LIMITS) == (
            f"{MISMATCH}: PLY header declares 8 vertices and {faces} faces, one line each: {lines} lines; "
            "the file has 20 after the header"
        )


def test_ply_without_end_header():
    data = b"ply\nformat ascii 1.0\n" + b"comment " + b"x" * (2 << 20)
    assert limit_reason(data, "ply", LIMITS).startswith(f"{MISMATCH}: PLY header has no end_header within")


def test_ply_over_the_limits():
    data = _export(trimesh.creation.box(), "ply", encoding="binary")
    assert limit_reason(data, "ply", _limits(max_vertices=7)) == (
        f"{LARGE}: 8 vertices > ingest.max_vertices = 7 (declared in the PLY header)"
    )


# --- STL ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [0, 11, 13, 2**31, 2**32 - 1])
def test_binary_stl_whose_count_disagrees_with_its_size(count):
    data = _export(trimesh.creation.box(), "stl")
    assert len(data) == 84 + 50 * 12
    lie = data[:80] + struct.pack("<I", count) + data[84:]
    need = 84 + 50 * count
    size = f"{need} bytes" if need < 2**20 else f"{need} bytes ({need / 2**20:.1f} MB)"
    assert limit_reason(lie, "stl", LIMITS) == (
        f"{MISMATCH}: binary STL header says {count} triangles, which need 84 + 50 x {count} = {size}; "
        "the file has 684 bytes (and is no ASCII STL)"
    )


def test_binary_stl_with_a_solid_header_is_binary():
    """SolidWorks writes binary STL headers that start with "solid": the size decides."""
    data = _export(trimesh.creation.box(), "stl")
    data = b"solid part".ljust(80, b" ") + data[80:]
    assert limit_reason(data, "stl", _limits(max_faces=11)) == (
        f"{LARGE}: 12 faces > ingest.max_faces = 11 (declared in the binary STL header)"
    )


# --- GLB ---------------------------------------------------------------------------------------------


def test_glb_file_cut_short(box_glb):
    assert limit_reason(box_glb[:-100], "glb", LIMITS) == (
        f"{MISMATCH}: GLB header says {len(box_glb)} bytes, the file has {len(box_glb) - 100} bytes"
    )


def test_glb_length_field_lies(box_glb):
    header, rest = _glb_parts(box_glb)
    data = _glb(header, rest, total=2**32 - 1)
    assert limit_reason(data, "glb", LIMITS) == (
        f"{MISMATCH}: GLB header says 4294967295 bytes (4096.0 MB), the file has {len(data)} bytes"
    )


def test_glb_bin_chunk_longer_than_the_file(box_glb):
    header, rest = _glb_parts(box_glb)
    (length,) = struct.unpack_from("<I", rest, 0)
    lie = _glb(header, struct.pack("<I", length + 2**30) + rest[4:])
    assert limit_reason(lie, "glb", LIMITS) == (
        f"{MISMATCH}: GLB BIN chunk declares {length + 2**30} bytes ({(length + 2**30) / 2**20:.1f} MB), "
        f"only {length} bytes follow its header"
    )


def test_glb_without_its_bin_chunk(box_glb):
    header, _ = _glb_parts(box_glb)
    size = header["buffers"][0]["byteLength"]
    assert limit_reason(_glb(header, b""), "glb", LIMITS) == (
        f"{MISMATCH}: glTF buffer 0 declares {size} bytes, the GLB has no BIN chunk"
    )


def test_glb_accessor_count_that_lies(box_glb):
    header, rest = _glb_parts(box_glb)
    header["accessors"][0]["count"] = 2**31
    reason = limit_reason(_glb(header, rest), "glb", LIMITS)
    assert reason.startswith(f"{MISMATCH}: glTF accessor 0 declares 2147483648 items of ")


def test_glb_node_cycle(box_glb):
    header, rest = _glb_parts(box_glb)
    header["nodes"] = [{"children": [1], "mesh": 0}, {"children": [2]}, {"children": [1]}]
    header["scenes"] = [{"nodes": [0]}]
    assert limit_reason(_glb(header, rest), "glb", LIMITS) == (
        "unreadable glb file: glTF node 1 is its own descendant (a cycle)"
    )


def test_glb_deeply_nested_json(box_glb):
    _, rest = _glb_parts(box_glb)
    depth = 100_000
    text = b'{"asset":{"version":"2.0"},"extras":' + b"[" * depth + b"]" * depth + b"}"
    assert limit_reason(_glb(text, rest), "glb", LIMITS) == (
        f"{DEEP}: glTF JSON nested {depth + 1} levels > ingest.max_gltf_depth = 64"
    )


def test_json_depth_skips_strings():
    assert json_depth(b'{"a": "[[[{{{\\"[[", "b": [[1], {"c": []}]}') == 4
    assert json_depth(b"[]") == 1 and json_depth(b"1") == 0
    assert json_depth(b'["\\\\", [["]"]]]') == 3  # an escaped backslash ends no string
    start = time.perf_counter()
    assert json_depth(b'["' + b'\\"' * 1_000_000) == 1  # one string, never closed: linear time
    assert time.perf_counter() - start < 2


def test_glb_deep_node_hierarchy(box_glb):
    header, rest = _glb_parts(box_glb)
    n = 65
    header["nodes"] = [{"children": [i + 1]} for i in range(n - 1)] + [{"mesh": 0}]
    header["scenes"] = [{"nodes": [0]}]
    assert limit_reason(_glb(header, rest), "glb", _limits(max_gltf_depth=65)) is None
    assert limit_reason(_glb(header, rest), "glb", LIMITS) == (
        f"{DEEP}: glTF node hierarchy 65 levels deep below node 0 > ingest.max_gltf_depth = 64"
    )


def test_glb_mesh_instanced_by_many_nodes(box_glb):
    header, rest = _glb_parts(box_glb)
    n = 1_000_000
    header["nodes"] = [{"children": list(range(1, n + 1))}] + [{"mesh": 0}] * n
    header["scenes"], header["scene"] = [{"nodes": [0]}], 0
    data = _glb(header, rest)
    start = time.perf_counter()
    assert limit_reason(data, "glb", LIMITS) == (
        f"{LARGE}: 1000001 node instances > ingest.max_gltf_nodes = 10000 (in the largest glTF scene)"
    )
    assert time.perf_counter() - start < 10
    assert limit_reason(data, "glb", _limits(max_gltf_nodes=10**7)) == (
        f"{LARGE}: 12000000 faces > ingest.max_faces = 5000000 (glTF: 1 meshes, 1000000 instances "
        "in the largest scene)"
    )


def test_glb_instances_beyond_one_triangle_per_byte():
    sphere = trimesh.Scene(trimesh.creation.icosphere(2)).export(file_type="glb")  # 320 triangles
    header, rest = _glb_parts(sphere)
    n = 200  # 64,000 triangles from a file of about 10 KB
    header["nodes"] = [{"children": list(range(1, n + 1))}] + [{"mesh": 0}] * n
    header["scenes"] = [{"nodes": [0]}]
    data = _glb(header, rest)
    assert limit_reason(data, "glb", LIMITS) == (
        f"{LARGE}: 64000 faces from a {len(data)}-byte file, more than one per byte "
        "(glTF: 1 meshes, 200 instances in the largest scene)"
    )
    header["nodes"] = [{"children": list(range(1, 11))}] + [{"mesh": 0}] * 10  # 3,200: fine
    assert limit_reason(_glb(header, rest), "glb", LIMITS) is None


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda h: h.update(nodes=5), "unreadable glb file: nodes is not a list of objects"),
        (
            lambda h: h["meshes"][0]["primitives"][0].update(indices=99),
            "unreadable glb file: mesh 0 indices is 99, not an index below",
        ),
        (
            lambda h: h["accessors"][0].update(componentType=7),
            "unreadable glb file: accessor 0 has componentType 7",
        ),
        (
            lambda h: h["bufferViews"][0].update(byteOffset=2**40),
            f"{MISMATCH}: glTF bufferView 0 ends at byte",
        ),
    ],
)
def test_glb_broken_structure(box_glb, edit, reason):
    header, rest = _glb_parts(box_glb)
    edit(header)
    assert limit_reason(_glb(header, rest), "glb", LIMITS).startswith(reason)


def test_every_reason_has_a_known_prefix(box_glb):
    header, rest = _glb_parts(box_glb)
    header["nodes"] = [{"children": [0]}]
    reasons = [
        limit_reason(_glb(header, rest), "glb", LIMITS),
        limit_reason(box_glb[:-4], "glb", LIMITS),
        limit_reason(b"v 0 0 0\n" * 3, "obj", _limits(max_vertices=2)),
    ]
    for reason in reasons:
        assert reason.startswith(REASON_PREFIXES) and "\n" not in reason, reason


# --- through ingest_shape ----------------------------------------------------------------------------


def _ingest(path: Path, store: Path, fmt: str, ingest: dict) -> dict:
    config = resolve_config({"source": {"kind": "folder", "path": "unused"}, "ingest": ingest})
    return ingest_file(path, store, config, fmt)


@pytest.mark.parametrize(
    ("name", "write", "limits", "reason"),
    [
        (
            "lies.ply",
            lambda: _export(trimesh.creation.box(), "ply").replace(b"face 12\n", b"face 2147483648\n"),
            {},
            f"{MISMATCH}: PLY header declares 8 vertices and 2147483648 faces",
        ),
        (
            "lies.stl",
            lambda: (lambda d: d[:80] + struct.pack("<I", 2**31) + d[84:])(
                _export(trimesh.creation.box(), "stl")
            ),
            {},
            f"{MISMATCH}: binary STL header says 2147483648 triangles",
        ),
        (
            "many.obj",
            lambda: b"v 0 0 0\nv 1 0 0\nv 0 1 0\n" + b"f 1 2 3\n" * 101,
            {"max_faces": 100},
            f"{LARGE}: 101 faces > ingest.max_faces = 100 (counted in the OBJ text)",
        ),
        (
            "cycle.glb",
            lambda: (lambda h, r: _glb({**h, "nodes": [{"children": [0], "mesh": 0}]}, r))(
                *_glb_parts(trimesh.Scene(trimesh.creation.box()).export(file_type="glb"))
            ),
            {},
            "unreadable glb file: glTF node 0 is its own descendant (a cycle)",
        ),
    ],
)
def test_ingest_quarantines_before_parsing(tmp_path, monkeypatch, name, write, limits, reason):
    def never(*args, **kwargs):
        raise AssertionError("the file was parsed")

    monkeypatch.setattr(recon.ingest.stage, "read_mesh", never)
    path = tmp_path / name
    path.write_bytes(write())
    row = _ingest(path, tmp_path / "s.zarr", path.suffix[1:], limits)
    assert row["status"] == "quarantined" and row["reason"].startswith(reason), row["reason"]
    assert row["loads"] is False and row["faces"] is None and len(row["source_sha256"]) == 64


# --- memory ------------------------------------------------------------------------------------------


def test_ingest_mem_mb_grows_with_the_file_and_the_limits():
    assert ingest_mem_mb(0, LIMITS) == MEM_BASE_MB
    sizes = [0.01, 0.1, 1, 10, 100, 1024]
    mems = [ingest_mem_mb(s, LIMITS) for s in sizes]
    assert mems == sorted(mems) and len(set(mems)) == len(mems)
    # Past the limits' counts (5 M faces, 15 M vertices: 43 MB at one per 3 bytes), only the file's
    # own term grows; lower limits need less.
    assert ingest_mem_mb(1024, LIMITS) - ingest_mem_mb(512, LIMITS) == pytest.approx(
        512 * MEM_PER_FILE_MB, abs=1
    )
    full = MEM_BASE_MB + (MEM_PER_FACE * 5_000_000 + MEM_PER_VERTEX * 15_000_000) / 2**20
    assert ingest_mem_mb(50, LIMITS) == pytest.approx(full + 50 * MEM_PER_FILE_MB, abs=1)
    assert ingest_mem_mb(100, _limits(max_faces=100_000)) < ingest_mem_mb(100, LIMITS)


#: The child process: ingest one file with the default config; print its peak RSS in KiB (VmHWM: Linux
#: keeps ru_maxrss across exec, so it would count the forked copy of the pytest process).
CHILD = """
import json, sys
from pathlib import Path
from recon.config import resolve_config
from recon.ingest.stage import ingest_shape
path, fmt = Path(sys.argv[1]), sys.argv[2]
row = ingest_shape(path, path.with_suffix(".zarr"), category="c", category_name="c", shape_id="s",
                   source_path=path.name, source_format=fmt, config=resolve_config({}))
status = Path("/proc/self/status").read_text().splitlines()
hwm = [int(line.split()[1]) for line in status if line.startswith("VmHWM:")]
print(json.dumps({"status": row["status"], "faces": row["faces"], "peak_kib": hwm[0]}))
"""


def _instanced_glb(mesh: trimesh.Trimesh) -> bytes:
    """``mesh`` as a GLB instanced by as many nodes as the limits allow: one triangle per file byte,
    one vertex per 3 bytes (the node list adds bytes: 3 x the vertices is a little under them)."""
    data = trimesh.Scene(mesh).export(file_type="glb")
    header, rest = _glb_parts(data)
    copies = min(len(data) // len(mesh.faces), len(data) // (VERTEX_BYTES * len(mesh.vertices)))
    header["nodes"] = [{"children": list(range(1, copies + 1))}] + [
        {"mesh": 0, "translation": [3.0 * i, 0.0, 0.0]} for i in range(copies)
    ]
    header["scenes"], header["scene"] = [{"nodes": [0]}], 0
    return _glb(header, rest)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM from /proc (Linux)")
def test_peak_memory_of_ingest_stays_under_the_rule_formula(tmp_path):
    """A sphere of a few MB per format, and the densest OBJ and GLB the limits let through, each
    ingested in a fresh process: peak RSS <= ingest_mem_mb of the file."""
    sphere = trimesh.creation.uv_sphere(count=[200, 200])  # 159,200 triangles
    small = trimesh.creation.uv_sphere(count=[100, 100])  # 39,600
    files = {
        "sphere.obj": _export(sphere, "obj"),
        "sphere.off": _export(sphere, "off"),
        "sphere.ply": _export(sphere, "ply", encoding="binary"),
        "sphere_ascii.ply": _export(sphere, "ply", encoding="ascii"),
        "sphere.stl": _export(sphere, "stl"),
        "sphere.glb": trimesh.Scene(sphere).export(file_type="glb"),
        # 12-corner polygons over 4 vertices: 10 triangles per 26 bytes
        "fans.obj": b"v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\n" + b"f 1 2 3 4 2 3 4 1 3 4 1 2\n" * 20_000,
        "instanced.glb": _instanced_glb(small),
    }
    peaks = {}
    for name, data in files.items():
        path = tmp_path / name
        path.write_bytes(data)
        fmt = path.suffix[1:]
        assert limit_reason(data, fmt, LIMITS) is None, name
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(path), fmt], capture_output=True, text=True, cwd=REPO
        )
        assert out.returncode == 0, out.stderr[-2000:]
        result = json.loads(out.stdout.strip().splitlines()[-1])
        assert result["faces"] > 150_000, (name, result)
        size_mb = len(data) / 2**20
        peaks[name] = (size_mb, result["peak_kib"] / 1024, ingest_mem_mb(size_mb, LIMITS))
    assert all(peak <= mem for _, peak, mem in peaks.values()), peaks
