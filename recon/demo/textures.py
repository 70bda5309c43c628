"""Small procedural textures (wood-like stripes, checker) from recorded parameters."""

from __future__ import annotations

from typing import Any

import numpy as np

from recon.demo.draw import Draw

__all__ = ["TEXTURE_SIZE", "draw_texture", "make_texture"]

TEXTURE_SIZE = 64


def draw_texture(d: Draw) -> dict[str, Any]:
    """Draw a texture specification into ``d`` (use a :meth:`Draw.group`).

    Args:
        d: recorder for the texture's parameters.

    Returns:
        ``d.params``: ``kind`` (``"wood"`` or ``"checker"``), ``size``, ``color_a`` and
        ``color_b`` (RGB ints 0..255) and the pattern parameters.
    """
    kind = d.choice("kind", ["wood", "checker"], p=[0.7, 0.3])
    d.set("size", TEXTURE_SIZE)
    if kind == "wood":
        r = d.uniform("light_red", 150.0, 230.0)
        g = r * d.uniform("light_green_ratio", 0.6, 0.78)
        b = g * d.uniform("light_blue_ratio", 0.45, 0.7)
        dark = d.uniform("dark_ratio", 0.5, 0.8)
        d.set("color_a", [round(r), round(g), round(b)])
        d.set("color_b", [round(r * dark), round(g * dark), round(b * dark)])
        d.integer("stripes", 3, 9)
        d.uniform("wobble", 0.0, 3.0)
        d.uniform("phase", 0.0, 2.0 * np.pi)
    else:
        a = [d.integer(f"a{i}", 120, 255) for i in range(3)]
        b = [int(v * 0.45) for v in a]
        d.set("color_a", a)
        d.set("color_b", b)
        d.integer("cells", 4, 8)
    return d.params


def make_texture(spec: dict[str, Any]) -> np.ndarray:
    """Render a texture specification from :func:`draw_texture`.

    Args:
        spec: the recorded texture parameters.

    Returns:
        ``(size, size, 3)`` ``uint8`` RGB image.
    """
    n = int(spec["size"])
    a = np.asarray(spec["color_a"], dtype=np.float64)
    b = np.asarray(spec["color_b"], dtype=np.float64)
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float64)
    if spec["kind"] == "wood":
        u = xx / n + spec["wobble"] / n * np.sin(2.0 * np.pi * 2.0 * yy / n + spec["phase"])
        t = 0.5 + 0.5 * np.cos(2.0 * np.pi * spec["stripes"] * u)  # (n, n) in [0, 1]
        t = t**3
    elif spec["kind"] == "checker":
        cell = n // int(spec["cells"])
        t = (((xx // cell) + (yy // cell)) % 2).astype(np.float64)
    else:
        raise ValueError(f"unknown texture kind {spec['kind']!r}")
    img = a[None, None, :] * (1.0 - t[..., None]) + b[None, None, :] * t[..., None]
    return np.clip(np.round(img), 0, 255).astype(np.uint8)
