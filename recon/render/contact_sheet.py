"""Contact sheets: one PNG per shape showing RGB, depth, normals and albedo of its views."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from recon.io.atomic import atomic_path
from recon.render.color import srgb_encode

__all__ = ["contact_sheet", "write_contact_sheet"]


def contact_sheet(
    rgba: Sequence[np.ndarray],
    depth: Sequence[np.ndarray],
    normal: Sequence[np.ndarray],
    albedo: Sequence[np.ndarray],
    mask: Sequence[np.ndarray],
    max_views: int = 8,
) -> np.ndarray:
    """A (4 H, n W, 3) uint8 image: rows RGB (on white), depth, normals, albedo; one column per view.

    Depth is shown near = dark over each view's own range; normals as ``0.5 * n + 0.5``.
    """
    columns = []
    for i in range(min(max_views, len(rgba))):
        m = np.asarray(mask[i], bool)[..., None]
        rgb = rgba[i][..., :3].astype(np.float64) / 255.0
        a = rgba[i][..., 3:4].astype(np.float64) / 255.0
        on_white = rgb * a + (1.0 - a)
        d = np.asarray(depth[i], np.float64)
        lo, hi = (d[m[..., 0]].min(), d[m[..., 0]].max()) if m.any() else (0.0, 1.0)
        grey = np.where(m[..., 0], 0.15 + 0.8 * (d - lo) / max(hi - lo, 1e-9), 1.0)
        n = np.where(m, 0.5 * np.asarray(normal[i], np.float64) + 0.5, 1.0)
        alb = np.where(m, srgb_encode(np.asarray(albedo[i], np.float64)), 1.0)
        columns.append(np.concatenate([on_white, np.repeat(grey[..., None], 3, -1), n, alb], axis=0))
    return np.round(np.concatenate(columns, axis=1) * 255.0).astype(np.uint8)


def write_contact_sheet(path: Path | str, rgba, depth, normal, albedo, mask, max_views: int = 8) -> None:
    """Write :func:`contact_sheet` as a PNG, atomically."""
    from PIL import Image

    image = Image.fromarray(contact_sheet(rgba, depth, normal, albedo, mask, max_views))
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")
