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
    "plain",
    "resolve_config",
    "source_root",
    "validate_in_place",
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
    errors = sorted(validator.iter_errors(resolved), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        lines = [_describe_error(e) for e in errors[:_MAX_ERRORS]]
        if len(errors) > _MAX_ERRORS:
            lines.append(f"... and {len(errors) - _MAX_ERRORS} more")
        heading = "invalid config" + (f" ({len(errors)} errors)" if len(errors) > 1 else "")
        raise ConfigError(heading + ":\n" + "\n".join(f"  {line}" for line in lines))
    check_rules(resolved)
    return resolved


def validate_in_place(config: dict) -> None:
    """:func:`resolve_config` for the workflow: fill defaults into Snakemake's own ``config`` dict.

    Snakemake's ``validate`` reports a failure with the whole schema (thousands of lines); this
    names the key, the value and what was expected (:class:`ConfigError`).
    """
    resolved = resolve_config(config)
    config.clear()
    config.update(resolved)


#: At most this many schema errors are listed; the rest are counted.
_MAX_ERRORS = 5


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _describe_error(error) -> str:
    """One line for a jsonschema error: dotted key path, the value, what the schema expects."""
    path = ".".join(str(p) for p in error.absolute_path) or "(top level)"
    kind, expected, value = error.validator, error.validator_value, error.instance
    if kind == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(value) - set(allowed)) if isinstance(value, dict) else []
        where = f"{path}: " if error.absolute_path else ""
        return f"{where}unknown key {', '.join(map(repr, unknown))}; allowed keys: {', '.join(allowed)}"
    if kind == "type":
        types = expected if isinstance(expected, list) else [expected]
        want = " or ".join(types)
    elif kind == "enum":
        want = "one of " + ", ".join(map(repr, expected))
    elif kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        sign = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}[kind]
        want = f"a number {sign} {expected}"
    elif kind in ("minItems", "maxItems", "minLength", "maxLength"):
        want = f"{kind} {expected}"
    else:  # required, pattern, oneOf, ...: jsonschema's own sentence names the rule
        return f"{path}: {_short(error.message, 160)}"
    return f"{path}: got {_short(value)} ({type(value).__name__}); expected {want}"


def load_config(path: Path | str | None = None) -> dict:
    """Read a YAML config file (None = all defaults) and return it resolved."""
    if path is None:
        return resolve_config({})
    with open(path, encoding="utf-8") as f:
        return resolve_config(yaml.safe_load(f) or {})


def plain(value: Any) -> Any:
    """``value`` as plain JSON-like data: mappings as dicts with sorted keys (at every level), tuples
    and lists as lists. Written config sections, and the params that name them, go through it, so
    the order of keys in a config file changes no byte and no rerun."""
    if isinstance(value, Mapping):
        return {str(k): plain(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def config_digest(section: Any) -> str:
    """SHA-256 of the canonical JSON of ``section`` (sorted keys): names a config in provenance."""
    text = json.dumps(plain(section), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def source_root(config: Mapping) -> Path:
    """Root folder of the raw meshes: ``source.path``, or the demo folder for ``kind: demo``.

    Relative paths stay relative (to the working directory the workflow runs in).
    """
    if config["source"]["kind"] == "demo":
        return Path("resources") / "demo" / f"ShapeNetCore.{config['demo']['layout']}"
    return Path(config["source"]["path"])
