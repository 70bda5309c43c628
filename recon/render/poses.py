"""Camera pose sets: the anchors' viewpoint distributions, drawn from a generator the caller seeds.

A :class:`PoseSet` draws one :class:`Pose` per ``(view, attempt)``. ``attempt`` counts the
redraws of the same view after the renderer rejected a pose (the object touches the image
border, as DISN's ``check_valid``); attempt 0 is the first draw. The caller seeds one generator
per draw, ``recon.seeding.rng(seed, "render", category, shape_id, view, attempt)``; nothing in
this module seeds anything.

**Draw order** (fixed, part of the reproducibility contract): every :meth:`PoseSet.draw` makes
exactly one call, ``u = rng.random(8)``, and maps the eight standard uniforms in this order::

    u[0] azimuth   u[1] elevation   u[2] in-plane   u[3] distance (or distance ratio)
    u[4] field of view   u[5], u[6], u[7] shift x, y, z

each as ``lo + (hi - lo) * u[i]`` over the range that applies (a fixed value has ``lo == hi``
and ignores its uniform). Every pose set consumes the same eight numbers, so changing one range
never changes the values drawn for the others.

Pose sets (angles in degrees, ``U(a, b)`` uniform; 35 mm lens on a 32 mm sensor unless stated):

==============  =====  =========  ==================================================================
name            views  size       distribution
==============  =====  =========  ==================================================================
``disn_easy``   36     224x224    az = 10 (i + 1) + U(-5, 5); el = U(20, 30); in-plane 0;
                                  ratio = U(0.65, 1.0), distance = 1.75 ratio; no shift
``disn_hard``   36     224x224    az as easy; el = U(0, 45); attempts 0-3: ratio = U(0.60, 1.0),
                                  shift = U(-0.2, 0.2)^3; attempts >= 4: ratio = U(0.75, 1.10),
                                  shift = U(-0.1, 0.1)^3 (DISN's fallback after 4 tries)
``r2n2``        24     137x137    az = U(0, 360); el = U(25, 30); in-plane 0; ratio = U(0.65, 0.95),
                                  distance = 1.75 ratio
``genre``       20     256x256    az = U(0, 360); el = U(-20, 40) (our choice); distance 2.2;
                                  50 mm lens on a 30.6 mm sensor (FOV 34.0)
==============  =====  =========  ==================================================================

and :func:`random5dof` for user ranges over all five camera degrees of freedom (azimuth,
elevation, in-plane, distance, field of view) plus an optional object shift.

Sources (``shared/reference/anchors.md``): DISN A1 (``render_blender.py``: ``current_rot_value``
steps by ``360 / views`` before each view, so view ``i`` is centred on ``(i + 1) * 360 / views``;
DISN records the azimuth unwrapped, up to 365 for the last view, and so do we); 3D-R2N2 A3
(``render_models.py``; the FOV field "25" of its metadata is ignored by its renderer, which keeps
Blender's default 35 mm / 32 mm lens); GenRe A4 (issue #11: "randomized the azimuth and
elevation", distance fixed at 2.2; ``util/util_img.py``: focal 0.05 m, sensor 0.0306 m, renders of
480x480 that the networks resize to 256x256, ``MarrnetBaseModel.im_size``; we render 256x256
directly, which keeps the field of view).

GenRe publishes no elevation range. Our choice, U(-20, 40), contains the elevations of the other
anchors' easy sets (3D-R2N2 25-30, DISN easy 20-30) and most of DISN hard (0-45), and adds views
from slightly below, which real photographs (Pix3D, GenRe's real-image benchmark) also contain;
steep top-down views are left out because they are rare in photographs of furniture and vehicles.

Units: distances and shifts are in the units the anchors state them in, i.e. for a mesh at
ShapeNet's scale (bounding-box diagonal 1). The render stage poses cameras in exactly that frame
(the *render frame*, :mod:`recon.render.stage`) and converts the stored cameras to the normalized
world frame, so the pipeline keeps ``PoseSet.scale`` at 1. ``scale`` multiplies every drawn
distance and shift (not the distance ratio) for callers that pose cameras in another frame, e.g.
``get_pose_set("disn_easy", scale=2.0)`` around a unit-sphere object.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from recon.geometry.cameras import Pose, finite_float, focal_from_fov, fov_deg

__all__ = [
    "N_UNIFORMS",
    "POSE_SETS",
    "PoseSet",
    "get_pose_set",
    "pose_set_from_config",
    "random5dof",
]

Range = tuple[float, float]

#: Number of standard uniforms one draw consumes (``rng.random(N_UNIFORMS)``).
N_UNIFORMS = 8

DISN_MAX_DISTANCE = 1.75


def _range(value, name: str) -> Range:
    lo, hi = (finite_float(v, name) for v in value)
    if lo > hi:
        raise ValueError(f"{name}: lower bound {lo} exceeds upper bound {hi}")
    return (lo, hi)


def _uniform(r: Range, u: float) -> float:
    lo, hi = r
    return lo + (hi - lo) * float(u) if hi > lo else lo


@dataclass(frozen=True)
class PoseSet:
    """A named camera distribution: image size, view count and the ranges each draw uses.

    Attributes:
        name: pose set name.
        views: views per shape.
        width: image width in pixels.
        height: image height in pixels.
        azimuth: azimuth range in degrees; with ``azimuth_stratified`` it is the jitter added to
            the view's centre ``(view + 1) * 360 / views``.
        azimuth_stratified: DISN's scheme: view ``i`` is centred on ``(i + 1) * 360 / views``.
        elevation: elevation range in degrees, within [-90, 90].
        inplane: in-plane rotation range in degrees (positive = content counter-clockwise).
        distance: camera distance range in world units; used when ``distance_ratio`` is None.
        distance_ratio: ratio range; ``distance = ratio * max_distance * scale``.
        max_distance: DISN / 3D-R2N2's ``MAX_CAMERA_DIST`` (1.75).
        focal_mm: fixed focal length in mm (when ``fov`` is None).
        sensor_mm: sensor width in mm.
        fov: horizontal field-of-view range in degrees, drawn uniformly and converted to a focal
            length; None keeps ``focal_mm``.
        shift: half-width ``s`` of the object shift, drawn ``U(-s, s)`` per axis (0 = none).
        fallback_after: attempts ``>= fallback_after`` use the fallback ranges (None = never).
        fallback_distance_ratio: distance-ratio range of the fallback (None = unchanged).
        fallback_shift: shift half-width of the fallback (None = unchanged).
        scale: world units per anchor unit; multiplies drawn distances and shifts (see module doc).
        description: one line saying where the distribution comes from.
    """

    name: str
    views: int
    width: int
    height: int
    azimuth: Range = (0.0, 360.0)
    azimuth_stratified: bool = False
    elevation: Range = (0.0, 0.0)
    inplane: Range = (0.0, 0.0)
    distance: Range | None = None
    distance_ratio: Range | None = None
    max_distance: float = DISN_MAX_DISTANCE
    focal_mm: float = 35.0
    sensor_mm: float = 32.0
    fov: Range | None = None
    shift: float = 0.0
    fallback_after: int | None = None
    fallback_distance_ratio: Range | None = None
    fallback_shift: float | None = None
    scale: float = 1.0
    description: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        for name in ("views", "width", "height"):
            value = getattr(self, name)
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise ValueError(f"{self.name}: {name} must be a positive integer, got {value!r}")
            object.__setattr__(self, name, int(value))
        for name in ("azimuth", "elevation", "inplane", "distance", "distance_ratio", "fov"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _range(value, f"{self.name}.{name}"))
        if self.fallback_distance_ratio is not None:
            object.__setattr__(
                self,
                "fallback_distance_ratio",
                _range(self.fallback_distance_ratio, "fallback_distance_ratio"),
            )
        lo, hi = self.elevation
        if lo < -90.0 or hi > 90.0:
            raise ValueError(f"{self.name}: elevation must lie in [-90, 90], got {self.elevation}")
        if (self.distance is None) == (self.distance_ratio is None):
            raise ValueError(f"{self.name}: give exactly one of distance and distance_ratio")
        for name in ("distance", "distance_ratio", "fallback_distance_ratio"):
            r = getattr(self, name)
            if r is not None and r[0] <= 0:
                raise ValueError(f"{self.name}: {name} must be > 0, got {r}")
        if self.fov is not None and not (self.fov[0] > 0.0 and self.fov[1] < 180.0):
            raise ValueError(f"{self.name}: fov must lie in (0, 180), got {self.fov}")
        for name in ("max_distance", "focal_mm", "sensor_mm", "scale"):
            if not finite_float(getattr(self, name), name) > 0:
                raise ValueError(f"{self.name}: {name} must be > 0")
        for name in ("shift", "fallback_shift"):
            value = getattr(self, name)
            if value is not None and not finite_float(value, name) >= 0:
                raise ValueError(f"{self.name}: {name} must be >= 0")
        if self.fallback_after is not None and self.fallback_after < 0:
            raise ValueError(f"{self.name}: fallback_after must be >= 0")

    def ranges(self, view: int = 0, attempt: int = 0) -> dict[str, Range]:
        """The ranges :meth:`draw` uses for ``(view, attempt)``, in world units and degrees.

        Keys: ``azimuth``, ``elevation``, ``inplane``, ``distance``, ``distance_ratio`` (only where
        the pose set draws a ratio), ``fov``, ``shift`` (per axis).
        """
        self._check_view(view, attempt)
        fallback = self.fallback_after is not None and attempt >= self.fallback_after
        if self.azimuth_stratified:
            centre = (view + 1) * 360.0 / self.views
            azimuth = (centre + self.azimuth[0], centre + self.azimuth[1])
        else:
            azimuth = self.azimuth
        out = {"azimuth": azimuth, "elevation": self.elevation, "inplane": self.inplane}
        if self.distance_ratio is not None:
            ratio = self.distance_ratio
            if fallback and self.fallback_distance_ratio is not None:
                ratio = self.fallback_distance_ratio
            out["distance_ratio"] = ratio
            k = self.max_distance * self.scale
            out["distance"] = (ratio[0] * k, ratio[1] * k)
        else:
            out["distance"] = (self.distance[0] * self.scale, self.distance[1] * self.scale)
        if self.fov is not None:
            out["fov"] = self.fov
        else:
            f = fov_deg(self.focal_mm, self.sensor_mm)
            out["fov"] = (f, f)
        s = self.fallback_shift if fallback and self.fallback_shift is not None else self.shift
        out["shift"] = (-s * self.scale, s * self.scale)
        return out

    def draw(self, rng: np.random.Generator, view: int, attempt: int = 0) -> Pose:
        """Draw the pose of ``view`` at redraw ``attempt`` from ``rng`` (one ``rng.random(8)`` call).

        Args:
            rng: a generator the caller seeded for this (shape, view, attempt).
            view: view index in ``[0, views)``.
            attempt: 0 for the first draw of this view, +1 per rejected pose.

        Returns:
            The :class:`Pose`; ``distance_ratio`` is set where the pose set draws one.
        """
        r = self.ranges(view, attempt)
        u = rng.random(N_UNIFORMS)
        ratio = None
        if "distance_ratio" in r:
            ratio = _uniform(r["distance_ratio"], u[3])
            distance = ratio * self.max_distance * self.scale
        else:
            distance = _uniform(r["distance"], u[3])
        if self.fov is not None:
            focal = focal_from_fov(_uniform(r["fov"], u[4]), self.sensor_mm)
        else:
            focal = self.focal_mm
        shift = tuple(_uniform(r["shift"], u[5 + i]) for i in range(3))
        return Pose(
            azimuth_deg=_uniform(r["azimuth"], u[0]),
            elevation_deg=_uniform(r["elevation"], u[1]),
            inplane_deg=_uniform(r["inplane"], u[2]),
            distance=distance,
            focal_mm=focal,
            sensor_mm=self.sensor_mm,
            shift=shift,
            distance_ratio=ratio,
        )

    def to_dict(self) -> dict:
        """JSON-safe dict of the pose set's fields (ranges as lists)."""
        d = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    def _check_view(self, view: int, attempt: int) -> None:
        if not 0 <= view < self.views:
            raise ValueError(f"{self.name}: view must be in [0, {self.views}), got {view}")
        if attempt < 0:
            raise ValueError(f"{self.name}: attempt must be >= 0, got {attempt}")


