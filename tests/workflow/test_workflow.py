"""The Snakemake workflow itself: lint, format, dry run of the whole DAG, and real ingest runs.

Each real run happens in a temporary working directory (``snakemake -s <repo>/Snakefile``)
with its own config/config.yaml, so the repository is never written to.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import trimesh
import yaml

from recon.io.store import open_store
from recon.io.tables import read_tsv
from tests.meshes import BAD_MESHES, REPO, SMALL_SDF, SMALL_VOXELIZE, TEST_LIMITS
from tests.pipeline import (
    SNAKEMAKE,
    file_bytes,
    interrupt_when,
    make_workdir,
    reversed_keys,
    run_snakemake,
    start_snakemake,
)

pytestmark = pytest.mark.workflow


def test_lint_passes():
    proc = subprocess.run([*SNAKEMAKE, "--lint"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Congratulations, your workflow is in a good condition!" in proc.stdout + proc.stderr


def test_snakefmt_clean():
    snakefmt = shutil.which("snakefmt", path=str(Path(sys.executable).parent))
    if snakefmt is None:
        pytest.skip("snakefmt is not installed (pip install -e '.[test]')")
    proc = subprocess.run(
        [snakefmt, "--check", "Snakefile", "workflow"], cwd=REPO, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_dry_run_of_the_whole_dag_on_the_shipped_config(tmp_path):
    workdir = tmp_path / "work"
    shutil.copytree(REPO / "config", workdir / "config")
    proc = run_snakemake(workdir, "--cores", "2", "--dry-run", "all")
    out = proc.stdout + proc.stderr
    for rule in ("demo_dataset", "scan_sources", "ledger"):
        assert rule in out
    assert not (workdir / "results").exists()


def test_sdf_stage_quarantines_a_shape_without_inside_and_goes_on(tmp_path):
    root = tmp_path / "meshes"
    (root / "things").mkdir(parents=True)
    trimesh.creation.box((1, 2, 3)).export(root / "things" / "box.obj")
    trimesh.creation.annulus(0.3, 0.6, 0.4).export(root / "things" / "ring.obj")
    sheet = trimesh.Trimesh([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]], [[0, 1, 2], [0, 2, 3]])
    sheet.export(root / "things" / "sheet.obj")
    workdir = make_workdir(
        tmp_path / "run",
        {
            "source": {"kind": "folder", "path": str(root)},
            "splits": {"ratios": {"train": 1.0, "val": 0.0, "test": 0.0}},
            "sdf": SMALL_SDF,
        },
    )
    run_snakemake(workdir, "--cores", "2", "sdf")
    ingest = {r["shape_id"]: r["status"] for r in read_tsv(workdir / "results" / "ingest" / "ledger.tsv")}
    assert ingest == {"box": "ok", "ring": "ok", "sheet": "ok"}  # a sheet is a valid mesh ...
    ledger = {r["shape_id"]: r for r in read_tsv(workdir / "results" / "sdf" / "ledger.tsv")}
    assert ledger["sheet"]["status"] == "quarantined"  # ... without an inside
    assert ledger["sheet"]["reason"].startswith("no interior"), ledger["sheet"]["reason"]
    assert ledger["box"]["status"] == ledger["ring"]["status"] == "ok"
    manifest = read_tsv(workdir / "results" / "sdf" / "manifest.tsv")
    assert sorted(r["shape_id"] for r in manifest) == ["box", "ring"]
    assert "quarantined" in (workdir / "logs" / "sdf" / "shapes" / "things" / "sheet.log").read_text()
    store = open_store(workdir / "results" / "sdf" / "shapes" / "things" / "ring.zarr")
    assert store["grid/sdf"].shape == (40, 40, 40) and store["mesh/faces"].shape[0] > 100


def test_demo_twice_with_reordered_config_keys_is_byte_identical(tmp_path, capsys):
    """Two runs in two folders, the second with every key of the config in reverse order: the same
    bytes everywhere (store metadata included) and the same dataset fingerprint."""
    from recon.cli import main

    config = {
        "seed": 0,
        "demo": {"shapes_per_category": 2},
        "render": {"views": 2, "resolution": 48, "batch_size": 6, "samples": 4},
        "sdf": {**SMALL_SDF, "grid": {"resolution": 40, "box": "fixed", "half_extent": 1.1}},
        "voxelize": SMALL_VOXELIZE,
        "train": {"experiments": []},  # training has its own tests (tests/recon/models)
    }
    trees = []
    for name, written in (("a", config), ("b", reversed_keys(config))):
        workdir = make_workdir(tmp_path / name, written, sort_keys=False)
        # Up to pack (evaluate and report rerun byte-identical in tests/recon/evaluate/test_stage.py).
        run_snakemake(workdir, "--cores", "2", "pack")
        trees.append({**file_bytes(workdir / "results"), **file_bytes(workdir / "resources")})
        summary = read_tsv(workdir / "results" / "ingest" / "summary.tsv")
        assert [(r["category_name"], r["ok"], r["quarantined"]) for r in summary] == [
            (n, "2", "0") for n in ("airplane", "bottle", "chair", "lamp", "mug", "table")
        ]
    a, b = trees
    assert len(a) > 12 * 3  # 12 stores (zarr.json + 2 arrays each) plus tables and the demo files
    renders = [k for k in a if k.startswith("render/") and k.endswith(".png")]
    assert len(renders) == 12  # a contact sheet per shape, next to its render store
    assert sorted(a) == sorted(b)
    assert [k for k in a if a[k] != b[k]] == []
    sdf = [k for k in a if k.startswith("sdf/shapes/") and k.endswith("grid/sdf/zarr.json")]
    assert len(sdf) == 12
    ledger = read_tsv(workdir / "results" / "sdf" / "ledger.tsv")
    assert len(ledger) == 12 and {r["status"] for r in ledger} == {"ok"}
    binvox = [k for k in a if k.startswith("voxelize/binvox/") and k.endswith("/model.binvox")]
    assert len(binvox) == 12
    packed = {r["category"]: int(r["shapes"]) for r in read_tsv(workdir / "results" / "pack" / "train.tsv")}
    splits = {r["shape_id"]: r["split"] for r in read_tsv(workdir / "results" / "ingest" / "manifest.tsv")}
    assert packed["all"] == sum(s == "train" for s in splits.values()) > 0
    assert any(k.startswith("pack/train.zarr/views/rgba/c/") for k in a)
    written = yaml.safe_load((workdir / "config" / "config.yaml").read_text())  # b's, in its own order
    assert list(written["sdf"]["grid"]) == ["half_extent", "box", "resolution"]
    # The fingerprint (part of the pack target) is what `recon fingerprint` prints.
    fingerprint = read_tsv(workdir / "results" / "pack" / "fingerprint.tsv")
    assert [(r["split"], r["stage"]) for r in fingerprint][-1] == ("all", "all")
    assert {r["stage"] for r in fingerprint} == {"index", "render", "sdf", "voxelize", "all"}
    assert main(["fingerprint", str(workdir / "results")]) == 0
    assert capsys.readouterr().out == a["pack/fingerprint.tsv"].decode()


def test_folder_ingest_quarantines_bad_meshes_and_goes_on(tmp_path, mesh_folder):
    workdir = make_workdir(
        tmp_path,
        {
            "source": {"kind": "folder", "path": str(mesh_folder)},
            "ingest": TEST_LIMITS,
            "splits": {"ratios": {"train": 1.0, "val": 0.0, "test": 0.0}},
            "render": {"views": 2, "resolution": 40, "samples": 2},
        },
    )
    run_snakemake(workdir, "--cores", "2", "ingest")
    ledger = {r["shape_id"]: r for r in read_tsv(workdir / "results" / "ingest" / "ledger.tsv")}
    # Quarantined shapes are skipped downstream: render only sees the usable ones.
    run_snakemake(workdir, "--cores", "2", "render")
    rendered = sorted(p.name for p in (workdir / "results" / "render").glob("*/*/*.zarr"))
    assert rendered == sorted(f"{k}.zarr" for k in ("tall", "long", "ico", "capsule", "cyl"))
    views = open_store(next((workdir / "results" / "render").glob("boxes/*/tall.zarr")))
    assert views["views/rgba"].shape == (2, 40, 40, 4) and views["views/mask"][...].any()
    for name, _, reason in BAD_MESHES.values():
        row = ledger[Path(name).stem]
        assert row["status"] == "quarantined", row
        assert row["reason"].startswith(reason), (name, row["reason"])
    good = {"tall", "long", "ico", "capsule", "cyl"}
    assert {k for k, r in ledger.items() if r["status"] == "ok"} == good
    manifest = read_tsv(workdir / "results" / "ingest" / "manifest.tsv")
    assert {r["shape_id"] for r in manifest} == good
    assert {r["split"] for r in manifest} == {"train"}

    # A usable shape's store: normalized mesh inside the unit sphere, touching it.
    store = open_store(workdir / "results" / "ingest" / "shapes" / "boxes" / "tall.zarr")
    vertices = store["mesh/vertices"][...]
    assert vertices.dtype == np.float32 and store["mesh/faces"].dtype == np.int32
    assert np.linalg.norm(vertices, axis=1).max() == pytest.approx(1.0, abs=1e-6)
    assert store.attrs["ledger"]["watertight"] is True
    assert store.attrs["provenance"]["source_sha256"] == ledger["tall"]["source_sha256"]
    # A quarantined shape's store holds its ledger entry and no arrays.
    bad = open_store(workdir / "results" / "ingest" / "shapes" / "bad" / "nan.zarr")
    assert bad.attrs["ledger"]["status"] == "quarantined" and list(bad.keys()) == []
    assert "NaN" in (workdir / "logs" / "ingest" / "shapes" / "bad" / "nan.log").read_text()

    # An interrupted run (some stores written, no ledger yet) resumes: only the missing shape
    # is redone, finished stores are kept as they are.
    shutil.rmtree(workdir / "results" / "ingest" / "shapes" / "balls" / "ico.zarr")
    ledger_before = (workdir / "results" / "ingest" / "ledger.tsv").read_bytes()
    for table in ("ledger", "manifest", "summary"):
        (workdir / "results" / "ingest" / f"{table}.tsv").unlink()
    kept = workdir / "results" / "ingest" / "shapes" / "boxes" / "tall.zarr" / "zarr.json"
    before = kept.stat().st_mtime_ns
    proc = run_snakemake(workdir, "--cores", "2", "ingest")
    out = proc.stdout + proc.stderr
    jobs = [line.split() for line in out.splitlines() if line.startswith("ingest_shape ")]
    assert jobs == [["ingest_shape", "1"]], out
    assert kept.stat().st_mtime_ns == before
    assert (workdir / "results" / "ingest" / "ledger.tsv").read_bytes() == ledger_before


def test_killed_run_resumes_without_redoing_finished_shapes(tmp_path):
    """SIGTERM a real run half-way; the rerun keeps every finished store and ends like a clean run."""
    workdir = make_workdir(tmp_path, {"demo": {"shapes_per_category": 2}})
    shapes = workdir / "results" / "ingest" / "shapes"
    proc = start_snakemake(workdir, "--cores", "1", "ingest")
    interrupt_when(proc, lambda: len(list(shapes.glob("*/*.zarr"))) >= 4, signal.SIGTERM)
    finished = {p: p.joinpath("zarr.json").stat().st_mtime_ns for p in shapes.glob("*/*.zarr")}
    assert 4 <= len(finished) < 12
    assert not (workdir / "results" / "ingest" / "ledger.tsv").exists()
    # No half-written store is left under its final name (temporary names start with ".").
    assert all((p / "zarr.json").is_file() for p in finished)

    run_snakemake(workdir, "--cores", "2", "ingest")
    assert {p: p.joinpath("zarr.json").stat().st_mtime_ns for p in finished} == finished
    assert len(list(shapes.glob("*/*.zarr"))) == 12
    assert not list(shapes.glob("*/.*"))  # no temporary leftovers
    ledger = read_tsv(workdir / "results" / "ingest" / "ledger.tsv")
    assert len(ledger) == 12 and {r["status"] for r in ledger} == {"ok"}


def test_shapenet_v2_copy_with_split_lists_selection_and_a_missing_model(tmp_path):
    """A user's ShapeNetCore.v2 copy: category selection by name, DISN-style lists, a missing mesh."""
    from recon.demo import make_demo_dataset

    root = tmp_path / "ShapeNetCore.v2"
    records = make_demo_dataset(root, seed=3, layout="v2", categories=["mug", "lamp"], shapes_per_category=3)
    mugs = sorted(r["shape_id"] for r in records if r["category"] == "mug")
    lamps = sorted(r["shape_id"] for r in records if r["category"] == "lamp")
    (root / "03797390" / mugs[2] / "models" / "model_normalized.obj").unlink()
    lists = tmp_path / "splits"
    lists.mkdir()
    (lists / "03797390_train.lst").write_text(f"{mugs[0]}\n{mugs[2]}\n")
    (lists / "03797390_test.lst").write_text(f"{mugs[1]}\n")
    (lists / "03636649_train.lst").write_text(f"{lamps[0]}\n")  # lamps are not selected anyway
    workdir = make_workdir(
        tmp_path,
        {
            "source": {"kind": "shapenet_v2", "path": str(root)},
            "selection": {"categories": ["mug"]},
            "splits": {"lists": str(lists)},
        },
    )
    run_snakemake(workdir, "--cores", "2", "ingest")
    ledger = {r["shape_id"]: r for r in read_tsv(workdir / "results" / "ingest" / "ledger.tsv")}
    assert set(ledger) == set(mugs)
    assert {k: (r["split"], r["status"]) for k, r in ledger.items()} == {
        mugs[0]: ("train", "ok"),
        mugs[1]: ("test", "ok"),
        mugs[2]: ("train", "quarantined"),
    }
    assert ledger[mugs[2]]["reason"] == "file not found"
    assert ledger[mugs[0]]["category_name"] == "mug"
    assert [r["shape_id"] for r in read_tsv(workdir / "results" / "ingest" / "manifest.tsv")] == mugs[:2]
