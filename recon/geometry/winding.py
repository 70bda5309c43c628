"""Generalized winding numbers of points with respect to a triangle soup (libigl).

The winding number is 1 inside a closed, outward-wound surface, 0 outside, and degrades gracefully
on open meshes, inner faces, overlaps and flipped triangles (Barill et al. 2018, "Fast winding
numbers for soups and clouds"); recon's inside test everywhere is ``|winding| > 0.5``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["winding_numbers"]


def winding_numbers(vertices: np.ndarray, faces: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Generalized winding numbers of (N, 3) points w.r.t. a triangle soup; (N,) float64."""
    import igl

    if len(points) == 0:
        return np.zeros(0)
    return igl.fast_winding_number(
        np.ascontiguousarray(vertices, dtype=np.float64),
        np.ascontiguousarray(faces, dtype=np.int64),
        np.ascontiguousarray(points, dtype=np.float64),
    )
