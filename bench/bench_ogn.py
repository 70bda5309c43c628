"""Peak memory and time of one OGN training step against a dense 3D decoder of the same output resolution.

    python bench/bench_ogn.py [--depths 6 7] [--shapes chair airplane] [--steps 3] [--device cpu]

The batch holds demo shapes (``recon.demo``'s procedural chair, airplane, ...; one per name), each
scaled into the unit sphere, voxelized as the pipeline does (filled = solid | surface voxels over
[-1, 1]³, ``recon.geometry.voxels``) at 2^depth and turned into octrees by
``recon.voxelize.octree.build_octree``. Both decoders are ``recon.models.ogn.OGNNet``'s, from a
fixed 512-d code (the image encoder, the same for both, is left out) with the same layers and
widths per level (``max(8, 128 >> (level - 2))`` channels from 4³): OGN runs dense to 8³ and octree
blocks below (``dense_level: 3``, known propagation, neighbours propagated); the dense decoder is
the same network run dense to the finest level (``dense_level: depth``), classifying every cell.
A step is forward, the summed cross-entropy, and backward.

Each configuration runs in a fresh Python process, which builds the network and loads the octrees,
then reads its resident memory, resets its high-water mark (``/proc/self/clear_refs``), runs one
step and ``--steps`` timed ones, and reports its peak resident memory (``VmHWM``) minus the memory
before the steps. With ``--device cuda`` the peak is ``torch.cuda.max_memory_allocated`` instead.

Prints one row per depth and decoder: the finest level's cells per shape that the loss sees and that
are computed (OGN: the mixed cells' children, and with them the children of their propagated
neighbours), seconds per step, peak MB, and OGN's peak as a share of the dense decoder's.

Measured 2026-12-07 on a 2-core machine shared with other jobs, ``OMP_NUM_THREADS=1`` (with two threads
the other jobs made the times erratic; the peaks were 0.32 and 0.15 of the dense decoder's):

=====  ======  =======  ==========  ========  ======  =======  =========
depth  grid    decoder  supervised  computed  s/step  peak MB  OGN/dense
=====  ======  =======  ==========  ========  ======  =======  =========
6      64³     dense    262144      262144    0.61    303
6      64³     ogn      2596        13620     0.13    72       0.237
7      128³    dense    2097152     2097152   6.56    1130
7      128³    ogn      18812       70432     0.52    197      0.175
=====  ======  =======  ==========  ========  ======  =======  =========
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

#: The child process: one configuration, steps timed and peak memory measured.
CHILD = """
import json, resource, sys, time
from pathlib import Path
import numpy as np
import torch
from recon.models.method import method_config
from recon.models.ogn import OGNNet
from recon.models.ogn.loss import ogn_loss
from recon.models.ogn.octree import BatchedOctree

def status(field):
    path = Path("/proc/self/status")
    lines = path.read_text().splitlines() if path.exists() else []
    found = [int(line.split()[1]) for line in lines if line.startswith(field + ":")]
    return found[0] if found else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

data, device = sys.argv[1], sys.argv[5]
depth, dense_level, steps = (int(a) for a in sys.argv[2:5])
arrays = np.load(data)
octrees = [
    [{k: torch.from_numpy(arrays[f"{k}_{b}_{l}"]) for k in ("keys", "state")} for l in range(depth + 1)]
    for b in range(int(arrays["shapes"]))
]
channels = [max(8, 128 >> (level - 2)) for level in range(2, depth + 1)]
config = method_config("ogn", {"depth": depth, "dense_level": dense_level, "channels": channels})
torch.manual_seed(0)
net = OGNNet(config).to(device)
octree = BatchedOctree.stack(octrees, device)
code = torch.randn(len(octrees), net.encoder.global_channels, device=device)
def step():
    outputs = net.decode(code, octree, "known")
    loss, scalars = ogn_loss(outputs, octree)
    scalars["computed"] = len(outputs[-1].keys) / len(octrees)
    loss.backward()
    net.zero_grad(set_to_none=True)
    if device == "cuda":
        torch.cuda.synchronize()
    return scalars
