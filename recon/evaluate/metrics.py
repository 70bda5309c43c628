"""Point-cloud and volume metrics: Chamfer, F-score, normal consistency, IoU.

Every distance metric here derives from one nearest-neighbour pass each way
(:func:`point_distances`), which :class:`PointDistances` then reduces in every way the field's
protocols do; a protocol asking for Chamfer, three F-scores and normal consistency pays for one pass.

Names follow the literature, which overloads "L1" and "L2": Occupancy Networks' *Chamfer-L1* is
the mean of (unsquared) Euclidean distances and *Chamfer-L2* the mean of squared Euclidean
distances; no protocol of this field uses the Manhattan norm. Here that is ``squared=False`` and
``squared=True``.

Inputs are numpy arrays or torch tensors, single clouds (N, 3) or batches (B, N, 3); outputs
follow the input (numpy float64 / torch float32 on the input's device), with the batch axis
when there is one. On CPU the nearest neighbours come from a k-d tree (pykdtree, OpenMP); torch
tensors on a GPU use chunked ``torch.cdist`` on the device.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "PointDistances",
    "chamfer_distance",
    "f_score",
    "harmonic_mean",
    "iou",
    "iou_voxels",
    "nearest_neighbors",
    "normal_consistency",
    "point_distances",
]


def _is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch")


def _nn_numpy(query: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from pykdtree.kdtree import KDTree

    q = np.asarray(query, dtype=np.float64)
    r = np.asarray(reference, dtype=np.float64)
    if len(r) == 0:
        return np.full(len(q), np.inf), np.full(len(q), -1, np.int64)
    if len(q) == 0:
        return np.zeros(0), np.zeros(0, np.int64)
    # The search runs in float32 (twice as fast); the distance to the neighbour found is then
    # computed in float64. Only neighbours tied to ~1e-7 relative can differ from a float64 search.
    tree = KDTree(np.ascontiguousarray(r, dtype=np.float32), leafsize=32)
    _, index = tree.query(np.ascontiguousarray(q, dtype=np.float32), k=1)
    index = index.astype(np.int64)
    return np.linalg.norm(q - r[index], axis=1), index


def _nn_torch(query, reference, chunk_elements: int = 1 << 24):
    import torch

    if reference.shape[0] == 0:
        return (
            torch.full(query.shape[:1], float("inf"), device=query.device),
            torch.full(query.shape[:1], -1, dtype=torch.int64, device=query.device),
        )
    rows = max(1, chunk_elements // max(1, reference.shape[0]))
    dist, index = [], []
    for start in range(0, query.shape[0], rows):
        q = query[start : start + rows].float()
        # cdist's matrix-product form picks the neighbour; the distance is then recomputed
        # directly, free of its cancellation error (~1e-5 relative in float32).
        i = torch.cdist(q, reference.float()).argmin(dim=1)
        dist.append((q - reference[i].float()).norm(dim=-1))
        index.append(i)
    if not dist:
        return query.new_zeros(0), torch.zeros(0, dtype=torch.int64, device=query.device)
    return torch.cat(dist), torch.cat(index)


def nearest_neighbors(query, reference):
    """Euclidean distance from every query point to its nearest reference point, and its index.

    Args:
        query: (N, 3) or (B, N, 3) points, numpy or torch.
        reference: (M, 3) or (B, M, 3) points, same kind and batch size.

    Returns:
        ``(distance, index)``: (N,) / (B, N) distances (float64 numpy, or float32 torch on the
        input's device) and int64 indices into ``reference``. With an empty reference every
        distance is ``inf`` and every index -1.
    """
    if _is_torch(query):
        import torch

        if query.device.type == "cpu":
            d, i = nearest_neighbors(query.detach().numpy(), reference.detach().numpy())
            return torch.from_numpy(d).float(), torch.from_numpy(i)
        if query.dim() == 2:
            return _nn_torch(query, reference)
        pairs = [_nn_torch(q, r) for q, r in zip(query, reference, strict=True)]
        return torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs])
    query, reference = np.asarray(query), np.asarray(reference)
    if query.ndim == 2:
        return _nn_numpy(query, reference)
    if query.ndim != 3 or reference.ndim != 3 or len(query) != len(reference):
        raise ValueError(f"expected (N, 3) or (B, N, 3) clouds, got {query.shape} and {reference.shape}")
    pairs = [_nn_numpy(q, r) for q, r in zip(query, reference, strict=True)]
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])


def _fraction(mask):
    return mask.float().mean(-1) if _is_torch(mask) else mask.mean(-1)


@dataclass(frozen=True)
class PointDistances:
    """Nearest-neighbour distances between a predicted and a ground-truth cloud, both ways.

    Attributes:
        pred_to_gt: (N,) or (B, N) Euclidean distance from each predicted point to the ground
            truth: the *accuracy* side (Occupancy Networks), *forward* in DISN and PSGN.
        gt_to_pred: (M,) or (B, M) from each ground-truth point to the prediction: the
            *completeness* side, *backward*.
        pred_index: index of the nearest ground-truth point of each predicted point.
        gt_index: index of the nearest predicted point of each ground-truth point.
    """

    pred_to_gt: Any
    gt_to_pred: Any
    pred_index: Any
    gt_index: Any

    def chamfer(self, squared: bool = True, reduction: str = "mean", combine: str = "sum"):
        """Chamfer distance ``combine(reduce(d_pred→gt^p), reduce(d_gt→pred^p))``, p = 2 if squared.

        Args:
            squared: square the Euclidean distances first (Chamfer-L2) or not (Chamfer-L1).
            reduction: ``mean`` or ``sum`` over the points of each direction.
            combine: ``sum`` of the two directions (DISN, PSGN, Pix3D) or their ``mean``
                (Occupancy Networks' ½(accuracy + completeness)).

        Returns:
            A float (or (B,) values for a batch).
        """
        if reduction not in ("mean", "sum") or combine not in ("mean", "sum"):
            raise ValueError(f"reduction and combine must be 'mean' or 'sum', got {reduction!r}, {combine!r}")
        a, b = self.pred_to_gt, self.gt_to_pred
        if squared:
            a, b = a * a, b * b
        a, b = (a.mean(-1), b.mean(-1)) if reduction == "mean" else (a.sum(-1), b.sum(-1))
        total = a + b
        return _scalar(total if combine == "sum" else 0.5 * total)

    def precision_recall(self, thresholds: Sequence[float], strict: bool = False):
        """Precision and recall at each distance threshold τ.

        ``precision(τ)`` is the fraction of predicted points within τ of the ground truth and
        ``recall(τ)`` the fraction of ground-truth points within τ of the prediction, each
        divided by its own cloud's size: exact for clouds of different sizes (Kaolin's f_score
        counts false negatives on the other cloud and is exact only for equal sizes).

        Args:
            thresholds: T distances τ, in the clouds' units.
            strict: count ``d < τ`` (DISN) instead of ``d <= τ`` (Occupancy Networks, ConvONet,
                what3d).

        Returns:
            ``(precision, recall)``, each (T,) or (B, T).
        """
        taus = list(thresholds)
        if strict:
            p = [_fraction(self.pred_to_gt < t) for t in taus]
            r = [_fraction(self.gt_to_pred < t) for t in taus]
        else:
            p = [_fraction(self.pred_to_gt <= t) for t in taus]
            r = [_fraction(self.gt_to_pred <= t) for t in taus]
        return _stack_last(p), _stack_last(r)

    def f_score(self, thresholds: Sequence[float], strict: bool = False):
        """F-score ``2 P R / (P + R)`` at each threshold (0 where P + R = 0); see :meth:`precision_recall`.

        Returns:
            (T,) or (B, T) F-scores in [0, 1].
        """
        p, r = self.precision_recall(thresholds, strict)
        return harmonic_mean(p, r)

    def normal_consistency(self, pred_normals, gt_normals):
        """Mean absolute cosine between each point's normal and its nearest neighbour's, both ways.

        ``½ (mean_i |n̂_i · m̂_nn(i)| + mean_j |m̂_j · n̂_nn(j)|)`` with unit normals, as Occupancy
        Networks' ``normals`` metric (``im2mesh/eval.py``: ``distance_p2p``); 1 for identical
        clouds, orientation-blind.

        Args:
            pred_normals: (N, 3) or (B, N, 3) normals of the predicted points.
            gt_normals: (M, 3) or (B, M, 3) normals of the ground-truth points.
        """
        n, m = _unit(pred_normals), _unit(gt_normals)
        accuracy = _abs_dot(n, _gather(m, self.pred_index)).mean(-1)
        completeness = _abs_dot(m, _gather(n, self.gt_index)).mean(-1)
        return _scalar(0.5 * (accuracy + completeness))


def _scalar(x):
    if _is_torch(x):
        return x
    x = np.asarray(x, dtype=np.float64)
    return float(x) if x.ndim == 0 else x


def _stack_last(values):
    if values and _is_torch(values[0]):
        import torch

        return torch.stack(values, dim=-1)
    return np.stack([np.asarray(v, np.float64) for v in values], axis=-1)


def harmonic_mean(p, r, undefined: float = 0.0):
    """``2 p r / (p + r)`` elementwise, ``undefined`` where ``p + r = 0``.

    ``undefined`` is 0 by default; NaN gives what numpy's ``2 * p * r / (p + r)`` gives there, as
    ConvONet's ``src/eval.py`` and DISN's ``test/test_f_score.py`` compute it.
    """
    total = p + r
    if _is_torch(total):
        import torch

        return torch.where(
            total > 0, 2 * p * r / total.clamp_min(1e-30), torch.full_like(total, float(undefined))
        )
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, 2.0 * p * r / np.where(total > 0, total, 1.0), float(undefined))


def _unit(normals):
    if _is_torch(normals):
        return normals.float() / normals.float().norm(dim=-1, keepdim=True).clamp_min(1e-12)
    n = np.asarray(normals, dtype=np.float64)
    return n / np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-12)


def _gather(values, index):
    if _is_torch(values):
        import torch

        if values.dim() == 2:
            return values[index]
        return torch.gather(values, 1, index[..., None].expand(*index.shape, values.shape[-1]))
    if values.ndim == 2:
        return values[index]
    return np.take_along_axis(values, index[..., None], axis=1)


def _abs_dot(a, b):
    return (a * b).sum(-1).abs() if _is_torch(a) else np.abs((a * b).sum(-1))


def point_distances(pred, gt) -> PointDistances:
    """One nearest-neighbour pass each way between a predicted and a ground-truth cloud.

    Args:
        pred: (N, 3) or (B, N, 3) predicted points.
        gt: (M, 3) or (B, M, 3) ground-truth points (M may differ from N).

    Returns:
        The :class:`PointDistances` every distance metric reduces.
    """
    d_pred, i_pred = nearest_neighbors(pred, gt)
    d_gt, i_gt = nearest_neighbors(gt, pred)
    return PointDistances(d_pred, d_gt, i_pred, i_gt)


def chamfer_distance(pred, gt, squared: bool = True, reduction: str = "mean", combine: str = "sum"):
    """Chamfer distance between two clouds; see :meth:`PointDistances.chamfer`.

    ``combine(reduce_i d(p_i, G)^q, reduce_j d(g_j, P)^q)`` with ``q = 2`` if ``squared`` else 1,
    ``reduce`` the mean or sum over points and ``combine`` the sum or mean of the two terms.
    Shapes: pred (N, 3) / (B, N, 3), gt (M, 3) / (B, M, 3) → float / (B,).
    """
    return point_distances(pred, gt).chamfer(squared, reduction, combine)


def f_score(pred, gt, thresholds: Sequence[float], strict: bool = False):
    """F-scores at thresholds τ: ``2PR/(P+R)``, P = share of pred within τ of gt, R = of gt within τ of pred.

    Shapes: pred (N, 3) / (B, N, 3), gt (M, 3) / (B, M, 3) → (T,) / (B, T); see
    :meth:`PointDistances.precision_recall` for the counting rule.
    """
    return point_distances(pred, gt).f_score(thresholds, strict)


def normal_consistency(pred, pred_normals, gt, gt_normals):
    """Occupancy Networks' normal consistency of two clouds (:meth:`PointDistances.normal_consistency`).

    Shapes: points and normals (N, 3) / (B, N, 3) and (M, 3) / (B, M, 3) → float / (B,).
    """
    return point_distances(pred, gt).normal_consistency(pred_normals, gt_normals)


def iou(pred, gt, ndim: int = 1):
    """Intersection over union of two boolean sets, over their last ``ndim`` axes.

    ``|P and G| / |P or G|``; 1 when both are empty (identical sets).

    Args:
        pred: (..., *S) bool (occupancy of points: S = (N,); voxel grids: S = (R, R, R), ndim 3).
        gt: same shape, bool.
        ndim: how many trailing axes form one set.

    Returns:
        A float, or an array over the leading axes.
    """
    axes = tuple(range(-ndim, 0))
    if _is_torch(pred):
        inter = (pred & gt).sum(dim=axes).double()
        union = (pred | gt).sum(dim=axes).double()
        import torch

        return torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))
    p, g = np.asarray(pred, bool), np.asarray(gt, bool)
    if p.shape != g.shape:
        raise ValueError(f"IoU of sets of different shapes: {p.shape} and {g.shape}")
    inter = np.logical_and(p, g).sum(axis=axes)
    union = np.logical_or(p, g).sum(axis=axes)
    return _scalar(np.where(union > 0, inter / np.maximum(union, 1), 1.0))


def iou_voxels(pred, gt, threshold: float = 0.5, inclusive: bool = True):
    """IoU of a predicted occupancy grid, thresholded, against a boolean ground-truth grid.

    A voxel is predicted occupied when ``pred >= threshold`` (``inclusive``, 3D-R2N2's
    ``evaluate_voxel_prediction``) or ``pred > threshold`` (Pix3D's ``eval.py``).

    Args:
        pred: (R, R, R) or (B, R, R, R) probabilities (or booleans).
        gt: same shape, bool.
        threshold: the occupancy level.
        inclusive: ``>=`` rather than ``>``.
    """
    occupied = pred >= threshold if inclusive else pred > threshold
    return iou(occupied, gt.bool() if _is_torch(gt) else np.asarray(gt, bool), ndim=3)
