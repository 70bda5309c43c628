"""Octrees of voxel grids: exact round trips, hand-counted boxes, Morton keys, and ocnn."""

from __future__ import annotations

import importlib
import importlib.util
import itertools
import sys
import types

import numpy as np
import pytest
from scipy import ndimage

from recon.voxelize.octree import (
    EMPTY,
    FULL,
    MIXED,
    Octree,
    build_octree,
    morton_decode,
    morton_encode,
    node_centres,
    node_counts,
    octree_to_dense,
    ogn_keys,
)


def _slow_key(i: int, j: int, k: int, bits: int) -> int:
    """Morton key by a bit loop: x in the highest bit of each triple."""
    key = 0
    for b in range(bits):
        key |= ((i >> b) & 1) << (3 * b + 2) | ((j >> b) & 1) << (3 * b + 1) | ((k >> b) & 1) << (3 * b)
    return key


def _slow_octree(occupied: np.ndarray, depth: int) -> list[list[tuple[int, int, int, int]]]:
    """Per level, (key, i, j, k, state) of every node, by recursive block inspection."""
    levels: list[list] = [[] for _ in range(depth + 1)]

    def visit(level: int, i: int, j: int, k: int) -> None:
        s = 1 << (depth - level)
        block = occupied[i * s : (i + 1) * s, j * s : (j + 1) * s, k * s : (k + 1) * s]
        state = FULL if block.all() else (EMPTY if not block.any() else MIXED)
        levels[level].append((_slow_key(i, j, k, level), i, j, k, int(state)))
        if state == MIXED:
            for dx, dy, dz in itertools.product((0, 1), repeat=3):
                visit(level + 1, 2 * i + dx, 2 * j + dy, 2 * k + dz)

    visit(0, 0, 0, 0)
    return [sorted(nodes) for nodes in levels]


def _check_structure(octree: Octree) -> None:
    """Dtypes, sorted keys, the root, child pointers and the MIXED-only-children rule."""
    assert len(octree.keys) == len(octree.state) == len(octree.child) == octree.depth + 1
    assert octree.keys[0].tolist() == [0]
    for level in range(octree.depth + 1):
        keys, state, child = octree.keys[level], octree.state[level], octree.child[level]
        assert keys.dtype == np.uint32 and state.dtype == np.uint8 and child.dtype == np.int32
        assert keys.shape == state.shape == child.shape
        assert np.all(np.diff(keys.astype(np.int64)) > 0)
        mixed = state == MIXED
        assert np.all(child[~mixed] == -1)
        if level == octree.depth:
            assert not mixed.any()
            continue
        nxt = octree.keys[level + 1]
        assert nxt.size == 8 * np.count_nonzero(mixed)
        parents = np.flatnonzero(mixed)
        for p in parents:
            c = child[p]
            np.testing.assert_array_equal(nxt[c : c + 8], 8 * keys[p].astype(np.int64) + np.arange(8))


def _blob(n: int, seed: int, sigma: float, fill: float) -> np.ndarray:
    """Smoothed random noise thresholded at the ``1 - fill`` quantile."""
    field = ndimage.gaussian_filter(np.random.default_rng(seed).random((n, n, n)), sigma, mode="wrap")
    return field > np.quantile(field, 1.0 - fill)


# --- Morton keys ----------------------------------------------------------------------------


def test_morton_hand_computed_keys():
    ijk = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1], [2, 0, 0], [3, 0, 0], [0, 0, 2]])
    keys = morton_encode(ijk)
    assert keys.dtype == np.uint64
    assert keys.tolist() == [0, 4, 2, 1, 7, 32, 36, 8]
    top = (1 << 10) - 1
    assert morton_encode(np.array([[top, top, top]])).tolist() == [(1 << 30) - 1]
    assert morton_encode(np.array([[1 << 9, 0, 0]])).tolist() == [1 << 29]


def test_morton_round_trip_and_bit_loop():
    rng = np.random.default_rng(0)
    ijk = rng.integers(0, 1 << 21, size=(2000, 3))
    keys = morton_encode(ijk)
    np.testing.assert_array_equal(morton_decode(keys), ijk)
    assert morton_decode(keys).dtype == np.int64
    assert [int(k) for k in keys[:200]] == [_slow_key(*map(int, p), 21) for p in ijk[:200]]
    # Key order of a grid's cells is the Z order; the keys of a 2^l grid are exactly 0..8^l - 1.
    g = np.stack(np.meshgrid(*[np.arange(8)] * 3, indexing="ij"), axis=-1).reshape(-1, 3)
    np.testing.assert_array_equal(np.sort(morton_encode(g)), np.arange(512))
    with pytest.raises(ValueError):
        morton_encode(np.array([[-1, 0, 0]]))
    with pytest.raises(ValueError):
        morton_encode(np.array([[1 << 21, 0, 0]]))


