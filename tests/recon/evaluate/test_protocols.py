"""Evaluation protocols on shared inputs against the anchors' formulas, written out independently here.

The references use other libraries where the protocols use recon's (scipy's cKDTree instead of
pykdtree, trimesh's ray-parity ``contains`` instead of winding numbers) and follow the original
scripts line by line (Pix3D's ``mesh_grid`` with its 'xy' meshgrid and transposes).
"""

from __future__ import annotations

import numpy as np
import pytest
import trimesh
from scipy.spatial import cKDTree

from recon.evaluate.protocols import (
    CONVONET_THRESHOLDS,
    DISN_THRESHOLDS,
    GENRE_THRESHOLDS,
    PIX3D_IOU_THRESHOLDS,
    disn_voxel_iou,
    genre_surface_voxels,
    get_protocol,
    pix3d_resample,
    pix3d_surface_points,
)
from recon.geometry.sampling import surface_samples
from recon.geometry.voxels import VoxelSpec, solid_voxels, surface_voxels
from recon.io.packed import GroundTruth
from recon.io.predictions import Prediction


def _filled(mesh: trimesh.Trimesh, n: int, half_extent: float = 1.0) -> np.ndarray:
    spec = VoxelSpec(n, half_extent)
    return solid_voxels(mesh.vertices, mesh.faces, spec) | surface_voxels(mesh.vertices, mesh.faces, spec)


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
        voxels={n: _filled(mesh, n) for n in (32, 128)},
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
    got = get_protocol("disn").evaluate(pred, gt, np.random.default_rng(7))
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
    onet = get_protocol("onet").evaluate(pred, gt, np.random.default_rng(3))
    conv = get_protocol("convonet").evaluate(pred, gt, np.random.default_rng(3))
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
    got = get_protocol("pix3d").evaluate(pred, gt, np.random.default_rng(5))
    # eval.py: the ground truth in "voxels" mode (iso-surface points of its 128³ grid at 0.1), the
    # mesh prediction in "points" mode (its samples); each cloud bbox-normalized; 1,024 points.
    rng = np.random.default_rng(5)
    g = _pix3d_get_surface_points(gt.voxels[128].astype(float), 0.1, 1024, rng)
    p = surface_samples(pred_mesh.vertices, pred_mesh.faces, 1024, rng)[0]
    g, p = _pix3d_normalize(g), _pix3d_normalize(p)
    # cd_dis: mean sqrt(dist1) + mean sqrt(dist2) (eval.py normalizes the float32 points in float32).
    d1, _ = cKDTree(g).query(p)
    d2, _ = cKDTree(p).query(g)
    assert got["chamfer"] == pytest.approx(d1.mean() + d2.mean(), rel=1e-6)
    # EMD(...).emd_dis: the auction kernel, list 1 (the prediction) bidding for list 2.
    from tests.recon.evaluate.test_emd import pix3d_auction_cu

    assert got["emd"] == pytest.approx(pix3d_auction_cu(p, g)[0], rel=1e-6)
    assert tuple(np.arange(0.01, 0.5, 0.01)) == PIX3D_IOU_THRESHOLDS
    pv = pix3d_resample(_filled(pred_mesh, 128).astype(float))
    gv = pix3d_resample(gt.voxels[128].astype(float))
    t = PIX3D_IOU_THRESHOLDS[20]
    assert got[f"iou@{t:g}"] == pytest.approx(((pv > t) & (gv > t)).sum() / ((pv > t) | (gv > t)).sum())


def _pix3d_sample_ptcld_vf(veticies, faces, d, rng):
    """eval.py ``_sample_ptcld_vf`` as written there, except for where its random numbers come from.

    The loop draws ``np.random.rand(ptnum)`` twice per triangle; here the same numbers are taken
    from two arrays of ``pt_num_total`` draws each (√r1's, then r2's), the layout recon draws in.
    """
    area = 0
    triangle = veticies[faces]
    density = d
    pt_num_total = 0
    ptnum_list = list()
    for tr in triangle:
        tr_a = np.linalg.norm(np.cross(tr[1] - tr[0], tr[2] - tr[0])) / 2
        area += tr_a
        ptnum = max(int(tr_a * density), 1)
        pt_num_total += ptnum
        ptnum_list.append(ptnum)
    draws_r1, draws_r2 = rng.random(pt_num_total), rng.random(pt_num_total)
    point = np.zeros([pt_num_total, 3], np.float32)
    cnt = 0
    for idx_tr, tr in enumerate(triangle):
        ptnum = ptnum_list[idx_tr]
        sqrt_r1 = np.sqrt(draws_r1[cnt : cnt + ptnum])
        r2 = draws_r2[cnt : cnt + ptnum]
        pts = (
            np.outer(1 - sqrt_r1, tr[0])
            + np.outer((sqrt_r1) * (1 - r2), tr[1])
            + np.outer(r2 * sqrt_r1, tr[2])
        )
        point[cnt : cnt + ptnum, :] = pts
        cnt += ptnum
    return point


