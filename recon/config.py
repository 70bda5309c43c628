"""The configuration: loading, defaults and validation against the workflow's JSON schema.

The schema (``workflow/schemas/config.schema.yaml``) is the single source of truth for
keys, types, descriptions and defaults. Snakemake validates ``config`` against it at parse
time; :func:`load_config` applies the same schema for code that runs outside Snakemake
(the ``recon`` command line, tests, notebooks), so both see the same resolved values.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "REPO_ROOT",
    "SCHEMA_PATH",
    "ConfigError",
    "config_digest",
    "load_config",
    "load_schema",
    "resolve_config",
    "source_root",
]

REPO_ROOT = Path(__file__).resolve().parents[1]
SCHEMA_PATH = REPO_ROOT / "workflow" / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
    """A config that does not satisfy the schema or the cross-key rules."""


def load_schema(path: Path | str = SCHEMA_PATH) -> dict:
    """Read the JSON schema (YAML syntax) as a dict."""
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def _fill_defaults(instance: dict, schema: Mapping) -> None:
    """Insert schema defaults into ``instance`` in place, recursing into objects."""
    for key, sub in schema.get("properties", {}).items():
        if key not in instance and "default" in sub:
            instance[key] = copy.deepcopy(sub["default"])
        if isinstance(instance.get(key), dict) and sub.get("type") == "object":
            _fill_defaults(instance[key], sub)


def check_rules(config: Mapping) -> None:
    """Cross-key rules the schema cannot express; raises :class:`ConfigError`.

    - ``source.path`` is required unless ``source.kind`` is ``demo``;
    - the split ratios sum to 1 (within 1e-6) when no split lists are given.
    """
    source = config["source"]
    if source["kind"] != "demo" and not source["path"]:
        raise ConfigError(f"source.path is required when source.kind is {source['kind']!r}")
    ratios = config["splits"]["ratios"]
    total = ratios["train"] + ratios["val"] + ratios["test"]
    if config["splits"]["lists"] is None and abs(total - 1.0) > 1e-6:
        raise ConfigError(f"splits.ratios must sum to 1, got {total:g} ({ratios})")


def resolve_config(config: Mapping | None = None, schema: Mapping | None = None) -> dict:
    """Fill defaults, validate against the schema and check cross-key rules.

    Args:
        config: a (possibly partial) config mapping; None means all defaults.
        schema: the schema; defaults to :data:`SCHEMA_PATH`.

    Returns:
        A new dict with every key present.

    Raises:
        ConfigError: naming the offending key and the reason.
    """
    import jsonschema

    schema = load_schema() if schema is None else schema
    resolved = copy.deepcopy(dict(config or {}))
    _fill_defaults(resolved, schema)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(resolved), key=lambda e: list(e.absolute_path))
    if errors:
        where = "/".join(str(p) for p in errors[0].absolute_path) or "<root>"
        raise ConfigError(f"config key {where}: {errors[0].message}")
    check_rules(resolved)
    return resolved


def load_config(path: Path | str | None = None) -> dict:
    """Read a YAML config file (None = all defaults) and return it resolved."""
    if path is None:
        return resolve_config({})
    with open(path, encoding="utf-8") as f:
        return resolve_config(yaml.safe_load(f) or {})


def config_digest(section: Any) -> str:
    """SHA-256 of the canonical JSON of ``section`` (sorted keys): names a config in provenance."""
    text = json.dumps(section, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def source_root(config: Mapping) -> Path:
    """Root folder of the raw meshes: ``source.path``, or the demo folder for ``kind: demo``.

    Relative paths stay relative (to the working directory the workflow runs in).
    """
    if config["source"]["kind"] == "demo":
        return Path("resources") / "demo" / f"ShapeNetCore.{config['demo']['layout']}"
    return Path(config["source"]["path"])
