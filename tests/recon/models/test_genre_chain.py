"""GenRe's three stages, each from the previous run, overfit the train shapes past the mean shape;
the rendered depth (the paper's oracle) beats the estimated one on the view no network saw."""

from __future__ import annotations

import numpy as np
import pytest

from recon.models.method import PredictContext
from recon.train import train
from tests.recon.models.scoring import mean_shape_scores
from tests.recon.models.test_methods import SMALL

pytestmark = pytest.mark.workflow


#: GenRe's three stages on the 6 train shapes (views 0-2 of 4), each from the previous run: (steps, lr) at
#: batch 8 and the release's constant rate. The estimator's outputs are in the release's units (x100),
#: which Adam reaches about 5 times sooner at 5e-3.
GENRE_STAGES = {"estimator": (400, 5e-3), "inpaint": (200, 1e-3), "refine": (400, 1e-3)}
GENRE_TRAIN_VIEWS, GENRE_HELD_OUT_VIEW = [0, 1, 2], 3


def _genre_scores(config, model, split, store, view: int) -> list[dict[str, float]]:
    """Per train shape (from ``view``): r2n2-protocol IoU (32³ against the pipeline's voxels) and onet
    Chamfer-L1 and IoU of GenRe's predictions with ``config``."""
    import torch

    from recon.evaluate.protocols import get_protocol
    from recon.io.loader import collate
    from recon.io.predictions import Prediction
    from recon.models.method import get_method

    method = get_method("genre")
    dataset = method.predict_dataset(store, config, 0, [view])
    context = PredictContext.of(split)
    scores = []
    for i in range(len(dataset)):
        batch = collate([dataset[i]])
        with torch.no_grad():
            ((vertices, faces),) = method.predict_mesh(model, batch, config, context)
        gt = split.ground_truth(int(batch["shape_index"][0]))
        prediction = Prediction(vertices, faces)
        r2n2 = get_protocol("r2n2").evaluate(prediction, gt, np.random.default_rng(0))
        onet = get_protocol("onet").evaluate(prediction, gt, np.random.default_rng(0))
        scores.append({"iou": r2n2["iou"], "onet_iou": onet["iou"], "chamfer_l1": onet["chamfer_l1"]})
    return scores


def _genre_stages(store, stages: dict, tmp_path, depth: str = "predicted", start: str = "") -> str:
    """Train GenRe's ``stages`` (name -> (steps, lr)) on views 0-2 of the train shapes, each stage from
    the previous run (``train.init_from``); the last run's ``last.pt``."""
    from recon.io.loader import PackedDataset
    from recon.models.method import get_method, method_config

    method, previous = get_method("genre"), start
    for stage, (steps, lr) in stages.items():
        settings = {"steps": steps, "batch_size": 8, "lr": lr, "val_every": 0, "num_workers": 0,
                    "init_from": previous}  # fmt: skip
        config = {**SMALL["genre"], "stage": stage, "depth": depth}
        targets = method.targets(method_config("genre", config))
        views = PackedDataset(store, seed=0, views=GENRE_TRAIN_VIEWS, **targets)
        train("genre", config, settings, views, None, tmp_path / f"{stage}-{depth}", progress=False)
        previous = str(tmp_path / f"{stage}-{depth}" / "checkpoints" / "last.pt")
    return previous


def _genre_model(checkpoint: str):
    import torch

    from recon.models.method import get_method, method_config

    model = get_method("genre").build(method_config("genre", SMALL["genre"]))
    model.load_state_dict(torch.load(checkpoint, weights_only=True)["model"])
    return model.eval()


@pytest.fixture(scope="module")
def genre_estimator(packed, tmp_path_factory) -> str:
    """GenRe's estimator overfit on views 0-2 of the train shapes (checkpoint path)."""
    store = packed / "results" / "pack" / "train.zarr"
    return _genre_stages(store, {"estimator": GENRE_STAGES["estimator"]}, tmp_path_factory.mktemp("genre"))


