"""The report's metric tables read the evaluate TSVs: ids stay text, metrics become numbers."""

from __future__ import annotations

from recon.io.tables import write_tsv
from recon.report.build import _metric_tables


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
