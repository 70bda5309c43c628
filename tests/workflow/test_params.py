"""Every config key a stage reads is declared in its rule's params, and nothing more; the dataset fingerprint.

One real run of the whole workflow on a tiny demo (one category of three shapes, one a split, and a
two-step training run) records, through ``RECON_CONFIG_READS`` (:mod:`recon.rule_config`), the config
keys each job really read. Then, for every leaf key of the schema, Snakemake's DAG with that key
changed (:func:`_plan`) must find changed params in exactly the rules that read it (their jobs
rerun, and what is downstream of them), and a key no stage reads must leave every job as it is,
unless the Snakefile itself reads it to build the DAG (:data:`STRUCTURAL`). Last, real reruns show
the dataset fingerprint following the data: another SDF setting, another seed.
"""

from __future__ import annotations

import copy
import os
import shutil
from pathlib import Path

import pytest
import yaml

from recon.config import load_schema, resolve_config
from recon.io.tables import read_tsv
from recon.rule_config import READS_ENV
from tests.meshes import REPO
from tests.pipeline import make_workdir, reversed_keys, run_snakemake

pytestmark = pytest.mark.workflow

CONFIG = {
    "seed": 0,
    "demo": {"categories": ["mug"], "shapes_per_category": 3},
    "splits": {"ratios": {"train": 0.34, "val": 0.33, "test": 0.33}},
    "render": {"views": 2, "resolution": 32, "batch_size": 6, "samples": 2},
    "sdf": {
        "grid": {"resolution": 24},
        "samples": {
            "surface": {"count": 1000},
            "gaussian": {"count": 1000},
            "disn": {"count": 512},
            "occupancy": {"count": 1000},
        },
        "quality": {"probes": 500},
    },
    "voxelize": {"resolutions": [32], "binvox": 32, "octree": {"depth": 3}, "spherical": {"resolution": 16}},
    "pack": {"shard_shapes": 2, "point_chunk": 256},
    "train": {"experiments": ["tiny"]},
    "evaluate": {"views": 1, "protocols": ["r2n2", "disn"], "baselines": ["mean_shape"]},
    "report": {"shapes": 1, "image_size": 32},
}
EXPERIMENT = {
    "method": "r2n2",
    "model": {"encoder": "resnet18", "image_size": 32, "feature_dim": 16, "hidden": 4,
              "decoder_dims": [4, 4, 4, 4]},
    "train": {"steps": 2, "batch_size": 2, "val_every": 0, "log_every": 1, "checkpoint_every": 2,
              "log_images_every": 0, "num_workers": 0},
}  # fmt: skip

#: Keys the Snakefile reads itself to build the DAG (job lists, file names, inputs), with what
#: changing them does besides the params of the rules that read them.
STRUCTURAL = {
    "source.kind": "another source location (the demo folder, now as a shapenet_v1 copy)",
    "demo.layout": "another demo folder: a new demo_dataset job",
    "train.experiments": "other train_model jobs",
    "train.experiments_dir": "the experiment file is an input of train_model: another path reruns it",
    "evaluate.split": "predictions and tables of another split",
    "evaluate.protocols": "other evaluate_method and evaluate_table jobs",
    "evaluate.baselines": "other baseline and evaluate_method jobs",
}
#: Rules whose stage reads config keys (every other rule declares none).
READERS = {
    "demo_dataset", "scan_sources", "ingest_shape", "render_batch", "sdf_shape", "voxelize_shape",
    "pack_split", "train_model", "predict_model", "baseline", "evaluate_method", "report_page",
}  # fmt: skip


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """``snakemake all`` on the tiny demo, recording the config keys every job reads."""
    tmp = tmp_path_factory.mktemp("params")
    workdir = make_workdir(tmp, CONFIG)
    experiments = workdir / "config" / "experiments"
    experiments.mkdir()
    (experiments / "tiny.yaml").write_text(yaml.safe_dump(EXPERIMENT))
    shutil.copytree(experiments, workdir / "config" / "experiments_copy")
    reads = tmp / "reads"
    reads.mkdir()
    run_snakemake(workdir, "--cores", "2", "all", env={READS_ENV: str(reads)})
    return workdir, reads


