"""The pipeline's report page: what the results folder holds, assembled into one static HTML page.

Sections: the metric tables of every evaluation protocol (overview of the ``all`` rows, and of the
``seen`` / ``unseen`` ones where present, then per category),
ground truth next to every method's prediction for a few shapes of the evaluated split, their
render contact sheets, SDF slices, and training curves of the models that have a history.
Everything is read from the results folder; nothing is recomputed but the images.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from recon.io.tables import read_tsv
from recon.report.html import Figure, ImageGrid, Report, Section, Table, Text, write_report
from recon.report.images import line_chart_svg, sdf_slices, shade_mesh

__all__ = ["build_report", "pick_shapes"]


def pick_shapes(categories: Sequence[str], count: int) -> list[int]:
    """Up to ``count`` shape indices, taking categories in turn (first shape of each, then second...)."""
    by_cat: dict[str, list[int]] = {}
    for i, c in enumerate(categories):
        by_cat.setdefault(c, []).append(i)
    picks: list[int] = []
    rank = 0
    while len(picks) < count and any(rank < len(v) for v in by_cat.values()):
        for members in by_cat.values():
            if rank < len(members) and len(picks) < count:
                picks.append(members[rank])
        rank += 1
    return picks


def _metric_tables(
    results: Path, split: str, protocols: Sequence[str], names: Mapping[str, str]
) -> list[Section]:
    """One section per protocol; the page calls them presets (its words and anchors are unchanged)."""
    from recon.evaluate.protocols import get_protocol

    sections = []
    for name in protocols:
        path = results / "evaluate" / split / f"{name}.tsv"
        rows = read_tsv(path) if path.exists() else []
        protocol = get_protocol(name)
        if not rows:
            sections.append(Section(f"Preset {name}", [Text(f"No results for preset {name} yet.")]))
            continue
        columns = [c for c in rows[0] if c != "preset"]
        columns.insert(columns.index("category") + 1, "name")
        numeric = [
            {k: v if k in _ID_COLUMNS else _number(v) for k, v in r.items()}
            | {"name": names.get(r["category"], "")}
            for r in rows
        ]
        # ``all``, and ``seen`` / ``unseen`` where a method was trained on some categories only (their
        # ``category`` column names them; the ``all``-only overview leaves it out)
        overview = [r for r in numeric if r["category"] in _OVERVIEW_ROWS]
        grouped = any(r["category"] != "all" for r in overview)
        overview_columns = columns if grouped else [c for c in columns if c != "category"]
        sections.append(
            Section(
                f"Preset {name}",
                [
                    Text(
                        f"Source: {protocol.source}. Lower is better for: "
                        + (", ".join(k for k, v in protocol.higher_is_better.items() if not v) or "none")
                        + "; higher for the rest."
                    ),
                    Table(overview_columns, overview, caption=f"{name}: all categories"),
                    Table(columns, numeric, caption=f"{name}: per category"),
                ],
                anchor=f"preset-{name}",
            )
        )
    return sections


#: Summary rows of the overview table (recon.evaluate.stage: ``seen``, ``unseen`` before ``all``).
_OVERVIEW_ROWS = frozenset({"seen", "unseen", "all"})

#: Columns of the evaluate tables that name things: kept as text (synset ids keep their leading zero).
_ID_COLUMNS = frozenset({"preset", "method", "split", "category", "shape_id"})


def _number(text: str):
    try:
        value = float(text)
    except ValueError:
        return text
    return int(value) if value.is_integer() and "." not in text and "e" not in text else value


def _item_scores(results: Path, split: str, method: str, protocols: Sequence[str]) -> dict[tuple, str]:
    """(category, shape_id, view) → a label: the IoU of the first protocol with one (volumetric first)."""
    for name in sorted(
        protocols, key=lambda p: ("onet", "convonet", "r2n2", "pix3d", "disn", "genre").index(p)
    ):
        path = results / "evaluate" / split / method / f"{name}.tsv"
        if path.exists():
            rows = read_tsv(path)
            if rows and "iou" in rows[0]:
                return {
                    (r["category"], r["shape_id"], int(r["view"])): f"{name} IoU {float(r['iou']):.3f}"
                    for r in rows
                }
    return {}


def _prediction_section(results, split_store, split, picks, methods, protocols, size) -> list[Section]:
    from recon.io.predictions import PredictionSet

    sets = {}
    for method in methods:
        path = results / "predict" / method / f"{split}.zarr"
        if path.exists():
            sets[method] = PredictionSet(path)
    scores = {m: _item_scores(results, split, m, protocols) for m in sets}
    sections = []
    for i in picks:
        category, shape_id = split_store.categories[i], split_store.shape_ids[i]
        title = f"{split_store.category_names.get(category, category)} / {shape_id}"
        items: list[tuple[str, object]] = []
        if split_store.views:
            items.append(("input view 0", split_store.root["views/rgba"][i, 0]))
        vertices, faces = split_store.mesh(i)
        items.append(("ground truth", shade_mesh(vertices, faces, size=size, distance=3.2)))
        for method, preds in sets.items():
            index = [
                n
                for n, it in enumerate(preds.items)
                if (it.category, it.shape_id) == (category, shape_id) and it.view in (0, -1)
            ]
            if not index:
                continue
            item = preds.items[index[0]]
            pred = preds.prediction(index[0])
            label = f"{method} ({scores[method].get((category, shape_id, item.view), 'not evaluated')})"
            items.append((label, shade_mesh(pred.vertices, pred.faces, size=size, distance=3.2)))
        sections.append(Section(title, [ImageGrid(items, columns=min(len(items), 5))]))
    return sections


def _contact_sheets(split_store, picks) -> list:
    from recon.io.images import contact_sheet

    root = split_store.root
    needed = ("rgba", "depth", "normal", "albedo", "mask")
    if not all(f"views/{n}" in root for n in needed):
        return [Text("The packed split has no rendered views (pack.views).")]
    items = []
    for i in picks:
        views = {n: root[f"views/{n}"][i, :4] for n in needed}
        sheet = contact_sheet(views["rgba"], views["depth"], views["normal"], views["albedo"], views["mask"])
        items.append((f"{split_store.categories[i]} / {split_store.shape_ids[i]}", sheet))
    return [ImageGrid(items, caption="Rows: RGB, depth, normals, albedo; one column per view.", columns=1)]


def _sdf_section(results: Path, split_store, picks) -> list:
    from recon.io.store import open_store

    items = []
    for i in picks:
        category, shape_id = split_store.categories[i], split_store.shape_ids[i]
        path = results / "sdf" / "shapes" / category / f"{shape_id}.zarr"
        if not path.exists():
            continue
        array = open_store(path)["grid/sdf"]
        attrs = dict(array.attrs)
        half = 0.5 * float(attrs["spacing"]) * (int(attrs["resolution"]) - 1)
        items.append(
            (f"{category} / {shape_id}", sdf_slices(array[...], half, iso=float(attrs.get("iso", 0.0))))
        )
    if not items:
        return [Text("No SDF stores found.")]
    return [
        ImageGrid(
            items,
            caption="Central x, y, z slices; blue inside, red outside, black: the iso level.",
            columns=1,
        )
    ]


def _training_section(results: Path) -> list:
    histories = sorted((results / "train").glob("*/history.tsv")) if (results / "train").exists() else []
    if not histories:
        return [Text("No trained models yet: training curves appear here once `snakemake train` has run.")]
    blocks = []
    for path in histories:
        rows = read_tsv(path)
        if not rows:
            continue
        series: dict[str, tuple[list[float], list[float]]] = {}
        for column in rows[0]:
            if column in ("step", "epoch", "time_s", "lr") or column.endswith("grad_norm"):
                continue
            points = [(float(r["step"]), float(r[column])) for r in rows if r.get(column) not in (None, "")]
            if points:
                series[column] = ([p[0] for p in points], [p[1] for p in points])
        if series:
            svg = line_chart_svg(series, title=path.parent.name, xlabel="step", ylabel="value", log_y=False)
            blocks.append(Figure(svg, caption=f"{path.parent.name}: {path.name}"))
    return blocks or [Text("Training histories are empty.")]


def _split_fingerprint(results: Path, split: str) -> str:
    """The SHA-256 of the evaluated split in ``results/pack/fingerprint.tsv`` (recon.pack.fingerprint):
    what was evaluated, as two sites compare it."""
    path = results / "pack" / "fingerprint.tsv"
    rows = read_tsv(path) if path.is_file() else []
    return next((r["sha256"] for r in rows if (r["split"], r["stage"]) == (split, "all")), "not computed")


def build_report(
    out_dir: Path | str,
    config: Mapping,
    methods: Sequence[str],
    protocols: Sequence[str],
    results: Path | str = "results",
) -> Path:
    """Write the report page to ``out_dir`` (``index.html`` + ``img/``) from the results folder.

    Args:
        out_dir: the report folder (replaced atomically).
        config: a mapping holding the config's ``seed``, ``evaluate.split`` and ``report`` (the
            workflow passes those the report rule declares).
        methods: the evaluated methods, in table order.
        protocols: the evaluation protocols, in section order.
        results: the results folder the stages wrote.

    Returns:
        The path of ``index.html``.
    """
    from recon.io.packed import PackedSplit

    results = Path(results)
    split = config["evaluate"]["split"]
    split_store = PackedSplit(results / "pack" / f"{split}.zarr")
    picks = pick_shapes(split_store.categories, config["report"]["shapes"])
    size = int(config["report"].get("image_size", 192))
    sections = [
        Section(
            "Metrics",
            [
                Text(
                    "Every number names its preset (recon.evaluate.protocols documents each protocol and its "
                    "source). Baselines: mean_shape (category mean), retrieval_oracle (nearest train shape by"
                    " 32³ IoU with the answer: an upper bound of retrieval), retrieval_image (nearest train "
                    "view by pixel descriptor)."
                ),
                *_metric_tables(results, split, protocols, split_store.category_names),
            ],
            anchor="metrics",
        ),
        Section(
            "Predictions",
            _prediction_section(results, split_store, split, picks, methods, protocols, size)
            or [Text("No shapes in the evaluated split.")],
            anchor="predictions",
        ),
        Section("Renders", _contact_sheets(split_store, picks) if picks else [], anchor="renders"),
        Section("SDF slices", _sdf_section(results, split_store, picks) if picks else [], anchor="sdf"),
        Section("Training", _training_section(results), anchor="training"),
    ]
    meta = {
        "split": f"{split} ({len(split_store)} shapes)",
        "methods": ", ".join(methods),
        "presets": ", ".join(protocols),
        "seed": str(config["seed"]),
        "split fingerprint": _split_fingerprint(results, split),
    }
    return write_report(Report("recon report", sections, meta), out_dir)
