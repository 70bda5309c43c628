"""Closed-mesh primitives in the ShapeNet frame (+Y up, front facing -Z).

Every function returns a watertight :class:`trimesh.Trimesh` with outward-facing
triangles. Vertices are ``float64`` arrays of shape ``(V, 3)`` and faces ``int64``
arrays of shape ``(F, 3)``. Parts built here may overlap each other freely, like the
polygon soups of real ShapeNet models.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import trimesh
from trimesh import transformations as tf

__all__ = [
    "Z_TO_Y",
    "box",
    "cone",
    "disk",
    "frustum",
    "planar_uv",
    "revolve_y",
    "rod",
    "rotated_about",
    "sphere",
    "tube_arc",
]

#: 4x4 rotation taking trimesh's +Z axis (cylinders, cones, revolves) to +Y (up).
Z_TO_Y = tf.rotation_matrix(-np.pi / 2.0, [1.0, 0.0, 0.0])

_SECTIONS = 24


def _vec(x: Sequence[float] | np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float64).reshape(3)


def box(
    extents: Sequence[float], center: Sequence[float], rotation: np.ndarray | None = None
) -> trimesh.Trimesh:
    """Axis-aligned box, optionally rotated about its own centre.

    Args:
        extents: full sizes ``(3,)`` along X, Y, Z.
        center: box centre ``(3,)``.
        rotation: optional ``(3, 3)`` or ``(4, 4)`` rotation applied about the centre.

    Returns:
        Watertight mesh with 8 vertices and 12 faces.
    """
    mat = np.eye(4)
    if rotation is not None:
        rot = np.asarray(rotation, dtype=np.float64)
        mat[:3, :3] = rot[:3, :3]
    mat[:3, 3] = _vec(center)
    return trimesh.creation.box(extents=_vec(extents), transform=mat)


def rod(p0: Sequence[float], p1: Sequence[float], radius: float, sections: int = 16) -> trimesh.Trimesh:
    """Closed cylinder whose axis runs from ``p0`` to ``p1``.

    Args:
        p0: start point ``(3,)``.
        p1: end point ``(3,)``.
        radius: cylinder radius (> 0).
        sections: number of facets around the axis.

    Returns:
        Watertight cylinder mesh.
    """
    segment = np.stack([_vec(p0), _vec(p1)])
    return trimesh.creation.cylinder(radius=float(radius), segment=segment, sections=sections)


def disk(
    center: Sequence[float], radius: float, thickness: float, sections: int = _SECTIONS
) -> trimesh.Trimesh:
    """Vertical-axis (Y) closed cylinder centred at ``center`` (a disk, slab or pole).

    Args:
        center: centre ``(3,)`` of the cylinder.
        radius: radius in the XZ plane.
        thickness: extent along Y.
        sections: number of facets around the axis.
    """
    c = _vec(center)
    half = np.array([0.0, thickness / 2.0, 0.0])
    return rod(c - half, c + half, radius, sections=sections)


def cone(
    base_center: Sequence[float], apex: Sequence[float], radius: float, sections: int = _SECTIONS
) -> trimesh.Trimesh:
    """Closed cone with circular base at ``base_center`` and tip at ``apex``.

    Args:
        base_center: centre ``(3,)`` of the base disk.
        apex: tip point ``(3,)``.
        radius: base radius.
        sections: number of facets around the axis.
    """
    b = _vec(base_center)
    axis = _vec(apex) - b
    height = float(np.linalg.norm(axis))
    mat = trimesh.geometry.align_vectors([0.0, 0.0, 1.0], axis / height)
    mat[:3, 3] = b
    return trimesh.creation.cone(radius=float(radius), height=height, sections=sections, transform=mat)


def revolve_y(profile: np.ndarray, sections: int = _SECTIONS) -> trimesh.Trimesh:
    """Surface of revolution about the +Y axis.

    Args:
        profile: ``(N, 2)`` float array of ``(radius, y)`` points ordered bottom to top.
            The first and last points must lie on the axis (radius 0) so the surface
            is closed.

    Returns:
        Watertight mesh symmetric about the Y axis.
    """
    prof = np.asarray(profile, dtype=np.float64)
    if prof.ndim != 2 or prof.shape[1] != 2 or prof[0, 0] != 0.0 or prof[-1, 0] != 0.0:
        raise ValueError("profile must be (N, 2) and start and end on the axis")
    mesh = trimesh.creation.revolve(prof, sections=sections)
    mesh.apply_transform(Z_TO_Y)
    return mesh


def frustum(
    bottom_center: Sequence[float], height: float, r_bottom: float, r_top: float, sections: int = _SECTIONS
) -> trimesh.Trimesh:
    """Closed truncated cone along +Y (a lamp shade, a cap).

    Args:
        bottom_center: centre ``(3,)`` of the bottom disk.
        height: extent along +Y.
        r_bottom: bottom radius.
        r_top: top radius.
    """
    prof = np.array([[0.0, 0.0], [r_bottom, 0.0], [r_top, height], [0.0, height]])
    mesh = revolve_y(prof, sections=sections)
    mesh.apply_translation(_vec(bottom_center))
    return mesh


def sphere(center: Sequence[float], radius: float, subdivisions: int = 1) -> trimesh.Trimesh:
    """Icosphere of ``radius`` centred at ``center``."""
    mesh = trimesh.creation.icosphere(subdivisions=subdivisions, radius=float(radius))
    mesh.apply_translation(_vec(center))
    return mesh


def tube_arc(
    major_radius: float,
    minor_radius: float,
    start: float,
    sweep: float,
    n_major: int = 16,
    n_minor: int = 10,
) -> trimesh.Trimesh:
    """Capped section of a torus lying in the XY plane, centred at the origin.

    The tube centre line is the arc ``(R cos t, R sin t, 0)`` for ``t`` in
    ``[start, start + sweep]`` (radians, counter-clockwise seen from +Z). Both ends are
    closed by triangle fans, so the result is watertight (a mug handle).

    Args:
        major_radius: arc radius ``R``.
        minor_radius: tube radius (< ``R``).
        start: first arc angle in radians.
        sweep: arc length in radians, in ``(0, 2*pi)``.
        n_major: segments along the arc.
        n_minor: segments around the tube.

    Returns:
        Watertight mesh with ``(n_major + 1) * n_minor + 2`` vertices.
    """
    t = start + sweep * np.arange(n_major + 1) / n_major  # (M+1,)
    p = 2.0 * np.pi * np.arange(n_minor) / n_minor  # (N,)
    radial = major_radius + minor_radius * np.cos(p)[None, :]  # (1, N)
    x = radial * np.cos(t)[:, None]
    y = radial * np.sin(t)[:, None]
    z = np.broadcast_to(minor_radius * np.sin(p)[None, :], x.shape)
    ring = np.stack([x, y, z], axis=-1).reshape(-1, 3)
    c0 = np.array([[major_radius * np.cos(t[0]), major_radius * np.sin(t[0]), 0.0]])
    c1 = np.array([[major_radius * np.cos(t[-1]), major_radius * np.sin(t[-1]), 0.0]])
    vertices = np.vstack([ring, c0, c1])

    faces = []
    n = n_minor
    for i in range(n_major):
        for j in range(n):
            a = i * n + j
            b = i * n + (j + 1) % n
            c = (i + 1) * n + j
            d = (i + 1) * n + (j + 1) % n
            faces.append([a, c, b])
            faces.append([b, c, d])
    i0 = len(ring)
    i1 = i0 + 1
    last = n_major * n
    for j in range(n):
        faces.append([i0, j, (j + 1) % n])
        faces.append([i1, last + (j + 1) % n, last + j])
    mesh = trimesh.Trimesh(vertices=vertices, faces=np.asarray(faces, dtype=np.int64), process=False)
    if mesh.volume < 0:
        mesh.invert()
    return mesh


def rotated_about(
    mesh: trimesh.Trimesh, angle: float, axis: Sequence[float], point: Sequence[float]
) -> trimesh.Trimesh:
    """Rotate ``mesh`` in place by ``angle`` radians about ``axis`` through ``point``; returns it."""
    mesh.apply_transform(tf.rotation_matrix(float(angle), _vec(axis), _vec(point)))
    return mesh


def planar_uv(vertices: np.ndarray, axes: Sequence[int] = (0, 2)) -> np.ndarray:
    """Planar texture coordinates from two coordinate axes, scaled to ``[0, 1]``.

    Args:
        vertices: ``(V, 3)`` float array.
        axes: the two coordinate indices mapped to ``u`` and ``v`` (default X and Z,
            a projection from above).

    Returns:
        ``(V, 2)`` float64 array with values in ``[0, 1]``.
    """
    pts = np.asarray(vertices, dtype=np.float64)[:, list(axes)]
    lo = pts.min(axis=0)
    span = pts.max(axis=0) - lo
    span[span <= 0] = 1.0
    return np.clip((pts - lo) / span, 0.0, 1.0)