def _pix3d_get_surface_points(V, threshold, num, rng):
    """eval.py ``get_surface_points``; PyMCubes for skimage's marching cubes (same vertices: tested)."""
    import mcubes

    vtx, faces = mcubes.marching_cubes(V, threshold)
    d = 5e-7 / (V.shape[0] ** 2)
    points = _pix3d_sample_ptcld_vf(vtx, faces, d, rng)
    while len(points) < num:
        d *= 2
        points = _pix3d_sample_ptcld_vf(vtx, faces, d, rng)
    idx = np.arange(len(points))
    rng.shuffle(idx)
    idx = idx[:num]
    return points[idx, :]


def _pix3d_normalize(points):
    """load_pts_from_list: bounding box centred at the origin, longest side 1."""
    bound_l = np.min(points, axis=0)
    bound_h = np.max(points, axis=0)
    points = points - (bound_l + bound_h) / 2
    return points / (bound_h - bound_l).max()


def test_pix3d_ground_truth_points_are_its_iso_surface_samples(shapes):
    _, _, gt, _ = shapes
    import mcubes
    from skimage.measure import marching_cubes

    grid = gt.voxels[128].astype(float)
    # One vertex per edge crossing, linearly interpolated: PyMCubes and skimage's Lewiner variant
    # (eval.py's marching_cubes_lewiner) give the same vertices.
    ours, _ = mcubes.marching_cubes(grid, 0.1)
    theirs = marching_cubes(grid, 0.1, method="lewiner")[0]
    assert {tuple(v) for v in np.round(ours, 4)} == {tuple(v) for v in np.round(theirs.astype(float), 4)}
    for voxels in (grid, np.pad(np.ones((2, 2, 2)), 3)):  # 48 triangles: the density doubles ~40 times
        got = pix3d_surface_points(voxels, 1024, np.random.default_rng(3))
        expected = _pix3d_get_surface_points(voxels, 0.1, 1024, np.random.default_rng(3))
        assert got.dtype == np.float32 and got.shape == (1024, 3)
        np.testing.assert_array_equal(got, expected)
    # Below the threshold everywhere: load_pts_from_list's dummy cloud of zeros.
    assert pix3d_surface_points(np.full((8, 8, 8), 0.05), 1024, np.random.default_rng(0)) is None
    empty = Prediction(np.zeros((0, 3)), np.zeros((0, 3), int))
    got = get_protocol("pix3d").evaluate(empty, gt, np.random.default_rng(4))
    rng = np.random.default_rng(4)
    g = _pix3d_normalize(_pix3d_get_surface_points(gt.voxels[128].astype(float), 0.1, 1024, rng))
    r = np.linalg.norm(g, axis=1)  # every zero's nearest point is the closest to the origin
    assert got["chamfer"] == pytest.approx(r.min() + r.mean(), rel=1e-6)
    assert all(got[f"iou@{t:g}"] == 0.0 for t in PIX3D_IOU_THRESHOLDS)


def test_pix3d_takes_a_voxel_prediction_in_voxels_mode(shapes):
    _, _, gt, _ = shapes
    # The ground truth's own grid as probabilities: both clouds are samples of one iso-surface.
    pred = Prediction(np.zeros((0, 3)), np.zeros((0, 3), int), {128: gt.voxels[128].astype(np.float64)})
    got = get_protocol("pix3d").evaluate(pred, gt, np.random.default_rng(8))
    rng = np.random.default_rng(8)
    g = _pix3d_normalize(_pix3d_get_surface_points(gt.voxels[128].astype(float), 0.1, 1024, rng))
    p = _pix3d_normalize(_pix3d_get_surface_points(gt.voxels[128].astype(float), 0.1, 1024, rng))
    d1, _ = cKDTree(g).query(p)
    d2, _ = cKDTree(p).query(g)
    assert got["chamfer"] == pytest.approx(d1.mean() + d2.mean(), rel=1e-6)
    assert all(got[f"iou@{t:g}"] == 1.0 for t in PIX3D_IOU_THRESHOLDS)


def test_pix3d_reports_the_threshold_best_over_all_objects():
    protocol = get_protocol("pix3d")
    names = [f"iou@{t:g}" for t in PIX3D_IOU_THRESHOLDS]
    rows = []
    for k, cat in enumerate(("a", "a", "b")):
        row = {"category": cat, "shape_id": str(k), "view": -1, "chamfer": 1.0, "emd": 2.0}
        row.update({n: 0.5 for n in names})
        row[names[7]] = 0.6 + 0.1 * k  # best on average at threshold index 7
        rows.append(row)
    table = {r["category"]: r for r in protocol.summarize(rows)}
    assert table["all"]["iou_threshold"] == PIX3D_IOU_THRESHOLDS[7]
    assert table["a"]["iou"] == pytest.approx(0.65) and table["all"]["iou"] == pytest.approx(0.7)  # objects


