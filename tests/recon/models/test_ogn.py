"""OGN: the PyTorch octree against the pipeline's NumPy octree, the octree layers against dense 3D layers,
known and predicted propagation, and a small model that learns its train shapes."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from recon.models.method import get_method, method_config
from recon.models.ogn.convolution import neighbour_convolution, up_convolution
from recon.models.ogn.octree import (
    EMPTY,
    FULL,
    MIXED,
    BatchedOctree,
    cell_coordinates,
    children,
    children_neighbour_index,
    decode,
    encode,
    level_keys,
    lookup,
    neighbour_index,
    propagate,
)
from recon.voxelize.octree import (
    Octree,
    build_octree,
    morton_decode,
    morton_encode,
    node_centres,
    octree_to_dense,
)
from tests.recon.models.scoring import mean_shape_scores, score

SMALL = dict(get_method("ogn").small_config)


def _items(packed, indices=(0, 5, 13, 22)):
    """The loader's items (image, octree, 16³ filled voxels) of some (shape, view) pairs of the fixture."""
    from recon.io.loader import PackedDataset

    store = packed / "results" / "pack" / "train.zarr"
    dataset = PackedDataset(store, targets=("image", "octree", "voxels"), voxel_resolution=16)
    return [dataset[i] for i in indices]


def _batch(packed, indices=(0, 5, 13, 22)):
    from recon.io.loader import collate

    return collate(_items(packed, indices))


def _dense_states(voxels: np.ndarray, level: int) -> np.ndarray:
    """(B, 2^l, 2^l, 2^l) states of every cell of ``level`` from (B, n, n, n) bool voxels: the reference."""
    b, n = voxels.shape[:2]
    m, s = 1 << level, n >> level
    blocks = voxels.reshape(b, m, s, m, s, m, s)
    full, some = blocks.all(axis=(2, 4, 6)), blocks.any(axis=(2, 4, 6))
    return np.where(full, FULL, np.where(some, MIXED, EMPTY))


def test_keys_are_the_stores_morton_order_with_the_item_in_the_high_bits():
    rng = np.random.default_rng(0)
    xyz = rng.integers(0, 1 << 7, (5000, 3))
    keys = encode(torch.from_numpy(xyz), 7)
    assert np.array_equal(keys.numpy(), morton_encode(xyz).astype(np.int64))
    assert np.array_equal(decode(keys, 7).numpy(), morton_decode(morton_encode(xyz)))
    batch = torch.from_numpy(rng.integers(0, 9, 5000))
    batched = (batch << 21) | keys
    got_batch, got_xyz = cell_coordinates(batched, 7)
    assert torch.equal(got_batch, batch) and np.array_equal(got_xyz.numpy(), xyz)
    # Children are (K << 3) | c, offset (c >> 2 & 1, c >> 1 & 1, c & 1); K >> 3 is the parent, item kept.
    kids = children(batched)
    _, kid_xyz = cell_coordinates(kids, 8)
    digits = np.array([[(c >> 2) & 1, (c >> 1) & 1, c & 1] for c in range(8)])
    assert np.array_equal(kid_xyz.numpy().reshape(-1, 8, 3), 2 * xyz[:, None] + digits)
    assert torch.equal(kids >> 3, batched.repeat_interleave(8)) and torch.equal(
        (kids >> 24), batch.repeat_interleave(8)
    )
    sorted_keys = torch.sort(torch.unique(batched)).values
    assert torch.equal(children(sorted_keys), torch.sort(children(sorted_keys)).values)
    assert torch.equal(lookup(sorted_keys[::3], sorted_keys), torch.arange(0, len(sorted_keys), 3))
    assert lookup(torch.tensor([-5, 1 << 40]), sorted_keys).tolist() == [-1, -1]


