"""DISN's sampled unit-sphere normalization against the exact one recon uses, on the demo shapes.

    python bench/bench_normalization.py [--shapes 8] [--draws 20] [--seed 0]

DISN (``preprocessing/create_point_sdf_grid.py:get_normalize_mesh``) centres each mesh on the mean
of 16,384 area-weighted surface samples and divides by the largest distance of a sample from it.
recon (:func:`recon.geometry.normalize.normalization`, ``unit_sphere``) uses the limits of both:
the area-weighted surface centroid and the farthest surface point (a vertex). The sampled maximum
falls short of the true one, so DISN's frame is slightly larger.

For every demo shape (``recon.demo``, the shapes the demo config builds: ``--shapes`` per
category, seed ``--seed``) and ``--draws`` independent runs of DISN's estimate, the table gives,
per category and over all shapes (mean, and the range over shapes and draws):

- ``scale %``: DISN's scale over recon's, minus 1 (= exact radius / sampled radius - 1);
- ``centre``: distance between the two centres, in recon's world units (radius 1);
- ``outside %``: how far the surface reaches beyond DISN's unit sphere (its farthest vertex from
  DISN's centre over DISN's radius, minus 1; recon's frame keeps the surface inside by design);
- ``CD-L2 %``: the change of a squared-distance Chamfer (DISN's, ONet's ``chamfer-L2``): lengths
  scale with the frame, so it is (scale ratio)^2 - 1 for every prediction;
- ``CD-L1 %``: the change of an L1 Chamfer (ONet's ``chamfer-L1``): the scale ratio - 1;
- ``F@0.025``: the change, in points, of the F-score at DISN's threshold 0.025 (1 % x 2.5) of a
  coarse prediction (marching cubes of a 33^3 SDF grid of the shape at level 0) against the shape:
  in DISN's frame every distance is longer by the scale ratio. 10,000 area-weighted samples each.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import trimesh
from scipy.spatial import cKDTree

from recon.demo.shapes import DEMO_CATEGORIES, generate_shape
from recon.geometry.extract import field_mesh
from recon.geometry.grid import GridSpec
from recon.geometry.normalize import normalization
from recon.sdf.grid import sdf_grid
from recon.seeding import rng

#: DISN's sample count (``get_normalize_mesh``: ``total = 16384``).
DISN_SAMPLES = 16384
#: DISN's F-score threshold for 1 % (``test/test_f_score.py``: 1 % x ``--truethreshold`` 2.5).
F_THRESHOLD = 0.025


def disn_estimate(mesh: trimesh.Trimesh, seed: int) -> tuple[np.ndarray, float]:
    """DISN's ``get_normalize_mesh`` for one mesh: (centre (3,), radius) from 16,384 samples."""
    points, _ = trimesh.sample.sample_surface(mesh, DISN_SAMPLES, seed=seed)
    centroid = points.mean(axis=0)
    return centroid, float(np.sqrt(((points - centroid) ** 2).sum(axis=1)).max())


def _f_score(distances_pred: np.ndarray, distances_gt: np.ndarray, tau: float) -> float:
    precision, recall = np.mean(distances_pred < tau), np.mean(distances_gt < tau)
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def _prediction_distances(world: trimesh.Trimesh, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Distances of a coarse prediction's samples to the shape's and back, recon's frame."""
    spec = GridSpec(33)
    v, f = field_mesh(sdf_grid(world.vertices, world.faces, spec), spec, 0.0)
    pred = trimesh.Trimesh(v, f, process=False)
    p, _ = trimesh.sample.sample_surface(pred, 10_000, seed=seed)
    g, _ = trimesh.sample.sample_surface(world, 10_000, seed=seed + 1)
    return cKDTree(g).query(p)[0], cKDTree(p).query(g)[0]


def measure(category: str, index: int, seed: int, draws: int) -> dict:
    parts, _ = generate_shape(category, rng(seed, "demo", category, index))
    mesh = trimesh.util.concatenate([m for _, m, _ in parts])
    exact = normalization(mesh.vertices, mesh.faces, "unit_sphere")
    radius = 1.0 / exact.scale
    world = trimesh.Trimesh(exact.apply(mesh.vertices), mesh.faces, process=False)
    to_pred, to_gt = _prediction_distances(world, seed)
    f_exact = _f_score(to_pred, to_gt, F_THRESHOLD)
    rows = []
    for draw in range(draws):
        centre, sampled = disn_estimate(mesh, seed=1000 * index + draw)
        ratio = radius / sampled
        reach = float(np.linalg.norm(mesh.vertices[np.unique(mesh.faces)] - centre, axis=1).max())
        rows.append(
            {
                "scale": ratio - 1,
                "centre": float(np.linalg.norm(centre - exact.center)) / radius,
                "outside": reach / sampled - 1,
                "cd_l2": ratio**2 - 1,
                "cd_l1": ratio - 1,
                "f": _f_score(ratio * to_pred, ratio * to_gt, F_THRESHOLD) - f_exact,
            }
        )
    return {k: np.array([r[k] for r in rows]) for k in rows[0]}


def _row(name: str, results: list[dict]) -> str:
    cells = [f"{name:<10}", f"{len(results):>6}"]
    for key, factor, fmt in (
        ("scale", 100, "{:+.2f} [{:+.2f}, {:+.2f}]"),
        ("centre", 1, "{:.4f} [{:.4f}, {:.4f}]"),
        ("outside", 100, "{:.2f} [{:.2f}, {:.2f}]"),
        ("cd_l2", 100, "{:+.2f} [{:+.2f}, {:+.2f}]"),
        ("cd_l1", 100, "{:+.2f} [{:+.2f}, {:+.2f}]"),
        ("f", 100, "{:+.2f} [{:+.2f}, {:+.2f}]"),
    ):
        values = np.concatenate([r[key] for r in results]) * factor
        cells.append(fmt.format(values.mean(), values.min(), values.max()).rjust(26))
    return " ".join(cells)


def _machine() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    models = (
        [
            line.split(":", 1)[1].strip()
            for line in cpuinfo.read_text().splitlines()
            if line.startswith("model name")
        ]
        if cpuinfo.exists()
        else []
    )
    return f"{models[0] if models else platform.processor() or platform.machine()}, {os.cpu_count()} CPUs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shapes", type=int, default=8, help="demo shapes per category")
    parser.add_argument("--draws", type=int, default=20, help="runs of DISN's estimate per shape")
    parser.add_argument("--seed", type=int, default=0, help="the demo dataset's seed")
    args = parser.parse_args()
    start = time.perf_counter()
    print(
        f"{time.strftime('%Y-%m-%d', time.gmtime())}, {_machine()}: {args.shapes} demo shapes per "
        f"category, {args.draws} draws of DISN's estimate each"
    )
    header = [
        "category",
        "shapes",
        "scale %",
        "centre",
        "outside %",
        "CD-L2 %",
        "CD-L1 %",
        "F@0.025 (points)",
    ]
    print(f"{header[0]:<10} {header[1]:>6} " + " ".join(h.center(26) for h in header[2:]))
    everything = []
    for category in DEMO_CATEGORIES:
        results = [measure(category, i, args.seed, args.draws) for i in range(args.shapes)]
        everything += results
        print(_row(category, results), flush=True)
    print(_row("all", everything))
    print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
