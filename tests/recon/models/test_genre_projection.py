"""GenRe's projections in torch against recon's NumPy pipeline (spherical maps, voxels) and the release."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import trimesh
from scipy import ndimage

from recon.geometry.cameras import camera_center, intrinsics, look_at, unproject
from recon.geometry.raycast import first_hit
from recon.geometry.view_frame import view_scale, world_to_view
from recon.geometry.voxels import VoxelSpec, surface_voxels
from recon.models.genre.projection import (
    depth_points,
    depth_to_spherical,
    depth_to_volume,
    sph_crop,
    sph_pad,
    sphere_directions,
    spherical_to_volume,
)
from recon.voxelize.spherical import (
    depth_mesh,
    partial_spherical_map,
    sphere_grid,
    spherical_map,
    spherical_to_voxels,
)

SCALE = view_scale("unit_sphere")  # 0.5
#: Views (azimuth, elevation) of the test mesh: from above (its top crosses the map's north pole), from
#: below the table top, and from the side.
VIEWS = ((30.0, 45.0), (200.0, -20.0), (110.0, 5.0))


def _mesh() -> trimesh.Trimesh:
    """A table top on a leg beside a ball, unit_sphere-normalized: parts at different depths, with
    silhouette jumps between them and a top that seen from above crosses the view frame's +z axis."""
    top = trimesh.creation.box((1.6, 0.08, 1.6))
    top.apply_translation((0.0, 0.35, 0.0))
    leg = trimesh.creation.box((0.15, 0.7, 0.15))
    ball = trimesh.creation.icosphere(2, radius=0.35)
    ball.apply_translation((0.45, -0.3, 0.35))
    mesh = trimesh.util.concatenate([top, leg, ball])
    mesh.vertices /= np.linalg.norm(mesh.vertices, axis=1).max()
    return mesh


def _camera(azimuth: float, elevation: float, size: int, distance: float = 2.5):
    k = intrinsics(35.0, 32.0, size, size)
    r, t = look_at(camera_center(azimuth, elevation, distance))
    return k, np.concatenate([r, t[:, None]], axis=1)


def _render(mesh, k, rt, size: int):
    """Depth image (camera z; 0 where the pixel ray misses) by casting rays through pixel centres."""
    v, u = np.mgrid[0:size, 0:size].astype(np.float64)
    rays = (np.stack([u, v, np.ones_like(u)], -1) @ np.linalg.inv(k).T) @ rt[:, :3]  # world, camera z = 1
    centre = -rt[:, :3].T @ rt[:, 3]
    t, _ = first_hit(mesh.vertices, mesh.faces, np.tile(centre, (size * size, 1)), rays.reshape(-1, 3))
    depth = np.where(np.isfinite(t), t, 0.0).reshape(size, size)
    return depth, depth > 0.0


def _views(mesh, size: int):
    """(depth, mask, K, Rt) stacked over VIEWS, NumPy float64."""
    cams = [_camera(az, el, size) for az, el in VIEWS]
    renders = [_render(mesh, k, rt, size) for k, rt in cams]
    return (
        np.stack([d for d, _ in renders]),
        np.stack([m for _, m in renders]),
        np.stack([k for k, _ in cams]),
        np.stack([rt for _, rt in cams]),
    )


def _torch(depth, mask, k, rt, dtype):
    return (
        torch.tensor(depth, dtype=dtype),
        torch.tensor(mask),
        torch.tensor(k, dtype=dtype),
        torch.tensor(rt, dtype=dtype),
    )


@pytest.fixture(scope="module")
def scene():
    mesh = _mesh()
    return mesh, _views(mesh, 64)


def _released_sph_pad(sph_tensor, padding_margin=16):
    """toolbox/spherical_proj.py sph_pad, verbatim up to formatting (GenRe-ShapeHD ee42add2, lines 21-28)."""
    F = torch.nn.functional
    pad2d = (padding_margin, padding_margin, padding_margin, padding_margin)
    rep_padded_sph = F.pad(sph_tensor, pad2d, mode="replicate")
    _, _, h, w = rep_padded_sph.shape
    rep_padded_sph[:, :, :, 0:padding_margin] = rep_padded_sph[
        :, :, :, w - 2 * padding_margin : w - padding_margin
    ]
    rep_padded_sph[:, :, :, h - padding_margin :] = rep_padded_sph[
        :, :, :, padding_margin : 2 * padding_margin
    ]
    return rep_padded_sph


