"""The evaluate and report targets in a real workflow run: baselines, every protocol, the report page."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from recon.evaluate.stage import evaluate_predictions
from recon.io.packed import PackedSplit
from recon.io.predictions import PredictionSet
from recon.io.tables import read_tsv
from tests.meshes import SMALL_SDF, SMALL_VOXELIZE
from tests.pipeline import make_workdir, run_snakemake

pytestmark = pytest.mark.workflow

PROTOCOLS = ["disn", "onet", "convonet", "pix3d", "r2n2"]
METHODS = ["mean_shape", "retrieval_oracle", "retrieval_image"]
CONFIG = {
    "render": {"views": 3, "resolution": 40, "batch_size": 8, "samples": 4},
    "sdf": SMALL_SDF,
    "voxelize": SMALL_VOXELIZE,
    "pack": {"shard_shapes": 2, "point_chunk": 500},
    "train": {"experiments": []},
    "evaluate": {"views": 2},
    "report": {"shapes": 2, "image_size": 64},
}
SPLITS = {
    "things": {"train": ["box", "ring"], "test": ["box_copy"]},
    "balls": {"train": ["ico", "capsule"], "test": ["ico_copy"]},
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """``snakemake evaluate report`` on two categories whose test shapes are copies of train shapes."""
    tmp = tmp_path_factory.mktemp("evaluate")
    root, lists = tmp / "meshes", tmp / "lists"
    lists.mkdir()
    meshes = {
        "box": trimesh.creation.box((1, 2, 3)),
        "ring": trimesh.creation.annulus(0.3, 0.6, 0.4),
        "ico": trimesh.creation.icosphere(3),
        "capsule": trimesh.creation.capsule(1.0, 0.5),
    }
    for category, splits in SPLITS.items():
        (root / category).mkdir(parents=True)
        for split, ids in splits.items():
            (lists / f"{category}_{split}.lst").write_text("\n".join(ids) + "\n")
            for shape_id in ids:
                meshes[shape_id.removesuffix("_copy")].export(root / category / f"{shape_id}.obj")
    config = {"source": {"kind": "folder", "path": str(root)}, "splits": {"lists": str(lists)}, **CONFIG}
    workdir = make_workdir(tmp, config)
    run_snakemake(workdir, "--cores", "2", "evaluate", "report")
    return workdir


def _table(run, protocol):
    return {
        (r["method"], r["category"]): r
        for r in read_tsv(run / "results" / "evaluate" / "test" / f"{protocol}.tsv")
    }


def test_every_method_has_a_table_row_per_category_under_every_protocol(run):
    for protocol in PROTOCOLS:
        table = _table(run, protocol)
        assert set(table) == {(m, c) for m in METHODS for c in ("balls", "things", "all")}
        assert all(r["preset"] == protocol for r in table.values())  # the tables' column name
        assert table[("retrieval_image", "all")]["items"] == "4"  # 2 shapes x 2 views
        assert table[("mean_shape", "all")]["items"] == "2"  # view-independent


def test_the_oracle_retrieves_the_identical_train_shape_and_scores_perfect_voxel_ious(run):
    store = PredictionSet(run / "results" / "predict" / "retrieval_oracle" / "test.zarr")
    got = {(r["category"], r["shape_id"]): r["train_shape_id"] for r in store.attrs["info"]["retrieved"]}
    assert got == {("balls", "ico_copy"): "ico", ("things", "box_copy"): "box"}
    for protocol in ("r2n2", "pix3d", "disn"):
        assert float(_table(run, protocol)[("retrieval_oracle", "all")]["iou"]) == 1.0, protocol
    onet = _table(run, "onet")[("retrieval_oracle", "all")]
    # The prediction is the iso-0.003 ground-truth mesh: a hair larger than the occupancy's mesh.
    assert float(onet["iou"]) > 0.97 and float(onet["chamfer_l1"]) < 0.01 and float(onet["normals"]) > 0.95
    # The ground-truth mesh comes from a 40³ SDF grid here (spacing 0.056): within τ = 0.02 of the
    # bounding-box frame, most but not all of two independent 100k samples of it agree.
    convonet = _table(run, "convonet")[("retrieval_oracle", "all")]
    assert float(convonet["f_score@0.02"]) > 0.85
    mean = _table(run, "r2n2")[("mean_shape", "all")]
    assert float(mean["iou"]) < 0.95  # the mean of a box and a ring is neither


def test_item_tables_name_their_protocol_and_evaluation_is_reproducible(run, tmp_path):
    results = run / "results"
    rows = read_tsv(results / "evaluate" / "test" / "retrieval_image" / "disn.tsv")
    assert [(r["shape_id"], r["view"]) for r in rows] == [
        ("ico_copy", "0"),
        ("ico_copy", "1"),
        ("box_copy", "0"),
        ("box_copy", "1"),
    ]
    assert {r["preset"] for r in rows} == {"disn"} and {r["method"] for r in rows} == {"retrieval_image"}
    again = evaluate_predictions(
        results / "predict" / "retrieval_image" / "test.zarr",
        results / "pack" / "test.zarr",
        "disn",
        tmp_path / "items.tsv",
        tmp_path / "summary.tsv",
        seed=0,
    )
    assert (tmp_path / "items.tsv").read_bytes() == (
        results / "evaluate" / "test" / "retrieval_image" / "disn.tsv"
    ).read_bytes()
    assert again[-1]["category"] == "all"


def test_a_method_trained_on_some_categories_gets_seen_and_unseen_rows(run, tmp_path):
    results = run / "results"
    args = (results / "predict" / "retrieval_image" / "test.zarr", results / "pack" / "test.zarr", "pix3d")
    with pytest.raises(ValueError, match="no categories"):
        evaluate_predictions(
            *args, tmp_path / "x.tsv", tmp_path / "y.tsv", seed=0, seen_categories=["chairs"]
        )
    summary = evaluate_predictions(
        *args, tmp_path / "items.tsv", tmp_path / "summary.tsv", seed=0, seen_categories=["balls"]
    )
    assert (tmp_path / "items.tsv").read_bytes() == (
        results / "evaluate" / "test" / "retrieval_image" / "pix3d.tsv"
    ).read_bytes()
    rows = read_tsv(tmp_path / "summary.tsv")
    assert [r["category"] for r in rows] == ["balls", "things", "seen", "unseen", "all"]
    assert rows[:2] + rows[-1:] == read_tsv(
        results / "evaluate" / "test" / "retrieval_image" / "pix3d_summary.tsv"
    )
    # One category per group: a group's row (pix3d: the mean over its objects) is that category's.
    by = {r["category"]: r for r in summary}
    for group, category in (("seen", "balls"), ("unseen", "things")):
        assert by[group]["chamfer"] == pytest.approx(by[category]["chamfer"])
        assert by[group]["emd"] == pytest.approx(by[category]["emd"])
        assert (by[group]["objects"], by[group]["items"]) == (1, 2)


def test_tables_count_empty_predictions(run):
    for protocol in PROTOCOLS:
        for row in _table(run, protocol).values():
            assert row["empty"] == "0"  # no baseline predicts an empty mesh here
    rows = read_tsv(run / "results" / "evaluate" / "test" / "mean_shape" / "onet.tsv")
    assert list(rows[0])[:6] == ["method", "preset", "category", "shape_id", "view", "empty"]
    assert {r["empty"] for r in rows} == {"false"}


def test_one_voxel_definition_from_binvox_to_training_to_evaluation(run):
    """Evaluation ground truth = the loader's training target = the .binvox file: solid | surface voxels."""
    from recon.io.loader import PackedDataset
    from recon.voxelize.binvox import read_binvox

    for split in ("train", "test"):
        packed = PackedSplit(run / "results" / "pack" / f"{split}.zarr")
        loader = PackedDataset(run / "results" / "pack" / f"{split}.zarr", seed=0, targets=("voxels",))
        for i in range(len(packed)):
            gt = packed.ground_truth(i).voxels[32]
            binvox_dir = run / "results" / "voxelize" / "binvox" / packed.categories[i] / packed.shape_ids[i]
            binvox, _, _ = read_binvox(binvox_dir / "model.binvox")
            np.testing.assert_array_equal(gt, binvox)
            np.testing.assert_array_equal(gt, loader[i * len(loader.views)]["voxels"].numpy())
            np.testing.assert_array_equal(gt, packed.voxels(32)[i])
            solid = packed.root["voxels/32/solid"][i]
            assert gt.sum() > solid.sum() and (gt | solid).sum() == gt.sum()


