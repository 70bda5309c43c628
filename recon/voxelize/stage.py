"""The voxelize stage of one shape: voxel grids, an octree and spherical maps, in one store.

Reads the shape's ingest store (the normalized mesh), its SDF store (the grid, for the sign and
the octree's leaf features) and its render store (depth and cameras, for the per-view partial
spherical maps and, with ``voxelize.view_aligned.enabled``, the viewer-centred voxels and maps in
each view's frame, ``recon.geometry.view_frame``), and writes
``results/voxelize/shapes/<category>/<shape_id>.zarr`` plus a ``.binvox`` file (layout:
``docs/data_format.md`` §5.4). Nothing here is random.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from recon.geometry.grid import GridSpec
from recon.geometry.normalize import HALF_EXTENT
from recon.geometry.view_frame import CAMERA_TO_VIEW, VIEW_HALF_EXTENT, view_scale, world_to_view
from recon.geometry.voxels import VoxelSpec, solid_voxels, surface_voxels, view_aligned_voxels
from recon.io.store import open_store, provenance, write_array, write_store
from recon.voxelize.binvox import write_binvox
from recon.voxelize.octree import EMPTY, build_octree, node_centres, node_counts
from recon.voxelize.spherical import partial_spherical_map, sphere_grid, spherical_map

__all__ = ["half_extent", "leaf_features", "voxelize_shape"]

log = logging.getLogger(__name__)


def half_extent(config: Mapping) -> float:
    """``voxelize.half_extent``, or the normalization's cube when it is null."""
    value = config["voxelize"]["half_extent"]
    return float(value) if value is not None else HALF_EXTENT[config["ingest"]["normalization"]]


def _trilinear(grid: np.ndarray, spec: GridSpec, points: np.ndarray) -> np.ndarray:
    from scipy.ndimage import map_coordinates

    coords = ((np.asarray(points, dtype=np.float64) - spec.lo) / spec.spacing).T
    return map_coordinates(grid, coords, order=1, mode="nearest")