def test_sph_pad_is_the_released_padding():
    sph = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    padded = sph_pad(sph, 3)
    assert padded.shape == (2, 3, 14, 14)
    assert torch.equal(padded, _released_sph_pad(sph.clone(), 3))
    # depth_pred_with_sph_inpaint.py:89-90: np.pad 'wrap' on columns, then 'edge' on rows.
    numpy = np.pad(
        np.pad(sph.numpy(), ((0, 0), (0, 0), (0, 0), (3, 3)), "wrap"),
        ((0, 0), (0, 0), (3, 3), (0, 0)),
        "edge",
    )
    np.testing.assert_array_equal(padded.numpy(), numpy)
    assert torch.equal(padded[0, 0, 3:11, 0], sph[0, 0, :, 5])  # column -3 is column R - 3
    assert torch.equal(padded[0, 0, 0, 3:11], sph[0, 0, 0])  # rows above repeat the first
    assert torch.equal(sph_crop(padded, 3), sph)
    assert sph_pad(sph, 0) is sph
    with pytest.raises(ValueError):
        sph_pad(sph, 9)
    with pytest.raises(ValueError):
        sph_crop(padded, 7)
    x = torch.rand(1, 1, 4, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda s: sph_pad(s, 2), (x,))


def test_sphere_directions_are_the_grid():
    np.testing.assert_array_equal(sphere_directions(16, torch.float64).numpy(), sphere_grid(16)[0])


def test_depth_points_are_unprojected_pixels():
    k0, rt0 = _camera(30.0, 20.0, 6)
    k1, rt1 = _camera(250.0, -10.0, 6)
    rt1[:, 3] += (0.1, -0.2, 0.3)  # a shifted camera: the view frame still has no translation
    rng = np.random.default_rng(0)
    depth = rng.uniform(2.0, 3.0, (2, 5, 6))
    mask = np.ones((2, 5, 6), bool)
    mask[0, 1, 2] = False
    depth[1, 0, 0] = np.nan
    depth[1, 4, 5] = 0.0
    depth[0, 2, 2] = -1.0
    scale = torch.tensor([0.5, 0.4], dtype=torch.float64)
    points, valid = depth_points(
        *_torch(depth, mask, np.stack([k0, k1]), np.stack([rt0, rt1]), torch.float64), scale
    )
    assert points.shape == (2, 5, 6, 3) and valid.shape == (2, 5, 6)
    expected_valid = mask & np.isfinite(depth) & (depth > 0)
    np.testing.assert_array_equal(valid.numpy(), expected_valid)
    assert expected_valid.sum() == 2 * 30 - 4
    v, u = np.mgrid[0:5, 0:6]
    uv = np.stack([u.ravel(), v.ravel()], 1).astype(np.float64)
    for b, (k, rt) in enumerate([(k0, rt0), (k1, rt1)]):
        world = unproject(k, rt, uv, np.nan_to_num(depth[b]).ravel())
        expected = (world @ world_to_view(rt, float(scale[b])).T).reshape(5, 6, 3)
        ok = expected_valid[b]
        np.testing.assert_allclose(points[b].numpy()[ok], expected[ok], rtol=0, atol=1e-12)
    assert torch.isfinite(points).all()


def _reference_partial_maps(depth, mask, k, rt, resolution):
    """recon's partial spherical map of each view in its view frame (``spherical/view_partial``)."""
    return np.stack(
        [
            partial_spherical_map(
                depth[b], mask[b], k[b], rt[b], resolution, transform=world_to_view(rt[b], SCALE)
            )
            for b in range(len(depth))
        ]
    )


def _sphere_view(radius: float, size: int):
    """Analytic depth of a world sphere at the origin seen from (azimuth 40, elevation 25)."""
    k, rt = _camera(40.0, 25.0, size)
    centre = -rt[:, :3].T @ rt[:, 3]
    v, u = np.mgrid[0:size, 0:size].astype(np.float64)
    ray = (np.stack([u, v, np.ones_like(u)], -1) @ np.linalg.inv(k).T) @ rt[:, :3]
    b = ray @ centre
    a = np.sum(ray * ray, axis=-1)
    disc = b * b - a * (centre @ centre - radius**2)
    mask = disc >= 0.0
    depth = np.where(mask, (-b - np.sqrt(np.maximum(disc, 0.0))) / a, 0.0)
    return depth, mask, k, rt


