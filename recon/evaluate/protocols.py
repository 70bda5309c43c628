"""Evaluation protocols of the field, named, each reproducing a paper's definitions.

Every paper computes its metrics differently (point counts, points from vertices or from the
surface, squared or not, x1000 or not, thresholds, normalization, aggregation), which is why
users of the released code report numbers that do not match the papers. A protocol fixes all of
it, names its source, and every number recon writes carries the protocol's name (the tables'
``preset`` column). Each definition below was checked against the released code (repository, file
and line) and is pinned by a test that transcribes that code (``tests/recon/evaluate/test_protocols.py``,
``test_emd.py``).

=========  ==========================================================================================
protocol   definition (source)
=========  ==========================================================================================
disn       2,048 points drawn *with replacement from mesh vertices* of the prediction and of the
           ground truth (the SDF stage's iso-0.003 marching-cubes mesh, DISN's ``isosurf.obj``);
           CD = (mean d² pred→gt + mean d² gt→pred) x 1000; EMD = PSGN ``approxmatch``
           match cost (gt, pred) x 0.01; precision / recall with ``d < τ`` at τ = (0.5, 1, 2, 5,
           10, 20) % x 2.5; IoU of surface voxels (cell 2/110, corner vertices binned into 110³
           over [-1.1, 1.3]). Per object: mean over its views; per category: mean over objects,
           F from the mean P and R (NaN where P + R = 0, as numpy gives it); overall CD, EMD,
           IoU: mean of the categories; overall P, R: object-weighted, F from them. An empty
           prediction is 2,048 points at the origin for CD, EMD, P and R (the batch slot left at
           zeros, ``test_cd_emd.py:186-197``, ``test_f_score.py:300-306``) and has no IoU (NaN,
           skipped: ``test_iou.py:127`` drops mesh files of <= 200 bytes and fills the object's
           views by drawing from its other ones, lines 137-144). (Xharlie/DISN 461130dc
           ``test/test_cd_emd.py``, ``test/test_f_score.py``, ``test/test_iou.py``.)
onet       Both clouds in the frame where the ground truth's bounding box is centred with longest
           side 1 (``sample_mesh.py --resize``); 100,000 area-weighted samples of the predicted
           mesh with face normals against the ground-truth surface samples with normals;
           accuracy / completeness = mean distance each way; Chamfer-L1 = ½(acc + comp),
           Chamfer-L2 = ½(acc² + comp²) (means of squared distances); normal consistency;
           volumetric IoU at the SDF stage's occupancy points (inside = |winding number| > 0.5),
           NaN where neither set has a point (``compute_iou``'s 0/0). An empty prediction gets
           ``EMPTY_PCL_DICT``: accuracy = completeness = √3, normals -1, IoU 0, and *no*
           Chamfer-L1 / L2 (NaN: the dict has no such key, ``im2mesh/eval.py:12-24, 52-87``).
           Per category: mean over objects; overall: mean of the categories; every mean skips
           NaN (``eval_meshes.py:146-155``: pandas ``groupby(...).mean()``, then ``.mean()``).
           (autonomousvision/occupancy_networks 406f7946 ``im2mesh/eval.py``, ``eval_meshes.py``.)
convonet   ``onet`` plus F-score = 2PR / (P + R) with ``d <= τ`` at τ = ``linspace(1/1000, 1,
           1000)[9, 14, 19]`` (0.01, 0.015, 0.02), per object, then averaged; NaN where P + R = 0
           and for an empty prediction (``src/eval.py:148-166``). (autonomousvision/
           convolutional_occupancy_networks 838bea5b ``src/eval.py``, ``eval_meshes.py``.)
pix3d      1,024 points per cloud, each normalized by its own bounding box (centred, longest side
           1). The ground truth's are "voxels" mode points (``get_surface_points``,
           ``eval.py:57-93``): marching cubes of its 128³ filled voxels at 0.1, at least one
           uniform point on *every* triangle (``max(int(area · d), 1)``, d = 5e-7 / 128², doubled
           until there are 1,024), 1,024 of them at random (:func:`pix3d_surface_points`). A
           prediction with voxels is taken the same way (its 128³ grid, else its finest); a mesh
           prediction in "points" mode, as 1,024 area-weighted samples. CD = mean d pred→gt +
           mean d gt→pred (unsquared, summed); EMD = Pix3D's auction matching, the prediction
           bidding (:func:`recon.evaluate.emd.pix3d_auction_match`, ``emd/tf_auctionmatch_g.cu``);
           IoU at 32³: 128³ grids max-pooled by 4, cropped to the box of values ≥ 0.1,
           trilinearly resampled to 32³ and thresholded with ``>`` at 0.01 … 0.49, the one
           threshold that maximizes the mean IoU over all objects reported. An empty prediction
           (no value ≥ 0.1, or an empty mesh) is 1,024 points at the origin, not normalized
           (``load_pts_from_list``, lines 141-144), and IoU 0. Overall: mean over objects.
           (xingyuansun/pix3d e54d4b23 ``eval/eval.py``.)
r2n2       IoU of 32³ voxels, predicted occupied when p ≥ 0.4, against the filled 32³ ground
           truth (solid or surface voxels: what ``ShapeNetVox32``'s ``model.binvox``, recon's
           ``.binvox`` and the ``voxels`` training target hold). An empty prediction scores 0.
           Overall: mean over objects. (chrischoy/3D-R2N2 13a30e25 ``lib/voxel.py:4-11``,
           ``lib/config.py:101`` ``cfg.TEST.VOXEL_THRESH = [0.4]``.)
genre      GenRe's Chamfer distance (its paper's Table 1; no evaluation script was released, its
           authors point to Pix3D's). Ground truth: the *surface-only* voxels of the 128³ filled
           grid, ``vox - binary_erosion(vox, ones((3, 3, 3)), iterations=2)`` (the refiner's
           target, ``models/genre_full_model.py:93``; "the gt voxel should be surface only",
           issue #67), 1,024 ``get_surface_points`` of its iso-surface at 0.5. A prediction with
           voxels: 1,024 ``get_surface_points`` of the iso-surface of its probabilities at each
           t = 0.30, 0.35, ..., 0.50 (issue #67: thresholds "from 0.3 to 0.5 with a 0.05 step
           size ... for each class"; the released meshes are marching cubes of sigmoid(logits)
           at a threshold, ``visualize/visualizer.py:154-166, 198-205``); a mesh: 1,024 area-weighted
           samples, one cloud for every t. Each cloud normalized by its own bounding box (centred,
           longest side 1: Pix3D's ``eval.py:151-156``). CD = mean d pred→gt + mean d gt→pred,
           unsquared, summed (``toolbox/nndistance/functions/nnd.py:83-85``
           ``nndistance_score``; Pix3D's ``cd/tf_nndistance.py:58`` is the same). Per item a CD
           per t (``chamfer@t``); per category the mean over objects at the t with the lowest
           one (``chamfer``, ``chamfer_threshold``); overall: the mean of the categories (no
           single t: ``chamfer_threshold`` NaN). An empty prediction, or no probability reaching
           t, is 1,024 points at the origin, not normalized (Pix3D's ``eval.py:141-144``).
           (xiumingzhang/GenRe-ShapeHD ee42add2 ``toolbox/nndistance``, issue #67;
           xingyuansun/pix3d e54d4b23 ``eval/eval.py``.)
=========  ==========================================================================================

Ground-truth voxels are *filled* everywhere (``recon.io.packed.GroundTruth.voxels``, the pix3d and
r2n2 protocols, the baselines): ``voxels/<n>/solid | voxels/<n>/surface``. Predictions without
voxels (meshes) are voxelized the same way over the ground truth's voxel cube, so the ground truth
scores IoU 1.

**Point-cloud predictions** (PointSetGen, AtlasNet; ``Prediction.points``, docs/data_format.md
§5.6). The protocols that compare point clouds read the prediction's cloud when it has one: disn
draws its 2,048 points with replacement from the cloud as it does from mesh vertices; pix3d and
genre take 1,024 of its points (without replacement; all of them and the rest drawn again when
there are fewer), normalized by their box. onet and convonet read the mesh when there is one; a
cloud alone is scored as ``eval_pointcloud(pointcloud, pointcloud_tgt)`` scores PointSetGen's:
every point, no normals (``normals`` NaN) and no IoU (NaN; ONet's Table 1 leaves both blank for
PSGN). Every IoU reads voxels, else the mesh, else the cloud converted: disn bins the corners of
the cells of its lattice that hold a point (the cloud's "surface voxels"); pix3d and r2n2 fill the
voxels holding a point, dilated twice (26-connected), then eroded back
(:func:`recon.geometry.voxels.filled_point_voxels`). A prediction with neither a triangle nor a
point is empty.

**Empty predictions.** Item tables flag an item whose predicted mesh has no triangle (``empty``),
summaries count them per category and overall (``empty``): a protocol whose anchor leaves a metric
undefined for them (NaN above) averages over the other items, as the anchor does, and the count
says how many were left out.

**Where a run here differs from the paper's run.** The definitions above are the released code's;
these settings are not, and a number computed here is comparable to the paper's only as far as
they allow:

=========  ==========================================================================================
protocol   setting: the paper's run → here
=========  ==========================================================================================
disn       Views: 24 per object (``--view_num 24``, ``random.sample`` of the object's renders) →
           ``evaluate.views`` (default 3), the first ones. Ground truth: the Vega FEM SDF of a
           257³ grid (polygon-soup mode) → the SDF stage's grid (``sdf.grid``; 256 nodes by
           default) and iso mesh at ``sdf.iso`` (0.003, as DISN). Normalization: DISN's unit
           sphere is estimated from 16,384 surface samples → recon's is exact: DISN's frame is
           0.19 % larger on average (-1.4 to +1.8 % per run), its CD 0.37 % larger (-2.9 to
           +3.5 %), F@0.025 0.08 points lower (docs/data_format.md §1,
           ``bench/bench_normalization.py``). Predicted meshes: a 65³ grid and Vega's marching
           cubes at 0.0 → whatever the method predicts. CD, P, R and EMD: float32 CUDA kernels →
           float64 on the CPU (rounding only). IoU: PyMesh's ``VoxelGrid`` → our reading of it
           (not run here).
onet,      Views: one per object, the first render (``ImagesField(random_view=False)`` at test,
convonet   ``im2mesh/config.py:202-205``, ``data/fields.py:85-88``) → ``evaluate.views`` (default 3)
           averaged per object. Ground truth: 100,000 samples of the TSDF-fused watertight mesh,
           in the frame of the *original* mesh's bounding box; IoU points: 100,000 uniform in
           ONet's padded unit box, labelled by the watertight mesh → the surface samples of the
           normalized mesh (``sdf.samples.surface.count``, 100,000) in the frame of their own
           bounding box, and the SDF stage's occupancy points (``sdf.samples.occupancy``; ONet's
           box under ``ingest.normalization: unit_cube``, docs/data_format.md §5.3), labelled by
           winding numbers. ConvONet's object-level ShapeNet runs use the same evaluator.
pix3d      Data: Pix3D's real images and its own 128³ voxelizations → renders of the configured
           dataset and recon's filled 128³ voxels over [-h, h]³. Marching cubes: skimage's
           ``marching_cubes_lewiner`` → PyMCubes (same vertices; the triangulation of ambiguous
           cubes may differ). Aggregation over images → per object over its ``evaluate.views``
           first, then over objects (the same when every object has as many views). EMD: the
           auction kernel on the GPU → the same bids on the CPU (ties may break differently).
           The auction is not exact: on the protocol's clouds its bid increment ends at 1e-2 and its
           EMD is 1.8-4.5 % above the optimal matching's (``bench/bench_emd.py --pix3d``). The
           ground truth's points were area-weighted samples of the mesh before they followed
           ``get_surface_points``: against the iso-surface points of 128³ voxels a mesh
           prediction's CD is 12-24 % higher than it was (same bench).
r2n2       Views: random with replacement (``np.random.choice(24, n_views)``,
           ``lib/data_process.py:141``) → the first ``evaluate.views``. Ground truth:
           ``ShapeNetVox32`` from an unreleased voxelization → recon's filled voxels (exact
           triangle-box overlap and winding-number inside test), which may differ from it voxel
           by voxel.
genre      Frame: GenRe's view-aligned ground truth (``_gt_rotvox_samescale_128``) and predictions
           → the world frame, where recon's ground truth and predictions are: the bounding-box
           normalization is not rotation-invariant, so a CD here differs from the same shapes'
           in the view frame (not measured). Not recoverable from the release, chosen here: the
           ground truth's iso-level (0.5, the binary grid's midpoint; Pix3D's script would apply
           its one ``--threshold`` to both clouds), 1,024 points (Pix3D's ``--pts_size``),
           Pix3D's sampling (every triangle at least once), thresholds for probabilities only (a
           mesh has none: its ``chamfer@t`` are all the same). Left out:
           ``nndistance_score``'s ε = 1e-10 under the square root (for the gradient at 0; at
           most 1e-5 per direction). Data: GenRe's unseen-class test set (500 random shapes per
           class; 9 of its 10 classes released, README) → the configured split and its views.
=========  ==========================================================================================
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from recon.evaluate.metrics import harmonic_mean, iou, point_distances

if TYPE_CHECKING:
    from recon.io.packed import GroundTruth
    from recon.io.predictions import Prediction

__all__ = ["PROTOCOLS", "Protocol", "get_protocol"]


def _occupancy(pred: Prediction, resolution: int, half_extent: float) -> np.ndarray:
    """(n, n, n) float occupancy of the prediction at ``resolution``: its voxels, else its mesh
    voxelized, else its point cloud's filled voxels.

    A mesh is voxelized as the ground truth was (:mod:`recon.geometry.voxels`): filled voxels, the
    solid ones (centre inside) and the surface ones (meeting a triangle). A point cloud: the voxels
    its points fall in, dilated, hole-filled and eroded back
    (:func:`recon.geometry.voxels.filled_point_voxels`).
    """
    from recon.geometry.voxels import VoxelSpec, filled_point_voxels, solid_voxels, surface_voxels

    if resolution in pred.voxels:
        return np.asarray(pred.voxels[resolution], np.float64)
    spec = VoxelSpec(resolution, half_extent)
    if pred.has_mesh:
        filled = solid_voxels(pred.vertices, pred.faces, spec) | surface_voxels(
            pred.vertices, pred.faces, spec
        )
        return filled.astype(np.float64)
    if pred.has_points:
        return filled_point_voxels(pred.points, spec).astype(np.float64)
    return np.zeros((resolution,) * 3)


def nanmean(values) -> float:
    """Mean of the values that are not NaN (pandas' ``mean``, ``skipna=True``); NaN when all are."""
    a = np.asarray(values, np.float64).reshape(-1)
    keep = ~np.isnan(a)
    return float(a[keep].mean()) if keep.any() else float("nan")


def _inside(pred: Prediction, points: np.ndarray) -> np.ndarray:
    from recon.geometry.winding import winding_numbers

    if not pred.has_mesh:
        return np.zeros(len(points), bool)
    return np.abs(winding_numbers(pred.vertices, pred.faces, points)) > 0.5


def _surface(pred: Prediction, n: int, rng: np.random.Generator):
    from recon.geometry.sampling import surface_samples

    return surface_samples(pred.vertices, pred.faces, n, rng)


def _cloud(pred: Prediction, n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, 3) float64 points of a prediction for a protocol that compares n-point clouds: its point
    cloud when it has one (n drawn without replacement, or all of them and the rest drawn with
    replacement when it has fewer), else n area-weighted samples of its mesh."""
    if pred.has_points:
        points = np.asarray(pred.points, np.float64)
        if len(points) >= n:
            return points[rng.choice(len(points), n, replace=False)]
        return np.concatenate([points, points[rng.integers(len(points), size=n - len(points))]])
    return _surface(pred, n, rng)[0]


@dataclass(frozen=True)
class Protocol:
    """A named evaluation protocol: per-item metrics and how they are aggregated.

    Subclasses define :meth:`evaluate` (one prediction against one shape's ground truth) and
    may override :meth:`summarize` (rows of items → one row per category and an ``all`` row).
    A metric an anchor leaves undefined for an item is NaN, and every mean skips NaN (pandas'
    default, which Occupancy Networks' ``eval_meshes.py`` relies on); the ``empty`` column counts
    the items whose predicted mesh is empty, so that no skipped item goes unnoticed.
    """

    name: str = ""
    source: str = ""
    metrics: tuple[str, ...] = ()
    higher_is_better: Mapping[str, bool] = field(default_factory=dict)

    def evaluate(self, pred: Prediction, gt: GroundTruth, rng: np.random.Generator) -> dict[str, float]:
        raise NotImplementedError

    def object_rows(self, rows: Sequence[Mapping]) -> list[dict]:
        """Per-object means over views (NaN-skipping): rows keyed by ``category``, ``shape_id``.

        Each object row also has ``views`` (its items) and ``empty`` (how many had an empty mesh:
        the items' ``empty`` flag, False where absent).
        """
        groups: dict[tuple[str, str], list[Mapping]] = {}
        for row in rows:
            groups.setdefault((row["category"], row["shape_id"]), []).append(row)
        out = []
        for (category, shape_id), items in sorted(groups.items()):
            entry = {
                "category": category,
                "shape_id": shape_id,
                "views": len(items),
                "empty": sum(bool(r.get("empty", False)) for r in items),
            }
            for m in self.item_metrics(rows):
                entry[m] = nanmean([float(r[m]) for r in items])
            out.append(entry)
        return out

    def item_metrics(self, rows: Sequence[Mapping]) -> list[str]:
        """The metric columns present in item rows, in the protocol's order."""
        return [m for m in self.metrics if rows and m in rows[0]]

    def summarize(self, rows: Sequence[Mapping]) -> list[dict]:
        """One row per category (mean over its objects) and an ``all`` row (``overall`` rule).

        Items are first averaged over views per object; every mean skips NaN. Columns:
        ``category``, ``objects``, ``items``, ``empty`` (items with an empty predicted mesh) and
        the metrics.
        """
        objects = self.object_rows(rows)
        metrics = self.item_metrics(rows)
        by_cat: dict[str, list[dict]] = {}
        for o in objects:
            by_cat.setdefault(o["category"], []).append(o)
        out = []
        for category, objs in sorted(by_cat.items()):
            entry = {
                "category": category,
                "objects": len(objs),
                "items": sum(o["views"] for o in objs),
                "empty": sum(o["empty"] for o in objs),
            }
            for m in metrics:
                entry[m] = nanmean([o[m] for o in objs])
            out.append(entry)
        overall = {
            "category": "all",
            "objects": len(objects),
            "items": len(rows),
            "empty": sum(o["empty"] for o in objects),
        }
        for m in metrics:
            overall[m] = self.overall(m, out, objects)
        return [*out, overall]

    def overall(self, metric: str, categories: Sequence[Mapping], objects: Sequence[Mapping]) -> float:
        """The ``all`` value of a metric: the (NaN-skipping) mean of the category means unless a protocol
        says otherwise."""
        return nanmean([c[metric] for c in categories])


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
    from recon.geometry.voxels import VoxelSpec, surface_voxels

    bins = np.zeros((dim,) * 3, bool)
    if len(vertices) == 0 or len(faces) == 0:
        return bins
    cell = 2.0 / dim
    k = int(np.ceil(np.abs(np.asarray(vertices, np.float64)).max() / cell)) + 1
    occupied = surface_voxels(
        np.asarray(vertices, np.float64), np.asarray(faces, np.int64), VoxelSpec(2 * k, k * cell)
    )
    return _bin_corners(np.argwhere(occupied) - k, dim)


def _bin_corners(cells: np.ndarray, dim: int) -> np.ndarray:
    """(dim,)³ bool: the corners of lattice cells (M, 3) int (cell i spans [i, i+1] · 2/dim) binned as
    DISN bins its voxel meshes' vertices over [-1.1, 1.3]³."""
    bins = np.zeros((dim,) * 3, bool)
    corners = np.unique((cells[:, None, :] + _CORNERS[None]).reshape(-1, 3), axis=0)
    world = corners * (2.0 / dim)
    index = ((world + 1.1) / 2.4 * dim).astype(np.int64)
    index = index[np.all((index >= 0) & (index < dim) & (world + 1.1 >= 0), axis=1)]
    bins[index[:, 0], index[:, 1], index[:, 2]] = True
    return bins


def disn_point_bins(points, dim: int = 110) -> np.ndarray:
    """A point cloud's bins for DISN's IoU: the cells of size 2/dim (the lattice of
    :func:`disn_voxel_iou`) holding a point stand for the surface voxels a mesh's triangles meet;
    their corners are binned the same way."""
    p = np.asarray(points, np.float64).reshape(-1, 3)
    return _bin_corners(np.unique(np.floor(p / (2.0 / dim)).astype(np.int64), axis=0), dim)


@dataclass(frozen=True)
class DisnProtocol(Protocol):
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
        pred_points = vertex_sample(pred.points if pred.has_points else pred.vertices)
        d = point_distances(pred_points, gt_points)
        out = {
            "chamfer": d.chamfer(squared=True, reduction="mean", combine="sum") * 1000.0,
            "emd": approxmatch_cost(gt_points, pred_points) * 0.01,
            # test_iou.py's build_file_dict drops mesh files of <= 200 bytes (empty ones) and fills the
            # object's views by drawing from the others: in the mean, the same as skipping them.
            "iou": float("nan")
            if pred.empty
            else float(
                iou(self._bins(pred), _disn_bins(gt.mesh_vertices, gt.mesh_faces, self.iou_dim), ndim=3)
            ),
        }
        precision, recall = d.precision_recall(DISN_THRESHOLDS, strict=True)
        for tau, p, r in zip(DISN_THRESHOLDS, precision, recall, strict=True):
            out[_tau_name("precision", tau)] = float(p)
            out[_tau_name("recall", tau)] = float(r)
        return out

    def _bins(self, pred) -> np.ndarray:
        """The prediction's IoU bins: its mesh's, else its point cloud's (:func:`disn_point_bins`)."""
        if pred.has_mesh:
            return _disn_bins(pred.vertices, pred.faces, self.iou_dim)
        return disn_point_bins(pred.points, self.iou_dim)

    def summarize(self, rows):
        table = super().summarize(rows)
        if not rows:
            return table
        counts = np.array([row["objects"] for row in table[:-1]], np.float64)
        for tau in DISN_THRESHOLDS:
            p, r = _tau_name("precision", tau), _tau_name("recall", tau)
            for row in table[:-1]:
                row[_tau_name("f_score", tau)] = float(harmonic_mean(row[p], row[r], np.nan))
            overall = table[-1]
            if len(counts):
                overall[p] = float(np.average([row[p] for row in table[:-1]], weights=counts))
                overall[r] = float(np.average([row[r] for row in table[:-1]], weights=counts))
            overall[_tau_name("f_score", tau)] = float(harmonic_mean(overall[p], overall[r], np.nan))
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
class OnetProtocol(Protocol):
    n_points: int = 100_000
    thresholds: tuple[float, ...] = ()

    def evaluate(self, pred, gt, rng):
        if pred.empty:
            # eval.py: EMPTY_PCL_DICT and EMPTY_PCL_DICT_NORMALS hold no 'chamfer-L1', 'chamfer-L2' or
            # 'f-score' key, so the DataFrame has NaN there; 'iou' is set to 0.
            out = {
                "iou": 0.0,
                "accuracy": float(np.sqrt(3)),
                "completeness": float(np.sqrt(3)),
                "chamfer_l1": float("nan"),
                "chamfer_l2": float("nan"),
                "normals": -1.0,
            }
            out.update({_tau_name("f_score", t): float("nan") for t in self.thresholds})
            return out
        loc, scale = bbox_frame(gt.surface_points)
        if pred.has_mesh:
            occupied, target = _inside(pred, gt.occupancy_points), np.asarray(gt.occupancy, bool)
            union = np.logical_or(occupied, target).sum()
            # im2mesh/common.py compute_iou: intersection / union, NaN (0 / 0) when both sets are empty.
            out = {"iou": float(np.logical_and(occupied, target).sum() / union) if union else float("nan")}
            points, normals = _surface(pred, self.n_points, rng)
        else:  # eval_pointcloud(pointcloud, pointcloud_tgt): every point, no normals, no IoU
            out = {"iou": float("nan")}
            points, normals = np.asarray(pred.points, np.float64), None
        gt_points = (np.asarray(gt.surface_points, np.float64) - loc) / scale
        d = point_distances((points - loc) / scale, gt_points)
        accuracy, completeness = float(d.pred_to_gt.mean()), float(d.gt_to_pred.mean())
        out.update(
            accuracy=accuracy,
            completeness=completeness,
            chamfer_l1=0.5 * (accuracy + completeness),
            chamfer_l2=d.chamfer(squared=True, reduction="mean", combine="mean"),
            normals=float("nan") if normals is None else d.normal_consistency(normals, gt.surface_normals),
        )
        if self.thresholds:  # F = 2PR / (P + R): NaN where P + R = 0, as numpy gives it
            precision, recall = d.precision_recall(self.thresholds)
            for tau, f in zip(self.thresholds, harmonic_mean(precision, recall, np.nan), strict=True):
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


def pix3d_sample_triangles(
    vertices: np.ndarray, faces: np.ndarray, density: float, rng: np.random.Generator
) -> np.ndarray:
    """Pix3D's ``_sample_ptcld_vf``: ``max(int(area · density), 1)`` uniform points on every triangle.

    A point of triangle (a, b, c) is ``(1 - √r1) a + √r1 (1 - r2) b + √r1 r2 c`` with r1, r2
    uniform in [0, 1). Every triangle gets at least one point, whatever its area: at Pix3D's first
    density almost all get exactly one, so the cloud is uniform over triangles, not over area.

    Args:
        vertices: (V, 3) float vertices.
        faces: (F, 3) int triangles.
        density: points per unit area.
        rng: draws √r1 for all points, then r2 (the loop draws them per triangle; same law).

    Returns:
        (P, 3) float32 points, the triangles' in order, P = Σ max(int(area · density), 1).
    """
    tri = np.asarray(vertices, np.float64)[np.asarray(faces, np.int64)]
    area = np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1) / 2
    counts = np.maximum((area * density).astype(np.int64), 1)
    which = np.repeat(np.arange(len(tri)), counts)
    sqrt_r1 = np.sqrt(rng.random(len(which)))[:, None]
    r2 = rng.random(len(which))[:, None]
    t = tri[which]
    points = (1 - sqrt_r1) * t[:, 0] + sqrt_r1 * (1 - r2) * t[:, 1] + r2 * sqrt_r1 * t[:, 2]
    return points.astype(np.float32)


def pix3d_surface_points(
    voxels: np.ndarray, num: int, rng: np.random.Generator, threshold: float = 0.1
) -> np.ndarray | None:
    """Pix3D's ``get_surface_points``: ``num`` points on the iso-surface of a voxel grid at ``threshold``.

    Marching cubes of the grid at ``threshold`` (vertices in voxel index units), then
    :func:`pix3d_sample_triangles` at density ``5e-7 / n²`` (n = the grid's size), doubled until
    there are at least ``num`` points; ``num`` of them at random, without replacement. Pix3D runs
    skimage's ``marching_cubes_lewiner``, recon PyMCubes: the vertices are the same (one per edge
    crossing, linearly interpolated; tested), the triangulation may differ in the cube
    configurations the two resolve differently.

    Args:
        voxels: (n, n, n) occupancy values (bool or float; Pix3D's ground truth: 0/1).
        num: points wanted.
        rng: the draws.
        threshold: the iso level (``--threshold``, 0.1).

    Returns:
        (num, 3) float32 points in voxel index units, or None where Pix3D's
        ``load_pts_from_list`` takes a dummy cloud: no value reaches ``threshold`` (or, where Pix3D
        would loop forever, the iso-surface has no triangle).
    """
    import mcubes

    v = np.asarray(voxels, np.float64)
    if v.max() < threshold:
        return None
    vertices, faces = mcubes.marching_cubes(v, threshold)
    if len(faces) == 0:
        return None
    density = 5e-7 / (v.shape[0] ** 2)
    points = pix3d_sample_triangles(vertices, faces, density, rng)
    while len(points) < num:
        density *= 2
        points = pix3d_sample_triangles(vertices, faces, density, rng)
    return points[rng.permutation(len(points))[:num]]


@dataclass(frozen=True)
class Pix3dProtocol(Protocol):
    n_points: int = 1024
    resolution: int = 128

    def evaluate(self, pred, gt, rng):
        from recon.evaluate.emd import pix3d_auction_match

        res = self.resolution if self.resolution in gt.voxels else max(gt.voxels)
        gt_points = self.points(gt.voxels[res], rng)
        if pred.voxels:  # "voxels" mode: the iso-surface of its grid (this resolution, else its finest)
            n = self.resolution if self.resolution in pred.voxels else max(pred.voxels)
            pred_points = self.points(pred.voxels[n], rng)
        elif pred.empty:
            pred_points = np.zeros((self.n_points, 3))
        else:  # "points" mode: the point cloud, or area-weighted samples of the mesh
            pred_points = _normalized(_cloud(pred, self.n_points, rng))
        d = point_distances(pred_points, gt_points)
        out: dict[str, float] = {"chamfer": d.chamfer(squared=False, reduction="mean", combine="sum")}
        out["emd"] = pix3d_auction_match(pred_points, gt_points).emd
        p = pix3d_resample(_occupancy(pred, res, gt.voxel_half_extent))
        g = pix3d_resample(gt.voxels[res].astype(np.float64))
        for t in PIX3D_IOU_THRESHOLDS:
            inter = np.logical_and(p > t, g > t).sum()
            union = np.logical_or(p > t, g > t).sum()
            out[_tau_name("iou", t)] = float(inter / union) if union else 0.0
        return out

    def points(self, voxels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``load_pts_from_list`` in "voxels" mode: (N, 3) iso-surface points, box-normalized, or zeros."""
        points = pix3d_surface_points(voxels, self.n_points, rng)
        return np.zeros((self.n_points, 3)) if points is None else _normalized(points)

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
# GenRe
# --------------------------------------------------------------------------------------------------

#: GenRe's per-class threshold search (GenRe-ShapeHD issue #67): 0.30, 0.35, ..., 0.50.
GENRE_THRESHOLDS = tuple(round(0.3 + 0.05 * k, 2) for k in range(5))


def genre_surface_voxels(voxels: np.ndarray) -> np.ndarray:
    """GenRe's surface-only voxels: ``vox - binary_erosion(vox, ones((3, 3, 3)), iterations=2)``.

    The shell GenRe trains its refiner on (``models/genre_full_model.py:93``) and, per its authors
    (issue #67), the ground truth its Chamfer distances were measured against: the voxels of the
    filled grid within two 26-connected steps of an empty voxel or of the grid's border.

    Args:
        voxels: (n, n, n) bool (or 0/1) filled voxels.

    Returns:
        (n, n, n) bool.
    """
    from scipy.ndimage import binary_erosion

    filled = np.asarray(voxels, bool)
    return filled & ~binary_erosion(filled, structure=np.ones((3, 3, 3)), iterations=2)


@dataclass(frozen=True)
class GenreProtocol(Protocol):
    n_points: int = 1024
    resolution: int = 128
    gt_level: float = 0.5
    thresholds: tuple[float, ...] = GENRE_THRESHOLDS

    def evaluate(self, pred, gt, rng):
        res = self.resolution if self.resolution in gt.voxels else max(gt.voxels)
        gt_points = self.points(genre_surface_voxels(gt.voxels[res]), self.gt_level, rng)
        if pred.voxels:  # the iso-surface of its probabilities at each threshold
            n = self.resolution if self.resolution in pred.voxels else max(pred.voxels)
            clouds = [self.points(pred.voxels[n], t, rng) for t in self.thresholds]
        else:  # a mesh has no threshold: one cloud for all
            cloud = (
                np.zeros((self.n_points, 3)) if pred.empty else _normalized(_cloud(pred, self.n_points, rng))
            )
            clouds = [cloud] * len(self.thresholds)
        return {
            _tau_name("chamfer", t): point_distances(c, gt_points).chamfer(
                squared=False, reduction="mean", combine="sum"
            )
            for t, c in zip(self.thresholds, clouds, strict=True)
        }

    def points(self, voxels: np.ndarray, level: float, rng: np.random.Generator) -> np.ndarray:
        """(N, 3) points of a grid's iso-surface at ``level``, box-normalized; zeros where none reaches it."""
        points = pix3d_surface_points(np.asarray(voxels, np.float64), self.n_points, rng, threshold=level)
        return np.zeros((self.n_points, 3)) if points is None else _normalized(points)

    def item_metrics(self, rows):
        return [_tau_name("chamfer", t) for t in self.thresholds]

    def summarize(self, rows):
        """Per category, the threshold with the lowest mean CD (``chamfer``, ``chamfer_threshold``);
        the ``all`` row: the mean of the categories' CDs, each at its own threshold (no single one:
        ``chamfer_threshold`` NaN)."""
        table = super().summarize(rows)
        names = [_tau_name("chamfer", t) for t in self.thresholds]
        for row in table[:-1]:
            values = np.array([row[n] for n in names], np.float64)
            best = int(np.nanargmin(values)) if not np.isnan(values).all() else 0
            row["chamfer"] = float(values[best])
            row["chamfer_threshold"] = self.thresholds[best]
        table[-1]["chamfer"] = nanmean([row["chamfer"] for row in table[:-1]])
        table[-1]["chamfer_threshold"] = float("nan")
        for row in table:
            for n in names:
                row.pop(n, None)
        return table


# --------------------------------------------------------------------------------------------------
# 3D-R2N2
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class R2n2Protocol(Protocol):
    resolution: int = 32
    threshold: float = 0.4

    def evaluate(self, pred, gt, rng):
        p = _occupancy(pred, self.resolution, gt.voxel_half_extent)
        return {"iou": float(iou(p >= self.threshold, gt.voxels[self.resolution], ndim=3))}

    def overall(self, metric, categories, objects):
        return float(np.mean([o[metric] for o in objects])) if objects else float("nan")


PROTOCOLS: dict[str, Protocol] = {
    "disn": DisnProtocol(
        name="disn",
        source="Xharlie/DISN test/test_cd_emd.py, test/test_f_score.py, test/test_iou.py",
        metrics=_DISN_METRICS,
        higher_is_better={"chamfer": False, "emd": False},
    ),
    "onet": OnetProtocol(
        name="onet",
        source="autonomousvision/occupancy_networks im2mesh/eval.py, eval_meshes.py",
        metrics=("iou", "chamfer_l1", "chamfer_l2", "normals", "accuracy", "completeness"),
        higher_is_better={"chamfer_l1": False, "chamfer_l2": False, "accuracy": False, "completeness": False},
    ),
    "convonet": OnetProtocol(
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
    "pix3d": Pix3dProtocol(
        name="pix3d",
        source="xingyuansun/pix3d eval/eval.py",
        metrics=("iou", "iou_threshold", "chamfer", "emd"),
        higher_is_better={"chamfer": False, "emd": False},
    ),
    "r2n2": R2n2Protocol(name="r2n2", source="chrischoy/3D-R2N2 lib/voxel.py", metrics=("iou",)),
    "genre": GenreProtocol(
        name="genre",
        source="xiumingzhang/GenRe-ShapeHD toolbox/nndistance, issue #67; xingyuansun/pix3d eval/eval.py",
        metrics=("chamfer", "chamfer_threshold"),
        higher_is_better={"chamfer": False},
    ),
}


def get_protocol(name: str) -> Protocol:
    """The protocol called ``name``; a ValueError lists the known ones."""
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise ValueError(f"unknown evaluation protocol {name!r}; known: {', '.join(PROTOCOLS)}") from None
