"""Time the voxelize and pack stages and the training loader; report packed sizes per array.

    python bench/bench_pack.py [--shapes 32] [--items 4000] [--batch 32] [--workers 0 2]

One demo chair goes through the real stages with the default config: ingest, render (DISN's
``disn_easy``: 36 views, 224 x 224, 8 samples), sdf (256^3) and voxelize (32/64/128^3 voxels,
depth-6 octree, 128 x 128 spherical maps, a partial map per view). Its three stores are copied
under ``--shapes`` ids (one category, all ``train``) and packed by ``recon.pack.stage.pack_split``.
Then ``recon.io.loader.PackedDataset`` serves DISN-style items (one 224^2 RGBA view, its camera,
2,048 SDF samples) through a ``torch.utils.data.DataLoader`` in random order.

Prints: voxelize time of the shape; pack time per shape; loader items per second per worker
count; stored and uncompressed bytes per shape of every packed array.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from recon.config import resolve_config
from recon.demo.layout import write_shape
from recon.demo.shapes import DEMO_CATEGORIES, generate_shape
from recon.ingest.stage import ingest_shape
from recon.io.tables import read_tsv, write_tsv
from recon.pack.stage import PackShape, pack_split
from recon.render.blender import BlenderRenderer
from recon.render.poses import get_pose_set
from recon.render.stage import render_shape
from recon.sdf.stage import sdf_shape
from recon.seeding import rng
from recon.voxelize.stage import voxelize_shape

CATEGORY = DEMO_CATEGORIES["chair"]


def _one_shape(tmp: Path, config: dict) -> tuple[dict[str, Path], float]:
    """Stores of one demo chair through ingest, render, sdf and voxelize; voxelize seconds."""
    root = tmp / "ShapeNetCore.v1"
    parts, params = generate_shape("chair", rng(0, "bench", "chair"))
    rel = write_shape(root / CATEGORY / "bench", "v1", "bench", parts, params)
    rel = f"{CATEGORY}/bench/{rel}"
    paths = {name: tmp / "one" / f"{name}.zarr" for name in ("ingest", "render", "sdf", "voxelize")}
    ingest_shape(
        root / rel,
        paths["ingest"],
        category=CATEGORY,
        category_name="chair",
        shape_id="bench",
        source_path=rel,
        source_format="obj",
        config=config,
    )
    pose_set = get_pose_set("disn_easy")
    with BlenderRenderer(pose_set.width, pose_set.height, samples=8, threads=2) as renderer:
        render_shape(
            renderer,
            ingest_store=paths["ingest"],
            source_root=root,
            pose_set=pose_set,
            config=config,
            out_store=paths["render"],
        )
    sdf_shape(paths["ingest"], paths["sdf"], config)
    start = time.perf_counter()
    voxelize_shape(
        paths["ingest"], paths["sdf"], paths["render"], paths["voxelize"], tmp / "m.binvox", config
    )
    return paths, time.perf_counter() - start


def _pack(tmp: Path, paths: dict[str, Path], n: int, config: dict) -> tuple[Path, float, list[dict]]:
    shapes, rows = [], []
    for i in range(n):
        sid = f"s{i:05d}"
        copies = {}
        for stage in ("render", "sdf", "voxelize"):
            copies[stage] = str(tmp / stage / CATEGORY / f"{sid}.zarr")
            shutil.copytree(paths[stage], copies[stage])
        shapes.append(PackShape(CATEGORY, "chair", sid, **copies))
        rows.append({"category": CATEGORY, "category_name": "chair", "shape_id": sid, "split": "train"})
    columns = ["category", "category_name", "shape_id", "split", "status", "reason"]
    write_tsv(tmp / "ingest.tsv", [{**r, "status": "ok", "reason": ""} for r in rows], columns)
    write_tsv(tmp / "sdf.tsv", [{**r, "status": "ok", "reason": ""} for r in rows], columns)
    out = tmp / "pack" / "train.zarr"
    start = time.perf_counter()
    pack_split(
        "train",
        shapes,
        tmp / "ingest.tsv",
        tmp / "sdf.tsv",
        out,
        tmp / "train.tsv",
        tmp / "arrays.tsv",
        config,
    )
    return out, (time.perf_counter() - start) / n, read_tsv(tmp / "arrays.tsv")


def _throughput(store: Path, items: int, batch: int, workers: int, repeats: int = 3) -> float:
    """Median items per second over ``repeats`` passes of ``items`` random items."""
    return sorted(_one_pass(store, items, batch, workers) for _ in range(repeats))[repeats // 2]


def _one_pass(store: Path, items: int, batch: int, workers: int) -> float:
    import torch

    from recon.io.loader import PackedDataset, collate

    data = PackedDataset(store, ("image", "camera", "sdf"), n_points=2048)
    sampler = torch.utils.data.RandomSampler(data, replacement=True, num_samples=items)
    loader = torch.utils.data.DataLoader(
        data,
        batch_size=batch,
        sampler=sampler,
        num_workers=workers,
        collate_fn=collate,
        persistent_workers=False,
        prefetch_factor=4 if workers else None,
    )
    start = time.perf_counter()
    seen = 0
    for b in loader:
        seen += len(b["index"])
    return seen / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shapes", type=int, default=32)
    parser.add_argument("--items", type=int, default=12000)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    args = parser.parse_args()
    config = resolve_config({})
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        paths, voxelize_seconds = _one_shape(tmp, config)
        store, pack_seconds, arrays = _pack(tmp, paths, args.shapes, config)
        print(f"voxelize (default config, 36 partial maps): {voxelize_seconds:.2f} s per shape")
        print(f"pack: {pack_seconds:.3f} s per shape ({args.shapes} shapes)")
        print(f"\nloader, DISN item (224x224 RGBA view, camera, 2,048 SDF samples), batch {args.batch}:")
        print(f"{'workers':>8} {'items/s (median of 3)':>22}")
        for workers in args.workers:
            print(f"{workers:>8} {_throughput(store, args.items, args.batch, workers):>22.0f}")
        print(f"\n{'array':<28} {'stored MB/shape':>16} {'raw MB/shape':>13} {'ratio':>7}")
        for row in arrays:
            if row["stored_bytes_per_shape"] == "":
                continue
            stored = int(row["stored_bytes_per_shape"])
            raw = int(row["uncompressed_bytes"]) / args.shapes
            print(f"{row['array']:<28} {stored / 1e6:>16.3f} {raw / 1e6:>13.3f} {row['ratio']:>7}")


if __name__ == "__main__":
    main()
