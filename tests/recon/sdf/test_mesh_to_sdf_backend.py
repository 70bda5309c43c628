"""The mesh_to_sdf backend against analytic sphere SDFs: values, signs, units, frame and grid layout.

mesh_to_sdf is approximate (distances to a rendered point cloud), so values are compared within a
tolerance derived from its scan geometry (see ``_tolerance``), and signs where the analytic
distance exceeds it. Small scans (20 views of 128^2 pixels) keep each scan under about 2 s.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
import trimesh

from recon.geometry.grid import GridSpec
from recon.sdf import mesh_to_sdf_backend as backend

SCANS = {"scan_count": 20, "scan_resolution": 128}
SPEC = GridSpec(resolution=24, lo=-1.1, hi=1.1)
FOV = 1.0472  # mesh_to_sdf's camera field of view (60 degrees), fixed in its create_from_scans


@pytest.fixture(scope="module", autouse=True)
def _backend_available():
    reason = backend.available()
    if reason is not None:
        if os.environ.get("CI"):  # .ci/run installs the extra and EGL: a skip there would hide a break
            pytest.fail(f"mesh_to_sdf backend unavailable in CI: {reason}")
        pytest.skip(reason)


def _sphere(radius: float, center=(0.0, 0.0, 0.0)) -> trimesh.Trimesh:
    return trimesh.creation.icosphere(4, radius=radius).apply_translation(center)


def _analytic(points: np.ndarray, radius: float, center=(0.0, 0.0, 0.0)) -> np.ndarray:
    return np.linalg.norm(points - np.asarray(center), axis=-1) - radius


def _tolerance(mesh: trimesh.Trimesh, radius: float, center, scan_resolution: int) -> float:
    """Bound on |mesh_to_sdf - analytic| for a sphere mesh, from how mesh_to_sdf scans.

    Cameras sit at ``2 * rb`` from the origin (``rb = 1.1 * max |vertex|``). mesh_to_sdf maps
    pixel ``i`` to ``i / (res - 1)`` of the view instead of the pixel centre ``(i + 0.5) / res``,
    which moves a back-projected point sideways by up to half a pixel; on grazing surfaces that
    puts it up to that far off the surface. Half a pixel at depth ``2 * rb`` (no visible surface
    point is farther) is ``2 * rb * tan(fov / 2) / res``. The icosphere's facets lie inside the
    sphere by up to their sagitta. Measured (20 x 128^2 scans): max |error| 0.0030 on the grid and
    0.0043 on 32k random points, against this bound of 0.0055 for the centred r = 0.5 sphere.
    """
    rb = 1.1 * np.linalg.norm(mesh.vertices, axis=1).max()
    half_pixel = 2 * rb * math.tan(FOV / 2) / scan_resolution
    sagitta = radius - np.linalg.norm(mesh.triangles_center - np.asarray(center), axis=1).min()
    return half_pixel + sagitta


def _check(d: np.ndarray, ref: np.ndarray, tol: float) -> None:
    assert d.dtype == np.float32
    err = np.abs(d.astype(np.float64) - ref)
    # A stray silhouette pixel can put a lone cloud point off the surface (seen once in 2M points
    # at other scan settings), so 99.9% within the bound, and all within a bound that catches
    # scale or frame mistakes.
    assert np.quantile(err, 0.999) <= tol, (np.quantile(err, 0.999), tol)
    assert err.max() <= 0.05, err.max()
    sure = np.abs(ref) > tol
    assert sure.mean() > 0.9
    np.testing.assert_array_equal(np.sign(d[sure]), np.sign(ref[sure]))


def test_grid_matches_analytic_sphere():
    mesh = _sphere(0.5)
    d = backend.mesh_to_sdf_grid(mesh.vertices, mesh.faces, SPEC, chunk_size=2000, **SCANS)
    assert d.shape == (24, 24, 24)
    ref = _analytic(SPEC.points(), 0.5).reshape(d.shape)
    _check(d, ref, _tolerance(mesh, 0.5, (0, 0, 0), SCANS["scan_resolution"]))
    assert d[12, 12, 12] < 0 < d[0, 0, 0]  # negative inside, positive in the corners


def test_points_off_centre_sphere_in_world_units():
    """An off-centre sphere of radius 0.35: no rescaling or recentring of the mesh or the points;
    the axes are (x, y, z) as given (the centre differs on every axis)."""
    center, radius = (0.3, -0.2, 0.1), 0.35
    mesh = _sphere(radius, center)
    rng = np.random.default_rng(0)
    points = np.concatenate(
        [
            rng.uniform(-1.1, 1.1, size=(3000, 3)),
            np.asarray(center) + rng.normal(scale=0.2, size=(1000, 3)),  # near and inside
            [center, [2.0, 2.0, 2.0]],
        ]
    )
    d = backend.mesh_to_sdf_points(mesh.vertices, mesh.faces, points, chunk_size=1000, **SCANS)
    assert d.shape == (len(points),)
    _check(d, _analytic(points, radius, center), _tolerance(mesh, radius, center, SCANS["scan_resolution"]))
    assert d[-2] == pytest.approx(-radius, abs=0.01)  # the centre: inside, negative, world units
    assert d[-1] == pytest.approx(np.linalg.norm(np.subtract(2.0, center)) - radius, abs=0.01)


def test_depth_sign_method_including_far_corners():
    """mesh_to_sdf's "depth" sign calls points beyond its cameras' sphere inside; ours does not."""
    mesh = _sphere(0.5)
    d = backend.mesh_to_sdf_grid(mesh.vertices, mesh.faces, SPEC, sign_method="depth", **SCANS)
    ref = _analytic(SPEC.points(), 0.5).reshape(d.shape)
    _check(d, ref, _tolerance(mesh, 0.5, (0, 0, 0), SCANS["scan_resolution"]))
    assert (d[ref > 1.1] > 0).all()  # beyond the cameras' bounding sphere (rb = 0.55)


def test_grid_slabs_cover_the_nodes_in_order():
    chunks = list(backend._grid_slabs(SPEC, chunk_size=3 * 24 * 24 + 5))
    assert [(i0, i1) for i0, i1, _ in chunks] == [(i, min(24, i + 3)) for i in range(0, 24, 3)]
    np.testing.assert_array_equal(np.concatenate([p for _, _, p in chunks]), SPEC.points())


def test_rejects_bad_arguments():
    mesh = _sphere(0.5)
    with pytest.raises(ValueError, match="sign_method"):
        backend.mesh_to_sdf_points(mesh.vertices, mesh.faces, np.zeros((1, 3)), sign_method="winding")
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        backend.mesh_to_sdf_points(mesh.vertices, mesh.faces, np.zeros((4, 2)))
    with pytest.raises(ValueError, match="no faces"):
        backend.mesh_to_sdf_points(mesh.vertices, np.zeros((0, 3), int), np.zeros((1, 3)))
