"""Loading raw meshes as plain vertex / face arrays.

Meshes are loaded with trimesh without any processing (``process=False``): no vertex
merging, no face removal, no re-orientation, so the quality checks see the file as it is.
Multi-part files (OBJ groups, GLB scenes) are concatenated into one triangle soup, with the
GLB node transforms applied. Materials are not read here (``skip_materials``); the render stage
reads them from a sanitized copy (:mod:`recon.geometry.references`).

The file and every file it names are confined to the shape's folder: the mesh is opened with
:func:`recon.geometry.references.open_in_folder`, and trimesh gets a resolver
(:class:`FolderResolver`) that serves only files inside that folder (a GLB's external buffers),
so no reader here opens a file outside the dataset's shape folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

from recon.geometry.references import OutsideFolderError, ShapeFolder, open_in_folder

__all__ = [
    "FolderResolver",
    "MeshLoadError",
    "file_sha256",
    "load_mesh",
    "one_line",
    "open_mesh",
    "read_mesh",
]


class MeshLoadError(Exception):
    """A mesh file that cannot be read; ``str(err)`` is the one-line reason for the ledger."""


#: NumPy's warning when its text parser stops before the end (``np.fromstring``): a token that is no number.
_PARTIAL_PARSE = "string or file could not be read to its end"

#: Ledger reason of a mesh file that leads (through a symlink) outside its shape folder.
MESH_OUTSIDE = "mesh file outside the shape folder"


def file_sha256(source: Path | str | BinaryIO, block: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file (a path, or a binary file object read from where it is), in blocks."""
    h = hashlib.sha256()
    with contextlib.ExitStack() as stack:
        f = source if hasattr(source, "read") else stack.enter_context(open(source, "rb"))
        while chunk := f.read(block):
            h.update(chunk)
    return h.hexdigest()


