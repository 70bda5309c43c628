"""Seeded mutation fuzzing of every mesh reader: malformed files must be quarantined, never crash a job.

Cases are mutated copies of one demo shape (a textured table: ``model.obj``, its ``.mtl`` and a PNG
texture) and of that mesh exported by trimesh as OFF, PLY (binary and ASCII), STL (binary and ASCII)
and GLB. Each case is drawn from ``recon.seeding.rng(seed, "fuzz", index)`` alone, so case ``i``
is the same bytes on every machine and in every run, whatever the number of cases.

Mutations (:data:`MUTATIONS`): the generic ones apply to any file (truncation, random byte
flips, repeated and deleted blocks, NUL bytes, random insertions, UTF-16 text); the text ones
edit lines (deleted lines, vertex lines with two coordinates or with letters, NaN / inf /
1e308 coordinates, out-of-range face indices); the format ones lie in headers (a PLY header
whose counts disagree with the data, a binary STL whose triangle count disagrees with its size,
a GLB with a truncated chunk or a JSON chunk of the wrong types, cycles or deep nesting), and
the OBJ's companions are mutated too (the ``.mtl`` and the texture).

``tests/recon/test_fuzz.py`` runs a few hundred cases through ``ingest_shape``. The longer run
carries every accepted mesh on through the sdf, render and voxelize stages, at reduced
resolution and views, each shape a job (the function its workflow rule calls)::

    python -m tests.fuzz --cases 1000 --out fuzz-run

and prints the counts: accepted, quarantined by reason, crashed jobs per stage, and rendered
shapes whose renders do not show the mesh ingest accepted (the bar for both is 0).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import re
import struct
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np

from recon.seeding import rng

__all__ = ["MUTATIONS", "SEED_FILES", "Case", "fuzz_case", "fuzz_cases", "main", "write_case"]

#: The demo shape every case starts from (a table with a texture), and the mesh file's name.
DEMO_SEED, DEMO_CATEGORY, DEMO_INDEX = 0, "table", 1


@dataclasses.dataclass(frozen=True)
class Case:
    """One fuzz case: the files of one shape folder.

    Attributes:
        index: the case number (its draw is ``rng(seed, "fuzz", index)``).
        kind: the seed file's kind (a key of :func:`seed_files`, e.g. ``ply_ascii``).
        mutation: the mutation applied (a key of :data:`MUTATIONS`).
        mesh: the mesh file's name in the folder (``model.<format>``).
        files: every file of the folder, ``{relative path: bytes}``.
    """

    index: int
    kind: str
    mutation: str
    mesh: str
    files: dict[str, bytes]

    @property
    def format(self) -> str:
        return self.mesh.rsplit(".", 1)[1]

    @property
    def name(self) -> str:
        return f"case{self.index:05d}-{self.kind}-{self.mutation}"


@functools.cache
def seed_files() -> dict[str, dict[str, bytes]]:
    """The unmutated shapes, by kind: ``{kind: {relative path: bytes}}`` (the mesh is ``model.*``)."""
    import trimesh

    from recon.demo.stage import make_demo_dataset

    with tempfile.TemporaryDirectory() as tmp:
        records = make_demo_dataset(
            Path(tmp) / "demo", seed=DEMO_SEED, categories=[DEMO_CATEGORY], shapes_per_category=DEMO_INDEX + 1
        )
        obj = Path(tmp) / "demo" / records[DEMO_INDEX]["path"]
        folder = obj.parent
        files = {
            p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
        }
        scene = trimesh.load(obj, process=False)
    mesh = (
        trimesh.util.concatenate(list(scene.geometry.values())) if isinstance(scene, trimesh.Scene) else scene
    )

    def export(file_type: str, **kwargs) -> bytes:
        data = trimesh.exchange.export.export_mesh(mesh, None, file_type, **kwargs)
        return data.encode() if isinstance(data, str) else data

    return {
        "obj": files,
        "off": {"model.off": export("off")},
        "ply": {"model.ply": export("ply", encoding="binary")},
        "ply_ascii": {"model.ply": export("ply", encoding="ascii")},
        "stl": {"model.stl": export("stl")},
        "stl_ascii": {"model.stl": export("stl_ascii")},
        "glb": {"model.glb": trimesh.Scene(scene).export(file_type="glb")},
    }


SEED_FILES = ("obj", "off", "ply", "ply_ascii", "stl", "stl_ascii", "glb")

# --- generic mutations: any bytes ---------------------------------------------------------------


def _truncate(data: bytes, g: np.random.Generator) -> bytes:
    return data[: int(g.integers(1, max(2, len(data))))]


def _flip(data: bytes, g: np.random.Generator) -> bytes:
    b = bytearray(data)
    for at in g.integers(0, len(b), int(g.integers(1, 21))):
        b[at] = int(g.integers(0, 256))
    return bytes(b)


def _block(data: bytes, g: np.random.Generator, most: int = 4096) -> tuple[int, int]:
    start = int(g.integers(0, len(data)))
    return start, min(len(data), start + int(g.integers(1, most)))


def _repeat(data: bytes, g: np.random.Generator) -> bytes:
    start, end = _block(data, g)
    return data[:end] + data[start:end] * int(g.integers(1, 6)) + data[end:]


def _delete(data: bytes, g: np.random.Generator) -> bytes:
    start, end = _block(data, g)
    return data[:start] + data[end:]


def _nul(data: bytes, g: np.random.Generator) -> bytes:
    at = int(g.integers(0, len(data) + 1))
    return data[:at] + b"\0" * int(g.integers(1, 65)) + data[at:]


def _insert(data: bytes, g: np.random.Generator) -> bytes:
    at = int(g.integers(0, len(data) + 1))
    return data[:at] + g.integers(0, 256, int(g.integers(1, 65)), dtype=np.uint8).tobytes() + data[at:]


def _utf16(data: bytes, g: np.random.Generator) -> bytes:
    return data.decode("latin-1").encode("utf-16")


# --- text mutations: lines of OBJ, OFF, ASCII PLY and STL, MTL -------------------------------------

_NUMBER = re.compile(rb"[-+]?\d*\.?\d+(?:[eE][-+]?\d+)?")


def _lines_of(data: bytes) -> list[bytes]:
    return data.split(b"\n")


def _vertex_lines(lines: list[bytes]) -> list[int]:
    """Lines holding three coordinates (OBJ ``v``, OFF / PLY vertex rows, STL ``vertex``)."""
    return [
        i for i, line in enumerate(lines) if len(_NUMBER.findall(line)) >= 3 and not line.startswith(b"f ")
    ]


def _face_lines(lines: list[bytes], kind: str) -> list[int]:
    """Lines of face indices: OBJ ``f``, or OFF / PLY rows ``3 a b c``."""
    if kind == "obj":
        return [i for i, line in enumerate(lines) if line.startswith(b"f ")]
    return [i for i, line in enumerate(lines) if re.fullmatch(rb"3 \d+ \d+ \d+\s*", line)]


def _edit_lines(
    data: bytes, g: np.random.Generator, pick: Callable[[list[bytes]], list[int]], edit: Callable
) -> bytes:
    lines = _lines_of(data)
    candidates = pick(lines)
    if not candidates:
        return _flip(data, g)
    for i in g.choice(candidates, size=min(len(candidates), int(g.integers(1, 6))), replace=False):
        lines[i] = edit(lines[i], g)
    return b"\n".join(lines)


def _numbers_replaced(
    line: bytes, g: np.random.Generator, words: list[bytes], count: int | None = None
) -> bytes:
    spans = [m.span() for m in _NUMBER.finditer(line)]
    if not spans:
        return line
    chosen = g.choice(len(spans), size=count or int(g.integers(1, len(spans) + 1)), replace=False)
    for j in sorted(chosen, reverse=True):
        a, b = spans[j]
        line = line[:a] + words[int(g.integers(0, len(words)))] + line[b:]
    return line


def _delete_lines(data: bytes, g: np.random.Generator) -> bytes:
    lines = _lines_of(data)
    for _ in range(int(g.integers(1, 11))):
        if len(lines) > 1:
            del lines[int(g.integers(0, len(lines)))]
    return b"\n".join(lines)


def _two_coordinates(data: bytes, g: np.random.Generator) -> bytes:
    def edit(line, g):
        last = list(_NUMBER.finditer(line))[-1]
        return line[: last.start()].rstrip() + line[last.end() :]

    return _edit_lines(data, g, _vertex_lines, edit)


def _letters(data: bytes, g: np.random.Generator) -> bytes:
    words = [b"abc", b"1.2.3", b"0x1p3", b"--1", b"1e", b"e5", b"\xff\xfe", b"1,5", b"NaNa"]
    return _edit_lines(data, g, _vertex_lines, lambda line, g: _numbers_replaced(line, g, words, 1))


def _nonfinite(data: bytes, g: np.random.Generator) -> bytes:
    words = [b"nan", b"NaN", b"inf", b"-inf", b"Infinity", b"1e400"]
    return _edit_lines(data, g, _vertex_lines, lambda line, g: _numbers_replaced(line, g, words))


def _huge(data: bytes, g: np.random.Generator) -> bytes:
    words = [b"1e308", b"-1e308", b"1.7976931348623157e308", b"1e-320", b"1e200", b"-1e250"]
    return _edit_lines(data, g, _vertex_lines, lambda line, g: _numbers_replaced(line, g, words))


def _bad_index(kind: str) -> Callable[[bytes, np.random.Generator], bytes]:
    def mutate(data: bytes, g: np.random.Generator) -> bytes:
        words = (
            [
                b"0",
                b"-99999",
                b"999999",
                b"2147483648",
                b"-2147483649",
                b"1e3",
                b"1.5",
                b"99999999999999999999",
            ]
            if kind == "obj"
            else [b"-1", b"999999", b"4294967296", b"2147483648", b"1.5", b"-7"]
        )

        def edit(line, g):
            if kind != "obj":  # keep the corner count
                head, rest = line.split(b" ", 1)
                return head + b" " + _numbers_replaced(rest, g, words, 1)
            return _numbers_replaced(line, g, words, 1)

        return _edit_lines(data, g, lambda lines: _face_lines(lines, kind), edit)

    return mutate


# --- format mutations: headers and chunks -----------------------------------------------------------


def _ply_header_lies(data: bytes, g: np.random.Generator) -> bytes:
    end = data.find(b"end_header")
    header, body = data[:end], data[end:]
    lines = header.split(b"\n")
    elements = [i for i, line in enumerate(lines) if line.startswith(b"element ")]
    i = int(g.choice(elements))
    name, count = lines[i].split()[1:3]
    lie = [2**31, 2**32 - 1, 2**63, int(count) * 1000, int(count) + 1, max(0, int(count) - 1), 0][
        int(g.integers(0, 7))
    ]
    lines[i] = b"element " + name + b" " + str(lie).encode()
    if g.random() < 0.3:  # and the format line
        fmt = next(i for i, line in enumerate(lines) if line.startswith(b"format "))
        lines[fmt] = [b"format ascii 1.0", b"format binary_big_endian 1.0", b"format binary_little_endian 9"][
            int(g.integers(0, 3))
        ]
    return b"\n".join(lines) + body


def _stl_count_lies(data: bytes, g: np.random.Generator) -> bytes:
    (count,) = struct.unpack_from("<I", data, 80)
    lie = [0, 1, count - 1, count + 1, 2**31, 2**32 - 1, int(g.integers(0, 2**32))][int(g.integers(0, 7))]
    return data[:80] + struct.pack("<I", lie) + data[84:]


def _glb_chunks(data: bytes) -> tuple[dict, bytes]:
    (json_length,) = struct.unpack_from("<I", data, 12)
    return json.loads(data[20 : 20 + json_length]), data[20 + json_length :]


def _glb(header: dict | bytes, rest: bytes, total: int | None = None) -> bytes:
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    text += b" " * (-len(text) % 4)
    body = struct.pack("<II", len(text), 0x4E4F534A) + text + rest
    return b"glTF" + struct.pack("<II", 2, total if total is not None else 12 + len(body)) + body


def _glb_truncated_chunk(data: bytes, g: np.random.Generator) -> bytes:
    header, rest = _glb_chunks(data)
    choice = int(g.integers(0, 4))
    if choice == 0:  # the BIN chunk cut short, lengths left as they were
        return data[: len(data) - int(g.integers(1, len(rest)))]
    if choice == 1:  # the BIN chunk's length says more than there is
        (length,) = struct.unpack_from("<I", rest, 0)
        rest = struct.pack("<I", length + int(g.integers(1, 2**31))) + rest[4:]
        return _glb(header, rest)
    if choice == 2:  # the file's length field lies
        return _glb(header, rest, total=int(g.integers(0, 2**32)))
    return _glb(header, b"")  # no BIN chunk at all


def _glb_json(data: bytes, g: np.random.Generator) -> bytes:
    header, rest = _glb_chunks(data)
    choice = int(g.integers(0, 9))
    if choice == 0:  # deep nesting
        depth = int(g.integers(1000, 200_000))
        return _glb(b'{"asset":{"version":"2.0"},"extras":' + b"[" * depth + b"]" * depth + b"}", rest)
    if choice == 1:  # node cycle
        header["nodes"] = [{"children": [1], "mesh": 0}, {"children": [0]}]
    elif choice == 2:  # one mesh instanced by very many nodes
        n = int(g.integers(10_000, 200_000))
        header["nodes"] = [{"children": list(range(1, n + 1))}] + [{"mesh": 0}] * n
        header["scenes"] = [{"nodes": [0]}]
        header["scene"] = 0
    elif choice == 3:  # an accessor's count lies
        accessor = header["accessors"][int(g.integers(0, len(header["accessors"])))]
        accessor["count"] = int([2**31, 2**40, 10**8, -1][int(g.integers(0, 4))])
    elif choice == 4:  # a buffer view past its buffer
        view = header["bufferViews"][int(g.integers(0, len(header["bufferViews"])))]
        view["byteOffset"] = int(g.integers(1, 2**40))
    elif choice == 5:  # wrong types
        key = ["buffers", "accessors", "meshes", "nodes", "scenes", "bufferViews", "images"][
            int(g.integers(0, 7))
        ]
        header[key] = [5, "x", None, {"a": 1}, [1, 2], 1.5][int(g.integers(0, 6))]
    elif choice == 6:  # an index beyond the list
        header["meshes"][0]["primitives"][0]["indices"] = int(g.integers(100, 2**31))
    elif choice == 7:  # unknown component type or accessor type
        accessor = header["accessors"][int(g.integers(0, len(header["accessors"])))]
        accessor["componentType"] = int(g.integers(0, 6000))
    else:  # the JSON itself cut
        text = json.dumps(header).encode()
        return _glb(text[: int(g.integers(1, len(text)))], rest)
    return _glb(header, rest)


def _mtl_statement(data: bytes, g: np.random.Generator) -> bytes:
    """An OBJ's ``.mtl`` with odd texture statements and names (NUL, long, absolute, options)."""
    names = [
        b"images/tex\0ture0.png",
        b"/" + b"a" * 5000,
        b"../../../etc/passwd",
        b"-s 1 -o x images/texture0.png",
        b"-bm",
        b"\xff\xfe\xfd.png",
        b'"images/texture0.png',
        b"images/",
        b".",
        b"",
    ]
    lines = _lines_of(data)
    at = int(g.integers(0, len(lines) + 1))
    keyword = [b"map_Kd", b"map_Bump", b"bump", b"newmtl", b"Kd", b"refl -type sphere", b"mtllib"][
        int(g.integers(0, 7))
    ]
    lines.insert(at, keyword + b" " + names[int(g.integers(0, len(names)))])
    return b"\n".join(lines)


