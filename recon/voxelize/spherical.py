"""GenRe's spherical maps of a shape, of one rendered view, and their back-projection to voxels.

GenRe (Zhang et al. 2018, ``xiumingzhang/GenRe-ShapeHD``) represents a shape by a 128 x 128
spherical depth map: rays start on the unit sphere and point at its centre, and each map cell holds
the distance along its ray to the first surface hit, 1 where the ray meets nothing before the
centre (values above 1 are clamped to 1).

**Grid** (:func:`sphere_grid`), as GenRe's ``make_sgrid(b=64)`` in ``util/util_sph.py`` and
``gen_sph_grid`` in ``toolbox/spherical_proj.py``: ``phi = np.linspace(0, 180, 2R + 1)[1::2]``
and ``theta = np.linspace(0, 360, R + 1)[:-1]`` (degrees), ``grid[a, b] = (sin phi_a cos theta_b,
sin phi_a sin theta_b, cos phi_a)``, reshaped row-major to (R*R, 3) for the ray cast and the
distances back to (R, R). So map cell ``[a, b]`` (row a, column b) has polar angle (from +z)
``polar[a] = (a + 1/2) * pi / R``, cell centres strictly inside (0, pi), and azimuth (from +x toward
+y) ``azimuth[b] = 2 pi b / R``, starting at 0. GenRe computes it with ``np.linspace`` in
degrees and does not call lie_learn; lie_learn's ``S2.meshgrid(b, 'SOFT')`` (``beta_j = pi (2j + 1)
/ (4b)``, ``alpha_k = pi k / b``, indexing ``'ij'``, then ``change_coordinates`` with the same
``(sin beta cos alpha, sin beta sin alpha, cos beta)``) is the same grid in the same layout, up to
rounding. The ray of cell ``[a, b]`` starts at ``u = directions[a, b]`` (on the unit sphere)
and runs along ``-u``; a hit at distance ``s`` is the point ``(1 - s) u``.

**Scale.** GenRe puts its shapes into the cube [-0.5, 0.5]^3 (the 128^3 voxel grid of its
refinement network) and casts from the unit sphere around it. recon casts from the unit sphere
of its world frame, in which every normalized shape lies (``docs/data_format.md`` §1.1): with
``unit_sphere`` normalization the surface touches the sphere, so values reach down to 0. GenRe's
maps are viewer-centred (``depth_to_mesh_df`` back-projects the depth with the camera on the -x
axis, looking at the centre). recon's ``spherical/full`` and ``spherical/partial`` are in the world
frame, the poles of the grid on world +-z, and a view enters only through its camera ``K, [R|t]``;
its viewer-centred maps (``spherical/view_full``, ``spherical/view_partial``) use the same grid in
each view's frame (``recon.geometry.view_frame``: camera on the -x axis, image up +z, shape inside
radius 0.5), the mesh mapped into that frame first (``spherical_map(vertices @ M.T, faces)``,
``partial_spherical_map(..., transform=M)``).

**Partial maps.** GenRe's ``render_spherical`` turns a predicted depth image into a mesh through
a truncated distance field: it resizes the depth to 480 px, back-projects it into a point cloud,
averages point-to-voxel-centre distances into a 128^3 grid over [-0.5, 0.5]^3
(``util_img.depth_to_mesh_df``), extracts the 0.999/128 level set with marching cubes (a closed
shell about one voxel thick around the visible points) and ray casts that. :func:`depth_mesh`
meshes the depth image directly instead: its vertices are the back-projected pixel centres, so the
surface is not quantized to a voxel grid and not thickened into a shell, and depth discontinuities
are cut by a slope rule rather than by the gaps between occupied voxels.

**Back-projection** (:func:`spherical_to_voxels`): GenRe's refinement network receives the map
back-projected into voxels, ``SphericalBackProjection(1 - sph, grid)`` in
``toolbox/cam_bp``: every cell becomes the point ``(1 - value) * u`` and marks the voxel holding
it. :func:`spherical_to_voxels` does the same (as occupancy, not GenRe's averaged distances) and
adds bilinearly interpolated points between cells, so that a closed surface gives a closed shell.
"""

