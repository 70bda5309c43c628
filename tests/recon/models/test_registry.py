"""The families' packages register themselves; renamed config keys are still read, with a warning."""

from __future__ import annotations

import warnings

import pytest

from recon.config import ConfigError
from recon.models.method import METHOD_PACKAGE, METHODS, PredictContext, discover_methods, method_config
from tests.meshes import REPO


def test_every_family_package_imports_and_registers_from_its_own_package():
    assert discover_methods() == {}
    modules = {n: type(m).__module__ for n, m in METHODS.items()}
    families = {n: m for n, m in modules.items() if m.startswith(f"{METHOD_PACKAGE}.")}
    assert families["disn"] == "recon.models.disn.method"
    assert families["r2n2"] == "recon.models.r2n2.method"
    for name in families:
        method_config(name, METHODS[name].small_config)  # every small config is a valid config


def test_disn_reads_sdf_preset_as_samples_with_a_warning_naming_the_new_key():
    with pytest.warns(FutureWarning, match=r"'model.sdf_preset' is renamed 'model.samples'"):
        config = method_config("disn", {"sdf_preset": "gaussian", "n_points": 64})
    assert config == method_config("disn", {"samples": "gaussian", "n_points": 64})
    assert method_config("disn").samples == "disn"
    with pytest.raises(ConfigError, match="same setting"):
        method_config("disn", {"sdf_preset": "gaussian", "samples": "disn"})


def test_shipped_experiments_use_the_current_keys():
    from recon.train import resolve_experiment

    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        for path in sorted((REPO / "config" / "experiments").glob("*.yaml")):
            resolve_experiment(path)


def test_predict_context_of_a_split_is_its_voxel_cube():
    class Split:
        voxel_half_extent = 0.55

    assert PredictContext.of(Split()) == PredictContext(voxel_half_extent=0.55)
    assert PredictContext().voxel_half_extent == 1.0


def test_a_checkpoint_saved_before_a_rename_resumes_and_a_changed_value_does_not():
    from recon.models.method import config_to_dict, get_method
    from recon.train.checkpoints import CHECKPOINT_FORMAT, check_resume

    method = get_method("disn")
    model_cfg = config_to_dict(method_config("disn", {"samples": "gaussian"}))
    old = {k if k != "samples" else "sdf_preset": v for k, v in model_cfg.items()}
    assert "sdf_preset" in old and "samples" not in old
    ckpt = {"format": CHECKPOINT_FORMAT, "method": "disn", "model_config": old, "train_config": {}}
    check_resume(ckpt, method, model_cfg, {})
    with pytest.raises(ConfigError, match=r"model\.samples"):
        check_resume(ckpt, method, {**model_cfg, "samples": "disn"}, {})
