"""Time the EMDs of :mod:`recon.evaluate.emd` and their errors against the exact EMD, next to other solvers.

    python bench/bench_emd.py [--n 2048] [--rel-tol 0.01] [--runs 3]
    python bench/bench_emd.py --pix3d [--shapes 2]

Clouds: two independent area-weighted samples of ``--n`` points of meshes normalized to the unit
sphere (as the pipeline's): the same shape twice (icosphere, torus, the demo airplane), and two
different shapes (box against torus).

Methods:
- ``emd_exact``: :func:`recon.evaluate.emd.emd_exact`, the reference of the error column;
- ``emd_approx``: :func:`recon.evaluate.emd.emd_auction` at ``--rel-tol`` (its certified lower bound
  in the notes);
- ``approxmatch / N``: :func:`recon.evaluate.emd.approxmatch_cost` divided by N (PSGN's EMD, as DISN
  reports it times 0.01);
- ``pix3d auction``: :func:`recon.evaluate.emd.pix3d_auction_match`, Pix3D's single-phase float32
  auction (its EMD; the notes give its bids and final bid increment; at most 4,096 points);
- ``scipy LSAP``: ``scipy.optimize.linear_sum_assignment`` on the dense ``cdist`` matrix (timed with it);
- ``POT emd2``, ``POT sinkhorn2`` (entropic, ``reg`` = 1 % of the mean cost, transport cost of its
  plan) and ``geomloss`` (``SamplesLoss("sinkhorn", p=1, blur=0.01)``), each skipped with the reason
  when not importable.

Seconds: median of ``--runs`` runs after a warm-up call; the numba kernels' first call (compilation,
or loading them from the on-disk cache) is printed separately. EMD is the mean matched distance.
Run with nothing else on the machine.

``--pix3d``: the ``pix3d`` protocol's clouds instead, on ``--shapes`` demo shapes per category
(chair, table, airplane, lamp; unit-sphere normalized, filled 128³ voxels over [-1, 1]³), each of
1,024 points normalized by its own bounding box: two independent iso-surface draws of the ground
truth (:func:`recon.evaluate.protocols.pix3d_surface_points`; ``iso/iso``) and 1,024 area-weighted
mesh samples against one (``mesh/iso``, a mesh prediction in "points" mode). Per pair: the exact
EMD, Pix3D's auction EMD, its error and final bid increment. Then the ground truth's change:
the Chamfer distance (Pix3D's, unsquared, summed) and the auction EMD of a second set of mesh
samples against the ground truth as area-weighted mesh samples (``old``) and as iso-surface
points (``new``).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import trimesh
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from recon.demo.shapes import generate_shape
from recon.evaluate.emd import approxmatch_cost, emd_auction, emd_exact, pix3d_auction_match
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


def _pix3d(shapes: int) -> None:
    from recon.demo.shapes import generate_shape
    from recon.evaluate.metrics import chamfer_distance
    from recon.evaluate.protocols import bbox_frame, pix3d_surface_points
    from recon.geometry.sampling import surface_samples
    from recon.geometry.voxels import VoxelSpec, solid_voxels, surface_voxels

    def box(points):
        loc, scale = bbox_frame(points)
        return (np.asarray(points, np.float64) - loc) / scale

    print("| shape | clouds | exact EMD | Pix3D auction | error | final increment |")
    print("|---|---|---:|---:|---:|---:|")
    changes = []
    for category in ("chair", "table", "airplane", "lamp"):
        for k in range(shapes):
            parts, _ = generate_shape(category, rng(0, "bench", category, k))
            mesh = trimesh.util.concatenate([m for _, m, _ in parts])
            n = normalization(mesh.vertices, mesh.faces)
            v, f = n.apply(mesh.vertices), mesh.faces
            spec = VoxelSpec(128, 1.0)
            filled = solid_voxels(v, f, spec) | surface_voxels(v, f, spec)
            draw = rng(0, "bench", "pix3d", category, k)
            iso, iso2 = (box(pix3d_surface_points(filled, 1024, draw)) for _ in range(2))
            mesh_points, mesh_points2 = (box(surface_samples(v, f, 1024, draw)[0]) for _ in range(2))
            for name, a, b in (("iso/iso", iso2, iso), ("mesh/iso", mesh_points, iso)):
                exact, auction = emd_exact(a, b)[0], pix3d_auction_match(a, b)
                print(
                    f"| {category} {k} | {name} | {exact:.5f} | {auction.emd:.5f} "
                    f"| {auction.emd / exact - 1:+.2%} | {auction.tolerance:g} |"
                )
            cd = [chamfer_distance(mesh_points2, g, squared=False, combine="sum") for g in (mesh_points, iso)]
            emd = [pix3d_auction_match(mesh_points2, g).emd for g in (mesh_points, iso)]
            changes.append((f"{category} {k}", *cd, *emd))
    print("\n| shape | CD old | CD new | change | EMD old | EMD new | change |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, cd_old, cd_new, emd_old, emd_new in changes:
        print(
            f"| {name} | {cd_old:.5f} | {cd_new:.5f} | {cd_new / cd_old - 1:+.1%} "
            f"| {emd_old:.5f} | {emd_new:.5f} | {emd_new / emd_old - 1:+.1%} |"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=2048)
    parser.add_argument("--rel-tol", type=float, default=0.01)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pix3d", action="store_true", help="the pix3d protocol's clouds (see above)")
    parser.add_argument("--shapes", type=int, default=2, help="--pix3d: demo shapes per category")
    args = parser.parse_args(argv)
    if args.pix3d:
        _pix3d(args.shapes)
        return

    tiny = np.random.default_rng(0).random((2, 16, 3))
    for name, fn in (
        ("emd_exact", emd_exact),
        ("emd_auction", emd_auction),
        ("approxmatch", approxmatch_cost),
        ("pix3d_auction_match", pix3d_auction_match),
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
        if len(x) <= 4096:
            seconds, res = _timed(lambda x=x, y=y: pix3d_auction_match(x, y), args.runs)
            row("pix3d auction", seconds, res.emd, f"{res.bids:,} bids, final increment {res.tolerance:g}")
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
