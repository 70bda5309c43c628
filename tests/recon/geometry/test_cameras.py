"""Camera maths: frames, signs and round trips, checked against independent constructions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from recon.geometry.cameras import (
    BLENDER_FROM_WORLD,
    Pose,
    blender_camera_matrix_world,
    camera_center,
    extrinsics,
    extrinsics_from_blender_matrix_world,
    focal_from_fov,
    fov_deg,
    intrinsics,
    look_at,
    pose_from_extrinsics,
    project,
    unproject,
)

W, H = 224, 160


def _camera(center, inplane=0.0, focal=35.0, sensor=32.0):
    r, t = look_at(center, inplane_deg=inplane)
    return intrinsics(focal, sensor, W, H), np.concatenate([r, t[:, None]], axis=1)


def _random_pose(rng, shift_scale=0.3) -> Pose:
    return Pose(
        azimuth_deg=rng.uniform(0, 360),
        elevation_deg=rng.uniform(-85, 85),
        inplane_deg=rng.uniform(-179, 179),
        distance=rng.uniform(0.5, 5.0),
        focal_mm=rng.uniform(15, 80),
        sensor_mm=32.0,
        shift=tuple(rng.uniform(-shift_scale, shift_scale, 3)),
    )


# --- camera_center: DISN / 3D-R2N2 parity ---------------------------------------------------


def _blender_to_world(p):
    """Blender's OBJ importer maps OBJ (x, y, z) to Blender (x, -z, y); this is its inverse."""
    x, y, z = p
    return np.array([x, z, -y])


def _rz(a):
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])


def _ry(a):
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0, s], [0, 1.0, 0], [-s, 0, c]])


@pytest.mark.parametrize("az, el, d", [(0, 0, 1), (90, 0, 1.2), (33, 21, 1.5), (250, -10, 0.8), (359, 45, 2)])
def test_camera_center_matches_r2n2_blender_scene(az, el, d):
    # 3D-R2N2 setViewpoint: camera at (d, 0, 0) parented to an empty with Euler XYZ (0, -el, -az);
    # Blender's XYZ Euler matrix is Rz @ Ry @ Rx.
    blender = _rz(math.radians(-az)) @ _ry(math.radians(-el)) @ np.array([d, 0.0, 0.0])
    np.testing.assert_allclose(camera_center(az, el, d), _blender_to_world(blender), atol=1e-12)


@pytest.mark.parametrize("az, el, d", [(13.6, 44.1, 1.27), (92.9, 30.5, 1.66), (300, 2, 1.0)])
def test_camera_center_matches_disn_camera_info(az, el, d):
    # DISN render_blender.camera_info: Y-up (camX, camY, camZ), then Blender location (camX, -camZ, camY).
    a, e = math.radians(az), math.radians(el)
    cam_x, cam_y, cam_z = d * math.cos(e) * math.cos(a), d * math.sin(e), d * math.cos(e) * math.sin(a)
    blender = np.array([cam_x, -cam_z, cam_y])
    np.testing.assert_allclose(camera_center(az, el, d), _blender_to_world(blender), atol=1e-12)
    np.testing.assert_allclose(BLENDER_FROM_WORLD @ camera_center(az, el, d), blender, atol=1e-12)


def test_camera_center_axes():
    np.testing.assert_allclose(camera_center(0, 0, 2), [2, 0, 0], atol=1e-12)
    np.testing.assert_allclose(camera_center(90, 0, 2), [0, 0, 2], atol=1e-12)  # +Z: the object's back
    np.testing.assert_allclose(camera_center(270, 0, 2), [0, 0, -2], atol=1e-12)  # -Z: the front
    np.testing.assert_allclose(camera_center(123, 90, 2), [0, 2, 0], atol=1e-12)
    assert np.linalg.norm(camera_center(77, 33, 1.7)) == pytest.approx(1.7)


