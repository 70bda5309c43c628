"""Evaluation protocols of the field, as named presets that reproduce each paper's definitions.

Every paper computes its metrics differently (point counts, points from vertices or from the
surface, squared or not, x1000 or not, thresholds, normalization, aggregation), which is why
users of the released code report numbers that do not match the papers. A preset fixes all of
it, names its source, and every number recon writes carries the preset's name.

=========  ==========================================================================================
preset     definition (source)
=========  ==========================================================================================
disn       2,048 points drawn *with replacement from mesh vertices* of the prediction and of the
           ground truth (the SDF stage's iso-0.003 marching-cubes mesh, DISN's ``isosurf.obj``);
           CD = (mean d² pred→gt + mean d² gt→pred) x 1000; EMD = PSGN ``approxmatch``
           match cost (gt, pred) x 0.01; precision / recall with ``d < τ`` at τ = (0.5, 1, 2, 5,
           10, 20) % x 2.5; IoU of surface voxels (cell 2/110, corner vertices binned into 110³
           over [-1.1, 1.3]). Per object: mean over its views; per category: mean over objects,
           F from the mean P and R; overall CD, EMD, IoU: mean of the categories; overall P, R:
           object-weighted, F from them. (Xharlie/DISN ``test/test_cd_emd.py``,
           ``test/test_f_score.py``, ``test/test_iou.py``.)
onet       Both clouds in the frame where the ground truth's bounding box is centred with longest
           side 1 (``sample_mesh.py --resize``); 100,000 area-weighted samples of the predicted
           mesh with face normals against the ground-truth surface samples with normals;
           accuracy / completeness = mean distance each way; Chamfer-L1 = ½(acc + comp),
           Chamfer-L2 = ½(acc² + comp²) (means of squared distances); normal consistency;
           volumetric IoU at the SDF stage's occupancy points (inside = |winding number| > 0.5).
           An empty prediction scores ONet's constants (acc = comp = √3, squared 3, normals -1).
           Per category: mean over objects; overall: mean of the categories.
           (autonomousvision/occupancy_networks ``im2mesh/eval.py``, ``eval_meshes.py``.)
convonet   ``onet`` plus F-score with ``d <= τ`` at τ = ``linspace(1/1000, 1, 1000)[9, 14, 19]``
           (0.01, 0.015, 0.02), per object, then averaged. (autonomousvision/
           convolutional_occupancy_networks ``src/eval.py``.)
pix3d      1,024 points sampled on each surface, each cloud normalized by its own bounding box
           (centred, longest side 1); CD = mean d pred→gt + mean d gt→pred (unsquared, summed);
           EMD = mean distance under the optimal bijection (Pix3D uses an auction matcher);
           IoU at 32³: 128³ grids max-pooled by 4, cropped to the box of values ≥ 0.1,
           trilinearly resampled to 32³ and thresholded with ``>`` at 0.01 … 0.49, the one
           threshold that maximizes the mean IoU over all objects reported. Overall: mean over
           objects. (xingyuansun/pix3d ``eval/eval.py``.)
r2n2       IoU of 32³ voxels, predicted occupied when p ≥ 0.4, against the solid 32³ ground
           truth. Overall: mean over objects. (chrischoy/3D-R2N2 ``lib/voxel.py``,
           ``cfg.TEST.VOXEL_THRESH``.)
=========  ==========================================================================================

Predictions without voxels (meshes) are voxelized the way the ground truth was: voxel centres
inside the mesh (|winding number| > 0.5) over the ground truth's voxel cube.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from recon.evaluate.metrics import harmonic_mean, iou, point_distances

__all__ = ["PRESETS", "GroundTruth", "Prediction", "Preset", "get_preset"]


@dataclass(frozen=True)
class GroundTruth:
    """One shape's ground truth in the world frame (docs/data_format.md §5.5).

    Attributes:
        mesh_vertices: (V, 3) float, the SDF stage's iso mesh (DISN's ``isosurf.obj``).
        mesh_faces: (F, 3) int.
        surface_points: (S, 3) float, area-weighted samples of the normalized mesh.
        surface_normals: (S, 3) float, their face normals.
        occupancy_points: (O, 3) float, points in the padded box.
        occupancy: (O,) bool, inside labels of those points.
        voxels: resolution → (n, n, n) bool solid voxels (centre inside).
        voxel_half_extent: the cube ``[-h, h]³`` the voxels cover.
    """

    mesh_vertices: np.ndarray
    mesh_faces: np.ndarray
    surface_points: np.ndarray
    surface_normals: np.ndarray
    occupancy_points: np.ndarray
    occupancy: np.ndarray
    voxels: Mapping[int, np.ndarray]
    voxel_half_extent: float


@dataclass(frozen=True)
class Prediction:
    """One prediction in the world frame: a mesh, and optionally voxel occupancy probabilities.

    Attributes:
        vertices: (V, 3) float (V may be 0: an empty prediction).
        faces: (F, 3) int.
        voxels: resolution n → (n, n, n) float occupancy probabilities in [0, 1] over
            ``[-h, h]³`` with h = the ground truth's ``voxel_half_extent``; a preset needing a
            resolution not given voxelizes the mesh instead.
    """

    vertices: np.ndarray
    faces: np.ndarray
    voxels: Mapping[int, np.ndarray] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return len(self.vertices) == 0 or len(self.faces) == 0


def _solid(pred: Prediction, resolution: int, half_extent: float) -> np.ndarray:
    """(n, n, n) float occupancy of the prediction at ``resolution``: its voxels, or its mesh voxelized."""
    from recon.voxelize.voxels import VoxelSpec, solid_voxels

    if resolution in pred.voxels:
        return np.asarray(pred.voxels[resolution], np.float64)
    if pred.empty:
        return np.zeros((resolution,) * 3)
    return solid_voxels(pred.vertices, pred.faces, VoxelSpec(resolution, half_extent)).astype(np.float64)


def _inside(pred: Prediction, points: np.ndarray) -> np.ndarray:
    from recon.sdf.grid import winding_numbers

    if pred.empty:
        return np.zeros(len(points), bool)
    return np.abs(winding_numbers(pred.vertices, pred.faces, points)) > 0.5


def _surface(pred: Prediction, n: int, rng: np.random.Generator):
    from recon.sdf.samples import surface_samples

    return surface_samples(pred.vertices, pred.faces, n, rng)


@dataclass(frozen=True)
class Preset:
    """A named evaluation protocol: per-item metrics and how they are aggregated.

    Subclasses define :meth:`evaluate` (one prediction against one shape's ground truth) and
    may override :meth:`summarize` (rows of items → one row per category and an ``all`` row).
    """

    name: str = ""
    source: str = ""
    metrics: tuple[str, ...] = ()
    higher_is_better: Mapping[str, bool] = field(default_factory=dict)

    def evaluate(self, pred: Prediction, gt: GroundTruth, rng: np.random.Generator) -> dict[str, float]:
        raise NotImplementedError

    def object_rows(self, rows: Sequence[Mapping]) -> list[dict]:
        """Per-object means over views: rows keyed by ``category``, ``shape_id``."""
        groups: dict[tuple[str, str], list[Mapping]] = {}
        for row in rows:
            groups.setdefault((row["category"], row["shape_id"]), []).append(row)
        out = []
        for (category, shape_id), items in sorted(groups.items()):
            entry = {"category": category, "shape_id": shape_id, "views": len(items)}
            for m in self.item_metrics(rows):
                entry[m] = float(np.mean([float(r[m]) for r in items]))
            out.append(entry)
        return out

    def item_metrics(self, rows: Sequence[Mapping]) -> list[str]:
        """The metric columns present in item rows, in the preset's order."""
        return [m for m in self.metrics if rows and m in rows[0]]

    def summarize(self, rows: Sequence[Mapping]) -> list[dict]:
        """One row per category (mean over its objects) and an ``all`` row (``overall`` rule).

        Items are first averaged over views per object. Columns: ``category``, ``objects``,
        ``items`` and the metrics.
        """
        objects = self.object_rows(rows)
        metrics = self.item_metrics(rows)
        by_cat: dict[str, list[dict]] = {}
        for o in objects:
            by_cat.setdefault(o["category"], []).append(o)
        out = []
        for category, objs in sorted(by_cat.items()):
            entry = {"category": category, "objects": len(objs), "items": sum(o["views"] for o in objs)}
            for m in metrics:
                entry[m] = float(np.mean([o[m] for o in objs]))
            out.append(entry)
        overall = {"category": "all", "objects": len(objects), "items": len(rows)}
        for m in metrics:
            overall[m] = self.overall(m, out, objects)
        return [*out, overall]

    def overall(self, metric: str, categories: Sequence[Mapping], objects: Sequence[Mapping]) -> float:
        """The ``all`` value of a metric: the mean of the category means unless a preset says otherwise."""
        return float(np.mean([c[metric] for c in categories])) if categories else float("nan")


# --------------------------------------------------------------------------------------------------
# DISN
# --------------------------------------------------------------------------------------------------

DISN_THRESHOLDS = tuple(float(p) * 0.01 * 2.5 for p in (0.5, 1, 2, 5, 10, 20))


def _tau_name(prefix: str, tau: float) -> str:
    return f"{prefix}@{tau:g}"


def disn_voxel_iou(pred_vertices, pred_faces, gt_vertices, gt_faces, dim: int = 110) -> float:
    """DISN's IoU (``test/test_iou.py``): surface voxels of cell 2/dim, corners binned over [-1.1, 1.3]³.

    Each mesh's surface voxels (cells of size 2/dim on a lattice anchored at the origin that a
    triangle meets, our reading of PyMesh's ``VoxelGrid``) give the corner vertices of their
    voxel mesh; a corner v falls in bin ``int((v + 1.1) / 2.4 · dim)`` (truncated; bins outside
    [0, dim) are dropped where DISN would wrap or fail); IoU of the two sets of bins.
    """
    return float(
        iou(_disn_bins(pred_vertices, pred_faces, dim), _disn_bins(gt_vertices, gt_faces, dim), ndim=3)
    )


_CORNERS = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)])


