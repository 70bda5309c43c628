"""Sample groups reproduce their distributions (shares, sigma, bands, volume) and their values."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import trimesh

igl = pytest.importorskip("igl")
pytest.importorskip("numba")

from recon.geometry.grid import GridSpec  # noqa: E402
from recon.geometry.sampling import surface_samples  # noqa: E402
from recon.sdf.grid import sdf_grid  # noqa: E402
from recon.sdf.samples import (  # noqa: E402
    DISN_BANDS,
    disn_samples,
    gaussian_samples,
    occupancy_samples,
    point_sdf,
)


def _distance_to(mesh, points):
    d, *_ = igl.signed_distance(
        np.asarray(points, np.float64),
        mesh.vertices.astype(np.float64),
        mesh.faces.astype(np.int64),
        igl.SIGNED_DISTANCE_TYPE_UNSIGNED,
    )
    return np.abs(d)


def test_point_sdf_of_a_sphere():
    mesh = trimesh.creation.icosphere(5, radius=0.6)
    points = np.random.default_rng(0).uniform(-1, 1, size=(2000, 3))
    analytic = np.linalg.norm(points, axis=1) - 0.6
    sdf = point_sdf(mesh.vertices, mesh.faces, points)
    assert sdf.dtype == np.float32
    np.testing.assert_allclose(sdf, analytic, atol=2e-4)  # facet sagitta of icosphere(5)


def test_surface_samples_are_on_the_surface_area_weighted_with_face_normals():
    small = trimesh.creation.box((0.2, 0.2, 0.2))
    big = trimesh.creation.box(
        (1.0, 1.0, 1.0), transform=trimesh.transformations.translation_matrix([2, 0, 0])
    )
    mesh = trimesh.util.concatenate([small, big])
    points, normals = surface_samples(mesh.vertices, mesh.faces, 20000, np.random.default_rng(1))
    assert _distance_to(mesh, points).max() < 1e-9
    share = np.mean(points[:, 0] > 1.0)  # on the big box
    expected = big.area / (big.area + small.area)
    assert abs(share - expected) < 4 * np.sqrt(expected * (1 - expected) / len(points))
    _, _, tri = trimesh.proximity.closest_point(mesh, points[:500])
    np.testing.assert_allclose(np.abs((normals[:500] * mesh.face_normals[tri]).sum(axis=1)), 1.0, atol=1e-9)
    same = surface_samples(mesh.vertices, mesh.faces, 20000, np.random.default_rng(1))[0]
    assert np.array_equal(points, same)


def test_gaussian_samples_recover_their_sigmas_and_uniform_share():
    # A large flat face: the SDF of a near-surface point is its offset along the normal.
    mesh = trimesh.creation.box((4.0, 4.0, 4.0))
    sigmas = (0.071, 0.022)
    points, sdf = gaussian_samples(
        mesh.vertices, mesh.faces, np.random.default_rng(2), 30000, sigmas, 0.1, (-2.5, 2.5)
    )
    assert points.shape == (30000, 3) and points.dtype == np.float32 and sdf.dtype == np.float32
    np.testing.assert_allclose(sdf, point_sdf(mesh.vertices, mesh.faces, points), atol=1e-6)
    near = sdf[:27000]
    for k, sigma in enumerate(sigmas):
        part = near[k * 13500 : (k + 1) * 13500]
        part = part[np.abs(part) < 5 * sigma]  # corners and edges aside
        assert np.std(part) == pytest.approx(sigma, rel=0.05)
    uniform = points[27000:]
    assert uniform.min() >= -2.5 and uniform.max() <= 2.5 and abs(uniform.mean()) < 0.05


def _disn_sample_sdf(num_sample, bandwidth, iso_val, sdf_dict, sdf_res, random):
    """DISN's ``sample_sdf`` (Xharlie/DISN ``preprocessing/create_point_sdf_grid.py``, lines 74-113),
    transcribed: ``np.random`` is ``random``; the prints, the timing and the inside-out check are
    left out. Also returns the draws per band (DISN's ``percentages[i][2]`` after the loop) and
    each band's flat node indices (``ind``; x fastest, as in Vega's ``.dist`` file)."""
    percentages = [
        [-1.0 * bandwidth, -1.0 * bandwidth * 0.30, int(num_sample * 0.25)],
        [-1.0 * bandwidth * 0.30, 0, int(num_sample * 0.25)],
        [0, bandwidth * 0.30, int(num_sample * 0.25)],
        [bandwidth * 0.30, bandwidth, int(num_sample * 0.25)],
    ]
    params = sdf_dict["param"]
    sdf_values = sdf_dict["value"].flatten()
    x = np.linspace(params[0], params[3], num=sdf_res + 1).astype(np.float32)
    y = np.linspace(params[1], params[4], num=sdf_res + 1).astype(np.float32)
    z = np.linspace(params[2], params[5], num=sdf_res + 1).astype(np.float32)
    dis = sdf_values - iso_val
    sdf_pt_val = np.zeros((0, 4), dtype=np.float32)
    members = []
    for i in range(len(percentages)):
        ind = np.argwhere((dis >= percentages[i][0]) & (dis < percentages[i][1]))
        members.append(ind[:, 0])
        if len(ind) < percentages[i][2]:
            if i < len(percentages) - 1:
                percentages[i + 1][2] += percentages[i][2] - len(ind)
            percentages[i][2] = len(ind)
        if len(ind) == 0:
            continue
        choice = random.randint(len(ind), size=percentages[i][2])
        choosen_ind = ind[choice]
        x_ind = choosen_ind % (sdf_res + 1)
        y_ind = (choosen_ind // (sdf_res + 1)) % (sdf_res + 1)
        z_ind = choosen_ind // (sdf_res + 1) ** 2
        vals = sdf_values[choosen_ind]
        sdf_pt_val_bin = np.concatenate((x[x_ind], y[y_ind], z[z_ind], vals), axis=-1)
        sdf_pt_val = np.concatenate((sdf_pt_val, sdf_pt_val_bin), axis=0)
    return sdf_pt_val, [p[2] for p in percentages], members


def _as_disn_file(grid, spec):
    """The grid as DISN reads a Vega ``.dist`` file: bounds (float32) and values with x fastest."""
    n = spec.resolution
    return {
        "param": np.float32([*spec.origin, *spec.corner]),
        "value": np.asarray(grid, np.float32).transpose(2, 1, 0).reshape(n, n, n),
    }


def _node_ids(points, spec):
    """Flat node indices, x fastest, of (N, 3) node positions."""
    ijk = np.rint((points.astype(np.float64) - spec.origin) / spec.spacing).astype(np.int64)
    n = spec.resolution
    return ijk[:, 0] + n * ijk[:, 1] + n * n * ijk[:, 2]


def _off_centre_shape():
    """A plate with one leg, unit-sphere normalized: its bounding box is centred off the diagonal."""
    mesh = trimesh.util.concatenate(
        [
            trimesh.creation.box((1.0, 0.1, 0.6)),
            trimesh.creation.cylinder(
                0.05, 1.2, transform=trimesh.transformations.translation_matrix([0.4, -0.6, 0.25])
            ),
        ]
    )
    from recon.geometry.normalize import normalization

    return normalization(mesh.vertices, mesh.faces).apply(mesh.vertices), mesh.faces


def test_disn_samples_take_a_quarter_from_each_band():
    mesh = trimesh.creation.icosphere(4, radius=0.6)
    spec = GridSpec(96)  # fine enough for 2,000 nodes in each 0.03-thick shell
    grid = sdf_grid(mesh.vertices, mesh.faces, spec)
    points, sdf, counts = disn_samples(grid, spec, np.random.default_rng(3), n=8000)
    assert counts.tolist() == [2000, 2000, 2000, 2000]
    d = sdf - np.float32(0.003)
    for i, (lo, hi) in enumerate(itertools.pairwise(np.float32(DISN_BANDS))):
        assert np.sum((d >= lo) & (d < hi)) == counts[i]
    # The values are the grid's values at those nodes.
    np.testing.assert_allclose(sdf, point_sdf(mesh.vertices, mesh.faces, points), atol=1e-3)
    # DISN gives each band int(n / 4) draws and loses the remainder; the 2 rows left repeat draws.
    points, sdf, counts = disn_samples(grid, spec, np.random.default_rng(3), n=8002)
    assert counts.tolist() == [2000, 2000, 2000, 2000] and len(points) == 8002
    assert all((points[:8000] == row).all(axis=1).any() for row in points[8000:])


def test_disn_short_bands_match_disns_sample_sdf():
    # An off-centre shape on DISN's box at 33 nodes: every band is short of its 2,048 draws, each
    # passes its deficit on, and the last one's is lost (DISN then keeps fewer than n points).
    from recon.sdf.stage import grid_spec

    vertices, faces = _off_centre_shape()
    spec = grid_spec({"resolution": 33, "box": "disn"}, vertices)
    grid = sdf_grid(vertices, faces, spec)
    n = 8192
    reference, reference_counts, reference_members = _disn_sample_sdf(
        n, 0.1, 0.003, _as_disn_file(grid, spec), spec.resolution - 1, np.random.RandomState(0)
    )
    points, sdf, counts = disn_samples(grid, spec, np.random.default_rng(0), n=n)
    assert counts.tolist() == reference_counts
    m = len(reference)
    assert m == sum(reference_counts) < n and points.shape == (n, 3) and sdf.shape == (n,)
    # Band by band, from the same nodes: every node drawn is in DISN's set for that band, with its
    # grid value, and k draws with replacement leave as many distinct nodes as DISN's would.
    ids = _node_ids(points, spec)
    flat = np.asarray(grid, np.float32).transpose(2, 1, 0).reshape(-1)
    assert np.array_equal(sdf, flat[ids])
    start = 0
    for k, members in zip(counts, reference_members, strict=True):
        ours = ids[start : start + k]
        start += k
        assert np.isin(ours, members).all()
        expected = len(members) * (1 - (1 - 1 / len(members)) ** k)
        assert abs(len(np.unique(ours)) - expected) < 6 * np.sqrt(expected)
    # DISN's m draws come first; the other n - m rows repeat them, each draw 1 or 2 times in all.
    _assert_repeats(ids, m)


def _assert_repeats(ids, m):
    """Rows m.. of node ids ``ids`` repeat rows ..m, each draw once per round: a node drawn c
    times among the first m rows appears between c * q and c * (q + 1) times in all."""
    q = len(ids) // m
    first = np.bincount(ids[:m], minlength=ids.max() + 1)
    total = np.bincount(ids, minlength=ids.max() + 1)
    assert np.all(total[first == 0] == 0)
    assert np.all((total >= q * first) & (total <= (q + 1) * first))


def test_disn_short_band_passes_its_deficit_on():
    # A synthetic grid with 100 nodes in the deepest band and 3,000 in each other band.
    spec = GridSpec(24)
    values = np.full(spec.resolution**3, 0.5, dtype=np.float32)  # outside every band
    for start, value, count in ((0, -0.05, 100), (100, -0.01, 3000), (3100, 0.01, 3000), (6100, 0.05, 3000)):
        values[start : start + count] = value + 0.003
    grid = values.reshape(24, 24, 24)
    disn = _as_disn_file(grid, spec)
    for n, expected in ((8000, [100, 3000, 2900, 2000]), (20000, [100, 3000, 3000, 3000])):
        _, reference_counts, _ = _disn_sample_sdf(n, 0.1, 0.003, disn, 23, np.random.RandomState(1))
        points, sdf, counts = disn_samples(grid, spec, np.random.default_rng(4), n=n)
        assert counts.tolist() == reference_counts == expected and len(points) == n
    # The deep band draws its 100 nodes 100 times with replacement, as DISN's np.random.randint:
    # about 100 (1 - 1/e) = 63 distinct ones, not each node once.
    points, sdf, counts = disn_samples(grid, spec, np.random.default_rng(4), n=8000)
    deep = np.isclose(sdf, -0.05 + 0.003)
    assert deep.sum() == 100 and 45 < len(np.unique(points[deep], axis=0)) < 80
    # With n = 20,000 the last band's deficit (10,900 draws) is lost: DISN keeps 9,100 points; the
    # 10,900 rows after them repeat those, each draw 2 or 3 times in all, so the band shares stay
    # DISN's within 1 %.
    points, sdf, counts = disn_samples(grid, spec, np.random.default_rng(4), n=20000)
    _assert_repeats(_node_ids(points, spec), 9100)
    shares = [np.isclose(sdf, v + 0.003).mean() for v in (-0.05, -0.01, 0.01, 0.05)]
    np.testing.assert_allclose(shares, np.array([100, 3000, 3000, 3000]) / 9100, atol=0.01)


def test_disn_samples_need_a_node_in_some_band():
    spec = GridSpec(8)
    with pytest.raises(ValueError, match="no DISN draws"):
        disn_samples(np.full((8, 8, 8), 0.5, np.float32), spec, np.random.default_rng(0), n=100)


def test_occupancy_inside_share_is_the_volume_share():
    radius = 0.6
    mesh = trimesh.creation.icosphere(5, radius=radius)
    points, packed = occupancy_samples(mesh.vertices, mesh.faces, np.random.default_rng(5), n=40000)
    assert points.dtype == np.float16 and packed.dtype == np.uint8 and packed.size == 5000
    inside = np.unpackbits(packed)[:40000].astype(bool)
    expected = (4 / 3 * np.pi * radius**3) / 2.2**3
    assert abs(inside.mean() - expected) < 4 * np.sqrt(expected * (1 - expected) / 40000)
    r = np.linalg.norm(points.astype(np.float64), axis=1)
    assert np.all(inside[r < radius - 0.01]) and not np.any(inside[r > radius + 0.01])
    near_points, _ = occupancy_samples(
        mesh.vertices, mesh.faces, np.random.default_rng(5), n=1000, near_fraction=0.5, sigma=0.01
    )
    assert np.abs(np.linalg.norm(near_points[500:].astype(np.float64), axis=1) - radius).max() < 0.1
