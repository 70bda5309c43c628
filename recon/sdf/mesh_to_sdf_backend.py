"""mesh_to_sdf (PyPI ``mesh-to-sdf``, Kleineberg) as a second, optional SDF backend.

mesh_to_sdf renders the mesh from ``scan_count`` cameras on a sphere around the origin (pyrender,
OpenGL, headless through EGL), back-projects every covered pixel of the depth buffers into a
surface point cloud with normals, and answers a query point with the distance to its nearest
cloud point. It is approximate: the values are distances to a point cloud, whose points lie off
the surface by up to half a pixel's footprint (it maps pixel ``i`` to ``i / (res - 1)`` of the view,
not to the pixel centre), and only surfaces seen from outside exist for it (inner cavities and
faces hidden inside a soup are not scanned).

Conventions, ours and theirs, and how this module maps them:

- **Sign**: both negative inside. ``sign_method="normal"`` (theirs and our default): a point is
  inside when most of its ``normal_sample_count`` nearest cloud points have normals facing away
  from it; the normals are taken from the rendered normal buffer and flipped towards the camera
  that saw them, so the face winding does not matter. ``sign_method="depth"``: inside when no
  scan sees the point. No sign flip is needed. One fix: mesh_to_sdf's ``"depth"`` calls every
  point outside the cameras' bounding sphere inside (no scan sees it), which flips the sign of
  our grid's far nodes (its corners are 1.9 from the origin); here any point farther from the
  origin than the farthest vertex (so outside the mesh's convex hull) is outside, with both
  sign methods.
- **Units and frame**: ``mesh_to_sdf.mesh_to_sdf`` neither moves nor rescales the mesh or the
  query points: the distances are in the units of the vertices, in their frame, as ours. (Its
  ``mesh_to_voxels`` and ``sample_sdf_near_surface`` do rescale the mesh, to the unit cube or the
  unit sphere, and use grids of their own; they are not used here.) The cameras look at the
  origin from ``2 * bounding_radius``, with ``bounding_radius = 1.1 * max |vertex|``, so the mesh
  should lie around the origin, as our unit-sphere-normalized meshes do.
- **Grid**: :func:`mesh_to_sdf_grid` queries our own node positions (:class:`GridSpec`: node
  ``[i, j, k]`` at ``lo + (i, j, k) * spacing``, array axes (x, y, z)), not mesh_to_sdf's
  ``[-1, 1]^3`` voxel grid, whose axes are also permuted (its ``get_raster_points``).
- **Dtype**: float32, as ours.

Setup: ``pip install -e ".[mesh_to_sdf]"`` (pins mesh-to-sdf 0.0.15, pyrender 0.1.45 and the
PyOpenGL 3.1.0 that pyrender requires) and, on Debian, ``apt-get install libegl1 libgl1
libegl-mesa0 libgl1-mesa-dri`` (EGL with Mesa's software renderer; OSMesa does not work with
that PyOpenGL). This module sets ``PYOPENGL_PLATFORM=egl`` unless it is set already.
mesh_to_sdf must be imported before pyrender or OpenGL in a process (it patches OpenGL calls),
and importing it sets trimesh's logger to level 9000; this module restores that logger's level.

Nothing heavy is imported at module import time.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import warnings
from collections.abc import Iterator

import numpy as np

from recon.geometry.grid import GridSpec

__all__ = ["available", "mesh_to_sdf_grid", "mesh_to_sdf_points"]

INSTALL_HINT = (
    'pip install -e ".[mesh_to_sdf]" and, on Debian, '
    "apt-get install libegl1 libgl1 libegl-mesa0 libgl1-mesa-dri"
)
SIGN_METHODS = ("normal", "depth")


def _import_mesh_to_sdf():
    """Imports mesh_to_sdf for EGL rendering, keeping trimesh's logger level; returns the module."""
    os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
    trimesh_logger = logging.getLogger("trimesh")
    level = trimesh_logger.level
    try:
        import mesh_to_sdf
    finally:
        trimesh_logger.setLevel(level)
    return mesh_to_sdf


