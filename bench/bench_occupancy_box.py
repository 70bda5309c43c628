"""Share of occupancy points inside the demo shapes, per normalization and box.

    python bench/bench_occupancy_box.py [--shapes 8] [--points 100000] [--seed 0]

Occupancy Networks' IoU points (``scripts/sample_mesh.py``, ``export_points``) are uniform in a
cube of side 1 + 0.1 around its unit-cube frame, ``[-0.55, 0.55]^3``; about 45 % of them fall
inside a ShapeNet shape (issue 15). For the demo shapes (``--shapes`` per category, seed
``--seed``) the table gives the mean share of ``--points`` uniform points inside
(:func:`recon.geometry.sampling.inside_points`) for:

- ``unit_cube`` in the box recon used before (``[-1.1, 1.1]^3`` whatever the normalization) and in
  the one it uses now (:func:`recon.sdf.stage.occupancy_box`: ``[-0.55, 0.55]^3``, ONet's);
- ``unit_sphere`` in its box, ``[-1.1, 1.1]^3`` (the unit ball's cube, padded the same way).
"""

from __future__ import annotations

import argparse

import numpy as np
import trimesh

from recon.demo.shapes import DEMO_CATEGORIES, generate_shape
from recon.geometry.normalize import normalization
from recon.geometry.sampling import inside_points
from recon.sdf.stage import occupancy_box
from recon.seeding import rng

CASES = (
    ("unit_cube", (-1.1, 1.1)),
    ("unit_cube", occupancy_box("unit_cube", 0.1)),
    ("unit_sphere", occupancy_box("unit_sphere", 0.1)),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shapes", type=int, default=8, help="demo shapes per category")
    parser.add_argument("--points", type=int, default=100_000, help="uniform points per shape")
    parser.add_argument("--seed", type=int, default=0, help="the demo dataset's seed")
    args = parser.parse_args()
    titles = [f"{method} [{lo:g}, {hi:g}]^3" for method, (lo, hi) in CASES]
    print(f"{'category':<10} " + " ".join(t.rjust(26) for t in titles))
    shares = {c: [] for c in DEMO_CATEGORIES}
    for category in DEMO_CATEGORIES:
        for index in range(args.shapes):
            parts, _ = generate_shape(category, rng(args.seed, "demo", category, index))
            mesh = trimesh.util.concatenate([m for _, m, _ in parts])
            row = []
            for method, (lo, hi) in CASES:
                world = normalization(mesh.vertices, mesh.faces, method).apply(mesh.vertices)
                points = rng(args.seed, "bench", category, index).uniform(lo, hi, size=(args.points, 3))
                row.append(inside_points(world, mesh.faces, points).mean())
            shares[category].append(row)
        print(
            f"{category:<10} " + " ".join(f"{v:26.1%}" for v in np.mean(shares[category], axis=0)), flush=True
        )
    everything = np.concatenate([np.array(v) for v in shares.values()])
    print(f"{'all':<10} " + " ".join(f"{v:26.1%}" for v in everything.mean(axis=0)))


if __name__ == "__main__":
    main()