def test_r2n2_thresholds_probabilities_at_0_4(shapes):
    _, _, gt, _ = shapes
    probabilities = gt.voxels[32].astype(np.float64) * 0.45
    probabilities[0, 0, 0] = 0.4  # counts (>= 0.4)
    probabilities[1, 0, 0] = 0.3999
    pred = Prediction(np.zeros((0, 3)), np.zeros((0, 3), int), {32: probabilities})
    got = get_protocol("r2n2").evaluate(pred, gt, np.random.default_rng(0))["iou"]
    occupied = gt.voxels[32].sum()
    assert got == pytest.approx(occupied / (occupied + 1))


def test_disn_aggregates_f_from_mean_precision_and_recall_weighted_by_objects():
    protocol = get_protocol("disn")
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
    table = {r["category"]: r for r in protocol.summarize(rows)}
    tau = f"{DISN_THRESHOLDS[0]:g}"
    # Category a: object 1 averages its views (P 0.5, R 0), object 2 (1, 1): P 0.75, R 0.5.
    assert table["a"][f"precision@{tau}"] == 0.75 and table["a"][f"recall@{tau}"] == 0.5
    assert table["a"][f"f_score@{tau}"] == pytest.approx(2 * 0.75 * 0.5 / 1.25)
    # Overall P, R weighted by objects (2 and 1); F from them, not the mean of F.
    p, r = (2 * 0.75 + 0.2) / 3, (2 * 0.5 + 0.6) / 3
    assert table["all"][f"f_score@{tau}"] == pytest.approx(2 * p * r / (p + r))
    assert table["all"]["chamfer"] == pytest.approx((0.75 + 0.2) / 2)  # mean of the categories


def _thin_legged_chair() -> trimesh.Trimesh:
    """A seat and a back on four legs 0.04 thick: thinner than a 32³ voxel over [-1, 1] (0.0625)."""
    parts = [trimesh.creation.box((1.04, 0.08, 1.04)), trimesh.creation.box((1.04, 0.9, 0.06))]
    parts[1].apply_translation([0, 0.49, -0.49])
    for x in (-0.5, 0.5):  # between voxel centres (±0.469, ±0.531)
        for z in (-0.5, 0.5):
            leg = trimesh.creation.box((0.04, 0.8, 0.04))
            leg.apply_translation([x, -0.44, z])
            parts.append(leg)
    return trimesh.util.concatenate(parts)


def test_r2n2_ground_truth_is_the_filled_voxels_a_perfect_prediction_scores_1():
    chair = _thin_legged_chair()
    spec = VoxelSpec(32, 1.0)
    solid = solid_voxels(chair.vertices, chair.faces, spec)
    filled = _filled(chair, 32)
    # The old ground truth (voxel centres inside) misses much of the thin seat, back and legs: a perfect
    # model would have been capped at this IoU.
    legs = np.s_[:, :10, :]  # y below -0.375: the legs only
    assert solid[legs].sum() < filled[legs].sum() / 4
    assert (solid & filled).sum() / filled.sum() < 0.65
    gt = GroundTruth(
        chair.vertices, chair.faces, np.zeros((1, 3)), np.zeros((1, 3)), np.zeros((1, 3)), np.zeros(1, bool),
        {32: filled}, 1.0,
    )  # fmt: skip
    protocol = get_protocol("r2n2")
    rng = np.random.default_rng(0)
    # The ground truth itself, as a mesh (voxelized as the ground truth was) and as voxels.
    nothing = np.zeros((0, 3)), np.zeros((0, 3), int)
    assert protocol.evaluate(Prediction(chair.vertices, chair.faces), gt, rng)["iou"] == 1.0
    assert protocol.evaluate(Prediction(*nothing, {32: filled * 1.0}), gt, rng)["iou"] == 1.0
    # chrischoy/3D-R2N2 lib/voxel.py evaluate_voxel_prediction (channel 1 = occupied), IoU from its sums.
    probabilities = np.clip(filled * 0.6 + np.random.default_rng(1).normal(0, 0.2, filled.shape), 0, 1)
    preds = np.stack([1 - probabilities, probabilities])[None]
    batch_voxel = np.stack([~filled, filled])[None]
    preds_occupy = preds[:, 1, :, :] >= 0.4
    intersection = np.sum(np.logical_and(preds_occupy, batch_voxel[:, 1, :, :]))
    union = np.sum(np.logical_or(preds_occupy, batch_voxel[:, 1, :, :]))
    got = protocol.evaluate(Prediction(*nothing, {32: probabilities}), gt, rng)
    assert 0.3 < got["iou"] < 0.95 and got["iou"] == pytest.approx(intersection / union, rel=1e-12)


# Occupancy Networks im2mesh/eval.py and ConvONet src/eval.py, transcribed: the empty-mesh branch, the
# F-score, compute_iou; eval_meshes.py's pandas aggregation.
EMPTY_PCL_DICT = {
    "completeness": np.sqrt(3),
    "accuracy": np.sqrt(3),
    "completeness2": 3,
    "accuracy2": 3,
    "chamfer": 6,
}
EMPTY_PCL_DICT_NORMALS = {"normals completeness": -1.0, "normals accuracy": -1.0, "normals": -1.0}
#: recon's column → the key eval.py writes.
ONET_KEYS = {
    "iou": "iou",
    "chamfer_l1": "chamfer-L1",
    "chamfer_l2": "chamfer-L2",
    "normals": "normals",
    "accuracy": "accuracy",
    "completeness": "completeness",
    **{
        f"f_score@{t:g}": k
        for t, k in zip(CONVONET_THRESHOLDS, ("f-score", "f-score-15", "f-score-20"), strict=True)
    },
}


