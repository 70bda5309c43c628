"""Training with one process per GPU: ``train_processes`` starts a real ``torchrun`` (gloo on the CPU)."""

from __future__ import annotations

import math

import pytest
import torch
import yaml

from recon.io.tables import read_tsv
from recon.train.stage import torchrun_command, train_processes
from tests.recon.models.test_methods import SMALL

pytestmark = pytest.mark.workflow


def test_torchrun_command_carries_the_overrides():
    overrides = {"train": {"num_workers": 8, "lr": 3e-4}, "model": {"encoder": "vgg16"}}
    cmd = torchrun_command("e.yaml", "t.zarr", None, "out", processes=4, overrides=overrides)
    assert cmd[1:5] == ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node=4"]
    assert cmd[cmd.index("-m", 2) + 1] == "recon.train" and "--val-store" not in cmd
    sets = [cmd[i + 1] for i, c in enumerate(cmd) if c == "--set"]
    assert sets == ["train.num_workers=8", "train.lr=0.0003", 'model.encoder="vgg16"']
    with pytest.raises(ValueError, match="processes"):
        train_processes("e.yaml", "t.zarr", None, "out", processes=0)


#: The families trained under DDP here: 3D-R2N2 (several views per item), Occupancy Networks (points,
#: selected on validation IoU), OGN (octrees of different sizes per process) and Mem3D (a memory written
#: with every process's items), PointSetGen and AtlasNet (point sets, Chamfer).
DDP_FAMILIES = ["r2n2", "onet", "ogn", "mem3d", "psgn", "atlasnet"]


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed is not available")
@pytest.mark.parametrize("name", DDP_FAMILIES)
def test_two_processes_through_torchrun_train_and_write_one_run(packed, tmp_path, name):
    experiment = tmp_path / f"{name}_tiny.yaml"
    settings = {"steps": 4, "batch_size": 4, "lr": 1e-3, "log_every": 1, "val_every": 2, "val_batches": 1,
                "checkpoint_every": 100, "num_workers": 0}  # fmt: skip
    experiment.write_text(yaml.safe_dump({"method": name, "model": SMALL[name], "train": settings}))
    store = packed / "results" / "pack"
    out = tmp_path / "run"
    # The fixture's val split is empty: validate on the train split.
    summary = train_processes(experiment, store / "train.zarr", store / "train.zarr", out, processes=2,
                              overrides={"train": {"seed": 7}}, progress=False)  # fmt: skip
    assert summary["complete"] and summary["steps"] == 4
    resolved = yaml.safe_load((out / "config.yaml").read_text())
    assert resolved["distributed"] == {"world_size": 2}
    assert resolved["train"]["seed"] == 7 and resolved["train"]["batch_size"] == 4  # the global batch
    history = read_tsv(out / "history.tsv")
    assert [int(r["step"]) for r in history] == [1, 2, 3, 4]
    assert all(math.isfinite(float(r["train/loss"])) for r in history)
    assert sum(1 for r in history if r["val/loss"]) == 2
    assert (out / "checkpoints" / "last.pt").is_file() and (out / "checkpoints" / "best.pt").is_file()
