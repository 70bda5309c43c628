"""The config schema: every key documented with a default, defaults applied, errors named."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import yaml

import recon
from recon.config import (
    CLUSTER_KEYS,
    RENAMED_KEYS,
    SCHEMA_PATH,
    ConfigError,
    load_config,
    load_schema,
    resolve_config,
    source_root,
    validate_in_place,
)
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
        ({"seed": -1}, r"seed: got -1 \(int\); expected a number >= 0"),
        ({"seed": "x"}, r"seed: got 'x' \(str\); expected integer"),
        ({"source": {"kind": "v3"}}, r"source.kind: got 'v3' \(str\); expected one of 'demo'"),
        ({"source": {"kind": "folder"}}, "source.path is required"),
        ({"splits": {"ratios": {"train": 0.5}}}, "must sum to 1"),
        (
            {"ingest": {"normalisation": "x"}},
            r"ingest: unknown key 'normalisation'; allowed keys: .*normalization",
        ),
        (
            {"sdf": {"samples": {"gaussian": {"sigmas": "deep"}}}},
            r"sdf.samples.gaussian.sigmas: got 'deep' \(str\); "
            r"expected one of 'deepsdf', 'mesh_to_sdf' or array",
        ),
    ],
)
def test_invalid_configs_name_the_key(config, message):
    with pytest.raises(ConfigError, match=message):
        resolve_config(config)


def test_schema_errors_are_a_few_lines():
    """Every error is listed with its key, up to five; never the schema itself."""
    bad = {"seed": "x", "render": {"views": 0, "resolution": "big"}, "sdf": {"grid": {"resolution": [1]}}}
    with pytest.raises(ConfigError) as raised:
        resolve_config(bad)
    lines = str(raised.value).splitlines()
    assert lines[0] == "invalid config (4 errors):"
    assert len(lines) == 5
    assert all(len(line) < 200 for line in lines)
    assert [line.split(":")[0].strip() for line in lines[1:]] == [
        "render.resolution",
        "render.views",
        "sdf.grid.resolution",
        "seed",
    ]


def test_workflow_validation_fills_defaults_into_the_same_dict():
    config = {"source": {"kind": "folder", "path": "x"}}
    same = config
    validate_in_place(config)
    assert same is config
    assert config == resolve_config({"source": {"kind": "folder", "path": "x"}})


def test_load_config_reads_yaml(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"seed": 7, "demo": {"layout": "v2"}}))
    config = load_config(path)
    assert config["seed"] == 7
    assert source_root(config).as_posix() == "resources/demo/ShapeNetCore.v2"


def test_the_schema_is_package_data():
    assert SCHEMA_PATH.parent.parent == Path(recon.__file__).parent
    with open(REPO / "pyproject.toml", "rb") as f:
        package_data = tomllib.load(f)["tool"]["setuptools"]["package-data"]["recon"]
    assert any(SCHEMA_PATH.relative_to(SCHEMA_PATH.parents[1]).match(p) for p in package_data)


GAUSSIAN = "sdf.samples.gaussian.preset"


def _gaussian(**keys):
    return {"sdf": {"samples": {"gaussian": keys}}}


@pytest.mark.parametrize(
    ("key", "old", "new"),
    [
        ("render.preset", {"render": {"preset": "genre"}}, {"render": {"poses": "genre"}}),
        (GAUSSIAN, _gaussian(preset="mesh_to_sdf"), _gaussian(sigmas="mesh_to_sdf")),
        ("evaluate.presets", {"evaluate": {"presets": ["disn"]}}, {"evaluate": {"protocols": ["disn"]}}),
        # The old key wins over the new one that the shipped config.yaml sets (Snakemake merges a
        # user's --configfile into it).
        (
            "evaluate.presets",
            {"evaluate": {"protocols": ["onet", "disn"], "presets": ["r2n2"]}},
            {"evaluate": {"protocols": ["r2n2"]}},
        ),
        (GAUSSIAN, _gaussian(sigmas="deepsdf", preset="mesh_to_sdf"), _gaussian(sigmas="mesh_to_sdf")),
        # A list of sigmas (custom, or one overriding the named set's) stays the list.
        (
            GAUSSIAN,
            _gaussian(preset="custom", sigmas=[0.1], uniform_fraction=0.2),
            _gaussian(sigmas=[0.1], uniform_fraction=0.2),
        ),
        (GAUSSIAN, _gaussian(preset="deepsdf", sigmas=[0.1], uniform_fraction=None), _gaussian(sigmas=[0.1])),
    ],
)
def test_old_keys_are_read_with_a_warning_naming_the_new_key(key, old, new):
    with pytest.warns(FutureWarning, match=rf"config key {key} is renamed {RENAMED_KEYS[key][0]}"):
        config = resolve_config(old)
    assert config == resolve_config(new)


@pytest.mark.parametrize("key", sorted(CLUSTER_KEYS))
def test_old_cluster_keys_are_dropped_with_a_warning_naming_the_resource(key):
    section, leaf = key.split(".")
    with pytest.warns(FutureWarning, match=rf"{key} is a cluster fact now: set \w+ train_model[:\w]*="):
        config = resolve_config({section: {leaf: 3}})
    assert config == resolve_config({})
    assert leaf not in load_schema()["properties"][section]["properties"]


def test_the_workflow_reads_old_cluster_keys_until_the_next_release():
    config = {"train": {"gpus": 2, "threads": 8, "num_workers": 1}}
    with pytest.warns(FutureWarning, match="is a cluster fact now") as caught:
        old = validate_in_place(config)
    assert sorted(str(w.message).split()[0] for w in caught) == ["train.gpus", "train.threads"]
    assert old == {"train.gpus": 2, "train.threads": 8}
    assert config == resolve_config({"train": {"num_workers": 1}})
    assert validate_in_place({}) == {}


def test_old_cluster_keys_must_be_counts():
    with pytest.raises(ConfigError, match=r"train.threads: got 0; expected an integer >= 1"):
        resolve_config({"train": {"threads": 0}})
