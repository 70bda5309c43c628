"""Real Blender renders of demo shapes, checked against the mesh with independent ray casts."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

pytest.importorskip("bpy")
pytest.importorskip("rtree")  # trimesh's ray casts and closest points

from recon.config import resolve_config
from recon.demo import make_demo_dataset
from recon.geometry.cameras import camera_center, intrinsics, look_at
from recon.ingest.sources import discover_shapenet
from recon.io.store import open_store
from recon.render.blender import BlenderRenderer
from recon.render.poses import get_pose_set
from recon.render.stage import render_shape
from tests.meshes import ingest_source

SIZE = 96


def _render(tmp, source_root, ingest_store, seed, pose_set, name):
    config = resolve_config({"seed": seed, "render": {"max_attempts": 20}})
    with BlenderRenderer(pose_set.width, pose_set.height, samples=8) as renderer:
        summary = render_shape(
            renderer,
            ingest_store=ingest_store,
            source_root=source_root,
            pose_set=pose_set,
            config=config,
            out_store=tmp / f"{name}.zarr",
            contact_sheet=tmp / f"{name}.png",
        )
    return summary, open_store(tmp / f"{name}.zarr")


@pytest.fixture(scope="module")
def chair(tmp_path_factory):
    """A demo chair (two materials, swivel base), ingested, rendered with the DISN hard pose set."""
    tmp = tmp_path_factory.mktemp("render")
    root = tmp / "ShapeNetCore.v1"
    make_demo_dataset(root, seed=0, categories=["chair"], shapes_per_category=1)
    shape = discover_shapenet(root, "v1")[0]
    store = tmp / "ingest.zarr"
    ingest_source(root, shape, store)
    pose_set = get_pose_set("disn_hard", views=4, width=SIZE, height=SIZE)
    summary, render = _render(tmp, root, store, 0, pose_set, "a")
    return {
        "tmp": tmp,
        "root": root,
        "ingest": store,
        "pose_set": pose_set,
        "summary": summary,
        "render": render,
    }


def _mesh(ingest):
    store = open_store(ingest)
    return trimesh.Trimesh(
        store["mesh/vertices"][...].astype(np.float64), store["mesh/faces"][...], process=False
    )


def _pixel_rays(k, rt, shape):
    h, w = shape
    u, v = np.meshgrid(np.arange(w, dtype=float), np.arange(h, dtype=float))
    d_cam = np.stack([(u - k[0, 2]) / k[0, 0], (v - k[1, 2]) / k[1, 1], np.ones_like(u)], axis=-1)
    r, t = rt[:, :3], rt[:, 3]
    return d_cam, -r.T @ t, r


def test_depth_mask_and_normals_agree_with_the_mesh(chair):
    mesh = _mesh(chair["ingest"])
    size = float(np.linalg.norm(mesh.extents))
    r = chair["render"]
    for i in range(r["views/mask"].shape[0]):
        k, rt = r["cameras/K"][i], r["cameras/Rt"][i]
        mask, depth = r["views/mask"][i], r["views/depth"][i]
        d_cam, centre, rot = _pixel_rays(k, rt, mask.shape)
        # Back-projected depth lies on the mesh.
        points = ((d_cam * depth[..., None])[mask] - rt[:, 3]) @ rot
        _, distance, triangle = trimesh.proximity.closest_point(mesh, points)
        assert distance.mean() < 0.005 * size, (i, distance.mean())
        # The mask is the set of pixel-centre rays that hit the mesh (independent ray cast).
        directions = d_cam.reshape(-1, 3) @ rot
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
        hit = mesh.ray.intersects_any(np.repeat(centre[None], len(directions), axis=0), directions)
        hit = hit.reshape(mask.shape)
        iou = (hit & mask).sum() / (hit | mask).sum()
        assert iou >= 0.98, (i, iou)
        assert 0.02 < mask.mean() < 0.9
        # Normals are the face normals of the hit triangles (float16 storage).
        normals = r["views/normal"][i].astype(np.float64)[mask]
        cos = np.clip((normals * mesh.face_normals[triangle]).sum(axis=1), -1.0, 1.0)
        assert np.median(np.degrees(np.arccos(cos))) < 3.0
        assert np.all(depth[~mask] == 0) and np.all(depth[mask] > 0)
        # Colour: covered pixels are opaque-ish, empty corners transparent.
        alpha = r["views/rgba"][i][..., 3]
        assert alpha[mask].min() > 0 and alpha[0, 0] == 0


def test_cameras_agree_with_pose_parameters(chair):
    r = chair["render"]
    a, b = r.attrs["render"]["render_frame"]["a"], np.asarray(r.attrs["render"]["render_frame"]["b"])
    for i in range(r["cameras/K"].shape[0]):
        az, el = r["cameras/azimuth_deg"][i], r["cameras/elevation_deg"][i]
        dist, shift = r["cameras/distance"][i], r["cameras/shift"][i]
        np.testing.assert_allclose(
            r["cameras/K"][i], intrinsics(r["cameras/focal_mm"][i], r["cameras/sensor_mm"][i], SIZE, SIZE)
        )
        rt = r["cameras/Rt"][i]
        rot, _ = look_at(camera_center(az, el, dist), inplane_deg=r["cameras/inplane_deg"][i])
        np.testing.assert_allclose(rt[:, :3], rot, atol=1e-12)
        centre_world = -rt[:, :3].T @ rt[:, 3]
        # Moving the object by +shift is moving the camera by -shift.
        np.testing.assert_allclose(a * centre_world + b, camera_center(az, el, dist) - shift, atol=1e-9)
        ranges = chair["pose_set"].ranges(i, int(r["cameras/attempts"][i]) - 1)
        assert ranges["elevation"][0] <= el <= ranges["elevation"][1]
        assert np.all(np.abs(shift) <= 0.2)
    assert r["cameras/touches_border"][...].sum() == chair["summary"]["border_views"] == 0


def test_same_seed_same_bytes_other_seed_other_poses(chair):
    _, again = _render(chair["tmp"], chair["root"], chair["ingest"], 0, chair["pose_set"], "b")
    _, other = _render(chair["tmp"], chair["root"], chair["ingest"], 1, chair["pose_set"], "c")
    first = chair["render"]
    for name in ("views/rgba", "views/mask", "views/depth", "views/normal", "views/albedo", "cameras/Rt"):
        assert np.array_equal(first[name][...], again[name][...]), name
    assert not np.allclose(first["cameras/azimuth_deg"][...], other["cameras/azimuth_deg"][...])


def test_contact_sheet(chair):
    from PIL import Image

    with Image.open(chair["tmp"] / "a.png") as image:
        assert image.size == (4 * SIZE, 4 * SIZE) and image.mode == "RGB"
        pixels = np.asarray(image)
    assert pixels.std() > 10  # not blank


def _kd_colours(mtl_path):
    colours = []
    for line in mtl_path.read_text().splitlines():
        if line.startswith("Kd "):
            colours.append([float(x) for x in line.split()[1:4]])
    return np.asarray(colours)


def test_albedo_is_the_mtl_colour(chair):
    mtl = next(chair["root"].rglob("model.mtl"))
    kd = _kd_colours(mtl)
    assert len(kd) >= 2
    albedo = chair["render"]["views/albedo"][...].astype(np.float64)
    mask = chair["render"]["views/mask"][...]
    pixels = albedo[mask]
    nearest = np.linalg.norm(pixels[:, None, :] - kd[None], axis=-1).min(axis=1)
    assert np.quantile(nearest, 0.99) < 0.01  # float16 storage; edge pixels of other parts excepted
    assert len({tuple(np.round(p, 2)) for p in pixels}) >= 2  # both materials are seen


def test_textures_reach_the_albedo(tmp_path):
    """A demo table's top is textured: its albedo varies across the top, unlike a Kd colour."""
    root = tmp_path / "ShapeNetCore.v1"
    make_demo_dataset(root, seed=0, categories=["table"], shapes_per_category=2)
    shapes = discover_shapenet(root, "v1")
    textured = [s for s in shapes if (root / s.path).with_name("images").is_dir()]
    assert textured
    shape = textured[0]
    store = tmp_path / "ingest.zarr"
    ingest_source(root, shape, store)
    pose_set = get_pose_set("r2n2", views=1, width=SIZE, height=SIZE, elevation=(60.0, 60.0))
    _, render = _render(tmp_path, root, store, 0, pose_set, "t")
    top = render["views/normal"][0].astype(np.float64)[..., 1] > 0.99  # faces looking up: the top
    albedo = render["views/albedo"][0].astype(np.float64)[top]
    assert top.sum() > 50
    assert albedo.std(axis=0).max() > 0.02
    assert len({tuple(np.round(p, 2)) for p in albedo}) > 10


def test_scene_is_reset_between_shapes(chair, tmp_path):
    """Loading shape after shape leaves no data behind (Blender must not slow down over a batch)."""
    import bpy

    box = tmp_path / "box.ply"
    trimesh.creation.box().export(box)
    obj = next(chair["root"].rglob("model.obj"))
    with BlenderRenderer(16, 16, samples=1) as renderer:
        renderer.load_shape(obj, "obj")
        renderer.render_geometry()  # the first render adds Blender's "Render Result" image
        counts = [len(bpy.data.meshes), len(bpy.data.materials), len(bpy.data.images), len(bpy.data.objects)]
        for _ in range(3):
            renderer.load_shape(box, "ply")
            renderer.render_geometry()
            renderer.load_shape(obj, "obj")
        assert [
            len(bpy.data.meshes),
            len(bpy.data.materials),
            len(bpy.data.images),
            len(bpy.data.objects),
        ] == counts


def test_missing_gpu_is_a_clear_error():
    with pytest.raises(RuntimeError, match=r"render\.device is OPTIX but Blender finds no such device"):
        BlenderRenderer(16, 16, device="OPTIX")
