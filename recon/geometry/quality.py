"""Quality checks of a raw triangle mesh, and the rule that quarantines a shape.

Real ShapeNet meshes are polygon soups: open, with inner faces, duplicated and degenerate
triangles and inconsistent winding. Those are *recorded* (later stages are built to cope with
them) but do not quarantine a shape. A shape is quarantined only when no later stage could
use it: it cannot be read, has no faces, has non-finite coordinates, is absurdly large, or has
zero surface area.

Topology is judged on vertices merged by exact position, so a soup whose triangles each carry
their own copies of shared corners still counts as connected and, if closed, watertight.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

__all__ = ["face_areas", "inspect_mesh", "quarantine_reason"]


def face_areas(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Triangle areas.

    Args:
        vertices: (V, 3) float.
        faces: (F, 3) int.

    Returns:
        (F,) float64 areas.
    """
    tri = vertices[faces].astype(np.float64)
    return 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)


def _group_rows(rows: np.ndarray) -> tuple[np.ndarray, int]:
    """Label equal rows of ``rows`` (N, K) with the same id; returns ((N,) int64 ids, number of ids).

    Same result as ``np.unique(rows, axis=0, return_inverse=True)`` up to the id order, several
    times faster (a lexsort instead of a sort of structured records).
    """
    if len(rows) == 0:
        return np.zeros(0, np.int64), 0
    order = np.lexsort(rows.T[::-1])
    ordered = rows[order]
    new = np.ones(len(rows), dtype=bool)
    new[1:] = (ordered[1:] != ordered[:-1]).any(axis=1)
    ids = np.empty(len(rows), dtype=np.int64)
    ids[order] = np.cumsum(new) - 1
    return ids, int(new.sum())


def _edge_topology(faces: np.ndarray) -> tuple[bool, bool]:
    """(watertight, winding_consistent) of merged-vertex ``faces`` (F, 3), degenerate ones removed.

    Watertight: every undirected edge is used by exactly two faces. Winding consistent: every
    edge used by exactly two faces is traversed in opposite directions by them.
    """
    if len(faces) == 0:
        return False, False
    n = int(faces.max()) + 1
    directed = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    # Edges as int64 keys a * n + b (vertex ids are below 2**31, so no overflow).
    lo, hi = directed.min(axis=1), directed.max(axis=1)
    _, inverse, counts = np.unique(lo * n + hi, return_inverse=True, return_counts=True)
    watertight = bool(np.all(counts == 2))
    manifold = counts[inverse] == 2
    # On a manifold edge the two directed copies must differ, i.e. each directed edge appears once.
    keys = directed[manifold, 0] * n + directed[manifold, 1]
    winding = bool(len(np.unique(keys)) == len(keys))
    return watertight, winding