def _disn_bins(vertices, faces, dim: int) -> np.ndarray:
    from recon.voxelize.voxels import VoxelSpec, surface_voxels

    bins = np.zeros((dim,) * 3, bool)
    if len(vertices) == 0 or len(faces) == 0:
        return bins
    cell = 2.0 / dim
    k = int(np.ceil(np.abs(np.asarray(vertices, np.float64)).max() / cell)) + 1
    occupied = surface_voxels(
        np.asarray(vertices, np.float64), np.asarray(faces, np.int64), VoxelSpec(2 * k, k * cell)
    )
    corners = np.unique((np.argwhere(occupied)[:, None, :] + _CORNERS[None]).reshape(-1, 3), axis=0)
    world = (corners - k) * cell
    index = ((world + 1.1) / 2.4 * dim).astype(np.int64)
    index = index[np.all((index >= 0) & (index < dim) & (world + 1.1 >= 0), axis=1)]
    bins[index[:, 0], index[:, 1], index[:, 2]] = True
    return bins


@dataclass(frozen=True)
class DisnPreset(Preset):
    n_points: int = 2048
    iou_dim: int = 110

    def evaluate(self, pred, gt, rng):
        from recon.evaluate.emd import approxmatch_cost

        def vertex_sample(vertices):
            v = np.asarray(vertices, np.float64)
            if len(v) == 0:  # DISN leaves the batch slot at zeros
                return np.zeros((self.n_points, 3))
            return v[rng.integers(len(v), size=self.n_points)]

        gt_points = vertex_sample(gt.mesh_vertices)
        pred_points = vertex_sample(pred.vertices)
        d = point_distances(pred_points, gt_points)
        out = {
            "chamfer": d.chamfer(squared=True, reduction="mean", combine="sum") * 1000.0,
            "emd": approxmatch_cost(gt_points, pred_points) * 0.01,
            "iou": disn_voxel_iou(pred.vertices, pred.faces, gt.mesh_vertices, gt.mesh_faces, self.iou_dim),
        }
        precision, recall = d.precision_recall(DISN_THRESHOLDS, strict=True)
        for tau, p, r in zip(DISN_THRESHOLDS, precision, recall, strict=True):
            out[_tau_name("precision", tau)] = float(p)
            out[_tau_name("recall", tau)] = float(r)
        return out

    def summarize(self, rows):
        table = super().summarize(rows)
        if not rows:
            return table
        counts = np.array([row["objects"] for row in table[:-1]], np.float64)
        for tau in DISN_THRESHOLDS:
            p, r = _tau_name("precision", tau), _tau_name("recall", tau)
            for row in table[:-1]:
                row[_tau_name("f_score", tau)] = float(harmonic_mean(row[p], row[r]))
            overall = table[-1]
            if len(counts):
                overall[p] = float(np.average([row[p] for row in table[:-1]], weights=counts))
                overall[r] = float(np.average([row[r] for row in table[:-1]], weights=counts))
            overall[_tau_name("f_score", tau)] = float(harmonic_mean(overall[p], overall[r]))
        return table


