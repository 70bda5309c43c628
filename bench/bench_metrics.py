"""Time the evaluation metrics next to the libraries they replace, in one run.

    python bench/bench_metrics.py [--points 100000] [--emd-points 2048] [--repeats 3] [--torch]

Inputs: two independent area-weighted samples of a demo chair's surface (recon's procedural
chair, normalized into the unit sphere), ``--points`` each for Chamfer and F-score and
``--emd-points`` each for EMD.

Chamfer + F-score: recon's ``point_distances`` (one pykdtree pass each way) reduced to
Chamfer-L1, Chamfer-L2 and F-scores at three thresholds, against scipy's cKDTree with all
workers for the same two passes, and (``--torch``) chunked ``torch.cdist`` on the CPU, which
takes about a minute. EMD: the table of ``bench/bench_emd.py`` (exact, approximate and DISN's
approxmatch, next to scipy, POT and geomloss where installed) on its own set of shapes.

Prints markdown tables: median seconds of ``--repeats`` runs after one warm-up.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from recon.demo.shapes import generate_shape
from recon.evaluate.metrics import point_distances
from recon.geometry.normalize import normalization
from recon.geometry.sampling import surface_samples
from recon.seeding import rng


def demo_chair() -> tuple[np.ndarray, np.ndarray]:
    """(V, 3) vertices and (F, 3) faces of the seed-0 demo chair, in the unit sphere."""
    import trimesh

    parts, _ = generate_shape("chair", rng(0, "bench", "chair"))
    mesh = trimesh.util.concatenate([part for _, part, _ in parts])
    norm = normalization(mesh.vertices, mesh.faces, "unit_sphere")
    return norm.apply(mesh.vertices), np.asarray(mesh.faces)


def clouds(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Two independent n-point samples of the chair's surface."""
    v, f = demo_chair()
    first = surface_samples(v, f, n, rng(0, "bench", "a"))[0]
    return first, surface_samples(v, f, n, rng(0, "bench", "b"))[0]


def timed(fn, repeats: int) -> tuple[float, object]:
    result = fn()  # warm-up (thread pools, caches)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


TAUS = (0.01, 0.015, 0.02)


def recon_all(a, b):
    d = point_distances(a, b)
    return d.chamfer(squared=False, combine="mean"), d.chamfer(squared=True, combine="mean"), d.f_score(TAUS)


def scipy_all(a, b):
    from scipy.spatial import cKDTree

    fwd, _ = cKDTree(b).query(a, workers=-1)
    bwd, _ = cKDTree(a).query(b, workers=-1)
    p = [(fwd <= t).mean() for t in TAUS]
    r = [(bwd <= t).mean() for t in TAUS]
    f = [2 * x * y / (x + y) for x, y in zip(p, r, strict=True)]
    return 0.5 * (fwd.mean() + bwd.mean()), 0.5 * ((fwd**2).mean() + (bwd**2).mean()), np.array(f)


def torch_all(a, b, rows: int = 2048):
    import torch

    ta, tb = torch.from_numpy(a).float(), torch.from_numpy(b).float()

    def nn(q, r):
        return torch.cat([torch.cdist(q[i : i + rows], r).min(1).values for i in range(0, len(q), rows)])

    fwd, bwd = nn(ta, tb).double().numpy(), nn(tb, ta).double().numpy()
    p = [(fwd <= t).mean() for t in TAUS]
    r = [(bwd <= t).mean() for t in TAUS]
    f = [2 * x * y / (x + y) for x, y in zip(p, r, strict=True)]
    return 0.5 * (fwd.mean() + bwd.mean()), 0.5 * ((fwd**2).mean() + (bwd**2).mean()), np.array(f)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--emd-points", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--torch", action="store_true", help="also time chunked torch.cdist (slow)")
    args = parser.parse_args(argv)

    a, b = clouds(args.points)
    rows = [("recon `point_distances` (pykdtree)", *timed(lambda: recon_all(a, b), args.repeats))]
    rows.append(("scipy cKDTree, workers=-1", *timed(lambda: scipy_all(a, b), args.repeats)))
    if args.torch:
        rows.append(("torch.cdist, chunked (CPU)", *timed(lambda: torch_all(a, b), 1)))
    print(f"\nChamfer-L1, Chamfer-L2 and F-score at {TAUS}, {args.points:,} vs {args.points:,} points\n")
    print("| method | seconds | Chamfer-L1 | Chamfer-L2 | F@0.01 | F@0.015 | F@0.02 |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, seconds, (l1, l2, f) in rows:
        print(f"| {name} | {seconds:.3f} | {l1:.6f} | {l2:.3e} | " + " | ".join(f"{x:.4f}" for x in f) + " |")

    spec = importlib.util.spec_from_file_location("bench_emd", Path(__file__).with_name("bench_emd.py"))
    bench_emd = importlib.util.module_from_spec(spec)
    sys.modules["bench_emd"] = bench_emd
    spec.loader.exec_module(bench_emd)
    print(f"\nEMD, {args.emd_points:,} vs {args.emd_points:,} points\n")
    bench_emd.main(["--n", str(args.emd_points), "--runs", str(args.repeats)])


if __name__ == "__main__":
    main()