def test_genre_chain_overfits_past_the_mean_shape(packed, genre_estimator, tmp_path):
    """The three stages as released, each started from the previous run (train.init_from), overfit the
    train shapes (views 0-2) past the category mean shape under the r2n2 and onet protocols, with the
    estimated depth and with the rendered one (``@oracle_depth``)."""
    from recon.io.packed import PackedSplit
    from recon.models.method import method_config

    store = packed / "results" / "pack" / "train.zarr"
    split = PackedSplit(store)
    later = {k: v for k, v in GENRE_STAGES.items() if k != "estimator"}
    model = _genre_model(_genre_stages(store, later, tmp_path, start=genre_estimator))
    config = method_config("genre", SMALL["genre"])
    oracle_config = method_config("genre", {**SMALL["genre"], "depth": "true"})
    runs = {"genre": _genre_scores(config, model, split, store, GENRE_TRAIN_VIEWS[0])}
    runs["oracle"] = _genre_scores(oracle_config, model, split, store, GENRE_TRAIN_VIEWS[0])
    baseline = mean_shape_scores(split, ["r2n2", "onet"])
    runs["mean shape"] = [
        {"iou": r2n2["iou"], "onet_iou": onet["iou"], "chamfer_l1": onet["chamfer_l1"]}
        for r2n2, onet in zip(baseline["r2n2"], baseline["onet"], strict=True)
    ]
    mean = {
        k: {name: float(np.mean([r[k] for r in rows])) for name, rows in runs.items()}
        for k in runs["genre"][0]
    }
    print(f"genre on its 6 train shapes (train view 0): {mean}")
    for run in ("genre", "oracle"):
        assert mean["iou"][run] > mean["iou"]["mean shape"] + 0.03, run
        assert mean["onet_iou"][run] > mean["onet_iou"]["mean shape"] + 0.05, run
        assert mean["chamfer_l1"][run] < 0.8 * mean["chamfer_l1"]["mean shape"], run


def test_genre_rendered_depth_beats_the_estimated_one_on_every_shape(packed, genre_estimator, tmp_path):
    """The paper's oracle ablation (``@oracle_depth``), on the view no network saw (view 3) of every
    overfit shape: the rendered depth in place of the estimated one scores better, in IoU and in
    Chamfer-L1.

    The later stages here train on the rendered depth (``depth: true``, the release's
    ``--load_offline`` inputs), so that the ablation measures what the depth estimate costs. Trained on
    the estimator's depth, as released, they learn its errors: on the train views the overfit
    estimator's depth then ties with the rendered one, and on held-out views either may win.

    Measured (2026-12-07, 2 cores, with the previous test about 3 minutes), r2n2 IoU per shape
    estimated 0.505 0.327 0.467 0.454 0.278 0.321, rendered 0.560 0.787 0.866 0.593 0.539 0.638;
    onet Chamfer-L1 0.056 0.066 0.099 0.053 0.080 0.104 against 0.051 0.036 0.033 0.039 0.054 0.043.
    The previous test, on train view 0: IoU 0.696 (rendered depth 0.699, mean shape 0.580), onet IoU
    0.691 (0.689, 0.479), Chamfer-L1 0.039 (0.039, 0.082)."""
    from recon.io.packed import PackedSplit
    from recon.models.method import method_config

    store = packed / "results" / "pack" / "train.zarr"
    split = PackedSplit(store)
    later = {k: v for k, v in GENRE_STAGES.items() if k != "estimator"}
    model = _genre_model(_genre_stages(store, later, tmp_path, depth="true", start=genre_estimator))
    runs = {}
    for name, depth in (("estimated", "predicted"), ("rendered", "true")):
        config = method_config("genre", {**SMALL["genre"], "depth": depth})
        runs[name] = _genre_scores(config, model, split, store, GENRE_HELD_OUT_VIEW)
    for k in ("iou", "chamfer_l1"):
        print(
            f"view {GENRE_HELD_OUT_VIEW}, {k} per shape:",
            {n: np.round([r[k] for r in rows], 3).tolist() for n, rows in runs.items()},
        )
    for shape, (ours, oracle) in enumerate(zip(runs["estimated"], runs["rendered"], strict=True)):
        assert oracle["iou"] > ours["iou"], (shape, ours, oracle)
        assert oracle["chamfer_l1"] < ours["chamfer_l1"], (shape, ours, oracle)
