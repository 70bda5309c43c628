"""Peak memory of one ingest job by mesh format and file size: the ``ingest_shape`` rule's ``mem_mb``.

    python bench/bench_ingest_memory.py [--sizes 1 5 10 20 40] [--kinds obj,stl,...]

Each row writes one mesh file of about the given size and runs ``recon.ingest.stage.ingest_shape`` on
it (what the rule's job runs, with the default config) in a fresh Python process, which reports
its peak resident memory (``VmHWM``, its ``ru_maxrss`` without what it had before ``exec``). Files:

- ``obj``, ``off``, ``ply``, ``ply_ascii``, ``stl``, ``stl_ascii``, ``glb``: a UV sphere as trimesh
  exports it (shared vertices; the OBJ with normals);
- ``obj_soup``: every triangle with its own three vertices, 6 decimals, as many ShapeNet files;
- the densest files the limits let through: ``obj_short`` (integer coordinates: the most lines
  per byte), ``off_short`` and ``ply_ascii_short`` (one decimal: rows near the 12 bytes the
  limits ask of these formats), ``obj_fans`` (12-corner polygons over 4 vertices: 10 triangles
  per 26 bytes) and ``glb_instanced`` (a sphere instanced by as many nodes as keep one triangle per file byte,
  ``recon.geometry.mesh_limits``' bound, and ``ingest.max_faces``).

Prints: kind, format, file MB, faces (as ingested, or the reason it was quarantined), seconds,
peak RSS MB, MB of RSS per file MB, and ``recon.geometry.mesh_limits.ingest_mem_mb`` of the file
(the rule's ``mem_mb`` on the first attempt) with the peak's share of it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import trimesh

from recon.config import resolve_config
from recon.geometry.mesh_limits import VERTEX_BYTES, ingest_mem_mb

#: The child process: ingest one file, print its row's counts and its peak RSS in KiB. Linux keeps a
#: process's ``ru_maxrss`` across ``exec``, so it would count the forked copy of this process:
#: the child reads its own high-water mark, ``VmHWM``, instead (``ru_maxrss`` where there is none).
CHILD = """
import json, resource, sys, time
from pathlib import Path
from recon.config import resolve_config
from recon.ingest.stage import ingest_shape
path, fmt = Path(sys.argv[1]), sys.argv[2]
start = time.perf_counter()
row = ingest_shape(path, path.with_suffix(".zarr"), category="c", category_name="c", shape_id="s",
                   source_path=path.name, source_format=fmt, config=resolve_config({}))
status = Path("/proc/self/status")
lines = status.read_text().splitlines() if status.exists() else []
hwm = [int(line.split()[1]) for line in lines if line.startswith("VmHWM:")]
peak = hwm[0] if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"faces": row["faces"], "reason": row["reason"], "seconds": time.perf_counter() - start,
                  "peak_kib": peak}))