def test_extrinsics_match_disn_projection_matrices():
    """Our K [R|t] projects like DISN's cam_read (K, RT, rot_mat, W2O), up to its W/2 principal point."""

    def disn_trans_mat(az, el, ratio, shift_blender, size):
        f = 35.0 * size / 32.0
        k = np.array([[f, 0, size / 2], [0, f, size / 2], [0, 0, 1.0]])
        # world(Blender) -> "object" frame of getBlenderProj: inverse of Rz(-az) Ry(-el)
        r_world2obj = (_rz(math.radians(-az)) @ _ry(math.radians(-el))).T
        r_obj2cam = np.array([[0, 1.0, 0], [0, 0, 1.0], [1.0, 0, 0]])  # CAM_ROT.T without 4e-8 noise
        fix = np.diag([1.0, -1, -1])
        r = fix @ r_obj2cam @ r_world2obj
        t = -fix @ r_obj2cam @ np.array([ratio * 1.75, 0, 0])
        rot_mat = np.eye(4)
        rot_mat[:3, :3] = BLENDER_FROM_WORLD
        sx, sy, sz = shift_blender
        w2o = np.eye(4)
        w2o[:3, 3] = [sx, sz, -sy]  # cam_read: get_W2O_mat((param[-3], param[-1], -param[-2]))
        return k @ np.concatenate([r, t[:, None]], axis=1) @ rot_mat @ w2o

    rng = np.random.default_rng(3)
    points = rng.uniform(-0.5, 0.5, (50, 3))
    for _ in range(20):
        az, el, ratio = rng.uniform(0, 360), rng.uniform(0, 45), rng.uniform(0.6, 1.0)
        shift_blender = rng.uniform(-0.2, 0.2, 3)
        sx, sy, sz = shift_blender
        pose = Pose(az, el, 0.0, ratio * 1.75, 35.0, 32.0, (sx, sz, -sy), distance_ratio=ratio)
        assert pose.disn_metadata_row()[7:] == pytest.approx(list(shift_blender))
        uv, depth = project(intrinsics(35, 32, 224, 224), extrinsics(pose), points)
        hom = (
            np.concatenate([points, np.ones((len(points), 1))], axis=1)
            @ disn_trans_mat(az, el, ratio, shift_blender, 224).T
        )
        np.testing.assert_allclose(uv + 0.5, hom[:, :2] / hom[:, 2:], atol=1e-9)
        np.testing.assert_allclose(depth, hom[:, 2], atol=1e-12)


# --- look_at ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "center", [(2, 0.5, 1), (-1, 1.5, -0.3), (0.1, -2, 0.4), (0, 0, -3), (0, 2, 0), (0, -2, 0)]
)
def test_look_at_frame(center):
    k, rt = _camera(center)
    r, t = rt[:, :3], rt[:, 3]
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(r) == pytest.approx(1.0)
    np.testing.assert_allclose(r @ np.asarray(center, float) + t, 0, atol=1e-12)  # centre -> camera origin
    uv, depth = project(k, rt, np.zeros((1, 3)))
    np.testing.assert_allclose(uv[0], [(W - 1) / 2, (H - 1) / 2], atol=1e-9)
    assert depth[0] == pytest.approx(np.linalg.norm(center))


@pytest.mark.parametrize("center", [(2, 0.5, 1), (-1, 1.5, -0.3), (0.1, -2, 0.4), (0, 0, -3)])
def test_look_at_image_up_is_world_up(center):
    k, rt = _camera(center)
    uv, _ = project(k, rt, np.array([[0, 0, 0], [0, 0.3, 0]], float))
    assert uv[1, 1] < uv[0, 1] - 1  # above the principal point: smaller row
    assert uv[1, 0] == pytest.approx(uv[0, 0], abs=1e-9)  # a vertical line stays vertical


def test_look_at_azimuth_90_looks_from_plus_z_and_x_right():
    k, rt = _camera(camera_center(90, 0, 2.0))
    r = rt[:, :3]
    np.testing.assert_allclose(r[2], [0, 0, -1], atol=1e-12)  # forward = -Z
    uv, _ = project(k, rt, np.array([[0.3, 0, 0], [0, 0, 0]]))
    assert uv[0, 0] > uv[1, 0]  # from +Z looking toward -Z, +X is on the image's right


def test_look_at_straight_down_uses_fallback_up():
    k, rt = _camera((0, 2.0, 0))
    uv, _ = project(k, rt, np.array([[0, 0, -0.3], [0, 0, 0]]))
    assert uv[0, 1] < uv[1, 1]  # world -Z (the front) is image up
    assert np.all(np.isfinite(rt))


