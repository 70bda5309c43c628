"""Finding the raw meshes of a dataset: ShapeNetCore v1, v2, or a plain folder of meshes.

Each found mesh becomes a :class:`SourceShape`, keyed by ``(category, shape_id)``:

- ShapeNetCore.v1: ``<root>/<synset>/<model>/model.obj`` (with ``model.mtl`` and textures);
- ShapeNetCore.v2: ``<root>/<synset>/<model>/models/model_normalized.obj``;
  for both, ``category`` is the 8-digit synset id and the name comes from ``taxonomy.json``;
- folder: ``<root>/<category>/**/<name>.<obj|off|ply|stl|glb>``; ``category`` is the first-level
  folder (``uncategorized`` for files directly in ``<root>``) and ``shape_id`` the file's path
  inside it without suffix, ``/`` written as ``__``.

A ShapeNet model folder whose mesh file is missing is still listed (``exists=False``), so the
ledger records it as quarantined instead of silently dropping it. A source without a single mesh
is an error naming the folder and the layout expected (a wrong ``source.path`` or ``source.kind``
must not give an empty dataset).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "MESH_FORMATS",
    "SHAPENET_MESH_FILES",
    "SourceShape",
    "discover",
    "discover_folder",
    "discover_shapenet",
    "read_taxonomy",
    "select_shapes",
]

#: File suffixes accepted in a plain folder of meshes.
MESH_FORMATS = ("obj", "off", "ply", "stl", "glb")

#: Mesh file inside a model folder, per ShapeNetCore version.
SHAPENET_MESH_FILES = {"v1": "model.obj", "v2": "models/model_normalized.obj"}

_SYNSET = re.compile(r"^\d{8}$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True)
class SourceShape:
    """One raw mesh of the source dataset.

    Attributes:
        category: category key: synset id for ShapeNet, folder name for plain folders.
        category_name: human-readable name (``chair``); equals ``category`` when unknown.
        shape_id: id unique within the category (ShapeNet model id, or sanitized file path).
        path: mesh file path relative to the source root, POSIX style.
        format: file format, one of :data:`MESH_FORMATS`.
        exists: whether the mesh file exists (a ShapeNet model folder may lack it).
    """

    category: str
    category_name: str
    shape_id: str
    path: str
    format: str
    exists: bool = True


def read_taxonomy(path: Path | str) -> dict[str, str]:
    """Map synset id -> category name from a ShapeNet ``taxonomy.json``.

    ShapeNet names are comma-separated synonym lists (``"airplane,aeroplane,plane"``); the
    first synonym is used.
    """
    with open(path, encoding="utf-8") as f:
        entries = json.load(f)
    return {e["synsetId"]: e["name"].split(",")[0].strip() for e in entries}


def _sanitize(text: str) -> str:
    return _UNSAFE.sub("_", text)


def discover_shapenet(
    root: Path | str, version: str, taxonomy: Path | str | None = None
) -> list[SourceShape]:
    """List every model of a ShapeNetCore v1 or v2 copy.

    Args:
        root: folder holding the synset folders.
        version: ``"v1"`` or ``"v2"``.
        taxonomy: ``taxonomy.json``; None = ``<root>/taxonomy.json`` when present.

    Returns:
        Shapes sorted by (category, shape_id).
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"ShapeNet folder not found: {root}")
    mesh_file = SHAPENET_MESH_FILES[version]
    taxonomy = Path(taxonomy) if taxonomy else root / "taxonomy.json"
    names = read_taxonomy(taxonomy) if taxonomy.is_file() else {}
    shapes = []
    for synset_dir in sorted(p for p in root.iterdir() if p.is_dir() and _SYNSET.match(p.name)):
        synset = synset_dir.name
        for model_dir in sorted(p for p in synset_dir.iterdir() if p.is_dir()):
            mesh = model_dir / mesh_file
            shapes.append(
                SourceShape(
                    category=synset,
                    category_name=names.get(synset, synset),
                    shape_id=model_dir.name,
                    path=mesh.relative_to(root).as_posix(),
                    format="obj",
                    exists=mesh.is_file(),
                )
            )
    if not any(s.exists for s in shapes):
        raise ValueError(_no_shapenet_meshes(root, version, len(shapes)))
    return shapes


