"""Packed split stores and the loader over them, on stores made by a real workflow run."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import trimesh
import zarr

from recon.config import resolve_config
from recon.io.chunks import ShardedArray, array_metadata
from recon.io.store import open_store
from recon.io.tables import read_tsv
from recon.pack.stage import PackShape, pack_split
from tests.meshes import BAD_MESHES, SMALL_SDF, SMALL_VOXELIZE
from tests.pipeline import make_workdir, run_snakemake

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.workflow

#: Largest amount a view's partial spherical map may read below its full map on a convex shape:
#: float32 map values (2^-25 each) and Cycles' single-precision hit points (~1e-7 relative at camera
#: distances of a few world units, halved by the frame's scale), with 20x headroom (the demo shapes
#: reach 2e-7).
PARTIAL_TOL = 1e-5

CONFIG = {
    "splits": {"ratios": {"train": 1.0, "val": 0.0, "test": 0.0}},
    "render": {"views": 3, "resolution": 40, "batch_size": 8, "samples": 4},
    "sdf": SMALL_SDF,
    "voxelize": {**SMALL_VOXELIZE, "view_aligned": {"enabled": True, "resolution": 16}},
    "pack": {"shard_shapes": 2, "point_chunk": 500},
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """``snakemake pack`` on a folder of four good meshes, one open sheet and one unreadable file."""
    tmp = tmp_path_factory.mktemp("pack")
    root = tmp / "meshes"
    (root / "things").mkdir(parents=True)
    (root / "balls").mkdir(parents=True)
    trimesh.creation.box((1, 2, 3)).export(root / "things" / "box.obj")
    trimesh.creation.annulus(0.3, 0.6, 0.4).export(root / "things" / "ring.obj")
    trimesh.creation.icosphere(3).export(root / "balls" / "ico.obj")
    trimesh.creation.capsule(1.0, 0.5).export(root / "balls" / "capsule.obj")
    sheet = trimesh.Trimesh([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]], [[0, 1, 2], [0, 2, 3]])
    sheet.export(root / "things" / "sheet.obj")
    name, writer, _ = BAD_MESHES["binary_junk"]
    writer(root / "balls" / name)
    config = {"source": {"kind": "folder", "path": str(root)}, **CONFIG}
    workdir = make_workdir(tmp, config)
    run_snakemake(workdir, "--cores", "2", "pack")
    return workdir


def _shapes(workdir):
    store = zarr.open_group(str(workdir / "results" / "pack" / "train.zarr"), mode="r")
    return [(c, s) for c, s in zip(store["index/category"][...], store["index/shape_id"][...], strict=True)]


def test_packed_store_lists_shapes_categories_and_quarantine(run):
    results = run / "results"
    assert _shapes(run) == [("balls", "capsule"), ("balls", "ico"), ("things", "box"), ("things", "ring")]
    root = zarr.open_consolidated(str(results / "pack" / "train.zarr"), mode="r", zarr_format=3)
    attrs = dict(root.attrs)
    pack = attrs["pack"]
    assert pack["shapes"] == 4 and pack["views"] == 3
    assert [(c["category"], c["first"], c["count"], c["quarantined"]) for c in pack["categories"]] == [
        ("balls", 0, 2, 1),
        ("things", 2, 2, 1),
    ]
    quarantined = {(q["shape_id"], q["stage"]) for q in pack["quarantined"]}
    assert quarantined == {("junk", "ingest"), ("sheet", "sdf")}
    assert set(attrs["stages"]) == {"render", "sdf", "voxelize"}
    assert attrs["provenance"]["stage"] == "pack"
    np.testing.assert_array_equal(root["index/category_index"][...], [0, 0, 1, 1])
    summary = read_tsv(results / "pack" / "train.tsv")
    assert [(r["category"], r["shapes"], r["views"], r["quarantined"]) for r in summary] == [
        ("balls", "2", "6", "1"),
        ("things", "2", "6", "1"),
        ("all", "4", "12", "2"),
    ]
    arrays = {r["array"]: r for r in read_tsv(results / "pack" / "train_arrays.tsv")}
    assert arrays["views/rgba"]["shape"] == "4,3,40,40,4"
    assert arrays["views/rgba"]["chunks"] == "1,1,40,40,4" and arrays["views/rgba"]["shards"] == "2,3,40,40,4"
    assert int(arrays["voxels/32/solid"]["uncompressed_bytes"]) == 4 * 32**3
    # val and test have no shapes: their stores exist, empty, with the same index arrays.
    for split in ("val", "test"):
        empty = zarr.open_group(str(results / "pack" / f"{split}.zarr"), mode="r")
        assert dict(empty.attrs)["pack"]["shapes"] == 0 and empty["index/shape_id"].shape == (0,)


def _stores(run, category, shape_id):
    results = run / "results"
    render = next((results / "render" / category).glob(f"*/{shape_id}.zarr"))
    return (
        open_store(render),
        open_store(results / "sdf" / "shapes" / category / f"{shape_id}.zarr"),
        open_store(results / "voxelize" / "shapes" / category / f"{shape_id}.zarr"),
    )


def test_packed_arrays_equal_the_per_shape_stores(run):
    root = zarr.open_group(str(run / "results" / "pack" / "train.zarr"), mode="r")
    config = resolve_config({"seed": 0, **CONFIG})
    for i, (category, shape_id) in enumerate(_shapes(run)):
        render, sdf, vox = _stores(run, category, shape_id)
        for name in ("rgba", "mask", "depth", "normal", "albedo"):
            np.testing.assert_array_equal(root[f"views/{name}"][i], render[f"views/{name}"][...])
        np.testing.assert_array_equal(root["cameras/Rt"][i], render["cameras/Rt"][...])
        # Point sets: the same (point, value) pairs, in a seeded random order.
        points, values = sdf["samples/gaussian/points"][...], sdf["samples/gaussian/sdf"][...]
        packed_points, packed_values = root["sdf/gaussian/points"][i], root["sdf/gaussian/sdf"][i]
        order = np.lexsort(points.T)
        packed_order = np.lexsort(packed_points.T)
        np.testing.assert_array_equal(packed_points[packed_order], points[order])
        np.testing.assert_array_equal(packed_values[packed_order], values[order])
        assert not np.array_equal(packed_points, points)
        bits = sdf["samples/occupancy/occupied"]
        occupied = np.unpackbits(bits[...], count=bits.attrs["count"], bitorder="big").astype(bool)
        occ_points = sdf["samples/occupancy/points"][...]
        assert root["occupancy/occupied"][i].sum() == occupied.sum()
        inside = {p.tobytes() for p in occ_points[occupied]}
        assert {p.tobytes() for p in root["occupancy/points"][i][root["occupancy/occupied"][i]]} == inside
        for n in config["voxelize"]["resolutions"]:
            np.testing.assert_array_equal(root[f"voxels/{n}/solid"][i], vox[f"voxels/{n}/solid"][...])
        for name in ("spherical/partial", "spherical/view_full", "spherical/view_partial", "views/voxels"):
            np.testing.assert_array_equal(root[name][i], vox[name][...], err_msg=name)
        for level in range(config["voxelize"]["octree"]["depth"] + 1):
            name = f"octree/level_{level}/keys"
            lo, hi = root[f"{name}_offsets"][i : i + 2]
            np.testing.assert_array_equal(root[name][lo:hi], vox[name][...])
        lo, hi = root["mesh/faces_offsets"][i : i + 2]
        np.testing.assert_array_equal(root["mesh/faces"][lo:hi], sdf["mesh/faces"][...])


def test_viewer_centred_data_in_the_view_frame(run):
    """``voxelize.view_aligned.enabled``: per view, voxels and spherical maps in the view frame
    (s = 0.5 under unit_sphere), packed with the frame on each array."""
    from recon.geometry.view_frame import CAMERA_TO_VIEW, world_to_view
    from recon.geometry.voxels import VoxelSpec, view_aligned_voxels
    from recon.voxelize.spherical import partial_spherical_map, sphere_grid, spherical_map

    root = zarr.open_group(str(run / "results" / "pack" / "train.zarr"), mode="r")
    frame = {"scale": 0.5, "camera_to_view": CAMERA_TO_VIEW.tolist(), "half_extent": 0.5}
    for name in ("views/voxels", "spherical/view_full", "spherical/view_partial"):
        assert {k: v for k, v in root[name].attrs["view_frame"].items() if k != "map"} == frame
    u = sphere_grid(32)[0]
    for i, (category, shape_id) in enumerate(_shapes(run)):
        render, _, vox = _stores(run, category, shape_id)
        assert {k: v for k, v in dict(vox.attrs)["view_frame"].items() if k != "map"} == frame
        ingest = open_store(run / "results" / "ingest" / "shapes" / category / f"{shape_id}.zarr")
        vertices = ingest["mesh/vertices"][...].astype(np.float64)
        faces = ingest["mesh/faces"][...].astype(np.int64)
        rt = render["cameras/Rt"][...]
        m = world_to_view(rt, 0.5)
        full, partial = root["spherical/view_full"][i], root["spherical/view_partial"][i]
        voxels = root["views/voxels"][i]
        assert voxels.shape == (3, 16, 16, 16) and full.shape == partial.shape == (3, 32, 32)
        # Winding numbers everywhere give the same voxels as the stage's SDF-grid shortcut.
        np.testing.assert_array_equal(voxels, view_aligned_voxels(vertices, faces, m, 16))
        for v in range(3):
            np.testing.assert_array_equal(full[v], spherical_map(vertices @ m[v].T, faces, 32))
            depth, mask, k = render["views/depth"][v], render["views/mask"][v], render["cameras/K"][v]
            np.testing.assert_array_equal(
                partial[v], partial_spherical_map(depth, mask, k, rt[v], 32, transform=m[v])
            )
            seen = partial[v] < 1.0
            # The camera sits on the frame's -x axis, so the seen surface faces -x; a sphere's seen
            # cap is centred on it.
            mean = np.mean(u[seen], axis=0)
            assert seen.sum() > 50 and mean[0] < -0.25, (shape_id, v, mean)
            if shape_id == "ico":
                assert mean[0] < -0.6 and np.all(np.abs(mean[1:]) < 0.02), (v, mean)
            if shape_id == "ring":
                continue
            # Convex shapes: the depth mesh's vertices lie on the surface and its triangles inside
            # the shape, so a ray meets them no earlier than the surface (below).
            assert np.all(partial[v][seen] >= full[v][seen] - PARTIAL_TOL), (shape_id, v)
        if shape_id == "ico":  # a sphere of radius 1 in the world: radius 0.5 in the view frame
            edge = np.linalg.norm(vertices[faces[:, 0]] - vertices[faces[:, 1]], axis=1).max()
            deficit = 0.5 * (1.0 - np.sqrt(1.0 - edge**2 / 3.0))  # facets inside the sphere (view units)
            assert full.min() >= 0.5 - 1e-6 and full.max() <= 0.5 + deficit + 1e-6
            centres = VoxelSpec(16, 0.5).centres()
            radius = np.linalg.norm(centres, axis=1).reshape(16, 16, 16)
            # Filled voxels: every centre inside, and no voxel whose cube stays outside the ball.
            nearest = np.linalg.norm(np.maximum(np.abs(centres) - 0.5 / 16, 0.0), axis=1).reshape(16, 16, 16)
            assert np.all(voxels[:, radius < 0.5 - deficit]) and not np.any(voxels[:, nearest > 0.5])
            assert np.any(voxels[:, radius > 0.5])  # the surface voxels beyond the centres inside


def test_direct_chunk_reads_equal_zarr(run):
    path = run / "results" / "pack" / "train.zarr"
    root = zarr.open_group(str(path), mode="r")
    meta = array_metadata(path)
    rng = np.random.default_rng(0)
    views = ShardedArray(path, "views/depth", meta["views/depth"])
    for i, v in rng.integers(0, [4, 3], size=(6, 2)):
        np.testing.assert_array_equal(views.read((i, v)), root["views/depth"][i, v])
    points = ShardedArray(path, "sdf/gaussian/points", meta["sdf/gaussian/points"])
    count = points.shape[1]
    for i, start, size in [(0, 0, 500), (1, 499, 2), (3, count - 700, 700), (2, 130, 1200)]:
        np.testing.assert_array_equal(
            points.read((i,), start, start + size), root["sdf/gaussian/points"][i, start : start + size]
        )
    keys = ShardedArray(path, "octree/level_4/keys", meta["octree/level_4/keys"])
    n = keys.shape[0]
    np.testing.assert_array_equal(keys.read((), 3, n - 2), root["octree/level_4/keys"][3 : n - 2])
    with pytest.raises(ValueError, match="not chunked one element"):
        points.read((0, 5))


def test_loader_reads_every_item_without_the_per_shape_stores(run, tmp_path):
    from recon.io.loader import PackedDataset, collate, to_float_image

    moved = tmp_path / "elsewhere" / "train.zarr"
    shutil.copytree(run / "results" / "pack" / "train.zarr", moved)
    reference = zarr.open_group(str(moved), mode="r")
    hidden = run.parent / "hidden"
    shutil.move(run / "results", hidden)  # no per-shape store is reachable any more
    try:
        targets = ("image", "camera", "depth", "sdf", "occupancy", "surface", "voxels", "spherical", "octree")
        targets += ("view_voxels", "view_spherical", "view_frame")
        data = PackedDataset(moved, targets, n_points=300, voxel_resolution=32, seed=0)
        assert len(data) == 12
        loader = torch.utils.data.DataLoader(data, batch_size=5, num_workers=2, collate_fn=collate)
        batches = list(loader)
        assert sum(len(b["index"]) for b in batches) == 12
        batch = batches[0]
        assert batch["image"].shape == (5, 40, 40, 4) and batch["image"].dtype == torch.uint8
        assert batch["sdf_points"].shape == (5, 300, 3) and batch["occ"].dtype == torch.bool
        assert batch["voxels"].shape == (5, 32, 32, 32) and len(batch["octree"]) == 5
        assert batch["view_voxels"].shape == (5, 16, 16, 16) and batch["view_voxels"].dtype == torch.bool
        assert batch["view_spherical"].shape == batch["view_spherical_partial"].shape == (5, 32, 32)
        assert batch["view_spherical"].dtype == batch["view_spherical_partial"].dtype == torch.float32
        assert batch["view_scale"].dtype == torch.float32 and batch["view_scale"].tolist() == [0.5] * 5
        image = to_float_image(batch["image"])
        assert image.shape == (5, 3, 40, 40) and float(image.min()) >= 0 and float(image.max()) <= 1
        for b in batches:
            for j, index in enumerate(b["index"].tolist()):
                shape, view = divmod(index, 3)
                assert b["view"][j] == view and b["shape_index"][j] == shape
                np.testing.assert_array_equal(b["image"][j].numpy(), reference["views/rgba"][shape, view])
                np.testing.assert_array_equal(
                    b["K"][j].numpy(), reference["cameras/K"][shape, view].astype(np.float32)
                )
                np.testing.assert_array_equal(
                    b["voxels"][j].numpy(),
                    reference["voxels/32/solid"][shape] | reference["voxels/32/surface"][shape],
                )
                for key, name in (
                    ("view_voxels", "views/voxels"),
                    ("view_spherical", "spherical/view_full"),
                    ("view_spherical_partial", "spherical/view_partial"),
                ):
                    np.testing.assert_array_equal(b[key][j].numpy(), reference[name][shape, view])
                # The subset is a window of the packed points, with their own values.
                all_points = reference["sdf/gaussian/points"][shape]
                start = np.flatnonzero(np.all(all_points == b["sdf_points"][j].numpy()[0], axis=1))[0]
                np.testing.assert_array_equal(b["sdf_points"][j].numpy(), all_points[start : start + 300])
                np.testing.assert_array_equal(
                    b["sdf"][j].numpy(), reference["sdf/gaussian/sdf"][shape, start : start + 300]
                )
                np.testing.assert_array_equal(
                    b["octree"][j][4]["state"].numpy(),
                    reference["octree/level_4/state"][
                        slice(*reference["octree/level_4/state_offsets"][shape : shape + 2])
                    ],
                )
        # Seeded: the same item twice is identical; another epoch draws another subset.
        a, b = data[7], data[7]
        np.testing.assert_array_equal(a["sdf_points"], b["sdf_points"])
        data.set_epoch(1)
        assert not np.array_equal(data[7]["sdf_points"], a["sdf_points"])
    finally:
        shutil.move(hidden, run / "results")


def test_pack_refuses_nan_and_missing_shapes(run, tmp_path):
    results = run / "results"
    shapes = []
    for category, shape_id in _shapes(run):
        render = next((results / "render" / category).glob(f"*/{shape_id}.zarr"))
        copy = {}
        for stage, src in (
            ("render", render),
            ("sdf", results / "sdf" / "shapes" / category / f"{shape_id}.zarr"),
            ("voxelize", results / "voxelize" / "shapes" / category / f"{shape_id}.zarr"),
        ):
            copy[stage] = str(tmp_path / stage / category / f"{shape_id}.zarr")
            shutil.copytree(src, copy[stage])
        shapes.append(PackShape(category, category, shape_id, **copy))
    config = resolve_config({"seed": 0, **CONFIG})
    ledgers = (results / "ingest" / "ledger.tsv", results / "sdf" / "ledger.tsv")
    out = [tmp_path / "out.zarr", tmp_path / "out.tsv", tmp_path / "arrays.tsv"]
    with pytest.raises(ValueError, match=r"not packed nor quarantined \[\('things', 'ring'\)\]"):
        pack_split("train", shapes[:3], *ledgers, *out, config)
    depth = zarr.open_array(shapes[1].render + "/views/depth", mode="r+")
    broken = depth[...]
    broken[1, 5, 5] = np.nan
    depth[...] = broken
    with pytest.raises(ValueError, match="balls/ico: views/depth holds 1 NaN"):
        pack_split("train", shapes, *ledgers, *out, config)
    assert not out[0].exists()


def _pack_shapes(run, sdf_root=None):
    """The PackShape of every packed shape of the run (SDF stores from ``sdf_root`` if given)."""
    results = run / "results"
    sdf_root = sdf_root or results / "sdf" / "shapes"
    return [
        PackShape(
            category, category, shape_id,
            render=str(next((results / "render" / category).glob(f"*/{shape_id}.zarr"))),
            sdf=str(sdf_root / category / f"{shape_id}.zarr"),
            voxelize=str(results / "voxelize" / "shapes" / category / f"{shape_id}.zarr"),
        )
        for category, shape_id in _shapes(run)
    ]  # fmt: skip


def test_packed_grid_keeps_each_shapes_box(run, tmp_path):
    """Under sdf.grid.box = disn every shape's grid has its own box (per-axis lo/hi): the packed
    ``sdf/grid_box`` holds each one, and ``sdf/grid`` keeps only the attributes all shapes share."""
    results = run / "results"
    sdf_root = tmp_path / "sdf"
    shutil.copytree(results / "sdf" / "shapes", sdf_root)
    boxes = {}
    for i, (category, shape_id) in enumerate(_shapes(run)):
        grid = zarr.open_group(str(sdf_root / category / f"{shape_id}.zarr"), mode="r+")["grid/sdf"]
        lo = [-1.0 - 0.1 * i, -0.9, -0.8 + 0.05 * i]  # as the disn box writes them: one per axis
        grid.attrs.update({"lo": lo, "hi": [v + 2.0 for v in lo], "spacing": 2.0 / (grid.shape[0] - 1)})
        boxes[(category, shape_id)] = np.array([lo, [v + 2.0 for v in lo]], dtype=np.float32)
    config = resolve_config({"seed": 0, **CONFIG, "pack": {**CONFIG["pack"], "sdf_grid": True}})
    ledgers = (results / "ingest" / "ledger.tsv", results / "sdf" / "ledger.tsv")
    out = tmp_path / "grid.zarr"
    pack_split(
        "train", _pack_shapes(run, sdf_root), *ledgers, out, tmp_path / "s.tsv", tmp_path / "a.tsv", config
    )
    root = zarr.open_group(str(out), mode="r")
    assert root["sdf/grid_box"].shape == (len(boxes), 2, 3)
    for i, key in enumerate(_shapes(run)):
        np.testing.assert_array_equal(root["sdf/grid_box"][i], boxes[key])
        sdf = zarr.open_group(str(sdf_root / key[0] / f"{key[1]}.zarr"), mode="r")
        np.testing.assert_array_equal(root["sdf/grid"][i], sdf["grid/sdf"][...])
    attrs = dict(root["sdf/grid"].attrs)
    assert "lo" not in attrs and "hi" not in attrs  # shape-specific: left out
    assert attrs["spacing"] == 2.0 / (root["sdf/grid"].shape[1] - 1)  # the same for all: kept
    assert attrs["stage"] == "sdf" and attrs["resolution"] == root["sdf/grid"].shape[1]
    # The default packing (one box for all) keeps the box on the grid, and the same rows.
    same = resolve_config({"seed": 0, **CONFIG, "pack": {**CONFIG["pack"], "sdf_grid": True}})
    out = tmp_path / "fixed.zarr"
    pack_split("train", _pack_shapes(run), *ledgers, out, tmp_path / "s.tsv", tmp_path / "a.tsv", same)
    fixed = zarr.open_group(str(out), mode="r")
    lo, hi = fixed["sdf/grid"].attrs["lo"], fixed["sdf/grid"].attrs["hi"]
    np.testing.assert_array_equal(
        fixed["sdf/grid_box"][...], np.tile(np.float32([[lo] * 3, [hi] * 3]), (len(boxes), 1, 1))
    )


def test_ragged_arrays_stream_shard_by_shard(run, tmp_path, monkeypatch):
    """Mesh and octree rows are written a few shards at a time, not gathered in memory: with shards
    of 128 rows (so every shape spans several) the packed arrays equal the default packing's."""
    import recon.pack.stage as pack

    results = run / "results"
    shapes = _pack_shapes(run)
    config = resolve_config({"seed": 0, **CONFIG})
    ledgers = (results / "ingest" / "ledger.tsv", results / "sdf" / "ledger.tsv")
    monkeypatch.setattr(pack, "RAGGED_CHUNK", 64)
    monkeypatch.setattr(pack, "RAGGED_SHARD_CHUNKS", 2)
    out = tmp_path / "small_shards.zarr"
    pack_split("train", shapes, *ledgers, out, tmp_path / "s.tsv", tmp_path / "a.tsv", config)
    small = zarr.open_group(str(out), mode="r")
    default = zarr.open_group(str(results / "pack" / "train.zarr"), mode="r")
    faces = small["mesh/faces"]
    assert faces.shards == (128, 3) and faces.shape[0] > 4 * 128  # several shards per shape
    names = ["mesh/vertices", "mesh/faces"] + [f"octree/level_{k}/keys" for k in range(5)]
    for name in names:
        np.testing.assert_array_equal(small[name][...], default[name][...], err_msg=name)
        np.testing.assert_array_equal(small[f"{name}_offsets"][...], default[f"{name}_offsets"][...])


