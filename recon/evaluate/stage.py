"""The evaluate stage: a method's predictions against a packed split, under one evaluation protocol.

Writes two tables per (method, protocol): every item's metrics, and the protocol's per-category
summary with an ``all`` row; :func:`gather_summaries` joins the summaries of every method into
one table per protocol, the one the report shows. Every row names its method and protocol (the
``preset`` column). Item rows say whether the predicted mesh was ``empty``; summary rows count those
items (``empty``). A metric the protocol's anchor leaves undefined is NaN, written ``nan``, and
skipped by the means.

A method trained on some categories only (``train.categories``, GenRe's generalization protocol)
is evaluated with ``seen_categories``: its summary then has a ``seen`` and an ``unseen`` row
before ``all`` (which stays last), each aggregated over its group's categories exactly as ``all``
is over every category (:func:`grouped_summary`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from recon.evaluate.protocols import Protocol, get_protocol
from recon.io.packed import PackedSplit, shapes_in_categories
from recon.io.predictions import PredictionSet
from recon.io.tables import read_tsv, write_tsv
from recon.seeding import rng

__all__ = ["evaluate_predictions", "gather_summaries", "grouped_summary", "summary_columns"]

#: The tables' key columns; ``preset`` names the protocol (the tables' format keeps the column's name).
ITEM_KEYS = ("method", "preset", "category", "shape_id", "view", "empty")
SUMMARY_KEYS = ("method", "preset", "category", "objects", "items", "empty")
#: The summary rows of the categories a method was trained on and of the others (``seen_categories``).
GROUP_ROWS = ("seen", "unseen")


def summary_columns(rows: Sequence[Mapping]) -> list[str]:
    """Summary columns: the keys, then the metrics in their first row's order."""
    metrics = [k for k in (rows[0] if rows else {}) if k not in SUMMARY_KEYS]
    return [*SUMMARY_KEYS, *metrics]


def evaluate_predictions(
    predictions: Path | str,
    split_store: Path | str,
    protocol_name: str,
    items_tsv: Path | str,
    summary_tsv: Path | str,
    seed: int,
    seen_categories: Sequence[str] | None = None,
) -> list[dict]:
    """Evaluate every item of a prediction store under one protocol; write both tables.

    Random draws (point samples) come from ``rng(seed, "evaluate", protocol, method, category,
    shape_id, view)``, so a rerun writes the same bytes and two methods see the same draws of
    the ground truth wherever a protocol samples it.

    Args:
        seen_categories: the categories the method was trained on, as ids or names (the split's
            ``pack.categories``; the run's ``train.categories``). Given and not empty, the summary
            gets ``seen`` and ``unseen`` rows (:func:`grouped_summary`); None or empty: it has
            none (the method saw every category). Item rows are the same either way.

    Raises:
        ValueError: an item names a shape the split does not have, a shape of the split has
            no prediction, or ``seen_categories`` names a category the split's store does not know.

    Returns:
        The summary rows.
    """
    preds = PredictionSet(predictions)
    split = PackedSplit(split_store)
    protocol = get_protocol(protocol_name)
    method = str(preds.attrs["method"])
    seen = None
    if seen_categories:  # resolved first: a name the store does not know fails before the work
        seen = {
            split.categories[s] for s in np.flatnonzero(shapes_in_categories(split_store, seen_categories))
        }
    rows: list[dict] = []
    cached: tuple[int, object] | None = None
    for i, item in enumerate(tqdm(preds.items, desc=f"{method} / {protocol.name}", unit="item")):
        key = (item.category, item.shape_id)
        if key not in split.index:
            raise ValueError(f"{method}: item {i} predicts {key[0]}/{key[1]}, which the split does not have")
        s = split.index[key]
        if cached is None or cached[0] != s:
            cached = (s, split.ground_truth(s))
        draw = rng(seed, "evaluate", protocol.name, method, item.category, item.shape_id, item.view)
        prediction = preds.prediction(i)
        metrics = protocol.evaluate(prediction, cached[1], draw)
        rows.append(
            {
                "method": method,
                "preset": protocol.name,
                "category": item.category,
                "shape_id": item.shape_id,
                "view": item.view,
                "empty": prediction.empty,
                **metrics,
            }
        )
    missing = sorted(set(split.index) - {(r["category"], r["shape_id"]) for r in rows})
    if missing:
        names = ", ".join(f"{c}/{s}" for c, s in missing[:5])
        raise ValueError(f"{method}: no prediction for {len(missing)} shape(s) of the split: {names}")
    metric_columns = [k for k in rows[0] if k not in ITEM_KEYS] if rows else []
    write_tsv(items_tsv, rows, [*ITEM_KEYS, *metric_columns])
    table = grouped_summary(protocol, rows, seen)
    summary = [{"method": method, "preset": protocol.name, **row} for row in table]
    present = summary_columns(summary)
    ordered = [m for m in protocol.metrics if m in present]
    write_tsv(
        summary_tsv,
        summary,
        [*SUMMARY_KEYS, *ordered, *[c for c in present if c not in (*SUMMARY_KEYS, *ordered)]],
    )
    return summary


def gather_summaries(summary_tsvs: Sequence[Path | str], out_tsv: Path | str) -> int:
    """Join the summaries of several methods (one protocol) into one table, in the given order."""
    rows: list[dict] = []
    for path in summary_tsvs:
        rows.extend(read_tsv(path))
    return write_tsv(out_tsv, rows, summary_columns(rows))


def grouped_summary(protocol: Protocol, rows: Sequence[Mapping], seen: Collection[str] | None) -> list[dict]:
    """The protocol's summary of item rows, with ``seen`` and ``unseen`` rows when ``seen`` is given.

    Each group's row is the ``all`` row of the protocol's summary of that group's items alone:
    the same aggregation (mean of the category means, or over objects, as the protocol's ``all``
    row does). Where a protocol's ``all`` row picks a threshold (``pix3d``'s IoU), a group's row
    picks its own over its objects and says which (``iou_threshold``). A group without items has
    zero counts and NaN metrics.

    Args:
        protocol: the protocol.
        rows: item rows (``category``, ``shape_id``, ``view``, ``empty`` and the metrics).
        seen: category ids of the categories the method was trained on; None: no group rows.

    Returns:
        The category rows, then ``seen`` and ``unseen`` (when ``seen`` is given), then ``all``.
    """
    table = protocol.summarize(rows)
    if seen is None:
        return table
    groups = []
    for name, members in zip(GROUP_ROWS, (True, False), strict=True):
        subset = [r for r in rows if (r["category"] in seen) == members]
        if subset:
            row = protocol.summarize(subset)[-1]
        else:
            row = {k: float("nan") for k in table[-1]} | {"objects": 0, "items": 0, "empty": 0}
        groups.append(row | {"category": name})
    return [*table[:-1], *groups, table[-1]]
