"""Presets on shared inputs against the anchors' formulas, written out independently here.

The references use other libraries where the presets use recon's (scipy's cKDTree instead of
pykdtree, trimesh's ray-parity ``contains`` instead of winding numbers) and follow the original
scripts line by line (Pix3D's ``mesh_grid`` with its 'xy' meshgrid and transposes).
"""

from __future__ import annotations

import numpy as np
import pytest
import trimesh
from scipy.spatial import cKDTree

from recon.evaluate.presets import (
    CONVONET_THRESHOLDS,
    DISN_THRESHOLDS,
    PIX3D_IOU_THRESHOLDS,
    GroundTruth,
    Prediction,
    disn_voxel_iou,
    get_preset,
    pix3d_resample,
)
from recon.sdf.samples import surface_samples
from recon.voxelize.voxels import VoxelSpec, solid_voxels


def _ground_truth(mesh: trimesh.Trimesh) -> GroundTruth:
    rng = np.random.default_rng(11)
    points, normals = surface_samples(mesh.vertices, mesh.faces, 20000, rng)
    occupancy_points = rng.uniform(-1.1, 1.1, size=(20000, 3))
    return GroundTruth(
        mesh_vertices=mesh.vertices.astype(np.float32),
        mesh_faces=mesh.faces.astype(np.int32),
        surface_points=points,
        surface_normals=normals,
        occupancy_points=occupancy_points,
        occupancy=mesh.contains(occupancy_points),
        voxels={n: solid_voxels(mesh.vertices, mesh.faces, VoxelSpec(n, 1.0)) for n in (32, 128)},
        voxel_half_extent=1.0,
    )


@pytest.fixture(scope="module")
def shapes():
    gt_mesh = trimesh.creation.box((1.2, 0.8, 1.0))
    pred_mesh = trimesh.creation.box((1.3, 0.7, 1.0))
    pred_mesh.apply_translation([0.03, 0.0, -0.02])
    return gt_mesh, pred_mesh, _ground_truth(gt_mesh), Prediction(pred_mesh.vertices, pred_mesh.faces)


def test_disn_matches_its_scripts(shapes):
    gt_mesh, pred_mesh, gt, pred = shapes
    # Boxes have 8 vertices: subdivide so "points from vertices" means something.
    gt_mesh, pred_mesh = gt_mesh.subdivide_to_size(0.1), pred_mesh.subdivide_to_size(0.1)
    gt = GroundTruth(
        gt_mesh.vertices,
        gt_mesh.faces,
        *[
            getattr(gt, k)
            for k in (
                "surface_points",
                "surface_normals",
                "occupancy_points",
                "occupancy",
                "voxels",
                "voxel_half_extent",
            )
        ],
    )
    pred = Prediction(pred_mesh.vertices, pred_mesh.faces)
    got = get_preset("disn").evaluate(pred, gt, np.random.default_rng(7))
    # test_cd_emd.py: np.random.randint over vertices, GT first; nn_distance gives squared distances.
    rng = np.random.default_rng(7)
    g = gt_mesh.vertices[rng.integers(len(gt_mesh.vertices), size=2048)]
    p = pred_mesh.vertices[rng.integers(len(pred_mesh.vertices), size=2048)]
    forward, _ = cKDTree(g).query(p)
    backward, _ = cKDTree(p).query(g)
    assert got["chamfer"] == pytest.approx((np.mean(forward**2) + np.mean(backward**2)) * 1000, rel=1e-9)
    # test_f_score.py: thresholds [0.5, 1, 2, 5, 10, 20] * 0.01 * 2.5, np.less.
    for pct in (0.5, 1, 2, 5, 10, 20):
        tau = pct * 0.01 * 2.5
        assert got[f"precision@{tau:g}"] == pytest.approx(np.mean(forward < tau))
        assert got[f"recall@{tau:g}"] == pytest.approx(np.mean(backward < tau))
    assert pytest.approx((0.0125, 0.025, 0.05, 0.125, 0.25, 0.5)) == DISN_THRESHOLDS
    # approxmatch is an upper bound of the exact matching cost; DISN scales the sum by 0.01.
    from recon.evaluate.emd import emd_exact

    assert got["emd"] >= emd_exact(g, p)[0] * 2048 * 0.01 * (1 - 1e-9)
    assert 0 < got["iou"] < 1