def _obj_mtllib(data: bytes, g: np.random.Generator) -> bytes:
    """An OBJ whose ``mtllib`` / ``usemtl`` lines name odd things."""
    names = [
        b"mo\0del.mtl",
        b"a" * 10000 + b".mtl",
        b"/dev/zero",
        b"../model.mtl",
        b"model.mtl model.mtl",
        b"\\",
    ]
    lines = _lines_of(data)
    at = int(g.integers(0, len(lines) + 1))
    lines.insert(
        at,
        [b"mtllib ", b"usemtl ", b"call ", b"o ", b"g "][int(g.integers(0, 5))]
        + names[int(g.integers(0, 6))],
    )
    return b"\n".join(lines)


GENERIC = {
    "truncate": _truncate,
    "flip": _flip,
    "repeat_block": _repeat,
    "delete_block": _delete,
    "nul": _nul,
    "insert": _insert,
    "utf16": _utf16,
}
TEXT = {
    "delete_lines": _delete_lines,
    "two_coordinates": _two_coordinates,
    "letters": _letters,
    "nonfinite": _nonfinite,
    "huge": _huge,
}

#: Mutations per seed kind: ``{kind: {mutation: (target file, function)}}``; the target is the
#: mesh (None) or a companion's relative path.
MUTATIONS: dict[str, dict[str, tuple[str | None, Callable]]] = {
    "obj": {
        **{k: (None, f) for k, f in {**GENERIC, **TEXT}.items()},
        "bad_index": (None, _bad_index("obj")),
        "mtllib": (None, _obj_mtllib),
        "mtl_flip": ("model.mtl", _flip),
        "mtl_truncate": ("model.mtl", _truncate),
        "mtl_statement": ("model.mtl", _mtl_statement),
        "texture_truncate": ("images/texture0.png", _truncate),
        "texture_flip": ("images/texture0.png", _flip),
    },
    "off": {**{k: (None, f) for k, f in {**GENERIC, **TEXT}.items()}, "bad_index": (None, _bad_index("off"))},
    "ply": {**{k: (None, f) for k, f in GENERIC.items()}, "header_lies": (None, _ply_header_lies)},
    "ply_ascii": {
        **{k: (None, f) for k, f in {**GENERIC, **TEXT}.items()},
        "bad_index": (None, _bad_index("ply")),
        "header_lies": (None, _ply_header_lies),
    },
    "stl": {**{k: (None, f) for k, f in GENERIC.items()}, "count_lies": (None, _stl_count_lies)},
    "stl_ascii": {k: (None, f) for k, f in {**GENERIC, **TEXT}.items()},
    "glb": {
        **{k: (None, f) for k, f in GENERIC.items()},
        "truncated_chunk": (None, _glb_truncated_chunk),
        "json": (None, _glb_json),
    },
}


