"""A small packed dataset made by a real workflow run, shared by the model tests."""

from __future__ import annotations

import pytest
import trimesh

from tests.meshes import SMALL_SDF, SMALL_VOXELIZE
from tests.pipeline import make_workdir, run_snakemake

CONFIG = {
    "render": {"views": 4, "resolution": 64, "batch_size": 8, "samples": 4},
    "sdf": SMALL_SDF,
    # GenRe's viewer-centred data at the small GenRe config's sizes (maps 32, volumes 32).
    "voxelize": {**SMALL_VOXELIZE, "view_aligned": {"enabled": True, "resolution": 32}},
    "pack": {"shard_shapes": 4, "point_chunk": 512},
}
# Three different train shapes per category, so that the category mean is a poor guess for each.
SPLITS = {
    "things": {"train": ["wide", "tall", "ring"], "test": ["cube"]},
    "balls": {"train": ["ico", "capsule", "egg"], "test": ["ball"]},
}


def _meshes():
    egg = trimesh.creation.icosphere(3)
    egg.apply_scale([1.0, 1.4, 1.0])
    return {
        "wide": trimesh.creation.box((2.0, 0.8, 1.2)),
        "tall": trimesh.creation.box((0.6, 2.0, 0.8)),
        "cube": trimesh.creation.box((1.0, 1.0, 1.0)),
        "ring": trimesh.creation.annulus(0.45, 1.0, 0.5),
        "ball": trimesh.creation.icosphere(2),
        "ico": trimesh.creation.icosphere(3),
        "capsule": trimesh.creation.capsule(1.0, 0.5),
        "egg": egg,
    }


@pytest.fixture(scope="session")
def packed(tmp_path_factory):
    """Work folder of ``snakemake pack`` on two categories of four shapes (three train, one test)."""
    tmp = tmp_path_factory.mktemp("models")
    root, lists = tmp / "meshes", tmp / "lists"
    lists.mkdir()
    meshes = _meshes()
    for category, splits in SPLITS.items():
        (root / category).mkdir(parents=True)
        for split, ids in splits.items():
            (lists / f"{category}_{split}.lst").write_text("\n".join(ids) + "\n")
            for shape_id in ids:
                meshes[shape_id].export(root / category / f"{shape_id}.obj")
    config = {"source": {"kind": "folder", "path": str(root)}, "splits": {"lists": str(lists)}, **CONFIG}
    workdir = make_workdir(tmp, config)
    run_snakemake(workdir, "--cores", "2", "pack")
    return workdir