#: Winding numbers (recon) and ray parity (check_mesh_contains) may disagree on a point or two.
TOLERANCE = {column: {"rel": 1e-9} for column in ONET_KEYS} | {"iou": {"abs": 1e-4}}


def _convonet_eval_mesh(pointcloud, normals, pointcloud_tgt, normals_tgt, occ, occ_tgt):
    """MeshEvaluator.eval_mesh + eval_pointcloud (thresholds linspace(1/1000, 1, 1000)), with scipy."""
    if pointcloud.shape[0] == 0:
        out_dict = EMPTY_PCL_DICT.copy()
        out_dict.update(EMPTY_PCL_DICT_NORMALS)
        out_dict["iou"] = 0.0
        return out_dict
    thresholds = np.linspace(1.0 / 1000, 1, 1000)
    completeness, idx_c = cKDTree(pointcloud).query(pointcloud_tgt)
    accuracy, idx_a = cKDTree(pointcloud_tgt).query(pointcloud)
    n_src = normals / np.linalg.norm(normals, axis=-1, keepdims=True)
    n_tgt = normals_tgt / np.linalg.norm(normals_tgt, axis=-1, keepdims=True)
    recall = [(completeness <= t).mean() for t in thresholds]
    precision = [(accuracy <= t).mean() for t in thresholds]
    with np.errstate(invalid="ignore", divide="ignore"):
        F = [2 * precision[i] * recall[i] / (precision[i] + recall[i]) for i in range(len(precision))]
    occ1, occ2 = np.asarray(occ) >= 0.5, np.asarray(occ_tgt) >= 0.5
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.float32((occ1 & occ2).sum()) / np.float32((occ1 | occ2).sum())
    return {
        "completeness": completeness.mean(),
        "accuracy": accuracy.mean(),
        "normals": 0.5 * np.abs((n_tgt * n_src[idx_c]).sum(-1)).mean()
        + 0.5 * np.abs((n_src * n_tgt[idx_a]).sum(-1)).mean(),
        "chamfer-L2": 0.5 * ((completeness**2).mean() + (accuracy**2).mean()),
        "chamfer-L1": 0.5 * (completeness.mean() + accuracy.mean()),
        "f-score": F[9],
        "f-score-15": F[14],
        "f-score-20": F[19],
        "iou": iou,
    }


def test_onet_and_convonet_leave_empty_predictions_undefined_and_pandas_skips_them(shapes):
    import pandas as pd

    _, pred_mesh, gt, pred = shapes
    far = pred_mesh.copy()
    far.apply_translation([3.0, 0.0, 0.0])  # no point within τ either way: P + R = 0, F = 0/0
    empty = Prediction(np.zeros((0, 3)), np.zeros((0, 3), int))
    items = [("a", "1", pred, pred_mesh), ("a", "2", empty, None), ("b", "3", empty, None)]
    items += [("c", "4", Prediction(far.vertices, far.faces), far), ("c", "5", pred, pred_mesh)]
    loc = (gt.surface_points.min(0) + gt.surface_points.max(0)) / 2
    scale = (gt.surface_points.max(0) - gt.surface_points.min(0)).max()
    for name in ("onet", "convonet"):
        protocol = get_protocol(name)
        rows, eval_dicts = [], []
        for k, (category, shape_id, prediction, mesh) in enumerate(items):
            metrics = protocol.evaluate(prediction, gt, np.random.default_rng(k))
            rows.append({"category": category, "shape_id": shape_id, "view": -1, "empty": prediction.empty})
            rows[-1].update(metrics)
            if mesh is None:
                points, normals, occ = np.empty((0, 3)), np.empty((0, 3)), None
            else:
                draw = np.random.default_rng(k)
                points, normals = surface_samples(mesh.vertices, mesh.faces, 100_000, draw)
                occ = mesh.contains(gt.occupancy_points)
            ref = _convonet_eval_mesh(
                (points - loc) / scale, normals, (gt.surface_points - loc) / scale, gt.surface_normals,
                occ, gt.occupancy,
            )  # fmt: skip
            eval_dicts.append({"class name": category, **{key + " (mesh)": v for key, v in ref.items()}})
            for column, key in ONET_KEYS.items():
                if column in metrics:  # a key eval.py does not write is NaN in its DataFrame
                    expected = ref.get(key, np.nan)
                    assert metrics[column] == pytest.approx(expected, nan_ok=True, **TOLERANCE[column]), (
                        column
                    )
            if mesh is None:
                assert np.isnan(metrics["chamfer_l1"]) and np.isnan(metrics["chamfer_l2"])
                assert metrics["accuracy"] == pytest.approx(np.sqrt(3)) and metrics["normals"] == -1.0
        if name == "convonet":
            assert np.isnan(rows[3]["f_score@0.01"])  # P + R = 0
        # eval_meshes.py: DataFrame, groupby('class name').mean(), then the 'mean' row.
        eval_df = pd.DataFrame(eval_dicts)
        eval_df_class = eval_df.groupby(by=["class name"]).mean()
        eval_df_class.loc["mean"] = eval_df_class.mean()
        table = {r["category"]: r for r in protocol.summarize(rows)}
        assert [table[c]["empty"] for c in ("a", "b", "c", "all")] == [1, 1, 0, 2]
        for category in ("a", "b", "c", "all"):
            expected = eval_df_class.loc["mean" if category == "all" else category]
            for column, key in ONET_KEYS.items():
                if column in metrics:
                    value = expected[key + " (mesh)"]
                    assert table[category][column] == pytest.approx(value, nan_ok=True, **TOLERANCE[column])
        assert np.isnan(table["b"]["chamfer_l1"]) and not np.isnan(table["all"]["chamfer_l1"])