def fuzz_case(seed: int, index: int) -> Case:
    """Case ``index`` of ``seed``: a seed kind and a mutation of it (sometimes a second one).

    Half the cases take a generic mutation, half one of the kind's own (text and format ones).
    """
    g = rng(seed, "fuzz", index)
    kind = SEED_FILES[int(g.integers(0, len(SEED_FILES)))]
    files = dict(seed_files()[kind])
    mesh = next(name for name in files if name.startswith("model.") and not name.endswith(".mtl"))
    own = sorted(set(MUTATIONS[kind]) - set(GENERIC))
    names = sorted(GENERIC) if g.random() < 0.5 else own
    mutation = names[int(g.integers(0, len(names)))]
    target, mutate = MUTATIONS[kind][mutation]
    target = target or mesh
    files[target] = mutate(files[target], g)
    if g.random() < 0.15:  # a second, generic mutation of the mesh on top
        second = sorted(GENERIC)[int(g.integers(0, len(GENERIC)))]
        if files[mesh]:
            files[mesh] = GENERIC[second](files[mesh], g)
            mutation = f"{mutation}+{second}"
    return Case(index, kind, mutation, mesh, files)


def fuzz_cases(seed: int, count: int, start: int = 0) -> list[Case]:
    """Cases ``start`` to ``start + count - 1`` of ``seed``."""
    return [fuzz_case(seed, i) for i in range(start, start + count)]


