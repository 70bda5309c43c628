"""Predictions of a trained model for a packed split, written as a prediction store for evaluation.

:func:`predict_split` loads a training run (its ``config.yaml`` and the best checkpoint, else the
last), predicts a mesh for the first ``views`` views of every shape of the split with the method's
:meth:`~recon.models.method.Method.predict_mesh` (given the split's
:class:`~recon.models.method.PredictContext`), and, for methods that predict voxels
(``predict_voxels``), keeps their 32³ probabilities for the voxel protocols. The store's layout is
:mod:`recon.io.predictions`' (docs/data_format.md §5.6), the same as the baselines'.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from tqdm import tqdm

from recon.io.predictions import Item, write_predictions
from recon.io.store import provenance

__all__ = ["load_run", "predict_split"]

log = logging.getLogger(__name__)


def load_run(run_dir: Path | str, device: str = "cpu"):
    """``(method, config, model)`` of a training run, the model on ``device`` in eval mode.

    The weights are ``checkpoints/best.pt`` (lowest validation loss) when the run validated,
    else ``checkpoints/last.pt``.
    """
    import torch

    from recon.train import resolve_experiment

    run_dir = Path(run_dir)
    method, config, _ = resolve_experiment(run_dir / "config.yaml")
    checkpoints = run_dir / "checkpoints"
    path = checkpoints / "best.pt" if (checkpoints / "best.pt").exists() else checkpoints / "last.pt"
    if not path.exists():
        raise FileNotFoundError(f"{run_dir}: no checkpoint (checkpoints/best.pt or last.pt)")
    model = method.build(config)
    state = torch.load(path, map_location=device, weights_only=True)
    model.load_state_dict(state["model"])
    return method, config, model.to(device).eval()


def predict_split(
    run_dir: Path | str,
    split_store: Path | str,
    out_store: Path | str,
    views: int,
    config: Mapping,
    batch_size: int = 8,
) -> int:
    """Predict every shape of a packed split from its first ``views`` views; write the prediction store.

    Args:
        run_dir: ``results/train/<experiment>``.
        split_store: ``results/pack/<split>.zarr``.
        out_store: ``results/predict/<experiment>/<split>.zarr``.
        views: views per shape (``evaluate.views``).
        config: a mapping holding the config's ``seed`` (the workflow passes the keys the
            ``predict_model`` rule declares: ``seed`` and ``evaluate.views``).
        batch_size: items per forward pass.

    Returns:
        The number of items predicted.
    """
    import torch

    from recon.io.loader import PackedDataset, collate
    from recon.io.packed import PackedSplit
    from recon.models.method import PredictContext

    device = "cuda" if torch.cuda.is_available() else "cpu"
    method, model_config, model = load_run(run_dir, device)
    split = PackedSplit(split_store)
    context = PredictContext.of(split)
    targets = dict(method.targets(model_config))
    targets["targets"] = tuple(t for t in targets.get("targets", ()) if t in ("image", "camera"))
    targets.pop("views", None)
    dataset = (
        PackedDataset(split_store, seed=config["seed"], views=list(range(min(views, split.views))), **targets)
        if len(split)
        else []
    )
    items: list[Item] = []
    meshes: list[tuple[np.ndarray, np.ndarray]] = []
    voxels: list[np.ndarray] = []
    predicts_voxels = hasattr(method, "predict_voxels")
    for start in tqdm(range(0, len(dataset), batch_size), desc=Path(run_dir).name, unit="batch"):
        batch = collate([dataset[i] for i in range(start, min(start + batch_size, len(dataset)))])
        batch = {k: v.to(device) if hasattr(v, "to") else v for k, v in batch.items()}
        with torch.no_grad():
            meshes.extend(method.predict_mesh(model, batch, model_config, context))
            if predicts_voxels:
                voxels.extend(method.predict_voxels(model, batch, model_config).float().cpu().numpy())
        for s, v in zip(batch["shape_index"].tolist(), batch["view"].tolist(), strict=True):
            items.append(Item(split.categories[s], split.shape_ids[s], int(v), len(items)))
    grids = {}
    if predicts_voxels and voxels:
        grids = {voxels[0].shape[0]: np.stack(voxels)}
    attributes = {
        "method": Path(run_dir).name,
        "split": str(split.root.attrs["pack"]["split"]),
        "voxel_half_extent": split.voxel_half_extent,
        "info": {"method": method.name, "run": Path(run_dir).name},
        "provenance": provenance("predict", {"run": Path(run_dir).name, "views": views}, config["seed"]),
    }
    write_predictions(out_store, items, meshes, attributes, grids)
    log.info("%s: %d items predicted", Path(run_dir).name, len(items))
    return len(items)
