# Shared set-up and helpers of all rules: config validation, wildcard constraints, and the
# functions that turn the ingest checkpoints' tables into job lists.
import os
import re
import sys
from pathlib import Path

# The repository (rules/ -> workflow/ -> repository). Scripts import `recon` from it, also in
# per-rule environments where the package is not installed.
REPO = Path(workflow.current_basedir).parents[1]
sys.path.insert(0, str(REPO))
os.environ.update(
    PYTHONPATH=os.pathsep.join(
        p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p
    )
)


from snakemake.exceptions import IncompleteCheckpointException
from snakemake.io import checkpoint_target

from recon.config import source_root, validate_in_place
from recon.geometry.references import ShapeFolder
from recon.io.tables import read_tsv
from recon.rule_config import select

# Renamed keys read, defaults from the schema (recon/schemas), then validation: a bad key is named
# in a few lines (ConfigError). The command line's `recon config` resolves a config the same way.
# Cluster facts an old config still sets (train.gpus, train.threads, train.runtime_min) come back,
# each taken out with a warning that names the resource replacing it (recon.config.CLUSTER_KEYS).
OLD_CLUSTER_KEYS = validate_in_place(config)
SOURCE_ROOT = source_root(config)

#: The splits, each packed into its own store.
SPLITS = ["train", "val", "test"]

#: The config keys that locate the raw meshes (those recon.config.source_root reads).
SOURCE_KEYS = (
    "source.kind",
    "demo.layout" if config["source"]["kind"] == "demo" else "source.path",
)


def declared(*keys):
    """A rule's ``params.config``: exactly the config keys its stage reads, sorted (recon.rule_config).

    Changing one of them reruns the rule (Snakemake's params trigger); changing another key does not.
    """
    return select(config, *keys)


def cluster_fact(key, default):
    """A training rule's resource: ``default``, or, until the next release, what an old config sets
    at ``key`` (``train.gpus``, ``train.threads``, ``train.runtime_min``). A profile,
    ``--set-resources`` or ``--set-threads`` overrides either."""
    return OLD_CLUSTER_KEYS.get(key, default)


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
    return read_once(path, build, read_tsv)


def read_once(path, build, read):
    """``build(read(path))``, computed once per version (modification time) of the file at ``path``."""
    key = (str(path), os.stat(path).st_mtime_ns, build, read)
    if key not in _TABLES:
        _TABLES[key] = build(read(path))
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
    """The raw mesh as an input file; nothing if it is missing or leads (a symlink) outside its
    shape folder: the shape is then quarantined, and Snakemake, which reads small inputs to
    checksum them, never opens a file outside the dataset."""
    row = get_source_row(wildcards)
    # A sources.tsv written before it had source_folder: the mesh's own folder.
    folder = SOURCE_ROOT / row.get("source_folder", os.path.dirname(row["source_path"]))
    mesh = os.path.relpath(SOURCE_ROOT / row["source_path"], folder)
    inside = ShapeFolder(folder).resolve(mesh).problem is None
    return [get_source_mesh_path(wildcards)] if inside else []


def get_ingest_stores(wildcards):
    """Every scanned shape's ingest store."""
    return [
        f"results/ingest/shapes/{category}/{shape}.zarr"
        for category, shape in scanned_shapes()
    ]


def fresh_output(ckpt, name, source):
    """Output ``name`` of checkpoint ``ckpt``, a table built from the table ``source``, once it is current.

    A table older than its source is stale: the checkpoint reruns in this run (it runs after
    ``source``'s job). Snakemake can count such an output as done when an earlier checkpoint reran
    in the same run (a new seed: new demo shapes, new ingest manifest, then the old SDF manifest),
    so this waits for it as ``ckpt.get()`` does when its output is missing.
    """
    path = getattr(ckpt.get().output, name)
    if os.stat(path).st_mtime_ns < os.stat(source).st_mtime_ns:
        output, _ = ckpt.rule.expand_output({})
        raise IncompleteCheckpointException(ckpt.rule, checkpoint_target(output[0]))
    return path


def ingest_manifest():
    """results/ingest/manifest.tsv, once the ledger checkpoint has run on the current sources.tsv."""
    return fresh_output(
        checkpoints.ledger, "manifest", checkpoints.scan_sources.get().output[0]
    )


def sdf_manifest():
    """results/sdf/manifest.tsv, once the sdf_ledger checkpoint has run on the current ingest manifest."""
    return fresh_output(checkpoints.sdf_ledger, "manifest", ingest_manifest())


def ok_shapes():
    """Rows of results/ingest/manifest.tsv (usable shapes), once the ledger checkpoint has run.

    Later stages build their per-shape job lists from this: quarantined shapes never appear.
    """
    return read_table_once(ingest_manifest(), list)


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
    return read_table_once(ingest_manifest(), _render_batches)


def get_render_batch_shapes(wildcards):
    """Shape ids of render batch {category}/{batch}."""
    return render_batches()[(wildcards.category, wildcards.batch)]


def get_render_runtime(wildcards, input, attempt):
    """Minutes for one render batch (its input: one ingest store a shape): 10 plus 3 a shape, times the attempt.

    Measured: about 8 s a shape for 36 views of 224² on 2 threads.
    """
    return (10 + 3 * len(input)) * attempt


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


def sdf_ok_shapes():
    """Rows of results/sdf/manifest.tsv (shapes that passed ingest and the SDF checks)."""
    return read_table_once(sdf_manifest(), list)


def _batch_of_shape(rows):
    return {
        (category, shape): batch
        for (category, batch), shapes in _render_batches(rows).items()
        for shape in shapes
    }