def _no_shapenet_meshes(root: Path, version: str, folders: int) -> str:
    """The error for a ShapeNet root without a single mesh: what was expected, what was found."""
    expected = f"<synset: 8 digits>/<model id>/{SHAPENET_MESH_FILES[version]}"
    message = f"no ShapeNetCore.{version} mesh in {root}: expected {expected} under it"
    if not folders:
        return message + " (found no 8-digit synset folder holding a model folder)"
    message += f" (none of its {folders} model folders holds {SHAPENET_MESH_FILES[version]}"
    other = "v2" if version == "v1" else "v1"
    if next(root.glob(f"*/*/{SHAPENET_MESH_FILES[other]}"), None) is not None:
        message += f"; they hold {SHAPENET_MESH_FILES[other]}: set source.kind: shapenet_{other}"
    return message + ")"


def discover_folder(root: Path | str) -> list[SourceShape]:
    """List every mesh file (:data:`MESH_FORMATS`) under ``root``, recursively.

    When two files of a category share a stem (``a.obj`` and ``a.ply``), each of them gets its
    format appended to the id (``a-obj``, ``a-ply``) so ids stay unique.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"mesh folder not found: {root}")
    found = []
    for path in sorted(root.rglob("*")):
        fmt = path.suffix.lower().lstrip(".")
        if not path.is_file() or fmt not in MESH_FORMATS:
            continue
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):
            continue
        category = _sanitize(rel.parts[0]) if len(rel.parts) > 1 else "uncategorized"
        inner = Path(*rel.parts[1:]) if len(rel.parts) > 1 else rel
        stem = _sanitize(inner.with_suffix("").as_posix().replace("/", "__"))
        found.append((category, stem, rel.as_posix(), fmt))
    if not found:
        raise ValueError(
            f"no mesh file in {root}: expected <category>/**/<name>.<{'|'.join(MESH_FORMATS)}> under it"
        )
    clashes = Counter((c, s) for c, s, _, _ in found)
    return sorted(
        (SourceShape(c, c, f"{s}-{fmt}" if clashes[(c, s)] > 1 else s, rel, fmt) for c, s, rel, fmt in found),
        key=lambda s: (s.category, s.shape_id),
    )


def discover(kind: str, root: Path | str, taxonomy: Path | str | None = None) -> list[SourceShape]:
    """Dispatch on ``source.kind``: demo and shapenet_v1 use the v1 layout unless the demo is v2."""
    if kind in ("shapenet_v1", "shapenet_v2"):
        return discover_shapenet(root, kind[-2:], taxonomy)
    if kind == "folder":
        return discover_folder(root)
    raise ValueError(f"unknown source kind {kind!r}")


def select_shapes(shapes: Iterable[SourceShape], selection: Mapping) -> list[SourceShape]:
    """Apply ``config["selection"]``: categories, include, exclude, max_per_category.

    Raises:
        ValueError: a requested category matches no category of the source (the message lists
            the available ones), so a typo in the config does not silently select nothing.
    """
    shapes = list(shapes)
    wanted = list(selection.get("categories") or [])
    if wanted:
        available = {s.category: s.category_name for s in shapes}
        keys = set()
        for w in wanted:
            match = [c for c, n in available.items() if w == c or w.lower() == n.lower()]
            if not match:
                listing = ", ".join(f"{c} ({n})" for c, n in sorted(available.items()))
                raise ValueError(f"selection.categories: {w!r} is not in the source; found: {listing}")
            keys.update(match)
        shapes = [s for s in shapes if s.category in keys]
    include = set(selection.get("include") or [])
    if include:
        shapes = [s for s in shapes if s.shape_id in include]
    exclude = set(selection.get("exclude") or [])
    shapes = [s for s in shapes if s.shape_id not in exclude]
    limit = selection.get("max_per_category")
    if limit:
        counts: Counter = Counter()
        kept = []
        for s in sorted(shapes, key=lambda s: (s.category, s.shape_id)):
            if counts[s.category] < limit:
                counts[s.category] += 1
                kept.append(s)
        shapes = kept
    return shapes