"""


def peak_rss(path: Path, fmt: str) -> dict:
    """Ingest ``path`` in a fresh interpreter: ``{faces, reason, seconds, peak_kib}``."""
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), fmt], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _sphere(faces: int) -> trimesh.Trimesh:
    """A UV sphere with about ``faces`` triangles."""
    k = max(4, round(np.sqrt(faces / 4)))  # 4 k (k - 1) triangles
    return trimesh.creation.uv_sphere(count=[k, k])


def _export(file_type: str, **kwargs):
    def write(mesh: trimesh.Trimesh, path: Path) -> None:
        data = trimesh.exchange.export.export_mesh(mesh, None, file_type, **kwargs)
        path.write_bytes(data.encode() if isinstance(data, str) else data)

    return write


def _glb(mesh: trimesh.Trimesh, path: Path) -> None:
    path.write_bytes(trimesh.Scene(mesh).export(file_type="glb"))


def _soup_obj(mesh: trimesh.Trimesh, path: Path) -> None:
    v = mesh.vertices[mesh.faces].reshape(-1, 3)
    with open(path, "w") as out:
        out.write("".join(f"v {x:.6f} {y:.6f} {z:.6f}\n" for x, y, z in v))
        out.write("".join(f"f {3 * i + 1} {3 * i + 2} {3 * i + 3}\n" for i in range(len(mesh.faces))))


def _short_obj(mesh: trimesh.Trimesh, path: Path) -> None:
    v = np.round(mesh.vertices * 9).astype(int)
    with open(path, "w") as out:
        out.write("".join(f"v {x} {y} {z}\n" for x, y, z in v))
        out.write("".join(f"f {a + 1} {b + 1} {c + 1}\n" for a, b, c in mesh.faces))


def _short_text(file_type: str):
    """An OFF or ASCII PLY writer with one decimal per coordinate: about the shortest rows allowed."""

    def write(mesh: trimesh.Trimesh, path: Path) -> None:
        v, f = np.round(mesh.vertices, 1) + 0.0, mesh.faces
        if file_type == "off":
            head = f"OFF\n{len(v)} {len(f)} 0\n"
        else:
            head = (
                f"ply\nformat ascii 1.0\nelement vertex {len(v)}\nproperty float x\nproperty float y\n"
                f"property float z\nelement face {len(f)}\nproperty list uchar int vertex_indices\n"
                "end_header\n"
            )
        with open(path, "w") as out:
            out.write(head)
            out.write("".join(f"{x:g} {y:g} {z:g}\n" for x, y, z in v))
            out.write("".join(f"3 {a} {b} {c}\n" for a, b, c in f))

    return write


#: Each kind: (format, writer of a mesh to a path).
EXPORTS = {
    "obj": ("obj", _export("obj", include_normals=True)),
    "obj_soup": ("obj", _soup_obj),
    "obj_short": ("obj", _short_obj),
    "off": ("off", _export("off")),
    "off_short": ("off", _short_text("off")),
    "ply": ("ply", _export("ply", encoding="binary")),
    "ply_ascii": ("ply", _export("ply", encoding="ascii")),
    "ply_ascii_short": ("ply", _short_text("ply")),
    "stl": ("stl", _export("stl")),
    "stl_ascii": ("stl", _export("stl_ascii")),
    "glb": ("glb", _glb),
}


def _fans_obj(path: Path, size: int) -> None:
    line = "f 1 2 3 4 2 3 4 1 3 4 1 2\n"  # 12 corners: 10 triangles
    with open(path, "w") as out:
        out.write("v 0 0 0\nv 1 0 0\nv 0 1 0\nv 0 0 1\n")
        out.write(line * max(1, size // len(line)))


def _instanced_glb(path: Path, size: int) -> None:
    """A sphere of about ``size`` bytes instanced by nodes, as often as the limits allow."""
    mesh = _sized(lambda m, p: _glb(m, p), size)
    data = trimesh.Scene(mesh).export(file_type="glb")
    limits = resolve_config({})["ingest"]
    copies = max(
        1,
        min(
            len(data) // len(mesh.faces),
            len(data) // (VERTEX_BYTES * len(mesh.vertices)),
            limits["max_faces"] // len(mesh.faces),
        ),
    )
    (length,) = struct.unpack_from("<I", data, 12)
    header, rest = json.loads(data[20 : 20 + length]), data[20 + length :]
    header["nodes"] = [{"children": list(range(1, copies + 1))}] + [
        {"mesh": 0, "translation": [3.0 * i, 0.0, 0.0]} for i in range(copies)
    ]
    header["scenes"], header["scene"] = [{"nodes": [0]}], 0
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 4)
    body = struct.pack("<II", len(text), 0x4E4F534A) + text + rest
    path.write_bytes(b"glTF" + struct.pack("<II", 2, 12 + len(body)) + body)


#: Kinds written directly at a size: (format, writer of ``size`` bytes to a path).
DENSE = {"obj_fans": ("obj", _fans_obj), "glb_instanced": ("glb", _instanced_glb)}

KINDS = (*EXPORTS, *DENSE)


def _sized(write, size: int) -> trimesh.Trimesh:
    """A sphere whose file (by ``write``) is about ``size`` bytes: bytes per face from a small one."""
    with tempfile.TemporaryDirectory() as tmp:
        probe = _sphere(20_000)
        write(probe, Path(tmp) / "probe")
        per_face = (Path(tmp) / "probe").stat().st_size / len(probe.faces)
    return _sphere(int(size / per_face))


def write_kind(kind: str, path: Path, size_mb: float) -> str:
    """Write a file of ``kind`` of about ``size_mb`` MB to ``path``; returns its format."""
    size = int(size_mb * 2**20)
    if kind in DENSE:
        fmt, write = DENSE[kind]
        write(path, size)
        return fmt
    fmt, write = EXPORTS[kind]
    write(_sized(write, size), path)
    return fmt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[1, 5, 10, 20, 40], help="file MB")
    parser.add_argument("--kinds", default=",".join(KINDS), help=f"comma-separated, of {', '.join(KINDS)}")
    args = parser.parse_args()
    limits = resolve_config({})["ingest"]
    print(
        f"{'kind':<16} {'format':<6} {'file MB':>8} {'faces':>26} {'s':>6} {'peak MB':>8} "
        f"{'MB/file MB':>10} {'mem_mb':>7} {'peak/mem_mb':>11}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.kinds.split(","):
            for size_mb in args.sizes:
                path = Path(tmp) / f"{kind}_{size_mb:g}"
                fmt = write_kind(kind, path, size_mb)
                path = path.rename(path.with_suffix(f".{fmt}"))
                file_mb = path.stat().st_size / 2**20
                result = peak_rss(path, fmt)
                peak = result["peak_kib"] / 1024
                mem = ingest_mem_mb(file_mb, limits)
                faces = str(result["faces"]) if not result["reason"] else result["reason"][:26]
                print(
                    f"{kind:<16} {fmt:<6} {file_mb:>8.1f} {faces:>26} {result['seconds']:>6.1f} {peak:>8.0f} "
                    f"{peak / file_mb:>10.1f} {mem:>7} {peak / mem:>11.2f}",
                    flush=True,
                )
                path.unlink()
                shutil.rmtree(path.with_suffix(".zarr"), ignore_errors=True)


if __name__ == "__main__":
    main()