def test_fingerprint_of_the_packed_splits_and_one_changed_byte(run, tmp_path):
    """The pack target writes the fingerprint; one byte changed in one packed array changes the
    digest of the stage that array comes from, of its split and of the dataset, and no other."""
    from recon.pack.fingerprint import fingerprint_rows, store_fingerprint

    pack = run / "results" / "pack"
    table = read_tsv(pack / "fingerprint.tsv")
    stores = [pack / f"{split}.zarr" for split in ("train", "val", "test")]
    assert [{k: str(v) for k, v in r.items()} for r in fingerprint_rows(stores)] == table
    digests = {(r["split"], r["stage"]): r["sha256"] for r in table}
    assert set(digests) == {("train", s) for s in ("index", "render", "sdf", "voxelize", "all")} | {
        (split, s)
        for split in ("val", "test", "all")
        for s in ("index", "all")
        if (split, s) != ("all", "index")
    }
    stages = store_fingerprint(pack / "train.zarr")["stages"]
    assert {n for n in stages["render"]["arrays"] if not n.startswith(("views/", "cameras/"))} == set()
    assert (
        "views/voxels" not in stages["render"]["arrays"]
        and "spherical/partial" in stages["voxelize"]["arrays"]
    )
    assert {"mesh/faces", "mesh/faces_offsets", "occupancy/occupied"} <= set(stages["sdf"]["arrays"])

    changed = tmp_path / "train.zarr"
    shutil.copytree(pack / "train.zarr", changed)
    shard = changed / "sdf" / "gaussian" / "points" / "c" / "0" / "0" / "0"  # uncompressed float32
    data = bytearray(shard.read_bytes())
    data[5] ^= 0x01
    shard.write_bytes(bytes(data))
    after = {(r["split"], r["stage"]): r["sha256"] for r in fingerprint_rows([changed, *stores[1:]])}
    assert {k for k in digests if after[k] != digests[k]} == {
        ("train", "sdf"),
        ("train", "all"),
        ("all", "all"),
    }
