"""GenRe's viewer-centred frame: the object turned into a view's camera axes, scaled into [-0.5, 0.5]^3.

GenRe (Zhang et al. 2018) predicts shapes in the frame of the camera that took the picture: its
view-aligned voxels (``_gt_rotvox_samescale_128``) and spherical maps are the object seen from the
camera, rotated about the object's centre, inside the cube [-0.5, 0.5]^3 of its 128^3 grid, and its
camera sits on the frame's -x axis looking toward +x with +z up (``util/util_img.py``
``depth_to_mesh_df``: camera at (-2.2, 0, 0)).

recon's *view frame* of view v is that frame for a recon camera ``[R_v | t_v]`` (OpenCV axes: x
right, y down, z forward; ``docs/data_format.md`` §1.1)::

    x_view = s * P @ R_v @ x_world,        P = [[0, 0, 1], [-1, 0, 0], [0, -1, 0]]

so the view frame's +x is the viewing direction (camera z), +y points left (-camera x) and +z up
(-camera y): the camera looks along +x, as in GenRe, and the poles of GenRe's spherical grid (+-z)
are image up and down, so the seen half of the object lies around the map's equator. ``P`` is a
rotation (det +1). There is no translation: the object's origin stays at the centre, whatever the
camera's shift. ``s = 0.5 / r`` with ``r`` the radius of the ball that holds every normalized
shape (1 for ``unit_sphere``; ``sqrt(3)/2`` for ``unit_cube``, the ball around its cube), so every
view of every shape lies inside [-0.5, 0.5]^3.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["BALL_RADIUS", "CAMERA_TO_VIEW", "VIEW_HALF_EXTENT", "view_scale", "world_to_view"]

#: Half the side of the view frame's cube (GenRe's [-0.5, 0.5]^3).
VIEW_HALF_EXTENT = 0.5

#: Radius of the ball around the origin that holds every shape of each ``ingest.normalization``.
BALL_RADIUS = {"unit_sphere": 1.0, "unit_cube": math.sqrt(3.0) / 2.0}

#: ``P``: camera axes (x right, y down, z forward) to view-frame axes (forward, left, up).
CAMERA_TO_VIEW = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


def view_scale(normalization: str) -> float:
    """``s = 0.5 / r``: world units to view-frame units for an ``ingest.normalization``."""
    try:
        return VIEW_HALF_EXTENT / BALL_RADIUS[normalization]
    except KeyError:
        raise ValueError(f"unknown normalization {normalization!r}; known: {sorted(BALL_RADIUS)}") from None


def world_to_view(rt, scale: float) -> np.ndarray:
    """The linear map ``M = s P R`` of world points to view-frame points, ``x_view = M @ x_world``.

    Args:
        rt: (3, 4) or (V, 3, 4) world-to-camera ``[R|t]`` (only ``R`` is used).
        scale: ``s``, :func:`view_scale` of the normalization.

    Returns:
        (3, 3) or (V, 3, 3) float64 matrices ``M`` (``M^-1 = M^T / s^2``: a scaled rotation).
    """
    rotation = np.asarray(rt, dtype=np.float64)[..., :3, :3]
    return float(scale) * np.einsum("ij,...jk->...ik", CAMERA_TO_VIEW, rotation)