def test_disn_skips_empty_predictions_in_its_iou_only():
    box = trimesh.creation.box((1.0, 0.8, 0.6)).subdivide_to_size(0.2)
    gt = GroundTruth(
        box.vertices, box.faces, np.zeros((1, 3)), np.zeros((1, 3)), np.zeros((1, 3)), np.zeros(1, bool),
        {}, 1.0,
    )  # fmt: skip
    protocol = get_protocol("disn")
    empty = protocol.evaluate(
        Prediction(np.zeros((0, 3)), np.zeros((0, 3), int)), gt, np.random.default_rng(0)
    )
    # test_cd_emd.py / test_f_score.py leave the empty prediction's batch slot at zeros.
    rng = np.random.default_rng(0)
    g = box.vertices[rng.integers(len(box.vertices), size=2048)]
    r = np.linalg.norm(g, axis=1)
    assert empty["chamfer"] == pytest.approx((r.min() ** 2 + (r**2).mean()) * 1000, rel=1e-9)
    assert empty["precision@0.5"] == float(r.min() < 0.5) and empty["recall@0.5"] == np.mean(r < 0.5)
    # test_iou.py's build_file_dict drops empty mesh files and draws the object's views from the others.
    assert np.isnan(empty["iou"])
    rows = [
        {"category": "a", "shape_id": "1", "view": v, "empty": e, "chamfer": 1.0, "emd": 1.0, "iou": iou}
        for v, (e, iou) in enumerate([(False, 0.6), (True, np.nan), (False, 0.8)])
    ]
    for row in rows:
        row.update({f"{k}@{t:g}": 0.5 for k in ("precision", "recall") for t in DISN_THRESHOLDS})
    table = {r["category"]: r for r in protocol.summarize(rows)}
    assert table["a"]["iou"] == pytest.approx(0.7) and table["a"]["empty"] == 1 and table["all"]["empty"] == 1


def _genre_score(pred_points, gt_points):
    """GenRe's ``nndistance_score`` (toolbox/nndistance/functions/nnd.py:83-85), with cKDTree distances."""
    d1, _ = cKDTree(gt_points).query(pred_points)
    d2, _ = cKDTree(pred_points).query(gt_points)
    return np.sqrt(d1**2 + 1e-10).mean() + np.sqrt(d2**2 + 1e-10).mean()


def _genre_shell(voxels):
    """genre_full_model.py:93, as written there (the voxels as 0/1 floats)."""
    from scipy.ndimage import binary_erosion

    val = np.asarray(voxels, float)
    return np.clip(val - binary_erosion(val, structure=np.ones((3, 3, 3)), iterations=2).astype(float), 0, 1)


def test_genre_ground_truth_is_the_two_voxel_shell_genre_trains_on():
    grid = np.zeros((12, 12, 12), bool)
    grid[1:11, 1:11, 1:11] = True  # a 10-voxel cube: its shell is two voxels thick, a 6³ core is removed
    shell = genre_surface_voxels(grid)
    assert shell.sum() == 10**3 - 6**3
    np.testing.assert_array_equal(shell, _genre_shell(grid) > 0)
    assert not shell[3:9, 3:9, 3:9].any() and shell[2, 5, 5] and shell[1, 5, 5]


@pytest.fixture(scope="module")
def genre_gt(shapes):
    """The shared ground truth with a 64³ grid only (the protocol takes the finest grid it has)."""
    gt_mesh, _, gt, _ = shapes
    return GroundTruth(**{**gt.__dict__, "voxels": {64: _filled(gt_mesh, 64)}})