@functools.cache
def available() -> str | None:
    """Whether this backend can run here.

    Imports mesh_to_sdf (and so pyrender and PyOpenGL) and renders a box from two cameras at
    16 x 16 pixels, which needs a working EGL context and mesh_to_sdf's shaders. Cached.

    Returns:
        None if usable, else a one-line reason.
    """
    try:
        mesh_to_sdf = _import_mesh_to_sdf()
    except Exception as exc:
        return f"cannot import mesh_to_sdf ({type(exc).__name__}: {_first_line(exc)}); {INSTALL_HINT}"
    try:
        import trimesh

        box = trimesh.creation.box((1.0, 1.0, 1.0))
        with _quiet_pyopengl():
            d = mesh_to_sdf.mesh_to_sdf(box, np.zeros((1, 3)), scan_count=2, scan_resolution=16)
        if not np.all(np.isfinite(d)):
            return "mesh_to_sdf rendered a test box but returned non-finite distances"
    except Exception as exc:
        return (
            f"mesh_to_sdf cannot render headless with PYOPENGL_PLATFORM="
            f"{os.environ.get('PYOPENGL_PLATFORM')} ({type(exc).__name__}: {_first_line(exc)}); "
            f"{INSTALL_HINT}"
        )
    return None


@contextlib.contextmanager
def _quiet_pyopengl() -> Iterator[None]:
    """Silences PyOpenGL 3.1.0's ``ndarray.tostring()`` DeprecationWarning (one per rendered view)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"tostring\(\) is deprecated", category=DeprecationWarning)
        yield


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


def _require():
    """Returns the mesh_to_sdf module, or raises RuntimeError saying why it is unusable."""
    reason = available()
    if reason is not None:
        raise RuntimeError(f"the mesh_to_sdf SDF backend is unavailable: {reason}")
    return _import_mesh_to_sdf()


def _surface_cloud(vertices, faces, scan_count: int, scan_resolution: int, sign_method: str):
    """mesh_to_sdf's scanned surface point cloud (with a KD-tree) of the mesh, and its max |vertex|."""
    if sign_method not in SIGN_METHODS:
        raise ValueError(f"sign_method must be one of {SIGN_METHODS}, not {sign_method!r}")
    if scan_count < 2:
        raise ValueError(f"scan_count must be at least 2, not {scan_count}")
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    if vertices.ndim != 2 or vertices.shape[1] != 3 or faces.ndim != 2 or faces.shape[1] != 3:
        raise ValueError(f"need (V, 3) vertices and (F, 3) faces, got {vertices.shape} and {faces.shape}")
    if len(faces) == 0:
        raise ValueError("the mesh has no faces")
    mesh_to_sdf = _require()
    import trimesh

    mesh = trimesh.Trimesh(vertices=vertices, faces=faces, process=False)
    with _quiet_pyopengl():
        cloud = mesh_to_sdf.get_surface_point_cloud(
            mesh,
            surface_point_method="scan",
            bounding_radius=None,  # 1.1 * max |vertex|: the cameras circle the origin at twice that
            scan_count=scan_count,
            scan_resolution=scan_resolution,
            calculate_normals=sign_method == "normal",
        )
    if len(cloud.points) == 0:
        raise ValueError("mesh_to_sdf's scans saw no surface (is the mesh degenerate?)")
    return cloud, float(np.sqrt(np.max(np.einsum("ij,ij->i", vertices, vertices))))


def _query(
    cloud, radius: float, points: np.ndarray, sign_method: str, normal_sample_count: int
) -> np.ndarray:
    """Signed distances of (N, 3) points to a surface cloud; (N,) float32, negative inside.

    Points farther than ``radius`` (the farthest vertex) from the origin are outside the mesh's
    convex hull, so outside: their sign is forced positive. For ``"depth"`` they are not even asked,
    as no scan sees points beyond the cameras' bounding sphere and mesh_to_sdf calls them inside.
    """
    far = np.einsum("ij,ij->i", points, points) > radius * radius
    out = np.empty(len(points), dtype=np.float32)
    if sign_method == "normal":
        out[:] = cloud.get_sdf(points, use_depth_buffer=False, sample_count=normal_sample_count)
        np.abs(out, out=out, where=far)
        return out
    near = ~far
    if near.any():
        out[near] = cloud.get_sdf(points[near], use_depth_buffer=True)
    if far.any():
        out[far] = cloud.kd_tree.query(points[far])[0][:, 0]
    return out


