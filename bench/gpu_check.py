"""Check and time recon on a GPU machine in one command that prints one table.

    python bench/gpu_check.py [--out gpu_check.md] [--steps 50] [--budget 540] [--sections ...]
    python bench/gpu_check.py --cpu        # toy size on the CPU (about 5 minutes on 2 cores)

Sections, each in processes of its own (one failing or hanging section leaves the others' rows):

- ``render``: a demo batch rendered by :func:`recon.render.stage.render_batch` with ``render.device``
  CPU, OPTIX and CUDA (the default ``r2n2`` pose set: 8 shapes, 24 views of 137², 8 samples); seconds
  per view (whole batch, Blender start-up included), PSNR of the RGBA images against the CPU renders
  (composited on white) and whether masks and depth equal the CPU's. Skipped, saying why, when
  ``bpy`` cannot be imported.
- ``train``: every registered method for ``--steps`` steps at the size of its ShapeNet experiment
  (``config/experiments/*_shapenet.yaml``: batch, points, views; renders of the ``r2n2`` pose set's
  137²), bf16 autocast, the trainer's step (loss, backward, gradient norm, optimizer, schedule) on a
  fixed batch of random tensors of the experiment's shapes already on the device (data loading is
  ``bench/bench_pack.py``'s); seconds per step after warm-up steps, items per second and peak
  memory (``torch.cuda.max_memory_allocated``; peak resident memory of the process on the CPU).
- ``metrics``: :mod:`recon.evaluate.metrics` on the device (chunked ``torch.cdist``) against the CPU
  (pykdtree k-d tree): Chamfer-L1 and -L2, F-scores at three thresholds and normal consistency of
  two 100,000-point clouds and of a batch of 32 clouds of 2,048 points, and the IoU of 32 voxel
  grids of 128³; both timed, values compared. EMD has no device path (numba kernels on the CPU).
- ``torchrun``: the trainer (:func:`recon.train.train`, checkpoints and logs included) under
  ``torchrun --standalone`` with one process per GPU (NCCL) for 20 steps of every method at its
  ShapeNet size, on random items; with a single GPU (one process: no process group) also two CPU
  processes (gloo) at toy size, so that the DDP path (sharded batches, gradient all-reduce, gathered
  random states) runs too.

The table is Markdown, printed row by row as sections finish and rewritten into ``--out`` after
each row, so a run cut short still leaves its rows. Without a CUDA device the script stops with
exit status 2 unless ``--cpu`` is given; ``--cpu`` runs every section at toy size on the CPU (the
ShapeNet experiments' models on batches of 1 or 2 items of 32², 64 points; one warm-up and one timed
step; 2,000-point clouds; 2 shapes x 2 views of 32² rendered twice, the second run compared with the
first). Exit status 1 when a row failed.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import math
import os
import platform
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # the recon package of this tree, installed or not
    sys.path.insert(0, str(REPO))

COLUMNS = ("section", "case", "size", "time", "rate", "peak memory", "result")
SECTIONS = ("render", "train", "metrics", "torchrun")
ROW_PREFIX = "@@row "
#: Seconds each section may take at most (a share of what is left of ``--budget`` otherwise).
SECTION_CAP = {"render": 240, "train": 150, "metrics": 90, "torchrun": 180}


# --------------------------------------------------------------------------------------------------
# Sizes


def sizes(cpu: bool, steps: int | None) -> dict:
    """What each section runs: ShapeNet size on a GPU, toy size with ``--cpu``."""
    if cpu:
        return {
            "steps": steps or 1,
            "warmup": 1,
            "batch": 2,  # batch norm (DISN's camera heads) needs 2 items per process
            "image": 32,
            "max_points": 64,
            "points": 2_000,
            "batch_clouds": (2, 256),
            "voxels": (2, 32),
            "repeats": 2,
            "ddp_steps": 1,
            "render": {"shapes": 2, "views": 2, "resolution": 32, "devices": ["CPU"]},
        }
    return {
        "steps": steps or 50,
        "warmup": 5,
        "batch": None,  # the experiment's
        "image": None,  # the r2n2 pose set's (137)
        "max_points": None,
        "points": 100_000,
        "batch_clouds": (32, 2_048),
        "voxels": (32, 128),
        "repeats": 3,
        "ddp_steps": 20,
        "render": {"shapes": 8, "views": None, "resolution": None, "devices": ["OPTIX", "CUDA"]},
    }


def _fmt_int(n: int) -> str:
    return f"{int(n):,}"


def _fmt_bytes(n: float) -> str:
    return f"{n / 1e9:.2f} GB"


def _speedup(cpu_s: float, device_s: float) -> str:
    ratio = cpu_s / device_s
    return f"{ratio:.1f}x the CPU" if ratio >= 1 else f"{ratio:.2f}x the CPU"


def _steps(n: int) -> str:
    return f"{n} step{'s' if n != 1 else ''}"


# --------------------------------------------------------------------------------------------------
# Rows: sections print them as JSON lines, the parent formats them


def emit(**row) -> None:
    """Print one table row for the parent process (keys of :data:`COLUMNS` and ``status``)."""
    row.setdefault("status", "ok")
    print(ROW_PREFIX + json.dumps({k: str(v) for k, v in row.items()}), flush=True)


def _error_text(err: BaseException, limit: int = 200) -> str:
    text = f"{type(err).__name__}: {err}".replace("\n", " ").replace("|", "/")
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------------------------------
# Random items of a method's shapes


def shapenet_experiments(folder: Path = REPO / "config" / "experiments") -> dict[str, Path]:
    """``{method name: experiment file}`` of the ShapeNet-size experiments (``*_shapenet.yaml``)."""
    import yaml

    out: dict[str, Path] = {}
    for path in sorted(folder.glob("*_shapenet.yaml")):
        name = (yaml.safe_load(path.read_text()) or {}).get("method")
        if isinstance(name, str):
            out.setdefault(name, path)
    return out


def method_setup(name: str, size: dict, world: int = 1) -> dict:
    """A method's configs and data shapes at the section's size.

    Returns:
        ``method``, ``model_config``, ``train_config`` (the ShapeNet experiment's, or the defaults),
        ``experiment`` (file name or None), ``batch`` (global, a multiple of ``world``), ``image``
        (pixels per side), ``views`` (per item), ``points`` (per point target).
    """
    from recon.render.poses import get_pose_set
    from recon.train import TrainConfig, get_method, resolve_experiment

    path = shapenet_experiments().get(name)
    if path is not None:
        method, model_config, train_config = resolve_experiment(path)
    else:
        method, model_config, train_config = get_method(name), get_method(name).Config(), TrainConfig()
    spec = method.targets(model_config)
    batch = max(size["batch"] or train_config.batch_size, 2 * world)  # batch norm: 2 per process
    batch = -(-batch // world) * world
    points = int(spec.get("n_points", 2048))
    if size["max_points"]:
        points = min(points, size["max_points"])
    return {
        "method": method,
        "model_config": model_config,
        "train_config": train_config,
        "experiment": path.name if path is not None else None,
        "spec": spec,
        "batch": batch,
        "image": size["image"] or get_pose_set("r2n2").width,
        "views": int(getattr(model_config, "views_per_item", 1)),
        "points": points,
    }


def describe_size(setup: dict) -> str:
    """``batch 32, 137², 2,048 points`` (views and voxels when the method reads them)."""
    parts = [f"batch {setup['batch']}"]
    views = f"{setup['views']} views of " if setup["views"] > 1 else ""
    parts.append(f"{views}{setup['image']}²")
    targets = setup["spec"].get("targets", ())
    if any(t in targets for t in ("sdf", "occupancy", "surface")):
        parts.append(f"{_fmt_int(setup['points'])} points")
    if "voxels" in targets:
        parts.append(f"{setup['spec'].get('voxel_resolution', 32)}³ voxels")
    return ", ".join(parts)


def random_item(setup: dict, gen: np.random.Generator, index: int) -> dict:
    """One item with the keys, shapes and dtypes of the packed loader's (random, plausible values).

    The shape is a sphere of radius 0.5 seen by a camera 2.5 units away (35 mm lens on 32 mm), so that
    SDF, occupancy, voxels and projections are consistent; the image is random colours on a disc.

    Returns:
        The keys of :class:`recon.io.loader.PackedDataset` for the method's targets: ``image``
        (H, W, 4) uint8 or (V, H, W, 4) for several views, ``K`` (3, 3) and ``Rt`` (3, 4) float32,
        ``sdf_points`` (N, 3) and ``sdf`` (N,) float32, ``voxels`` (n, n, n) bool, ...
    """
    import torch

    from recon.geometry.cameras import camera_center, intrinsics, look_at

    h = w = setup["image"]
    n = setup["points"]
    targets = setup["spec"].get("targets", ("image", "camera", "sdf"))
    item: dict = {"index": index, "shape_index": index, "view": 0, "category_index": 0}

    def image() -> np.ndarray:
        yy, xx = np.mgrid[:h, :w]
        disc = (yy - h / 2) ** 2 + (xx - w / 2) ** 2 < (0.35 * h) ** 2
        rgba = gen.integers(0, 256, (h, w, 4), dtype=np.uint8)
        rgba[..., 3] = np.where(disc, 255, 0)
        return rgba

    def points(count: int) -> np.ndarray:
        return gen.uniform(-1.0, 1.0, (count, 3)).astype(np.float32)

    for t in targets:
        if t == "image":
            views = setup["views"]
            item["image"] = np.stack([image() for _ in range(views)]) if views > 1 else image()
        elif t == "camera":
            R, tr = look_at(camera_center(gen.uniform(0, 360), gen.uniform(20, 30), 2.5))
            item["K"] = intrinsics(35.0, 32.0, w, h).astype(np.float32)
            item["Rt"] = np.concatenate([R, tr[:, None]], 1).astype(np.float32)
        elif t == "depth":
            item["depth"] = gen.uniform(2.0, 3.0, (h, w)).astype(np.float32)
            item["mask"] = gen.random((h, w)) < 0.3
        elif t == "normal":
            item["normal"] = gen.normal(size=(h, w, 3)).astype(np.float16)
        elif t == "sdf":
            p = points(n)
            item["sdf_points"], item["sdf"] = p, (np.linalg.norm(p, axis=1) - 0.5).astype(np.float32)
        elif t == "occupancy":
            p = points(n)
            item["occ_points"], item["occ"] = p, np.linalg.norm(p, axis=1) < 0.5
        elif t == "surface":
            d = gen.normal(size=(n, 3))
            d /= np.linalg.norm(d, axis=1, keepdims=True)
            item["surface_points"], item["surface_normals"] = (
                (0.5 * d).astype(np.float32),
                d.astype(np.float32),
            )
        elif t == "voxels":
            r = int(setup["spec"].get("voxel_resolution", 32))
            c = (np.arange(r) + 0.5) / r * 2 - 1
            x, y, z = np.meshgrid(c, c, c, indexing="ij")
            item["voxels"] = x**2 + y**2 + z**2 < 0.25
        elif t == "spherical":
            item["spherical"] = gen.random((128, 128)).astype(np.float32)
            item["spherical_partial"] = gen.random((128, 128)).astype(np.float32)
        elif t == "view_frame":
            item["view_scale"] = np.array(0.5, np.float32)
        elif t == "view_spherical":
            r = int(getattr(setup["model_config"], "sph_resolution", 128))
            item["view_spherical"] = np.full((r, r), 0.5, np.float32)  # the sphere: 1 - 0.5 everywhere
            item["view_spherical_partial"] = np.where(gen.random((r, r)) < 0.5, 0.5, 1.0).astype(np.float32)
        elif t == "view_voxels":
            r = int(setup["spec"].get("voxel_resolution", 32))
            c = (np.arange(r) + 0.5) / r - 0.5
            x, y, z = np.meshgrid(c, c, c, indexing="ij")
            item["view_voxels"] = x**2 + y**2 + z**2 < 0.25  # the sphere in the view frame (s = 0.5)
        elif t == "octree":
            item["octree"] = _sphere_octree(int(getattr(setup["model_config"], "depth", 6)))
        else:
            raise NotImplementedError(f"no random data for target {t!r}")
    return {k: torch.from_numpy(np.ascontiguousarray(v)) if isinstance(v, np.ndarray) else v
            for k, v in item.items()}  # fmt: skip


def _sphere_octree(depth: int) -> list[dict]:
    """The loader's ``octree`` target of a sphere of radius 0.5 in the unit cube, ``depth`` levels
    below the root: per level ``keys`` int64, ``state`` uint8 and ``child`` int32 tensors."""
    import torch

    from recon.voxelize.octree import build_octree

    r = 2**depth
    c = (np.arange(r) + 0.5) / r * 2 - 1
    x, y, z = np.meshgrid(c, c, c, indexing="ij")
    tree = build_octree(x**2 + y**2 + z**2 < 0.25, depth)
    dtypes = {"keys": np.int64, "state": np.uint8, "child": np.int32}
    return [{k: torch.from_numpy(np.asarray(getattr(tree, k)[level], dtypes[k])) for k in dtypes}
            for level in range(depth + 1)]  # fmt: skip


class RandomItems:
    """A map-style dataset of ``count`` fixed random items (:func:`random_item`), for the trainer."""

    def __init__(self, setup: dict, count: int, seed: int = 0):
        gen = np.random.default_rng(seed)
        self.items = [random_item(setup, gen, i) for i in range(count)]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        return self.items[index]


# --------------------------------------------------------------------------------------------------
# Section: train


def section_train(args, size: dict) -> None:
    """Time the trainer's step of one method (``args.method``) at its ShapeNet experiment's size."""
    import torch

    from recon.io.loader import collate
    from recon.train.optim import make_optimizer, train_step

    name = args.method
    case = name
    try:
        setup = method_setup(name, size)
        case = f"{name} ({setup['experiment'] or 'defaults: no ShapeNet experiment'})"
        cuda = not args.cpu
        device = torch.device("cuda" if cuda else "cpu")
        tc, cfg, method = setup["train_config"], setup["model_config"], setup["method"]
        precision = "bf16" if cuda else "fp32"
        size_text = f"{describe_size(setup)}, {precision}"
        torch.manual_seed(0)
        if cuda:
            torch.backends.cudnn.benchmark = True  # as the trainer, outside deterministic mode
            torch.cuda.reset_peak_memory_stats()
        batch = collate(RandomItems(setup, setup["batch"]).items)
        batch = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
        model = method.build(cfg).to(device)
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer, scheduler = make_optimizer(params, tc)
        autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if cuda else contextlib.nullcontext
        model.train()

        def step() -> float:
            loss, _, norm = train_step(
                method, model, batch, cfg, optimizer, scheduler, params, tc.grad_clip, autocast
            )
            float(norm)  # the trainer reads the norm back every step
            return loss.item()

        first = step()
        for _ in range(size["warmup"] - 1):
            step()
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(size["steps"]):
            last = step()
        if cuda:
            torch.cuda.synchronize()
        per_step = (time.perf_counter() - start) / size["steps"]
        if cuda:
            memory = _fmt_bytes(torch.cuda.max_memory_allocated())
        else:
            import resource

            memory = _fmt_bytes(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024) + " (process)"
        emit(
            section="train",
            case=case,
            size=size_text,
            time=f"{per_step:.4f} s/step",
            rate=f"{setup['batch'] / per_step:.1f} items/s",
            **{"peak memory": memory},
            result=f"ok: loss {first:.4g} → {last:.4g} (one batch, {size['warmup']} + {size['steps']} steps)",
        )
    except Exception as err:
        emit(section="train", case=case, status="fail", result=f"failed: {_error_text(err)}")


# --------------------------------------------------------------------------------------------------
# Section: metrics


def _sphere(gen: np.random.Generator, count: int, batch: int | None = None):
    """Uniform points on the unit sphere and their normals (the points): (N, 3) or (B, N, 3) float32."""
    shape = (count, 3) if batch is None else (batch, count, 3)
    d = gen.normal(size=shape)
    d /= np.linalg.norm(d, axis=-1, keepdims=True)
    return d.astype(np.float32)


def _timed(fn, repeats: int, sync) -> tuple[float, object]:
    """Median seconds of ``repeats`` calls (after one untimed call) and the last result."""
    out = fn()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        sync()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), out


def section_metrics(args, size: dict) -> None:
    """Metrics on the device against the CPU: values compared, both timed."""
    import torch

    from recon.evaluate import metrics

    cuda = not args.cpu
    device = torch.device("cuda" if cuda else "cpu")
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    label = "GPU" if cuda else "torch cdist (CPU)"
    taus = [0.01, 0.015, 0.02]
    gen = np.random.default_rng(0)

    def device_distances(pred, gt):
        if cuda:
            return metrics.point_distances(pred, gt)

        # On the CPU, torch tensors go to the k-d tree; run the GPU's chunked-cdist kernel instead.
        def one(p, g):
            d_pred, i_pred = metrics._nn_torch(p, g)
            d_gt, i_gt = metrics._nn_torch(g, p)
            return d_pred, d_gt, i_pred, i_gt

        if pred.dim() == 2:
            return metrics.PointDistances(*one(pred, gt))
        parts = [one(p, g) for p, g in zip(pred, gt, strict=True)]
        return metrics.PointDistances(*(torch.stack([p[k] for p in parts]) for k in range(4)))

    def reduce(d, pred_n, gt_n):
        return {
            "cd_l1": d.chamfer(squared=False, combine="mean"),
            "cd_l2": d.chamfer(squared=True, combine="sum"),
            "f": d.f_score(taus),
            "nc": d.normal_consistency(pred_n, gt_n),
            "index": (d.pred_index, d.gt_index),
        }

    def compare(cpu_out, dev_out, n_points: int) -> tuple[bool, str]:
        def arr(x):
            return x.detach().cpu().double().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, float)

        rel = max(
            float(
                np.max(np.abs(arr(dev_out[k]) - arr(cpu_out[k])) / np.maximum(np.abs(arr(cpu_out[k])), 1e-12))
            )
            for k in ("cd_l1", "cd_l2", "nc")
        )
        f_diff = float(np.max(np.abs(arr(dev_out["f"]) - arr(cpu_out["f"]))))
        agree = np.mean(
            [np.mean(arr(d) == arr(c)) for d, c in zip(dev_out["index"], cpu_out["index"], strict=True)]
        )
        # float32 on the device, float64 on the CPU: distances agree to ~1e-7 relative, and a point
        # within that of a threshold may count on one side only (one point = 1 / n_points of F).
        equal = rel <= 1e-5 and f_diff <= 2.0 / n_points
        text = f"CD, NC rel. diff {rel:.1e}; F diff {f_diff:.1e}; same neighbour {100 * agree:.2f} %"
        return equal, text

    def clouds_row(case: str, size_text: str, pred, gt) -> None:
        try:
            n_points = pred.shape[-2]

            def cpu_run():
                return reduce(metrics.point_distances(pred, gt), pred, gt)

            tp, tg = torch.from_numpy(pred).to(device), torch.from_numpy(gt).to(device)

            def dev_run():
                return reduce(device_distances(tp, tg), tp, tg)

            t_cpu, cpu_out = _timed(cpu_run, size["repeats"], lambda: None)
            if cuda:
                torch.cuda.reset_peak_memory_stats()
            t_dev, dev_out = _timed(dev_run, size["repeats"], sync)
            equal, text = compare(cpu_out, dev_out, n_points)
            emit(
                section="metrics",
                case=case,
                size=size_text,
                time=f"{label} {t_dev:.4f} s, CPU {t_cpu:.4f} s",
                rate=_speedup(t_cpu, t_dev),
                **{"peak memory": _fmt_bytes(torch.cuda.max_memory_allocated()) if cuda else "—"},
                status="ok" if equal else "fail",
                result=("equal: " if equal else "NOT equal: ") + text,
            )
        except Exception as err:
            emit(section="metrics", case=case, size=size_text, status="fail",
                 result=f"failed: {_error_text(err)}")  # fmt: skip

    n = size["points"]
    clouds_row(
        "Chamfer-L1, -L2, F at 1/1.5/2 %, normal consistency",
        f"{_fmt_int(n)} vs {_fmt_int(n)} points",
        _sphere(gen, n),
        _sphere(gen, n),
    )
    b, m = size["batch_clouds"]
    clouds_row(
        "the same, a batch of clouds",
        f"{b} x {_fmt_int(m)} vs {_fmt_int(m)} points",
        _sphere(gen, m, b),
        _sphere(gen, m, b),
    )

    b, r = size["voxels"]
    case = "IoU of voxel grids (iou_voxels, p ≥ 0.4)"
    try:
        prob = gen.random((b, r, r, r), dtype=np.float32)
        gt = gen.random((b, r, r, r)) < 0.3
        tp, tg = torch.from_numpy(prob).to(device), torch.from_numpy(gt).to(device)
        t_cpu, cpu_iou = _timed(lambda: metrics.iou_voxels(prob, gt, 0.4), size["repeats"], lambda: None)
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        t_dev, dev_iou = _timed(lambda: metrics.iou_voxels(tp, tg, 0.4), size["repeats"], sync)
        diff = float(np.max(np.abs(dev_iou.cpu().numpy() - np.asarray(cpu_iou))))
        emit(
            section="metrics",
            case=case,
            size=f"{b} x {r}³",
            time=f"{'GPU' if cuda else 'torch (CPU)'} {t_dev:.4f} s, CPU {t_cpu:.4f} s",
            rate=_speedup(t_cpu, t_dev),
            **{"peak memory": _fmt_bytes(torch.cuda.max_memory_allocated()) if cuda else "—"},
            status="ok" if diff == 0 else "fail",
            result=f"{'equal' if diff == 0 else 'NOT equal'}: max diff {diff:.1e}",
        )
    except Exception as err:
        emit(section="metrics", case=case, status="fail", result=f"failed: {_error_text(err)}")
    emit(
        section="metrics",
        case="EMD (emd_exact, approxmatch, Pix3D auction)",
        status="skipped",
        result="skipped: CPU only (numba kernels), no device path",
    )


# --------------------------------------------------------------------------------------------------
# Section: torchrun


def section_ddp(args, size: dict) -> None:
    """One process of ``torchrun``: :func:`recon.train.train` on random items; rank 0 prints the row."""
    import torch

    from recon.train import train

    rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    device = args.ddp_device
    backend = ("nccl" if device == "cuda" else "gloo") if world > 1 else "no process group"
    toy = sizes(True, None) if device == "cpu" or args.cpu else size
    case = f"{args.method}, {world} process{'es' if world > 1 else ''} on {device} ({backend})"
    try:
        setup = method_setup(args.method, toy, world)
        steps = toy["ddp_steps"]
        overrides = {
            "steps": steps,
            "batch_size": setup["batch"],
            "num_workers": 0,
            "val_every": 0,
            "log_every": steps,
            "checkpoint_every": steps,
            "log_images_every": 0,
            "device": device,
            "amp": "bf16" if device == "cuda" else "off",
        }
        data = RandomItems(setup, 2 * setup["batch"])
        summary = train(
            setup["method"], setup["model_config"], {**_train_dict(setup), **overrides}, data, None,
            args.ddp_out, progress=False,
        )  # fmt: skip
        if rank != 0:
            return
        ok = (
            summary["complete"]
            and summary["steps"] == steps
            and math.isfinite(summary["final_train_loss"])
            and (Path(args.ddp_out) / "checkpoints" / "last.pt").exists()
        )
        per_step = summary["seconds_per_step"]
        emit(
            section="torchrun",
            case=case,
            size=f"{describe_size(setup)}, {'bf16' if device == 'cuda' else 'fp32'}, {_steps(steps)}",
            time=f"{per_step:.4f} s/step (first step, checkpoint included)",
            rate=f"{setup['batch'] / per_step:.1f} items/s",
            **{"peak memory": _fmt_bytes(torch.cuda.max_memory_allocated()) if device == "cuda" else "—"},
            status="ok" if ok else "fail",
            result=(
                f"{'ok' if ok else 'INCOMPLETE'}: {summary['steps']} of {steps} steps, "
                f"loss {summary['final_train_loss']:.4g}, checkpoint written"
            ),
        )
    except Exception as err:
        if rank == 0:
            emit(section="torchrun", case=case, status="fail", result=f"failed: {_error_text(err)}")
        raise


def _train_dict(setup: dict) -> dict:
    """The experiment's train config for random items: no category filter (they have no shapes),
    no starting checkpoint (earlier stages are not trained here)."""
    from recon.train import config_to_dict

    return {**config_to_dict(setup["train_config"]), "categories": [], "init_from": ""}


# --------------------------------------------------------------------------------------------------
# Section: render


def _composite(rgba: np.ndarray) -> np.ndarray:
    rgb, alpha = rgba[..., :3].astype(np.float64), rgba[..., 3:4].astype(np.float64) / 255.0
    return rgb * alpha + 255.0 * (1.0 - alpha)


def psnr(images: np.ndarray, reference: np.ndarray) -> float:
    """PSNR in dB of (N, H, W, 4) uint8 RGBA images against a reference, composited on white."""
    mse = float(((_composite(images) - _composite(reference)) ** 2).mean())
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def section_render(args, size: dict) -> None:
    """Render a demo batch on the CPU and on each GPU backend, compare with the CPU renders."""
    spec = size["render"]
    case = "demo batch"
    try:
        import bpy  # noqa: F401
    except Exception as err:
        emit(
            section="render",
            case=case,
            status="skipped",
            result=f"skipped: bpy not importable ({_error_text(err)})",
        )
        return
    with tempfile.TemporaryDirectory(prefix="gpu-check-render-") as tmp:
        _render_rows(Path(tmp), spec)


def _render_rows(tmp: Path, spec: dict) -> None:
    case = "demo batch"
    try:
        from recon.config import resolve_config
        from recon.demo import DEMO_CATEGORIES, make_demo_dataset
        from recon.geometry.references import shape_folder
        from recon.ingest.sources import discover_shapenet
        from recon.ingest.stage import ingest_shape, source_kind
        from recon.io.store import open_store
        from recon.render.poses import pose_set_from_config
        from recon.render.stage import render_batch

        root = tmp / "ShapeNetCore.v1"
        categories = list(DEMO_CATEGORIES)[: spec["shapes"]]
        per_category = -(-spec["shapes"] // len(categories))
        make_demo_dataset(root, seed=0, categories=categories, shapes_per_category=per_category)
        found = discover_shapenet(root, "v1")
        rank = {s.path: sum(o.category == s.category for o in found[:i]) for i, s in enumerate(found)}
        config = resolve_config({})
        shapes = []
        for shape in sorted(found, key=lambda s: (rank[s.path], s.category))[: spec["shapes"]]:
            store = tmp / "ingest" / shape.category / f"{shape.shape_id}.zarr"
            store.parent.mkdir(parents=True, exist_ok=True)
            ingest_shape(
                root / shape.path, store, category=shape.category, category_name=shape.category_name,
                shape_id=shape.shape_id, source_path=shape.path, source_format=shape.format,
                source_folder=shape_folder(shape.path, source_kind(config)), config=config,
            )  # fmt: skip
            shapes.append((shape.category, shape.shape_id))
        render_cfg = {"views": spec["views"], "resolution": spec["resolution"]}
        pose_set = pose_set_from_config(resolve_config({"render": render_cfg})["render"])
        samples = config["render"]["samples"]
        size_text = f"{len(shapes)} shapes x {pose_set.views} views, {pose_set.width}², {samples} samples"
    except Exception as err:
        emit(section="render", case=case, status="fail", result=f"failed to prepare: {_error_text(err)}")
        return

    def run(device: str, name: str) -> tuple[float, dict]:
        cfg = resolve_config({"render": {**render_cfg, "device": device}})
        out = tmp / name
        start = time.perf_counter()
        render_batch(shapes, ingest_dir=tmp / "ingest", source_root=root, config=cfg, out_dir=out)
        seconds = (time.perf_counter() - start) / (len(shapes) * pose_set.views)
        arrays = {}
        for key in ("views/rgba", "views/mask", "views/depth", "cameras/Rt"):
            arrays[key] = np.concatenate([open_store(out / f"{sid}.zarr")[key][...] for _, sid in shapes])
        return seconds, arrays

    try:
        t_ref, ref = run("CPU", "cpu")
        emit(section="render", case="CPU (reference)", size=size_text, time=f"{t_ref:.3f} s/view",
             rate=f"{1 / t_ref:.1f} views/s", **{"peak memory": "—"}, result="ok")  # fmt: skip
    except Exception as err:
        emit(section="render", case="CPU (reference)", size=size_text, status="fail",
             result=f"failed: {_error_text(err)}")  # fmt: skip
        return
    for i, device in enumerate(spec["devices"]):
        label = f"{device} vs CPU" if device != "CPU" else "CPU again vs CPU"
        try:
            seconds, out = run(device, f"{device.lower()}-{i}")
            same_cameras = np.array_equal(out["cameras/Rt"], ref["cameras/Rt"])
            mask_diff = int(np.count_nonzero(out["views/mask"] != ref["views/mask"]))
            both = out["views/mask"] & ref["views/mask"]
            depth_diff = float(np.max(np.abs(out["views/depth"] - ref["views/depth"])[both], initial=0.0))
            depth_equal = depth_diff <= 1e-5 and np.array_equal(
                out["views/depth"][~both], ref["views/depth"][~both]
            )
            equal = same_cameras and mask_diff == 0 and depth_equal
            emit(
                section="render",
                case=label,
                size=size_text,
                time=f"{seconds:.3f} s/view",
                rate=_speedup(t_ref, seconds),
                **{"peak memory": "—"},
                status="ok" if equal else "fail",
                result=(
                    f"PSNR {psnr(out['views/rgba'], ref['views/rgba']):.1f} dB; masks "
                    f"{'equal' if mask_diff == 0 else f'differ in {mask_diff} pixels'}; depth "
                    f"{'equal' if depth_equal else 'differs'} (max diff {depth_diff:.1e})"
                    + ("" if same_cameras else "; other poses drawn (a view touched the border)")
                ),
            )
        except Exception as err:
            emit(
                section="render",
                case=label,
                size=size_text,
                status="fail",
                result=f"failed: {_error_text(err)}",
            )


# --------------------------------------------------------------------------------------------------
# The parent: device, sections in subprocesses, the table


def device_description(cpu: bool) -> tuple[str, int]:
    """A line naming the device and the software, and the number of GPUs (0 with ``--cpu``)."""
    import torch

    cpu_name = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        names = [ln for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("model name")]
        cpu_name = names[0].split(":", 1)[1].strip() if names else cpu_name
    soft = f"torch {torch.__version__}, Python {platform.python_version()}, {os.cpu_count()} CPU cores"
    if cpu:
        return f"CPU only ({cpu_name}), toy size; {soft}", 0
    count = torch.cuda.device_count()
    props = torch.cuda.get_device_properties(0)
    name = f"{count} x {props.name} ({props.total_memory / 2**30:.0f} GiB)"
    return f"{name}, CUDA {torch.version.cuda}, {soft}", count


class Table:
    """The Markdown table: printed row by row, and the whole file rewritten after each row."""

    def __init__(self, out: Path | None, header: list[str]):
        self.out = out
        self.header = header
        self.rows: list[dict] = []
        self.footer: list[str] = []
        print("\n".join(self._head()), flush=True)
        self._write()

    def _head(self) -> list[str]:
        return [*self.header, "", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]

    @staticmethod
    def _line(row: dict) -> str:
        cells = [str(row.get(c, "")).replace("|", "/") or "" for c in COLUMNS]
        return "| " + " | ".join(cells) + " |"

    def add(self, row: dict) -> None:
        self.rows.append(row)
        print(self._line(row), flush=True)
        self._write()

    def finish(self, lines: list[str]) -> None:
        self.footer = lines
        print("\n" + "\n".join(lines), flush=True)
        self._write()

    def _write(self) -> None:
        if self.out is None:
            return
        text = "\n".join([*self._head(), *(self._line(r) for r in self.rows)])
        if self.footer:
            text += "\n\n" + "\n".join(self.footer)
        self.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.out.with_name(self.out.name + ".tmp")
        tmp.write_text(text + "\n", encoding="utf-8")
        os.replace(tmp, self.out)


def run_rows(cmd: list[str], timeout: float, table: Table, section: str, case: str, env=None) -> None:
    """Run a section process; add the rows it prints; a crash or timeout becomes a failed row."""
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1, cwd=REPO,
        start_new_session=True, env=env,
    )  # fmt: skip
    lines: queue.Queue = queue.Queue()
    tail: deque[str] = deque(maxlen=20)

    def pump_out():
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    def pump_err():
        for line in proc.stderr:
            sys.stderr.write(line)
            tail.append(line.rstrip())

    threads = [threading.Thread(target=pump_out, daemon=True), threading.Thread(target=pump_err, daemon=True)]
    for t in threads:
        t.start()
    started = time.monotonic()
    deadline = started + timeout
    rows = 0
    timed_out = False
    while True:
        try:
            line = lines.get(timeout=max(0.05, min(1.0, deadline - time.monotonic())))
        except queue.Empty:
            if time.monotonic() > deadline:
                timed_out = True
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                break
            continue
        if line is None:
            break
        if ROW_PREFIX in line:  # torchrun may prefix its workers' lines with their rank
            table.add(json.loads(line[line.index(ROW_PREFIX) + len(ROW_PREFIX) :]))
            rows += 1
        else:
            sys.stderr.write(line)
    proc.wait()
    for t in threads:
        t.join(timeout=5)
    print(f"gpu_check: {section} {case}: {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)
    if timed_out:
        table.add({"section": section, "case": case, "status": "fail",
                   "result": f"failed: timed out after {timeout:.0f} s"})  # fmt: skip
    elif proc.returncode != 0 and rows == 0:
        last = next((t for t in reversed(tail) if t.strip()), "")
        table.add({"section": section, "case": case, "status": "fail",
                   "result": f"failed: exit status {proc.returncode}: {last[:200]}"})  # fmt: skip
    elif proc.returncode != 0 and not any(r.get("status") == "fail" for r in table.rows[-rows:]):
        table.add({"section": section, "case": case, "status": "fail",
                   "result": f"failed: exit status {proc.returncode} after its rows"})  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cpu", action="store_true", help="toy size on the CPU (no GPU needed)")
    parser.add_argument("--out", type=Path, help="also write the table (Markdown) to this file")
    parser.add_argument("--steps", type=int, help="timed training steps (default 50; 1 with --cpu)")
    parser.add_argument(
        "--budget", type=float, help="seconds for the whole run (default 540; 600 with --cpu)"
    )
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    # Internal: one section in this process.
    parser.add_argument("--section", choices=[*SECTIONS, "ddp"], help=argparse.SUPPRESS)
    parser.add_argument("--method", help=argparse.SUPPRESS)
    parser.add_argument("--ddp-device", default="cuda", help=argparse.SUPPRESS)
    parser.add_argument("--ddp-out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    size = sizes(args.cpu, args.steps)

    if args.section:
        {"render": section_render, "train": section_train, "metrics": section_metrics, "ddp": section_ddp}[
            args.section
        ](args, size)
        return 0

    try:
        import torch
    except ImportError as err:
        if not args.cpu:
            print(f"gpu_check: PyTorch cannot be imported ({err}); nothing to check", file=sys.stderr)
            return 2
        raise
    if not args.cpu and not torch.cuda.is_available():
        print(
            "gpu_check: no CUDA device (torch.cuda.is_available() is False); run it on a GPU machine, "
            "or pass --cpu for the same steps at toy size on the CPU",
            file=sys.stderr,
        )
        return 2
    started = time.monotonic()
    budget = args.budget or (600.0 if args.cpu else 540.0)
    device, gpus = device_description(args.cpu)
    mode = " --cpu" if args.cpu else ""
    header = [
        "# recon GPU check" + (" (--cpu, toy size)" if args.cpu else ""),
        "",
        f"{datetime.date.today().isoformat()}; {device}; `python bench/gpu_check.py{mode}`",
    ]
    table = Table(args.out, header)

    from recon.models.method import METHODS, discover_methods

    errors = discover_methods()
    for module, error in errors.items():
        table.add(
            {"section": "train", "case": module, "status": "fail", "result": f"not importable: {error}"}
        )
    methods = sorted(METHODS)
    me = [sys.executable, str(Path(__file__).resolve())]
    common = ["--cpu"] if args.cpu else []
    if args.steps:
        common += ["--steps", str(args.steps)]

    def left(section: str) -> float:
        return min(SECTION_CAP[section] * (0.5 if args.cpu else 1.0), budget - (time.monotonic() - started))

    def skipped(section: str, case: str) -> bool:
        if left(section) > 5:
            return False
        table.add({"section": section, "case": case, "status": "skipped",
                   "result": "skipped: the time budget is spent"})  # fmt: skip
        return True

    if "render" in args.sections and not skipped("render", "demo batch"):
        run_rows([*me, "--section", "render", *common], left("render"), table, "render", "demo batch")
    if "train" in args.sections:
        for name in methods:
            if not skipped("train", name):
                run_rows(
                    [*me, "--section", "train", "--method", name, *common],
                    left("train"),
                    table,
                    "train",
                    name,
                )
    if "metrics" in args.sections and not skipped("metrics", "all"):
        run_rows([*me, "--section", "metrics", *common], left("metrics"), table, "metrics", "all")
    if "torchrun" in args.sections:
        runs = [(gpus, "cuda")] if gpus else []
        if gpus <= 1:
            runs.append((2, "cpu"))  # the DDP path itself (gloo), which one process does not take
        for processes, device in runs:
            for name in methods:
                case = f"{name}, {processes} processes on {device}"
                if skipped("torchrun", case):
                    continue
                with tempfile.TemporaryDirectory(prefix="gpu-check-ddp-") as out:
                    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                           f"--nproc-per-node={processes}", str(Path(__file__).resolve()), "--section", "ddp",
                           "--method", name, "--ddp-device", device, "--ddp-out", out, *common]  # fmt: skip
                    env = {
                        **os.environ,
                        "PYTHONPATH": os.pathsep.join(
                            filter(None, [str(REPO), os.environ.get("PYTHONPATH")])
                        ),
                    }
                    run_rows(cmd, left("torchrun"), table, "torchrun", case, env=env)
    failed = [r for r in table.rows if r.get("status") == "fail"]
    table.finish(
        [f"{len(table.rows)} rows, {len(failed)} failed; {time.monotonic() - started:.0f} s in all."]
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