def test_depth_to_spherical_of_a_sphere():
    """The seen half of a sphere of radius rho (view units) holds 1 - rho, on the camera's side (-x).

    The depth mesh's vertices lie on the sphere and its facets dip inside by at most their deficit,
    so hit cells hold values in [1 - rho, 1 - rho + deficit]; and the map is exactly the ray cast of
    the same depth mesh, up to the reference's float32 rounding (2^-25).
    """
    radius = 0.8
    depth, mask, k, rt = _sphere_view(radius, 40)
    sph = depth_to_spherical(*_torch(depth[None], mask[None], k[None], rt[None], torch.float64), SCALE, 32)
    assert sph.shape == (1, 32, 32) and sph.dtype == torch.float64
    sph = sph[0].numpy()
    hit = sph < 1.0
    rho = SCALE * radius
    vertices, faces = depth_mesh(depth, mask, k, rt)
    edges = np.linalg.norm(vertices[faces] - vertices[np.roll(faces, 1, axis=1)], axis=-1).max() * SCALE
    deficit = rho - math.sqrt(rho**2 - edges**2 / 3.0)
    assert deficit < 0.01
    assert sph[hit].min() >= 1.0 - rho - 1e-12 and sph[hit].max() <= 1.0 - rho + deficit + 1e-12
    # The camera looks along +x from 2.5 * SCALE: the seen cap is the cells within arccos(0.8 / 2.5)
    # = 71 degrees of -x; the 2 x 2 blocks of 40 x 40 pixels reach 52 to 60 degrees from it.
    angle = np.degrees(np.arccos(-sphere_grid(32)[0][..., 0]))
    assert np.all(angle[hit] < 71.4) and np.all(hit[angle < 50.0])
    reference = _reference_partial_maps(depth[None], mask[None], k[None], rt[None], 32)[0]
    np.testing.assert_array_equal(hit, reference < 1.0)
    np.testing.assert_allclose(sph, reference, rtol=0, atol=2.0**-25)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_depth_to_spherical_is_the_ray_cast_depth_mesh(scene, dtype):
    """Against partial_spherical_map's ray cast (first_hit, float64) of the same depth mesh in the view frame.

    Both intersect every cell's ray with the same triangles, so in float64 the hit cells are the same
    and the values agree to the reference's float32 rounding (2^-25). In float32 a ray passing within
    rounding (about 1e-7 of the unit) of a triangle's outer edge or of a triangle tilted exactly 85
    degrees may flip: at most 1 % of the hit cells may differ (IoU >= 0.99; none do at this size), and
    values agree to 1e-5 (100 ulp of coordinates of order 1: the intersection divides by the ray's
    angle to the triangle).
    """
    _, (depth, mask, k, rt) = scene
    resolution = 48
    sph = depth_to_spherical(*_torch(depth, mask, k, rt, dtype), SCALE, resolution)
    assert sph.shape == (3, resolution, resolution) and sph.dtype == dtype
    sph = sph.numpy()
    reference = _reference_partial_maps(depth, mask, k, rt, resolution)
    ours, theirs = sph < 1.0, reference < 1.0
    assert theirs.sum() > 500
    both = ours & theirs
    if dtype == torch.float64:
        np.testing.assert_array_equal(ours, theirs)
        np.testing.assert_allclose(sph, reference, rtol=0, atol=2.0**-25)
    else:
        assert both.sum() / (ours | theirs).sum() >= 0.99
        np.testing.assert_allclose(sph[both], reference[both], rtol=0, atol=1e-5)
        assert np.all(sph[~ours] == 1.0)
    # Seen from above, the table top crosses the north pole: rays of the first row hit it.
    assert ours[0, 0].sum() > resolution // 2
    # Values are distances from the unit sphere to surface points inside the ball of radius 0.5.
    assert sph[ours].min() >= 0.5 - 1e-6


def test_depth_to_spherical_with_wide_triangles():
    """Pixels 20 degrees wide on a plane through the centre: triangles span many cells, and some
    contain the grid's poles or pass next to the centre; the map is still the exact ray cast."""
    size = 5
    k = intrinsics(2.0, 4.0, size, size)
    r, t = look_at(camera_center(15.0, 10.0, 2.0))
    rt = np.concatenate([r, t[:, None]], axis=1)
    v, u = np.mgrid[0:size, 0:size].astype(np.float64)
    depth = 2.0 + 0.05 * (u - 2.0) + 0.01 * v  # a slanted plane near the centre
    mask = np.ones((size, size), bool)
    sph = depth_to_spherical(*_torch(depth[None], mask[None], k[None], rt[None], torch.float64), SCALE, 32)[0]
    reference = _reference_partial_maps(depth[None], mask[None], k[None], rt[None], 32)[0]
    assert (reference < 1.0).sum() > 300
    np.testing.assert_array_equal(sph.numpy() < 1.0, reference < 1.0)
    np.testing.assert_allclose(sph.numpy(), reference, rtol=0, atol=2.0**-25)


