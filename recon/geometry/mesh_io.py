"""Loading raw meshes as plain vertex / face arrays.

Meshes are loaded with trimesh without any processing (``process=False``): no vertex
merging, no face removal, no re-orientation, so the quality checks see the file as it is.
Multi-part files (OBJ groups, GLB scenes) are concatenated into one triangle soup, with the
GLB node transforms applied. Materials are not read here; the render stage reads them.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

__all__ = ["MeshLoadError", "file_sha256", "load_mesh"]


class MeshLoadError(Exception):
    """A mesh file that cannot be read; ``str(err)`` is the one-line reason for the ledger."""


def file_sha256(path: Path | str, block: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file, read in blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(block):
            h.update(chunk)
    return h.hexdigest()


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def load_mesh(path: Path | str, file_type: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Read a triangle mesh.

    Args:
        path: mesh file (obj, off, ply, stl, glb).
        file_type: format; None = from the suffix.

    Returns:
        ``vertices`` (V, 3) float64 and ``faces`` (F, 3) int64 (polygons triangulated by
        trimesh's loaders). ``faces`` may be empty and ``vertices`` may hold NaN: judging
        that is the quality check's job.

    Raises:
        MeshLoadError: missing, empty or unreadable file, with the reason.
    """
    import trimesh

    path = Path(path)
    if not path.is_file():
        raise MeshLoadError("file not found")
    if path.stat().st_size == 0:
        raise MeshLoadError("empty file (0 bytes)")
    file_type = (file_type or path.suffix.lstrip(".")).lower()
    try:
        loaded = trimesh.load(str(path), file_type=file_type, process=False, skip_materials=True)
        if isinstance(loaded, trimesh.Scene):
            if not loaded.geometry:
                raise MeshLoadError(f"unreadable {file_type} file: no geometry found")
            loaded = loaded.to_geometry()  # concatenated, node transforms applied
    except (MeshLoadError, ImportError, MemoryError):
        raise  # a missing package or memory is the machine's problem, not the file's
    except Exception as err:  # trimesh raises many types for malformed files
        raise MeshLoadError(f"unreadable {file_type} file: {type(err).__name__}: {_one_line(err)}") from err
    # A Trimesh, or a PointCloud for a file with vertices but no faces.
    vertices = np.asarray(getattr(loaded, "vertices", np.zeros((0, 3))), dtype=np.float64).reshape(-1, 3)
    faces = np.asarray(getattr(loaded, "faces", np.zeros((0, 3))), dtype=np.int64).reshape(-1, 3)
    if len(faces) and (faces.min() < 0 or faces.max() >= len(vertices)):
        raise MeshLoadError(f"unreadable {file_type} file: face indices outside 0..{len(vertices) - 1}")
    return vertices, faces
