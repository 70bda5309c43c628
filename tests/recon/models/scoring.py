"""Scores the overfit tests compare: a model's meshes and the category mean shape, per protocol.

Every family's overfit test trains on the 6 train shapes of the ``packed`` fixture and must beat the
category mean shape (``recon.evaluate.baselines.mean_shape``) on the same shapes under its preset.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from recon.evaluate.baselines import mean_shape
from recon.evaluate.protocols import get_protocol
from recon.io.loader import PackedDataset, collate
from recon.io.packed import PackedSplit
from recon.io.predictions import Prediction
from recon.models.method import PredictContext, get_method


def mean_metrics(rows: Sequence[dict[str, float]], keys: Sequence[str]) -> dict[str, float]:
    """The mean over items of each metric in ``keys`` (rows: one metric dict per item)."""
    return {k: float(np.mean([r[k] for r in rows])) for k in keys}


def mean_shape_scores(split: PackedSplit, protocols: Sequence[str]) -> dict[str, list[dict[str, float]]]:
    """The category mean shape of ``split`` (its own shapes as the train split) scored on each shape.

    Returns:
        ``{protocol: [metrics of shape 0, shape 1, ...]}``, each evaluated with ``default_rng(0)``.
    """
    items, meshes, voxels, _ = mean_shape(split, split)
    scores: dict[str, list[dict[str, float]]] = {p: [] for p in protocols}
    for s, item in enumerate(items):
        prediction = Prediction(*meshes[item.mesh], {n: v[item.mesh] for n, v in voxels.items()})
        gt = split.ground_truth(s)
        for p in protocols:
            scores[p].append(get_protocol(p).evaluate(prediction, gt, np.random.default_rng(0)))
    return scores


def score(prediction: Prediction, split: PackedSplit, shape: int, protocol: str) -> dict[str, float]:
    """One prediction of shape ``shape`` of ``split`` scored under ``protocol`` (``default_rng(0)``)."""
    return get_protocol(protocol).evaluate(prediction, split.ground_truth(shape), np.random.default_rng(0))


def model_scores(
    name: str, config, model, split: PackedSplit, store, protocol: str
) -> list[dict[str, float]]:
    """The model's predictions from view 0 of every shape of ``split``, scored under ``protocol``.

    ``name`` is the registered family; ``config`` its ``Config``; ``model`` the bare network (set to eval).
    A family with ``predict_points`` predicts its cloud too, as the prediction stores keep it.

    Returns:
        One metric dict per shape, in the split's order.
    """
    method = get_method(name)
    targets = {k: v for k, v in method.targets(config).items() if k != "targets"}
    dataset = PackedDataset(store, targets=("image", "camera"), seed=0, views=[0], **targets)
    context = PredictContext.of(split)
    model.eval()
    scores = []
    for i in range(len(dataset)):
        batch = collate([dataset[i]])
        ((vertices, faces),) = method.predict_mesh(model, batch, config, context)
        points = None
        if hasattr(method, "predict_points"):
            (points,) = method.predict_points(model, batch, config, context)
        prediction = Prediction(vertices, faces, points=points)
        scores.append(score(prediction, split, int(batch["shape_index"][0]), protocol))
    return scores


def r2n2_iou(name: str, config, model, split: PackedSplit, store) -> float:
    """Mean r2n2-protocol IoU (32³ at 0.4) of the model's meshes from view 0 (:func:`model_scores`)."""
    return mean_metrics(model_scores(name, config, model, split, store, "r2n2"), ["iou"])["iou"]
