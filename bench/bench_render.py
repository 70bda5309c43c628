"""Time the render stage on one 80k-triangle shape with the disn_easy pose set, and measure its RGB quality.

    python bench/bench_render.py [--samples 4 8 16] [--threads 2] [--reference-samples 256]

The shape is a procedural demo table (textured top, coloured legs) with every part subdivided
until the mesh has about 80,000 triangles, written as a ShapeNet v1 OBJ with its .mtl and
texture. All 36 views of ``disn_easy`` (224 x 224) are rendered with every pass (geometry pass:
mask, depth, normals, albedo; colour pass) and written to a render store, as the workflow does.

Prints one row per sample count: seconds per view (whole shape, Blender start-up excluded),
and PSNR of the RGB images against a reference rendered with ``--reference-samples``, over
the whole image composited on white and over the object's pixels only.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from recon.config import resolve_config
from recon.demo.layout import write_shape
from recon.demo.shapes import DEMO_CATEGORIES, generate_shape
from recon.ingest.stage import ingest_shape
from recon.io.store import open_store
from recon.render.blender import BlenderRenderer
from recon.render.poses import get_pose_set
from recon.render.stage import render_shape
from recon.seeding import rng


def _make_shape(root: Path, target_faces: int = 80_000) -> tuple[str, str]:
    parts, params = generate_shape("table", rng(0, "bench", "table"))
    total = sum(len(m.faces) for _, m, _ in parts)
    while total < target_faces:  # refine the coarsest part until the mesh is large enough
        i = min(range(len(parts)), key=lambda k: len(parts[k][1].faces))
        name, mesh, material = parts[i]
        parts[i] = (name, mesh.subdivide(), material)
        total = sum(len(m.faces) for _, m, _ in parts)
    rel = write_shape(root / DEMO_CATEGORIES["table"] / "bench", "v1", "bench", parts, params)
    return f"{DEMO_CATEGORIES['table']}/bench/{rel}", str(total)


def _composite(rgba: np.ndarray) -> np.ndarray:
    rgb, alpha = rgba[..., :3].astype(np.float64), rgba[..., 3:4].astype(np.float64) / 255.0
    return rgb * alpha + 255.0 * (1.0 - alpha)


def psnr(images: np.ndarray, reference: np.ndarray, where: np.ndarray | None = None) -> float:
    """PSNR in dB of (N, H, W, 4) uint8 images against a reference, composited on white."""
    diff = (_composite(images) - _composite(reference)) ** 2
    mse = diff.mean() if where is None else diff[where].mean()
    return float(10 * np.log10(255.0**2 / mse))


def _render(tmp: Path, root: Path, ingest: Path, samples: int, threads: int, name: str) -> tuple[float, Path]:
    config = resolve_config({"render": {"samples": samples}})
    pose_set = get_pose_set("disn_easy")
    with BlenderRenderer(pose_set.width, pose_set.height, samples=samples, threads=threads) as renderer:
        start = time.perf_counter()
        render_shape(
            renderer,
            ingest_store=ingest,
            source_root=root,
            pose_set=pose_set,
            config=config,
            out_store=tmp / f"{name}.zarr",
        )
        seconds = (time.perf_counter() - start) / pose_set.views
    return seconds, tmp / f"{name}.zarr"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, nargs="+", default=[4, 8, 16, 32])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reference-samples", type=int, default=256)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        root = tmp / "ShapeNetCore.v1"
        rel, faces = _make_shape(root)
        ingest = tmp / "ingest.zarr"
        ingest_shape(
            root / rel,
            ingest,
            category="04379243",
            category_name="table",
            shape_id="bench",
            source_path=rel,
            source_format="obj",
            config=resolve_config({}),
        )
        _, ref_path = _render(tmp, root, ingest, args.reference_samples, args.threads, "reference")
        reference = open_store(ref_path)["views/rgba"][...]
        mask = open_store(ref_path)["views/mask"][...]
        print(f"mesh: {faces} triangles; disn_easy: 36 views, 224x224, all passes, {args.threads} threads")
        print(f"{'samples':>8} {'s/view':>8} {'PSNR image dB':>14} {'PSNR object dB':>15}")
        for samples in args.samples:
            seconds, path = _render(tmp, root, ingest, samples, args.threads, f"s{samples}")
            images = open_store(path)["views/rgba"][...]
            print(
                f"{samples:>8} {seconds:>8.3f} {psnr(images, reference):>14.1f} "
                f"{psnr(images, reference, mask):>15.1f}"
            )


if __name__ == "__main__":
    main()
