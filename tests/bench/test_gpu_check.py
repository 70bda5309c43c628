"""bench/gpu_check.py: its toy-size CPU run (every section, one table) and its refusal without a GPU."""

from __future__ import annotations

import datetime
import math
import os
import re
import subprocess
import sys

import pytest

from recon.models.method import METHODS, discover_methods
from tests.meshes import REPO

SCRIPT = REPO / "bench" / "gpu_check.py"


def _methods() -> list[str]:
    """The methods of the package (not those other tests register in this process)."""
    discover_methods()
    return sorted(n for n, m in METHODS.items() if type(m).__module__.startswith("recon.models"))


def _rows(text: str) -> list[dict]:
    lines = [ln for ln in text.splitlines() if ln.startswith("| ")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    return [dict(zip(header, (c.strip() for c in ln.strip("|").split("|")), strict=True)) for ln in lines[1:]]


def _number(text: str, unit: str) -> float:
    match = re.search(rf"([0-9.]+(?:e[-+]?[0-9]+)?) {re.escape(unit)}", text)
    assert match, f"no '{unit}' figure in {text!r}"
    return float(match.group(1))


@pytest.fixture(scope="module")
def cpu_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu_check") / "table.md"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--cpu", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    text = out.read_text(encoding="utf-8")
    return {"proc": proc, "text": text, "rows": _rows(text)}


def test_cpu_run_prints_the_table_it_writes(cpu_run):
    proc, text = cpu_run["proc"], cpu_run["text"]
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    # stdout is the table, the same as the file; the file names the date and the device.
    assert proc.stdout.strip() == text.strip()
    assert datetime.date.today().isoformat() in text
    assert "CPU only" in text and "toy size" in text
    failed = [r for r in cpu_run["rows"] if r["result"].startswith(("failed", "NOT", "INCOMPLETE"))]
    assert proc.returncode == (1 if failed else 0)
    assert re.search(rf"{len(cpu_run['rows'])} rows, {len(failed)} failed; \d+ s in all", text)


def test_cpu_run_trains_every_method_at_its_shapenet_experiment(cpu_run):
    train = [r for r in cpu_run["rows"] if r["section"] == "train"]
    names = _methods()
    assert names == ["atlasnet", "disn", "disn_camera", "genre", "mem3d", "ogn", "onet", "psgn", "r2n2"]
    assert sorted(r["case"].split(" ")[0] for r in train) == names
    for row in train:
        assert row["result"].startswith("ok: loss"), row
        assert "_shapenet.yaml" in row["case"], row
        seconds, rate = _number(row["time"], "s/step"), _number(row["rate"], "items/s")
        assert math.isfinite(seconds) and seconds > 0
        batch = int(re.match(r"batch (\d+)", row["size"]).group(1))
        assert rate == pytest.approx(batch / seconds, rel=0.06, abs=0.06)
        assert 0.05 < _number(row["peak memory"], "GB") < 100
        first, last = (float(x) for x in re.findall(r"loss ([0-9.e+-]+) → ([0-9.e+-]+)", row["result"])[0])
        assert math.isfinite(first) and math.isfinite(last)
    sizes = {r["case"].split(" ")[0]: r["size"] for r in train}
    assert "5 views of 32²" in sizes["r2n2"] and "32³ voxels" in sizes["r2n2"]  # r2n2_shapenet's 5 views
    assert "64 points" in sizes["disn"]


def test_cpu_run_metrics_equal_the_cpu(cpu_run):
    metrics = [r for r in cpu_run["rows"] if r["section"] == "metrics"]
    compared = [r for r in metrics if not r["result"].startswith("skipped")]
    assert len(compared) == 3
    for row in compared:
        assert row["result"].startswith("equal:"), row
        device, cpu = (float(x) for x in re.findall(r"([0-9.]+) s\b", row["time"]))
        assert math.isfinite(device) and math.isfinite(cpu)
    chamfer = compared[0]["result"]
    assert "same neighbour 100.00 %" in chamfer
    assert float(re.search(r"rel\. diff ([0-9.e+-]+)", chamfer).group(1)) < 1e-5
    assert any(r["result"].startswith("skipped: CPU only") for r in metrics)  # EMD has no device path


def test_cpu_run_renders_twice_the_same_or_says_why_not(cpu_run):
    render = [r for r in cpu_run["rows"] if r["section"] == "render"]
    try:
        import bpy  # noqa: F401
    except Exception:
        assert len(render) == 1 and render[0]["result"].startswith("skipped: bpy not importable")
        return
    assert [r["case"] for r in render] == ["CPU (reference)", "CPU again vs CPU"]
    assert _number(render[0]["time"], "s/view") > 0
    again = render[1]["result"]
    assert again.startswith("PSNR inf dB; masks equal; depth equal"), again


def test_cpu_run_trains_every_method_under_torchrun(cpu_run):
    runs = [r for r in cpu_run["rows"] if r["section"] == "torchrun"]
    assert sorted(r["case"].split(",")[0] for r in runs) == _methods()
    for row in runs:
        assert "2 processes on cpu (gloo)" in row["case"]
        assert row["result"].startswith("ok: 1 of 1 steps"), row
        assert "checkpoint written" in row["result"]
        assert _number(row["time"], "s/step") > 0


def test_without_a_gpu_it_stops_with_status_2(tmp_path):
    out = tmp_path / "table.md"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    message = proc.stderr.strip().splitlines()
    assert len(message) == 1 and "no CUDA device" in message[0] and "--cpu" in message[0]
    assert not out.exists()