def _reads(folder: Path) -> dict[str, set[str]]:
    """{rule: dotted keys read by any of its jobs}."""
    out: dict[str, set[str]] = {}
    for path in folder.glob("*.txt"):
        out.setdefault(path.name.split(".")[0], set()).update(path.read_text().split())
    return out


def _leaves(schema: dict, prefix: str = "") -> dict[str, dict]:
    """{dotted key: its schema} of every leaf key (a key that is not an object with properties)."""
    out = {}
    for key, sub in schema["properties"].items():
        if sub.get("type") == "object" and "properties" in sub:
            out |= _leaves(sub, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = sub
    return out


def _changed(value, schema: dict):
    """Another valid value for a key of this schema."""
    if "anyOf" in schema:  # a value of the first alternative (sdf.samples.gaussian.sigmas: a set's name)
        return _changed(value, schema["anyOf"][0])
    if "enum" in schema:
        return next(v for v in schema["enum"] if v != value)
    types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    if value is None:
        kind = next(t for t in types if t != "null")
        return {"integer": 2, "number": 0.05, "string": "elsewhere", "array": [0.01]}[kind]
    if isinstance(value, bool):
        return not value
    if isinstance(value, int) and "integer" in types:
        return value + 1 if value + 1 <= schema.get("maximum", value + 1) else value - 1
    if isinstance(value, (int, float)):
        return value * 0.9 if value else 0.05
    if isinstance(value, str):
        return value + "_other"
    items = schema.get("items", {})
    if "enum" in items:
        extra = [v for v in items["enum"] if v not in value]
        return value[:-1] if len(value) > schema.get("minItems", 0) and not extra else [*value, extra[0]]
    if value and isinstance(value[0], (int, float)) and not isinstance(value[0], bool):
        return [value[0] + 1, *value[1:]] if items.get("type") == "integer" else [value[0] - 0.05, *value[1:]]
    return value[:-1] if value else ["other"]


def _config_with(config: dict, key: str, schema: dict, workdir: Path) -> dict:
    """``config`` with ``key`` changed (and what must change with it for the config to stay valid)."""
    new = copy.deepcopy(config)
    *parents, leaf = key.split(".")
    section = new
    for part in parents:
        section = section[part]
    if key == "source.kind":  # the same demo files, read as a user's ShapeNetCore.v1 copy
        section.update(kind="shapenet_v1", path=str(workdir / "resources" / "demo" / "ShapeNetCore.v1"))
    elif key == "train.experiments_dir":  # the same experiment files in another folder
        section[leaf] = "config/experiments_copy"
    elif key.startswith("splits.ratios."):  # the ratios must still sum to 1
        other = "test" if leaf != "test" else "train"
        section[leaf], section[other] = section[leaf] + 0.01, section[other] - 0.01
    else:
        section[leaf] = _changed(section[leaf], schema)
    return new


def _plan(workdir: Path, name: str, config: dict) -> tuple[set[str], set[str]]:
    """What Snakemake decides under ``config`` for the target ``all`` of the completed run.

    Returns:
        ``(rules with a job whose params changed, rules with a job to run for another reason)``.
        The DAG is built with the mtime trigger only (Snakemake's API, in this process: 0.4 s a key
        instead of 2 s for a new snakemake process), so that no checkpoint reruns and every job
        is in it; each job's params are then compared with those its outputs recorded, exactly as
        the params trigger (on by default) compares them. A dry run proper stops at a checkpoint
        that reruns (scan_sources reads ``seed``): its downstream jobs, which also read ``seed``,
        would not be in its DAG.
    """
    from snakemake.api import SnakemakeApi
    from snakemake.settings.enums import RerunTrigger
    from snakemake.settings.types import (
        ConfigSettings,
        DAGSettings,
        OutputSettings,
        Quietness,
        ResourceSettings,
    )

    path = workdir.parent / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    cwd = os.getcwd()
    try:
        with SnakemakeApi(OutputSettings(quiet={Quietness.ALL})) as api:
            workflow_api = api.workflow(
                resource_settings=ResourceSettings(cores=1),
                config_settings=ConfigSettings(configfiles=[path]),
                snakefile=REPO / "Snakefile",
                workdir=workdir,
            )
            workflow_api.dag(DAGSettings(targets={"all"}, rerun_triggers={RerunTrigger.MTIME}))
            workflow = workflow_api._workflow
            workflow._prepare_dag(forceall=False, ignore_incomplete=False, lock_warn_only=True)
            workflow._build_dag()
            dag = workflow.dag
            changed = {
                j.rule.name for j in dag.jobs if not j.is_group() and workflow.persistence.params_changed(j)
            }
            return changed, {j.rule.name for j in dag.needrun_jobs()} - {"all"}
    finally:
        os.chdir(cwd)


def test_every_rule_declares_exactly_the_config_keys_its_stage_reads(run):
    workdir, folder = run
    reads = _reads(folder)
    assert set(reads) == READERS
    config = resolve_config(CONFIG)
    leaves = _leaves(load_schema())
    read_keys = set().union(*reads.values())
    assert read_keys <= set(leaves), read_keys - set(leaves)
    # The same config with every key in reverse order reruns nothing (params are compared sorted),
    # in a real snakemake process too.
    assert _plan(workdir, "reordered", reversed_keys(config)) == (set(), set())
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(reversed_keys(config), sort_keys=False))
    proc = run_snakemake(workdir, "all", "--cores", "2", "--dry-run")
    assert "Nothing to be done" in proc.stdout + proc.stderr

    wrong, plans = {}, {}
    for key, schema in leaves.items():
        new = _config_with(config, key, schema, workdir)
        resolve_config(new)  # a valid config
        plans[key] = changed, needrun = _plan(workdir, key, new)
        readers = {rule for rule, keys in reads.items() if key in keys}
        if changed != readers or (not readers and needrun and key not in STRUCTURAL):
            wrong[key] = {
                "read by": sorted(readers),
                "params changed": sorted(changed),
                "to run": sorted(needrun),
            }
    assert not wrong, yaml.safe_dump(wrong)
    # The test sees what it should: keys read by many rules, by one, and by none.
    assert plans["seed"][0] >= {"demo_dataset", "scan_sources", "render_batch", "sdf_shape", "train_model"}
    assert plans["sdf.iso"] == ({"sdf_shape"}, set())
    assert plans["evaluate.split"] == (
        {"report_page"},
        {"baseline", "predict_model", "evaluate_method", "evaluate_table", "report_page"},
    )
    assert plans["source.path"] == (set(), set())