def inspect_mesh(vertices: np.ndarray, faces: np.ndarray, degenerate_area: float = 1e-12) -> dict:
    """Measure a raw mesh for the ledger.

    Args:
        vertices: (V, 3) float64, possibly with NaN/inf.
        faces: (F, 3) int, indices into ``vertices``.
        degenerate_area: a face is degenerate if it repeats a vertex or its area is at most
            ``degenerate_area`` times the squared bounding-box diagonal.

    Returns:
        dict with ``vertices``, ``faces``, ``nonfinite_vertices``, ``degenerate_faces``,
        ``duplicate_faces`` (extra copies of a triangle with the same three corner positions),
        ``components`` (connected components of the faces, vertices merged by position),
        ``watertight``, ``winding_consistent``, ``surface_area`` and ``bbox_min`` /
        ``bbox_max`` (lists of 3 floats over the finite vertices used by faces, or None).
        Topology counts use the faces whose three corners are finite.
    """
    vertices = np.asarray(vertices, dtype=np.float64).reshape(-1, 3)
    faces = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    finite_vertex = np.isfinite(vertices).all(axis=1)
    report = {
        "vertices": len(vertices),
        "faces": len(faces),
        "nonfinite_vertices": int((~finite_vertex).sum()),
        "degenerate_faces": 0,
        "duplicate_faces": 0,
        "components": 0,
        "watertight": False,
        "winding_consistent": False,
        "surface_area": 0.0,
        "bbox_min": None,
        "bbox_max": None,
    }
    faces = faces[finite_vertex[faces].all(axis=1)] if len(faces) else faces
    if len(faces) == 0:
        return report
    referenced = np.zeros(len(vertices), dtype=bool)
    referenced[faces.ravel()] = True
    used = vertices[referenced]
    lo, hi = used.min(axis=0), used.max(axis=0)
    diagonal2 = float(np.sum((hi - lo) ** 2))
    areas = face_areas(vertices, faces)
    # Merge vertices by exact position for topology.
    merged, _ = _group_rows(vertices)
    mf = merged[faces]
    repeated = (mf[:, 0] == mf[:, 1]) | (mf[:, 1] == mf[:, 2]) | (mf[:, 2] == mf[:, 0])
    degenerate = repeated | (areas <= degenerate_area * diagonal2)
    good = mf[~degenerate]
    n_unique_faces = _group_rows(np.sort(good, axis=1))[1]
    watertight, winding = _edge_topology(good)
    if len(good):
        nodes = np.unique(good)
        remap = np.searchsorted(nodes, good)
        rows = np.concatenate([remap[:, 0], remap[:, 1]])
        cols = np.concatenate([remap[:, 1], remap[:, 2]])
        graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(nodes), len(nodes)))
        components = int(connected_components(graph, directed=False)[0])
    else:
        components = 0
    report.update(
        degenerate_faces=int(degenerate.sum()),
        duplicate_faces=int(len(good) - n_unique_faces),
        components=components,
        watertight=watertight,
        winding_consistent=winding,
        surface_area=float(areas.sum()),
        bbox_min=[float(x) for x in lo],
        bbox_max=[float(x) for x in hi],
    )
    return report


def quarantine_reason(report: Mapping, max_faces: int, max_duplicate_fraction: float = 1.0) -> str | None:
    """The one-line reason to quarantine a shape measured by :func:`inspect_mesh`, or None if usable.

    Args:
        report: :func:`inspect_mesh`'s report.
        max_faces: ``ingest.max_faces``.
        max_duplicate_fraction: ``ingest.max_duplicate_fraction``: the largest share of faces that
            may repeat another face's corners. Double-sided meshes (every triangle twice) reach
            0.5; a mesh stacked in place many times (a glTF node tree instancing one mesh
            thousands of times) comes near 1, and every query near its surface then visits
            every copy: the SDF's winding numbers take hours at any grid size.
    """
    if report["faces"] == 0:
        return f"no faces ({report['vertices']} vertices)"
    if report["nonfinite_vertices"]:
        return f"{report['nonfinite_vertices']} vertices with NaN or infinite coordinates"
    if report["faces"] > max_faces:
        return f"absurdly large: {report['faces']} faces > ingest.max_faces = {max_faces}"
    if report["bbox_min"] is not None:
        lo, hi = np.asarray(report["bbox_min"]), np.asarray(report["bbox_max"])
        with np.errstate(over="ignore", invalid="ignore"):
            overflow = not np.isfinite(np.sum((hi - lo) ** 2)) or not np.isfinite(report["surface_area"])
        if overflow:  # areas and lengths overflow float64: every measure (and the frame) is meaningless
            largest = float(np.abs(np.concatenate([lo, hi])).max())
            return f"coordinates out of range: lengths overflow float64 (|coordinate| up to {largest:.3g})"
    if report["degenerate_faces"] == report["faces"] or not report["surface_area"] > 0:
        return f"zero surface area (all {report['faces']} faces degenerate)"
    if report["duplicate_faces"] > max_duplicate_fraction * report["faces"]:
        return (
            f"stacked copies: {report['duplicate_faces']} of {report['faces']} faces repeat another "
            f"face's corners (> ingest.max_duplicate_fraction = {max_duplicate_fraction})"
        )
    return None
