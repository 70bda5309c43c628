"""The report's metric tables read the evaluate TSVs: ids stay text, metrics become numbers."""

from __future__ import annotations

from recon.io.tables import write_tsv
from recon.report.stage import _metric_tables


def test_synset_ids_keep_their_leading_zero(tmp_path):
    rows = [
        {"preset": "r2n2", "method": "mean_shape", "category": "02691156", "objects": 3, "iou": 0.5},
        {"preset": "r2n2", "method": "mean_shape", "category": "all", "objects": 3, "iou": 0.5},
    ]
    write_tsv(tmp_path / "evaluate" / "test" / "r2n2.tsv", rows, list(rows[0]))
    (section,) = _metric_tables(tmp_path, "test", ["r2n2"], {"02691156": "airplane"})
    per_category = section.blocks[-1]
    first = per_category.rows[0]
    assert first["category"] == "02691156"
    assert first["name"] == "airplane"
    assert first["objects"] == 3 and first["iou"] == 0.5
    assert per_category.columns[:3] == ["method", "category", "name"]


def test_undefined_metrics_show_as_nan_next_to_the_count_of_empty_predictions(tmp_path):
    from recon.report.html import _render_table

    rows = [
        {"preset": "onet", "method": "m", "category": "02691156", "objects": 2, "items": 2, "empty": 2}
        | {"iou": 0.0, "chamfer_l1": float("nan")},
        {"preset": "onet", "method": "m", "category": "all", "objects": 2, "items": 2, "empty": 2}
        | {"iou": 0.0, "chamfer_l1": float("nan")},
    ]
    write_tsv(tmp_path / "evaluate" / "test" / "onet.tsv", rows, list(rows[0]))
    (section,) = _metric_tables(tmp_path, "test", ["onet"], {})
    per_category = section.blocks[-1]
    first = per_category.rows[0]
    assert first["empty"] == 2 and first["chamfer_l1"] != first["chamfer_l1"]  # NaN
    html = _render_table(per_category)
    assert ">nan</td>" in html and ">2</td>" in html


def test_the_overview_shows_seen_and_unseen_rows_by_name_where_present(tmp_path):
    rows = [
        {"preset": "genre", "method": m, "category": c, "objects": 1, "chamfer": v}
        for m, c, v in [("g", "02691156", 0.1), ("g", "seen", 0.1), ("g", "unseen", 0.2), ("g", "all", 0.15)]
    ] + [{"preset": "genre", "method": "h", "category": "all", "objects": 1, "chamfer": 0.3}]
    write_tsv(tmp_path / "evaluate" / "test" / "genre.tsv", rows, list(rows[0]))
    (section,) = _metric_tables(tmp_path, "test", ["genre"], {"02691156": "airplane"})
    overview = section.blocks[1]
    assert [(r["method"], r["category"], r["chamfer"]) for r in overview.rows] == [
        ("g", "seen", 0.1),
        ("g", "unseen", 0.2),
        ("g", "all", 0.15),
        ("h", "all", 0.3),
    ]
    assert "category" in overview.columns
    # Without groups the overview is as before: the ``all`` rows, no category column.
    write_tsv(tmp_path / "evaluate" / "test" / "genre.tsv", rows[3:], list(rows[0]))
    (section,) = _metric_tables(tmp_path, "test", ["genre"], {})
    assert "category" not in section.blocks[1].columns and len(section.blocks[1].rows) == 2