def write_case(case: Case, folder: Path) -> Path:
    """Write the case's files into ``folder`` (created); returns the mesh file's path."""
    for name, data in case.files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return folder / case.mesh


# --- the longer run: ingest, then sdf, render and voxelize of the accepted shapes ------------------


def reason_kind(reason: str) -> str:
    """A ledger reason without its numbers and details, to count reasons by kind."""
    head = reason.split(":", 2)
    text = ":".join(head[:2]) if head[0].startswith("unreadable") and len(head) > 1 else head[0]
    return re.sub(r"(?<![\w-])\d+(\.\d+)?", "N", text).strip()


def fuzz_config(out: Path) -> dict:
    """The resolved config of the long run: a folder source at ``out/meshes``, reduced sizes."""
    from recon.config import resolve_config

    return resolve_config(
        {
            "source": {"kind": "folder", "path": str(out / "meshes")},
            "sdf": {
                "grid": {"resolution": 32},
                "samples": {
                    "gaussian": {"sigmas": "deepsdf", "count": 2000},
                    "surface": {"count": 2000},
                    "disn": {"count": 2000},
                    "occupancy": {"count": 2000},
                },
                "quality": {"probes": 1000},
            },
            "render": {"poses": "r2n2", "views": 2, "resolution": 64, "samples": 2},
            "voxelize": {
                "resolutions": [32],
                "octree": {"depth": 5},
                "spherical": {"resolution": 32},
            },
        }
    )


