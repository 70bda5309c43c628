"""The config schema: every key documented with a default, defaults applied, errors named."""

from __future__ import annotations

import pytest
import yaml

from recon.config import ConfigError, load_config, load_schema, resolve_config, source_root
from tests.meshes import REPO


def _walk(schema, path=""):
    for key, sub in schema.get("properties", {}).items():
        yield f"{path}/{key}", sub
        yield from _walk(sub, f"{path}/{key}")


def test_every_key_has_description_and_default():
    keys = list(_walk(load_schema()))
    assert len(keys) > 20
    missing = [k for k, sub in keys if "description" not in sub or "default" not in sub]
    assert missing == []


def test_every_key_is_explained_in_config_readme():
    readme = (REPO / "config" / "README.md").read_text()
    for key, _ in _walk(load_schema()):
        assert f"`{key.strip('/').replace('/', '.')}`" in readme, key


def test_empty_config_resolves_to_schema_defaults():
    config = resolve_config({})
    assert config["seed"] == 0
    assert config["source"]["kind"] == "demo"
    assert config["splits"]["ratios"] == {"train": 0.7, "val": 0.1, "test": 0.2}
    assert config["ingest"]["normalization"] == "unit_sphere"
    assert source_root(config).as_posix() == "resources/demo/ShapeNetCore.v1"


def test_shipped_config_is_valid_and_matches_schema_defaults():
    shipped = load_config(REPO / "config" / "config.yaml")
    assert shipped == resolve_config({})


def test_partial_nested_override_keeps_sibling_defaults():
    config = resolve_config({"splits": {"ratios": {"train": 0.8, "val": 0.0, "test": 0.2}}})
    assert config["splits"]["ratios"]["train"] == 0.8
    assert config["splits"]["lists"] is None


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"seed": -1}, "config key seed"),
        ({"source": {"kind": "shapenet_v3"}}, "config key source/kind"),
        ({"source": {"kind": "folder"}}, "source.path is required"),
        ({"splits": {"ratios": {"train": 0.5}}}, "must sum to 1"),
        ({"ingest": {"normalisation": "unit_sphere"}}, "Additional properties"),
    ],
)
def test_invalid_configs_name_the_key(config, message):
    with pytest.raises(ConfigError, match=message):
        resolve_config(config)


def test_snakemake_validation_fills_the_same_defaults():
    from snakemake.utils import validate

    config = {"source": {"kind": "folder", "path": "x"}}
    validate(config, str(REPO / "workflow" / "schemas" / "config.schema.yaml"))
    assert config == resolve_config({"source": {"kind": "folder", "path": "x"}})


def test_load_config_reads_yaml(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"seed": 7, "demo": {"layout": "v2"}}))
    config = load_config(path)
    assert config["seed"] == 7
    assert source_root(config).as_posix() == "resources/demo/ShapeNetCore.v2"