def test_genre_matches_nndistance_score_on_pix3d_surface_points(genre_gt):
    from scipy.ndimage import gaussian_filter

    gt = genre_gt
    # Probabilities: the filled grid blurred, so every threshold cuts a different iso-surface.
    probabilities = gaussian_filter(gt.voxels[64].astype(float), 1.0)
    pred = Prediction(np.zeros((0, 3)), np.zeros((0, 3), int), {64: probabilities})
    got = get_protocol("genre").evaluate(pred, gt, np.random.default_rng(6))
    rng = np.random.default_rng(6)
    g = _pix3d_normalize(_pix3d_get_surface_points(_genre_shell(gt.voxels[64]), 0.5, 1024, rng))
    values = []
    for t in GENRE_THRESHOLDS:
        p = _pix3d_normalize(_pix3d_get_surface_points(probabilities, t, 1024, rng))
        values.append(_genre_score(p, g))
        assert got[f"chamfer@{t:g}"] == pytest.approx(values[-1], rel=1e-6)
    assert GENRE_THRESHOLDS == (0.3, 0.35, 0.4, 0.45, 0.5) and len(set(values)) == 5


def test_genre_is_scale_invariant_and_takes_a_mesh_as_one_cloud_for_every_threshold():
    ball = trimesh.creation.icosphere(3, radius=0.8)
    gt = GroundTruth(ball.vertices, ball.faces, None, None, None, None, {64: _filled(ball, 64)}, 1.0)
    protocol = get_protocol("genre")
    same = protocol.evaluate(Prediction(ball.vertices, ball.faces), gt, np.random.default_rng(2))
    half = protocol.evaluate(Prediction(ball.vertices * 0.5, ball.faces), gt, np.random.default_rng(2))
    # Each cloud is normalized by its own box: a sphere and a scaled sphere score the same, exactly.
    assert len(set(same.values())) == 1 and half == pytest.approx(same, rel=1e-9)
    # The ground truth is two spheres: the shell's outer one (radius 0.5 in the unit box) and its inner
    # one, 2 (along an axis) to 2√3 (along a diagonal) voxels of 1.6 / 64 / 1.6 deeper.
    rng = np.random.default_rng(2)
    g = _pix3d_normalize(_pix3d_get_surface_points(_genre_shell(gt.voxels[64]), 0.5, 1024, rng))
    r = np.linalg.norm(g, axis=1)
    inner = r < 0.5 - 1 / 64
    voxel = 1 / 64 / 1.6 * 2  # an edge of the 64³ grid over [-1, 1], in the unit box (ball diameter 1.6)
    assert 0.35 < inner.mean() < 0.5  # about as many triangles inside as outside (area ratio ~ 0.85)
    assert 2 * voxel < 0.5 - np.median(r[inner]) < 2 * np.sqrt(3) * voxel
    # CD of uniform samples at density rho (points per unit area; the unit box's sphere has area π):
    # the nearest of them is ~ 1 / (2 √rho) away along the surface (E d² = 1 / (π rho)), and the inner
    # sphere's points are ~ √(depth² + 1 / (π rho)) from the outer one's.
    depth, share = 0.5 - r[inner].mean(), inner.mean()
    rho_gt, rho_pred = 1024 * (1 - share) / np.pi, 1024 / np.pi
    expected = 1 / (2 * np.sqrt(rho_gt)) + (1 - share) / (2 * np.sqrt(rho_pred))
    expected += share * np.sqrt(depth**2 + 1 / (np.pi * rho_pred))
    assert same["chamfer@0.3"] == pytest.approx(expected, rel=0.08)


def test_genre_scores_an_empty_prediction_as_a_cloud_of_zeros_at_each_threshold(genre_gt):
    gt = genre_gt
    protocol = get_protocol("genre")
    empty = protocol.evaluate(
        Prediction(np.zeros((0, 3)), np.zeros((0, 3), int)), gt, np.random.default_rng(4)
    )
    rng = np.random.default_rng(4)
    g = _pix3d_normalize(_pix3d_get_surface_points(_genre_shell(gt.voxels[64]), 0.5, 1024, rng))
    r = np.linalg.norm(g, axis=1)  # load_pts_from_list's dummy cloud: each zero's nearest is the closest
    assert all(v == pytest.approx(r.min() + r.mean(), rel=1e-6) for v in empty.values())
    # Probabilities of 0.42 everywhere inside: an iso-surface at 0.3 ... 0.4, nothing at 0.45 and 0.5.
    faint = Prediction(np.zeros((0, 3)), np.zeros((0, 3), int), {64: gt.voxels[64] * 0.42})
    got = protocol.evaluate(faint, gt, np.random.default_rng(4))
    assert got["chamfer@0.45"] == got["chamfer@0.5"] == pytest.approx(r.min() + r.mean(), rel=1e-6)
    assert got["chamfer@0.3"] < 0.2 * got["chamfer@0.5"]


