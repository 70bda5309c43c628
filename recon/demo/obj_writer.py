"""Deterministic Wavefront OBJ / MTL text writers.

Floats are written with a fixed ``%.6f`` format (values that round to zero are written
as ``0.000000``, never ``-0.000000``), so the same arrays always give the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Material", "ObjPart", "format_mtl", "format_obj"]


@dataclass(frozen=True)
class ObjPart:
    """One group of an OBJ file.

    Attributes:
        name: group / object name (no whitespace).
        vertices: ``(V, 3)`` float array.
        faces: ``(F, 3)`` int array of 0-based indices into ``vertices``.
        material: material name used by ``usemtl``.
        uv: optional ``(V, 2)`` float array of per-vertex texture coordinates.
    """

    name: str
    vertices: np.ndarray
    faces: np.ndarray
    material: str
    uv: np.ndarray | None = None


@dataclass(frozen=True)
class Material:
    """One ``newmtl`` entry.

    Attributes:
        name: material name.
        kd: diffuse RGB in ``[0, 1]``.
        map_kd: optional diffuse texture path, relative to the MTL file.
        ka: ambient RGB.
        ks: specular RGB.
        ns: specular exponent.
    """

    name: str
    kd: Sequence[float]
    map_kd: str | None = None
    ka: Sequence[float] = (0.2, 0.2, 0.2)
    ks: Sequence[float] = (0.1, 0.1, 0.1)
    ns: float = 10.0


def _clean(values: np.ndarray) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError("non-finite value in OBJ data")
    return np.where(np.abs(arr) < 5e-7, 0.0, arr)


def _rows(prefix: str, values: np.ndarray) -> list[str]:
    arr = _clean(values)
    return [prefix + " " + " ".join(f"{x:.6f}" for x in row) for row in arr.tolist()]


def _fmt3(values: Sequence[float]) -> str:
    return " ".join(f"{v:.6f}" for v in _clean(np.asarray(values, dtype=np.float64)).tolist())


def format_obj(parts: Sequence[ObjPart], mtllib: str, header: str | None = None) -> str:
    """OBJ text for ``parts``, one ``o``/``g`` group each.

    Args:
        parts: the groups, written in order; vertex and texture-coordinate indices are
            numbered globally (1-based) across groups.
        mtllib: the MTL file name written on the ``mtllib`` line.
        header: optional comment line (without ``#``).

    Returns:
        The file contents, ``\\n`` line endings, ending with a newline.
    """
    lines: list[str] = []
    if header:
        lines.append(f"# {header}")
    lines.append(f"mtllib {mtllib}")
    v_base = 1
    vt_base = 1
    for part in parts:
        verts = np.asarray(part.vertices)
        faces = np.asarray(part.faces, dtype=np.int64)
        if verts.ndim != 2 or verts.shape[1] != 3 or faces.ndim != 2 or faces.shape[1] != 3:
            raise ValueError(f"part {part.name!r}: vertices must be (V, 3) and faces (F, 3)")
        lines.append(f"o {part.name}")
        lines.append(f"g {part.name}")
        lines.append(f"usemtl {part.material}")
        lines.extend(_rows("v", verts))
        fv = faces + v_base
        if part.uv is not None:
            uv = np.asarray(part.uv)
            if uv.shape != (len(verts), 2):
                raise ValueError(f"part {part.name!r}: uv must be (V, 2)")
            lines.extend(_rows("vt", uv))
            ft = faces + vt_base
            lines.extend(
                f"f {a}/{ta} {b}/{tb} {c}/{tc}"
                for (a, b, c), (ta, tb, tc) in zip(fv.tolist(), ft.tolist(), strict=True)
            )
            vt_base += len(uv)
        else:
            lines.extend(f"f {a} {b} {c}" for a, b, c in fv.tolist())
        v_base += len(verts)
    return "\n".join(lines) + "\n"


def format_mtl(materials: Sequence[Material], header: str | None = None) -> str:
    """MTL text with one ``newmtl`` block per material (in the given order).

    Args:
        materials: the materials to write.
        header: optional comment line (without ``#``).
    """
    lines: list[str] = []
    if header:
        lines.append(f"# {header}")
    for m in materials:
        lines.append(f"newmtl {m.name}")
        lines.append(f"Ka {_fmt3(m.ka)}")
        lines.append(f"Kd {_fmt3(m.kd)}")
        lines.append(f"Ks {_fmt3(m.ks)}")
        lines.append(f"Ns {m.ns:.6f}")
        lines.append("d 1")
        lines.append("illum 2")
        if m.map_kd:
            lines.append(f"map_Kd {m.map_kd}")
        lines.append("")
    return "\n".join(lines)