def _ingest_job(case: Case, out: Path, config: dict) -> dict:
    from recon.ingest.stage import ingest_shape

    folder = out / "meshes" / "fuzz" / case.name
    mesh = write_case(case, folder)
    return ingest_shape(
        mesh,
        out / "results" / "ingest" / "shapes" / "fuzz" / f"{case.name}.zarr",
        category="fuzz",
        category_name="fuzz",
        shape_id=case.name,
        source_path=f"fuzz/{case.name}/{case.mesh}",
        source_format=case.format,
        source_folder=f"fuzz/{case.name}",
        config=config,
    )


def check_accepted(store: Path) -> None:
    """Assert that an accepted shape's ingest store holds a finite mesh with valid face indices."""
    from recon.io.store import open_store

    root = open_store(store)
    vertices, faces = root["mesh/vertices"][:], root["mesh/faces"][:]
    assert vertices.ndim == 2 and vertices.shape[1] == 3 and len(vertices), vertices.shape
    assert faces.ndim == 2 and faces.shape[1] == 3 and len(faces), faces.shape
    assert np.isfinite(vertices).all(), "non-finite vertices"
    assert faces.min() >= 0 and faces.max() < len(vertices), "face index out of range"
    norm = root.attrs["normalization"]
    assert np.isfinite(norm["scale"]) and norm["scale"] > 0 and np.isfinite(norm["center"]).all(), norm