def test_genre_picks_the_best_threshold_per_category():
    protocol = get_protocol("genre")
    names = [f"chamfer@{t:g}" for t in GENRE_THRESHOLDS]
    rows = []
    for k, (cat, best) in enumerate((("a", 1), ("a", 1), ("b", 4))):
        row = {"category": cat, "shape_id": str(k), "view": -1, "empty": False}
        row.update({n: 0.2 for n in names})
        row[names[best]] = 0.1 + 0.01 * k
        rows.append(row)
    rows.append(rows[0] | {"view": 1, names[1]: 0.13})  # views are averaged per object first
    table = {r["category"]: r for r in protocol.summarize(rows)}
    assert table["a"]["chamfer_threshold"] == 0.35 and table["b"]["chamfer_threshold"] == 0.5
    assert table["a"]["chamfer"] == pytest.approx((0.115 + 0.11) / 2)
    assert table["b"]["chamfer"] == pytest.approx(0.12)
    assert table["all"]["chamfer"] == pytest.approx((0.1125 + 0.12) / 2)  # mean of the categories
    assert np.isnan(table["all"]["chamfer_threshold"]) and table["all"]["items"] == 4
    assert not any(n in row for row in table.values() for n in names)


# --------------------------------------------------------------------------------------------------
# Point-cloud predictions
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cloud(shapes):
    """The predicted box of ``shapes`` as 2,500 surface points (an AtlasNet-size cloud), and the same
    box as a mesh with those points."""
    _, pred_mesh, gt, _ = shapes
    points, _ = surface_samples(pred_mesh.vertices, pred_mesh.faces, 2500, np.random.default_rng(5))
    return gt, pred_mesh, points


def test_onet_scores_a_point_cloud_as_eval_pointcloud_does(cloud):
    """ONet's ``eval_pointcloud(pointcloud, pointcloud_tgt)``: every predicted point, no normals, no IoU
    (its Table 1 leaves PointSetGen's IoU and normal consistency blank)."""
    gt, _, points = cloud
    out = get_protocol("onet").evaluate(Prediction(np.zeros((0, 3)), np.zeros((0, 3)), points=points), gt,
                                        np.random.default_rng(0))  # fmt: skip
    lo, hi = gt.surface_points.min(0), gt.surface_points.max(0)
    loc, scale = (lo + hi) / 2, (hi - lo).max()
    p, g = (points - loc) / scale, (gt.surface_points - loc) / scale
    completeness, accuracy = cKDTree(p).query(g)[0], cKDTree(g).query(p)[0]
    assert out["chamfer_l1"] == pytest.approx(0.5 * (completeness.mean() + accuracy.mean()), rel=1e-9)
    assert out["accuracy"] == pytest.approx(accuracy.mean(), rel=1e-9)
    assert np.isnan(out["iou"]) and np.isnan(out["normals"])


def test_a_prediction_with_mesh_and_points_gives_point_metrics_from_its_points_and_iou_from_its_mesh(cloud):
    """PointSetGen's stores hold both. disn, pix3d and genre compare point clouds: they take its points;
    onet compares its mesh's samples (and normals) and r2n2 has IoU only: they take its mesh. Every
    IoU takes the mesh (the conversion of points to voxels is for clouds without one)."""
    gt, mesh, points = cloud
    both = Prediction(mesh.vertices, mesh.faces, points=points)
    as_mesh = Prediction(mesh.vertices, mesh.faces)
    as_points = Prediction(np.zeros((0, 3)), np.zeros((0, 3), np.int64), points=points)
    for name, point_metrics_from in (("onet", as_mesh), ("r2n2", as_mesh), ("disn", as_points),
                                     ("pix3d", as_points), ("genre", as_points)):  # fmt: skip
        protocol = get_protocol(name)
        got = protocol.evaluate(both, gt, np.random.default_rng(1))
        points_want = protocol.evaluate(point_metrics_from, gt, np.random.default_rng(1))
        mesh_want = protocol.evaluate(as_mesh, gt, np.random.default_rng(1))
        assert got.keys() == points_want.keys()
        for k in got:
            want = mesh_want if k.startswith("iou") else points_want
            assert got[k] == pytest.approx(want[k], nan_ok=True), (name, k)
    assert get_protocol("disn").evaluate(both, gt, np.random.default_rng(1))["chamfer"] != pytest.approx(
        get_protocol("disn").evaluate(as_mesh, gt, np.random.default_rng(1))["chamfer"]
    )


def test_disn_draws_its_2048_points_from_the_cloud_and_bins_the_clouds_cells_for_iou(cloud):
    gt, mesh, points = cloud
    rng = np.random.default_rng(2)
    out = get_protocol("disn").evaluate(
        Prediction(np.zeros((0, 3)), np.zeros((0, 3)), points=points), gt, rng
    )
    rng = np.random.default_rng(2)
    gt_points = np.asarray(gt.mesh_vertices, np.float64)[rng.integers(len(gt.mesh_vertices), size=2048)]
    pred_points = points[rng.integers(len(points), size=2048)]
    d_pred = cKDTree(gt_points).query(pred_points)[0]
    d_gt = cKDTree(pred_points).query(gt_points)[0]
    assert out["chamfer"] == pytest.approx(((d_pred**2).mean() + (d_gt**2).mean()) * 1000, rel=1e-9)
    # The cloud's cells are a subset of the surface voxels its mesh's triangles meet: its IoU is close to
    # the mesh's, from below where 2,500 points miss cells.
    mesh_iou = disn_voxel_iou(mesh.vertices, mesh.faces, gt.mesh_vertices, gt.mesh_faces)
    assert 0.5 * mesh_iou < out["iou"] <= mesh_iou + 0.02


