"""The workflow on a real SLURM cluster: ``snakemake --executor slurm`` with ``profiles/slurm``.

A one-node cluster (``slurm_cluster.py``: munged, slurmctld and slurmd from Debian's packages) runs
the demo pipeline's ingest, render and sdf stages through snakemake-executor-plugin-slurm with the
repository's profile as it is; only the site facts a user gives on the command line are added
(account, partition, the node's size for grouped jobs, and ``squeue`` for job states, since the
cluster has no accounting database). Checked: the outputs are byte-identical to a local run; a
grouped job that SLURM kills for memory is resubmitted with more and the run finishes; a run
interrupted half-way resumes with ``--rerun-incomplete`` without redoing finished shapes.

Skipped, with the reason, where the cluster cannot start (no SLURM packages, not root, or the
daemons fail): ``.ci/run`` installs the packages, so in CI it runs.
"""

from __future__ import annotations

import importlib.util
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from recon.config import resolve_config, source_root
from recon.geometry.mesh_limits import ingest_mem_mb
from recon.io.tables import read_tsv
from tests.meshes import REPO, SMALL_SDF
from tests.pipeline import SNAKEMAKE, file_bytes, interrupt_when, make_workdir, run_snakemake
from tests.workflow.slurm_cluster import ClusterUnavailable, SlurmCluster

pytestmark = pytest.mark.workflow

CONFIG = {
    "seed": 0,
    "demo": {"shapes_per_category": 2},
    "selection": {"categories": ["chair", "lamp"]},
    "render": {"views": 2, "resolution": 48, "batch_size": 6, "samples": 4},
    "sdf": SMALL_SDF,
    "train": {"experiments": []},
}
SHAPES = 4  # 2 categories x 2 shapes
TARGETS = ("render", "sdf")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        pytest.skip("snakemake-executor-plugin-slurm is not installed (pip install -e '.[slurm]')")
    cluster = SlurmCluster(tmp_path_factory.mktemp("cluster"))
    try:
        cluster.start()
    except ClusterUnavailable as err:
        pytest.skip(f"the one-node SLURM cluster could not start: {err}")
    yield cluster
    cluster.stop()


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    """The same stages run locally: the reference the SLURM runs must equal byte for byte."""
    workdir = make_workdir(tmp_path_factory.mktemp("local"), CONFIG)
    run_snakemake(workdir, "--cores", "2", *TARGETS)
    return workdir


def _slurm_args(cluster: SlurmCluster) -> list[str]:
    """What a user adds to the profile on the command line: site facts, node size, fast polling."""
    return [
        "--workflow-profile", str(REPO / "profiles" / "slurm"),
        "--default-resources", "slurm_account=recon", f"slurm_partition={cluster.partition}",
        # One grouped job must fit the node: 2 CPUs here.
        "--cores", str(cluster.cpus), "--resources", "mem_mb=8000",
        "--slurm-status-command", "squeue",  # no slurmdbd here, so no sacct
        "--slurm-init-seconds-before-status-checks", "1",
        "--seconds-between-status-checks", "2",
        "--latency-wait", "5",
        "--verbose",  # the log then shows every sbatch call
    ]  # fmt: skip


def _slurm_snakemake(cluster, workdir, targets, *args, popen=False):
    """``snakemake <targets> --executor slurm ...``: the targets first, as options take lists.

    Returns the run's log text, or with ``popen`` the running process (``proc.log_path``: its log).
    """
    argv = [*SNAKEMAKE, *targets, "-s", str(REPO / "Snakefile"), *_slurm_args(cluster), *args]
    log_path = workdir / f"slurm-run-{time.monotonic_ns()}.log"
    with open(log_path, "w") as log:  # the child keeps its own handle
        if popen:
            proc = subprocess.Popen(
                argv, cwd=workdir, env=cluster.env, stdout=log, stderr=subprocess.STDOUT,
                # A pytest-xdist worker ignores SIGINT, and children inherit that: give Ctrl-C back.
                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
            )  # fmt: skip
            proc.log_path = log_path
            return proc
        proc = subprocess.run(
            argv, cwd=workdir, env=cluster.env, stdout=log, stderr=subprocess.STDOUT, timeout=900
        )
    text = log_path.read_text()
    assert proc.returncode == 0, text[-5000:]
    return text


def _outputs(workdir: Path) -> dict[str, bytes]:
    """Every output file of the stages (not logs, benchmarks or snakemake's bookkeeping)."""
    return {**file_bytes(workdir / "resources", workdir), **file_bytes(workdir / "results", workdir)}


def _sbatch_calls(log: str) -> list[str]:
    return [line.split("--wrap")[0] for line in log.splitlines() if line.startswith("sbatch call:")]


