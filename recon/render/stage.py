"""Render every view of a shape into its render store.

Frames. Poses are drawn in the *render frame* of their pose set's anchors: the raw mesh with its
bounding-box centre at the origin and bounding-box diagonal 1 (ShapeNet v2's normalization,
and the size of ShapeNetCore v1's models), so that DISN's and 3D-R2N2's camera distances
(ratio x 1.75) frame objects as their renders do. Every stored camera and depth is then
converted to the world frame (the normalized object frame of the ingest stage):
``x_render = a * x_world + b``, hence ``R_world = R``, ``t_world = (R @ (b + shift) + t) / a``
and ``depth_world = depth_render / a``. ``K`` is unchanged.

Each view's pose comes from ``rng(seed, "render", category, shape_id, view, attempt)``; a pose
whose geometry pass touches the image border is redrawn with the next ``attempt``, up to
``max_attempts`` (the last pose is kept, and flagged, if none fits).
"""

from __future__ import annotations

import dataclasses
import logging
import posixpath
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from recon.geometry.cameras import blender_camera_matrix_world, extrinsics, intrinsics
from recon.geometry.references import dropped_note
from recon.io.images import contact_sheet as compose_contact_sheet
from recon.io.images import to_rgba8, write_png
from recon.io.store import open_store, provenance, write_array, write_store
from recon.render.lighting import lighting_for_view
from recon.render.poses import PoseSet
from recon.seeding import rng

__all__ = ["render_frame", "render_shape", "touches_border"]

log = logging.getLogger(__name__)


def render_frame(ingest_attrs: Mapping) -> tuple[float, np.ndarray, np.ndarray]:
    """The render frame of a shape from its ingest store attributes.

    Returns:
        ``(a, b, raw_to_render)``: ``x_render = a * x_world + b`` with ``b`` (3,) float64, and
        the (4, 4) float64 matrix taking the raw file's coordinates to the render frame.
    """
    ledger = ingest_attrs["ledger"]
    norm = ingest_attrs["normalization"]
    lo, hi = np.asarray(ledger["bbox_min"], float), np.asarray(ledger["bbox_max"], float)
    centre, diagonal = (lo + hi) / 2.0, float(np.linalg.norm(hi - lo))
    scale, norm_centre = float(norm["scale"]), np.asarray(norm["center"], float)
    raw_to_render = np.eye(4) / diagonal
    raw_to_render[3, 3] = 1.0
    raw_to_render[:3, 3] = -centre / diagonal
    return 1.0 / (scale * diagonal), (norm_centre - centre) / diagonal, raw_to_render


def touches_border(mask: np.ndarray) -> bool:
    """Whether a (H, W) bool mask has a pixel on the image border."""
    return bool(mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())