def render_disagreement(ingest_store: Path, render_store: Path) -> str | None:
    """Why a shape's renders do not show its ingested mesh, or None.

    Blender reads the OBJ itself (a sanitized copy), so a file two readers understand
    differently would give renders of another mesh. Each view's depth, back-projected, must lie
    on the ingest store's mesh (mean distance < 0.5 % of the bounding-box diagonal, as
    ``tests/recon/render/test_render.py`` asks of the demo shapes), and a view may be empty only
    if the mesh's projected triangles cover less than 4 pixels in all (a mesh squashed to a
    sliver by one far vertex, say).
    """
    import igl

    from recon.geometry.cameras import project, unproject
    from recon.io.store import open_store

    ingest, render = open_store(ingest_store), open_store(render_store)
    vertices = np.ascontiguousarray(ingest["mesh/vertices"][:], dtype=np.float64)
    faces = np.ascontiguousarray(ingest["mesh/faces"][:], dtype=np.int64)
    used = vertices[np.unique(faces)]
    size = float(np.linalg.norm(used.max(axis=0) - used.min(axis=0)))
    masks, depths = render["views/mask"][:], render["views/depth"][:]
    for view in range(len(masks)):
        rows, cols = np.nonzero(masks[view])
        k, rt = render["cameras/K"][view], render["cameras/Rt"][view]
        if not len(rows):  # right only if the mesh covers (next to) no pixel: a sliver, say
            uv = project(k, rt, vertices)[0][faces]  # (F, 3, 2) pixels
            a, b = uv[:, 1] - uv[:, 0], uv[:, 2] - uv[:, 0]
            covered = float(np.abs(a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]).sum() / 2)
            if covered >= 4.0:
                return f"view {view}: empty mask, but the mesh covers {covered:.0f} px²"
            continue
        points = unproject(k, rt, np.stack([cols, rows], axis=1), depths[view][rows, cols])
        distance = np.sqrt(igl.point_mesh_squared_distance(points, vertices, faces)[0]).mean()
        if not distance < 0.005 * size:
            return f"view {view}: depth {distance / size:.3f} diagonals from the mesh"
    return None


