"""Shared fixtures: a plain mesh folder with good meshes in five formats and every bad kind."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import trimesh

from tests.meshes import BAD_MESHES


def pytest_configure(config):
    """Under pytest-xdist, each worker and the processes it starts get their share of the cores.

    PyTorch, OpenMP and numba otherwise each start one thread per core in every worker: with two
    workers on two cores, two trainings side by side took 70 s each where one thread each took 44 s
    (2026-12-08, 2 cores).
    """
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers < 2:
        return
    share = str(max(1, (os.cpu_count() or 1) // workers))
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ.setdefault(name, share)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(int(share))


@pytest.fixture
def mesh_folder(tmp_path: Path) -> Path:
    """A plain folder source: two good categories in five formats plus every bad kind."""
    root = tmp_path / "meshes"
    (root / "boxes").mkdir(parents=True)
    (root / "balls").mkdir(parents=True)
    (root / "bad").mkdir(parents=True)
    trimesh.creation.box((1, 2, 3)).export(root / "boxes" / "tall.obj")
    trimesh.creation.box((2, 1, 1)).export(root / "boxes" / "long.ply")
    trimesh.creation.icosphere(1).export(root / "balls" / "ico.stl")
    trimesh.creation.capsule(1.0, 0.5, count=[6, 6]).export(root / "balls" / "capsule.glb")
    trimesh.creation.cylinder(0.5, 1.0, sections=8).export(root / "balls" / "cyl.off")
    for name, writer, _ in BAD_MESHES.values():
        writer(root / "bad" / name)
    return root
