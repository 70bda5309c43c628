"""Shared fixtures: a plain mesh folder with good meshes in five formats and every bad kind."""

from __future__ import annotations

from pathlib import Path

import pytest
import trimesh

from tests.meshes import BAD_MESHES


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