def mesh_to_sdf_points(
    vertices: np.ndarray,
    faces: np.ndarray,
    points: np.ndarray,
    *,
    scan_count: int = 100,
    scan_resolution: int = 400,
    sign_method: str = "normal",
    normal_sample_count: int = 11,
    chunk_size: int = 65536,
) -> np.ndarray:
    """Signed distances of query points to a mesh, by mesh_to_sdf's scanned surface point cloud.

    Args:
        vertices: (V, 3) float vertex positions, around the origin (normalized meshes are).
        faces: (F, 3) int vertex indices; winding and orientation do not matter.
        points: (N, 3) float query points, in the vertices' frame and units.
        scan_count: number of rendered views (cameras evenly spread on a sphere).
        scan_resolution: pixels per side of each view.
        sign_method: ``"normal"`` (vote of the nearest cloud normals) or ``"depth"`` (inside when
            no view sees the point).
        normal_sample_count: nearest cloud points voting on the sign (``"normal"`` only).
        chunk_size: query points per KD-tree query, to bound memory (about 1 kB per point).

    Returns:
        (N,) float32 signed distances, negative inside, in the vertices' units.

    Raises:
        RuntimeError: mesh_to_sdf, pyrender or a headless EGL context is unavailable.
        ValueError: bad shapes, an unknown ``sign_method``, or a mesh the scans do not see.
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"points must be (N, 3), got {points.shape}")
    cloud, radius = _surface_cloud(vertices, faces, scan_count, scan_resolution, sign_method)
    out = np.empty(len(points), dtype=np.float32)
    for start in range(0, len(points), chunk_size):
        chunk = points[start : start + chunk_size]
        out[start : start + len(chunk)] = _query(cloud, radius, chunk, sign_method, normal_sample_count)
    return out


def _grid_slabs(spec: GridSpec, chunk_size: int) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yields (i0, i1, points): the node positions of x-slabs ``i0:i1``, (m * n * n, 3) float64."""
    n = spec.resolution
    x, y, z = spec.axes
    rows = max(1, chunk_size // (n * n))
    for i0 in range(0, n, rows):
        i1 = min(n, i0 + rows)
        pts = np.stack(np.meshgrid(x[i0:i1], y, z, indexing="ij"), axis=-1).reshape(-1, 3)
        yield i0, i1, pts


def mesh_to_sdf_grid(
    vertices: np.ndarray,
    faces: np.ndarray,
    spec: GridSpec,
    *,
    scan_count: int = 100,
    scan_resolution: int = 400,
    sign_method: str = "normal",
    normal_sample_count: int = 11,
    chunk_size: int = 65536,
) -> np.ndarray:
    """mesh_to_sdf's signed distances on our node grid (same layout as :func:`recon.sdf.grid.sdf_grid`).

    The mesh is scanned once; the nodes are queried in x-slabs of about ``chunk_size`` nodes, so
    memory beyond the point cloud and the output stays bounded.

    Args:
        vertices: (V, 3) float vertex positions, around the origin (normalized meshes are).
        faces: (F, 3) int vertex indices.
        spec: the node grid; node ``[i, j, k]`` is at ``spec.origin + (i, j, k) * spec.spacing``.
        scan_count: number of rendered views.
        scan_resolution: pixels per side of each view.
        sign_method: ``"normal"`` or ``"depth"``, as in :func:`mesh_to_sdf_points`.
        normal_sample_count: nearest cloud points voting on the sign (``"normal"`` only).
        chunk_size: nodes per KD-tree query (at least one x-slab of ``n * n`` nodes).

    Returns:
        (n, n, n) float32 signed distances, negative inside, axes (x, y, z), in the vertices' units.

    Raises:
        RuntimeError: mesh_to_sdf, pyrender or a headless EGL context is unavailable.
        ValueError: bad shapes, an unknown ``sign_method``, or a mesh the scans do not see.
    """
    n = spec.resolution
    cloud, radius = _surface_cloud(vertices, faces, scan_count, scan_resolution, sign_method)
    out = np.empty((n, n, n), dtype=np.float32)
    for i0, i1, pts in _grid_slabs(spec, chunk_size):
        out[i0:i1] = _query(cloud, radius, pts, sign_method, normal_sample_count).reshape(i1 - i0, n, n)
    return out