@pytest.mark.parametrize("inplane", [90.0, 30.0, -45.0])
def test_inplane_rotates_content_counter_clockwise(inplane):
    center = camera_center(40, 20, 2.0)
    k0, rt0 = _camera(center)
    k1, rt1 = _camera(center, inplane=inplane)
    # a point imaged to the right of the principal point without roll
    right = rt0[:, :3].T @ np.array([0.4, 0.0, 0.0])  # world point on camera +x through the origin
    uv0, d0 = project(k0, rt0, right[None])
    uv1, d1 = project(k1, rt1, right[None])
    c = np.array([(W - 1) / 2, (H - 1) / 2])
    a0 = uv0[0] - c
    a1 = uv1[0] - c
    assert a0[0] > 0 and abs(a0[1]) < 1e-9
    # angle measured counter-clockwise on screen, i.e. with the row axis flipped to point up
    angle = math.degrees(math.atan2(-a1[1], a1[0]) - math.atan2(-a0[1], a0[0]))
    assert angle == pytest.approx(inplane, abs=1e-9)
    assert np.linalg.norm(a1) == pytest.approx(np.linalg.norm(a0))
    assert d1[0] == pytest.approx(d0[0])


def test_inplane_90_moves_right_to_above():
    k, rt = _camera(camera_center(10, 5, 2.0), inplane=90.0)
    _, rt0 = _camera(camera_center(10, 5, 2.0))
    p = rt0[:, :3].T @ np.array([0.2, 0.0, 0.0])
    uv, _ = project(k, rt, p[None])
    assert uv[0, 1] < (H - 1) / 2 - 1  # above the principal point
    assert uv[0, 0] == pytest.approx((W - 1) / 2, abs=1e-9)


def test_look_at_errors():
    with pytest.raises(ValueError):
        look_at((0, 0, 0))
    with pytest.raises(ValueError):
        look_at((1, 0, 0), up=(0, 0, 0))


# --- intrinsics, fov -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "focal, sensor, width, height", [(35, 32, 224, 224), (50, 30.6, 256, 256), (20, 36, 320, 200)]
)
def test_fov_edge_projects_to_image_border(focal, sensor, width, height):
    k = intrinsics(focal, sensor, width, height)
    half = math.radians(fov_deg(focal, sensor)) / 2
    z = 1.7
    rt = np.concatenate([np.eye(3), np.zeros((3, 1))], axis=1)
    pts = np.array([[math.tan(half) * z, 0, z], [-math.tan(half) * z, 0, z], [0, 0, z]])
    uv, depth = project(k, rt, pts)
    np.testing.assert_allclose(uv[:, 0], [width - 0.5, -0.5, (width - 1) / 2], atol=1e-9)
    np.testing.assert_allclose(uv[:, 1], (height - 1) / 2, atol=1e-9)
    np.testing.assert_allclose(depth, z)
    assert k[0, 0] == k[1, 1]  # square pixels


def test_fov_values_and_inverse():
    assert fov_deg(35, 32) == pytest.approx(2 * math.degrees(math.atan(16 / 35)))
    assert fov_deg(35, 32) == pytest.approx(49.134, abs=1e-3)  # DISN: "FOV = 2 atan(16/35) ~ 49.1"
    for fov in (10.0, 34.0, 49.1, 90.0, 150.0):
        assert fov_deg(focal_from_fov(fov, 32.0), 32.0) == pytest.approx(fov)
    with pytest.raises(ValueError):
        focal_from_fov(180.0, 32.0)
    with pytest.raises(ValueError):
        intrinsics(35, 32, 0, 10)


# --- extrinsics with shift, projection -------------------------------------------------------


def test_extrinsics_shift_moves_the_object():
    rng = np.random.default_rng(0)
    for _ in range(20):
        pose = _random_pose(rng)
        unshifted = Pose(**{**pose.__dict__, "shift": (0.0, 0.0, 0.0)})
        k = intrinsics(pose.focal_mm, pose.sensor_mm, W, H)
        x = rng.uniform(-1, 1, (30, 3))
        uv_a, d_a = project(k, extrinsics(unshifted), x + np.array(pose.shift))
        uv_b, d_b = project(k, extrinsics(pose), x)
        np.testing.assert_allclose(uv_b, uv_a, atol=1e-9)
        np.testing.assert_allclose(d_b, d_a, atol=1e-12)
        # the camera centre is where camera_center says, independent of the shift
        r = extrinsics(unshifted)[:, :3]
        c = -r.T @ extrinsics(unshifted)[:, 3]
        np.testing.assert_allclose(c, camera_center(pose.azimuth_deg, pose.elevation_deg, pose.distance))