@pytest.mark.workflow
def test_batched_octree_round_trips_to_the_store_and_to_voxels(packed):
    """Stored octrees -> batched tensors -> stored format, exactly (keys, states, child pointers, dtypes);
    the batched octree paints the same voxels as recon.voxelize.octree and the packed 16³ voxels, and
    recon.voxelize.octree.build_octree of those voxels is the stored octree."""
    batch = _batch(packed)
    octree = BatchedOctree.stack(batch["octree"])
    assert octree.depth == 4 and octree.batch_size == 4
    for level in range(5):
        assert torch.equal(octree.keys[level], torch.sort(octree.keys[level]).values)  # sorted across items
    for stored, back in zip(batch["octree"], octree.unstack(), strict=True):
        for level_in, level_out in zip(stored, back, strict=True):
            for name in ("keys", "state", "child"):
                assert level_out[name].dtype == level_in[name].dtype, name
                assert torch.equal(level_out[name], level_in[name]), name
    voxels = octree.voxels()
    assert voxels.dtype == torch.bool and torch.equal(voxels, batch["voxels"])
    for stored, grid in zip(batch["octree"], batch["voxels"].numpy(), strict=True):
        reference = Octree(
            depth=4,
            keys=[lv["keys"].numpy().astype(np.uint32) for lv in stored],
            state=[lv["state"].numpy() for lv in stored],
            child=[lv["child"].numpy() for lv in stored],
        )
        assert np.array_equal(octree_to_dense(reference), grid)
        rebuilt = build_octree(grid, 4)
        for level in range(5):
            assert np.array_equal(rebuilt.keys[level], stored[level]["keys"].numpy())
            assert np.array_equal(rebuilt.state[level], stored[level]["state"].numpy())
            assert np.array_equal(rebuilt.child[level], stored[level]["child"].numpy())
            # The cells' coordinates are the store's frame: node_centres over [-h, h]^3.
            _, xyz = cell_coordinates(torch.from_numpy(stored[level]["keys"].numpy()), level)
            centres = -1.0 + (xyz.numpy() + 0.5) * (2.0 / (1 << level))
            np.testing.assert_allclose(centres, node_centres(reference, level), rtol=0, atol=1e-12)


@pytest.mark.workflow
def test_ground_truth_state_of_any_cell_is_its_own_or_its_leaf_ancestors(packed):
    """``states`` of every cell of every level equals the state pooled from the 16³ voxels: cells the
    octree holds take theirs, cells below an empty or full leaf take the leaf's (OGN's use_voxel_grid)."""
    batch = _batch(packed)
    octree = BatchedOctree.stack(batch["octree"])
    voxels = batch["voxels"].numpy()
    below_a_leaf = 0
    for level in range(5):
        keys = level_keys(4, level)
        got = octree.states(keys, level).numpy()
        b, xyz = cell_coordinates(keys, level)
        expected = _dense_states(voxels, level)[b.numpy(), *xyz.numpy().T]
        assert np.array_equal(got, expected), level
        below_a_leaf += int((lookup(keys, octree.keys[level]) < 0).sum())
    assert below_a_leaf > 1000  # the fallback is exercised