def get_render_batch_of_shape(wildcards):
    """The render batch folder holding {category}/{shape}'s render store."""
    batches = read_table_once(ingest_manifest(), _batch_of_shape)
    return f"results/render/{wildcards.category}/{batches[(wildcards.category, wildcards.shape)]}"


def get_voxelize_outputs(wildcards):
    """The voxelize store and .binvox file of every shape that passed the SDF checks."""
    out = []
    for row in sdf_ok_shapes():
        out.append(f"results/voxelize/shapes/{row['category']}/{row['shape_id']}.zarr")
        out.append(
            f"results/voxelize/binvox/{row['category']}/{row['shape_id']}/model.binvox"
        )
    return out


def get_pack_shapes(wildcards):
    """The shapes of split {split} to pack, with the paths of their per-shape stores."""
    batches = read_table_once(ingest_manifest(), _batch_of_shape)
    rows = sorted(
        (r for r in sdf_ok_shapes() if r["split"] == wildcards.split),
        key=lambda r: (r["category"], r["shape_id"]),
    )
    return [
        {
            "category": r["category"],
            "category_name": r["category_name"],
            "shape_id": r["shape_id"],
            "render": f"results/render/{r['category']}/{batches[(r['category'], r['shape_id'])]}/{r['shape_id']}.zarr",
            "sdf": f"results/sdf/shapes/{r['category']}/{r['shape_id']}.zarr",
            "voxelize": f"results/voxelize/shapes/{r['category']}/{r['shape_id']}.zarr",
        }
        for r in rows
    ]


def get_pack_runtime(wildcards, input, attempt):
    """Minutes for packing split {split} (one SDF store a shape in its input): 30 plus 5 s a shape, times the attempt.

    Measured: 1.2 s a shape on an idle machine, 1.9-2.4 s on a busy one.
    """
    shapes = sum(1 for path in input.stores if path.startswith("results/sdf/"))
    return (30 + -(-shapes * 5 // 60)) * attempt


def get_pack_inputs(wildcards):
    """Every per-shape store (render batch folders, SDF and voxelize stores) of split {split}."""
    shapes = get_pack_shapes(wildcards)
    render = sorted({str(Path(s["render"]).parent) for s in shapes})
    return render + [s["sdf"] for s in shapes] + [s["voxelize"] for s in shapes]


def experiment_file(name):
    """config/experiments/<name>.yaml (train.experiments_dir)."""
    return f"{config['train']['experiments_dir']}/{name}.yaml"


def prediction_plan(name):
    """(upstream experiments by role, prediction variants) of experiment {name}, read once per
    version of its file (recon.train.predict.prediction_plan)."""
    from recon.train.predict import prediction_plan as plan

    path = experiment_file(name)
    if not os.path.exists(path):  # train_model names the missing file when it is needed
        return {}, []
    return read_once(path, plan, str)


def training_plan(name):
    """(train.init_from, train.categories) of experiment {name}, read once per version of its file."""
    from recon.train.experiment import training_plan as plan

    path = experiment_file(name)
    if not os.path.exists(path):
        return "", ()
    return read_once(path, plan, str)


def get_init_checkpoint(wildcards):
    """The checkpoint experiment {experiment} starts from (train.init_from): a file, or the last.pt
    of the experiment it names, trained first."""
    init = training_plan(wildcards.experiment)[0]
    if not init:
        return []
    return (
        [init]
        if init.endswith(".pt")
        else [f"results/train/{init}/checkpoints/last.pt"]
    )


def seen_categories(method):
    """The categories method {method} (<experiment>[@<variant>]) trained on, over its train.init_from
    chain; [] for a baseline or a run that trained on every category (no seen/unseen rows).
    """
    from recon.train.predict import split_name

    name, seen, chain = split_name(method)[0], set(), set()
    if name not in config["train"]["experiments"]:
        return []
    while name and not name.endswith(".pt") and name not in chain:
        chain.add(name)
        init, categories = training_plan(name)
        if not categories:
            return []
        seen |= set(categories)
        name = init
    return sorted(seen)


def predicted_names():
    """Every trained experiment, each followed by its prediction variants (<experiment>@<variant>)."""
    names = []
    for name in config["train"]["experiments"]:
        names += [name] + [f"{name}@{variant}" for variant in prediction_plan(name)[1]]
    return names


def trained_name_pattern():
    """Regex of every trained experiment with any prediction variant (read no experiment file)."""
    names = "|".join(re.escape(name) for name in config["train"]["experiments"])
    return f"({names})(@\\w+)?" if names else "^$"


def evaluate_methods():
    """The methods evaluated: the configured baselines, then every trained experiment and variant."""
    return list(config["evaluate"]["baselines"]) + predicted_names()


def get_predict_runs(wildcards):
    """The run of {experiment} (less any @variant) and the runs its predictions need (upstream)."""
    from recon.train.predict import split_name

    experiment = split_name(wildcards.experiment)[0]
    runs = [experiment] + sorted(set(prediction_plan(experiment)[0].values()))
    return {
        "config": f"results/train/{experiment}/config.yaml",
        "runs": [f"results/train/{name}/checkpoints/last.pt" for name in runs],
    }


def get_evaluate_tables(wildcards):
    """One metric table per configured evaluation protocol, for the evaluated split."""
    return expand(
        "results/evaluate/{split}/{protocol}.tsv",
        split=config["evaluate"]["split"],
        protocol=config["evaluate"]["protocols"],
    )


def ingest_mem(wildcards, input, attempt):
    """MB of an ingest job: grows with the mesh file, and the ingest limits cap what the file may
    hold (recon.geometry.mesh_limits.ingest_mem_mb, measured by bench/bench_ingest_memory.py).
    """
    from recon.geometry.mesh_limits import ingest_mem_mb

    return ingest_mem_mb(input.size_mb, config["ingest"]) * attempt