def test_disn_iou_bins_the_voxel_corners_over_its_box():
    box = trimesh.creation.box((1.0, 1.0, 1.0))
    assert disn_voxel_iou(box.vertices, box.faces, box.vertices, box.faces) == 1.0
    far = box.copy()
    far.apply_translation([0.6, 0, 0])
    # test_iou.py bins surface-voxel corners into 2.4/110 cells: shifted by 0.6 the faces x = ±0.5
    # and x = 0.1, 1.1 share no bin, but the four side faces overlap on x in [0.1, 0.5].
    value = disn_voxel_iou(box.vertices, box.faces, far.vertices, far.faces)
    assert 0.05 < value < 0.6


def test_onet_and_convonet_match_eval_py(shapes):
    _, pred_mesh, gt, pred = shapes
    onet = get_preset("onet").evaluate(pred, gt, np.random.default_rng(3))
    conv = get_preset("convonet").evaluate(pred, gt, np.random.default_rng(3))
    # im2mesh/eval.py, written out: the same 100k samples (same generator), scipy's KD-tree.
    points, normals = surface_samples(pred_mesh.vertices, pred_mesh.faces, 100_000, np.random.default_rng(3))
    lo, hi = gt.surface_points.min(0), gt.surface_points.max(0)
    loc, scale = (lo + hi) / 2, (hi - lo).max()
    p, g = (points - loc) / scale, (gt.surface_points - loc) / scale
    completeness, idx_c = cKDTree(p).query(g)
    accuracy, idx_a = cKDTree(g).query(p)
    n_gt = gt.surface_normals / np.linalg.norm(gt.surface_normals, axis=-1, keepdims=True)
    normals_completeness = np.abs((n_gt * normals[idx_c]).sum(-1)).mean()
    normals_accuracy = np.abs((normals * n_gt[idx_a]).sum(-1)).mean()
    assert onet["chamfer_l1"] == pytest.approx(0.5 * (completeness.mean() + accuracy.mean()), rel=1e-9)
    assert onet["chamfer_l2"] == pytest.approx(
        0.5 * ((completeness**2).mean() + (accuracy**2).mean()), rel=1e-9
    )
    assert onet["normals"] == pytest.approx(0.5 * (normals_completeness + normals_accuracy), rel=1e-9)
    occ = pred_mesh.contains(gt.occupancy_points)  # check_mesh_contains: ray parity
    expected_iou = (occ & gt.occupancy).sum() / (occ | gt.occupancy).sum()
    assert onet["iou"] == pytest.approx(expected_iou, abs=1e-4)
    # ConvONet src/eval.py: thresholds = linspace(1/1000, 1, 1000); F[9], F[14], F[19]; dist <= t.
    thresholds = np.linspace(1.0 / 1000, 1, 1000)
    assert (thresholds[9], thresholds[14], thresholds[19]) == CONVONET_THRESHOLDS
    for i in (9, 14, 19):
        t = thresholds[i]
        recall, precision = (completeness <= t).mean(), (accuracy <= t).mean()
        assert conv[f"f_score@{t:g}"] == pytest.approx(
            2 * precision * recall / (precision + recall), rel=1e-9
        )
    empty = get_preset("onet").evaluate(
        Prediction(np.zeros((0, 3)), np.zeros((0, 3), int)), gt, np.random.default_rng(0)
    )
    assert (
        empty["chamfer_l1"] == pytest.approx(np.sqrt(3)) and empty["normals"] == -1.0 and empty["iou"] == 0.0
    )