# --- build_octree / octree_to_dense ---------------------------------------------------------


@pytest.mark.parametrize(
    ("depth", "seed", "sigma", "fill"), [(4, 0, 1.0, 0.3), (5, 1, 1.5, 0.5), (6, 2, 2.5, 0.4)]
)
def test_round_trip_blobs(depth, seed, sigma, fill):
    n = 1 << depth
    occupied = _blob(n, seed, sigma, fill)
    octree = build_octree(occupied, depth)
    _check_structure(octree)
    back = octree_to_dense(octree)
    assert back.dtype == np.bool_ and back.shape == (n, n, n)
    np.testing.assert_array_equal(back, occupied)
    # Against the recursive block inspection, level by level.
    slow = _slow_octree(occupied, depth)
    for level in range(depth + 1):
        np.testing.assert_array_equal(octree.keys[level], [node[0] for node in slow[level]])
        np.testing.assert_array_equal(octree.state[level], [node[4] for node in slow[level]])
        np.testing.assert_array_equal(morton_decode(octree.keys[level]), [node[1:4] for node in slow[level]])
    # Some FULL nodes above the finest level: the octree is adaptive, not a plain pyramid.
    assert any(np.any(octree.state[level] == FULL) for level in range(depth))


def test_empty_and_full_grids():
    empty = build_octree(np.zeros((32, 32, 32), bool), 5)
    assert empty.state[0].tolist() == [EMPTY] and empty.child[0].tolist() == [-1]
    assert all(empty.keys[level].size == 0 for level in range(1, 6))
    assert not octree_to_dense(empty).any()
    full = build_octree(np.ones((32, 32, 32), bool), 5)
    assert full.state[0].tolist() == [FULL] and full.child[0].tolist() == [-1]
    assert [c["nodes"] for c in node_counts(full)] == [1, 0, 0, 0, 0, 0]
    assert octree_to_dense(full).all()
    # Depth 0: a single voxel.
    one = build_octree(np.ones((1, 1, 1), bool), 0)
    assert one.state[0].tolist() == [FULL] and octree_to_dense(one).tolist() == [[[True]]]
    # A single finest voxel: one MIXED chain down to it.
    g = np.zeros((16, 16, 16), bool)
    g[5, 10, 3] = True
    single = build_octree(g, 4)
    assert [c["mixed"] for c in node_counts(single)] == [1, 1, 1, 1, 0]
    assert [c["full"] for c in node_counts(single)] == [0, 0, 0, 0, 1]
    assert morton_decode(single.keys[4][single.state[4] == FULL]).tolist() == [[5, 10, 3]]
    np.testing.assert_array_equal(octree_to_dense(single), g)


def test_aligned_box_counts():
    g = np.zeros((64, 64, 64), bool)
    g[16:48, 16:48, 16:48] = True
    octree = build_octree(g, 6)
    _check_structure(octree)
    counts = node_counts(octree)
    assert counts[0] == {"nodes": 1, "empty": 0, "full": 0, "mixed": 1}
    assert counts[1] == {"nodes": 8, "empty": 0, "full": 0, "mixed": 8}
    assert counts[2] == {"nodes": 64, "empty": 56, "full": 8, "mixed": 0}
    assert all(c["nodes"] == 0 for c in counts[3:])
    assert len(counts) == 7
    # The 8 FULL level-2 cells are the central 2x2x2 block of 16-voxel cells.
    full_ijk = morton_decode(octree.keys[2][octree.state[2] == FULL])
    assert sorted(map(tuple, full_ijk.tolist())) == sorted(itertools.product((1, 2), repeat=3))
    np.testing.assert_array_equal(octree_to_dense(octree), g)