def _render_jobs(names: list[str], out: Path, config: dict, batch: int) -> list[tuple[list[str], str]]:
    """Render the shapes in batches, each batch one Blender process (as the workflow's jobs are).

    Returns ``(shapes, error)`` of every batch that failed (raised, or its process died).
    """
    import subprocess

    failed = []
    config_path = out / "fuzz_config.json"
    config_path.write_text(json.dumps(config))
    for start in range(0, len(names), batch):
        chunk = names[start : start + batch]
        ingest_dir = out / "results" / "ingest" / "shapes"
        code = (
            "import json, sys\n"
            "from recon.render.stage import render_batch\n"
            f"config = json.load(open({str(config_path)!r}))\n"
            f"render_batch([('fuzz', s) for s in {chunk!r}], ingest_dir={str(ingest_dir)!r},"
            f" source_root={str(out / 'meshes')!r}, config=config,"
            f" out_dir={str(out / 'results/render/fuzz' / f'batch{start:05d}')!r}, threads=2)\n"
        )
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, errors="replace")
        if proc.returncode != 0:
            error = f"exit {proc.returncode}: " + " ".join(proc.stderr.strip().splitlines()[-1:])
            failed.append((chunk, error))
    return failed


def _ledger_job(seed: int, count: int, out: Path, ingest_dir: Path) -> None:
    """:func:`recon.ingest.stage.build_ledger` over the cases' stores (``results/ingest/*.tsv``)."""
    from recon.ingest.stage import SOURCE_COLUMNS, build_ledger
    from recon.io.tables import write_tsv

    results = out / "results" / "ingest"
    stores = [ingest_dir / f"{case.name}.zarr" for case in fuzz_cases(seed, count)]
    stores = [store for store in stores if store.exists()]  # a crashed ingest job is counted already
    rows = [{"category": "fuzz", "shape_id": store.stem, "split": "train"} for store in stores]
    write_tsv(results / "sources.tsv", rows, SOURCE_COLUMNS)
    build_ledger(
        results / "sources.tsv",
        stores,
        results / "ledger.tsv",
        results / "manifest.tsv",
        results / "summary.tsv",
    )


def run(seed: int, count: int, out: Path, stages: tuple[str, ...], render_batch: int = 20) -> dict:
    """The long fuzz run: ``count`` cases through ingest and the ledger, the accepted ones through ``stages``.

    Every stage job is the function its workflow rule calls, on one shape (render: one Blender
    process per batch of shapes). A job that raises (or, for render, whose process dies) is a
    crashed job. Returns the counts (also printed by :func:`main`).
    """
    config = fuzz_config(out)
    counts = {
        "cases": count,
        "accepted": 0,
        "quarantined": Counter(),
        "crashed": Counter(),
        "crashes": [],
        "disagree": [],
        "by_kind": Counter(),
    }
    accepted = []
    started = time.monotonic()
    for case in fuzz_cases(seed, count):
        try:
            row = _ingest_job(case, out, config)
        except Exception as err:  # a crashed job
            counts["crashed"]["ingest"] += 1
            counts["crashes"].append((case.name, "ingest", f"{type(err).__name__}: {err}"))
            continue
        counts["by_kind"][(case.kind, row["status"])] += 1
        if row["status"] == "ok":
            check_accepted(out / "results" / "ingest" / "shapes" / "fuzz" / f"{case.name}.zarr")
            counts["accepted"] += 1
            accepted.append(case.name)
        else:
            counts["quarantined"][(case.kind, reason_kind(row["reason"]))] += 1
    ingest_dir = out / "results" / "ingest" / "shapes" / "fuzz"
    try:  # the ledger job: every shape's row, whatever bytes its reason or note quotes
        _ledger_job(seed, count, out, ingest_dir)
    except Exception as err:
        counts["crashed"]["ledger"] += 1
        counts["crashes"].append(("all", "ledger", f"{type(err).__name__}: {err}"))
    counts["seconds"] = {"ingest": time.monotonic() - started}
    if "sdf" in stages:
        from recon.sdf.stage import sdf_shape

        started = time.monotonic()
        for name in accepted:
            try:
                sdf_shape(
                    ingest_dir / f"{name}.zarr", out / "results" / "sdf" / "fuzz" / f"{name}.zarr", config
                )
            except Exception as err:
                counts["crashed"]["sdf"] += 1
                counts["crashes"].append((name, "sdf", f"{type(err).__name__}: {err}"))
        counts["seconds"]["sdf"] = time.monotonic() - started
    rendered = {}
    if "render" in stages:
        started = time.monotonic()
        for chunk, error in _render_jobs(accepted, out, config, render_batch):
            counts["crashed"]["render"] += 1
            counts["crashes"].append((",".join(chunk), "render", error))
        for batch in sorted((out / "results" / "render" / "fuzz").glob("batch*")):
            rendered.update({p.stem: p for p in batch.glob("*.zarr")})
        for name, store in sorted(rendered.items()):
            problem = render_disagreement(ingest_dir / f"{name}.zarr", store)
            if problem:
                counts["disagree"].append((name, problem))
        counts["seconds"]["render"] = time.monotonic() - started
    if "voxelize" in stages:
        from recon.voxelize.stage import voxelize_shape

        started = time.monotonic()
        for name in accepted:
            sdf_store = out / "results" / "sdf" / "fuzz" / f"{name}.zarr"
            if not sdf_store.exists():
                continue
            try:
                voxelize_shape(
                    ingest_dir / f"{name}.zarr",
                    sdf_store,
                    rendered.get(name),
                    out / "results" / "voxelize" / "fuzz" / f"{name}.zarr",
                    out / "results" / "voxelize" / "fuzz" / f"{name}.binvox",
                    config,
                )
            except Exception as err:
                counts["crashed"]["voxelize"] += 1
                counts["crashes"].append((name, "voxelize", f"{type(err).__name__}: {err}"))
        counts["seconds"]["voxelize"] = time.monotonic() - started
    return counts


