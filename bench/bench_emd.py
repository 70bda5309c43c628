"""Time the EMDs of :mod:`recon.evaluate.emd` and their errors against the exact EMD, next to other solvers.

    python bench/bench_emd.py [--n 2048] [--rel-tol 0.01] [--runs 3]

Clouds: two independent area-weighted samples of ``--n`` points of meshes normalized to the unit
sphere (as the pipeline's): the same shape twice (icosphere, torus, the demo airplane), and two
different shapes (box against torus).

Methods:
- ``emd_exact``: :func:`recon.evaluate.emd.emd_exact`, the reference of the error column;
- ``emd_approx``: :func:`recon.evaluate.emd.emd_auction` at ``--rel-tol`` (its certified lower bound
  in the notes);
- ``approxmatch / N``: :func:`recon.evaluate.emd.approxmatch_cost` divided by N (PSGN's EMD, as DISN
  reports it times 0.01);
- ``scipy LSAP``: ``scipy.optimize.linear_sum_assignment`` on the dense ``cdist`` matrix (timed with it);
- ``POT emd2``, ``POT sinkhorn2`` (entropic, ``reg`` = 1 % of the mean cost, transport cost of its
  plan) and ``geomloss`` (``SamplesLoss("sinkhorn", p=1, blur=0.01)``), each skipped with the reason
  when not importable.

Seconds: median of ``--runs`` runs after a warm-up call; the numba kernels' first call (compilation,
or loading them from the on-disk cache) is printed separately. EMD is the mean matched distance.
Run with nothing else on the machine.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import trimesh
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from recon.demo.shapes import generate_shape
from recon.evaluate.emd import approxmatch_cost, emd_auction, emd_exact
from recon.geometry.normalize import normalization
from recon.seeding import rng


def _meshes() -> dict[str, trimesh.Trimesh]:
    parts, _ = generate_shape("airplane", rng(0, "bench", "airplane"))
    meshes = {
        "sphere": trimesh.creation.icosphere(4),
        "torus": trimesh.creation.torus(0.6, 0.2),
        "box": trimesh.creation.box((1.0, 0.6, 0.4)),
        "airplane": trimesh.util.concatenate([m for _, m, _ in parts]),
    }
    out = {}
    for name, mesh in meshes.items():
        n = normalization(mesh.vertices, mesh.faces)
        out[name] = trimesh.Trimesh(n.apply(mesh.vertices), mesh.faces, process=False)
    return out


def _sample(mesh: trimesh.Trimesh, n: int, seed: int) -> np.ndarray:
    points, _ = trimesh.sample.sample_surface(mesh, n, seed=np.random.default_rng(seed))
    return np.asarray(points, np.float64)


def _timed(fn, runs: int):
    fn()
    times, value = [], None
    for _ in range(runs):
        start = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), value


def _scipy(x, y):
    c = cdist(x, y)
    rows, cols = linear_sum_assignment(c)
    return c[rows, cols].mean()


def _others(x, y):
    """Optional solvers: name -> callable giving the mean distance, or name -> reason for skipping."""
    out = {}
    try:
        import ot

        def pot(entropic):
            c = cdist(x, y)
            w = np.full(len(x), 1.0 / len(x))
            if entropic:
                return float(np.sum(ot.sinkhorn(w, w, c, 0.01 * c.mean()) * c))
            return float(ot.emd2(w, w, c))

        out["POT emd2"] = lambda: pot(False)
        out["POT sinkhorn2"] = lambda: pot(True)
    except ImportError as e:
        out["POT emd2"] = out["POT sinkhorn2"] = f"skipped: {e}"
    try:
        import torch
        from geomloss import SamplesLoss

        loss = SamplesLoss("sinkhorn", p=1, blur=0.01)
        tx, ty = torch.from_numpy(x), torch.from_numpy(y)
        out["geomloss"] = lambda: float(loss(tx, ty))
    except ImportError as e:
        out["geomloss"] = f"skipped: {e}"
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=2048)
    parser.add_argument("--rel-tol", type=float, default=0.01)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)

    tiny = np.random.default_rng(0).random((2, 16, 3))
    for name, fn in (
        ("emd_exact", emd_exact),
        ("emd_auction", emd_auction),
        ("approxmatch", approxmatch_cost),
    ):
        start = time.perf_counter()
        fn(*tiny)
        print(f"first call of {name} (numba compile or cache load): {time.perf_counter() - start:.1f} s")

    meshes = _meshes()
    pairs = [("sphere", "sphere"), ("torus", "torus"), ("airplane", "airplane"), ("box", "torus")]
    print(f"\nN = {args.n:,} points per cloud, median of {args.runs} runs\n")
    print("| clouds | method | seconds | EMD | error vs exact | notes |")
    print("|---|---|---:|---:|---:|---|")
    for a, b in pairs:
        x, y = _sample(meshes[a], args.n, 1), _sample(meshes[b], args.n, 2)
        pair = f"{a} / {b}"
        seconds, (exact, _) = _timed(lambda x=x, y=y: emd_exact(x, y), args.runs)

        def row(method, seconds, value, notes="", pair=pair, exact=exact):
            print(f"| {pair} | {method} | {seconds:.3f} | {value:.6f} | {value / exact - 1:+.2e} | {notes} |")

        row("emd_exact", seconds, exact)
        seconds, res = _timed(lambda x=x, y=y: emd_auction(x, y, args.rel_tol), args.runs)
        row(
            "emd_approx",
            seconds,
            res.upper,
            f"rel_tol {args.rel_tol:g}; lower bound {res.lower / exact - 1:+.2e}",
        )
        seconds, cost = _timed(lambda x=x, y=y: approxmatch_cost(x, y), args.runs)
        row("approxmatch / N", seconds, cost / len(x), f"DISN's EMD: {cost * 0.01:.4f}")
        seconds, value = _timed(lambda x=x, y=y: _scipy(x, y), args.runs)
        row("scipy LSAP", seconds, value, "cdist + linear_sum_assignment")
        for method, fn in _others(x, y).items():
            if isinstance(fn, str):
                print(f"| {pair} | {method} | | | | {fn} |")
            else:
                seconds, value = _timed(fn, args.runs)
                row(method, seconds, value)


if __name__ == "__main__":
    main()
