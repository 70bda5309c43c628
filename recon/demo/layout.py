"""Write demo shapes in the on-disk layouts of ShapeNetCore.v1 and ShapeNetCore.v2.

v1: ``<synset>/<id>/model.obj`` + ``model.mtl`` (+ ``images/texture0.png``), raw units.

v2: ``<synset>/<id>/models/model_normalized.{obj,mtl,json}`` (+ ``images/texture0.png``,
referenced as ``../images/texture0.png``), vertices normalized like ShapeNet v2:
bounding-box centre at the origin and bounding-box diagonal of length 1.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from recon.demo.obj_writer import Material, ObjPart, format_mtl, format_obj
from recon.demo.primitives import planar_uv
from recon.demo.textures import make_texture
from recon.io.images import write_png

__all__ = ["LAYOUTS", "dump_json", "normalize_v2", "write_shape", "write_taxonomy"]

LAYOUTS = ("v1", "v2")
_OBJ = {"v1": "model.obj", "v2": "models/model_normalized.obj"}
_TEX_PREFIX = {"v1": "images/", "v2": "../images/"}


def dump_json(obj: Any) -> str:
    """Stable JSON text (sorted keys, 2-space indent, trailing newline)."""
    return json.dumps(obj, indent=2, sort_keys=True) + "\n"


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))


def normalize_v2(vertices: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """ShapeNet v2 normalization.

    Args:
        vertices: ``(V, 3)`` float array (all parts together).

    Returns:
        ``(normalized, center, diagonal)``: ``(V, 3)`` float64 vertices
        ``(v - center) / diagonal``, the ``(3,)`` bounding-box centre and the original
        bounding-box diagonal length.
    """
    v = np.asarray(vertices, dtype=np.float64)
    lo, hi = v.min(axis=0), v.max(axis=0)
    center = (lo + hi) / 2.0
    diag = float(np.linalg.norm(hi - lo))
    if diag <= 0:
        raise ValueError("degenerate shape: zero bounding-box diagonal")
    return (v - center) / diag, center, diag


def write_shape(shape_dir: Path, layout: str, shape_id: str, parts: list, params: dict[str, Any]) -> str:
    """Write one shape's files under ``shape_dir`` (``root/<synset>/<shape_id>``).

    Args:
        shape_dir: the shape's directory (created if missing).
        layout: ``"v1"`` or ``"v2"``.
        shape_id: the 32-hex shape id (used in the v2 json and comments).
        parts: ``(name, trimesh.Trimesh, material)`` list from
            :func:`recon.demo.shapes.generate_shape`.
        params: the shape's params; ``params["materials"]`` gives colours and textures.

    Returns:
        Path of the OBJ file relative to ``shape_dir`` (POSIX separators).
    """
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; valid: {', '.join(LAYOUTS)}")
    shape_dir = Path(shape_dir)
    materials_spec: dict[str, Any] = params["materials"]

    # Textures: one PNG per textured material, numbered in sorted material-name order.
    tex_file: dict[str, str] = {}
    for name in sorted(materials_spec):
        spec = materials_spec[name].get("texture")
        if spec:
            fname = f"texture{len(tex_file)}.png"
            (shape_dir / "images").mkdir(parents=True, exist_ok=True)
            write_png(shape_dir / "images" / fname, make_texture(spec), stored=True)
            tex_file[name] = fname

    verts = [np.asarray(m.vertices, dtype=np.float64) for _, m, _ in parts]
    uvs = [
        planar_uv(v, (0, 2)) if mat in tex_file else None for v, (_, _, mat) in zip(verts, parts, strict=True)
    ]
    all_v = np.concatenate(verts, axis=0)
    if layout == "v2":
        normalized, center, diag = normalize_v2(all_v)
        verts = [(v - center) / diag for v in verts]
        all_v = normalized

    obj_rel = _OBJ[layout]
    obj_path = shape_dir / obj_rel
    mtl_name = Path(obj_rel).with_suffix(".mtl").name
    obj_parts = [
        ObjPart(name=name, vertices=v, faces=np.asarray(m.faces, dtype=np.int64), material=mat, uv=uv)
        for (name, m, mat), v, uv in zip(parts, verts, uvs, strict=True)
    ]
    header = f"recon.demo procedural shape {shape_id}"
    _write_text(obj_path, format_obj(obj_parts, mtl_name, header=header))
    mtls = [
        Material(
            name=name,
            kd=materials_spec[name]["Kd"],
            map_kd=_TEX_PREFIX[layout] + tex_file[name] if name in tex_file else None,
        )
        for name in sorted(materials_spec)
    ]
    _write_text(obj_path.with_suffix(".mtl"), format_mtl(mtls, header=header))
    if layout == "v2":
        info = {
            "id": shape_id,
            "numVertices": len(all_v),
            "min": [round(float(x), 6) + 0.0 for x in all_v.min(axis=0)],
            "max": [round(float(x), 6) + 0.0 for x in all_v.max(axis=0)],
            "centroid": [round(float(x), 6) + 0.0 for x in all_v.mean(axis=0)],
        }
        _write_text(obj_path.with_suffix(".json"), dump_json(info))
    return obj_rel


def write_taxonomy(root: Path, entries: list[tuple[str, str, int]]) -> None:
    """Write ``root/taxonomy.json`` like ShapeNet's.

    Args:
        root: dataset root.
        entries: ``(synset_id, name, num_instances)`` in the order to list them.
    """
    tax = [{"synsetId": s, "name": n, "children": [], "numInstances": int(k)} for s, n, k in entries]
    _write_text(Path(root) / "taxonomy.json", dump_json(tax))