_DISN_METRICS = (
    "chamfer",
    "emd",
    "iou",
    *[_tau_name(k, t) for k in ("f_score", "precision", "recall") for t in DISN_THRESHOLDS],
)

# --------------------------------------------------------------------------------------------------
# Occupancy Networks and Convolutional Occupancy Networks
# --------------------------------------------------------------------------------------------------

#: ConvONet's ``np.linspace(1.0 / 1000, 1, 1000)[[9, 14, 19]]``, bit for bit.
CONVONET_THRESHOLDS = tuple(float(t) for t in np.linspace(1.0 / 1000, 1, 1000)[[9, 14, 19]])


def bbox_frame(points: np.ndarray) -> tuple[np.ndarray, float]:
    """``(loc (3,), scale)``: bounding-box centre and longest side; ``(x - loc) / scale`` fits a unit box."""
    p = np.asarray(points, np.float64)
    lo, hi = p.min(axis=0), p.max(axis=0)
    return (lo + hi) / 2.0, float((hi - lo).max())


@dataclass(frozen=True)
class OnetPreset(Preset):
    n_points: int = 100_000
    thresholds: tuple[float, ...] = ()

    def evaluate(self, pred, gt, rng):
        out = {"iou": float(iou(_inside(pred, gt.occupancy_points), np.asarray(gt.occupancy, bool)))}
        if pred.empty:  # im2mesh/eval.py EMPTY_PCL_DICT and EMPTY_PCL_DICT_NORMALS
            out.update(
                accuracy=np.sqrt(3),
                completeness=np.sqrt(3),
                chamfer_l1=np.sqrt(3),
                chamfer_l2=3.0,
                normals=-1.0,
            )
            out.update({_tau_name("f_score", t): 0.0 for t in self.thresholds})
            return out
        loc, scale = bbox_frame(gt.surface_points)
        points, normals = _surface(pred, self.n_points, rng)
        gt_points = (np.asarray(gt.surface_points, np.float64) - loc) / scale
        d = point_distances((points - loc) / scale, gt_points)
        accuracy, completeness = float(d.pred_to_gt.mean()), float(d.gt_to_pred.mean())
        out.update(
            accuracy=accuracy,
            completeness=completeness,
            chamfer_l1=0.5 * (accuracy + completeness),
            chamfer_l2=d.chamfer(squared=True, reduction="mean", combine="mean"),
            normals=d.normal_consistency(normals, gt.surface_normals),
        )
        if self.thresholds:
            for tau, f in zip(self.thresholds, d.f_score(self.thresholds), strict=True):
                out[_tau_name("f_score", tau)] = float(f)
        return out


