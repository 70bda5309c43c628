"""Train / val / test splits: from 3D-R2N2 / DISN split lists, or seeded ratios.

Split lists are the files DISN and 3D-R2N2 ship (``03001627_train.lst``, one model id per
line); the category in the file name may be the synset id or the category name. Without
lists, each category is split by ratios: its ids are sorted, permuted with
``rng(seed, "split", category)``, and cut into exact counts by largest-remainder rounding,
so the result depends only on the seed and the set of ids, never on file-system order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from recon.ingest.sources import SourceShape
from recon.seeding import rng

__all__ = ["SPLITS", "assign_splits", "read_split_lists", "split_by_ratios", "split_counts"]

SPLITS = ("train", "val", "test")


def split_counts(n: int, ratios: Mapping[str, float]) -> dict[str, int]:
    """Exact per-split counts summing to ``n`` (largest remainder; ties go to the earlier split)."""
    exact = np.array([ratios[s] * n for s in SPLITS], dtype=float)
    counts = np.floor(exact + 1e-9).astype(int)
    remainders = np.round(exact - counts, 9)  # so float noise cannot break ties
    order = sorted(range(len(SPLITS)), key=lambda i: (-remainders[i], i))
    for i in order[: n - counts.sum()]:
        counts[i] += 1
    return dict(zip(SPLITS, counts.tolist(), strict=True))


def split_by_ratios(shapes: Iterable[SourceShape], ratios: Mapping[str, float], seed: int) -> dict:
    """Seeded split of each category by ``ratios``; returns ``{(category, shape_id): split}``."""
    by_category: dict[str, list[str]] = defaultdict(list)
    for s in shapes:
        by_category[s.category].append(s.shape_id)
    result = {}
    for category, ids in sorted(by_category.items()):
        ids = sorted(ids)
        perm = rng(seed, "split", category).permutation(len(ids))
        counts = split_counts(len(ids), ratios)
        start = 0
        for split in SPLITS:
            for i in perm[start : start + counts[split]]:
                result[(category, ids[i])] = split
            start += counts[split]
    return result


def read_split_lists(folder: Path | str, category: str, category_name: str) -> dict[str, str]:
    """Read ``<category>_<split>.lst`` (or ``<category_name>_<split>.lst``) files of one category.

    Returns:
        ``{shape_id: split}``; empty when the category has no list file.

    Raises:
        ValueError: a shape is listed in two splits.
    """
    folder = Path(folder)
    result: dict[str, str] = {}
    for split in SPLITS:
        for key in dict.fromkeys((category, category_name)):
            path = folder / f"{key}_{split}.lst"
            if not path.is_file():
                continue
            for line in path.read_text(encoding="utf-8").splitlines():
                shape_id = line.strip()
                if not shape_id or shape_id.startswith("#"):
                    continue
                if result.get(shape_id, split) != split:
                    raise ValueError(f"{path}: {shape_id} is also listed in the {result[shape_id]} split")
                result[shape_id] = split
    return result


def assign_splits(
    shapes: Iterable[SourceShape], seed: int, ratios: Mapping[str, float], lists: Path | str | None = None
) -> dict:
    """``{(category, shape_id): split}`` for every shape that gets a split.

    With ``lists``, shapes listed in no file are absent from the result (left out of the
    dataset, as in DISN and 3D-R2N2); without, every shape is split by ``ratios``.
    """
    shapes = list(shapes)
    if lists is None:
        return split_by_ratios(shapes, ratios, seed)
    tables = {}
    result = {}
    for s in shapes:
        if s.category not in tables:
            tables[s.category] = read_split_lists(lists, s.category, s.category_name)
        split = tables[s.category].get(s.shape_id)
        if split is not None:
            result[(s.category, s.shape_id)] = split
    return result