def printable(text: str) -> str:
    """``text`` as UTF-8 can hold it: undecodable bytes of a name (lone surrogates, as
    ``os.fsdecode`` leaves them) written ``\\xNN``. Ledger lines, logs and attributes must encode."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate no decoder made: keep it as its escape
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def one_line(text: object, limit: int = 200) -> str:
    """``str(text)`` on one line (blanks collapsed, :func:`printable`), cut to ``limit`` characters:
    a ledger reason's detail."""
    text = " ".join(printable(str(text)).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _folder(path: Path, folder: ShapeFolder | Path | str | None) -> ShapeFolder:
    if isinstance(folder, ShapeFolder):
        return folder
    return ShapeFolder(path.parent if folder is None else folder)


@contextlib.contextmanager
def open_mesh(path: Path | str, folder: ShapeFolder | Path | str | None = None) -> Iterator[BinaryIO]:
    """Open a mesh file for reading; it must lead (symlinks followed) inside the shape's folder.

    Args:
        path: the mesh file.
        folder: the shape's folder (:func:`recon.geometry.references.shape_folder`); None = the
            file's own folder.

    Raises:
        MeshLoadError: ``file not found``, or ``mesh file outside the shape folder``.
    """
    path = Path(os.path.abspath(path))
    folder = _folder(path, folder)
    try:
        with open_in_folder(folder, path) as f:
            yield f
    except OutsideFolderError as err:
        raise MeshLoadError(MESH_OUTSIDE) from err
    except FileNotFoundError as err:
        raise MeshLoadError("file not found") from err


class FolderResolver:
    """A trimesh resolver that serves only files inside the shape's folder.

    Args:
        folder: the shape's folder.
        base: the folder names are relative to (the mesh file's folder).
        max_bytes: the largest file served (a GLB's external buffer); a larger one raises
            :class:`MeshLoadError` unread. None = no limit.

    A name that leads outside raises :class:`recon.geometry.references.OutsideFolderError`
    before anything outside is touched.
    """

    def __init__(self, folder: ShapeFolder, base: Path | str, max_bytes: int | None = None) -> None:
        self.folder = folder
        self.base = os.path.abspath(base)
        self.max_bytes = max_bytes

    def get(self, name: str) -> bytes:
        with open_in_folder(self.folder, name, self.base) as f:
            size = os.fstat(f.fileno()).st_size
            if self.max_bytes is not None and size > self.max_bytes:
                raise MeshLoadError(
                    f"absurdly large: the file names {one_line(name, 80)} of {size / 2**20:.1f} MB "
                    f"> ingest.max_file_mb = {self.max_bytes / 2**20:g}"
                )
            return f.read()

    __getitem__ = get

    def write(self, name: str, data) -> None:
        raise PermissionError("a dataset folder is read only")

    def namespaced(self, namespace: str) -> FolderResolver:
        return FolderResolver(self.folder, os.path.join(self.base, namespace), self.max_bytes)

    def keys(self):
        return iter(())

    def __contains__(self, name: str) -> bool:
        return False


def _rows(array, dtype, name: str) -> np.ndarray:
    """``array`` as (N, 3) of ``dtype`` (None = empty); a ``ValueError`` naming ``name`` otherwise."""
    if array is None:
        return np.zeros((0, 3), dtype=dtype)
    array = np.asarray(array)
    if array.size == 0:
        return np.zeros((0, 3), dtype=dtype)
    if array.ndim != 2 or array.shape[1] != 3:
        raise ValueError(f"{name} of shape {array.shape}, expected (N, 3)")
    return array.astype(dtype)


def read_mesh(
    data: bytes,
    file_type: str,
    folder: ShapeFolder | Path | str,
    base: Path | str,
    max_bytes: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Read a triangle mesh from a file's bytes.

    Args:
        data: the file's contents (read with :func:`open_mesh`).
        file_type: format (obj, off, ply, stl, glb).
        folder: the shape's folder: the only place names in the file may lead.
        base: the folder relative names start from (the mesh file's folder).
        max_bytes: the largest file the mesh may name (``ingest.max_file_mb``); None = no limit.

    Returns:
        ``vertices`` (V, 3) float64 and ``faces`` (F, 3) int64 (polygons triangulated by
        trimesh's loaders). ``faces`` may be empty and ``vertices`` may hold NaN: judging
        that is the quality check's job.

    Raises:
        MeshLoadError: empty or unreadable file, or one that names a file outside the folder
            (a GLB's external buffer), with the reason.
    """
    import trimesh

    folder = _folder(Path(base), folder)
    if not data:
        raise MeshLoadError("empty file (0 bytes)")
    file_type = file_type.lower()
    if file_type == "obj" and b"\0" in data:
        # trimesh guesses an encoding (UTF-16 read as text), Blender's importer reads bytes: the two
        # would see different meshes. OBJ is a text format; no exporter writes NUL bytes.
        raise MeshLoadError("unreadable obj file: NUL bytes (UTF-16 or binary data, not OBJ text)")
    resolver = FolderResolver(folder, base, max_bytes)
    try:
        with warnings.catch_warnings():
            # NumPy's text parser, which trimesh's OBJ and STL readers use, stops at the first
            # token that is no number and only warns: the rest of the file would be lost silently.
            warnings.filterwarnings("error", _PARTIAL_PARSE, DeprecationWarning)
            loaded = trimesh.load(
                io.BytesIO(data), file_type=file_type, process=False, skip_materials=True, resolver=resolver
            )
        if isinstance(loaded, trimesh.Scene):
            if not loaded.geometry:
                raise MeshLoadError(f"unreadable {file_type} file: no geometry found")
            loaded = loaded.to_geometry()  # concatenated, node transforms applied
        # A Trimesh, or a PointCloud for a file with vertices but no faces. A malformed file can
        # leave ragged or oddly shaped arrays here (a truncated OBJ's last vertex): still the file's fault.
        vertices = _rows(getattr(loaded, "vertices", None), np.float64, "vertices")
        faces = _rows(getattr(loaded, "faces", None), np.int64, "faces")
    except OutsideFolderError as err:
        raise MeshLoadError(
            f"{file_type} file names a file outside the shape folder: {one_line(err)}"
        ) from err
    except (MeshLoadError, ImportError, MemoryError):
        raise  # a missing package or memory is the machine's problem, not the file's
    except DeprecationWarning as err:
        raise MeshLoadError(f"unreadable {file_type} file: a number that does not parse") from err
    except Exception as err:  # trimesh raises many types for malformed files
        raise MeshLoadError(f"unreadable {file_type} file: {type(err).__name__}: {one_line(err)}") from err
    if len(faces) and (faces.min() < 0 or faces.max() >= len(vertices)):
        raise MeshLoadError(f"unreadable {file_type} file: face indices outside 0..{len(vertices) - 1}")
    return vertices, faces


def load_mesh(
    path: Path | str, file_type: str | None = None, folder: ShapeFolder | Path | str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Read a triangle mesh file (:func:`open_mesh`, then :func:`read_mesh`).

    Args:
        path: mesh file (obj, off, ply, stl, glb).
        file_type: format; None = from the suffix.
        folder: the shape's folder; None = the file's own folder.

    Raises:
        MeshLoadError: missing, empty or unreadable file, or one outside the folder, with the reason.
    """
    path = Path(os.path.abspath(path))
    folder = _folder(path, folder)
    with open_mesh(path, folder) as f:
        data = f.read()
    return read_mesh(data, file_type or path.suffix.lstrip("."), folder, path.parent)
