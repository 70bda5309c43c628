"""Running the real workflow in tests: snakemake in a temporary working directory with its own config."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from tests.meshes import REPO

SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def run_snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    """Run snakemake in ``workdir`` on the repository's workflow; fail the test on error."""
    proc = subprocess.run(
        [*SNAKEMAKE, "-s", str(REPO / "Snakefile"), *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def make_workdir(tmp_path: Path, config: dict) -> Path:
    """A working directory ``tmp_path/work`` with ``config/config.yaml`` = ``config``."""
    workdir = tmp_path / "work"
    (workdir / "config").mkdir(parents=True)
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    return workdir