def random5dof(
    views: int,
    width: int,
    height: int,
    azimuth: Range = (0.0, 360.0),
    elevation: Range = (-10.0, 60.0),
    inplane: Range = (-15.0, 15.0),
    distance: Range = (1.2, 2.0),
    fov: Range = (30.0, 60.0),
    shift: float = 0.0,
    sensor_mm: float = 32.0,
    scale: float = 1.0,
    name: str = "random5dof",
) -> PoseSet:
    """A pose set drawing all five camera parameters uniformly from the given ranges.

    Args:
        views: views per shape.
        width: image width in pixels.
        height: image height in pixels.
        azimuth: azimuth range in degrees.
        elevation: elevation range in degrees, within [-90, 90].
        inplane: in-plane rotation range in degrees.
        distance: camera distance range in world units.
        fov: horizontal field-of-view range in degrees (drawn uniformly, then converted to a focal
            length on ``sensor_mm``).
        shift: object shift half-width ``s``, drawn ``U(-s, s)`` per axis.
        sensor_mm: sensor width in mm.
        scale: multiplies drawn distances and shifts.
        name: pose set name.

    Returns:
        The :class:`PoseSet`.
    """
    return PoseSet(
        name=name,
        views=views,
        width=width,
        height=height,
        azimuth=azimuth,
        elevation=elevation,
        inplane=inplane,
        distance=distance,
        fov=fov,
        sensor_mm=sensor_mm,
        shift=shift,
        scale=scale,
        description="uniform azimuth, elevation, in-plane, distance and field of view from user ranges",
    )


