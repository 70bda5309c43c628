"""Procedural demo dataset in the on-disk layout of ShapeNetCore (v1 or v2).

ShapeNet cannot be shipped, so demos, the default config and the tests use a small
dataset of procedural chairs, tables, airplanes, lamps, mugs and bottles, generated
deterministically from the project seed.

Example:
    >>> from recon.demo import make_demo_dataset
    >>> records = make_demo_dataset("data/demo", seed=0, layout="v1")  # doctest: +SKIP
"""

from __future__ import annotations

from recon.demo.shapes import DEMO_CATEGORIES, MAIN_VARIANT, PALETTES, generate_shape
from recon.demo.stage import make_demo_dataset, shape_id

__all__ = ["DEMO_CATEGORIES", "MAIN_VARIANT", "PALETTES", "generate_shape", "make_demo_dataset", "shape_id"]
