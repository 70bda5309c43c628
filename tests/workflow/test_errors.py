"""What a user sees when something is wrong: a bad config, an empty source, a hard-killed run."""

from __future__ import annotations

import signal

import pytest

from recon.io.tables import read_tsv
from tests.pipeline import interrupt_when, make_workdir, run_snakemake, start_snakemake

pytestmark = pytest.mark.workflow


def test_bad_config_names_key_value_and_type_in_a_few_lines(tmp_path):
    workdir = make_workdir(tmp_path, {"seed": "x", "ingest": {"normalisation": "unit_sphere"}})
    proc = run_snakemake(workdir, "-n", "ingest", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "seed: got 'x' (str); expected integer" in out
    assert "ingest: unknown key 'normalisation'; allowed keys:" in out
    assert len(out.splitlines()) < 20, out
    assert "properties" not in out  # no schema dump


def test_source_folder_without_meshes_stops_the_run(tmp_path):
    empty = tmp_path / "meshes"
    (empty / "chairs").mkdir(parents=True)
    (empty / "chairs" / "notes.txt").write_text("no meshes here")
    workdir = make_workdir(tmp_path, {"source": {"kind": "folder", "path": str(empty)}})
    proc = run_snakemake(workdir, "--cores", "1", "ingest", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert f"no mesh file in {empty}: expected <category>/**/<name>.<obj|off|ply|stl|glb> under it" in out
    assert not (workdir / "results" / "ingest" / "sources.tsv").exists()


def test_hard_killed_run_unlocks_and_resumes_as_the_readme_says(tmp_path):
    """SIGKILL leaves Snakemake's lock: the rerun refuses, `--unlock` clears it, the rerun finishes."""
    workdir = make_workdir(tmp_path, {"demo": {"shapes_per_category": 1}})
    shapes = workdir / "results" / "ingest" / "shapes"
    proc = start_snakemake(workdir, "--cores", "1", "ingest")
    interrupt_when(proc, lambda: len(list(shapes.glob("*/*.zarr"))) >= 1, signal.SIGKILL)

    refused = run_snakemake(workdir, "--cores", "2", "ingest", check=False)
    assert refused.returncode != 0
    assert "Directory cannot be locked" in refused.stdout + refused.stderr
    run_snakemake(workdir, "--unlock")
    run_snakemake(workdir, "--cores", "2", "ingest")
    ledger = read_tsv(workdir / "results" / "ingest" / "ledger.tsv")
    assert len(ledger) == 6 and {r["status"] for r in ledger} == {"ok"}