def render_shape(
    renderer,
    *,
    ingest_store: Path | str,
    source_root: Path | str,
    pose_set: PoseSet,
    config: Mapping,
    out_store: Path | str,
    contact_sheet: Path | str | None = None,
) -> dict:
    """Render all views of one shape and write its render store (and contact sheet).

    Args:
        renderer: a :class:`recon.render.blender.BlenderRenderer` of ``pose_set``'s image size.
        ingest_store: the shape's ingest store (normalization, source file).
        source_root: root folder of the raw meshes. Blender reads a sanitized copy of the
            shape's files (:meth:`recon.render.blender.BlenderRenderer.load_shape`): nothing
            outside the shape's folder (the ingest store's ``shape.folder``).
        pose_set: the camera pose set (views, image size, distributions).
        config: the resolved config (``seed`` and ``render`` are recorded in provenance).
        out_store: output store path, written atomically.
        contact_sheet: output PNG path, or None.

    Returns:
        Summary: ``views``, ``redraws`` (total), ``border_views`` (views kept touching the border).
    """
    attrs = dict(open_store(ingest_store).attrs)
    shape = attrs["shape"]
    category, shape_id = shape["category"], shape["shape_id"]
    a, b, raw_to_render = render_frame(attrs)
    # The shape's folder, recorded by ingest (stores that predate it: the mesh's own folder).
    folder = shape.get("folder", posixpath.dirname(shape["source_path"]))
    dropped = renderer.load_shape(
        Path(source_root) / shape["source_path"], shape["source_format"], Path(source_root) / folder
    )
    if dropped:
        log.warning("%s/%s: %s", category, shape_id, dropped_note(dropped))
    max_attempts = int(config["render"]["max_attempts"])
    lighting = config["render"]["lighting"]
    seed = int(config["seed"])
    width, height = pose_set.width, pose_set.height
    out = {k: [] for k in ("rgba", "mask", "depth", "normal", "albedo", "K", "Rt", "attempts", "border")}
    poses = []
    for view in range(pose_set.views):
        for attempt in range(max_attempts):
            pose = pose_set.draw(rng(seed, "render", category, shape_id, view, attempt), view, attempt)
            centred = dataclasses.replace(pose, shift=(0.0, 0.0, 0.0))
            rt0 = extrinsics(centred)
            renderer.set_camera(blender_camera_matrix_world(rt0), pose.focal_mm, pose.sensor_mm)
            move = np.eye(4)
            move[:3, 3] = pose.shift
            renderer.set_object_matrix(move @ raw_to_render)
            geo = renderer.render_geometry()
            if not touches_border(geo["mask"]):
                break
            log.info(
                "%s/%s view %d: pose touches the border, redraw %d", category, shape_id, view, attempt + 1
            )
        border = touches_border(geo["mask"])
        if border:
            log.warning(
                "%s/%s view %d still touches the border after %d draws",
                category,
                shape_id,
                view,
                max_attempts,
            )
        renderer.set_lighting(lighting_for_view(lighting, seed, category, shape_id, view))
        r, t0 = rt0[:, :3], rt0[:, 3]
        rt = np.concatenate([r, ((r @ (b + np.asarray(pose.shift)) + t0) / a)[:, None]], axis=1)
        out["rgba"].append(to_rgba8(renderer.render_color()))
        out["mask"].append(geo["mask"])
        out["depth"].append(geo["depth"] / a)
        out["normal"].append(geo["normal"].astype(np.float16))
        out["albedo"].append(geo["albedo"].astype(np.float16))
        out["K"].append(intrinsics(pose.focal_mm, pose.sensor_mm, width, height))
        out["Rt"].append(rt)
        out["attempts"].append(attempt + 1)
        out["border"].append(border)
        poses.append(pose)
    _write(out_store, out, poses, attrs, pose_set, config, a, b)
    if contact_sheet is not None:
        sheet = compose_contact_sheet(out["rgba"], out["depth"], out["normal"], out["albedo"], out["mask"])
        write_png(contact_sheet, sheet)
    redraws = int(sum(out["attempts"]) - len(out["attempts"]))
    log.info("%s/%s: %d views, %d redraws", category, shape_id, pose_set.views, redraws)
    return {"views": pose_set.views, "redraws": redraws, "border_views": int(sum(out["border"]))}


