"""Time the point-set training losses, forward + backward, at 1,024 and 2,500 points per cloud.

    python bench/bench_point_losses.py [--batch 32] [--points 1024 2500] [--repeats 3] [--no-exact]

Clouds: ``--batch`` pairs per size; the ground truth is an area-weighted sample of a demo shape
(recon's procedural chair, table, airplane and lamp in turn, normalized into the unit sphere), the
prediction an independent sample of the same shape plus Gaussian noise of sigma 0.01 (a network
part-way through training). The prediction requires a gradient; the time is that of
``loss(pred, gt).sum().backward()``.

Losses (:mod:`recon.models.point_losses`): ``chamfer_loss`` (squared, mean, sum: AtlasNet's), on the
CPU by its k-d tree and by the chunked brute force a GPU runs; ``emd_loss`` run to completion (its
default) and with a budget of 300 rounds and steps. For each EMD row: the rounds and steps run, the
points forced at the budget's end (summed over the batch), and, unless ``--no-exact``, the relative
error of the loss against :func:`recon.evaluate.emd.emd_exact` (mean and worst over the batch). A
CUDA device, when there is one, is timed too.

Seconds: median of ``--repeats`` runs after a warm-up, except the CPU EMD rows (one run, no warm-up:
it has no cache to warm and takes minutes). Prints a markdown table with the date, the machine and its
load average. Run with nothing else on the machine: the EMD's last rounds are many small operations,
which torch's CPU threads slow down several times over when other processes hold the cores.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch
import trimesh

from recon.demo.shapes import generate_shape
from recon.geometry.normalize import normalization
from recon.geometry.sampling import surface_samples
from recon.models.point_losses import chamfer_loss, emd_loss, emd_match
from recon.seeding import rng

CATEGORIES = ("chair", "table", "airplane", "lamp")


def _machine() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    models = [
        line.split(":", 1)[1].strip()
        for line in (cpuinfo.read_text().splitlines() if cpuinfo.exists() else [])
        if line.startswith("model name")
    ]
    cpu = models[0] if models else platform.processor() or platform.machine()
    load = f", load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else ""
    threads = torch.get_num_threads()
    return f"{cpu}, {os.cpu_count()} CPUs{load}, torch {torch.__version__} with {threads} threads"


def clouds(batch: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(batch, n, 3) float32 predictions and ground truths, as the module docstring says."""
    meshes = []
    for category in CATEGORIES:
        parts, _ = generate_shape(category, rng(0, "bench", category))
        mesh = trimesh.util.concatenate([part for _, part, _ in parts])
        norm = normalization(mesh.vertices, mesh.faces, "unit_sphere")
        meshes.append((norm.apply(mesh.vertices), np.asarray(mesh.faces)))
    pred, gt = [], []
    for b in range(batch):
        v, f = meshes[b % len(meshes)]
        gt.append(surface_samples(v, f, n, rng(b, "bench", "gt"))[0])
        noise = rng(b, "bench", "noise").normal(0.0, 0.01, (n, 3))
        pred.append(surface_samples(v, f, n, rng(b, "bench", "pred"))[0] + noise)
    return torch.from_numpy(np.stack(pred)).float(), torch.from_numpy(np.stack(gt)).float()


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def timed(fn, device: str, repeats: int, warm: bool = True) -> float:
    if warm:
        fn()
    times = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def forward_backward(loss, pred: torch.Tensor, gt: torch.Tensor):
    def run():
        p = pred.detach().requires_grad_()
        loss(p, gt).sum().backward()
        return p.grad

    return run


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--points", type=int, nargs="+", default=[1024, 2500])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-exact", action="store_true", help="skip the EMD errors against emd_exact")
    args = parser.parse_args(argv)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(f"\n{time.strftime('%Y-%m-%d', time.gmtime())}, {_machine()}")
    if "cuda" in devices:
        print(f"CUDA: {torch.cuda.get_device_name()}")
    print(f"\nForward + backward, batch {args.batch}, seconds per batch\n")
    print("| device | points | loss | seconds | rounds | forced | EMD error mean / worst |")
    print("|---|---:|---|---:|---:|---:|---|")
    for n in args.points:
        pred_cpu, gt_cpu = clouds(args.batch, n)
        exact = None
        if not args.no_exact:
            from recon.evaluate.emd import emd_exact

            exact = np.array(
                [
                    emd_exact(p.double().numpy(), g.double().numpy())[0]
                    for p, g in zip(pred_cpu, gt_cpu, strict=True)
                ]
            )
        for device in devices:
            pred, gt = pred_cpu.to(device), gt_cpu.to(device)
            rows = [("Chamfer-L2 (k-d tree)" if device == "cpu" else "Chamfer-L2", chamfer_loss)]
            if device == "cpu":
                rows.append(("Chamfer-L2 (chunked cdist)", lambda p, g: chamfer_loss(p, g, kdtree=False)))
            for name, loss in rows:
                seconds = timed(forward_backward(loss, pred, gt), device, args.repeats)
                print(f"| {device} | {n:,} | {name} | {seconds:.4f} | | | |")
            for budget in (None, 300):
                found = []

                def emd(p, g, b=budget, found=found):
                    found.append(emd_match(p, g, max_iterations=b))
                    return emd_loss(p, g, match=found[-1])

                cpu = device == "cpu"
                seconds = timed(
                    forward_backward(emd, pred, gt), device, 1 if cpu else args.repeats, warm=not cpu
                )
                match = found[-1]
                error = ""
                if exact is not None:
                    matched = torch.linalg.vector_norm(
                        pred - torch.gather(gt, 1, match.assignment[..., None].expand(-1, -1, 3)), dim=-1
                    )
                    rel = matched.double().mean(1).cpu().numpy() / exact - 1
                    error = f"{rel.mean():+.2%} / {rel[np.abs(rel).argmax()]:+.2%}"
                print(
                    f"| {device} | {n:,} | EMD, {'complete' if budget is None else f'budget {budget}'} "
                    f"| {seconds:.3f} | {match.iterations} "
                    f"| {int(match.forced.sum())} | {error} |"
                )


if __name__ == "__main__":
    main()