def test_up_convolution_is_conv_transpose3d_at_the_children_of_the_cells():
    """Float64: the up-convolution of sparse cells equals ConvTranspose3d(2, stride 2) of the dense grid
    holding those cells (zeros elsewhere), at their children; gradients too."""
    torch.manual_seed(0)
    layer = torch.nn.ConvTranspose3d(5, 4, 2, stride=2).double()
    keys = level_keys(2, 3)[torch.rand(2 * 512) < 0.3]
    features = torch.randn(len(keys), 5, dtype=torch.float64, requires_grad=True)
    batch, xyz = cell_coordinates(keys, 3)
    grid = torch.zeros(2, 8, 8, 8, 5, dtype=torch.float64)
    grid[batch, *xyz.T] = features
    grid = grid.permute(0, 4, 1, 2, 3)
    dense = layer(grid).permute(0, 2, 3, 4, 1)  # (2, 16, 16, 16, 4)
    kb, kxyz = cell_coordinates(children(keys), 4)
    sparse = up_convolution(features, layer)
    torch.testing.assert_close(sparse, dense[kb, *kxyz.T], rtol=1e-13, atol=1e-13)
    weights = torch.randn_like(sparse)
    grads = torch.autograd.grad((sparse * weights).sum(), [features, layer.weight, layer.bias])
    dense_weights = torch.zeros_like(dense)
    dense_weights[kb, *kxyz.T] = weights
    dense_grads = torch.autograd.grad((dense * dense_weights).sum(), [features, layer.weight, layer.bias])
    for a, b in zip(grads, dense_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_neighbour_convolution_is_conv3d_on_the_grid_with_absent_cells_zero():
    """Float64: a 3³ convolution of sparse cells (absent neighbours 0) equals Conv3d(3, padding 1) of the
    dense grid holding them, at those cells; the gradients of features, weight and bias too."""
    torch.manual_seed(1)
    layer = torch.nn.Conv3d(6, 3, 3, padding=1).double()
    keys = level_keys(3, 3)[torch.rand(3 * 512) < 0.25]
    features = torch.randn(len(keys), 6, dtype=torch.float64, requires_grad=True)
    neighbours = neighbour_index(keys, keys, 3, 1)
    assert neighbours.shape == (len(keys), 27) and bool((neighbours[:, 13] == torch.arange(len(keys))).all())
    sparse = neighbour_convolution(features, neighbours, layer)
    batch, xyz = cell_coordinates(keys, 3)
    grid = torch.zeros(3, 8, 8, 8, 6, dtype=torch.float64)
    grid[batch, *xyz.T] = features
    dense = layer(grid.permute(0, 4, 1, 2, 3)).permute(0, 2, 3, 4, 1)
    torch.testing.assert_close(sparse, dense[batch, *xyz.T], rtol=1e-13, atol=1e-13)
    weights = torch.randn_like(sparse)
    grads = torch.autograd.grad((sparse * weights).sum(), [features, layer.weight, layer.bias])
    dense_weights = torch.zeros_like(dense)
    dense_weights[batch, *xyz.T] = weights
    dense_grads = torch.autograd.grad((dense * dense_weights).sum(), [features, layer.weight, layer.bias])
    for a, b in zip(grads, dense_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    # The children's neighbours come from the parents' without a search; the same as searching.
    kids = children(keys)
    assert torch.equal(children_neighbour_index(neighbours), neighbour_index(kids, kids, 4, 1))


@pytest.mark.workflow
def test_propagation_keeps_mixed_cells_and_the_neighbours_the_next_convolutions_read(packed):
    """On a stored octree: the mixed cells' children are the next level exactly; with radius 1 the
    propagated cells are the mixed ones plus every present cell of the same item within one cell."""
    octree = BatchedOctree.stack(_batch(packed)["octree"])
    for level in range(4):
        keys, state = octree.keys[level], octree.state[level]
        supervised = torch.ones_like(keys, dtype=torch.bool)
        index, refined = propagate(keys, level, supervised, state, 0)
        assert bool(refined.all()) and torch.equal(children(keys[index]), octree.keys[level + 1])
        index, refined = propagate(keys, level, supervised, state, 1)
        batch, xyz = cell_coordinates(keys, level)
        mixed = state == MIXED
        near = (xyz[:, None] - xyz[mixed][None]).abs().amax(-1) <= 1
        near &= batch[:, None] == batch[mixed][None]
        assert torch.equal(index, near.any(1).nonzero().squeeze(1)), level
        assert torch.equal(refined, mixed[index])


def _net(config: dict):
    method = get_method("ogn")
    torch.manual_seed(0)
    return method.build(method_config("ogn", config)).double().eval()


@pytest.mark.workflow
def test_a_known_block_with_its_neighbours_reproduces_the_dense_decoder_on_the_mixed_cells_children(packed):
    """Float64, ground-truth structure: the first octree level's scores at the children of the mixed
    cells equal those of the same layers run densely (ConvTranspose3d, Conv3d, 1³ Conv3d) on the whole
    dense level. Without the propagated neighbours the 3³ convolution misses some of its inputs."""
    octree = BatchedOctree.stack(_batch(packed)["octree"])
    code = torch.randn(4, 512, dtype=torch.float64)
    for neighbours in (True, False):
        net = _net({**SMALL, "neighbours": neighbours})
        with torch.no_grad():
            outputs = net.decode(code, octree, "known")
            grid, _ = net.dense(code)
            block = net.blocks[0]
            x = F.leaky_relu(block.up(grid), 0.2)
            x = F.leaky_relu(block.convs[0](x), 0.2)
            dense = block.classifier(x).permute(0, 2, 3, 4, 1)
        first = outputs[1]
        batch, xyz = cell_coordinates(first.keys[first.supervised], first.level)
        error = (first.logits[first.supervised] - dense[batch, *xyz.T]).abs().max()
        if neighbours:
            assert float(error) < 1e-12
        else:
            assert float(error) > 1e-3


@pytest.mark.workflow
def test_known_mode_follows_the_ground_truth_structure(packed):
    """Each level's supervised cells are exactly the stored octree's nodes of that level, with the stored
    states as targets; the other cells are neighbours of their parents' mixed neighbours."""
    from recon.models.ogn.loss import level_targets

    octree = BatchedOctree.stack(_batch(packed)["octree"])
    net = _net(SMALL)
    with torch.no_grad():
        outputs = net.decode(torch.randn(4, 512, dtype=torch.float64), octree, "known")
    assert [o.level for o in outputs] == [2, 3, 4]
    assert torch.equal(outputs[0].keys, level_keys(4, 2)) and bool(outputs[0].supervised.all())
    for output in outputs:
        level = output.level
        in_tree = lookup(output.keys, octree.keys[level])
        if level > 2:
            assert torch.equal(output.keys[output.supervised], octree.keys[level])
            assert torch.equal(level_targets(output, octree), octree.state[level])
            extra = output.keys[~output.supervised] >> 3  # their parents: within one cell of a mixed one
            mixed = octree.keys[level - 1][octree.state[level - 1] == MIXED]
            assert bool((neighbour_index(extra, mixed, level - 1, 1) >= 0).any(1).all())
            assert int((~output.supervised).sum()) > 0 and bool((in_tree[output.supervised] >= 0).all())


@pytest.mark.workflow
def test_pred_mode_follows_the_predicted_structure(packed):
    """Each level's supervised cells are the children of the cells the level above scored mixed, whatever
    the ground truth; their targets are the ground truth's state of each cell, which for cells below a
    ground-truth leaf is the leaf's (checked against the states pooled from the voxels)."""
    from recon.models.ogn.loss import level_targets

    batch = _batch(packed)
    octree = BatchedOctree.stack(batch["octree"])
    net = _net(SMALL)
    code = torch.randn(4, 512, dtype=torch.float64)
    with torch.no_grad():  # shift each level's mixed score so that about 40 % of its cells are scored mixed
        for i, classifier in enumerate([net.dense.classifier, *(block.classifier for block in net.blocks)]):
            level = net.decode(code, octree, "pred")[i]
            scores = level.logits[level.supervised]
            classifier.bias[MIXED] += (scores[:, :MIXED].amax(1) - scores[:, MIXED]).quantile(0.6)
        outputs = net.decode(code, octree, "pred")
    outside = 0
    for above, output in itertools.pairwise(outputs):
        predicted_mixed = above.supervised & (above.logits.argmax(1) == MIXED)
        assert torch.equal(output.keys[output.supervised], children(above.keys[predicted_mixed]))
        targets = level_targets(output, octree).numpy()
        b, xyz = cell_coordinates(output.keys[output.supervised], output.level)
        expected = _dense_states(batch["voxels"].numpy(), output.level)[b.numpy(), *xyz.numpy().T]
        assert np.array_equal(targets, expected)
        outside += int((lookup(output.keys[output.supervised], octree.keys[output.level]) < 0).sum())
    assert outside > 0 and int(outputs[-1].supervised.sum()) > 0


@pytest.mark.workflow
def test_config_checks_the_levels_and_the_loss_the_packed_depth(packed):
    from recon.config import ConfigError
    from recon.io.loader import collate

    with pytest.raises(ConfigError, match="one width per level"):
        method_config("ogn", {"depth": 5})
    with pytest.raises(ConfigError, match="dense_level"):
        method_config("ogn", {"dense_level": 7})
    method = get_method("ogn")
    config = method_config("ogn", {**SMALL, "depth": 5, "channels": [32, 16, 8, 8]})
    items = _items(packed, (0, 1))
    for item in items:
        item.pop("voxels")
    with pytest.raises(ValueError, match="depth 4"):
        method.loss(method.build(config), collate(items), config)


#: Steps to overfit the 6 train shapes (4 views each) with the small config, batch 8, cosine from 2e-3.
OVERFIT_STEPS = 150


@pytest.mark.workflow
def test_ogn_overfits_its_train_shapes_past_the_mean_shape(packed, tmp_path):
    """Trained on the ground truth's structure, predicted on its own, the small config (16³ output) beats
    the category mean shape on its 6 train shapes under the r2n2 protocol (the mesh voxelized at 32³)
    and in onet Chamfer-L1. The 16³ ground-truth voxels' own mesh bounds what a 16³ output can score.

    Measured (2026-12-07, 2 cores; the same in two runs): r2n2 IoU from view 0 0.636 (the category mean
    shape 0.580, the 16³ ground-truth voxels 0.652), onet IoU 0.690 (mean shape 0.479), onet Chamfer-L1
    0.036 (0.082). About 1 minute of training; the whole file took 99 s."""
    from recon.geometry.extract import voxel_mesh
    from recon.io.loader import PackedDataset, collate
    from recon.io.packed import PackedSplit
    from recon.io.predictions import Prediction
    from recon.models.method import PredictContext
    from recon.train import train

    store = packed / "results" / "pack" / "train.zarr"
    split = PackedSplit(store)
    settings = {"steps": OVERFIT_STEPS, "batch_size": 8, "lr": 2e-3, "schedule": "cosine", "val_every": 0,
                "num_workers": 0}  # fmt: skip
    train("ogn", SMALL, settings, store, None, tmp_path / "ogn", progress=False)
    method, config = get_method("ogn"), method_config("ogn", SMALL)
    model = method.build(config)
    model.load_state_dict(
        torch.load(tmp_path / "ogn" / "checkpoints" / "last.pt", weights_only=True)["model"]
    )
    model.eval()
    dataset = PackedDataset(store, targets=("image", "voxels"), seed=0, views=[0], voxel_resolution=16)
    rows, bound = [], []
    for i in range(len(dataset)):
        batch = collate([dataset[i]])
        shape = int(batch["shape_index"][0])
        ((vertices, faces),) = method.predict_mesh(model, batch, config, PredictContext.of(split))
        r2n2, onet = (score(Prediction(vertices, faces), split, shape, p) for p in ("r2n2", "onet"))
        rows.append((r2n2["iou"], onet["iou"], onet["chamfer_l1"]))
        exact = Prediction(*voxel_mesh(batch["voxels"][0].numpy(), split.voxel_half_extent))
        bound.append(score(exact, split, shape, "r2n2")["iou"])
    ours = np.mean(rows, axis=0)
    baseline = mean_shape_scores(split, ["r2n2", "onet"])
    pairs = zip(baseline["r2n2"], baseline["onet"], strict=True)
    mean = np.mean([(r["iou"], o["iou"], o["chamfer_l1"]) for r, o in pairs], axis=0)
    print(f"ogn (r2n2 IoU, onet IoU, Chamfer-L1): {ours.round(3)}, mean shape {mean.round(3)}")
    print(f"r2n2 IoU of the 16³ ground-truth voxels: {np.mean(bound):.3f}")
    assert ours[0] > mean[0] + 0.03 and ours[1] > mean[1] + 0.1
    assert ours[2] < 0.75 * mean[2]
