"""Generate the procedural demo dataset, atomically, in a ShapeNetCore layout."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from recon.demo.layout import LAYOUTS, write_shape, write_taxonomy
from recon.demo.shapes import DEMO_CATEGORIES, generate_shape
from recon.io.atomic import atomic_path
from recon.seeding import rng, stable_hash

__all__ = ["make_demo_dataset", "shape_id"]


def shape_id(seed: int, category: str, index: int) -> str:
    """The 32-hex-character id of demo shape ``index`` of ``category`` under ``seed``."""
    return stable_hash("demo", seed, category, index)[:32]


def _check_args(categories: list[str] | None, layout: str, shapes_per_category: int) -> list[str]:
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; valid: {', '.join(LAYOUTS)}")
    cats = list(DEMO_CATEGORIES) if categories is None else [str(c) for c in categories]
    unknown = [c for c in cats if c not in DEMO_CATEGORIES]
    if unknown:
        raise ValueError(f"unknown demo categories {unknown}; valid: {', '.join(DEMO_CATEGORIES)}")
    if len(set(cats)) != len(cats):
        raise ValueError(f"duplicate categories in {cats}")
    if (
        isinstance(shapes_per_category, bool)
        or int(shapes_per_category) != shapes_per_category
        or shapes_per_category < 0
    ):
        raise ValueError(f"shapes_per_category must be a non-negative int, got {shapes_per_category!r}")
    return cats


def make_demo_dataset(
    root: str | os.PathLike[str],
    *,
    seed: int = 0,
    layout: str = "v1",
    categories: list[str] | None = None,
    shapes_per_category: int = 8,
) -> list[dict[str, Any]]:
    """Write a procedural dataset in the exact on-disk layout of ShapeNetCore.

    The output is a pure function of the arguments: two calls with the same arguments
    write byte-identical files. ``root`` is replaced atomically: everything is built in
    a sibling temporary directory that is renamed onto ``root`` at the end; on error
    nothing is left behind and an existing ``root`` is untouched.

    Args:
        root: output directory.
        seed: project seed; shape ``i`` of ``category`` uses
            ``recon.seeding.rng(seed, "demo", category, i)``.
        layout: ``"v1"`` (raw ``model.obj``) or ``"v2"`` (``models/model_normalized.obj``).
        categories: names from :data:`recon.demo.DEMO_CATEGORIES` (default: all six).
        shapes_per_category: shapes per category.

    Returns:
        One dict per shape, in generation order: ``synset``, ``category``, ``shape_id``,
        ``path`` (OBJ path relative to ``root``, POSIX separators) and ``params`` (the
        drawn parameters, JSON-serializable).

    Raises:
        ValueError: unknown layout or category, duplicate categories, bad count.
    """
    cats = _check_args(categories, layout, shapes_per_category)
    records: list[dict[str, Any]] = []
    with atomic_path(Path(root)) as tmp:
        for category in cats:
            synset = DEMO_CATEGORIES[category]
            for index in range(int(shapes_per_category)):
                sid = shape_id(seed, category, index)
                parts, params = generate_shape(category, rng(seed, "demo", category, index))
                rel = write_shape(tmp / synset / sid, layout, sid, parts, params)
                records.append(
                    {
                        "synset": synset,
                        "category": category,
                        "shape_id": sid,
                        "path": f"{synset}/{sid}/{rel}",
                        "params": params,
                    }
                )
        write_taxonomy(tmp, [(DEMO_CATEGORIES[c], c, int(shapes_per_category)) for c in cats])
    return records
