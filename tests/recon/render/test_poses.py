"""Camera pose sets: each parameter follows the anchor's stated distribution, and draws are reproducible."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from recon.geometry.cameras import Pose, fov_deg
from recon.render.poses import N_UNIFORMS, POSE_SETS, PoseSet, get_pose_set, random5dof
from recon.seeding import rng as seeded_rng

N = 2000
DISN_FOV = math.degrees(2 * math.atan(16 / 35))


def _draws(pose_set: PoseSet, attempt: int = 0, view=None, seed: int = 0) -> list[Pose]:
    gen = np.random.default_rng(seed)
    views = [view] * N if view is not None else [k % pose_set.views for k in range(N)]
    return [pose_set.draw(gen, v, attempt) for v in views]


def _check_uniform(values, lo, hi, name):
    """Inside [lo, hi], reaching both ends, mean within 4 standard errors of the uniform mean."""
    values = np.asarray(values, dtype=float)
    if hi == lo:
        assert np.all(values == lo), name
        return
    width = hi - lo
    assert values.min() >= lo and values.max() <= hi, name
    assert values.min() - lo < 0.01 * width, f"{name}: min {values.min()} far from {lo}"
    assert hi - values.max() < 0.01 * width, f"{name}: max {values.max()} far from {hi}"
    se = width / math.sqrt(12 * len(values))
    assert abs(values.mean() - (lo + hi) / 2) < 4 * se, f"{name}: mean {values.mean()}"


def _params(poses):
    return {
        "elevation": [p.elevation_deg for p in poses],
        "inplane": [p.inplane_deg for p in poses],
        "distance": [p.distance for p in poses],
        "fov": [p.fov_deg for p in poses],
        "shift_x": [p.shift[0] for p in poses],
        "shift_y": [p.shift[1] for p in poses],
        "shift_z": [p.shift[2] for p in poses],
    }


def _azimuth_jitter(poses, views):
    return [p.azimuth_deg - 10 * (k % views) - 10 for k, p in enumerate(poses)]


# --- the anchors' distributions, stated independently of the code ----------------------------


def test_disn_easy():
    pose_set = POSE_SETS["disn_easy"]
    assert (pose_set.views, pose_set.width, pose_set.height) == (36, 224, 224)
    poses = _draws(pose_set)
    jitter = _azimuth_jitter(poses, 36)
    _check_uniform(jitter, -5, 5, "azimuth jitter")
    for k, p in enumerate(poses):
        i = k % 36
        assert 10 * i + 5 <= p.azimuth_deg <= 10 * i + 15
    params = _params(poses)
    _check_uniform(params["elevation"], 20, 30, "elevation")
    _check_uniform(params["inplane"], 0, 0, "inplane")
    _check_uniform(params["distance"], 0.65 * 1.75, 1.75, "distance")
    _check_uniform([p.distance_ratio for p in poses], 0.65, 1.0, "ratio")
    _check_uniform(params["fov"], DISN_FOV, DISN_FOV, "fov")
    for axis in "xyz":
        _check_uniform(params[f"shift_{axis}"], 0, 0, "shift")
    assert all(p.distance == pytest.approx(p.distance_ratio * 1.75) for p in poses)
    assert all((p.focal_mm, p.sensor_mm) == (35.0, 32.0) for p in poses)


@pytest.mark.parametrize(
    "attempt, ratio, shift",
    [(0, (0.60, 1.0), 0.2), (3, (0.60, 1.0), 0.2), (4, (0.75, 1.10), 0.1), (9, (0.75, 1.10), 0.1)],
)
def test_disn_hard(attempt, ratio, shift):
    pose_set = POSE_SETS["disn_hard"]
    assert (pose_set.views, pose_set.width, pose_set.height) == (36, 224, 224)
    poses = _draws(pose_set, attempt=attempt)
    _check_uniform(_azimuth_jitter(poses, 36), -5, 5, "azimuth jitter")
    params = _params(poses)
    _check_uniform(params["elevation"], 0, 45, "elevation")
    _check_uniform(params["inplane"], 0, 0, "inplane")
    _check_uniform([p.distance_ratio for p in poses], *ratio, "ratio")
    _check_uniform(params["distance"], ratio[0] * 1.75, ratio[1] * 1.75, "distance")
    for axis in "xyz":
        _check_uniform(params[f"shift_{axis}"], -shift, shift, f"shift {axis}")
    _check_uniform(params["fov"], DISN_FOV, DISN_FOV, "fov")


def test_r2n2():
    pose_set = POSE_SETS["r2n2"]
    assert (pose_set.views, pose_set.width, pose_set.height) == (24, 137, 137)
    poses = _draws(pose_set)
    params = _params(poses)
    _check_uniform([p.azimuth_deg for p in poses], 0, 360, "azimuth")
    _check_uniform(params["elevation"], 25, 30, "elevation")
    _check_uniform(params["inplane"], 0, 0, "inplane")
    _check_uniform([p.distance_ratio for p in poses], 0.65, 0.95, "ratio")
    _check_uniform(params["distance"], 0.65 * 1.75, 0.95 * 1.75, "distance")
    _check_uniform(params["fov"], DISN_FOV, DISN_FOV, "fov")
    for axis in "xyz":
        _check_uniform(params[f"shift_{axis}"], 0, 0, "shift")


def test_genre():
    pose_set = POSE_SETS["genre"]
    assert (pose_set.views, pose_set.width, pose_set.height) == (20, 256, 256)
    poses = _draws(pose_set)
    params = _params(poses)
    _check_uniform([p.azimuth_deg for p in poses], 0, 360, "azimuth")
    _check_uniform(params["elevation"], -20, 40, "elevation")
    _check_uniform(params["distance"], 2.2, 2.2, "distance")
    genre_fov = math.degrees(2 * math.atan(0.0306 / (2 * 0.05)))
    _check_uniform(params["fov"], genre_fov, genre_fov, "fov")
    assert all(p.distance_ratio is None for p in poses)
    assert all((p.focal_mm, p.sensor_mm) == (50.0, 30.6) for p in poses)


def test_random5dof():
    pose_set = random5dof(10, 128, 96, shift=0.15)
    assert (pose_set.views, pose_set.width, pose_set.height) == (10, 128, 96)
    poses = _draws(pose_set)
    params = _params(poses)
    _check_uniform([p.azimuth_deg for p in poses], 0, 360, "azimuth")
    _check_uniform(params["elevation"], -10, 60, "elevation")
    _check_uniform(params["inplane"], -15, 15, "inplane")
    _check_uniform(params["distance"], 1.2, 2.0, "distance")
    _check_uniform(params["fov"], 30, 60, "fov")  # uniform in FOV, not in focal length
    for axis in "xyz":
        _check_uniform(params[f"shift_{axis}"], -0.15, 0.15, f"shift {axis}")
    assert all(p.distance_ratio is None and p.sensor_mm == 32.0 for p in poses)


def test_random5dof_custom_ranges_and_sensor():
    pose_set = random5dof(
        4, 64, 64, azimuth=(10, 20), elevation=(-5, 5), inplane=(0, 0), fov=(40, 40), sensor_mm=36
    )
    poses = _draws(pose_set)
    _check_uniform([p.azimuth_deg for p in poses], 10, 20, "azimuth")
    _check_uniform([p.inplane_deg for p in poses], 0, 0, "inplane")
    assert all(p.sensor_mm == 36.0 and p.fov_deg == pytest.approx(40.0) for p in poses)


# --- reproducibility and the documented draw order -------------------------------------------


@pytest.mark.parametrize("name", [*POSE_SETS, "random5dof"])
def test_same_seed_same_pose(name):
    pose_set = get_pose_set(name, views=8, width=64, height=64) if name == "random5dof" else POSE_SETS[name]
    for view in (0, pose_set.views - 1):
        for attempt in (0, 5):
            a = pose_set.draw(seeded_rng(7, "render", "03001627", "abc", view, attempt), view, attempt)
            b = pose_set.draw(seeded_rng(7, "render", "03001627", "abc", view, attempt), view, attempt)
            assert a == b
            c = pose_set.draw(seeded_rng(8, "render", "03001627", "abc", view, attempt), view, attempt)
            assert c != a


def test_draw_consumes_eight_uniforms_in_the_documented_order():
    pose_set = POSE_SETS["disn_hard"]
    for attempt in (0, 4):
        gen = np.random.default_rng(11)
        pose = pose_set.draw(gen, 3, attempt)
        u = np.random.default_rng(11).random(8)
        lo, hi = (0.60, 1.0) if attempt < 4 else (0.75, 1.10)
        s = 0.2 if attempt < 4 else 0.1
        assert pose.azimuth_deg == pytest.approx(40 - 5 + 10 * u[0])
        assert pose.elevation_deg == pytest.approx(45 * u[1])
        assert pose.distance_ratio == pytest.approx(lo + (hi - lo) * u[3])
        assert pose.shift == pytest.approx(tuple(-s + 2 * s * u[5:8]))
        # the generator advanced by exactly eight uniforms
        follow = np.random.default_rng(11)
        follow.random(N_UNIFORMS)
        assert gen.random() == follow.random()
    gen = np.random.default_rng(12)
    pose = random5dof(5, 32, 32).draw(gen, 0)
    u = np.random.default_rng(12).random(8)
    assert pose.inplane_deg == pytest.approx(-15 + 30 * u[2])
    assert pose.fov_deg == pytest.approx(30 + 30 * u[4])
    assert pose.distance == pytest.approx(1.2 + 0.8 * u[3])


def test_scale_multiplies_distance_and_shift_only():
    base, scaled = POSE_SETS["disn_hard"], get_pose_set("disn_hard", scale=2.0)
    a = base.draw(np.random.default_rng(5), 2)
    b = scaled.draw(np.random.default_rng(5), 2)
    assert b.distance == pytest.approx(2 * a.distance)
    assert b.shift == pytest.approx(tuple(2 * s for s in a.shift))
    assert (b.azimuth_deg, b.elevation_deg, b.distance_ratio) == (
        a.azimuth_deg,
        a.elevation_deg,
        a.distance_ratio,
    )


def test_stratified_azimuth_follows_view_count():
    pose_set = get_pose_set("disn_easy", views=12)
    for view in range(12):
        lo, hi = pose_set.ranges(view)["azimuth"]
        assert (lo, hi) == pytest.approx((30 * (view + 1) - 5, 30 * (view + 1) + 5))


# --- Pose ------------------------------------------------------------------------------------


def test_pose_to_dict_is_json_safe_and_round_trips():
    pose = POSE_SETS["disn_hard"].draw(np.random.default_rng(0), 0)
    d = pose.to_dict()
    text = json.dumps(d)
    back = json.loads(text)
    assert back["fov_deg"] == pytest.approx(fov_deg(35, 32))
    assert Pose.from_dict(back) == pose
    assert all(type(v) in (float, list) for v in d.values())
    assert Pose.from_dict(Pose(1, 2, 3, 4, 5, 6).to_dict()).distance_ratio is None


def test_pose_coerces_numpy_and_validates():
    pose = Pose(np.float64(10), np.float32(5), 0, 1.5, 35, 32, shift=np.array([0.1, 0.0, -0.0]))
    assert type(pose.azimuth_deg) is float and type(pose.shift[0]) is float
    assert math.copysign(1.0, pose.shift[2]) == 1.0
    with pytest.raises(ValueError):
        Pose(0, 95, 0, 1, 35, 32)
    with pytest.raises(ValueError):
        Pose(0, 0, 0, 0, 35, 32)
    with pytest.raises(ValueError):
        Pose(0, 0, 0, 1, 35, 32, shift=(0, 0))
    with pytest.raises(ValueError):
        Pose(float("nan"), 0, 0, 1, 35, 32)


# --- registry --------------------------------------------------------------------------------


def test_get_pose_set():
    assert get_pose_set("r2n2") is POSE_SETS["r2n2"]
    small = get_pose_set("disn_easy", width=64, height=64)
    assert (small.width, small.height, small.views) == (64, 64, 36)
    assert POSE_SETS["disn_easy"].width == 224  # the registry is not modified
    r5 = get_pose_set("random5dof", views=3, width=32, height=16, fov=(20, 25))
    assert r5.fov == (20.0, 25.0) and r5.views == 3


def test_get_pose_set_errors():
    with pytest.raises(ValueError, match=r"disn_easy.*disn_hard.*r2n2.*genre.*random5dof"):
        get_pose_set("pix3d")
    with pytest.raises(ValueError, match="unknown pose set fields"):
        get_pose_set("disn_easy", colour="red")
    with pytest.raises(ValueError, match="views"):
        get_pose_set("random5dof", width=32, height=32)
    with pytest.raises(ValueError):
        get_pose_set("random5dof", views=3, width=32, height=32, bogus=1)
    with pytest.raises(ValueError):
        get_pose_set("random5dof", views=3, width=32, height=32, elevation=(10, -10))
    with pytest.raises(ValueError):
        get_pose_set("random5dof", views=3, width=32, height=32, fov=(10, 200))
    with pytest.raises(ValueError):
        get_pose_set("disn_easy", views=0)


def test_draw_rejects_bad_view_and_attempt():
    with pytest.raises(ValueError):
        POSE_SETS["r2n2"].draw(np.random.default_rng(0), 24)
    with pytest.raises(ValueError):
        POSE_SETS["r2n2"].draw(np.random.default_rng(0), 0, -1)


def test_pose_set_to_dict_is_json_safe():
    for pose_set in POSE_SETS.values():
        json.dumps(pose_set.to_dict())