before = status("VmRSS")
try:
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
except OSError:
    pass
if device == "cuda":
    torch.cuda.reset_peak_memory_stats()
    before_cuda = torch.cuda.memory_allocated()
scalars = step()
start = time.perf_counter()
for _ in range(steps):
    step()
seconds = (time.perf_counter() - start) / max(steps, 1)
if device == "cuda":
    peak_mb = (torch.cuda.max_memory_allocated() - before_cuda) / 2**20
else:
    peak_mb = (status("VmHWM") - before) / 1024
print(json.dumps({"seconds": seconds, "peak_mb": peak_mb, **{k: scalars[k] for k in ("cells", "computed")}}))
"""


def shape_voxels(names: list[str], resolution: int) -> list[np.ndarray]:
    """(n, n, n) bool filled voxels of the demo shapes ``names`` (seed 0, first of each category)."""
    import trimesh

    from recon.demo.shapes import generate_shape
    from recon.geometry.voxels import VoxelSpec, solid_voxels, surface_voxels
    from recon.seeding import rng

    out = []
    spec = VoxelSpec(resolution, 1.0)
    for name in names:
        parts, _ = generate_shape(name, rng(0, "demo", name, 0))
        mesh = trimesh.util.concatenate([m for _, m, _ in parts])
        vertices = mesh.vertices - mesh.bounds.mean(axis=0)
        vertices = vertices / np.linalg.norm(vertices, axis=1).max() * 0.95
        out.append(solid_voxels(vertices, mesh.faces, spec) | surface_voxels(vertices, mesh.faces, spec))
    return out


def write_octrees(path: Path, voxels: list[np.ndarray], depth: int) -> None:
    """The octrees of ``voxels`` (``build_octree``) as one ``.npz`` the child process reads."""
    from recon.voxelize.octree import build_octree

    arrays: dict[str, np.ndarray] = {"shapes": np.array(len(voxels))}
    for b, grid in enumerate(voxels):
        octree = build_octree(grid, depth)
        for level in range(depth + 1):
            arrays[f"keys_{b}_{level}"] = octree.keys[level].astype(np.int64)
            arrays[f"state_{b}_{level}"] = octree.state[level]
    np.savez(path, **arrays)


def run(path: Path, depth: int, dense_level: int, steps: int, device: str) -> dict:
    """One configuration in a fresh interpreter: ``{seconds, peak_mb, cells}``."""
    args = [sys.executable, "-c", CHILD, str(path), str(depth), str(dense_level), str(steps), device]
    out = subprocess.run(args, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--depths", type=int, nargs="+", default=[6, 7])
    parser.add_argument("--shapes", nargs="+", default=["chair", "airplane"], help="demo categories")
    parser.add_argument("--steps", type=int, default=3, help="timed steps after the first")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    head = ("depth", "grid", "decoder", "supervised", "computed", "s/step", "peak MB", "OGN/dense")
    print(" ".join(f"{h:>{w}}" for h, w in zip(head, (5, 6, 7, 10, 9, 7, 8, 9), strict=True)))
    with tempfile.TemporaryDirectory() as tmp:
        for depth in args.depths:
            path = Path(tmp) / f"octrees_{depth}.npz"
            write_octrees(path, shape_voxels(args.shapes, 1 << depth), depth)
            dense = run(path, depth, depth, args.steps, args.device)
            ogn = run(path, depth, 3, args.steps, args.device)
            n = 1 << depth
            for name, row in (("dense", dense), ("ogn", ogn)):
                share = f"{ogn['peak_mb'] / dense['peak_mb']:.3f}" if name == "ogn" else ""
                print(
                    f"{depth:>5} {f'{n}³':>6} {name:>7} {row['cells']:>10.0f} {row['computed']:>9.0f} "
                    f"{row['seconds']:>7.2f} {row['peak_mb']:>8.0f} {share:>9}"
                )


if __name__ == "__main__":
    main()
