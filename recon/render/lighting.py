"""Lighting set-ups: DISN-like fixed lights, or seeded random lights per view (no bpy needed).

A set-up is a plain dict, ``{"sun": [{"direction": [x, y, z], "strength": s}, ...],
"ambient": a}``: sun directions point from the light toward the scene in the world frame
(+Y up), strengths are Cycles sun irradiance, ``ambient`` is the strength of a uniform white
world light. Suns cast no shadows and have no specular highlight.

- ``disn``: DISN's Blender Internal rig (Xharlie/ShapenetRender_more_variation
  ``render_blender.py``): a key sun, a second sun at half strength from the opposite side, and
  a hemispheric fill of 0.5, i.e. soft, shadowless, diffuse light from all sides.
- ``random``: a key sun from a uniformly drawn direction of the upper hemisphere, a fill sun
  from the opposite side at a drawn fraction, and a drawn ambient level; drawn per view with
  ``rng(seed, "lighting", category, shape_id, view)``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["LIGHTINGS", "disn_lighting", "lighting_for_view", "random_lighting"]

LIGHTINGS = ("disn", "random")

_KEY = np.array([-0.4, -1.0, -0.6])  # from above, front-left (front faces -Z)


def _unit(v) -> list[float]:
    v = np.asarray(v, dtype=np.float64)
    return [float(x) for x in v / np.linalg.norm(v)]


def disn_lighting() -> dict:
    """The fixed DISN-like rig (see module docstring)."""
    return {
        "sun": [{"direction": _unit(_KEY), "strength": 2.0}, {"direction": _unit(-_KEY), "strength": 1.0}],
        "ambient": 0.5,
    }


def random_lighting(rng: np.random.Generator) -> dict:
    """A random rig: key sun from the upper hemisphere, opposite fill sun, ambient light.

    Draw order (fixed): key azimuth U(0, 360), key elevation U(15, 75) degrees, key strength
    U(1, 3), fill fraction U(0.2, 0.6), ambient U(0.2, 0.8).
    """
    az, el = np.radians(rng.uniform(0.0, 360.0)), np.radians(rng.uniform(15.0, 75.0))
    key = rng.uniform(1.0, 3.0)
    fill = rng.uniform(0.2, 0.6)
    ambient = rng.uniform(0.2, 0.8)
    towards_light = np.array([np.cos(el) * np.cos(az), np.sin(el), np.cos(el) * np.sin(az)])
    return {
        "sun": [
            {"direction": _unit(-towards_light), "strength": float(key)},
            {"direction": _unit(towards_light), "strength": float(key * fill)},
        ],
        "ambient": float(ambient),
    }


def lighting_for_view(kind: str, seed: int, category: str, shape_id: str, view: int) -> dict:
    """The set-up of one view: ``disn`` (the same for all) or ``random`` (seeded per view)."""
    if kind == "disn":
        return disn_lighting()
    if kind == "random":
        from recon.seeding import rng

        return random_lighting(rng(seed, "lighting", category, shape_id, view))
    raise ValueError(f"unknown lighting {kind!r}; valid: {', '.join(LIGHTINGS)}")