def test_project_matches_manual_pinhole_and_unproject_inverts():
    rng = np.random.default_rng(1)
    pose = _random_pose(rng)
    k = intrinsics(pose.focal_mm, pose.sensor_mm, W, H)
    rt = extrinsics(pose)
    x = rng.uniform(-1, 1, (40, 3))
    uv, depth = project(k, rt, x)
    for p, q, d in zip(x, uv, depth, strict=True):
        cam = rt[:, :3] @ p + rt[:, 3]
        assert d == pytest.approx(cam[2])
        assert q[0] == pytest.approx(k[0, 0] * cam[0] / cam[2] + k[0, 2])
        assert q[1] == pytest.approx(k[1, 1] * cam[1] / cam[2] + k[1, 2])
    np.testing.assert_allclose(unproject(k, rt, uv, depth), x, atol=1e-9)
    with pytest.raises(ValueError):
        project(k, rt, np.zeros(3))


# --- Blender camera --------------------------------------------------------------------------


def test_blender_camera_matrix_world():
    rng = np.random.default_rng(2)
    for _ in range(20):
        pose = _random_pose(rng, shift_scale=0.0)
        rt = extrinsics(pose)
        m = blender_camera_matrix_world(rt)
        c = camera_center(pose.azimuth_deg, pose.elevation_deg, pose.distance)
        np.testing.assert_allclose(m[:3, 3], c, atol=1e-12)  # location = camera centre
        np.testing.assert_allclose(m[3], [0, 0, 0, 1])
        minus_z = -m[:3, 2]
        np.testing.assert_allclose(minus_z, -c / np.linalg.norm(c), atol=1e-12)  # looks at the origin
        np.testing.assert_allclose(m[:3, :3] @ m[:3, :3].T, np.eye(3), atol=1e-12)
        assert np.linalg.det(m[:3, :3]) == pytest.approx(1.0)
        # Blender camera +X is OpenCV +x (image right), Blender +Y is image up = -OpenCV y
        np.testing.assert_allclose(m[:3, 0], rt[0, :3], atol=1e-12)
        np.testing.assert_allclose(m[:3, 1], -rt[1, :3], atol=1e-12)
        np.testing.assert_allclose(extrinsics_from_blender_matrix_world(m), rt, atol=1e-12)


def test_blender_camera_up_is_world_up_without_roll():
    m = blender_camera_matrix_world(extrinsics(Pose(30, 20, 0, 1.5, 35, 32)))
    assert m[1, 1] > 0.9  # camera +Y has a large world +Y component at 20 deg elevation


# --- pose_from_extrinsics --------------------------------------------------------------------


def test_pose_from_extrinsics_inverts_extrinsics():
    rng = np.random.default_rng(4)
    for _ in range(500):
        pose = _random_pose(rng)
        az, el, inplane, dist = pose_from_extrinsics(extrinsics(pose), pose.shift)
        assert 0.0 <= az < 360.0
        daz = (az - pose.azimuth_deg + 180.0) % 360.0 - 180.0
        assert abs(daz) < 1e-9
        assert el == pytest.approx(pose.elevation_deg, abs=1e-9)
        assert inplane == pytest.approx(pose.inplane_deg, abs=1e-9)
        assert dist == pytest.approx(pose.distance, abs=1e-9)


def test_pose_from_extrinsics_wraps_azimuth():
    az, *_ = pose_from_extrinsics(extrinsics(Pose(365.0, 10, 0, 1.2, 35, 32)))
    assert az == pytest.approx(5.0)
    az, *_ = pose_from_extrinsics(extrinsics(Pose(-30.0, 10, 0, 1.2, 35, 32)))
    assert az == pytest.approx(330.0)


def test_pose_from_extrinsics_needs_the_shift():
    pose = Pose(40, 20, 5, 1.5, 35, 32, shift=(0.2, -0.1, 0.1))
    _, _, _, dist = pose_from_extrinsics(extrinsics(pose))  # shift not given: a different camera
    assert abs(dist - 1.5) > 1e-3
