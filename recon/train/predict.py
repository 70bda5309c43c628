"""Predictions of a trained model for a packed split, written as a prediction store for evaluation.

:func:`predict_split` loads a training run (its ``config.yaml`` and the best checkpoint, else the
last), predicts a mesh for the first ``views`` views of every shape of the split with the method's
:meth:`~recon.models.method.Method.predict_mesh` (given the split's
:class:`~recon.models.method.PredictContext`), and, for methods that predict voxels
(``predict_voxels``), keeps their 32³ probabilities for the voxel protocols. The store's layout is
:mod:`recon.io.predictions`' (docs/data_format.md §5.6), the same as the baselines'.

A method may predict with the trained models of other experiments (its
:meth:`~recon.models.method.Method.upstream`, e.g. DISN's separately trained camera network), and in
several ways from one trained model (its :meth:`~recon.models.method.Method.predict_variants`, e.g.
3D-R2N2 from 1 to 5 views), each variant evaluated as the method ``<experiment>@<variant>``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from tqdm import tqdm

from recon.io.predictions import Item, write_predictions
from recon.io.store import provenance

__all__ = ["apply_variant", "load_run", "predict_split", "prediction_plan", "split_name"]

log = logging.getLogger(__name__)


def load_run(run_dir: Path | str, device: str = "cpu", variant: str | None = None):
    """``(method, config, model)`` of a training run, the model on ``device`` in eval mode.

    The weights are ``checkpoints/best.pt`` (best validation, :attr:`Method.selection`) when the run
    validated, else ``checkpoints/last.pt``. ``variant`` names one of the method's
    :meth:`~recon.models.method.Method.predict_variants`, whose overrides the returned config holds
    (the model is built with the trained config).

    Raises:
        FileNotFoundError: no checkpoint.
        ValueError: an unknown variant.
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
    if variant is not None:
        config = apply_variant(method, config, variant)
    return method, config, model.to(device).eval()


def apply_variant(method, config, variant: str):
    """``config`` with the overrides of ``method``'s prediction variant ``variant``.

    Raises:
        ValueError: the method has no such variant.
    """
    from recon.models.method import build_config, config_to_dict

    variants = method.predict_variants(config)
    if variant not in variants:
        raise ValueError(f"{method.name} has no prediction variant {variant!r}; it has {sorted(variants)}")
    return build_config(method.Config, {**config_to_dict(config), **variants[variant]}, where="model")


def split_name(name: str) -> tuple[str, str | None]:
    """``(experiment, variant)`` of an evaluated name ``<experiment>`` or ``<experiment>@<variant>``."""
    experiment, _, variant = name.partition("@")
    return experiment, variant or None


def prediction_plan(experiment: Path | str) -> tuple[dict[str, str], list[str]]:
    """``(upstream, variants)`` of an experiment file: the experiments whose trained models its
    predictions need, by role (:meth:`~recon.models.method.Method.upstream`), and the names of its
    prediction variants (:meth:`~recon.models.method.Method.predict_variants`)."""
    from recon.train import resolve_experiment

    method, config, _ = resolve_experiment(experiment)
    return dict(method.upstream(config)), sorted(method.predict_variants(config))


def predict_split(
    run_dir: Path | str,
    split_store: Path | str,
    out_store: Path | str,
    views: int,
    config: Mapping,
    variant: str | None = None,
    batch_size: int = 8,
) -> int:
    """Predict every shape of a packed split from its first ``views`` views; write the prediction store.

    Args:
        run_dir: ``results/train/<experiment>``; the runs the method's
            :meth:`~recon.models.method.Method.upstream` names are its siblings
            (``results/train/<name>``).
        split_store: ``results/pack/<split>.zarr``.
        out_store: ``results/predict/<experiment>[@<variant>]/<split>.zarr``.
        views: views per shape (``evaluate.views``).
        config: a mapping holding the config's ``seed`` (the workflow passes the keys the
            ``predict_model`` rule declares: ``seed`` and ``evaluate.views``).
        variant: a prediction variant of the method (None: the trained config as is).
        batch_size: items per forward pass.

    Returns:
        The number of items predicted.
    """
    import torch

    from recon.io.loader import collate
    from recon.io.packed import PackedSplit
    from recon.models.method import PredictContext

    device = "cuda" if torch.cuda.is_available() else "cpu"
    run_dir = Path(run_dir)
    method, model_config, model = load_run(run_dir, device, variant)
    upstream = {
        role: load_run(run_dir.parent / name, device)[2]
        for role, name in method.upstream(model_config).items()
    }
    split = PackedSplit(split_store)
    context = PredictContext.of(split, upstream)
    dataset = (
        method.predict_dataset(
            split_store, model_config, config["seed"], list(range(min(views, split.views)))
        )
        if len(split)
        else []
    )
    name = run_dir.name if variant is None else f"{run_dir.name}@{variant}"
    items: list[Item] = []
    meshes: list[tuple[np.ndarray, np.ndarray]] = []
    voxels: list[np.ndarray] = []
    clouds: list[np.ndarray] = []
    predicts_voxels = hasattr(method, "predict_voxels")
    predicts_points = hasattr(method, "predict_points")
    for start in tqdm(range(0, len(dataset), batch_size), desc=name, unit="batch"):
        batch = collate([dataset[i] for i in range(start, min(start + batch_size, len(dataset)))])
        batch = {k: v.to(device) if hasattr(v, "to") else v for k, v in batch.items()}
        with torch.no_grad():
            meshes.extend(method.predict_mesh(model, batch, model_config, context))
            if predicts_voxels:
                voxels.extend(
                    method.predict_voxels(model, batch, model_config, context).float().cpu().numpy()
                )
            if predicts_points:
                clouds.extend(
                    np.asarray(p, np.float32)
                    for p in method.predict_points(model, batch, model_config, context)
                )
        for s, v in zip(batch["shape_index"].tolist(), batch["view"].tolist(), strict=True):
            items.append(Item(split.categories[s], split.shape_ids[s], int(v), len(items)))
    grids = {}
    if predicts_voxels and voxels:
        grids = {voxels[0].shape[0]: np.stack(voxels)}
    record = {"run": run_dir.name, "views": views}
    if variant is not None:
        record["variant"] = variant
    attributes = {
        "method": name,
        "split": str(split.root.attrs["pack"]["split"]),
        "voxel_half_extent": split.voxel_half_extent,
        "info": {"method": method.name, "run": run_dir.name},
        "provenance": provenance("predict", record, config["seed"]),
    }
    write_predictions(out_store, items, meshes, attributes, grids, clouds if predicts_points else None)
    log.info("%s: %d items predicted", name, len(items))
    return len(items)