# --------------------------------------------------------------------------------------------------
# Pix3D
# --------------------------------------------------------------------------------------------------

#: Pix3D's IoU threshold search, ``np.arange(0.01, 0.5, 0.01)``.
PIX3D_IOU_THRESHOLDS = tuple(float(t) for t in np.arange(0.01, 0.5, 0.01))


def pix3d_resample(voxels: np.ndarray, threshold: float = 0.1, size: int = 32) -> np.ndarray:
    """Pix3D's ``downsample_voxel``: max-pool 128³ → 32³, crop to the box of values ≥ threshold, resample.

    The crop ``V[min:max+1]`` per axis is resampled trilinearly at ``size`` points per axis
    spanning a cube of side ``max(extent)`` centred on the crop (``mesh_grid``), 0 outside; a
    grid with no value ≥ threshold becomes zeros.
    """
    from scipy.interpolate import RegularGridInterpolator

    v = np.asarray(voxels, np.float64)
    if v.shape[0] > 100:
        k = 4
        n = v.shape[0] // k
        v = v[: n * k, : n * k, : n * k].reshape(n, k, n, k, n, k).max(axis=(1, 3, 5))
    if v.max() < threshold:
        v, lo, hi = np.zeros((2, 2, 2)), np.zeros(3, int), np.ones(3, int)
    else:
        nz = np.argwhere(v >= threshold)
        lo, hi = nz.min(axis=0), nz.max(axis=0)
        v = v[lo[0] : hi[0] + 1, lo[1] : hi[1] + 1, lo[2] : hi[2] + 1]
    extent = hi - lo
    length = extent.max()
    centre = extent / 2.0
    axes = [np.linspace(c - length / 2, c + length / 2, size) for c in centre]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
    interp = RegularGridInterpolator(
        tuple(np.arange(s) for s in v.shape), v, method="linear", bounds_error=False, fill_value=0
    )
    return interp(grid).reshape(size, size, size)


def _normalized(points: np.ndarray) -> np.ndarray:
    loc, scale = bbox_frame(points)
    return (np.asarray(points, np.float64) - loc) / scale


