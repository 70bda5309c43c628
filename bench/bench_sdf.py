"""Time dense 256^3 SDF grids next to libigl and mesh_to_sdf, on a small and a large mesh, in one run.

    python bench/bench_sdf.py [--resolution 256] [--m2s-nodes 20000]

Meshes (normalized to the unit sphere, as the pipeline's):
- ``airplane``: a procedural demo airplane, subdivided to ~2.2k triangles;
- ``spheres``: a triangle soup of two overlapping icospheres, ~164k triangles.

Methods:
- ``recon``: :func:`recon.sdf.grid.sdf_grid` (after a warm-up that loads the numba kernels);
- ``libigl``: ``igl.signed_distance`` with the fast-winding-number sign on every node (AABB tree
  distances, the fastest exact full-grid query found; its magnitude is taken as the reference);
- ``mesh_to_sdf``: :func:`recon.sdf.mesh_to_sdf_backend.mesh_to_sdf_points` (100 scans of 400^2)
  on ``--m2s-nodes`` random nodes, its time scaled to the whole grid (an upper bound: the scans
  are a fixed cost of ~25 s; the full grid takes tens of minutes). Skipped, with the reason, if
  it is not available.

Columns: seconds for the grid; peak memory of the process so far (ru_maxrss: recon's rows are
read before the reference queries allocate anything, later rows include everything before
them); the largest |error| of |sdf| against libigl's exact distance on the nodes with |d| < 0.1
and on all nodes; the share of nodes whose sign differs from libigl's winding-number sign.
Run with nothing else on the machine.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import trimesh

from recon.demo.shapes import generate_shape
from recon.geometry.grid import GridSpec
from recon.geometry.normalize import normalization
from recon.sdf.grid import sdf_grid
from recon.seeding import rng


def _meshes() -> dict[str, trimesh.Trimesh]:
    parts, _ = generate_shape("airplane", rng(0, "bench", "airplane"))
    plane = trimesh.util.concatenate([m for _, m, _ in parts])
    plane = trimesh.Trimesh(*trimesh.remesh.subdivide(plane.vertices, plane.faces), process=False)
    plane = trimesh.Trimesh(*trimesh.remesh.subdivide(plane.vertices, plane.faces), process=False)
    spheres = [
        trimesh.creation.icosphere(6, radius=0.5).apply_translation(c) for c in ([0, 0, 0], [0.45, 0.1, 0])
    ]
    blob = trimesh.util.concatenate(spheres)
    out = {}
    for name, mesh in (("airplane", plane), ("spheres", blob)):
        n = normalization(mesh.vertices, mesh.faces)
        out[name] = trimesh.Trimesh(n.apply(mesh.vertices), mesh.faces, process=False)
    return out


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _row(mesh, method, seconds, ours, reference, sign_ref, note="", peak=None):
    err = np.abs(np.abs(ours) - reference)
    near = reference < 0.1
    wrong = np.mean(np.sign(ours) != np.sign(sign_ref))
    print(
        f"{mesh:>9} {method:>12} {seconds:>9.2f} {peak or _peak_gb():>8.2f} {err[near].max():>12.2e} "
        f"{err.max():>10.2e} {wrong:>10.4%} {note}"
    )


def main() -> None:
    import igl

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--m2s-nodes", type=int, default=20_000)
    args = parser.parse_args()
    spec = GridSpec(args.resolution)
    meshes = _meshes()
    warm = meshes["airplane"]
    sdf_grid(warm.vertices, warm.faces, GridSpec(16))
    print(f"{args.resolution}^3 grid, {spec.resolution**3:,} nodes")
    print(
        f"{'mesh':>9} {'method':>12} {'seconds':>9} {'peak GB':>8} {'err |d|<0.1':>12} "
        f"{'err all':>10} {'sign diff':>10}"
    )
    points = None
    for name, mesh in meshes.items():
        v, f = mesh.vertices.astype(np.float64), mesh.faces.astype(np.int64)
        print(f"{name:>9} {len(f):,} triangles")
        start = time.perf_counter()
        grid = sdf_grid(v, f, spec).reshape(-1)
        ours_s = time.perf_counter() - start
        ours_peak = _peak_gb()
        if points is None:
            points = spec.points()

        start = time.perf_counter()
        signed, *_ = igl.signed_distance(points, v, f, igl.SIGNED_DISTANCE_TYPE_FAST_WINDING_NUMBER)
        igl_s = time.perf_counter() - start
        exact, *_ = igl.signed_distance(points, v, f, igl.SIGNED_DISTANCE_TYPE_UNSIGNED)
        exact = np.abs(exact)
        _row(name, "recon", ours_s, grid, exact, signed, peak=ours_peak)
        # libigl's winding-number signed distance scales the distance by (1 - 2|w|) off w = 0, 1.
        _row(name, "libigl", igl_s, signed, exact, signed, "(its own sign: reference)")

        from recon.sdf.mesh_to_sdf_backend import available, mesh_to_sdf_points

        reason = available()
        if reason:
            print(f"{name:>9} {'mesh_to_sdf':>12} skipped: {reason}")
            continue
        pick = np.random.default_rng(0).choice(len(points), args.m2s_nodes, replace=False)
        start = time.perf_counter()
        m2s = mesh_to_sdf_points(v, f, points[pick])
        measured = time.perf_counter() - start
        # Scans (a fixed cost) plus queries, scaled to the whole grid: an upper bound of its time.
        m2s_s = measured * len(points) / len(pick)
        _row(
            name,
            "mesh_to_sdf",
            m2s_s,
            m2s,
            exact[pick],
            signed[pick],
            f"({measured:.1f} s for {len(pick):,} nodes, scaled to the grid)",
        )


if __name__ == "__main__":
    main()