def test_depth_to_spherical_empty_and_gradient():
    k, rt = _camera(60.0, 15.0, 5)
    blank = torch.zeros(1, 5, 5, dtype=torch.float64)
    blank[0, 2, 2] = math.nan  # off the mask: neither a point nor a NaN gradient
    blank.requires_grad_()
    args = (torch.tensor(k[None]), torch.tensor(rt[None]))
    empty = depth_to_spherical(blank, torch.zeros(1, 5, 5, dtype=torch.bool), *args, SCALE, 8)
    assert empty.shape == (1, 8, 8) and torch.all(empty == 1.0)
    empty.sum().backward()
    assert torch.all(blank.grad == 0.0)
    # A bumpy surface close enough to the centre that its 5 x 5 pixels cover many cells.
    k = intrinsics(8.0, 32.0, 5, 5)
    rng = np.random.default_rng(1)
    depth = torch.tensor(2.4 + 0.05 * rng.standard_normal((1, 5, 5)), requires_grad=True)
    mask = torch.ones(1, 5, 5, dtype=torch.bool)
    args = (mask, torch.tensor(k[None]), torch.tensor(rt[None]), SCALE, 16)
    sph = depth_to_spherical(depth, *args)
    assert (sph < 1.0).sum() > 20
    (grad,) = torch.autograd.grad((sph * torch.rand_like(sph)).sum(), depth)
    assert (grad != 0).sum() >= 5
    assert torch.autograd.gradcheck(lambda d: depth_to_spherical(d, *args), (depth,))


def _reference_volume(depth, mask, k, rt, n):
    """back_projection_kernel.cu + shift_tdf + GenRe's clamp, by loops over pixels in NumPy."""
    total = np.zeros((len(depth), n, n, n))
    count = np.zeros((len(depth), n, n, n))
    for b in range(len(depth)):
        rows, cols = np.nonzero(mask[b] & (depth[b] > 0))
        world = unproject(k[b], rt[b], np.stack([cols, rows], 1).astype(np.float64), depth[b][rows, cols])
        for p in world @ world_to_view(rt[b], SCALE).T:
            i = np.floor((p + 0.5) * n).astype(int)
            if np.all((i >= 0) & (i < n)):
                total[b, i[0], i[1], i[2]] += np.linalg.norm(p - ((i + 0.5) / n - 0.5))
                count[b, i[0], i[1], i[2]] += 1
    tdf = np.where(count > 0, (1.0 / n + total - 1.0 / n) / np.maximum(count, 1), 1.0 / n)
    return np.clip(1.0 - n * tdf, 1e-5, 1 - 1e-5), count


def test_depth_to_volume_is_the_released_back_projection(scene):
    _, (depth, mask, k, rt) = scene
    n = 32
    volume = depth_to_volume(*_torch(depth, mask, k, rt, torch.float64), SCALE, n)
    assert volume.shape == (3, 1, n, n, n) and volume.dtype == torch.float64
    expected, count = _reference_volume(depth, mask, k, rt, n)
    np.testing.assert_allclose(volume[:, 0].numpy(), expected, rtol=0, atol=1e-12)
    occupied = count > 0
    assert occupied.sum() > 300
    assert np.all(expected[~occupied] == 1e-5) and expected[occupied].min() > 1.0 - math.sqrt(3.0) / 2.0
    single = depth_to_volume(*_torch(depth[1:2], mask[1:2], k[1:2], rt[1:2], torch.float32), SCALE, n)
    assert single.dtype == torch.float32
    np.testing.assert_allclose(single[0, 0].numpy(), expected[1], rtol=0, atol=1e-4)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_depth_to_volume_marks_the_seen_surface(scene, dtype):
    """Against recon's surface voxels (exact triangle-box overlap) in the view frame, n = 32.

    Every pixel's point lies on the mesh, so its voxel meets the mesh: float64 voxels holding points are
    surface voxels of the mesh; in float32 a point within rounding of a voxel face may fall into the
    neighbour, so within one voxel. Conversely the seen surface (the depth mesh) is marked within one
    voxel where its triangles are short: a triangle with edges <= 1/n has every point within 1/n of its
    corners along each axis, so each voxel (closed cube) it meets is within one voxel of the voxel of a
    corner, a pixel's point. Longer triangles (tilted up to the slope rule's 85 degrees) may cross
    voxels no pixel lands in, as in the release.
    """
    mesh, (depth, mask, k, rt) = scene
    n = 32
    spec = VoxelSpec(n, 0.5)
    volume = depth_to_volume(*_torch(depth, mask, k, rt, dtype), SCALE, n)[:, 0].numpy()
    cube = np.ones((3, 3, 3), bool)
    for b in range(len(depth)):
        m = world_to_view(rt[b], SCALE)
        occupied = volume[b] > 1e-5
        surface = surface_voxels(mesh.vertices @ m.T, mesh.faces, spec)
        if dtype == torch.float64:
            assert np.all(surface[occupied])
        else:
            assert np.all(ndimage.binary_dilation(surface, cube)[occupied])
        vertices, faces = depth_mesh(depth[b], mask[b], k[b], rt[b])
        vertices = vertices @ m.T
        edges = np.linalg.norm(vertices[faces] - vertices[np.roll(faces, 1, axis=1)], axis=-1).max(axis=1)
        seen = surface_voxels(vertices, faces[edges <= 1.0 / n], spec)
        assert seen.sum() > 150
        assert np.all(ndimage.binary_dilation(occupied, cube)[seen])