def test_slurm_run_is_byte_identical_to_a_local_run_despite_a_memory_kill(cluster, local_run, tmp_path):
    """The profile's groups, resources and retries on a real cluster, checked against a local run.

    The SDF jobs' first attempt asks for 50 MB each (100 MB for the group of two side by side),
    less than one SDF job's Python process takes even when the two run one after the other (a
    limit of 150 MB each was once not reached under load), so SLURM kills the grouped job
    (OverMemoryKill); snakemake resubmits it with the second attempt's memory and the run completes.
    """
    workdir = make_workdir(tmp_path, CONFIG)
    log = _slurm_snakemake(
        cluster, workdir, TARGETS, "--set-resources", "sdf_shape:mem_mb=50 if attempt == 1 else 3000"
    )
    calls = _sbatch_calls(log)
    # Per-shape jobs went out grouped: one SLURM job for the 4 ingest jobs, one per attempt of SDF.
    ingest = [c for c in calls if "group_ingest_shapes" in c]
    sdf = [c for c in calls if "group_sdf_shapes" in c]
    assert len(ingest) == 1 and "--cpus-per-task=2" in ingest[0], calls
    # 4 jobs on a node of 2 CPUs: 2 side by side, 2 rounds of 5 min; each job asks the memory its
    # mesh file's size gives (recon.geometry.mesh_limits.ingest_mem_mb), the group the sum of a round.
    config = resolve_config(CONFIG)
    root = workdir / source_root(config)
    meshes = [root / r["source_path"] for r in read_tsv(workdir / "results" / "ingest" / "sources.tsv")]
    asks = sorted(ingest_mem_mb(p.stat().st_size / 2**20, config["ingest"]) for p in meshes)
    mem = int(re.search(r"--mem (\d+)", ingest[0]).group(1))
    assert len(asks) == 4 and asks[0] + asks[1] <= mem <= asks[-2] + asks[-1] < 1000, (asks, ingest)
    assert " -t 10 " in ingest[0], ingest
    assert [re.search(r"--mem (\d+)", c).group(1) for c in sdf] == ["100", "6000"], sdf
    # The two render batches (one per category, 2 shapes, 2 threads each) in one job, one after
    # the other: 2 x (10 + 2 x 3) minutes.
    render = [c for c in calls if "group_render_batches" in c]
    assert len(render) == 1 and " --mem 3000 " in render[0] and " -t 32 " in render[0], render
    assert (
        "exceeded memory limit"
        in "".join(p.read_text() for p in (workdir / ".snakemake" / "slurm_logs").rglob("*.log"))
        or "exceeded memory limit" in log
    )
    # Every job ended; nothing is left in the queue.
    assert {j["state"] for j in cluster.jobs() if j["state"] in ("PENDING", "RUNNING")} == set()

    local, remote = _outputs(local_run), _outputs(workdir)
    assert len(local) > 100 and sorted(remote) == sorted(local)
    assert [k for k in local if local[k] != remote[k]] == []
    stores = [k for k in local if re.fullmatch(r"results/sdf/shapes/[^/]+/[^/]+\.zarr/zarr\.json", k)]
    assert len(stores) == SHAPES


def test_interrupted_slurm_run_resumes_without_redoing_finished_shapes(cluster, local_run, tmp_path):
    """Ctrl-C half-way through the SDF stage cancels its SLURM jobs; the rerun does only the rest."""
    workdir = make_workdir(tmp_path, CONFIG)
    run_snakemake(workdir, "--cores", "2", "ingest")  # locally: identical, and quicker
    shapes = workdir / "results" / "sdf" / "shapes"
    # One SLURM job per shape, one at a time: the interruption comes after the first has finished
    # and while the second runs.
    one_by_one = ("--group-components", "sdf_shapes=1", "--jobs", "1")
    proc = _slurm_snakemake(cluster, workdir, ["sdf"], *one_by_one, popen=True)
    log = proc.log_path
    # Interrupt once snakemake has seen the first shape's job finish (a store that appears before
    # snakemake sees its job end belongs to a running job, which an interruption discards) and
    # has submitted the second.
    interrupt_when(
        proc, lambda: log.read_text().count("has been submitted with SLURM jobid") >= 2, signal.SIGINT
    )
    finished = {p: (p / "zarr.json").stat().st_mtime_ns for p in shapes.glob("*/*.zarr")}
    assert 1 <= len(finished) < SHAPES, finished
    # The interrupted run cancelled the job it had running (scancel).
    ids = re.findall(r"has been submitted with SLURM jobid (\d+)", log.read_text())
    states = {j["id"]: j["state"] for j in cluster.jobs()}
    assert [states[i] for i in ids] == ["COMPLETED", "CANCELLED"], (ids, states)
    assert not (workdir / "results" / "sdf" / "ledger.tsv").exists()

    log = _slurm_snakemake(cluster, workdir, ["sdf"], *one_by_one)
    assert {p: (p / "zarr.json").stat().st_mtime_ns for p in finished} == finished
    redone = [c for c in _sbatch_calls(log) if "sdf_shape" in c]
    assert len(redone) == SHAPES - len(finished), redone
    assert not list(shapes.glob("*/.*"))  # no temporary leftovers
    local = {k: v for k, v in _outputs(local_run).items() if not k.startswith("results/render/")}
    remote = _outputs(workdir)
    assert sorted(remote) == sorted(local)
    assert [k for k in local if local[k] != remote[k]] == []
