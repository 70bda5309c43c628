"""Regular node grids: the nodes an SDF, an occupancy field or a prediction is sampled at.

A :class:`GridSpec` has ``resolution`` nodes per axis, the same spacing on every axis; node
``[i, j, k]`` sits at ``origin + (i, j, k) * spacing`` and array axes are world x, y, z. The SDF
stage stores its grids with :meth:`GridSpec.to_attrs`; mesh extraction
(:mod:`recon.geometry.extract`) maps marching-cubes vertices back through the same spec.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["GridSpec"]


@dataclass(frozen=True)
class GridSpec:
    """A node grid with the same spacing on every axis: ``resolution`` nodes per axis.

    The grid is a cube: ``hi - lo`` is the same on every axis. Its corner need not lie on the
    diagonal x = y = z: ``lo`` and ``hi`` are either one coordinate for every axis (the fixed box
    ``[lo, hi]^3``) or an (x, y, z) triple each (DISN's box around a shape's bounding box).

    Attributes:
        resolution: nodes per axis (256, or 257 for DISN's node count).
        lo: coordinate of the first node: a number (every axis) or an (x, y, z) tuple.
        hi: coordinate of the last node, in the same form as ``lo``.
    """

    resolution: int = 256
    lo: float | tuple[float, float, float] = -1.1
    hi: float | tuple[float, float, float] = 1.1

    def __post_init__(self):
        for name in ("lo", "hi"):
            value = getattr(self, name)
            if np.ndim(value) == 1:  # a sequence: stored as a tuple of floats, so the spec hashes
                object.__setattr__(self, name, tuple(float(v) for v in value))
        side = np.asarray(self.hi, dtype=np.float64) - np.asarray(self.lo, dtype=np.float64)
        if side.shape not in ((), (3,)) or not np.all(side > 0) or int(self.resolution) < 2:
            raise ValueError(f"need resolution >= 2 and hi > lo on every axis, got {self}")
        if np.ptp(side) > 1e-9 * np.max(side):
            raise ValueError(f"the grid must be a cube (hi - lo the same on every axis), got {self}")

    @classmethod
    def cube(cls, half_extent: float, resolution: int) -> GridSpec:
        """The grid of ``resolution`` nodes per axis over ``[-half_extent, half_extent]^3``."""
        h = float(half_extent)
        return cls(int(resolution), -h, h)

    @property
    def origin(self) -> np.ndarray:
        """(3,) float64 position of node [0, 0, 0]."""
        return np.broadcast_to(np.asarray(self.lo, dtype=np.float64), (3,)).copy()

    @property
    def corner(self) -> np.ndarray:
        """(3,) float64 position of the last node, [n - 1, n - 1, n - 1]."""
        return np.broadcast_to(np.asarray(self.hi, dtype=np.float64), (3,)).copy()

    @property
    def spacing(self) -> float:
        """Distance between neighbouring nodes (the same on every axis)."""
        side = np.max(np.asarray(self.hi, dtype=np.float64) - np.asarray(self.lo, dtype=np.float64))
        return float(side) / (self.resolution - 1)

    @property
    def axes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Node coordinates along x, y and z: three (resolution,) float64 arrays."""
        steps = self.spacing * np.arange(self.resolution)
        return tuple(float(o) + steps for o in self.origin)

    def points(self) -> np.ndarray:
        """(resolution^3, 3) float64 node positions, x slowest (``meshgrid(indexing="ij")`` order)."""
        return np.stack(np.meshgrid(*self.axes, indexing="ij"), axis=-1).reshape(-1, 3)

    def to_attrs(self) -> dict:
        """``resolution``, ``lo``, ``hi`` (a number, or [x, y, z] when the axes differ) and ``spacing``."""
        return {
            "resolution": int(self.resolution),
            "lo": self.lo if np.ndim(self.lo) == 0 else list(self.lo),
            "hi": self.hi if np.ndim(self.hi) == 0 else list(self.hi),
            "spacing": self.spacing,
        }

    @classmethod
    def from_attrs(cls, attrs) -> GridSpec:
        """The grid of a mapping with ``resolution``, ``lo`` and ``hi`` (a stored grid's attributes)."""
        lo, hi = attrs["lo"], attrs["hi"]
        lo = float(lo) if np.ndim(lo) == 0 else tuple(float(v) for v in lo)
        hi = float(hi) if np.ndim(hi) == 0 else tuple(float(v) for v in hi)
        return cls(int(attrs["resolution"]), lo, hi)
