"""PyTorch dataset over a packed split store: one rendered view and the targets a model asks for.

An item is one (shape, view) pair of ``results/pack/<split>.zarr`` (``docs/data_format.md`` §5.5):
item ``i`` is view ``i % V`` of shape ``i // V``. A model family names the targets it trains on
(:data:`TARGETS`); each item is a dict of tensors:

==================  ==========================  ==========================================
target              keys                        shapes, dtypes
==================  ==========================  ==========================================
(always)            ``index``, ``shape_index``,  () int64
                    ``view``, ``category_index``
``image``           ``image``                   (H, W, 4) uint8 RGBA, straight alpha
                                                (:func:`to_float_image` on the batch)
``camera``          ``K``, ``Rt``               (3, 3), (3, 4) float32, OpenCV, world frame
``depth``           ``depth``, ``mask``         (H, W) float32 (0 off the shape), (H, W) bool
``normal``          ``normal``                  (H, W, 3) float16, world frame
``sdf``             ``sdf_points``, ``sdf``     (N, 3) float32, (N,) float32 (negative inside)
``occupancy``       ``occ_points``, ``occ``     (N, 3) float32, (N,) bool
``surface``         ``surface_points``,         (N, 3) float32, (N, 3) float32
                    ``surface_normals``
``voxels``          ``voxels``                  (n, n, n) bool: solid | surface voxels
``spherical``       ``spherical``,              (R, R) float32 full map, (R, R) float32
                    ``spherical_partial``       partial map of this view
``view_voxels``     ``view_voxels``             (n, n, n) bool: solid voxels in this view's frame
                                                (GenRe's view-aligned voxels; §5.4)
``view_spherical``  ``view_spherical``,         (R, R) float32 full map, (R, R) float32 partial
                    ``view_spherical_partial``  map, both in this view's frame (§5.4)
``view_frame``      ``view_scale``              () float32: the frame's scale s, so that
                                                ``M = s P R`` (``recon.geometry.view_frame``)
``octree``          ``octree``                  list per level of dicts ``keys`` (M,) int64,
                                                ``state`` (M,) uint8, ``child`` (M,) int32
==================  ==========================  ==========================================

``N`` points are a fixed-size random subset: a window at a random start of the shape's points,
which the pack stored in a seeded random order, so every window is a uniform random subset and
costs one or two chunk reads. The start is ``window_start(seed, epoch, index, k) % (count - N + 1)``
(k numbers the point targets; SplitMix64 hashing, ~1 µs instead of ~80 µs for a seeded NumPy
generator), so an item is the same in every worker and every run;
:meth:`PackedDataset.set_epoch` draws new subsets per epoch. Reads go through
:class:`recon.io.chunks.ShardedArray`, which reopens its files in each worker process.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from recon.io.chunks import ShardedArray, array_metadata

__all__ = ["TARGETS", "PackedDataset", "collate", "to_float_image", "window_start"]

#: Targets a model family can ask for, with the packed arrays each one reads.
TARGETS = {
    "image": ("views/rgba",),
    "camera": ("cameras/K", "cameras/Rt"),
    "depth": ("views/depth", "views/mask"),
    "normal": ("views/normal",),
    "sdf": ("sdf/{samples}/points", "sdf/{samples}/sdf"),
    "occupancy": ("occupancy/points", "occupancy/occupied"),
    "surface": ("surface/points", "surface/normals"),
    "voxels": ("voxels/{voxel_resolution}/solid", "voxels/{voxel_resolution}/surface"),
    "spherical": ("spherical/full", "spherical/partial"),
    "view_voxels": ("views/voxels",),
    "view_spherical": ("spherical/view_full", "spherical/view_partial"),
    "view_frame": ("spherical/view_full",),  # its ``view_frame`` attribute; no data is read
    "octree": ("octree/level_0/keys",),
}


class PackedDataset:
    """Items of a packed split store (a ``torch.utils.data.Dataset``: ``len`` and ``[i]``).

    Args:
        store: ``results/pack/<split>.zarr``.
        targets: names from :data:`TARGETS`.
        n_points: size of every point subset (``sdf``, ``occupancy``, ``surface``); DISN uses 2,048.
        samples: ``gaussian`` (DeepSDF-style samples) or ``disn`` (DISN's band-stratified nodes).
        voxel_resolution: resolution of the ``voxels`` target (one of the packed resolutions).
        seed: the project seed (subsets derive from it).
        views: view indices to serve (default all); e.g. ``[0]`` for one fixed view per shape.
    """

    def __init__(
        self,
        store: Path | str,
        targets: Sequence[str] = ("image", "camera", "sdf"),
        n_points: int = 2048,
        samples: str = "gaussian",
        voxel_resolution: int = 32,
        seed: int = 0,
        views: Sequence[int] | None = None,
    ):
        unknown = sorted(set(targets) - set(TARGETS))
        if unknown:
            raise ValueError(f"unknown targets {unknown}; valid: {sorted(TARGETS)}")
        self.store = Path(store)
        self.targets = tuple(targets)
        self.n_points = int(n_points)
        self.seed = int(seed)
        self.epoch = 0
        attrs = json.loads((self.store / "zarr.json").read_text())["attributes"]["pack"]
        self.n_shapes = int(attrs["shapes"])
        self.n_views = int(attrs["views"])
        self.categories = attrs["categories"]
        self.views = list(range(self.n_views)) if views is None else [int(v) for v in views]
        meta = array_metadata(self.store)
        fill = {"samples": samples, "voxel_resolution": voxel_resolution}
        names = [n.format(**fill) for t in self.targets for n in TARGETS[t]]
        if "octree" in self.targets:
            levels = sorted(
                {n.split("/")[1] for n in meta if n.startswith("octree/")}, key=lambda s: int(s[6:])
            )
            names = [n for n in names if not n.startswith("octree/")]
            names += [f"octree/{lv}/{k}" for lv in levels for k in ("keys", "state", "child")]
            self._levels = levels
        missing = [n for n in names if n not in meta]
        if missing:
            raise ValueError(f"{self.store} has no {missing} (targets {list(self.targets)})")
        self._arrays = {n: ShardedArray(self.store, n, meta[n]) for n in names}
        self._names = {t: [n.format(**fill) for n in TARGETS[t]] for t in self.targets}
        self._offsets = {
            n: _read_all(self.store, f"{n}_offsets", meta) for n in names if n.startswith("octree/")
        }
        self._category_index = _read_all(self.store, "index/category_index", meta)
        if "view_frame" in self.targets:
            frame = meta["spherical/view_full"]["attributes"]["view_frame"]
            self._view_scale = float(frame["scale"])
        for t in ("sdf", "occupancy", "surface"):
            if t in self.targets:
                count = self._arrays[self._names[t][0]].shape[1]
                if count < self.n_points:
                    raise ValueError(f"{t}: {count} points per shape, fewer than n_points = {self.n_points}")

    def __len__(self) -> int:
        return self.n_shapes * len(self.views)

    def item_shapes(self) -> np.ndarray:
        """Shape index (in the store) of every item, (n_items,) int64."""
        return np.arange(len(self), dtype=np.int64) // len(self.views)

    def set_epoch(self, epoch: int) -> None:
        """Draw other point subsets (as ``DistributedSampler.set_epoch`` reshuffles)."""
        self.epoch = int(epoch)

    def _window(self, name: str, shape: int, start: int) -> np.ndarray:
        return self._arrays[name].read((shape,), start, start + self.n_points)

    def __getitem__(self, index: int) -> dict:
        import torch

        if not 0 <= index < len(self):
            raise IndexError(index)
        shape, view = divmod(int(index), len(self.views))
        view = self.views[view]
        item = {
            "index": int(index),
            "shape_index": shape,
            "view": view,
            "category_index": int(self._category_index[shape]),
        }
        draws = 0
        for t in self.targets:
            names = self._names[t]
            if t == "image":
                item["image"] = self._arrays[names[0]].read((shape, view))
            elif t == "camera":
                item["K"] = self._arrays[names[0]].read((shape, view)).astype(np.float32)
                item["Rt"] = self._arrays[names[1]].read((shape, view)).astype(np.float32)
            elif t == "depth":
                item["depth"] = self._arrays[names[0]].read((shape, view))
                item["mask"] = self._arrays[names[1]].read((shape, view))
            elif t == "normal":
                item["normal"] = self._arrays[names[0]].read((shape, view))
            elif t in ("sdf", "occupancy", "surface"):
                count = self._arrays[names[0]].shape[1]
                start = window_start(self.seed, self.epoch, int(index), draws) % (count - self.n_points + 1)
                draws += 1
                a, b = (self._window(n, shape, start) for n in names)
                keys = {"sdf": ("sdf_points", "sdf"), "occupancy": ("occ_points", "occ")}
                keys["surface"] = ("surface_points", "surface_normals")
                item[keys[t][0]] = a.astype(np.float32)
                item[keys[t][1]] = b.astype(np.float32) if b.dtype.kind == "f" else b
            elif t == "voxels":
                item["voxels"] = self._arrays[names[0]].read((shape,)) | self._arrays[names[1]].read((shape,))
            elif t == "spherical":
                item["spherical"] = self._arrays[names[0]].read((shape,))
                item["spherical_partial"] = self._arrays[names[1]].read((shape, view))
            elif t == "view_voxels":
                item["view_voxels"] = self._arrays[names[0]].read((shape, view))
            elif t == "view_frame":
                item["view_scale"] = torch.tensor(self._view_scale, dtype=torch.float32)
            elif t == "view_spherical":
                item["view_spherical"] = self._arrays[names[0]].read((shape, view))
                item["view_spherical_partial"] = self._arrays[names[1]].read((shape, view))
            elif t == "octree":
                levels = []
                for lv in self._levels:
                    level = {}
                    for k in ("keys", "state", "child"):
                        n = f"octree/{lv}/{k}"
                        lo, hi = self._offsets[n][shape], self._offsets[n][shape + 1]
                        level[k] = torch.from_numpy(
                            self._arrays[n].read((), int(lo), int(hi)).astype(_OCTREE[k])
                        )
                    levels.append(level)
                item["octree"] = levels
        return {
            k: torch.from_numpy(np.ascontiguousarray(v)) if isinstance(v, np.ndarray) else v
            for k, v in item.items()
        }


_MASK64 = (1 << 64) - 1


def _splitmix64(x: int) -> int:
    """SplitMix64's output function of a 64-bit state (Steele, Lea and Flood, 2014)."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def window_start(seed: int, epoch: int, index: int, draw: int) -> int:
    """A 64-bit hash of (seed, epoch, index, draw): the loader's only random draw per point target."""
    h = 0
    for value in (seed, epoch, index, draw):
        h = _splitmix64(h ^ (value & _MASK64))
    return h


_OCTREE = {"keys": np.int64, "state": np.uint8, "child": np.int32}


def _read_all(store: Path, name: str, meta: dict) -> np.ndarray:
    """A whole small 1-D array of the store (its metadata in ``meta``), read without zarr."""
    array = ShardedArray(store, name, meta[name])
    try:
        return array.read(())
    finally:
        array.close()


def collate(items: list[dict]) -> dict:
    """Batch items: tensors stacked along a new first axis, ints as a tensor, octrees as a list.

    Tensors go through ``torch.utils.data.default_collate``, which in a worker process stacks
    straight into shared memory (no second copy on the way to the main process).
    """
    from torch.utils.data import default_collate

    octrees = [it["octree"] for it in items] if "octree" in items[0] else None
    if octrees is not None:
        items = [{k: v for k, v in it.items() if k != "octree"} for it in items]
    out = default_collate(items)
    if octrees is not None:
        out["octree"] = octrees
    return out


def to_float_image(rgba, background: float = 1.0):
    """(B, H, W, 4) uint8 RGBA tensor -> (B, 3, H, W) float32 RGB in [0, 1], composited over ``background``.

    3D-R2N2 and DISN train on renders composited over white (``background = 1``).
    """
    x = rgba.permute(0, 3, 1, 2).float() / 255.0
    rgb, alpha = x[:, :3], x[:, 3:]
    return rgb * alpha + background * (1.0 - alpha)