from __future__ import annotations

import math

import numpy as np

from recon.geometry.cameras import unproject
from recon.geometry.raycast import first_hit

__all__ = [
    "depth_mesh",
    "partial_spherical_map",
    "sphere_grid",
    "spherical_map",
    "spherical_to_voxels",
]


def _directions(polar: np.ndarray, azimuth: np.ndarray) -> np.ndarray:
    """(..., 3) unit vectors ``(sin p cos q, sin p sin q, cos p)`` for broadcast angle arrays."""
    sp = np.sin(polar)
    return np.stack(np.broadcast_arrays(sp * np.cos(azimuth), sp * np.sin(azimuth), np.cos(polar)), axis=-1)


def sphere_grid(resolution: int = 128) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """GenRe's equirectangular grid of ray start points on the unit sphere.

    Map cell ``[a, b]`` has the unit direction ``(sin p cos q, sin p sin q, cos p)`` with polar
    angle ``p = polar[a] = (a + 1/2) pi / R`` (from +z) and azimuth ``q = azimuth[b] = 2 pi b / R``
    (from +x toward +y): rows run from the north (+z) to the south pole, columns eastward from +x.
    This is GenRe's ``make_sgrid(b=R/2)`` (module docstring).

    Args:
        resolution: R, the map's side, >= 1 (GenRe: 128).

    Returns:
        ``(directions, polar, azimuth)``: (R, R, 3) float64 unit vectors, (R,) float64 polar
        angles in (0, pi) and (R,) float64 azimuths in [0, 2 pi), both in radians.
    """
    r = int(resolution)
    if r < 1:
        raise ValueError(f"resolution must be >= 1, got {resolution}")
    polar = (np.arange(r) + 0.5) * (math.pi / r)
    azimuth = np.arange(r) * (2.0 * math.pi / r)
    return _directions(polar[:, None], azimuth[None, :]), polar, azimuth


def spherical_map(vertices, faces, resolution: int = 128) -> np.ndarray:
    """GenRe's spherical map of a mesh: distance from the unit sphere to the surface toward the centre.

    Cell ``[a, b]`` casts the ray ``u + s (-u)``, ``u = sphere_grid(R)[0][a, b]``, and holds the
    smallest ``s`` in [0, 1] at which it meets a triangle (:func:`recon.geometry.raycast.first_hit`),
    1 where it meets none before the centre (GenRe clamps its distances at 1 the same way).

    Args:
        vertices: (V, 3) float vertices in the world frame.
        faces: (F, 3) int triangles (F may be 0: the map is all ones).
        resolution: R, the map's side.

    Returns:
        (R, R) float32 map with values in [0, 1].
    """
    directions = sphere_grid(resolution)[0].reshape(-1, 3)
    t, _ = first_hit(vertices, faces, directions, -directions, max_distance=1.0)
    r = int(resolution)
    return np.minimum(t, 1.0).astype(np.float32).reshape(r, r)


