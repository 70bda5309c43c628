"""DISN's prediction grids: a fixed cube, or each shape's own box as the released test script grids it.

The released ``test/create_sdf.py`` evaluates the network on ``--sdf_res + 1`` (65) nodes per axis
between ``sdf_params[:3]`` and ``sdf_params[3:]``, read from the test shape's ``ori_sample.h5``: the
box of its ground-truth SDF grid, Vega's ``computeDistanceField ... -e 1.2`` box around the
normalized mesh (its bounding box made a cube of the longest side about its centre, scaled by
1.2). That box comes from the ground truth, which a single image does not give (``demo/demo.py``
uses ``[-1, 1]³`` for its one image), so recon grids a fixed cube by default (``grid_box: fixed``)
and offers the released box as ``grid_box: ground_truth``, from the bounding box of the packed
ground-truth mesh (the SDF stage's iso mesh at 0.003, so the box is at most 1.2 · 0.003 larger per
side than Vega's around the mesh itself).
"""

from __future__ import annotations

import numpy as np
import torch

from recon.geometry.grid import GridSpec

__all__ = ["GroundTruthBoxes", "disn_box", "prediction_grids"]


def disn_box(lo: np.ndarray, hi: np.ndarray, expand: float = 1.2) -> np.ndarray:
    """DISN's (Vega's) box around a bounding box: a cube of its longest side about its centre, x ``expand``.

    Args:
        lo, hi: (3,) corners of the bounding box.
        expand: Vega's ``-e`` factor.

    Returns:
        (2, 3) float64 ``[lo, hi]`` of the cube.
    """
    lo, hi = np.asarray(lo, np.float64), np.asarray(hi, np.float64)
    centre, half = 0.5 * (lo + hi), 0.5 * expand * float(np.max(hi - lo))
    return np.stack([centre - half, centre + half])


class GroundTruthBoxes:
    """A prediction dataset whose items also carry ``grid_box``: (2, 3) float64, DISN's box of the shape.

    Args:
        dataset: the items (each with ``shape_index``).
        store: the packed split they come from, whose ``mesh/*`` give each shape's ground-truth mesh.
    """

    def __init__(self, dataset, store):
        from recon.io.packed import PackedSplit

        self.dataset = dataset
        self.split = PackedSplit(store)
        self._boxes: dict[int, torch.Tensor] = {}

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict:
        item = self.dataset[index]
        shape = int(item["shape_index"])
        if shape not in self._boxes:
            vertices, _ = self.split.mesh(shape)
            self._boxes[shape] = torch.from_numpy(disn_box(vertices.min(0), vertices.max(0)))
        return {**item, "grid_box": self._boxes[shape]}


def prediction_grids(batch: dict, config) -> list[GridSpec]:
    """The grid of every item of a batch: ``config.grid_resolution`` nodes per axis over
    ``[-grid_half_extent, grid_half_extent]³`` (``grid_box: fixed``) or the item's ``grid_box``."""
    n, r = len(batch["image"]), config.grid_resolution
    if config.grid_box == "fixed":
        return [GridSpec.cube(config.grid_half_extent, r)] * n
    if "grid_box" not in batch:
        raise ValueError("disn: grid_box 'ground_truth' needs the items' boxes (DISN.predict_dataset)")
    boxes = batch["grid_box"].double().cpu().numpy()
    return [GridSpec(r, tuple(box[0]), tuple(box[1])) for box in boxes]
