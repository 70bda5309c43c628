"""Time the per-shape work of ingestion (load, quality checks, normalization, store) by mesh size.

    python bench/bench_ingest.py [--repeat 3]

Prints a table: faces, file size, seconds for each step and in total (best of --repeat).
Meshes are icospheres as triangle soups (every face with its own 3 vertices, as many ShapeNet
OBJ files are), written as OBJ, so loading and vertex merging see realistic input.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import trimesh

from recon.config import resolve_config
from recon.geometry.mesh_io import load_mesh
from recon.geometry.normalize import normalization
from recon.geometry.quality import inspect_mesh
from recon.ingest.stage import ingest_shape


def _soup_obj(path: Path, subdivisions: int) -> int:
    mesh = trimesh.creation.icosphere(subdivisions)
    v = mesh.vertices[mesh.faces].reshape(-1, 3)
    f = np.arange(len(v)).reshape(-1, 3) + 1
    with open(path, "w") as out:
        out.write("".join(f"v {x:.6f} {y:.6f} {z:.6f}\n" for x, y, z in v))
        out.write("".join(f"f {a} {b} {c}\n" for a, b, c in f))
    return len(f)


def _best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    config = resolve_config({})
    print(f"{'faces':>9} {'MB':>6} {'load s':>8} {'checks s':>9} {'normalize s':>12} {'ingest_shape s':>15}")
    with tempfile.TemporaryDirectory() as tmp:
        for sub in (4, 5, 6, 7):
            path = Path(tmp) / f"ico{sub}.obj"
            faces = _soup_obj(path, sub)
            v, f = load_mesh(path)
            t_load = _best(lambda path=path: load_mesh(path), args.repeat)
            t_check = _best(lambda v=v, f=f: inspect_mesh(v, f), args.repeat)
            t_norm = _best(lambda v=v, f=f: normalization(v, f), args.repeat)
            t_all = _best(
                lambda path=path: ingest_shape(
                    path,
                    Path(tmp) / "s.zarr",
                    category="c",
                    category_name="c",
                    shape_id="s",
                    source_path=path.name,
                    source_format="obj",
                    config=config,
                ),
                args.repeat,
            )
            mb = path.stat().st_size / 2**20
            print(f"{faces:>9} {mb:>6.1f} {t_load:>8.3f} {t_check:>9.3f} {t_norm:>12.3f} {t_all:>15.3f}")


if __name__ == "__main__":
    main()