def test_missing_predictions_are_a_clear_error(run, tmp_path):
    from recon.io.predictions import Item, write_predictions

    split = PackedSplit(run / "results" / "pack" / "test.zarr")
    vertices, faces = split.mesh(0)
    write_predictions(
        tmp_path / "p.zarr",
        [Item(split.categories[0], split.shape_ids[0], -1, 0)],
        [(vertices, faces)],
        {"method": "partial"},
    )
    with pytest.raises(ValueError, match="no prediction for 1 shape"):
        evaluate_predictions(
            tmp_path / "p.zarr",
            run / "results" / "pack" / "test.zarr",
            "r2n2",
            tmp_path / "i.tsv",
            tmp_path / "s.tsv",
            seed=0,
        )


def test_mean_shape_is_the_category_mean_of_the_train_voxels(run):
    train = PackedSplit(run / "results" / "pack" / "train.zarr")
    store = PredictionSet(run / "results" / "predict" / "mean_shape" / "test.zarr")
    voxels = store.root["voxels/32"][:]
    for k, category in enumerate(sorted(set(train.categories))):
        members = [i for i, c in enumerate(train.categories) if c == category]
        expected = train.voxels(32)[members].mean(axis=0)
        np.testing.assert_allclose(voxels[k], expected, atol=1e-3)  # stored as float16


def test_report_page_opens_in_a_browser_with_every_image(run):
    from tests.browser import browser_or_skip, inspect_page

    index = run / "results" / "report" / "index.html"
    assert index.is_file()
    driver = browser_or_skip()
    try:
        page = inspect_page(driver, index)
    finally:
        driver.quit()
    assert page.broken_images == []
    # 2 shapes x (input + ground truth + 3 methods) + 2 contact sheets + 2 SDF slices.
    assert page.image_count == 14
    assert "retrieval_oracle" in page.text and "Preset r2n2" in page.text
    assert not page.missing_anchors
