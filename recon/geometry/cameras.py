"""Pinhole cameras in the data contract's frames (``docs/data_format.md`` §1.1), pure NumPy.

Frames:

- **World** = the normalized object frame: ShapeNet's axes, +Y up, the object's front toward -Z.
- **Camera** = OpenCV: +x right, +y down, +z forward (the viewing direction).
  ``x_cam = R @ x_world + t``; ``(u, v, 1) ~ K @ x_cam``; pixel ``(u, v)`` = (column, row) with
  the centre of the top-left pixel at ``(0, 0)``, so a ``W x H`` image spans
  ``[-0.5, W - 0.5] x [-0.5, H - 0.5]`` and its principal point is ``((W - 1) / 2, (H - 1) / 2)``.
- **Depth** = ``z_cam``.

Viewpoint parameters (azimuth, elevation, distance) follow DISN (``ShapenetRender_more_variation``)
and 3D-R2N2, whose Blender scenes are Z-up after the OBJ import. Blender's OBJ importer maps an OBJ
point ``(x, y, z)`` to Blender ``(x, -z, y)`` (:data:`BLENDER_FROM_WORLD`). DISN's
``render_blender.py:camera_info`` places the camera at Blender ``(d ce ca, -d ce sa, d se)``
(``ca = cos az``, ``se = sin el``, ...); 3D-R2N2's ``setViewpoint`` gets the same point by rotating
``(d, 0, 0)`` with Euler angles ``(0, -el, -az)``; and DISN's ``cam_read.py:getBlenderProj``
composed with its OBJ-to-Blender ``rot_mat`` puts the camera at ``(d ce ca, d se, d ce sa)`` in the
OBJ frame. So in the world frame (:func:`camera_center`)::

    C = distance * (cos(el) cos(az), sin(el), cos(el) sin(az))

azimuth 0 looks from +X, azimuth 90 from +Z (the object's back, since its front faces -Z),
azimuth 270 from -Z (the front); elevation > 0 looks from above. The tests check this against
both anchors' constructions and against DISN's projection matrices.

The camera always looks at the origin with image up along world +Y (Blender's ``TRACK_TO`` with
``UP_Y`` does the same in its Z-up scene); the in-plane rotation is our own addition (DISN and
3D-R2N2 always use 0), see :func:`look_at` for its sign.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

__all__ = [
    "BLENDER_FROM_WORLD",
    "OPENCV_FROM_OPENGL",
    "Pose",
    "blender_camera_matrix_world",
    "camera_center",
    "extrinsics",
    "extrinsics_from_blender_matrix_world",
    "finite_float",
    "focal_from_fov",
    "fov_deg",
    "intrinsics",
    "look_at",
    "pose_from_extrinsics",
    "project",
    "unproject",
]

#: (3, 3) float64: Blender's OBJ importer (forward -Z, up Y), world/OBJ ``(x, y, z)`` -> Blender
#: ``(x, -z, y)``. A renderer that keeps the importer's rotation on the mesh must premultiply the
#: world-frame camera matrices below by this (as a 4x4); recon's renderer undoes the rotation instead.
BLENDER_FROM_WORLD = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])

#: (3, 3) float64: OpenGL / Blender camera axes (x right, y up, looking down -z) -> OpenCV axes.
OPENCV_FROM_OPENGL = np.diag([1.0, -1.0, -1.0])

_PARALLEL_TOL = 1e-9


def _vec3(x, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.shape != (3,):
        raise ValueError(f"{name} must have shape (3,), got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite, got {a}")
    return a


def _split_rt(rt) -> tuple[np.ndarray, np.ndarray]:
    rt = np.asarray(rt, dtype=np.float64)
    if rt.shape != (3, 4):
        raise ValueError(f"[R|t] must have shape (3, 4), got {rt.shape}")
    return rt[:, :3], rt[:, 3]


def camera_center(azimuth_deg: float, elevation_deg: float, distance: float) -> np.ndarray:
    """Camera position in the world frame for DISN / 3D-R2N2 viewpoint parameters.

    ``distance * (cos(el) cos(az), sin(el), cos(el) sin(az))``: azimuth is measured in the
    horizontal XZ plane from +X toward +Z (90 deg = from +Z, the object's back), elevation upward
    from that plane. See the module docstring for the derivation from the anchors' Blender scenes.

    Args:
        azimuth_deg: azimuth in degrees (any real; periodic in 360).
        elevation_deg: elevation in degrees, in [-90, 90].
        distance: distance from the origin in world units, > 0.

    Returns:
        (3,) float64 camera centre ``C``.
    """
    az = math.radians(float(azimuth_deg))
    el = math.radians(float(elevation_deg))
    d = float(distance)
    return np.array([d * math.cos(el) * math.cos(az), d * math.sin(el), d * math.cos(el) * math.sin(az)])


def look_at(center, target=(0.0, 0.0, 0.0), up=(0.0, 1.0, 0.0), inplane_deg: float = 0.0):
    """World-to-camera rotation and translation of an OpenCV camera at ``center`` looking at ``target``.

    The rows of ``R`` are the camera axes in world coordinates: ``z_c = normalize(target - center)``
    (forward), ``x_c = normalize(cross(z_c, up))`` (image right), ``y_c = cross(z_c, x_c)`` (image
    down), so image up is the projection of ``up`` (world +Y by default). When ``z_c`` is parallel
    to ``up`` (looking straight down or up), ``up = (0, 0, -1)`` is used instead: looking down
    along -Y, image up is then world -Z (the object's front side).

    In-plane rotation: the camera is then rolled about its optical axis so that the **image
    content turns counter-clockwise by** ``inplane_deg`` **as seen in the image** (the camera
    itself turns clockwise, seen from behind it). In camera coordinates
    ``R = Rz @ R0`` with ``Rz = [[c, s, 0], [-s, c, 0], [0, 0, 1]]``, ``c, s = cos, sin(inplane)``:
    a point imaged to the right of the principal point moves to above it for +90 deg. The
    rotation is about the principal point; depths are unchanged.

    Args:
        center: (3,) camera centre in world coordinates.
        target: (3,) point imaged at the principal point.
        up: (3,) world direction that appears as image up (need not be unit or orthogonal).
        inplane_deg: in-plane rotation in degrees, positive = content counter-clockwise.

    Returns:
        ``(R, t)``: (3, 3) float64 rotation (det +1) and (3,) float64 translation,
        ``x_cam = R @ x_world + t``.

    Raises:
        ValueError: ``center == target`` or ``up`` is zero.
    """
    center = _vec3(center, "center")
    target = _vec3(target, "target")
    up = _vec3(up, "up")
    forward = target - center
    norm = np.linalg.norm(forward)
    if norm == 0.0:
        raise ValueError("look_at: center and target coincide")
    z = forward / norm
    up_norm = np.linalg.norm(up)
    if up_norm == 0.0:
        raise ValueError("look_at: up is the zero vector")
    x = np.cross(z, up / up_norm)
    if np.linalg.norm(x) < _PARALLEL_TOL:
        x = np.cross(z, np.array([0.0, 0.0, -1.0]))
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    r0 = np.stack([x, y, z])
    th = math.radians(float(inplane_deg))
    c, s = math.cos(th), math.sin(th)
    rz = np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])
    r = rz @ r0
    t = -r @ center
    return r, t


def fov_deg(focal_mm: float, sensor_mm: float) -> float:
    """Full field of view across the sensor's fitted side: ``2 atan(sensor / (2 focal))`` in degrees.

    Args:
        focal_mm: focal length (any unit, same as ``sensor_mm``), > 0.
        sensor_mm: sensor width (Blender ``sensor_fit='HORIZONTAL'``), > 0.

    Returns:
        Field of view in degrees, in (0, 180).
    """
    if focal_mm <= 0 or sensor_mm <= 0:
        raise ValueError(f"focal and sensor must be > 0, got {focal_mm}, {sensor_mm}")
    return math.degrees(2.0 * math.atan(float(sensor_mm) / (2.0 * float(focal_mm))))


def focal_from_fov(fov: float, sensor_mm: float) -> float:
    """Focal length (unit of ``sensor_mm``) giving a ``fov``-degree field of view; inverts :func:`fov_deg`."""
    if not 0.0 < fov < 180.0:
        raise ValueError(f"fov must be in (0, 180) degrees, got {fov}")
    if sensor_mm <= 0:
        raise ValueError(f"sensor must be > 0, got {sensor_mm}")
    return float(sensor_mm) / (2.0 * math.tan(math.radians(float(fov)) / 2.0))


def intrinsics(focal_mm: float, sensor_mm: float, width: int, height: int) -> np.ndarray:
    """Pixel intrinsics of a Blender camera with ``sensor_fit='HORIZONTAL'`` and square pixels.

    ``fx = fy = focal_mm / sensor_mm * width``; principal point at the image centre in OpenCV
    pixel-centre coordinates, ``cx = (width - 1) / 2``, ``cy = (height - 1) / 2``. (DISN's
    ``getBlenderProj`` writes ``width / 2``: the same point in pixel-corner coordinates.)

    Args:
        focal_mm: lens focal length in mm.
        sensor_mm: sensor width in mm (the horizontal side is fitted to the image width).
        width: image width in pixels.
        height: image height in pixels.

    Returns:
        (3, 3) float64 ``K``.
    """
    if width < 1 or height < 1:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    if focal_mm <= 0 or sensor_mm <= 0:
        raise ValueError(f"focal and sensor must be > 0, got {focal_mm}, {sensor_mm}")
    f = float(focal_mm) / float(sensor_mm) * float(width)
    return np.array([[f, 0.0, (width - 1) / 2.0], [0.0, f, (height - 1) / 2.0], [0.0, 0.0, 1.0]])


def finite_float(x, name: str) -> float:
    """``x`` as a Python float (-0.0 as 0.0); a ValueError naming ``name`` if it is not finite."""
    v = float(x)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {x!r}")
    return v + 0.0  # -0.0 -> 0.0


@dataclass(frozen=True)
class Pose:
    """One camera pose: viewpoint, lens and object shift. All values are Python floats.

    Attributes:
        azimuth_deg: azimuth in degrees, as drawn (not wrapped; DISN's last view may exceed 360).
        elevation_deg: elevation in degrees, in [-90, 90].
        inplane_deg: in-plane rotation in degrees, positive = image content counter-clockwise
            (:func:`look_at`).
        distance: camera distance from the origin in world units.
        focal_mm: lens focal length in mm.
        sensor_mm: sensor width in mm (Blender ``sensor_fit='HORIZONTAL'``).
        shift: (x, y, z) translation of the object in world units, applied before imaging.
        distance_ratio: DISN / 3D-R2N2 distance ratio (``distance = ratio * 1.75 * scale``) where
            the pose set draws one, else None.
    """

    azimuth_deg: float
    elevation_deg: float
    inplane_deg: float
    distance: float
    focal_mm: float
    sensor_mm: float
    shift: tuple[float, float, float] = (0.0, 0.0, 0.0)
    distance_ratio: float | None = None

    def __post_init__(self) -> None:
        for name in ("azimuth_deg", "elevation_deg", "inplane_deg", "distance", "focal_mm", "sensor_mm"):
            object.__setattr__(self, name, finite_float(getattr(self, name), name))
        shift = tuple(finite_float(s, "shift") for s in self.shift)
        if len(shift) != 3:
            raise ValueError(f"shift must have 3 components, got {self.shift!r}")
        object.__setattr__(self, "shift", shift)
        if self.distance_ratio is not None:
            object.__setattr__(self, "distance_ratio", finite_float(self.distance_ratio, "distance_ratio"))
        if not -90.0 <= self.elevation_deg <= 90.0:
            raise ValueError(f"elevation must be in [-90, 90], got {self.elevation_deg}")
        if self.distance <= 0 or self.focal_mm <= 0 or self.sensor_mm <= 0:
            raise ValueError("distance, focal_mm and sensor_mm must be > 0")

    @property
    def fov_deg(self) -> float:
        """Horizontal field of view in degrees, ``2 atan(sensor / (2 focal))``."""
        return fov_deg(self.focal_mm, self.sensor_mm)

    def to_dict(self) -> dict:
        """JSON-safe dict of every field (``shift`` as a list) plus the derived ``fov_deg``."""
        d = dataclasses.asdict(self)
        d["shift"] = list(self.shift)
        d["fov_deg"] = self.fov_deg
        return d

    @classmethod
    def from_dict(cls, d: Mapping) -> Pose:
        """Inverse of :meth:`to_dict` (derived keys such as ``fov_deg`` are ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in d.items() if k in names}
        if "shift" in kwargs:
            kwargs["shift"] = tuple(kwargs["shift"])
        return cls(**kwargs)

    def disn_metadata_row(self) -> list[float]:
        """The pose as a line of DISN's ``rendering_metadata.txt``.

        ``[az, el, inplane, distance_ratio, focal_mm, sensor_mm, max_distance, sx, sy, sz]`` with
        ``max_distance = distance / distance_ratio`` and the shift in DISN's Blender (Z-up)
        coordinates, ``(x, -z, y)`` of the world-frame shift (DISN's ``cam_read.py`` converts
        back with ``(sx, sz, -sy)``).

        Raises:
            ValueError: the pose has no distance ratio.
        """
        if self.distance_ratio is None or self.distance_ratio <= 0:
            raise ValueError("disn_metadata_row needs a pose with a positive distance_ratio")
        sx, sy, sz = self.shift
        return [
            self.azimuth_deg,
            self.elevation_deg,
            self.inplane_deg,
            self.distance_ratio,
            self.focal_mm,
            self.sensor_mm,
            self.distance / self.distance_ratio,
            sx,
            -sz + 0.0,
            sy,
        ]


def extrinsics(pose: Pose) -> np.ndarray:
    """World-to-camera ``[R|t]`` of a pose, with the object shift folded in.

    The camera sits at :func:`camera_center` of the pose, looks at the origin (image up ~ +Y)
    and is rolled by ``pose.inplane_deg`` (:func:`look_at`). The object is translated by
    ``pose.shift`` (world units) before imaging, as in DISN's hard set, so the returned matrix maps
    the *un-shifted* normalized object frame to the camera: ``x_cam = R @ (x + shift) + t``,
    i.e. ``t' = R @ shift + t``.

    Args:
        pose: a :class:`Pose` (anything with its attributes).

    Returns:
        (3, 4) float64 ``[R | t']``.
    """
    center = camera_center(pose.azimuth_deg, pose.elevation_deg, pose.distance)
    r, t = look_at(center, inplane_deg=pose.inplane_deg)
    shift = _vec3(pose.shift, "shift")
    return np.concatenate([r, (r @ shift + t)[:, None]], axis=1)


def project(k, rt, points) -> tuple[np.ndarray, np.ndarray]:
    """Project world points to pixels.

    Args:
        k: (3, 3) intrinsics.
        rt: (3, 4) world-to-camera ``[R|t]``.
        points: (N, 3) world points.

    Returns:
        ``(uv, depth)``: (N, 2) float64 pixel coordinates (column, row; pixel centres at integers)
        and (N,) float64 ``z_cam``. Points at depth 0 give inf/nan ``uv``; points behind the
        camera (negative depth) are projected through the centre like any other.
    """
    k = np.asarray(k, dtype=np.float64)
    r, t = _split_rt(rt)
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise ValueError(f"points must have shape (N, 3), got {pts.shape}")
    cam = pts @ r.T + t
    depth = cam[:, 2].copy()
    hom = cam @ k.T
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = hom[:, :2] / hom[:, 2:3]
    return uv, depth


def unproject(k, rt, uv, depth) -> np.ndarray:
    """Back-project pixels with known depth (``z_cam``) to world points; inverse of :func:`project`.

    Args:
        k: (3, 3) intrinsics.
        rt: (3, 4) world-to-camera ``[R|t]``.
        uv: (N, 2) pixel coordinates (column, row).
        depth: (N,) depths ``z_cam``.

    Returns:
        (N, 3) float64 world points.
    """
    k = np.asarray(k, dtype=np.float64)
    r, t = _split_rt(rt)
    uv = np.asarray(uv, dtype=np.float64)
    depth = np.asarray(depth, dtype=np.float64)
    if uv.ndim != 2 or uv.shape[1] != 2 or depth.shape != (uv.shape[0],):
        raise ValueError(f"uv must be (N, 2) and depth (N,), got {uv.shape} and {depth.shape}")
    hom = np.concatenate([uv, np.ones((len(uv), 1))], axis=1)
    rays = np.linalg.solve(k, hom.T).T  # z component 1
    cam = rays * depth[:, None]
    return (cam - t) @ r


def blender_camera_matrix_world(rt) -> np.ndarray:
    """Camera-to-world 4x4 (``Object.matrix_world``) of a Blender camera equivalent to ``rt``.

    Blender cameras look down their local -Z with local +Y as image up (OpenGL axes), so
    ``R_gl = diag(1, -1, -1) @ R`` and the matrix is ``[[R_gl.T, C], [0, 0, 0, 1]]`` with the
    camera centre ``C = -R.T @ t``. It is expressed in the same world frame as ``rt`` (the
    normalized object frame, +Y up); a scene that keeps Blender's OBJ-import rotation on the mesh
    needs ``BLENDER_FROM_WORLD`` (as 4x4) in front of it.

    Args:
        rt: (3, 4) world-to-camera ``[R|t]`` (OpenCV axes).

    Returns:
        (4, 4) float64 camera-to-world matrix.
    """
    r, t = _split_rt(rt)
    r_gl = OPENCV_FROM_OPENGL @ r
    m = np.eye(4)
    m[:3, :3] = r_gl.T
    m[:3, 3] = -r.T @ t
    return m


def extrinsics_from_blender_matrix_world(matrix_world) -> np.ndarray:
    """Inverse of :func:`blender_camera_matrix_world`: (4, 4) camera-to-world -> (3, 4) OpenCV ``[R|t]``."""
    m = np.asarray(matrix_world, dtype=np.float64)
    if m.shape != (4, 4):
        raise ValueError(f"matrix_world must have shape (4, 4), got {m.shape}")
    r = OPENCV_FROM_OPENGL @ m[:3, :3].T
    t = -r @ m[:3, 3]
    return np.concatenate([r, t[:, None]], axis=1)


def pose_from_extrinsics(rt, shift=(0.0, 0.0, 0.0)) -> tuple[float, float, float, float]:
    """Recover the viewpoint parameters of an ``[R|t]`` built by :func:`extrinsics`.

    Args:
        rt: (3, 4) world-to-camera ``[R|t']`` of a camera looking at the (shifted) origin.
        shift: (3,) object shift that was folded into ``t'``.

    Returns:
        ``(azimuth_deg, elevation_deg, inplane_deg, distance)``: azimuth in [0, 360), elevation in
        [-90, 90], in-plane rotation in (-180, 180], distance > 0. At elevation +-90 the azimuth
        is undefined and 0 is returned.
    """
    r, t_shifted = _split_rt(rt)
    t = t_shifted - r @ _vec3(shift, "shift")
    c = -r.T @ t
    distance = float(np.linalg.norm(c))
    if distance == 0.0:
        raise ValueError("camera centre is at the origin")
    elevation = math.degrees(math.atan2(c[1], math.hypot(c[0], c[2])))
    azimuth = math.degrees(math.atan2(c[2], c[0])) % 360.0
    if azimuth >= 360.0:  # -tiny % 360 == 360.0
        azimuth = 0.0
    r0, _ = look_at(c)
    rz = r @ r0.T
    inplane = math.degrees(math.atan2(rz[0, 1], rz[0, 0]))
    if inplane == -180.0:
        inplane = 180.0
    return azimuth, elevation, inplane, distance