@pytest.mark.parametrize(
    ("lo", "hi"),
    [((10, 10, 10), (50, 50, 50)), ((9, 10, 3), (50, 43, 61))],
)
def test_unaligned_box_matches_slow_loop(lo, hi):
    depth = 6
    g = np.zeros((64, 64, 64), bool)
    g[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]] = True
    octree = build_octree(g, depth)
    _check_structure(octree)
    slow = _slow_octree(g, depth)
    counts = node_counts(octree)
    for level in range(depth + 1):
        states = [node[4] for node in slow[level]]
        assert counts[level] == {
            "nodes": len(states),
            "empty": states.count(int(EMPTY)),
            "full": states.count(int(FULL)),
            "mixed": states.count(int(MIXED)),
        }
        np.testing.assert_array_equal(octree.keys[level], [node[0] for node in slow[level]])
        np.testing.assert_array_equal(octree.state[level], states)
    np.testing.assert_array_equal(octree_to_dense(octree), g)
    assert counts[1] == {"nodes": 8, "empty": 0, "full": 0, "mixed": 8}
    if lo == (10, 10, 10):
        # Level 2 (16-voxel cells): per axis, cells 0 and 3 are cut by the faces, 1 and 2 inside.
        assert counts[2] == {"nodes": 64, "empty": 0, "full": 8, "mixed": 56}
        # Even bounds: every 2-voxel cell is FULL or EMPTY, so the finest level has no nodes.
        assert counts[5]["mixed"] == 0 and counts[6]["nodes"] == 0
    else:
        # Odd bounds (9, 43, 3, 61) cut 2-voxel cells: the finest level is reached.
        assert counts[6]["nodes"] > 0 and counts[6]["mixed"] == 0


def test_build_octree_rejects_bad_input():
    with pytest.raises(ValueError, match="shape"):
        build_octree(np.zeros((32, 32, 32), bool), 4)
    with pytest.raises(ValueError, match="shape"):
        build_octree(np.zeros((16, 16, 8), bool), 4)
    with pytest.raises(TypeError, match="bool"):
        build_octree(np.zeros((16, 16, 16), np.uint8), 4)
    with pytest.raises(ValueError, match="depth"):
        build_octree(np.zeros((1, 1, 1), bool), -1)


# --- centres and OGN keys -------------------------------------------------------------------


def test_node_centres():
    g = np.zeros((16, 16, 16), bool)
    g[0, 15, 7] = True
    octree = build_octree(g, 4)
    np.testing.assert_allclose(node_centres(octree, 0, 2.0), [[0.0, 0.0, 0.0]])
    np.testing.assert_allclose(
        node_centres(octree, 1, 1.0),
        [[-0.5 + 1.0 * ((c >> 2) & 1), -0.5 + 1.0 * ((c >> 1) & 1), -0.5 + 1.0 * (c & 1)] for c in range(8)],
    )
    # Finest level: the voxel centres -h + (i + 0.5) 2h/n.
    h = 0.5
    centres = node_centres(octree, 4, h)
    assert centres.dtype == np.float64 and centres.shape == (octree.keys[4].size, 3)
    full = octree.state[4] == FULL
    np.testing.assert_allclose(
        centres[full], [[-h + 0.5 * 2 * h / 16, -h + 15.5 * 2 * h / 16, -h + 7.5 * 2 * h / 16]]
    )


