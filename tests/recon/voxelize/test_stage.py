"""The voxelize stage of one shape: store layout, octree round trip, binvox, leaf features."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

pytest.importorskip("igl")

from recon.config import resolve_config
from recon.geometry.voxels import VoxelSpec, solid_voxels, surface_voxels
from recon.ingest.sources import discover
from recon.io.store import open_store
from recon.sdf.stage import sdf_shape
from recon.voxelize.binvox import read_binvox
from recon.voxelize.octree import EMPTY, FULL, Octree, octree_to_dense
from recon.voxelize.spherical import spherical_map
from recon.voxelize.stage import half_extent, voxelize_shape
from tests.meshes import SMALL_SDF, SMALL_VOXELIZE, ingest_source


@pytest.fixture(scope="module")
def torus(tmp_path_factory):
    """A torus, ingested (unit sphere), with its SDF store and voxelize store (no render store)."""
    tmp = tmp_path_factory.mktemp("voxelize")
    root = tmp / "meshes"
    (root / "things").mkdir(parents=True)
    trimesh.creation.torus(0.6, 0.25, major_sections=40, minor_sections=20).export(
        root / "things" / "torus.obj"
    )
    config = resolve_config(
        {"source": {"kind": "folder", "path": str(root)}, "sdf": SMALL_SDF, "voxelize": SMALL_VOXELIZE}
    )
    shape = discover("folder", root)[0]
    paths = {name: tmp / f"{name}.zarr" for name in ("ingest", "sdf", "voxelize")}
    ingest_source(root, shape, paths["ingest"], config)
    sdf_shape(paths["ingest"], paths["sdf"], config)
    summary = voxelize_shape(
        paths["ingest"], paths["sdf"], None, paths["voxelize"], tmp / "model.binvox", config
    )
    return {"config": config, "paths": paths, "binvox": tmp / "model.binvox", "summary": summary}


def test_store_holds_the_voxels_of_the_mesh(torus):
    store = open_store(torus["paths"]["voxelize"])
    ingest = open_store(torus["paths"]["ingest"])
    vertices, faces = ingest["mesh/vertices"][...].astype(np.float64), ingest["mesh/faces"][...]
    assert half_extent(torus["config"]) == 1.0
    for n in (16, 32):
        spec = VoxelSpec(n, 1.0)
        np.testing.assert_array_equal(store[f"voxels/{n}/solid"][...], solid_voxels(vertices, faces, spec))
        np.testing.assert_array_equal(
            store[f"voxels/{n}/surface"][...], surface_voxels(vertices, faces, spec)
        )
    np.testing.assert_array_equal(store["spherical/full"][...], spherical_map(vertices, faces, 32))
    assert "partial" not in store["spherical"]  # no render store given
    attrs = dict(store.attrs)
    assert attrs["voxels"]["resolutions"] == [16, 32] and attrs["provenance"]["stage"] == "voxelize"
    assert torus["summary"]["filled"]["32"] == int(
        np.sum(store["voxels/32/solid"][...] | store["voxels/32/surface"][...])
    )


def test_octree_round_trip_equals_the_filled_voxels(torus):
    store = open_store(torus["paths"]["voxelize"])
    depth = 4
    octree = Octree(
        depth,
        [store[f"octree/level_{lv}/keys"][...] for lv in range(depth + 1)],
        [store[f"octree/level_{lv}/state"][...] for lv in range(depth + 1)],
        [store[f"octree/level_{lv}/child"][...] for lv in range(depth + 1)],
    )
    filled = store["voxels/16/solid"][...] | store["voxels/16/surface"][...]
    np.testing.assert_array_equal(octree_to_dense(octree), filled)
    counts = dict(store.attrs)["octree"]["counts"]
    assert [c["nodes"] for c in counts] == [len(k) for k in octree.keys]
    # Leaf features: full leaves lie inside or on the surface (sdf below half a voxel diagonal),
    # empty leaves outside it; normals are unit vectors.
    sdf = store[f"octree/level_{depth}/sdf"][...]
    state = octree.state[depth]
    half_diagonal = np.sqrt(3) * VoxelSpec(16, 1.0).size / 2
    assert np.all(sdf[state == FULL] < half_diagonal)
    assert np.all(sdf[state == EMPTY] > -half_diagonal)
    normal = store[f"octree/level_{depth}/normal"][...].astype(np.float32)
    np.testing.assert_allclose(np.linalg.norm(normal, axis=1), 1.0, atol=2e-3)


def test_binvox_file_holds_the_filled_voxels(torus):
    store = open_store(torus["paths"]["voxelize"])
    voxels, translate, scale = read_binvox(torus["binvox"])
    np.testing.assert_array_equal(voxels, store["voxels/32/solid"][...] | store["voxels/32/surface"][...])
    np.testing.assert_array_equal(translate, [-1.0, -1.0, -1.0])
    assert scale == 2.0


def test_binvox_resolution_must_be_stored(torus, tmp_path):
    config = resolve_config({**torus["config"], "voxelize": {**SMALL_VOXELIZE, "binvox": 64}})
    paths = torus["paths"]
    with pytest.raises(ValueError, match=r"voxelize.binvox = 64 must be one of"):
        voxelize_shape(
            paths["ingest"], paths["sdf"], None, tmp_path / "v.zarr", tmp_path / "m.binvox", config
        )