def depth_mesh(depth, mask, k, rt, max_slope_deg: float = 85.0) -> tuple[np.ndarray, np.ndarray]:
    """The surface seen in one depth image, as a triangle mesh in the world frame.

    Every valid pixel (``mask`` true, depth finite and > 0) becomes the vertex
    ``unproject(k, rt, (u, v), depth[v, u])`` at its pixel centre, in row-major pixel order. Each
    2 x 2 block of valid pixels with corners ``p00 = (v, u)``, ``p01 = (v, u + 1)``,
    ``p10 = (v + 1, u)``, ``p11 = (v + 1, u + 1)`` gives the triangles ``(p00, p10, p01)`` and
    ``(p01, p10, p11)``, wound counter-clockwise as seen from the camera (normals toward it).

    **Slope rule.** A triangle is dropped where it is tilted more than ``max_slope_deg`` away from
    facing the camera: with ``n = (x1 - x0) x (x2 - x0)`` its normal, ``g = (x0 + x1 + x2) / 3 - C``
    the viewing ray to its centroid and ``C = -R^T t`` the camera centre, it is kept iff

        ``|n . g| > cos(max_slope_deg) |n| |g|``.

    Two pixel rays an angle ``delta`` apart that meet a plane tilted by ``theta`` at distance ``rho``
    differ in length by about ``rho delta tan(theta)``; bounding the tilt is the exact form of
    bounding the depth jump between a triangle's corners by that amount. A jump between separate
    parts at a silhouette, or between a part and the background, gives triangles nearly parallel to
    the viewing rays (tilt near 90 degrees), which are dropped, so they do not become walls.

    Args:
        depth: (H, W) float depth image (camera z, world units).
        mask: (H, W) bool foreground mask.
        k: (3, 3) intrinsics.
        rt: (3, 4) world-to-camera ``[R|t]``.
        max_slope_deg: largest kept tilt in degrees, in (0, 90].

    Returns:
        ``(vertices, faces)``: (M, 3) float64 world-frame vertices (one per valid pixel) and
        (F, 3) int64 triangles.
    """
    depth = np.asarray(depth, dtype=np.float64)
    mask = np.asarray(mask, dtype=bool)
    if depth.ndim != 2 or mask.shape != depth.shape:
        raise ValueError(f"depth and mask must both be (H, W), got {depth.shape} and {mask.shape}")
    if not 0.0 < max_slope_deg <= 90.0:
        raise ValueError(f"max_slope_deg must lie in (0, 90], got {max_slope_deg}")
    rt = np.asarray(rt, dtype=np.float64)
    valid = mask & np.isfinite(depth) & (depth > 0.0)
    rows, cols = np.nonzero(valid)
    index = np.full(depth.shape, -1, np.int64)
    index[rows, cols] = np.arange(len(rows))
    uv = np.stack([cols, rows], axis=1).astype(np.float64)
    vertices = unproject(k, rt, uv, depth[rows, cols]) if len(rows) else np.zeros((0, 3))
    p00, p01 = index[:-1, :-1], index[:-1, 1:]
    p10, p11 = index[1:, :-1], index[1:, 1:]
    full = (p00 >= 0) & (p01 >= 0) & (p10 >= 0) & (p11 >= 0)
    a, b, c, d = p00[full], p01[full], p10[full], p11[full]
    faces = np.concatenate([np.stack([a, c, b], axis=1), np.stack([b, c, d], axis=1)])
    if len(faces):
        x0, x1, x2 = vertices[faces[:, 0]], vertices[faces[:, 1]], vertices[faces[:, 2]]
        n = np.cross(x1 - x0, x2 - x0)
        centre = -rt[:, :3].T @ rt[:, 3]
        g = (x0 + x1 + x2) / 3.0 - centre
        lhs = np.abs(np.einsum("ij,ij->i", n, g))
        rhs = math.cos(math.radians(max_slope_deg)) * np.linalg.norm(n, axis=1) * np.linalg.norm(g, axis=1)
        faces = faces[lhs > rhs]
    return vertices, faces.reshape(-1, 3).astype(np.int64)


def partial_spherical_map(
    depth, mask, k, rt, resolution: int = 128, max_slope_deg: float = 85.0, transform=None
) -> np.ndarray:
    """Spherical map of the surface seen in one view: :func:`spherical_map` of :func:`depth_mesh`.

    This is GenRe's single-view (partial) spherical map, ``util_sph.render_spherical``, computed
    from the depth mesh directly rather than through GenRe's TDF and marching cubes (module
    docstring). Cells whose ray meets no seen surface before the centre hold 1. With ``transform``
    the depth mesh's world vertices ``x`` become ``transform @ x`` before the cast: the view
    frame's map with ``recon.geometry.view_frame.world_to_view`` of the view.

    Args:
        depth: (H, W) float depth image (camera z, world units).
        mask: (H, W) bool foreground mask.
        k: (3, 3) intrinsics.
        rt: (3, 4) world-to-camera ``[R|t]``.
        resolution: R, the map's side.
        max_slope_deg: slope rule of :func:`depth_mesh`.
        transform: optional (3, 3) float linear map of world points into the frame of the map.

    Returns:
        (R, R) float32 map with values in [0, 1].
    """
    vertices, faces = depth_mesh(depth, mask, k, rt, max_slope_deg=max_slope_deg)
    if transform is not None:
        vertices = vertices @ np.asarray(transform, dtype=np.float64).T
    return spherical_map(vertices, faces, resolution)