def test_ogn_keys():
    g = np.zeros((4, 4, 4), bool)
    g[1, 0, 0] = g[0, 0, 3] = True
    octree = build_octree(g, 2)
    assert ogn_keys(octree, 0).tolist() == [1]
    ijk = morton_decode(octree.keys[1])
    keys1 = ogn_keys(octree, 1)
    assert keys1.dtype == np.uint32
    # OGN: x in the lowest bit of each triple, then y, z; level bit 1 << 3.
    assert keys1.tolist() == [8 | x | (y << 1) | (z << 2) for x, y, z in ijk.tolist()]
    keys2 = dict(
        zip(map(tuple, morton_decode(octree.keys[2]).tolist()), ogn_keys(octree, 2).tolist(), strict=True)
    )
    assert keys2[(1, 0, 0)] == (1 << 6) | 1
    assert keys2[(0, 0, 3)] == (1 << 6) | (1 << 2) | (1 << 5)
    # OGN's compute_level: the position of the leading 1 bit.
    for level in range(3):
        assert {(int(k).bit_length() - 1) // 3 for k in ogn_keys(octree, level)} == {level}


# --- ocnn ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ocnn_octree():
    """``ocnn.octree`` (ocnn-pytorch). ``import ocnn`` also imports ``ocnn.models``, which needs
    torchvision; without it, the ``ocnn.octree`` subpackage (torch only) is loaded alone, and
    the partial ``ocnn`` package is removed from ``sys.modules`` afterwards."""
    pytest.importorskip("torch")
    spec = importlib.util.find_spec("ocnn")
    if spec is None:
        pytest.skip("ocnn is not installed")
    before = set(sys.modules)
    try:
        import ocnn
    except ImportError:
        _forget_ocnn(before)
    else:
        yield ocnn.octree
        return
    package = types.ModuleType("ocnn")
    package.__path__ = list(spec.submodule_search_locations)
    package.__spec__ = spec
    sys.modules["ocnn"] = package
    try:
        yield importlib.import_module("ocnn.octree")
    finally:
        _forget_ocnn(before)


def _forget_ocnn(before: set[str]) -> None:
    """Remove the ``ocnn`` modules imported since ``before`` from ``sys.modules``."""
    for name in set(sys.modules) - before:
        if name == "ocnn" or name.startswith("ocnn."):
            del sys.modules[name]


def _occupied_keys(octree: Octree, level: int) -> np.ndarray:
    """Sorted Morton keys of the level-``level`` cells holding an occupied voxel: the non-EMPTY
    nodes of the level plus the level's cells under FULL nodes of coarser levels."""
    parts = [octree.keys[level][octree.state[level] != EMPTY].astype(np.int64)]
    for coarse in range(level):
        m = 3 * (level - coarse)
        full = octree.keys[coarse][octree.state[coarse] == FULL].astype(np.int64)
        parts.append(((full << m)[:, None] + np.arange(1 << m)).ravel())
    return np.sort(np.concatenate(parts))


def test_against_ocnn(ocnn_octree):
    import torch

    depth = 6
    n = 1 << depth
    rng = np.random.default_rng(7)
    normals = rng.normal(size=(50_000, 3))
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    # An off-centre sphere (different offsets per axis catch swapped axes) inside [-0.9, 0.9]^3.
    points = (np.array([0.08, -0.05, 0.03]) + 0.7 * normals).astype(np.float32)
    # ocnn scales to [0, 2^depth) in float32 and truncates; drop points within 1e-4 of a cell
    # face, so that float32 and float64 rounding cannot bin them differently.
    scaled = (points.astype(np.float64) + 1.0) * (n / 2.0)
    keep = np.all(np.abs(scaled - np.round(scaled)) > 1e-4, axis=1)
    assert keep.mean() > 0.99
    points, normals, scaled = points[keep], normals[keep].astype(np.float32), scaled[keep]

    # Ours: the voxels containing a point, h = 1.
    ijk = np.clip(np.floor(scaled).astype(np.int64), 0, n - 1)
    occupied = np.zeros((n, n, n), bool)
    occupied[ijk[:, 0], ijk[:, 1], ijk[:, 2]] = True
    ours = build_octree(occupied, depth)

    theirs = ocnn_octree.Octree(depth, full_depth=2)
    theirs.build_octree(
        ocnn_octree.Points(torch.from_numpy(points), torch.from_numpy(normals)), bbmin=-1.0, bbmax=1.0
    )
    for level in (2, 4, 5, depth):
        their_keys = theirs.key(level, nempty=True).numpy()
        np.testing.assert_array_equal(_occupied_keys(ours, level), their_keys)
        x, y, z, _ = theirs.xyzb(level, nempty=True)
        their_ijk = np.stack([x.numpy(), y.numpy(), z.numpy()], axis=1)
        np.testing.assert_array_equal(morton_decode(their_keys), their_ijk)
    # At the finest level no voxel lies under a coarser FULL node here: the non-EMPTY nodes
    # alone are ocnn's non-empty ones.
    finest = ours.keys[depth][ours.state[depth] != EMPTY]
    np.testing.assert_array_equal(finest, theirs.key(depth, nempty=True).numpy())
    # Same key function: ocnn's xyz2key against morton_encode at depth 10.
    cells = rng.integers(0, 1 << 10, size=(1000, 3))
    t = torch.from_numpy(cells)
    np.testing.assert_array_equal(
        ocnn_octree.xyz2key(t[:, 0], t[:, 1], t[:, 2], depth=10).numpy(),
        morton_encode(cells).astype(np.int64),
    )
