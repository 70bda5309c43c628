"""Splits from DISN / 3D-R2N2 lists and from seeded ratios."""

from __future__ import annotations

import pytest

from recon.ingest.sources import SourceShape
from recon.ingest.splits import assign_splits, split_counts

RATIOS = {"train": 0.7, "val": 0.1, "test": 0.2}


def _shapes(category, n, name=None):
    return [
        SourceShape(category, name or category, f"{i:04x}", f"{category}/{i}.obj", "obj") for i in range(n)
    ]


@pytest.mark.parametrize("n", [0, 1, 2, 3, 7, 8, 10, 101, 6778])
def test_split_counts_are_exact(n):
    counts = split_counts(n, RATIOS)
    assert sum(counts.values()) == n
    for split, ratio in RATIOS.items():
        assert abs(counts[split] - ratio * n) < 1.0


def test_split_counts_examples():
    assert split_counts(8, RATIOS) == {"train": 6, "val": 1, "test": 1}
    assert split_counts(10, RATIOS) == {"train": 7, "val": 1, "test": 2}


def test_ratio_split_is_seeded_and_order_independent():
    shapes = _shapes("03001627", 50) + _shapes("02691156", 20)
    a = assign_splits(shapes, seed=0, ratios=RATIOS)
    b = assign_splits(list(reversed(shapes)), seed=0, ratios=RATIOS)
    c = assign_splits(shapes, seed=1, ratios=RATIOS)
    assert a == b
    assert a != c
    chairs = [v for (cat, _), v in a.items() if cat == "03001627"]
    assert (chairs.count("train"), chairs.count("val"), chairs.count("test")) == (35, 5, 10)


def test_ratio_split_of_one_category_ignores_other_categories():
    chairs = _shapes("03001627", 30)
    alone = assign_splits(chairs, seed=0, ratios=RATIOS)
    mixed = assign_splits(chairs + _shapes("02691156", 9), seed=0, ratios=RATIOS)
    assert {k: v for k, v in mixed.items() if k[0] == "03001627"} == alone


def test_split_lists_by_synset_or_name(tmp_path):
    (tmp_path / "03001627_train.lst").write_text("0000\n0001\n\n")
    (tmp_path / "03001627_test.lst").write_text("0002\n")
    (tmp_path / "airplane_train.lst").write_text("0000\n")
    (tmp_path / "airplane_val.lst").write_text("0001\n")
    shapes = _shapes("03001627", 4, "chair") + _shapes("02691156", 3, "airplane")
    result = assign_splits(shapes, seed=0, ratios=RATIOS, lists=tmp_path)
    assert result == {
        ("03001627", "0000"): "train",
        ("03001627", "0001"): "train",
        ("03001627", "0002"): "test",
        ("02691156", "0000"): "train",
        ("02691156", "0001"): "val",
    }  # 03001627/0003 and 02691156/0002 are in no list: left out


def test_shape_in_two_lists_is_an_error(tmp_path):
    (tmp_path / "03001627_train.lst").write_text("0000\n")
    (tmp_path / "03001627_test.lst").write_text("0000\n")
    with pytest.raises(ValueError, match="0000 is also listed in the train split"):
        assign_splits(_shapes("03001627", 1), seed=0, ratios=RATIOS, lists=tmp_path)
