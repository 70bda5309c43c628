"""Seen / unseen rows of a summary: each group aggregated as the protocol aggregates ``all``."""

from __future__ import annotations

import numpy as np
import pytest

from recon.evaluate.protocols import GENRE_THRESHOLDS, get_protocol
from recon.evaluate.stage import grouped_summary


def _rows(metrics):
    """Item rows: category a (objects 1, 2; object 1 with two views), b (object 3), c (object 4)."""
    keys = [("a", "1", 0), ("a", "1", 1), ("a", "2", 0), ("b", "3", 0), ("c", "4", 0)]
    return [
        {"category": c, "shape_id": s, "view": v, "empty": k == 4} | metrics(k)
        for k, (c, s, v) in enumerate(keys)
    ]


def test_groups_follow_the_protocols_overall_rule():
    # r2n2: ``all`` is the mean over objects (not over categories).
    ious = [0.2, 0.4, 0.6, 0.9, 0.5]
    rows = _rows(lambda k: {"iou": ious[k]})
    protocol = get_protocol("r2n2")
    table = grouped_summary(protocol, rows, {"a", "c"})
    assert [r["category"] for r in table] == ["a", "b", "c", "seen", "unseen", "all"]
    assert table[:3] + table[-1:] == protocol.summarize(rows)  # the other rows are unchanged
    seen, unseen = table[3], table[4]
    assert seen["iou"] == pytest.approx((0.3 + 0.6 + 0.5) / 3)  # objects 1 (mean of views), 2, 4
    assert (seen["objects"], seen["items"], seen["empty"]) == (3, 4, 1)
    assert unseen["iou"] == pytest.approx(0.9) and (unseen["objects"], unseen["items"]) == (1, 1)
    assert grouped_summary(protocol, rows, None) == protocol.summarize(rows)


def test_genre_groups_average_the_categories_each_at_its_own_threshold():
    names = [f"chamfer@{t:g}" for t in GENRE_THRESHOLDS]
    rows = _rows(lambda k: {n: 0.1 + 0.01 * k + 0.02 * abs(i - k % 5) for i, n in enumerate(names)})
    table = {r["category"]: r for r in grouped_summary(get_protocol("genre"), rows, {"a", "c"})}
    assert table["seen"]["chamfer"] == pytest.approx((table["a"]["chamfer"] + table["c"]["chamfer"]) / 2)
    assert table["unseen"]["chamfer"] == pytest.approx(table["b"]["chamfer"]) == pytest.approx(0.13)
    assert table["b"]["chamfer_threshold"] == GENRE_THRESHOLDS[3]
    assert np.isnan(table["seen"]["chamfer_threshold"]) and np.isnan(table["all"]["chamfer_threshold"])


def test_a_group_without_items_has_zero_counts_and_nan_metrics():
    rows = _rows(lambda k: {"iou": 0.5})
    table = grouped_summary(get_protocol("r2n2"), rows, {"chair"})  # trained on none of these
    seen, unseen = table[-3], table[-2]
    assert seen["category"] == "seen" and (seen["objects"], seen["items"], seen["empty"]) == (0, 0, 0)
    assert np.isnan(seen["iou"])
    assert unseen == table[-1] | {"category": "unseen"}  # every item is unseen