@dataclass(frozen=True)
class Pix3dPreset(Preset):
    n_points: int = 1024
    resolution: int = 128

    def evaluate(self, pred, gt, rng):
        from recon.evaluate.emd import emd_exact

        gt_points = _normalized(
            gt.surface_points[rng.choice(len(gt.surface_points), self.n_points, replace=False)]
        )
        out: dict[str, float] = {}
        if pred.empty:  # eval.py: a dummy all-zero cloud
            pred_points = np.zeros((self.n_points, 3))
        else:
            pred_points = _normalized(_surface(pred, self.n_points, rng)[0])
        d = point_distances(pred_points, gt_points)
        out["chamfer"] = d.chamfer(squared=False, reduction="mean", combine="sum")
        out["emd"] = float(emd_exact(pred_points, gt_points)[0])
        res = self.resolution if self.resolution in gt.voxels else max(gt.voxels)
        p = pix3d_resample(_solid(pred, res, gt.voxel_half_extent))
        g = pix3d_resample(gt.voxels[res].astype(np.float64))
        for t in PIX3D_IOU_THRESHOLDS:
            inter = np.logical_and(p > t, g > t).sum()
            union = np.logical_or(p > t, g > t).sum()
            out[_tau_name("iou", t)] = float(inter / union) if union else 0.0
        return out

    def item_metrics(self, rows):
        return ["chamfer", "emd", *[_tau_name("iou", t) for t in PIX3D_IOU_THRESHOLDS]]

    def summarize(self, rows):
        table = super().summarize(rows)
        objects = self.object_rows(rows)
        names = [_tau_name("iou", t) for t in PIX3D_IOU_THRESHOLDS]
        best = int(np.argmax([np.mean([o[n] for o in objects]) for n in names])) if objects else 0
        for row in table:
            row["iou"] = row[names[best]]
            row["iou_threshold"] = PIX3D_IOU_THRESHOLDS[best]
            for n in names:
                del row[n]
        return table

    def overall(self, metric, categories, objects):
        return float(np.mean([o[metric] for o in objects])) if objects else float("nan")


# --------------------------------------------------------------------------------------------------
# 3D-R2N2
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class R2n2Preset(Preset):
    resolution: int = 32
    threshold: float = 0.4

    def evaluate(self, pred, gt, rng):
        p = _solid(pred, self.resolution, gt.voxel_half_extent)
        return {"iou": float(iou(p >= self.threshold, gt.voxels[self.resolution], ndim=3))}

    def overall(self, metric, categories, objects):
        return float(np.mean([o[metric] for o in objects])) if objects else float("nan")


PRESETS: dict[str, Preset] = {
    "disn": DisnPreset(
        name="disn",
        source="Xharlie/DISN test/test_cd_emd.py, test/test_f_score.py, test/test_iou.py",
        metrics=_DISN_METRICS,
        higher_is_better={"chamfer": False, "emd": False},
    ),
    "onet": OnetPreset(
        name="onet",
        source="autonomousvision/occupancy_networks im2mesh/eval.py, eval_meshes.py",
        metrics=("iou", "chamfer_l1", "chamfer_l2", "normals", "accuracy", "completeness"),
        higher_is_better={"chamfer_l1": False, "chamfer_l2": False, "accuracy": False, "completeness": False},
    ),
    "convonet": OnetPreset(
        name="convonet",
        source="autonomousvision/convolutional_occupancy_networks src/eval.py",
        metrics=(
            "iou",
            "chamfer_l1",
            "chamfer_l2",
            "normals",
            *[_tau_name("f_score", t) for t in CONVONET_THRESHOLDS],
            "accuracy",
            "completeness",
        ),
        higher_is_better={"chamfer_l1": False, "chamfer_l2": False, "accuracy": False, "completeness": False},
        thresholds=CONVONET_THRESHOLDS,
    ),
    "pix3d": Pix3dPreset(
        name="pix3d",
        source="xingyuansun/pix3d eval/eval.py",
        metrics=("iou", "iou_threshold", "chamfer", "emd"),
        higher_is_better={"chamfer": False, "emd": False},
    ),
    "r2n2": R2n2Preset(name="r2n2", source="chrischoy/3D-R2N2 lib/voxel.py", metrics=("iou",)),
}


def get_preset(name: str) -> Preset:
    """The preset called ``name``; a ValueError lists the known ones."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown evaluation preset {name!r}; known: {', '.join(PRESETS)}") from None