POSE_SETS: dict[str, PoseSet] = {
    "disn_easy": PoseSet(
        name="disn_easy",
        views=36,
        width=224,
        height=224,
        azimuth=(-5.0, 5.0),
        azimuth_stratified=True,
        elevation=(20.0, 30.0),
        distance_ratio=(0.65, 1.0),
        description="DISN renders, easy set (Xharlie/ShapenetRender_more_variation render_blender.py)",
    ),
    "disn_hard": PoseSet(
        name="disn_hard",
        views=36,
        width=224,
        height=224,
        azimuth=(-5.0, 5.0),
        azimuth_stratified=True,
        elevation=(0.0, 45.0),
        distance_ratio=(0.60, 1.0),
        shift=0.2,
        fallback_after=4,
        fallback_distance_ratio=(0.75, 1.10),
        fallback_shift=0.1,
        description="DISN renders, hard set with object shift and its fallback after 4 tries",
    ),
    "r2n2": PoseSet(
        name="r2n2",
        views=24,
        width=137,
        height=137,
        azimuth=(0.0, 360.0),
        elevation=(25.0, 30.0),
        distance_ratio=(0.65, 0.95),
        description="3D-R2N2 ShapeNetRendering (chrischoy/3D-R2N2 tools/render_models.py)",
    ),
    "genre": PoseSet(
        name="genre",
        views=20,
        width=256,
        height=256,
        azimuth=(0.0, 360.0),
        elevation=(-20.0, 40.0),
        distance=(2.2, 2.2),
        focal_mm=50.0,
        sensor_mm=30.6,
        description="GenRe / ShapeHD renders (distance 2.2, 50 mm on 30.6 mm); elevation range is ours",
    ),
}