def _write(path, out, poses, ingest_attrs, pose_set, config, a, b) -> None:
    views = len(poses)
    h, w = out["mask"][0].shape
    world = {"frame": "world (normalized object frame)"}
    attrs = {
        "shape": ingest_attrs["shape"],
        "render": {
            "preset": pose_set.to_dict(),  # the store's name for the pose set (docs/data_format.md)
            "width": w,
            "height": h,
            "render_frame": {
                "a": a,
                "b": [float(x) for x in b],
                "definition": "x_render = a * x_world + b (bbox centre 0, bbox diagonal 1)",
            },
        },
        "provenance": provenance(
            "render",
            {"seed": config["seed"], "render": config["render"]},
            config["seed"],
            ingest_attrs["provenance"]["source_sha256"],
        ),
    }
    pose_arrays = {
        "azimuth_deg": [p.azimuth_deg for p in poses],
        "elevation_deg": [p.elevation_deg for p in poses],
        "inplane_deg": [p.inplane_deg for p in poses],
        "distance": [p.distance for p in poses],
        "distance_ratio": [p.distance_ratio or 0.0 for p in poses],
        "focal_mm": [p.focal_mm for p in poses],
        "sensor_mm": [p.sensor_mm for p in poses],
        "fov_deg": [p.fov_deg for p in poses],
    }
    images = {
        "views/rgba": (
            np.stack(out["rgba"]),
            "rgba",
            {"encoding": "sRGB, straight alpha = anti-aliased coverage"},
        ),
        "views/mask": (
            np.stack(out["mask"]),
            None,
            {"definition": "the ray through the pixel centre hits the shape"},
        ),
        "views/depth": (
            np.stack(out["depth"]).astype(np.float32),
            None,
            {
                **world,
                "units": "world",
                "definition": "camera z of the pixel centre hit; 0 where mask is false",
            },
        ),
        "views/normal": (
            np.stack(out["normal"]),
            "xyz",
            {**world, "definition": "unit face normal of the pixel centre hit; 0 where mask is false"},
        ),
        "views/albedo": (
            np.stack(out["albedo"]),
            "rgb",
            {"encoding": "linear base colour in [0, 1]; 0 where mask is false"},
        ),
    }
    with write_store(path, attrs) as root:
        for name, (data, channels, attributes) in images.items():
            dims = ("view", "y", "x") if channels is None else ("view", "y", "x", channels)
            write_array(root, name, data, dims, chunks=(1, *data.shape[1:]), attributes=attributes)
        write_array(
            root,
            "cameras/K",
            np.stack(out["K"]),
            ("view", "row", "col"),
            attributes={"units": "pixels", "convention": "OpenCV; centre of the top-left pixel at (0, 0)"},
        )
        write_array(
            root,
            "cameras/Rt",
            np.stack(out["Rt"]),
            ("view", "row", "col"),
            attributes={**world, "definition": "x_cam = R @ x_world + t, OpenCV camera, world units"},
        )
        shift = np.array([p.shift for p in poses], dtype=np.float64).reshape(views, 3)
        write_array(
            root,
            "cameras/shift",
            shift,
            ("view", "xyz"),
            attributes={"frame": "render frame", "definition": "object translation before imaging"},
        )
        for name, values in pose_arrays.items():
            write_array(
                root,
                f"cameras/{name}",
                np.asarray(values, dtype=np.float64),
                ("view",),
                attributes={"frame": "render frame" if name == "distance" else ""},
            )
        write_array(root, "cameras/attempts", np.asarray(out["attempts"], np.int32), ("view",))
        write_array(root, "cameras/touches_border", np.asarray(out["border"], bool), ("view",))


def render_batch(
    shapes: Sequence[tuple[str, str]],
    *,
    ingest_dir: Path | str,
    source_root: Path | str,
    config: Mapping,
    out_dir: Path | str,
    threads: int = 0,
) -> list[dict]:
    """Render a batch of shapes in one Blender process into ``out_dir`` (written atomically).

    Args:
        shapes: ``(category, shape_id)`` pairs; their ingest stores are
            ``<ingest_dir>/<category>/<shape_id>.zarr``.
        ingest_dir: folder of the ingest stores (``results/ingest/shapes``).
        source_root: root folder of the raw meshes.
        config: the resolved config.
        out_dir: output folder: ``<shape_id>.zarr`` (render store) and ``<shape_id>.png``
            (contact sheet) per shape.
        threads: CPU render threads (0 = all).

    Returns:
        One summary per shape (:func:`render_shape`).
    """
    from tqdm import tqdm

    from recon.io.atomic import atomic_path
    from recon.render.blender import BlenderRenderer
    from recon.render.poses import pose_set_from_config

    cfg = config["render"]
    pose_set = pose_set_from_config(cfg)
    summaries = []
    with (
        BlenderRenderer(
            pose_set.width,
            pose_set.height,
            samples=cfg["samples"],
            denoise=cfg["denoise"],
            device=cfg["device"],
            threads=threads,
        ) as renderer,
        atomic_path(out_dir) as tmp,
    ):
        tmp.mkdir()
        for category, shape_id in tqdm(shapes, desc="render", unit="shape", mininterval=30):
            summaries.append(
                render_shape(
                    renderer,
                    ingest_store=Path(ingest_dir) / category / f"{shape_id}.zarr",
                    source_root=source_root,
                    pose_set=pose_set,
                    config=config,
                    out_store=tmp / f"{shape_id}.zarr",
                    contact_sheet=tmp / f"{shape_id}.png",
                )
            )
    return summaries