def spherical_to_voxels(
    sph, resolution: int = 128, half_extent: float = 1.0, upsample: int = 2
) -> np.ndarray:
    """Voxels holding the surface points of a spherical map (GenRe's spherical back-projection).

    Every cell ``[a, b]`` of the (R, R) map with value ``s < 1`` gives the point ``(1 - s) u`` with
    ``u = sphere_grid(R)[0][a, b]``: its ray's start on the unit sphere moved ``s`` toward the centre.

    With ``upsample = m > 1`` every block of cells ``[a .. a + 1, b .. b + 1]`` (``a <= R - 2``,
    column ``b + 1`` taken modulo R, since the azimuth wraps around) whose four values are all < 1
    also gives the points at the finer grid positions ``(a + i/m, b + j/m)``, ``0 <= i, j < m``,
    ``(i, j) != (0, 0)``: polar angle ``polar[a] + (i/m) pi / R``, azimuth ``azimuth[b] +
    (j/m) 2 pi / R``, and the value interpolated bilinearly between the four cells. Points are then
    closer together than a voxel wherever the map is, so a closed surface gives a closed shell. No
    point is interpolated across the poles (beyond the first and last rows).

    A point marks the voxel ``floor((p + h) / (2h / n))`` (per axis) of the n^3 grid over
    ``[-h, h]^3``; points outside the cube mark nothing.

    Args:
        sph: (R, R) float spherical map in the :func:`sphere_grid` layout.
        resolution: n, voxels per axis.
        half_extent: h, half the cube's side.
        upsample: m >= 1, finer positions per cell and axis.

    Returns:
        (n, n, n) bool occupancy, axes x, y, z.
    """
    sph = np.asarray(sph, dtype=np.float64)
    if sph.ndim != 2 or sph.shape[0] != sph.shape[1] or sph.shape[0] < 1:
        raise ValueError(f"sph must be a square (R, R) map, got {sph.shape}")
    n = int(resolution)
    m = int(upsample)
    if n < 1 or m < 1 or not half_extent > 0:
        raise ValueError(f"need resolution >= 1, upsample >= 1, half_extent > 0; got {n}, {m}, {half_extent}")
    r = sph.shape[0]
    directions, polar, azimuth = sphere_grid(r)
    hit = sph < 1.0
    points = [((1.0 - sph[hit])[:, None] * directions[hit])]
    if m > 1 and r > 1:
        v00, v01 = sph[:-1], np.roll(sph, -1, axis=1)[:-1]
        v10, v11 = sph[1:], np.roll(sph, -1, axis=1)[1:]
        blocks = (v00 < 1.0) & (v01 < 1.0) & (v10 < 1.0) & (v11 < 1.0)
        ia, ib = np.nonzero(blocks)
        for i in range(m):
            for j in range(m):
                if i == 0 and j == 0:
                    continue
                wa, wb = i / m, j / m
                value = (
                    (1 - wa) * (1 - wb) * v00[ia, ib]
                    + (1 - wa) * wb * v01[ia, ib]
                    + wa * (1 - wb) * v10[ia, ib]
                    + wa * wb * v11[ia, ib]
                )
                u = _directions(polar[ia] + wa * (math.pi / r), azimuth[ib] + wb * (2.0 * math.pi / r))
                points.append((1.0 - value)[:, None] * u)
    p = np.concatenate(points)
    h = float(half_extent)
    idx = np.floor((p + h) / (2.0 * h / n)).astype(np.int64)
    inside = np.all((idx >= 0) & (idx < n), axis=1)
    occupancy = np.zeros((n, n, n), dtype=bool)
    occupancy[idx[inside, 0], idx[inside, 1], idx[inside, 2]] = True
    return occupancy
