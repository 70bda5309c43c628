"""Time the dense SDF grid (recon.sdf.grid.sdf_grid) at 256^3 on a small and a large mesh.

    python bench/bench_sdf.py [--resolution 256]

Meshes: a procedural demo airplane (a few thousand triangles) and a triangle-soup union of
subdivided spheres (~150k triangles), both normalized to the unit sphere. For each, prints the
seconds of one grid (after a warm-up that compiles the numba kernel), the process's peak memory,
the largest error against libigl's exact distances on 20,000 random nodes (near band and far
field separately), and the share of those nodes whose sign differs from libigl's
fast-winding-number sign.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import trimesh

from recon.demo.shapes import generate_shape
from recon.geometry.normalize import normalization
from recon.sdf.grid import GridSpec, sdf_grid
from recon.seeding import rng


def _meshes() -> dict[str, trimesh.Trimesh]:
    parts, _ = generate_shape("airplane", rng(0, "bench", "airplane"))
    plane = trimesh.util.concatenate([m for _, m, _ in parts])
    spheres = [
        trimesh.creation.icosphere(6, radius=0.5).apply_translation(c)
        for c in ([0, 0, 0], [0.45, 0.1, 0], [-0.3, 0.3, 0.2])
    ]
    blob = trimesh.util.concatenate(spheres)
    out = {}
    for name, mesh in (("airplane", plane), ("spheres", blob)):
        n = normalization(mesh.vertices, mesh.faces)
        out[name] = trimesh.Trimesh(n.apply(mesh.vertices), mesh.faces, process=False)
    return out


def main() -> None:
    import igl

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--resolution", type=int, default=256)
    args = parser.parse_args()
    spec = GridSpec(args.resolution)
    band = 3 * spec.spacing
    meshes = _meshes()
    warm = meshes["airplane"]
    sdf_grid(warm.vertices, warm.faces, GridSpec(16))
    print(
        f"{'mesh':>9} {'triangles':>10} {'seconds':>8} {'peak GB':>8} {'max err band':>13} "
        f"{'max err far':>12} {'sign diff':>10}"
    )
    for name, mesh in meshes.items():
        start = time.perf_counter()
        grid = sdf_grid(mesh.vertices, mesh.faces, spec)
        seconds = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        pick = np.random.default_rng(0).choice(grid.size, 20_000, replace=False)
        points = spec.points()[pick]
        v, f = mesh.vertices.astype(np.float64), mesh.faces.astype(np.int64)
        exact, *_ = igl.signed_distance(points, v, f, igl.SIGNED_DISTANCE_TYPE_UNSIGNED)
        signed, *_ = igl.signed_distance(points, v, f, igl.SIGNED_DISTANCE_TYPE_FAST_WINDING_NUMBER)
        ours = grid.reshape(-1)[pick].astype(np.float64)
        err = np.abs(np.abs(ours) - np.abs(exact))
        near = np.abs(exact) <= band
        print(
            f"{name:>9} {len(mesh.faces):>10} {seconds:>8.2f} {peak:>8.2f} {err[near].max():>13.2e} "
            f"{err[~near].max():>12.2e} {np.mean(np.sign(ours) != np.sign(signed)):>10.2%}"
        )


if __name__ == "__main__":
    main()