def _pix3d_downsample_voxel(voxel, threshold=0.1, size=32):
    """xingyuansun/pix3d eval/eval.py ``downsample_voxel``, as written there."""
    from scipy.interpolate import RegularGridInterpolator as rgi

    if voxel.shape[0] > 100:
        dim = voxel.shape[0] // 4
        out = np.zeros((dim, dim, dim))
        for x in range(dim):
            for y in range(dim):
                for z in range(dim):
                    out[x, y, z] = np.max(voxel[x * 4 : x * 4 + 4, y * 4 : y * 4 + 4, z * 4 : z * 4 + 4])
        voxel = out
    if voxel.max() < threshold:
        voxel, x_min, x_max, y_min, y_max, z_min, z_max = np.zeros((2, 2, 2)), 0, 1, 0, 1, 0, 1
    else:
        v_bin = voxel >= threshold
        x_sum, y_sum, z_sum = v_bin.sum(axis=(1, 2)), v_bin.sum(axis=(0, 2)), v_bin.sum(axis=(0, 1))
        x_min, x_max = x_sum.nonzero()[0].min(), x_sum.nonzero()[0].max()
        y_min, y_max = y_sum.nonzero()[0].min(), y_sum.nonzero()[0].max()
        z_min, z_max = z_sum.nonzero()[0].min(), z_sum.nonzero()[0].max()
        voxel = voxel[x_min : x_max + 1, y_min : y_max + 1, z_min : z_max + 1]
    length = max(max(x_max - x_min, y_max - y_min), z_max - z_min)
    center = np.array([x_max - x_min, y_max - y_min, z_max - z_min]) / 2.0
    x = np.linspace(center[0] - length / 2, center[0] + length / 2, size)
    y = np.linspace(center[1] - length / 2, center[1] + length / 2, size)
    z = np.linspace(center[2] - length / 2, center[2] + length / 2, size)
    x_mesh, y_mesh, z_mesh = np.meshgrid(x, y, z)
    x_mesh = np.reshape(np.transpose(x_mesh, (1, 0, 2)), (-1))
    y_mesh = np.reshape(np.transpose(y_mesh, (1, 0, 2)), (-1))
    z_mesh = np.reshape(z_mesh, (-1))
    axes = tuple(np.arange(s) for s in voxel.shape)
    f = rgi(axes, voxel, "linear", False, 0)
    return np.reshape(f(np.array([x_mesh, y_mesh, z_mesh]).T), (size, size, size))


def test_pix3d_resampling_and_metrics_match_eval_py(shapes):
    _, pred_mesh, gt, pred = shapes
    rng = np.random.default_rng(0)
    blob = np.zeros((128, 128, 128))
    blob[20:90, 40:70, 10:120] = rng.random((70, 30, 110))
    np.testing.assert_allclose(pix3d_resample(blob), _pix3d_downsample_voxel(blob), atol=1e-12)
    small = np.zeros((32, 32, 32))
    small[3:9, 10:30, 5:6] = 0.7
    np.testing.assert_allclose(pix3d_resample(small), _pix3d_downsample_voxel(small), atol=1e-12)
    np.testing.assert_array_equal(pix3d_resample(np.zeros((32,) * 3)), 0)
    got = get_preset("pix3d").evaluate(pred, gt, np.random.default_rng(5))
    # eval.py: 1,024 points, each cloud bbox-normalized; cd = mean sqrt fwd + mean sqrt bwd.
    rng = np.random.default_rng(5)
    g = gt.surface_points[rng.choice(len(gt.surface_points), 1024, replace=False)]
    p = surface_samples(pred_mesh.vertices, pred_mesh.faces, 1024, rng)[0]
    norm = lambda a: (a - (a.min(0) + a.max(0)) / 2) / (a.max(0) - a.min(0)).max()  # noqa: E731
    g, p = norm(g), norm(p)
    d1, _ = cKDTree(g).query(p)
    d2, _ = cKDTree(p).query(g)
    assert got["chamfer"] == pytest.approx(d1.mean() + d2.mean(), rel=1e-9)
    from scipy.optimize import linear_sum_assignment

    cost = np.linalg.norm(p[:, None] - g[None], axis=-1)
    rows, cols = linear_sum_assignment(cost)
    assert got["emd"] == pytest.approx(cost[rows, cols].mean(), rel=1e-9)
    assert tuple(np.arange(0.01, 0.5, 0.01)) == PIX3D_IOU_THRESHOLDS
    pv = pix3d_resample(solid_voxels(pred_mesh.vertices, pred_mesh.faces, VoxelSpec(128, 1.0)).astype(float))
    gv = pix3d_resample(gt.voxels[128].astype(float))
    t = PIX3D_IOU_THRESHOLDS[20]
    assert got[f"iou@{t:g}"] == pytest.approx(((pv > t) & (gv > t)).sum() / ((pv > t) | (gv > t)).sum())