def _fibonacci_sphere(n: int, radius: float) -> np.ndarray:
    """(n, 3) points evenly on a sphere (Fibonacci lattice)."""
    i = np.arange(n) + 0.5
    z, phi = 1 - 2 * i / n, np.pi * (1 + 5**0.5) * i
    r = np.sqrt(1 - z**2)
    return radius * np.stack([r * np.cos(phi), r * np.sin(phi), z], 1)


def test_sparse_clouds_fill_when_dilated_before_the_fill_not_when_closed():
    """A sphere of 100 points (about 4 voxels apart at 32³) as a 1,024-point prediction of a whole
    shape is: a closing before the fill (dilation then erosion, the conversion used before) reopens the
    gaps of the curved shell and fills nothing, nor does one dilation; two dilations, the fill, then two
    erosions give the ball (volume within 15 %), every point voxel kept. 30 points stay a shell."""
    from scipy.ndimage import binary_closing, binary_fill_holes

    from recon.geometry.voxels import filled_point_voxels, point_voxels

    spec = VoxelSpec(32, 1.0)
    for n in (100, 300):
        cloud = _fibonacci_sphere(n, 0.6)
        shell = point_voxels(cloud, spec)
        closed = binary_closing(np.pad(shell, 1), np.ones((3, 3, 3), bool))[1:-1, 1:-1, 1:-1]
        assert not binary_fill_holes(closed | shell)[16, 16, 16]
        solid = filled_point_voxels(cloud, spec)
        assert solid[16, 16, 16] and not solid[0, 0, 0] and np.all(solid[shell])
        # Within half a voxel of the radius (one voxel layer of the ball is 31 % of its volume).
        assert solid.sum() * spec.size**3 == pytest.approx(4 / 3 * np.pi * 0.6**3, rel=0.15)
    assert not filled_point_voxels(_fibonacci_sphere(100, 0.6), spec, dilation=1)[16, 16, 16]
    sparse = _fibonacci_sphere(30, 0.6)
    assert np.array_equal(filled_point_voxels(sparse, spec), point_voxels(sparse, spec))
    with pytest.raises(ValueError, match="dilation"):
        filled_point_voxels(sparse, spec, dilation=0)


def test_point_clouds_become_filled_voxels_for_voxel_iou():
    """The stated conversion: the points' voxels dilated twice, hole-filled and eroded back. A dense cloud
    of a sphere's surface gives its filled voxels; a cloud too sparse for the grid gives a shell with
    holes."""
    from recon.geometry.voxels import filled_point_voxels, point_voxels

    ball = trimesh.creation.icosphere(4, radius=0.8)
    filled = _filled(ball, 32)
    dense, _ = surface_samples(ball.vertices, ball.faces, 20000, np.random.default_rng(0))
    converted = filled_point_voxels(dense, VoxelSpec(32, 1.0))
    iou = (converted & filled).sum() / (converted | filled).sum()
    assert iou > 0.95 and converted.sum() > 3 * point_voxels(dense, VoxelSpec(32, 1.0)).sum()
    sparse = dense[:30]
    assert filled_point_voxels(sparse, VoxelSpec(32, 1.0)).sum() < 0.2 * filled.sum()
    r2n2 = get_protocol("r2n2").evaluate(
        Prediction(np.zeros((0, 3)), np.zeros((0, 3)), points=dense),
        GroundTruth(ball.vertices, ball.faces, None, None, None, None, {32: filled}, 1.0),
        np.random.default_rng(0),
    )
    assert r2n2["iou"] == pytest.approx(iou)


def test_prediction_stores_round_trip_point_clouds(tmp_path):
    from recon.io.predictions import Item, PredictionSet, write_predictions

    rng = np.random.default_rng(0)
    box = trimesh.creation.box()
    clouds = [rng.normal(size=(1024, 3)).astype(np.float32), np.zeros((0, 3), np.float32)]
    meshes = [(np.zeros((0, 3)), np.zeros((0, 3))), (box.vertices, box.faces)]
    items = [Item("c", "a", 0, 0), Item("c", "b", 0, 1)]
    attrs = {"method": "m", "split": "test", "voxel_half_extent": 1.0, "info": {}, "provenance": {}}
    write_predictions(tmp_path / "p.zarr", items, meshes, attrs, points=clouds)
    stored = PredictionSet(tmp_path / "p.zarr")
    first, second = stored.prediction(0), stored.prediction(1)
    np.testing.assert_array_equal(first.points, clouds[0])
    assert first.has_points and not first.has_mesh and not first.empty
    assert second.has_mesh and not second.has_points and len(second.points) == 0
    with pytest.raises(ValueError, match="one per mesh"):
        write_predictions(tmp_path / "q.zarr", items, meshes, attrs, points=clouds[:1])