def report(counts: dict) -> str:
    """The counts as a Markdown report: totals, quarantined by kind and reason, crashed jobs."""
    quarantined = sum(counts["quarantined"].values())
    lines = [
        f"cases: {counts['cases']}, accepted: {counts['accepted']}, quarantined: {quarantined}, "
        f"crashed jobs: {sum(counts['crashed'].values())} "
        f"({', '.join(f'{k} {v}' for k, v in sorted(counts['crashed'].items())) or 'none'}), "
        f"renders that disagree with ingest: {len(counts['disagree'])}",
        "seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in counts["seconds"].items()),
        "",
        "| seed file | cases | accepted | quarantined |",
        "| --- | ---: | ---: | ---: |",
    ]
    for kind in SEED_FILES:
        ok, bad = counts["by_kind"][(kind, "ok")], counts["by_kind"][(kind, "quarantined")]
        lines.append(f"| {kind} | {ok + bad} | {ok} | {bad} |")
    lines += [
        "",
        "| reason | cases | formats |",
        "| --- | ---: | --- |",
    ]
    by_reason: dict[str, Counter] = {}
    for (kind, reason), n in counts["quarantined"].items():
        by_reason.setdefault(reason, Counter())[kind] += n
    for reason, kinds in sorted(by_reason.items(), key=lambda kv: -sum(kv[1].values())):
        formats = ", ".join(f"{k} {n}" for k, n in sorted(kinds.items()))
        lines.append(f"| {reason} | {sum(kinds.values())} | {formats} |")
    for name, stage, error in counts["crashes"]:
        lines.append(f"- crashed {stage} job: {name}: {error[:300]}")
    for name, problem in counts["disagree"]:
        lines.append(f"- renders of another mesh than ingest's: {name}: {problem}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=1000, help="number of cases (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="fuzz seed (default 0)")
    parser.add_argument("--out", type=Path, required=True, help="working folder (mesh folders and results)")
    parser.add_argument(
        "--stages", default="sdf,render,voxelize", help="stages after ingest (default sdf,render,voxelize)"
    )
    args = parser.parse_args(argv)
    import logging

    logging.basicConfig(level=logging.ERROR)
    counts = run(args.seed, args.cases, args.out, tuple(s for s in args.stages.split(",") if s))
    print(report(counts))
    return 1 if counts["crashes"] or counts["disagree"] else 0


if __name__ == "__main__":
    sys.exit(main())