def _fingerprint(workdir: Path) -> dict[tuple[str, str], str]:
    return {
        (r["split"], r["stage"]): r["sha256"]
        for r in read_tsv(workdir / "results" / "pack" / "fingerprint.tsv")
    }


def test_fingerprint_changes_with_an_sdf_setting_and_with_the_seed(run, tmp_path):
    """Real reruns of a copy of the run: another SDF setting changes the SDF and voxelize digests (and
    so every split's) and keeps the renders'; another seed changes every split."""
    workdir = tmp_path / "work"
    shutil.copytree(run[0], workdir, symlinks=True)
    before = _fingerprint(workdir)
    assert set(before) == {
        (s, t) for s in ("train", "val", "test") for t in ("index", "render", "sdf", "voxelize", "all")
    } | {("all", "all")}

    config = copy.deepcopy(CONFIG)
    config["sdf"]["samples"]["gaussian"]["count"] = 1200
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    run_snakemake(workdir, "--cores", "2", "pack")
    sdf = _fingerprint(workdir)
    for split in ("train", "val", "test"):
        assert sdf[(split, "index")] == before[(split, "index")]
        assert sdf[(split, "render")] == before[(split, "render")]
        assert sdf[(split, "sdf")] != before[(split, "sdf")]
        assert sdf[(split, "all")] != before[(split, "all")]
    assert sdf[("all", "all")] != before[("all", "all")]

    config["sdf"]["samples"]["gaussian"]["count"] = 1000
    config["seed"] = 1
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    run_snakemake(workdir, "--cores", "2", "pack")
    seed = _fingerprint(workdir)
    for split in ("train", "val", "test", "all"):
        assert seed[(split, "all")] not in (before[(split, "all")], sdf[(split, "all")])
    for split in ("train", "val", "test"):
        assert seed[(split, "render")] != before[(split, "render")]
