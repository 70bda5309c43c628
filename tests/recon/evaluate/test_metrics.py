"""Metrics against slow, obviously correct references and hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from recon.evaluate.metrics import (
    chamfer_distance,
    f_score,
    iou,
    iou_voxels,
    nearest_neighbors,
    normal_consistency,
    point_distances,
)


def _brute(a, b):
    """All pairwise distances, then the minimum: the obviously correct nearest neighbour."""
    d = np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))
    return d.min(1), d.argmin(1)


@pytest.fixture
def clouds():
    rng = np.random.default_rng(3)
    return rng.normal(size=(300, 3)), rng.normal(size=(517, 3))


def test_nearest_neighbours_match_brute_force(clouds):
    a, b = clouds
    d, i = nearest_neighbors(a, b)
    ref_d, ref_i = _brute(a, b)
    np.testing.assert_allclose(d, ref_d, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(i, ref_i)


@pytest.mark.parametrize("squared", [True, False])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("combine", ["mean", "sum"])
def test_chamfer_matches_its_formula(clouds, squared, reduction, combine):
    a, b = clouds
    fwd, bwd = _brute(a, b)[0], _brute(b, a)[0]
    if squared:
        fwd, bwd = fwd**2, bwd**2
    reduce = np.mean if reduction == "mean" else np.sum
    total = reduce(fwd) + reduce(bwd)
    expected = total if combine == "sum" else total / 2
    got = chamfer_distance(a, b, squared=squared, reduction=reduction, combine=combine)
    assert got == pytest.approx(expected, rel=1e-12)


def test_hand_computed_tiny_case():
    pred = np.array([[0.0, 0, 0], [1, 0, 0]])
    gt = np.array([[0.0, 0, 0]])
    d = point_distances(pred, gt)
    np.testing.assert_array_equal(d.pred_to_gt, [0, 1])
    np.testing.assert_array_equal(d.gt_to_pred, [0])
    assert d.chamfer(squared=True) == 0.5  # mean(0, 1) + mean(0)
    assert d.chamfer(squared=False, reduction="sum") == 1.0
    assert d.chamfer(squared=True, combine="mean") == 0.25
    p, r = d.precision_recall([0.5, 1.0])
    np.testing.assert_array_equal(p, [0.5, 1.0])
    np.testing.assert_array_equal(r, [1.0, 1.0])
    p_strict, _ = d.precision_recall([1.0], strict=True)
    np.testing.assert_array_equal(p_strict, [0.5])  # d < 1 leaves the point at exactly 1 out
    np.testing.assert_allclose(d.f_score([0.5, 1.0]), [2 * 0.5 / 1.5, 1.0])


def test_f_score_is_exact_for_clouds_of_different_sizes():
    # One predicted point on top of one of three ground-truth points: precision 1, recall 1/3.
    pred = np.array([[0.0, 0, 0]])
    gt = np.array([[0.0, 0, 0], [5, 0, 0], [0, 5, 0]])
    (f,) = f_score(pred, gt, [0.1])
    assert f == pytest.approx(2 * 1 * (1 / 3) / (1 + 1 / 3))
    # Kaolin's f_score counts false negatives from the prediction's side (recall 1 here): not us.
    rng = np.random.default_rng(0)
    a, b = rng.random((200, 3)), rng.random((900, 3))
    taus = [0.02, 0.05, 0.1]
    fwd, bwd = _brute(a, b)[0], _brute(b, a)[0]
    for tau, got in zip(taus, f_score(a, b, taus), strict=True):
        p, r = (fwd <= tau).mean(), (bwd <= tau).mean()
        assert got == pytest.approx(2 * p * r / (p + r))


def test_normal_consistency_matches_its_formula(clouds):
    a, b = clouds
    rng = np.random.default_rng(5)
    na, nb = rng.normal(size=a.shape), rng.normal(size=b.shape)
    unit = lambda n: n / np.linalg.norm(n, axis=1, keepdims=True)  # noqa: E731
    ia, ib = _brute(a, b)[1], _brute(b, a)[1]
    expected = 0.5 * (
        np.abs((unit(na) * unit(nb)[ia]).sum(1)).mean() + np.abs((unit(nb) * unit(na)[ib]).sum(1)).mean()
    )
    assert normal_consistency(a, na, b, nb) == pytest.approx(expected, rel=1e-12)


def test_identical_clouds_score_perfectly_and_a_shifted_copy_gives_the_shift(clouds):
    a, _ = clouds
    normals = np.random.default_rng(1).normal(size=a.shape)
    assert chamfer_distance(a, a) == 0.0
    np.testing.assert_array_equal(f_score(a, a, [1e-9, 0.01]), [1.0, 1.0])
    assert normal_consistency(a, normals, a, -normals) == pytest.approx(1.0)
    # A lattice (spacing 1) shifted by 0.1: every point's nearest neighbour is its own copy.
    g = np.stack(np.meshgrid(*[np.arange(6.0)] * 3, indexing="ij"), -1).reshape(-1, 3)
    shift = np.array([0.06, -0.08, 0.0])  # |shift| = 0.1
    assert chamfer_distance(g + shift, g, squared=False) == pytest.approx(0.2)
    assert chamfer_distance(g + shift, g, squared=True, combine="mean") == pytest.approx(0.01)
    np.testing.assert_array_equal(f_score(g + shift, g, [0.099, 0.101]), [0.0, 1.0])


def test_batches_equal_single_clouds_and_torch_equals_numpy(clouds):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    a, b = rng.random((3, 100, 3)), rng.random((3, 150, 3))
    batched = chamfer_distance(a, b)
    np.testing.assert_allclose(batched, [chamfer_distance(x, y) for x, y in zip(a, b, strict=True)])
    fs = f_score(a, b, [0.05, 0.1])
    assert fs.shape == (3, 2)
    t = chamfer_distance(torch.from_numpy(a), torch.from_numpy(b))
    assert isinstance(t, torch.Tensor)
    np.testing.assert_allclose(t.numpy(), batched, rtol=1e-5)
    # The GPU path (chunked cdist) is the same code on CPU tensors when asked directly.
    from recon.evaluate.metrics import _nn_torch

    d, i = _nn_torch(torch.from_numpy(a[0]), torch.from_numpy(b[0]), chunk_elements=1000)
    ref_d, ref_i = _brute(a[0], b[0])
    np.testing.assert_allclose(d.numpy(), ref_d, rtol=1e-5)
    np.testing.assert_array_equal(i.numpy(), ref_i)


def test_empty_reference_gives_infinite_distances():
    d, i = nearest_neighbors(np.zeros((2, 3)), np.zeros((0, 3)))
    assert np.isinf(d).all() and (i == -1).all()


def test_iou_on_sets_and_voxel_thresholds():
    p = np.array([1, 1, 0, 0], bool)
    g = np.array([1, 0, 1, 0], bool)
    assert iou(p, g) == pytest.approx(1 / 3)
    assert iou(np.zeros(4, bool), np.zeros(4, bool)) == 1.0
    grid = np.zeros((2, 2, 2))
    grid[0, 0, 0], grid[1, 1, 1] = 0.4, 0.9
    gt = np.zeros((2, 2, 2), bool)
    gt[0, 0, 0] = True
    assert iou_voxels(grid, gt, 0.4, inclusive=True) == pytest.approx(0.5)  # 3D-R2N2: p >= 0.4
    assert iou_voxels(grid, gt, 0.4, inclusive=False) == 0.0  # Pix3D: p > t
    batch = np.stack([grid, grid])
    np.testing.assert_allclose(iou_voxels(batch, np.stack([gt, gt]), 0.4), [0.5, 0.5])
    rng = np.random.default_rng(0)
    a, b = rng.random((4, 8, 8, 8)) > 0.5, rng.random((4, 8, 8, 8)) > 0.5
    ref = [(x & y).sum() / (x | y).sum() for x, y in zip(a, b, strict=True)]
    np.testing.assert_allclose(iou(a, b, ndim=3), ref)
