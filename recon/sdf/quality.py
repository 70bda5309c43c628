"""Quality checks of a shape's signed distance field, recorded in the SDF ledger.

All checks probe the generalized winding number ``w`` just off the surface: at ``m`` surface
samples ``p`` with face normals ``n``, at ``p + eps * n`` (the normal's side) and
``p - eps * n``; a side is inside when ``|w| > 0.5``.

- ``mixed_sign_fraction``: share of samples with one side inside and the other outside. A closed,
  clean surface gives ~1; inner faces (both sides inside), open sheets and gaps (both outside)
  lower it.
- ``occupied_fraction``: share of samples with at least one side inside (Occupancy Networks
  users see ~0.6 on badly watertighted meshes, where the surface points are labelled free).
- ``flipped_fraction``: among the mixed samples, the share whose inside is on the normal's side;
  ~1 for a mesh whose triangles all face inward (inside-out), in between for partly flipped ones.
  The SDF's sign does not depend on it (``|w| > 0.5``), so it is reported, not quarantined.
- ``interior_fraction``: share of grid nodes inside (0 = no interior at all).

DISN checks inside-out only for cars, airplanes and watercraft, by the sign of the node nearest
the origin; these checks run for every category and do not assume the origin is inside.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from recon.geometry.winding import winding_numbers

__all__ = ["QUALITY_COLUMNS", "quality_metrics", "quality_reason"]

QUALITY_COLUMNS = ("mixed_sign_fraction", "occupied_fraction", "flipped_fraction", "interior_fraction")


def quality_metrics(
    vertices: np.ndarray,
    faces: np.ndarray,
    points: np.ndarray,
    normals: np.ndarray,
    grid: np.ndarray,
    eps: float,
) -> dict[str, float]:
    """The checks above, from (m, 3) surface samples with (m, 3) unit normals and the SDF grid.

    Args:
        vertices, faces: the mesh.
        points: (m, 3) surface samples.
        normals: (m, 3) unit face normals of the samples (as wound).
        grid: (n, n, n) SDF grid, negative inside.
        eps: offset along the normal (a fraction of the node spacing is typical).

    Returns:
        ``{column: value}`` for every column of :data:`QUALITY_COLUMNS`, floats in [0, 1].
    """
    p = np.asarray(points, dtype=np.float64)
    nrm = np.asarray(normals, dtype=np.float64)
    w = winding_numbers(vertices, faces, np.concatenate([p + eps * nrm, p - eps * nrm]))
    front, back = np.abs(w[: len(p)]) > 0.5, np.abs(w[len(p) :]) > 0.5
    mixed = front != back
    return {
        "mixed_sign_fraction": float(mixed.mean()) if len(p) else 0.0,
        "occupied_fraction": float((front | back).mean()) if len(p) else 0.0,
        "flipped_fraction": float((front & mixed).sum() / max(int(mixed.sum()), 1)),
        "interior_fraction": float((np.asarray(grid) < 0).mean()),
    }


def quality_reason(metrics: Mapping[str, float], limits: Mapping[str, float]) -> str:
    """One-line quarantine reason, or ``""`` if the metrics pass the configured ``limits``.

    Args:
        metrics: the output of :func:`quality_metrics`.
        limits: ``min_mixed_sign_fraction``, ``min_occupied_fraction``, ``min_interior_fraction``
            (the ``sdf.quality`` config section).
    """
    reasons = []
    if metrics["interior_fraction"] <= limits["min_interior_fraction"]:
        reasons.append(f"no interior (inside share {metrics['interior_fraction']:.2e} of the grid)")
    if metrics["mixed_sign_fraction"] < limits["min_mixed_sign_fraction"]:
        reasons.append(
            f"only {metrics['mixed_sign_fraction']:.1%} of surface samples separate inside from outside "
            f"(open, inner or doubled faces; limit {limits['min_mixed_sign_fraction']:.0%})"
        )
    if metrics["occupied_fraction"] < limits["min_occupied_fraction"]:
        reasons.append(
            f"only {metrics['occupied_fraction']:.1%} of surface samples touch the inside "
            f"(limit {limits['min_occupied_fraction']:.0%})"
        )
    return "; ".join(reasons)
