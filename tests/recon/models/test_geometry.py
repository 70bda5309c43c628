"""Camera geometry of the models against the renders: projection, feature sampling, 6D rotations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recon.io.loader import PackedDataset, collate
from recon.models.geometry import (
    matrix_to_rotation_6d,
    project_points,
    rotation_6d_to_matrix,
    sample_feature_maps,
)

pytestmark = pytest.mark.workflow


def _backproject(depth, K, Rt, pixels):
    """World points of pixels (P, 2) = (u, v) from the rendered depth (z in the camera frame)."""
    z = depth[pixels[:, 1], pixels[:, 0]]
    homogeneous = np.concatenate([pixels, np.ones((len(pixels), 1))], 1)
    cam = (np.linalg.inv(K) @ homogeneous.T).T * z[:, None]
    R, t = Rt[:, :3], Rt[:, 3]
    return (cam - t) @ R  # R^T (x - t)


def test_a_surface_point_projects_onto_the_pixel_whose_depth_shows_it(packed):
    import trimesh

    store = packed / "results" / "pack" / "train.zarr"
    ds = PackedDataset(store, targets=("image", "camera", "depth"), seed=0)
    batch = collate([ds[i] for i in range(len(ds))])
    meshes = {}
    from recon.io.packed import PackedSplit

    split = PackedSplit(store)
    for b in range(len(ds)):
        depth, mask = batch["depth"][b].numpy(), batch["mask"][b].numpy()
        K, Rt = batch["K"][b].numpy().astype(np.float64), batch["Rt"][b].numpy().astype(np.float64)
        v, u = np.nonzero(mask)
        pixels = np.stack([u, v], 1).astype(np.float64)
        world = _backproject(depth, K, Rt, pixels.astype(int))
        # The back-projected points lie on the shape (its iso mesh, from a 40^3 grid: ~0.03).
        s = int(batch["shape_index"][b])
        if s not in meshes:
            meshes[s] = trimesh.Trimesh(*split.mesh(s), process=False)
        _, distance, _ = trimesh.proximity.closest_point(meshes[s], world[::7])
        assert np.percentile(distance, 95) < 0.04
        # ...and project back onto their pixels at their depth.
        uv, z = project_points(
            torch.from_numpy(world)[None], torch.from_numpy(K)[None], torch.from_numpy(Rt)[None]
        )
        np.testing.assert_allclose(uv[0].numpy(), pixels, atol=1e-4)  # float32 cameras
        np.testing.assert_allclose(z[0].numpy(), depth[v, u], rtol=1e-5)
        # Bilinear sampling at those pixels reads the depth map's own values, at any map stride.
        d = torch.from_numpy(depth)[None, None]
        half = torch.nn.functional.avg_pool2d(d, 2)
        sampled = sample_feature_maps([d, half], uv, *depth.shape)[0]
        np.testing.assert_allclose(sampled[:, 0].numpy(), depth[v, u], rtol=1e-5)


def test_6d_rotations_round_trip_and_are_rotations():
    torch.manual_seed(0)
    R = rotation_6d_to_matrix(torch.randn(100, 6, dtype=torch.float64))
    eye = torch.eye(3, dtype=torch.float64).expand(100, 3, 3)
    torch.testing.assert_close(R @ R.transpose(1, 2), eye)
    torch.testing.assert_close(torch.linalg.det(R), torch.ones(100, dtype=torch.float64))
    torch.testing.assert_close(rotation_6d_to_matrix(matrix_to_rotation_6d(R)), R)
