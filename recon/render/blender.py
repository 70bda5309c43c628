"""A Blender (bpy) session that renders one shape at a time into NumPy arrays.

The Blender world frame *is* the frame the caller poses the camera in: meshes are imported
without axis conversion (Blender's OBJ importer would otherwise turn ShapeNet's +Y up into
+Z up), so a camera matrix computed with :mod:`recon.geometry.cameras` applies unchanged.

Each view is rendered twice with Cycles on the same scene (:meth:`BlenderRenderer.render_geometry`
and :meth:`BlenderRenderer.render_color`):

1. a *geometry* pass: 1 sample per pixel at the pixel centre (pixel filter width ~0), no
   denoising, giving exact per-pixel depth (camera z), world-space normals, diffuse colour
   (albedo) and coverage (alpha) of the ray through each pixel centre;
2. a *colour* pass: ``samples`` samples per pixel with Blender's default 1.5 px filter,
   optionally denoised, giving the anti-aliased RGBA image.

Passes go through a multi-layer EXR file (the only way Blender hands out render passes in
background mode) and are read back with the ``OpenEXR`` package.

Importing this module imports ``bpy``; nothing else in ``recon`` imports it at module level.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

import bpy
import numpy as np
import OpenEXR

from recon.geometry.mesh_io import MESH_OUTSIDE, MeshLoadError, load_mesh
from recon.geometry.references import OutsideFolderError, Reference, sanitized_copy
from recon.render.lighting import disn_lighting

__all__ = ["BlenderRenderer"]

log = logging.getLogger(__name__)

_LAYER = "ViewLayer"


def _read_exr(path: Path) -> dict[str, np.ndarray]:
    """Every channel of a Blender multi-layer EXR, keyed ``"<Pass>.<channel>"``, as (H, W) float32."""
    channels = {}
    with OpenEXR.File(str(path), separate_channels=True) as f:
        for part in f.parts:
            for name, channel in part.channels.items():
                key = name[len(_LAYER) + 1 :] if name.startswith(_LAYER + ".") else name
                channels[key] = np.asarray(channel.pixels, dtype=np.float32)
    return channels


class BlenderRenderer:
    """One Blender scene: a camera, lights, and the current shape.

    A context manager: leaving the ``with`` block calls :meth:`close`::

        with BlenderRenderer(width, height) as renderer:
            renderer.load_shape(path, "obj")
            ...

    Args:
        width, height: image size in pixels.
        samples: Cycles samples per pixel of the colour pass.
        denoise: denoise the colour pass with OpenImageDenoise.
        device: ``CPU``, or a GPU backend (``OPTIX``, ``CUDA``, ``HIP``, ``METAL``, ``ONEAPI``).
        threads: CPU render threads; 0 = all cores.
        max_bounces: Cycles light bounces of the colour pass.
        lighting: initial set-up (:mod:`recon.render.lighting`); change it per view with
            :meth:`set_lighting`. Default: :func:`recon.render.lighting.disn_lighting`.
    """

    def __init__(
        self,
        width: int,
        height: int,
        samples: int = 8,
        denoise: bool = False,
        device: str = "CPU",
        threads: int = 0,
        max_bounces: int = 2,
        lighting: Mapping | None = None,
    ) -> None:
        bpy.ops.wm.read_factory_settings(use_empty=True)
        self.scene = scene = bpy.context.scene
        self.samples = int(samples)
        self.denoise = bool(denoise)
        self.max_bounces = int(max_bounces)
        self._tmp = tempfile.TemporaryDirectory(prefix="recon-render-")
        render = scene.render
        render.engine = "CYCLES"
        render.resolution_x, render.resolution_y = int(width), int(height)
        render.resolution_percentage = 100
        render.film_transparent = True
        render.use_persistent_data = True  # keep the BVH between the renders of a shape's views
        render.threads_mode = "FIXED" if threads else "AUTO"
        if threads:
            render.threads = int(threads)
        settings = render.image_settings
        settings.media_type = "MULTI_LAYER_IMAGE"
        settings.file_format = "OPEN_EXR_MULTILAYER"
        settings.color_depth = "32"
        settings.exr_codec = "NONE"
        scene.view_settings.view_transform = "Standard"
        scene.cycles.device = "CPU" if device == "CPU" else "GPU"
        if device != "CPU":
            prefs = bpy.context.preferences.addons["cycles"].preferences
            prefs.compute_device_type = device
            prefs.get_devices()
            gpus = [dev for dev in prefs.devices if dev.type == device]
            if not gpus:
                found = ", ".join(sorted({dev.type for dev in prefs.devices})) or "none"
                raise RuntimeError(
                    f"render.device is {device} but Blender finds no such device (found: {found})"
                )
            for dev in prefs.devices:
                dev.use = dev in gpus
        scene.cycles.seed = 0
        scene.cycles.use_adaptive_sampling = False
        layer = scene.view_layers[0]
        layer.name = _LAYER
        layer.use_pass_z = True
        layer.use_pass_normal = True
        layer.use_pass_diffuse_color = True

        self.camera = bpy.data.objects.new("camera", bpy.data.cameras.new("camera"))
        self.camera.data.sensor_fit = "HORIZONTAL"
        self.camera.data.clip_start = 1e-3
        self.camera.data.clip_end = 1e3
        scene.collection.objects.link(self.camera)
        scene.camera = self.camera
        world = bpy.data.worlds.new("world")
        world.node_tree.nodes["Background"].inputs["Color"].default_value = (1.0, 1.0, 1.0, 1.0)
        scene.world = world
        self._suns: list = []
        self.set_lighting(lighting or disn_lighting())
        self._default_material = self._make_default_material()
        self.objects: list = []

    # -- scene -----------------------------------------------------------------------------

    def set_lighting(self, lighting: Mapping) -> None:
        """Apply a lighting set-up (:mod:`recon.render.lighting`): suns and ambient world light."""
        self.scene.world.node_tree.nodes["Background"].inputs["Strength"].default_value = float(
            lighting.get("ambient", 0.0)
        )
        suns = list(lighting.get("sun", ()))
        while len(self._suns) < len(suns):
            light = bpy.data.lights.new(f"sun{len(self._suns)}", "SUN")
            light.specular_factor = 0.0
            light.use_shadow = False
            obj = bpy.data.objects.new(light.name, light)
            self.scene.collection.objects.link(obj)
            self._suns.append(obj)
        for i, obj in enumerate(self._suns):
            obj.data.energy = float(suns[i]["strength"]) if i < len(suns) else 0.0
            if i < len(suns):
                obj.matrix_world = _look_along(np.asarray(suns[i]["direction"], dtype=np.float64))

    @staticmethod
    def _make_default_material():
        material = bpy.data.materials.new("recon_default")
        material.use_fake_user = True  # survives the orphan purge between shapes
        bsdf = material.node_tree.nodes["Principled BSDF"]
        bsdf.inputs["Base Color"].default_value = (0.6, 0.6, 0.6, 1.0)
        bsdf.inputs["Roughness"].default_value = 1.0
        return material

    def clear_shape(self) -> None:
        """Remove the current shape, every data block it brought (meshes, materials, images) and its files."""
        if self.objects:
            bpy.data.batch_remove(self.objects)
        self.objects = []
        bpy.data.orphans_purge(do_local_ids=True, do_linked_ids=True, do_recursive=True)
        shutil.rmtree(Path(self._tmp.name) / "shape", ignore_errors=True)

    def load_shape(
        self, path: Path | str, file_format: str, folder: Path | str | None = None
    ) -> list[Reference]:
        """Load a raw mesh file (replacing the previous shape), in its own coordinates.

        Args:
            path: the mesh file.
            file_format: obj, off, ply, stl or glb.
            folder: the shape's folder (:func:`recon.geometry.references.shape_folder`): the
                mesh and every file it names must lead inside it; None = the mesh's own folder.

        Returns:
            The references left out because they lead outside the folder or to no file.

        Blender never reads the dataset's files: OBJ files are imported from a sanitized copy
        in this renderer's temporary folder (:func:`recon.geometry.references.sanitized_copy`:
        the ``.mtl`` colours and the textures inside the folder, nothing else); other formats
        are read as geometry with the ingest loader and get a grey material. Every face is
        shaded flat, so the normal pass holds face normals, and materials lose their specular
        layer, so the albedo pass is their base colour.

        Raises:
            recon.geometry.mesh_io.MeshLoadError: the mesh is missing, unreadable or outside the
                folder (ingest quarantines such shapes, so they are not rendered).
        """
        self.clear_shape()
        path = Path(path)
        folder = path.parent if folder is None else Path(folder)
        dropped: list[Reference] = []
        if file_format == "obj":
            try:
                copy = sanitized_copy(path, folder, Path(self._tmp.name) / "shape")
            except OutsideFolderError as err:
                raise MeshLoadError(MESH_OUTSIDE) from err
            except FileNotFoundError as err:
                raise MeshLoadError("file not found") from err
            dropped = copy.dropped
            before = set(bpy.data.objects)
            bpy.ops.wm.obj_import(
                filepath=str(copy.path), forward_axis="Y", up_axis="Z", validate_meshes=False
            )
            self.objects = [o for o in bpy.data.objects if o not in before and o.type == "MESH"]
        else:
            vertices, faces = load_mesh(path, file_format, folder)
            mesh = bpy.data.meshes.new("shape")
            mesh.vertices.add(len(vertices))
            mesh.vertices.foreach_set("co", vertices.astype(np.float32).ravel())
            mesh.loops.add(faces.size)
            mesh.loops.foreach_set("vertex_index", faces.astype(np.int32).ravel())
            mesh.polygons.add(len(faces))
            mesh.polygons.foreach_set("loop_start", np.arange(0, faces.size, 3, dtype=np.int32))
            mesh.update()
            obj = bpy.data.objects.new("shape", mesh)
            self.scene.collection.objects.link(obj)
            self.objects = [obj]
        for obj in self.objects:
            mesh = obj.data
            mesh.polygons.foreach_set("use_smooth", np.zeros(len(mesh.polygons), dtype=bool))
            if not mesh.materials:
                mesh.materials.append(self._default_material)
            mesh.update()
            for material in mesh.materials:
                _diffuse_only(material)
        return dropped

    def set_object_matrix(self, matrix: np.ndarray) -> None:
        """Place every part of the shape with the same (4, 4) object-to-world matrix."""
        from mathutils import Matrix

        m = Matrix(np.asarray(matrix, dtype=np.float64).tolist())
        for obj in self.objects:
            obj.matrix_world = m

    def set_camera(self, matrix_world: np.ndarray, focal_mm: float, sensor_mm: float) -> None:
        """Camera-to-world (4, 4) matrix of a Blender camera (looking down its -z, +y up) and its lens."""
        from mathutils import Matrix

        self.camera.matrix_world = Matrix(np.asarray(matrix_world, dtype=np.float64).tolist())
        self.camera.data.lens = float(focal_mm)
        self.camera.data.sensor_width = float(sensor_mm)

    # -- rendering -------------------------------------------------------------------------

    def _render(self, name: str, samples: int, filter_width: float, denoise: bool, bounces: int) -> dict:
        cycles = self.scene.cycles
        cycles.samples = samples
        cycles.filter_width = filter_width
        cycles.use_denoising = denoise
        cycles.max_bounces = bounces
        path = Path(self._tmp.name) / f"{name}.exr"
        self.scene.render.filepath = str(path)
        bpy.ops.render.render(write_still=True)
        channels = _read_exr(path)
        path.unlink()
        return channels

    def render_geometry(self) -> dict[str, np.ndarray]:
        """Geometry pass of the current view: one ray through each pixel centre.

        Returns:
            ``mask`` (H, W) bool, the ray hits the shape;
            ``depth`` (H, W) float32 camera z of the hit in the Blender world's units, 0 on background;
            ``normal`` (H, W, 3) float32 world-space unit face normal of the hit, 0 on background;
            ``albedo`` (H, W, 3) float32 linear diffuse colour of the hit, 0 on background.
            Rows are top to bottom.
        """
        geo = self._render("geometry", 1, 0.01, False, 0)
        depth = geo["Depth.Z"]
        mask = (geo["Combined.A"] > 0.5) & np.isfinite(depth) & (depth < 1e9)
        normal = np.stack([geo["Normal.X"], geo["Normal.Y"], geo["Normal.Z"]], axis=-1)
        length = np.linalg.norm(normal, axis=-1, keepdims=True)
        normal = np.where(mask[..., None] & (length > 0), normal / np.maximum(length, 1e-12), 0.0)
        albedo = np.stack([geo[f"Diffuse Color.{c}"] for c in "RGB"], axis=-1)
        return {
            "mask": mask,
            "depth": np.where(mask, depth, 0.0).astype(np.float32),
            "normal": normal.astype(np.float32),
            "albedo": np.where(mask[..., None], albedo, 0.0).astype(np.float32),
        }

    def render_color(self) -> np.ndarray:
        """Colour pass of the current view: (H, W, 4) float32 linear premultiplied RGBA, top row first."""
        col = self._render("color", self.samples, 1.5, self.denoise, self.max_bounces)
        return np.stack([col[f"Combined.{c}"] for c in "RGBA"], axis=-1).astype(np.float32)

    def close(self) -> None:
        """Remove the current shape and the temporary folder of the EXR files."""
        self.clear_shape()
        self._tmp.cleanup()

    def __enter__(self) -> BlenderRenderer:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _diffuse_only(material) -> None:
    """No specular layer (as DISN's ``use_specular=False``): the albedo pass is then the base colour."""
    if material is None or material.node_tree is None:
        return
    for node in material.node_tree.nodes:
        if node.type == "BSDF_PRINCIPLED":
            node.inputs["Specular IOR Level"].default_value = 0.0
            node.inputs["Metallic"].default_value = 0.0


def _look_along(direction: np.ndarray) -> object:
    """A Blender object matrix whose -z axis points along ``direction`` (for sun lights)."""
    from mathutils import Vector

    d = Vector(np.asarray(direction, dtype=np.float64).tolist()).normalized()
    return d.to_track_quat("-Z", "Y").to_matrix().to_4x4()
