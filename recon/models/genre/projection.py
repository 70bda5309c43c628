"""GenRe's projections between depth images, spherical maps and voxels, in pure differentiable PyTorch.

The released GenRe (``xiumingzhang/GenRe-ShapeHD``) computes these with CUDA extensions
(``toolbox/cam_bp``) and ``toolbox/spherical_proj.py``. Here everything lives in recon's *view frame*
(:mod:`recon.geometry.view_frame`: ``x_view = M x_world``, ``M = s P R``, the shape inside
[-0.5, 0.5]^3, the camera looking along +x, image up = +z) and uses recon's spherical grid
(:func:`recon.voxelize.spherical.sphere_grid`: cell ``[a, b]`` has the direction ``u`` with polar angle
``(a + 1/2) pi / R`` from +z and azimuth ``2 pi b / R`` from +x toward +y; its value ``s`` is the
distance from the unit sphere toward the centre to the first hit, the point ``(1 - s) u``, and 1 where
the ray meets nothing). Cameras are OpenCV ``K`` (B, 3, 3) and world-to-camera ``[R|t]`` (B, 3, 4);
depth is camera z in world units, 0 off the mask.

- :func:`sph_pad` / :func:`sph_crop`: the released margin around spherical maps (longitude wraps,
  latitude repeats its edge rows).
- :func:`depth_points`: the view-frame point of every pixel centre.
- :func:`depth_to_spherical`: the partial spherical map of a depth image, the exact ray cast of its depth
  mesh (that of :func:`recon.voxelize.spherical.depth_mesh`, slope rule included), differentiable in the
  depth. GenRe renders it from the back-projected voxels instead (``toolbox/spherical_proj.py``
  ``render_spherical``: expected stopping depth along 256 samples per ray).
- :func:`depth_to_volume`: the released ``Camera_back_projection_layer`` (``back_projection_kernel.cu``):
  per voxel the mean distance of the pixels' points in it to its centre, shifted to ``1 - n * tdf``,
  clamped as GenRe feeds it to its refinement network.
- :func:`spherical_to_volume`: the released ``SphericalBackProjection`` as ``genre_full_model.py``
  ``backproject_spherical`` uses it: ``(1 - n * tdf)`` where a cell's point falls, 0 elsewhere.

Memory is O(points + voxels): points are scattered into voxels and cells by index, never compared
with every voxel or cell.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from recon.geometry.view_frame import CAMERA_TO_VIEW

__all__ = [
    "depth_points",
    "depth_to_spherical",
    "depth_to_volume",
    "sph_crop",
    "sph_pad",
    "sphere_directions",
    "spherical_to_volume",
    "world_to_view",
]

#: Lower and upper clamp of the depth volume as GenRe's refinement network receives it
#: (``genre_full_model.py`` ``torch.clamp(proj_depth / 50, 1e-5, 1 - 1e-5)``).
VOLUME_CLAMP = 1e-5


def sph_pad(sph: Tensor, margin: int = 16) -> Tensor:
    """GenRe's padding of spherical maps: columns (longitude) wrap, rows (latitude) repeat the edge.

    The released ``toolbox/spherical_proj.py`` ``sph_pad`` (replicate-pad all sides, then overwrite the
    side columns with the wrapped ones) and the ground-truth padding of
    ``depth_pred_with_sph_inpaint.py`` (``np.pad`` 'wrap' on columns, then 'edge' on rows) give the same
    map: the two paddings act on different axes and commute, so the corners hold the edge rows of the
    wrapped columns either way.

    Args:
        sph: (B, C, R, R) maps (any float dtype; also (..., R, R)).
        margin: m >= 0 cells added on each side, at most R.

    Returns:
        (B, C, R + 2m, R + 2m) padded maps.
    """
    m = int(margin)
    rows, cols = sph.shape[-2:]
    if m < 0 or m > cols:
        raise ValueError(f"margin must lie in [0, {cols}], got {margin}")
    if m == 0:
        return sph
    wrapped = torch.cat([sph[..., cols - m :], sph, sph[..., :m]], dim=-1)
    top = wrapped[..., :1, :].expand(*wrapped.shape[:-2], m, wrapped.shape[-1])
    bottom = wrapped[..., rows - 1 :, :].expand(*wrapped.shape[:-2], m, wrapped.shape[-1])
    return torch.cat([top, wrapped, bottom], dim=-2)


def sph_crop(sph: Tensor, margin: int = 16) -> Tensor:
    """The inverse of :func:`sph_pad`: (..., R + 2m, R + 2m) -> (..., R, R), as
    ``genre_full_model.py`` ``backproject_spherical`` crops the predicted map."""
    m = int(margin)
    if m < 0 or 2 * m >= min(sph.shape[-2:]):
        raise ValueError(f"margin {margin} does not fit maps of size {tuple(sph.shape[-2:])}")
    return sph[..., m : sph.shape[-2] - m, m : sph.shape[-1] - m]


def sphere_directions(resolution: int, dtype=torch.float32, device=None) -> Tensor:
    """(R, R, 3) unit ray directions ``u`` of the spherical grid (``voxelize.spherical.sphere_grid``).

    Computed in float64 NumPy by the same expressions and cast, so a float64 grid equals the NumPy one
    bit for bit (torch's sin and cos may round differently).
    """
    r = int(resolution)
    polar = (np.arange(r) + 0.5) * (math.pi / r)
    azimuth = np.arange(r) * (2.0 * math.pi / r)
    sp = np.sin(polar)[:, None]
    grid = np.stack(
        np.broadcast_arrays(sp * np.cos(azimuth)[None], sp * np.sin(azimuth)[None], np.cos(polar)[:, None]),
        axis=-1,
    )
    return torch.from_numpy(grid).to(dtype=dtype, device=device)


def _scale(scale, like: Tensor) -> Tensor:
    """``scale`` (a number or (B,)) as a (B or 1, 1, 1) tensor like ``like``."""
    return torch.as_tensor(scale, dtype=like.dtype, device=like.device).reshape(-1, 1, 1)


def _camera_to_view(like: Tensor) -> Tensor:
    return torch.as_tensor(CAMERA_TO_VIEW, dtype=like.dtype, device=like.device)


def world_to_view(Rt: Tensor, scale) -> Tensor:
    """(B, 3, 3) maps ``M = s P R`` of world points to view-frame points
    (:func:`recon.geometry.view_frame.world_to_view` for a batch).

    Args:
        Rt: (B, 3, 4) world-to-camera ``[R|t]`` (only ``R`` is used).
        scale: view scale ``s``, a number or (B,).
    """
    return _scale(scale, Rt) * (_camera_to_view(Rt) @ Rt[:, :, :3])


def _camera_centre_view(Rt: Tensor, scale) -> Tensor:
    """(B, 3) camera centres in the view frame: ``M (-R^T t) = -s P t``."""
    return -_scale(scale, Rt)[:, :, 0] * (Rt[:, :, 3] @ _camera_to_view(Rt).T)


def depth_points(depth: Tensor, mask: Tensor, K: Tensor, Rt: Tensor, scale) -> tuple[Tensor, Tensor]:
    """View-frame points of every pixel centre: ``M unproject(K, Rt, (u, v), depth[v, u])``.

    Pixel ``(u, v)`` (column u, row v, centres at integers) with depth d is the camera point
    ``d K^-1 (u, v, 1)``, the world point ``R^T (x_cam - t)`` and the view point
    ``s P R R^T (x_cam - t) = s P (x_cam - t)``, which is what is computed (the rotation cancels).

    Args:
        depth: (B, H, W) float depth (camera z, world units).
        mask: (B, H, W) bool foreground.
        K: (B, 3, 3) intrinsics.
        Rt: (B, 3, 4) world-to-camera ``[R|t]``.
        scale: ``s`` (:func:`recon.geometry.view_frame.view_scale`), a number or (B,).

    Returns:
        ``(points, valid)``: (B, H, W, 3) view-frame points (dtype of ``depth``; invalid pixels get the
        camera centre) and (B, H, W) bool ``mask & isfinite(depth) & depth > 0``.
    """
    _, height, width = depth.shape
    valid = mask.bool() & torch.isfinite(depth) & (depth > 0)
    d = torch.where(valid, depth, torch.zeros_like(depth))
    v, u = torch.meshgrid(
        torch.arange(height, dtype=depth.dtype, device=depth.device),
        torch.arange(width, dtype=depth.dtype, device=depth.device),
        indexing="ij",
    )
    pixels = torch.stack([u, v, torch.ones_like(u)], dim=-1)  # (H, W, 3)
    rays = torch.einsum("bij,hwj->bhwi", torch.linalg.inv(K.to(depth.dtype)), pixels)  # camera z = 1
    cam = rays * d[..., None] - Rt[:, None, None, :, 3].to(depth.dtype)
    points = _scale(scale, depth)[..., None] * (cam @ _camera_to_view(depth).T)
    return points, valid


def _triangles(points: Tensor, valid: Tensor, centre: Tensor, max_slope_deg: float) -> tuple[Tensor, Tensor]:
    """The depth mesh's triangles (:func:`recon.voxelize.spherical.depth_mesh`), in the view frame.

    Returns (T, 3, 3) corners (differentiable) and (T,) batch indices.
    """
    p00, p01 = points[:, :-1, :-1], points[:, :-1, 1:]
    p10, p11 = points[:, 1:, :-1], points[:, 1:, 1:]
    full = valid[:, :-1, :-1] & valid[:, :-1, 1:] & valid[:, 1:, :-1] & valid[:, 1:, 1:]
    tris = torch.stack([torch.stack([p00, p10, p01], -2), torch.stack([p01, p10, p11], -2)], dim=3)
    keep = full[..., None].expand(*full.shape, 2)
    batch = torch.nonzero(keep)[:, 0]
    tris = tris[keep]  # (T, 3, 3)
    with torch.no_grad():
        x0, x1, x2 = tris.unbind(1)
        n = torch.linalg.cross(x1 - x0, x2 - x0)
        g = (x0 + x1 + x2) / 3.0 - centre[batch]
        lhs = (n * g).sum(-1).abs()
        rhs = math.cos(math.radians(max_slope_deg)) * n.norm(dim=-1) * g.norm(dim=-1)
        kept = lhs > rhs
    return tris[kept], batch[kept]


def _candidate_cells(tris: Tensor, r: int) -> tuple[Tensor, Tensor, Tensor]:
    """Every (triangle, cell) pair whose ray may meet the triangle, from the triangle's angular box.

    The box holds the polar angles and azimuths of the corners' directions, one cell wider on each side
    (a great-circle edge bulges past its ends' polar angles by much less than a cell for the
    pixel-sized triangles of a depth mesh; its azimuth is monotonic). A triangle whose corner azimuths
    spread over more than pi/2 (one around or near a pole) takes whole rows up to that pole; one
    whose corners lie more than pi/8 apart seen from the centre (within about a triangle's size of
    it) takes every cell.

    Returns (N,) triangle indices, (N,) rows and (N,) columns.
    """
    device = tris.device
    with torch.no_grad():
        t = tris.detach().to(torch.float64)
        radius = t.norm(dim=-1).clamp_min(1e-300)
        unit = t / radius[..., None]
        polar = torch.acos((unit[..., 2]).clamp(-1.0, 1.0))
        azimuth = torch.atan2(unit[..., 1], unit[..., 0])
        offset = torch.remainder(azimuth - azimuth[:, :1] + math.pi, 2.0 * math.pi) - math.pi
        az_lo = azimuth[:, 0] + offset.min(1).values
        az_hi = azimuth[:, 0] + offset.max(1).values
        dp, da = math.pi / r, 2.0 * math.pi / r
        row0 = torch.ceil(polar.min(1).values / dp - 0.5).long() - 1
        row1 = torch.floor(polar.max(1).values / dp - 0.5).long() + 1
        col0 = torch.ceil(az_lo / da).long() - 1
        col1 = torch.floor(az_hi / da).long() + 1
        cosines = torch.stack([(unit[:, i] * unit[:, (i + 1) % 3]).sum(-1) for i in range(3)], 1)
        wide = cosines.min(1).values < math.cos(math.pi / 8)
        polar_cap = (az_hi - az_lo > math.pi / 2) | wide
        north = unit[..., 2].mean(1) > 0
        row0 = torch.where(polar_cap & north, torch.zeros_like(row0), row0)
        row1 = torch.where(polar_cap & ~north, torch.full_like(row1, r - 1), row1)
        row0 = torch.where(wide, torch.zeros_like(row0), row0).clamp(0, r - 1)
        row1 = torch.where(wide, torch.full_like(row1, r - 1), row1).clamp(0, r - 1)
        ncols = torch.where(polar_cap, torch.full_like(col0, r), (col1 - col0 + 1).clamp(max=r))
        col0 = torch.where(polar_cap, torch.zeros_like(col0), col0)
        nrows = (row1 - row0 + 1).clamp_min(0)
        counts = nrows * ncols
        tri = torch.repeat_interleave(torch.arange(len(t), device=device), counts)
        starts = torch.cumsum(counts, 0) - counts
        local = torch.arange(len(tri), device=device) - starts[tri]
        rows = row0[tri] + local // ncols[tri]
        cols = torch.remainder(col0[tri] + local % ncols[tri], r)
    return tri, rows, cols


def depth_to_spherical(
    depth: Tensor,
    mask: Tensor,
    K: Tensor,
    Rt: Tensor,
    scale,
    resolution: int = 128,
    max_slope_deg: float = 85.0,
) -> Tensor:
    """Partial spherical map of each depth image, in its view frame; differentiable in ``depth``.

    This is :func:`recon.voxelize.spherical.partial_spherical_map` with the depth mesh mapped into the
    view frame (``spherical_map(depth_mesh(...)[0] @ M.T, faces)``), computed exactly and in torch:
    the depth mesh's triangles (2 x 2 blocks of valid pixels, the slope rule of ``depth_mesh``, which
    is invariant under the scaled rotation ``M``) are paired with the cells of their angular box, each
    cell's ray ``u + s (-u)`` is intersected with the triangle (Moller-Trumbore; edges count) and each
    cell keeps the smallest ``s`` in [0, 1] (``scatter_reduce('amin')``), 1 where nothing is hit.
    The value is a smooth function of the three corners' depths, so the gradient reaches the depth of
    the pixels whose triangle each cell's ray meets first.

    GenRe renders its partial map from the back-projected voxels instead (``render_spherical``:
    grid_sample along 256 samples per ray and the expected stopping depth), which blurs the surface over
    a voxel; recon's ground truth (``spherical/view_partial``) is this ray cast.

    Args:
        depth: (B, H, W) float depth (camera z, world units).
        mask: (B, H, W) bool foreground.
        K: (B, 3, 3) intrinsics.
        Rt: (B, 3, 4) world-to-camera ``[R|t]``.
        scale: view scale ``s``, a number or (B,).
        resolution: R, the map's side.
        max_slope_deg: slope rule of :func:`recon.voxelize.spherical.depth_mesh`.

    Returns:
        (B, R, R) maps (dtype of ``depth``), values in [0, 1].
    """
    batch_size = depth.shape[0]
    r = int(resolution)
    points, valid = depth_points(depth, mask, K, Rt, scale)
    tris, batch = _triangles(points, valid, _camera_centre_view(Rt.to(depth.dtype), scale), max_slope_deg)
    out = torch.ones(batch_size * r * r, dtype=depth.dtype, device=depth.device)
    if len(tris) == 0:
        return out.reshape(batch_size, r, r) + 0.0 * points.sum()  # still in the graph; points are finite
    tri, rows, cols = _candidate_cells(tris, r)
    u = sphere_directions(r, depth.dtype, depth.device)[rows, cols]  # (N, 3) ray origins, direction -u
    x0, x1, x2 = tris[tri].unbind(1)
    e1, e2 = x1 - x0, x2 - x0
    pvec = torch.linalg.cross(-u, e2)
    det = (e1 * pvec).sum(-1)
    tol = 64.0 * torch.finfo(depth.dtype).eps
    ok = det.abs() > tol * e1.norm(dim=-1) * e2.norm(dim=-1)
    inv = 1.0 / torch.where(ok, det, torch.ones_like(det))
    tvec = u - x0
    bu = (tvec * pvec).sum(-1) * inv
    qvec = torch.linalg.cross(tvec, e1)
    bv = (-u * qvec).sum(-1) * inv
    s = (e2 * qvec).sum(-1) * inv
    hit = ok & (bu >= -tol) & (bv >= -tol) & (bu + bv <= 1.0 + tol) & (s >= 0.0) & (s <= 1.0)
    values = torch.where(hit, s, torch.ones_like(s))
    cell = (batch[tri] * r + rows) * r + cols
    out = out.scatter_reduce(0, cell, values, reduce="amin", include_self=True)
    return out.reshape(batch_size, r, r)


def _voxel_mean_distance(points: Tensor, batch: Tensor, batch_size: int, n: int) -> tuple[Tensor, Tensor]:
    """Per voxel of the n^3 grid over [-0.5, 0.5]^3: mean distance of its points to its centre, and count.

    A point marks the voxel ``floor((p + 0.5) n)`` (``VOXIND_TO_VOXC``); points outside mark nothing.
    Returns (B, n, n, n) mean distances (0 where empty) and (B, n, n, n) counts, dtype of ``points``.
    """
    with torch.no_grad():
        index = torch.floor((points.detach() + 0.5) * n).long()
        inside = ((index >= 0) & (index < n)).all(-1)
    index, points, batch = index[inside], points[inside], batch[inside]
    centre = (index.to(points.dtype) + 0.5) / n - 0.5
    dist = ((points - centre) ** 2).sum(-1).clamp_min(torch.finfo(points.dtype).tiny).sqrt()
    linear = ((batch * n + index[:, 0]) * n + index[:, 1]) * n + index[:, 2]
    size = batch_size * n**3
    total = torch.zeros(size, dtype=points.dtype, device=points.device).index_add(0, linear, dist)
    count = torch.zeros(size, dtype=points.dtype, device=points.device).index_add(
        0, linear, torch.ones_like(dist)
    )
    mean = total / count.clamp_min(1.0)
    shape = (batch_size, n, n, n)
    return mean.reshape(shape), count.reshape(shape)


def depth_to_volume(
    depth: Tensor, mask: Tensor, K: Tensor, Rt: Tensor, scale, resolution: int = 128
) -> Tensor:
    """GenRe's back-projected depth volume (``Camera_back_projection_layer``), in the view frame.

    Every valid pixel's view-frame point (:func:`depth_points`) falls in the voxel
    ``floor((p + 0.5) n)`` of the n^3 grid over [-0.5, 0.5]^3; a voxel holding points gets
    ``tdf = mean distance of its points to its centre`` (the kernel adds the distances to ``1 / n``,
    subtracts the bias ``1 / n`` again and divides by the count), an empty one ``tdf = 1 / n``; the
    layer shifts it to ``1 - n tdf`` (1 at the centre, down to ``1 - sqrt(3) / 2`` at a corner, 0
    where empty), and GenRe's refinement network receives ``clamp(50 * shifted / 50, 1e-5, 1 - 1e-5)``.
    The release casts its rays from a fixed camera on the -x axis with its own focal length and a
    ray-depth input; here they are the view's ``K, [R|t]`` and camera-z depth, mapped by ``M``.

    Args:
        depth: (B, H, W) float depth (camera z, world units).
        mask: (B, H, W) bool foreground.
        K: (B, 3, 3) intrinsics.
        Rt: (B, 3, 4) world-to-camera ``[R|t]``.
        scale: view scale ``s``, a number or (B,).
        resolution: n, voxels per axis (GenRe: 128).

    Returns:
        (B, 1, n, n, n) volume, axes x, y, z of the view frame, values in [1e-5, 1 - 1e-5]; voxels
        holding points are > 1 - sqrt(3)/2, empty ones exactly 1e-5.
    """
    n = int(resolution)
    points, valid = depth_points(depth, mask, K, Rt, scale)
    batch = torch.nonzero(valid)[:, 0]
    mean, count = _voxel_mean_distance(points[valid], batch, depth.shape[0], n)
    shifted = torch.where(count > 0, 1.0 - n * mean, torch.zeros_like(mean))
    return shifted.clamp(VOLUME_CLAMP, 1.0 - VOLUME_CLAMP)[:, None]


def spherical_to_volume(sph: Tensor, resolution: int = 128) -> tuple[Tensor, Tensor]:
    """GenRe's back-projected spherical map (``SphericalBackProjection`` in ``backproject_spherical``).

    Every cell ``[a, b]`` with value ``s < 1`` gives the point ``(1 - s) u`` (``u`` its grid direction)
    in the voxel ``floor((p + 0.5) n)`` of the n^3 grid over [-0.5, 0.5]^3 (points outside mark
    nothing); a voxel holding points gets ``1 - n * (mean distance of its points to its centre)``,
    an empty one 0. The release back-projects every cell with ``s <= 1``, so each cell that meets
    nothing (``s = 1``) puts its point on the centre, and the centre voxel is always marked; cells
    with ``s >= 1`` are skipped here, so the occupied voxels are those of
    :func:`recon.voxelize.spherical.spherical_to_voxels` (``half_extent=0.5, upsample=1``).

    Args:
        sph: (B, R, R) or (B, 1, R, R) maps (uncropped: :func:`sph_crop` a padded prediction first).
        resolution: n, voxels per axis (GenRe: 128; the release writes 128 for n in the shift).

    Returns:
        ``(volume, count)``: (B, 1, n, n, n) back-projection and (B, 1, n, n, n) number of cells per voxel,
        both of the dtype of ``sph``; the gradient reaches ``sph`` through the volume only.
    """
    if sph.dim() == 4:
        if sph.shape[1] != 1:
            raise ValueError(f"sph must be (B, R, R) or (B, 1, R, R), got {tuple(sph.shape)}")
        sph = sph[:, 0]
    batch_size, r, _ = sph.shape
    n = int(resolution)
    hit = (sph < 1.0).detach()
    directions = sphere_directions(r, sph.dtype, sph.device)
    points = (1.0 - sph[hit])[:, None] * directions[None].expand(batch_size, r, r, 3)[hit]
    batch = torch.nonzero(hit)[:, 0]
    mean, count = _voxel_mean_distance(points, batch, batch_size, n)
    volume = torch.where(count > 0, 1.0 - n * mean, torch.zeros_like(mean))
    return volume[:, None], count[:, None]
