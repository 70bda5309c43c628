# Shared set-up and helpers of all rules: config validation, wildcard constraints, and the
# functions that turn the ingest checkpoints' tables into job lists.
import os
import sys
from pathlib import Path

from snakemake.utils import validate

# The repository (rules/ -> workflow/ -> repository). Scripts import `recon` from it, also in
# per-rule environments where the package is not installed.
REPO = Path(workflow.current_basedir).parents[1]
sys.path.insert(0, str(REPO))
os.environ.update(
    PYTHONPATH=os.pathsep.join(
        p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p
    )
)


validate(config, schema="../schemas/config.schema.yaml")

from recon.config import check_rules, source_root
from recon.io.tables import read_tsv

check_rules(config)
SOURCE_ROOT = source_root(config)


wildcard_constraints:
    category=r"[A-Za-z0-9._-]+",
    shape=r"[A-Za-z0-9._-]+",
    layout=r"v1|v2",
    batch=r"b\d{4}",


def get_scan_input(wildcards):
    """The demo folder, when the source is the built-in demo (nothing for a user's data)."""
    if config["source"]["kind"] == "demo":
        return [str(SOURCE_ROOT)]
    return []


_TABLES = {}


def read_table_once(path, build):
    """``build(rows)`` of the TSV table at ``path``, computed once per version of the file.

    Input functions run once per job, and a real ShapeNet copy has tens of thousands of shapes:
    reading and indexing a table on every call would make the DAG quadratic.
    """
    key = (str(path), os.stat(path).st_mtime_ns, build)
    if key not in _TABLES:
        _TABLES[key] = build(read_tsv(path))
    return _TABLES[key]


def _index_by_shape(rows):
    return {(r["category"], r["shape_id"]): r for r in rows}


def scanned_shapes():
    """{(category, shape_id): row} of results/ingest/sources.tsv, once scan_sources has run."""
    return read_table_once(checkpoints.scan_sources.get().output[0], _index_by_shape)


def get_source_row(wildcards):
    """The sources.tsv row of {category}/{shape}."""
    return scanned_shapes()[(wildcards.category, wildcards.shape)]


def get_source_mesh_path(wildcards):
    """Path of the raw mesh of {category}/{shape}."""
    return str(SOURCE_ROOT / get_source_row(wildcards)["source_path"])


def get_source_mesh(wildcards):
    """The raw mesh as an input file; nothing if it is missing (the shape is then quarantined)."""
    path = get_source_mesh_path(wildcards)
    return [path] if os.path.isfile(path) else []


def get_ingest_stores(wildcards):
    """Every scanned shape's ingest store."""
    return [
        f"results/ingest/shapes/{category}/{shape}.zarr"
        for category, shape in scanned_shapes()
    ]


def ok_shapes():
    """Rows of results/ingest/manifest.tsv (usable shapes), once the ledger checkpoint has run.

    Later stages build their per-shape job lists from this: quarantined shapes never appear.
    """
    return read_table_once(checkpoints.ledger.get().output.manifest, list)


def _render_batches(rows):
    size = config["render"]["batch_size"]
    by_category = {}
    for row in rows:
        by_category.setdefault(row["category"], []).append(row["shape_id"])
    batches = {}
    for category, ids in sorted(by_category.items()):
        ids = sorted(ids)
        for i in range(0, len(ids), size):
            batches[(category, f"b{i // size:04d}")] = ids[i : i + size]
    return batches


def render_batches():
    """{(category, batch): [shape_id, ...]}: each category's usable shapes, sorted, cut into
    batches of render.batch_size, named b0000, b0001, ..."""
    return read_table_once(checkpoints.ledger.get().output.manifest, _render_batches)


def get_render_batch_shapes(wildcards):
    """Shape ids of render batch {category}/{batch}."""
    return render_batches()[(wildcards.category, wildcards.batch)]


def get_render_batch_inputs(wildcards):
    """The ingest stores of the shapes of render batch {category}/{batch}."""
    return [
        f"results/ingest/shapes/{wildcards.category}/{shape}.zarr"
        for shape in get_render_batch_shapes(wildcards)
    ]


def get_render_outputs(wildcards):
    """Every render batch folder."""
    return [
        f"results/render/{category}/{batch}" for category, batch in render_batches()
    ]


def get_sdf_stores(wildcards):
    """The SDF store of every usable shape (from the ingest manifest)."""
    return [
        f"results/sdf/shapes/{row['category']}/{row['shape_id']}.zarr"
        for row in ok_shapes()
    ]