def test_depth_to_volume_gradient():
    k, rt = _camera(60.0, 15.0, 4)
    rng = np.random.default_rng(2)
    depth = torch.tensor(2.5 + 0.2 * rng.standard_normal((1, 4, 4)), requires_grad=True)
    mask = torch.ones(1, 4, 4, dtype=torch.bool)
    mask[0, 0, 0] = False
    args = (mask, torch.tensor(k[None]), torch.tensor(rt[None]), SCALE, 8)
    (grad,) = torch.autograd.grad(depth_to_volume(depth, *args).sum(), depth)
    assert grad[0, 0, 0] == 0.0 and (grad != 0).sum() >= 10
    assert torch.autograd.gradcheck(lambda d: depth_to_volume(d, *args), (depth,))


def test_spherical_to_volume_is_spherical_to_voxels(scene):
    """Occupied voxels equal recon's back-projection (upsample 1) exactly; values are the release's
    ``(1 - n tdf) * mask`` with tdf the mean distance of a voxel's points to its centre."""
    mesh, (_, _, _, rt) = scene
    n, r = 32, 48
    maps = np.stack([spherical_map(mesh.vertices @ world_to_view(x, SCALE).T, mesh.faces, r) for x in rt])
    assert (maps < 1.0).sum() > 3000
    maps[:, 20:30, 10:20] = 1.0  # background: the leg through the centre meets every ray
    volume, count = spherical_to_volume(torch.tensor(maps, dtype=torch.float64), n)
    assert volume.shape == count.shape == (3, 1, n, n, n)
    directions = sphere_grid(r)[0]
    for b in range(3):
        occupied = count[b, 0].numpy() > 0
        np.testing.assert_array_equal(occupied, spherical_to_voxels(maps[b], n, half_extent=0.5, upsample=1))
        hit = maps[b] < 1.0
        points = (1.0 - maps[b][hit].astype(np.float64))[:, None] * directions[hit]
        index = np.floor((points + 0.5) * n).astype(int)
        assert count[b].sum() == hit.sum()  # every point lies inside the cube
        total = np.zeros((n, n, n))
        np.add.at(total, tuple(index.T), np.linalg.norm(points - ((index + 0.5) / n - 0.5), axis=1))
        expected = np.where(occupied, 1.0 - n * total / np.maximum(count[b, 0].numpy(), 1), 0.0)
        np.testing.assert_allclose(volume[b, 0].numpy(), expected, rtol=0, atol=1e-12)
    # float32 (B, 1, R, R) maps: a point within rounding of a voxel face may change voxels.
    single, single_count = spherical_to_volume(torch.tensor(maps[:1, None]), n)
    assert single.dtype == torch.float32
    same = (single_count == count[:1]).numpy() & (count[:1].numpy() > 0)
    assert same.sum() >= 0.99 * (count[:1] > 0).sum()
    np.testing.assert_allclose(single.numpy()[same], volume[:1].numpy()[same], rtol=0, atol=1e-5)
    empty, none = spherical_to_volume(torch.ones(1, r, r), n)
    assert torch.all(empty == 0.0) and torch.all(none == 0.0)  # no point on the centre for s = 1


def test_spherical_to_volume_gradient():
    sph = torch.tensor(np.random.default_rng(3).uniform(0.55, 0.95, (1, 6, 6)), requires_grad=True)
    with torch.no_grad():
        sph[0, 2, 3] = 1.2  # a cell beyond the centre (no hit) gets no gradient
    volume, count = spherical_to_volume(sph, 8)
    assert count.sum() == 35
    (grad,) = torch.autograd.grad(volume.sum(), sph)
    assert grad[0, 2, 3] == 0.0 and (grad != 0).sum() == 35
    assert torch.autograd.gradcheck(lambda s: spherical_to_volume(s, 8)[0], (sph,))
