"""EMD: the exact solver against brute force, closed forms and scipy; the auction's certified bounds;
PSGN's approxmatch and Pix3D's auction_match against direct NumPy transcriptions of their CUDA kernels."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from recon.evaluate import emd as emd_module
from recon.evaluate.emd import (
    approxmatch,
    approxmatch_cost,
    emd_approx,
    emd_auction,
    emd_exact,
    pix3d_auction_match,
)


def _brute_force(x, y):
    c = cdist(x, y)
    perms = np.array(list(itertools.permutations(range(len(x)))))
    return c[np.arange(len(x)), perms].sum(axis=1).min() / len(x)


def _scipy(x, y):
    c = cdist(x, y)
    rows, cols = linear_sum_assignment(c)
    return c[rows, cols].mean()


def _clouds(rng, n, kind):
    if kind == "uniform":
        return rng.random((n, 3)), rng.random((n, 3))
    if kind == "shifted":  # two blobs far apart: long matches
        return rng.normal(size=(n, 3)), rng.normal(size=(n, 3)) * 0.3 + [4.0, 0.0, 0.0]
    if kind == "duplicates":  # vertex samples with replacement: many identical points, many ties
        return rng.random((5, 3))[rng.integers(5, size=n)], rng.random((7, 3))[rng.integers(7, size=n)]
    if kind == "grid":  # integer coordinates: many equal distances
        return rng.integers(0, 3, (n, 3)).astype(float), rng.integers(0, 3, (n, 3)).astype(float)
    raise ValueError(kind)


def _surface(mesh, n, seed):
    import trimesh

    points, _ = trimesh.sample.sample_surface(mesh, n, seed=np.random.default_rng(seed))
    return np.asarray(points, np.float64)


def _check_assignment(x, y, emd, assign):
    assert assign.dtype == np.int64 and assign.shape == (len(x),)
    assert np.array_equal(np.sort(assign), np.arange(len(x)))
    assert np.linalg.norm(x - y[assign], axis=1).mean() == pytest.approx(emd, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("n", range(1, 8))
def test_exact_matches_brute_force(n):
    rng = np.random.default_rng(n)
    for kind in ("uniform", "duplicates", "grid"):
        x, y = _clouds(rng, n, kind)
        emd, assign = emd_exact(x, y)
        assert emd == pytest.approx(_brute_force(x, y), rel=1e-12, abs=1e-15)
        _check_assignment(x, y, emd, assign)


def test_one_dimensional_optimum_is_the_sorted_matching():
    rng = np.random.default_rng(0)
    for n in (10, 100, 500):
        a, b = rng.normal(size=n), rng.exponential(size=n)
        x = np.stack([a, np.zeros(n), np.zeros(n)], axis=1)
        y = np.stack([b, np.zeros(n), np.zeros(n)], axis=1)
        expected = np.abs(np.sort(a) - np.sort(b)).mean()
        assert emd_exact(x, y)[0] == pytest.approx(expected, rel=1e-12)
        res = emd_auction(x, y, rel_tol=0.01)
        assert res.lower <= expected * (1 + 1e-12) and expected <= res.upper * (1 + 1e-12) <= expected * 1.01


def test_translated_copy_costs_the_translation():
    # Any matching costs >= |mean(x) - mean(y)| = |s| (triangle inequality); the copy's achieves it.
    rng = np.random.default_rng(1)
    x = rng.random((300, 3))
    s = np.array([0.3, -0.2, 0.1])
    perm = rng.permutation(300)
    y = x[perm] + s
    emd, assign = emd_exact(x, y)
    assert emd == pytest.approx(np.linalg.norm(s), rel=1e-12)
    assert np.array_equal(assign, np.argsort(perm))
    assert np.linalg.norm(s) <= emd_approx(x, y, rel_tol=0.01) * (1 + 1e-12) <= np.linalg.norm(s) * 1.01


@pytest.mark.parametrize("kind", ["uniform", "shifted", "duplicates", "grid"])
@pytest.mark.parametrize("n", [2, 10, 100, 400])
def test_exact_matches_scipy(kind, n):
    rng = np.random.default_rng(n)
    x, y = _clouds(rng, n, kind)
    emd, assign = emd_exact(x, y)
    assert emd == pytest.approx(_scipy(x, y), rel=1e-9)
    _check_assignment(x, y, emd, assign)


def test_exact_on_surface_samples_is_certified_without_the_dense_fallback(monkeypatch):
    import trimesh

    def no_fallback(c):
        raise AssertionError("the dense fallback ran")

    sphere, torus = trimesh.creation.icosphere(3), trimesh.creation.torus(0.6, 0.2)
    clouds = [(_surface(a, 700, 0), _surface(b, 700, 1)) for a, b in ((sphere, sphere), (torus, sphere))]
    expected = [_scipy(x, y) for x, y in clouds]
    monkeypatch.setattr(emd_module, "linear_sum_assignment", no_fallback)
    for (x, y), value in zip(clouds, expected, strict=True):
        emd, assign = emd_exact(x, y)
        assert emd == pytest.approx(value, rel=1e-9)
        _check_assignment(x, y, emd, assign)


def test_exact_falls_back_to_the_dense_solver_when_not_certified(monkeypatch):
    x, y = _clouds(np.random.default_rng(7), 200, "uniform")
    monkeypatch.setattr(emd_module, "_COMPLETION_STEPS", 0)
    emd, assign = emd_exact(x, y)
    assert emd == pytest.approx(_scipy(x, y), rel=1e-12)
    _check_assignment(x, y, emd, assign)


def test_unequal_sizes_raise_naming_both():
    x, y = np.zeros((5, 3)), np.zeros((7, 3))
    for f in (emd_exact, emd_approx, emd_auction):
        with pytest.raises(ValueError, match=r"x: 5, y: 7"):
            f(x, y)


@pytest.mark.parametrize("bad", [np.zeros((4, 2)), np.zeros(3), np.zeros((0, 3)), np.full((4, 3), np.nan)])
def test_bad_inputs_raise(bad):
    for f in (emd_exact, emd_approx, approxmatch_cost):
        with pytest.raises(ValueError):
            f(bad, np.zeros((4, 3)))
    with pytest.raises(ValueError, match="rel_tol"):
        emd_auction(np.zeros((4, 3)), np.ones((4, 3)), rel_tol=0.0)


def test_degenerate_clouds():
    x = np.random.default_rng(2).random((50, 3))
    assert emd_exact(x, x)[0] == 0.0
    assert emd_approx(x, x) == pytest.approx(0.0, abs=1e-12)
    zeros = np.zeros((50, 3))  # DISN's placeholder for an empty prediction
    expected = np.linalg.norm(x, axis=1).mean()
    assert emd_exact(zeros, zeros)[0] == 0.0
    assert emd_exact(zeros, x)[0] == pytest.approx(expected, rel=1e-12)
    assert emd_approx(x, zeros) == pytest.approx(expected, rel=1e-12)
    one = np.array([[1.0, 2.0, 3.0]])
    assert emd_exact(one, one * 2)[0] == pytest.approx(np.sqrt(14))
    assert np.array_equal(emd_exact(one, one)[1], [0])


@pytest.mark.parametrize("rel_tol", [0.1, 0.01, 0.001])
@pytest.mark.parametrize("kind", ["uniform", "shifted", "duplicates"])
def test_approx_is_certified(kind, rel_tol):
    rng = np.random.default_rng(3)
    x, y = _clouds(rng, 300, kind)
    exact = emd_exact(x, y)[0]
    res = emd_auction(x, y, rel_tol=rel_tol)
    assert res.lower <= exact * (1 + 1e-12)
    assert exact <= res.upper * (1 + 1e-12)
    assert res.upper <= res.lower * (1 + rel_tol) + 1e-15
    assert emd_approx(x, y, rel_tol=rel_tol) == res.upper
    _check_assignment(x, y, res.upper, res.assignment)


def test_results_are_deterministic():
    rng = np.random.default_rng(4)
    x, y = _clouds(rng, 300, "uniform")
    e1, a1 = emd_exact(x, y)
    e2, a2 = emd_exact(x.copy(), y.copy())
    assert e1 == e2 and np.array_equal(a1, a2)
    r1, r2 = emd_auction(x, y), emd_auction(x, y)
    assert r1.upper == r2.upper and r1.lower == r2.lower and np.array_equal(r1.assignment, r2.assignment)
    assert approxmatch_cost(x, y) == approxmatch_cost(x, y)


def test_torch_tensors_are_accepted():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    x, y = _clouds(rng, 40, "uniform")
    tx, ty = torch.tensor(x, requires_grad=True), torch.tensor(y, dtype=torch.float64)
    assert emd_exact(tx, ty)[0] == emd_exact(x, y)[0]
    assert emd_approx(tx, ty) == emd_approx(x, y)
    assert approxmatch_cost(tx, ty) == approxmatch_cost(x, y)


def _approxmatch_reference(xyz1, xyz2):
    """tf_approxmatch_g.cu's `approxmatch` + `matchcost`, line by line, in dense NumPy (float64)."""
    n, m = len(xyz1), len(xyz2)
    multi_l, multi_r = (1, n // m) if n >= m else (m // n, 1)  # `multiR=n/m` on ints
    remain_l, remain_r = np.full(n, float(multi_l)), np.full(m, float(multi_r))
    match = np.zeros((m, n))  # the kernel's layout: match[i*n*m + l*n + k]
    d2 = ((xyz1[:, None, :] - xyz2[None, :, :]) ** 2).sum(axis=2)  # (n, m)
    for j in range(7, -3, -1):
        level = 0.0 if j == -2 else -(4.0**j)
        w = np.exp(level * d2)
        ratio_l = remain_l / (1e-9 + (w * remain_r[None, :]).sum(axis=1))
        sumr = (w * ratio_l[:, None]).sum(axis=0) * remain_r
        consumption = np.minimum(remain_r / (sumr + 1e-9), 1.0)
        ratio_r = consumption * remain_r
        remain_r = np.maximum(0.0, remain_r - sumr)
        pair = w * ratio_l[:, None] * ratio_r[None, :]
        match += pair.T
        remain_l = np.maximum(0.0, remain_l - pair.sum(axis=1))
    cost = (match.T * np.sqrt(d2)).sum()
    return cost, match


@pytest.mark.parametrize(("n", "m"), [(50, 50), (200, 200), (120, 60), (150, 100), (60, 130), (1, 7)])
def test_approxmatch_matches_the_kernel_transcription(n, m):
    rng = np.random.default_rng(n * 1000 + m)
    x, y = rng.random((n, 3)), rng.random((m, 3)) * [1.0, 0.5, 0.8] + 0.2
    expected, expected_match = _approxmatch_reference(x, y)
    cost, match = approxmatch(x, y)
    assert cost == pytest.approx(expected, rel=1e-6)
    np.testing.assert_allclose(match, expected_match, rtol=1e-6, atol=1e-12)
    assert approxmatch_cost(x, y) == pytest.approx(cost, rel=1e-12)


def test_approxmatch_moves_all_mass_and_costs_at_least_the_optimum():
    import trimesh

    rng = np.random.default_rng(6)
    sphere, box = trimesh.creation.icosphere(3), trimesh.creation.box((1.0, 0.6, 0.4))
    for x, y in [_clouds(rng, 200, "uniform"), (_surface(sphere, 300, 0), _surface(box, 300, 1))]:
        cost, match = approxmatch(x, y)
        np.testing.assert_allclose(match.sum(axis=0), 1.0, atol=1e-6)
        np.testing.assert_allclose(match.sum(axis=1), 1.0, atol=1e-6)
        assert cost >= len(x) * emd_exact(x, y)[0] * (1 - 1e-6)


def pix3d_auction_cu(xyz1, xyz2):
    """xingyuansun/pix3d ``eval/emd/tf_auctionmatch_g.cu`` ``AuctionMatchKernel`` for one cloud, in NumPy.

    Thread 0's bookkeeping as written there; the block-wide reduction of ``cost[i, j] + pricer[j]``
    to ``best``, ``best2``, ``bestj`` is ``argmin`` and ``partition`` (ties: the lowest j). Then
    ``EMD.emd_dis`` (``tf_auctionmatch.py``): the mean float32 distance to the matched point.
    Returns ``(emd, matchl, bids)``.
    """
    x, y = np.asarray(xyz1, np.float32), np.asarray(xyz2, np.float32)
    n = len(x)
    cost = np.sqrt(((x[:, None, :] - y[None, :, :]) ** 2).sum(-1, dtype=np.float32))
    matchrbuf = np.full(n, -1)
    queue = list(range(n))
    pricer = np.zeros(n, np.float32)
    qhead, qlen, cnt, bids = 0, n, 0, 0
    tolerance = np.float32(1e-4)
    while qlen:
        i = queue[qhead]
        value = cost[i] + pricer
        bestj = int(np.argmin(value))
        best, best2 = np.partition(value, 1)[:2]
        delta = best2 - best + tolerance
        qhead += 1
        qlen -= 1
        if qhead >= n:
            qhead -= n
        old = matchrbuf[bestj]
        pricer[bestj] += delta
        cnt += 1
        bids += 1
        if old != -1:
            tail = qhead + qlen
            qlen += 1
            if tail >= n:
                tail -= n
            queue[tail] = old
        if cnt == 40 * n:
            if tolerance == 1.0:
                qlen = 0
            tolerance = min(np.float32(1.0), tolerance * np.float32(100))
            cnt = 0
        matchrbuf[bestj] = i
    matchl = np.full(n, -1)
    for j in range(n):
        matchl[matchrbuf[j]] = j
    dis = np.sqrt(np.sum((x - y[matchl]) ** 2, axis=1))
    return float(np.mean(dis)), matchl, bids


@pytest.mark.parametrize("kind", ["uniform", "shifted", "duplicates", "grid"])
def test_pix3d_auction_is_the_kernel_bid_for_bid(kind):
    x, y = _clouds(np.random.default_rng(21), 96, kind)
    got = pix3d_auction_match(x, y)
    emd, matchl, bids = pix3d_auction_cu(x, y)
    assert got.bids == bids
    if kind in ("uniform", "shifted"):  # no ties: the same assignment
        np.testing.assert_array_equal(got.assignment, matchl)
        assert got.emd == pytest.approx(emd, rel=1e-6)
    _check_assignment(x.astype(np.float32), y.astype(np.float32), got.emd, got.assignment)


def test_pix3d_auction_is_within_its_bid_increment_of_the_exact_emd():
    # Box-normalized surface samples, Pix3D's 1,024 points: the increment reached bounds the gap.
    import trimesh

    mesh = trimesh.creation.torus(0.6, 0.2)
    x, y = _surface(mesh, 1024, 1), _surface(mesh, 1024, 2)
    lo, hi = x.min(0), x.max(0)
    x, y = (x - (lo + hi) / 2) / (hi - lo).max(), (y - (lo + hi) / 2) / (hi - lo).max()
    got = pix3d_auction_match(x, y)
    exact = emd_exact(x, y)[0]
    assert exact * (1 - 1e-6) <= got.emd <= exact + got.tolerance + 1e-6
    assert got.bids >= 1024 and got.tolerance in (pytest.approx(1e-4), pytest.approx(1e-2), 1.0)
    with pytest.raises(ValueError, match="4,096"):
        pix3d_auction_match(np.zeros((4097, 3)), np.zeros((4097, 3)))
