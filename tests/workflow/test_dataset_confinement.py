"""No file outside the dataset is ever opened: real ingest and render jobs traced with strace.

A ShapeNet v2 folder holds shapes that name a private file next to the dataset through
``mtllib ../../../../``, ``map_Kd`` (absolute and ``..``), a texture and an ``.mtl`` that are
symlinks out of the shape folder, and a mesh file that is itself such a symlink. The whole
workflow (``snakemake render``: scan, ingest, ledger, render in Blender) runs under
``strace -f``; the private files' names must appear in no open of any process. A legitimate
texture (v2's ``../images/``, a name with spaces) must still reach the albedo.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from recon.geometry.references import OUTSIDE_NOTE
from recon.io.images import write_png
from recon.io.store import open_store
from recon.io.tables import read_tsv
from tests.meshes import REPO
from tests.pipeline import SNAKEMAKE, make_workdir

pytestmark = pytest.mark.workflow

#: In the name of every private file, and in no other path.
TOKEN = "SENTINEL-5e3f0c"
SYNSET = "03001627"
#: Syscalls that open or execute a file by name.
OPENS = "open,openat,openat2,creat,execve,execveat"

_CUBE = """v 0 0 0
v 1 0 0
v 1 1 0
v 0 1 0
v 0 0 1
v 1 0 1
v 1 1 1
v 0 1 1
vt 0 0
vt 1 0
vt 1 1
vt 0 1
"""
_QUADS = ["1 4 3 2", "5 6 7 8", "1 2 6 5", "4 8 7 3", "1 5 8 4", "2 3 7 6"]

BLUE, YELLOW = (0.2, 0.2, 0.8), (0.8, 0.8, 0.2)
RED, GREEN = (1.0, 0.0, 0.0), (0.0, 1.0, 0.0)


def _cube(header: str, materials: list[str]) -> str:
    """A unit cube, one textured quad (UV 0..1) per side, side ``i`` in ``materials[i]``."""
    faces = []
    for quad, material in zip(_QUADS, materials, strict=True):
        corners = " ".join(f"{v}/{t}" for v, t in zip(quad.split(), "1234", strict=True))
        faces.append(f"usemtl {material}\nf {corners}\n")
    return header + _CUBE + "".join(faces)


def _kd(name: str, colour, extra: str = "") -> str:
    return f"newmtl {name}\nKd {colour[0]} {colour[1]} {colour[2]}\n{extra}"


def _shape(root: Path, shape_id: str, obj_header: str, mtl: str, materials: list[str]) -> Path:
    models = root / SYNSET / shape_id / "models"
    models.mkdir(parents=True)
    (models / "model_normalized.obj").write_text(_cube(obj_header, materials))
    (models / "model_normalized.mtl").write_text(mtl)
    return models.parent


def _dataset(tmp_path: Path) -> tuple[Path, Path]:
    """A ShapeNetCore.v2 copy with five shapes, and a folder of private files next to it."""
    root, private = tmp_path / "data" / "ShapeNetCore.v2", tmp_path / "data" / "private"
    private.mkdir(parents=True)
    magenta = np.zeros((4, 4, 3), np.uint8)
    magenta[..., [0, 2]] = 255
    write_png(private / f"{TOKEN}.png", magenta)
    (private / f"{TOKEN}.mtl").write_text(_kd("a", (1, 0, 1)) + _kd("b", (1, 0, 1)) + _kd("tex", (1, 0, 1)))
    (private / f"{TOKEN}.obj").write_text(_cube("", ["a"] * 6))
    two = ["a", "a", "a", "b", "b", "b"]
    plain = _kd("a", BLUE) + _kd("b", YELLOW)

    # A legitimate texture: v2's ../images/, a name with spaces, options; left half red, right green.
    legit = _shape(
        root,
        "legit",
        "mtllib model_normalized.mtl\n",
        _kd("tex", (0.5, 0.5, 0.5), "map_Kd -s 1 1 1 ../images/wood grain.png\n"),
        ["tex"] * 6,
    )
    (legit / "images").mkdir()
    texture = np.zeros((64, 64, 3), np.uint8)
    texture[:, :32, 0] = 255
    texture[:, 32:, 1] = 255
    write_png(legit / "images" / "wood grain.png", texture)

    # mtllib out of the dataset (../../../../private/), before the shape's own library.
    _shape(
        root, "mtllib", f"mtllib ../../../../private/{TOKEN}.mtl\nmtllib model_normalized.mtl\n", plain, two
    )
    # map_Kd absolute, and through ..
    _shape(
        root,
        "map",
        "mtllib model_normalized.mtl\n",
        _kd("a", BLUE, f"map_Kd {private}/{TOKEN}.png\n")
        + _kd("b", YELLOW, f"map_Kd -bm 0.5 ../../../../private/{TOKEN}.png\n"),
        two,
    )
    # A texture and a library inside the folder that are symlinks out of it.
    linked = _shape(
        root,
        "symlink",
        "mtllib model_normalized.mtl\nmtllib extra.mtl\n",
        _kd("a", BLUE, "map_Kd ../images/texture.png\n") + _kd("b", YELLOW),
        two,
    )
    (linked / "images").mkdir()
    (linked / "images" / "texture.png").symlink_to(private / f"{TOKEN}.png")
    (linked / "models" / "extra.mtl").symlink_to(private / f"{TOKEN}.mtl")
    # The mesh file itself is a symlink out.
    mesh = _shape(root, "mesh", "", plain, two) / "models" / "model_normalized.obj"
    mesh.unlink()
    mesh.symlink_to(private / f"{TOKEN}.obj")
    return root, private


def _strace_works(tmp_path: Path) -> str | None:
    strace = shutil.which("strace")
    if strace is None:
        return "strace is not installed (Debian: apt-get install strace)"
    proc = subprocess.run([strace, "-f", "-o", str(tmp_path / "probe.log"), "true"], capture_output=True)
    return None if proc.returncode == 0 else f"strace cannot trace here: {proc.stderr.decode()[-300:]}"


def _share(albedo: np.ndarray, colour, tol: float = 0.03) -> float:
    """Fraction of (N, 3) albedo pixels within ``tol`` of ``colour``."""
    return float((np.abs(albedo - np.asarray(colour)) < tol).all(axis=1).mean())


def test_no_file_outside_the_shape_folder_is_opened(tmp_path):
    why = _strace_works(tmp_path)
    if why:
        pytest.skip(why)
    root, private = _dataset(tmp_path)
    workdir = make_workdir(
        tmp_path,
        {
            "source": {"kind": "shapenet_v2", "path": str(root)},
            "splits": {"ratios": {"train": 1.0, "val": 0.0, "test": 0.0}},
            "render": {"views": 2, "resolution": 48, "samples": 1},
        },
    )
    trace = tmp_path / "trace.log"
    cmd = ["strace", "-f", "-y", "-qq", "-e", f"trace={OPENS}", "-o", str(trace)]
    proc = subprocess.run(
        [*cmd, *SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--cores", "2", "render"],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    # The trace saw the jobs' opens: the legitimate texture read for the copy, and Blender
    # opening that copy (strace -y prints the file each returned descriptor is).
    lines = trace.read_text(errors="replace").splitlines()
    assert any("wood grain.png>" in line for line in lines)
    assert any("/shape/textures/tex0.png>" in line for line in lines)
    opened = [line for line in lines if TOKEN in line]
    assert not opened, "\n".join(opened[:10])

    ledger = {r["shape_id"]: r for r in read_tsv(workdir / "results" / "ingest" / "ledger.tsv")}
    assert {k: r["status"] for k, r in ledger.items()} == {
        "legit": "ok",
        "map": "ok",
        "mtllib": "ok",
        "symlink": "ok",
        "mesh": "quarantined",
    }
    assert ledger["mesh"]["reason"] == "mesh file outside the shape folder"
    assert ledger["legit"]["note"] == "" and ledger["legit"]["reason"] == ""
    for name, dropped in {
        "mtllib": [f"mtllib ../../../../private/{TOKEN}.mtl"],
        "map": [f"map_Kd {private}/{TOKEN}.png", f"map_Kd ../../../../private/{TOKEN}.png"],
        "symlink": ["mtllib extra.mtl", "map_Kd ../images/texture.png"],
    }.items():
        note = ledger[name]["note"]
        assert note.startswith(OUTSIDE_NOTE + " ("), note
        assert all(d in note for d in dropped), note

    albedo = {}
    for store in (workdir / "results" / "render" / SYNSET).glob("*/*.zarr"):
        views = open_store(store)
        albedo[store.stem] = views["views/albedo"][...].astype(np.float64)[views["views/mask"][...]]
    assert sorted(albedo) == ["legit", "map", "mtllib", "symlink"]
    # The texture reaches the albedo: both halves, nothing else but their edge.
    assert _share(albedo["legit"], RED) > 0.2 and _share(albedo["legit"], GREEN) > 0.2
    assert _share(albedo["legit"], RED) + _share(albedo["legit"], GREEN) > 0.9
    # The others render with their remaining materials, never the private ones (magenta).
    for name in ("map", "mtllib", "symlink"):
        pixels = albedo[name]
        assert _share(pixels, (1.0, 0.0, 1.0), 0.3) == 0.0, name
        assert _share(pixels, BLUE) + _share(pixels, YELLOW) > 0.95, name