def test_pix3d_reports_the_threshold_best_over_all_objects():
    preset = get_preset("pix3d")
    names = [f"iou@{t:g}" for t in PIX3D_IOU_THRESHOLDS]
    rows = []
    for k, cat in enumerate(("a", "a", "b")):
        row = {"category": cat, "shape_id": str(k), "view": -1, "chamfer": 1.0, "emd": 2.0}
        row.update({n: 0.5 for n in names})
        row[names[7]] = 0.6 + 0.1 * k  # best on average at threshold index 7
        rows.append(row)
    table = {r["category"]: r for r in preset.summarize(rows)}
    assert table["all"]["iou_threshold"] == PIX3D_IOU_THRESHOLDS[7]
    assert table["a"]["iou"] == pytest.approx(0.65) and table["all"]["iou"] == pytest.approx(0.7)  # objects


def test_r2n2_thresholds_probabilities_at_0_4(shapes):
    _, _, gt, _ = shapes
    probabilities = gt.voxels[32].astype(np.float64) * 0.45
    probabilities[0, 0, 0] = 0.4  # counts (>= 0.4)
    probabilities[1, 0, 0] = 0.3999
    pred = Prediction(np.zeros((0, 3)), np.zeros((0, 3), int), {32: probabilities})
    got = get_preset("r2n2").evaluate(pred, gt, np.random.default_rng(0))["iou"]
    occupied = gt.voxels[32].sum()
    assert got == pytest.approx(occupied / (occupied + 1))


def test_disn_aggregates_f_from_mean_precision_and_recall_weighted_by_objects():
    preset = get_preset("disn")
    rows = []
    for cat, shape, view, p, r in [
        ("a", "1", 0, 1.0, 0.0),
        ("a", "1", 1, 0.0, 0.0),
        ("a", "2", 0, 1.0, 1.0),
        ("b", "3", 0, 0.2, 0.6),
    ]:
        row = {"category": cat, "shape_id": shape, "view": view, "chamfer": p, "emd": r, "iou": p}
        for tau in DISN_THRESHOLDS:
            row[f"precision@{tau:g}"], row[f"recall@{tau:g}"] = p, r
        rows.append(row)
    table = {r["category"]: r for r in preset.summarize(rows)}
    tau = f"{DISN_THRESHOLDS[0]:g}"
    # Category a: object 1 averages its views (P 0.5, R 0), object 2 (1, 1): P 0.75, R 0.5.
    assert table["a"][f"precision@{tau}"] == 0.75 and table["a"][f"recall@{tau}"] == 0.5
    assert table["a"][f"f_score@{tau}"] == pytest.approx(2 * 0.75 * 0.5 / 1.25)
    # Overall P, R weighted by objects (2 and 1); F from them, not the mean of F.
    p, r = (2 * 0.75 + 0.2) / 3, (2 * 0.5 + 0.6) / 3
    assert table["all"][f"f_score@{tau}"] == pytest.approx(2 * p * r / (p + r))
    assert table["all"]["chamfer"] == pytest.approx((0.75 + 0.2) / 2)  # mean of the categories
