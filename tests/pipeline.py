"""Running the real workflow in tests: snakemake in a temporary working directory with its own config."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import yaml

from tests.meshes import REPO

SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def run_snakemake(
    workdir: Path, *args: str, env: Mapping[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess:
    """Run snakemake in ``workdir`` on the repository's workflow; fail the test on error.

    ``env``: variables added to this process's environment for the run. ``check=False``: return a
    failed run (its ``returncode``, ``stdout`` and ``stderr``) instead of failing the test.
    """
    proc = subprocess.run(
        [*SNAKEMAKE, "-s", str(REPO / "Snakefile"), *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=900,
        env=None if env is None else {**os.environ, **env},
    )
    if check:
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def start_snakemake(workdir: Path, *args: str) -> subprocess.Popen:
    """Start snakemake in ``workdir`` on the repository's workflow in the background, output discarded."""
    return subprocess.Popen(
        [*SNAKEMAKE, "-s", str(REPO / "Snakefile"), *args],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def make_workdir(tmp_path: Path, config: dict, sort_keys: bool = True) -> Path:
    """A working directory ``tmp_path/work`` with ``config/config.yaml`` = ``config``.

    ``sort_keys=False`` writes the keys in ``config``'s own order (default: sorted).
    """
    workdir = tmp_path / "work"
    (workdir / "config").mkdir(parents=True)
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=sort_keys))
    return workdir


def reversed_keys(config: Mapping) -> dict:
    """``config`` with the keys of every mapping in it in reverse order (the same config, written
    in another order)."""
    return {k: reversed_keys(v) if isinstance(v, Mapping) else v for k, v in reversed(list(config.items()))}


def interrupt_when(
    proc: subprocess.Popen, ready: Callable[[], bool], sig: int, timeout_s: float = 300
) -> None:
    """Send ``sig`` to the running ``proc`` once ``ready()``, and wait for it to end.

    Fails the test if the run ends first or ``ready()`` is not true within ``timeout_s``; kills
    the process if it is still there after that.
    """
    try:
        deadline = time.monotonic() + timeout_s
        while not ready():
            assert proc.poll() is None, "the run ended before it could be interrupted"
            assert time.monotonic() < deadline, "no progress"
            time.sleep(0.2)
        proc.send_signal(sig)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()


def file_bytes(root: Path, relative_to: Path | None = None) -> dict[str, bytes]:
    """Every file below ``root`` as ``{path relative to relative_to (default root): bytes}``.

    Snakemake's ``.snakemake_timestamp`` markers in directory outputs are left out.
    """
    base = root if relative_to is None else relative_to
    return {
        p.relative_to(base).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != ".snakemake_timestamp"
    }