def leaf_features(grid: np.ndarray, spec: GridSpec, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """SDF and unit normal of the SDF grid at (N, 3) points: (N,) float32, (N, 3) float32.

    The SDF is trilinear in the grid; the normal is its gradient by central differences one node
    spacing apart along each axis, normalized (zero where the gradient vanishes).
    """
    grid = np.asarray(grid, dtype=np.float32)
    sdf = _trilinear(grid, spec, points).astype(np.float32)
    h = spec.spacing
    gradient = np.stack(
        [
            _trilinear(grid, spec, points + h * axis) - _trilinear(grid, spec, points - h * axis)
            for axis in np.eye(3)
        ],
        axis=1,
    )
    norm = np.linalg.norm(gradient, axis=1, keepdims=True)
    normal = np.divide(gradient, norm, out=np.zeros_like(gradient), where=norm > 0)
    return sdf, normal.astype(np.float32)


def _render_views(render_store: Path | str | None):
    if render_store is None:
        return None
    render = open_store(render_store)
    return {
        "depth": render["views/depth"],
        "mask": render["views/mask"],
        "K": np.asarray(render["cameras/K"][...]),
        "Rt": np.asarray(render["cameras/Rt"][...]),
    }


def voxelize_shape(
    ingest_store: Path | str,
    sdf_store: Path | str,
    render_store: Path | str | None,
    out_store: Path | str,
    binvox_path: Path | str,
    config: Mapping,
) -> dict:
    """Compute and store the voxels, octree and spherical maps of one shape.

    Args:
        ingest_store: the shape's ingest store (``mesh/vertices``, ``mesh/faces``, world frame).
        sdf_store: its SDF store (``grid/sdf``).
        render_store: its render store (``views/depth``, ``views/mask``, ``cameras/K``,
            ``cameras/Rt``); None skips the per-view arrays.
        out_store: the voxelize store to write (atomically).
        binvox_path: the ``.binvox`` file of the filled voxels at ``voxelize.binvox`` resolution.
        config: a mapping holding the config's ``ingest.normalization`` and ``voxelize`` (all this
            reads and records; voxelizing draws no random numbers, so no ``seed``).

    Returns:
        A summary: ``category``, ``shape_id``, filled voxels per resolution and octree node counts.
    """
    cfg = config["voxelize"]
    ingest = open_store(ingest_store)
    attrs = dict(ingest.attrs)
    category, shape_id = attrs["shape"]["category"], attrs["shape"]["shape_id"]
    vertices = np.asarray(ingest["mesh/vertices"][...], dtype=np.float64)
    faces = np.asarray(ingest["mesh/faces"][...], dtype=np.int64)
    sdf = open_store(sdf_store)["grid/sdf"]
    g = dict(sdf.attrs)
    gspec = GridSpec.from_attrs(g)
    grid = np.asarray(sdf[...])
    h = half_extent(config)

    depth = int(cfg["octree"]["depth"])
    resolutions = sorted({int(r) for r in cfg["resolutions"]} | {2**depth})
    if int(cfg["binvox"]) not in resolutions:
        raise ValueError(
            f"voxelize.binvox = {cfg['binvox']} must be one of voxelize.resolutions {resolutions}"
        )
    solid, surface = {}, {}
    for n in resolutions:
        spec = VoxelSpec(n, h)
        solid[n] = solid_voxels(vertices, faces, spec, grid, gspec)
        surface[n] = surface_voxels(vertices, faces, spec)

    octree = build_octree(solid[2**depth] | surface[2**depth], depth)
    leaf_sdf, leaf_normal = leaf_features(grid, gspec, node_centres(octree, depth, h))

    s = cfg["spherical"]
    full_map = spherical_map(vertices, faces, int(s["resolution"]))
    views = _render_views(render_store)
    partial = None
    if views is not None and s["partial"]:
        partial = np.stack(
            [
                partial_spherical_map(
                    np.asarray(views["depth"][v]),
                    np.asarray(views["mask"][v]),
                    views["K"][v],
                    views["Rt"][v],
                    int(s["resolution"]),
                    float(s["max_slope_deg"]),
                )
                for v in range(len(views["K"]))
            ]
        )
    va = cfg["view_aligned"]
    viewer = None
    if views is not None and va["enabled"]:
        scale = view_scale(config["ingest"]["normalization"])
        maps = world_to_view(views["Rt"], scale)
        r = int(s["resolution"])
        viewer = {
            "views/voxels": view_aligned_voxels(vertices, faces, maps, int(va["resolution"]), grid, gspec),
            "spherical/view_full": np.stack([spherical_map(vertices @ m.T, faces, r) for m in maps]),
            "spherical/view_partial": np.stack(
                [
                    partial_spherical_map(
                        np.asarray(views["depth"][v]),
                        np.asarray(views["mask"][v]),
                        views["K"][v],
                        views["Rt"][v],
                        r,
                        float(s["max_slope_deg"]),
                        transform=m,
                    )
                    for v, m in enumerate(maps)
                ]
            ),
        }

    counts = node_counts(octree)
    summary = {
        "category": category,
        "shape_id": shape_id,
        "filled": {str(n): int(np.sum(solid[n] | surface[n])) for n in resolutions},
        "octree_nodes": [c["nodes"] for c in counts],
    }
    polar, azimuth = sphere_grid(int(s["resolution"]))[1:]
    store_attrs = {
        "shape": attrs["shape"],
        "voxels": {
            "half_extent": h,
            "resolutions": resolutions,
            "voxel": "voxel [i, j, k] = closed cube -h + [i, i+1] * 2h/n (x, y, z); centre at +0.5",
        },
        "octree": {"depth": depth, "counts": counts},
        "spherical": {
            "resolution": int(s["resolution"]),
            "polar_deg": [float(np.degrees(polar[0])), float(np.degrees(polar[-1]))],
            "azimuth_deg": [float(np.degrees(azimuth[0])), float(np.degrees(azimuth[-1]))],
            "max_slope_deg": float(s["max_slope_deg"]),
        },
        "summary": summary,
        "provenance": provenance(
            "voxelize",
            {"ingest": {"normalization": config["ingest"]["normalization"]}, "voxelize": cfg},
            None,
            attrs["provenance"]["source_sha256"],
        ),
    }
    if viewer is not None:
        store_attrs["view_frame"] = {
            "scale": scale,
            "camera_to_view": CAMERA_TO_VIEW.tolist(),
            "half_extent": VIEW_HALF_EXTENT,
            "map": "x_view = scale * camera_to_view @ R_v @ x_world, R_v = cameras/Rt[v, :, :3]",
        }
    with write_store(out_store, store_attrs) as root:
        for n in resolutions:
            for name, data in (("solid", solid[n]), ("surface", surface[n])):
                write_array(root, f"voxels/{n}/{name}", data, ("x", "y", "z"), attributes={"half_extent": h})
        for level in range(depth + 1):
            prefix = f"octree/level_{level}"
            write_array(root, f"{prefix}/keys", octree.keys[level].astype(np.uint32), ("node",))
            write_array(root, f"{prefix}/state", octree.state[level], ("node",))
            write_array(root, f"{prefix}/child", octree.child[level], ("node",))
        last = f"octree/level_{depth}"
        write_array(root, f"{last}/sdf", leaf_sdf, ("node",), attributes={"sign": "negative inside"})
        write_array(root, f"{last}/normal", leaf_normal.astype(np.float16), ("node", "xyz"))
        write_array(root, "spherical/full", full_map, ("polar", "azimuth"))
        if partial is not None:
            write_array(root, "spherical/partial", partial, ("view", "polar", "azimuth"))
        if viewer is not None:  # each array carries the frame too, so that the packed arrays keep it
            dims = {"views/voxels": ("view", "x_view", "y_view", "z_view")}
            for name, data in viewer.items():
                dim = dims.get(name, ("view", "polar", "azimuth"))
                write_array(root, name, data, dim, attributes={"view_frame": store_attrs["view_frame"]})
    write_binvox(binvox_path, solid[int(cfg["binvox"])] | surface[int(cfg["binvox"])], h)
    log.info(
        "%s/%s: filled voxels %s, octree nodes per level %s, %d empty leaves at depth %d",
        category,
        shape_id,
        summary["filled"],
        summary["octree_nodes"],
        int(np.sum(octree.state[depth] == EMPTY)),
        depth,
    )
    return summary