def get_pose_set(name: str, **overrides) -> PoseSet:
    """Look up a pose set by name, with field overrides; ``random5dof`` is built from keyword ranges.

    Args:
        name: one of :data:`POSE_SETS` or ``random5dof``.
        **overrides: for a fixed pose set, :class:`PoseSet` fields to replace (e.g.
            ``views=12, scale=2.0``); for ``random5dof``, the arguments of :func:`random5dof`
            (``views``, ``width`` and ``height`` are required).

    Returns:
        The :class:`PoseSet`.

    Raises:
        ValueError: unknown name, unknown override, or missing ``random5dof`` arguments.
    """
    valid = [*POSE_SETS, "random5dof"]
    if name == "random5dof":
        missing = [k for k in ("views", "width", "height") if k not in overrides]
        if missing:
            raise ValueError(f"random5dof needs {', '.join(missing)}")
        try:
            return random5dof(**overrides)
        except TypeError as exc:
            raise ValueError(f"random5dof: {exc}") from None
    if name not in POSE_SETS:
        raise ValueError(f"unknown pose set {name!r}; valid pose sets: {', '.join(valid)}")
    fields = {f.name for f in dataclasses.fields(PoseSet)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ValueError(f"{name}: unknown pose set fields {unknown}; valid fields: {sorted(fields)}")
    return dataclasses.replace(POSE_SETS[name], **overrides) if overrides else POSE_SETS[name]


def pose_set_from_config(render: Mapping) -> PoseSet:
    """The pose set of ``config["render"]``: its ``poses``, with ``views`` and ``resolution`` overrides.

    ``random5dof`` takes every range from ``render["random5dof"]``.
    """
    if render["poses"] == "random5dof":
        r = render["random5dof"]
        size = render["resolution"] or r["resolution"]
        return random5dof(
            views=render["views"] or r["views"],
            width=size,
            height=size,
            azimuth=tuple(r["azimuth"]),
            elevation=tuple(r["elevation"]),
            inplane=tuple(r["inplane"]),
            distance=tuple(r["distance"]),
            fov=tuple(r["fov"]),
            shift=float(r["shift"]),
        )
    overrides = {}
    if render["views"]:
        overrides["views"] = render["views"]
    if render["resolution"]:
        overrides["width"] = overrides["height"] = render["resolution"]
    return get_pose_set(render["poses"], **overrides)
