"""The configuration: loading, renamed keys, defaults and validation against the JSON schema.

The schema (``recon/schemas/config.schema.yaml``, shipped with the package) is the single source
of truth for keys, types, descriptions and defaults. :func:`resolve_config` is the one place that
reads old key names (:data:`RENAMED_KEYS`), fills defaults and validates: the workflow calls it on
Snakemake's ``config`` at parse time (:func:`validate_in_place`), and :func:`load_config` for code
that runs outside Snakemake (the ``recon`` command line, tests, notebooks), so both see the same
resolved values.
"""

from __future__ import annotations

import copy
import hashlib
import json
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "CLUSTER_KEYS",
    "RENAMED_KEYS",
    "SCHEMA_PATH",
    "ConfigError",
    "config_digest",
    "load_config",
    "load_schema",
    "plain",
    "pop_cluster_keys",
    "rename_old_keys",
    "resolve_config",
    "source_root",
    "validate_in_place",
]

#: The schema, package data of ``recon`` (pyproject.toml).
SCHEMA_PATH = Path(__file__).resolve().with_name("schemas") / "config.schema.yaml"


class ConfigError(ValueError):
    """A config that does not satisfy the schema or the cross-key rules."""


def load_schema(path: Path | str = SCHEMA_PATH) -> dict:
    """Read the JSON schema (YAML syntax) as a dict."""
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def _replace(old: Any, new: Any) -> Any:
    """The old key's value, as it was (a plain rename)."""
    return old


def _sigma_set(old: Any, new: Any) -> Any:
    """``gaussian.preset`` (deepsdf, mesh_to_sdf or custom) into ``gaussian.sigmas`` (a set's name or a
    list): a named set, unless ``sigmas`` already holds a list (custom, or a list overriding the set's)."""
    return new if old == "custom" or isinstance(new, list) else old


#: Config keys renamed, read under their old name for one release with a warning (FutureWarning):
#: old dotted key -> (new dotted key, ``f(old value, new key's value or None)`` = the new key's value).
#: The old key wins over the new one: it can only come from the user, while the new one may come from
#: the shipped config/config.yaml that Snakemake merges a user's ``--configfile`` into.
RENAMED_KEYS: dict[str, tuple[str, Callable[[Any, Any], Any]]] = {
    "render.preset": ("render.poses", _replace),
    "sdf.samples.gaussian.preset": ("sdf.samples.gaussian.sigmas", _sigma_set),
    "evaluate.presets": ("evaluate.protocols", _replace),
}


def _section(config: dict, parents: list[str], create: bool) -> dict | None:
    """The nested dict at ``parents`` (created when ``create``), or None where there is none."""
    for part in parents:
        if create and part not in config:
            config[part] = {}
        config = config.get(part)
        if not isinstance(config, dict):
            return None
    return config


_MISSING = object()


def _pop_old_key(config: dict, key: str, message: str) -> Any:
    """Take the dotted ``key`` out of ``config`` with a FutureWarning (``message`` + "until the next
    release"); :data:`_MISSING` where the config does not set it."""
    *parents, leaf = key.split(".")
    section = _section(config, parents, create=False)
    if section is None or leaf not in section:
        return _MISSING
    warnings.warn(f"{message} until the next release", FutureWarning, stacklevel=3)
    return section.pop(leaf)


def rename_old_keys(config: dict) -> None:
    """Move every old key of :data:`RENAMED_KEYS` in ``config`` (in place) to its new name, warning."""
    for old, (new, value) in RENAMED_KEYS.items():
        old_value = _pop_old_key(config, old, f"config key {old} is renamed {new}; {old} is read as {new}")
        if old_value is _MISSING:
            continue
        *new_parents, new_leaf = new.split(".")
        target = _section(config, new_parents, create=True)
        if target is not None:  # else the schema names the section that is not a mapping
            target[new_leaf] = value(old_value, target.get(new_leaf))


#: Config keys that were cluster facts and are now resources of the training rule: read for one
#: release with a warning (FutureWarning) that names the replacement. Old dotted key -> (smallest
#: value, what to set instead).
CLUSTER_KEYS: dict[str, tuple[int, str]] = {
    "train.gpus": (0, "set resources train_model:gpu=N in your profile or with --set-resources"),
    "train.threads": (1, "set threads train_model=N in your profile (set-threads) or with --set-threads"),
    "train.runtime_min": (1, "set resources train_model:runtime=MIN in your profile or with --set-resources"),
}


def pop_cluster_keys(config: dict) -> dict[str, int]:
    """Take the keys of :data:`CLUSTER_KEYS` out of ``config`` (in place), each with a warning.

    Returns:
        ``{old dotted key: value}`` of those it held: the workflow takes them as the training rules'
        defaults for one release (``workflow/rules/common.smk``, ``cluster_fact``); a profile or
        ``--set-resources``/``--set-threads`` still overrides them.

    Raises:
        ConfigError: a value that is not an integer of at least the key's smallest value.
    """
    found = {}
    for key, (minimum, replacement) in CLUSTER_KEYS.items():
        value = _pop_old_key(config, key, f"{key} is a cluster fact now: {replacement}; {key} is read")
        if value is _MISSING:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ConfigError(f"{key}: got {_short(value)}; expected an integer >= {minimum}")
        found[key] = value
    return found


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
    """Read renamed keys (:data:`RENAMED_KEYS`), drop old cluster keys (:data:`CLUSTER_KEYS`), fill
    defaults, validate against the schema and check cross-key rules: the one function that resolves a
    config, for the workflow and the command line.

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
    rename_old_keys(resolved)
    pop_cluster_keys(resolved)
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


def validate_in_place(config: dict) -> dict[str, int]:
    """:func:`resolve_config` for the workflow: fill defaults into Snakemake's own ``config`` dict.

    Snakemake's ``validate`` reports a failure with the whole schema (thousands of lines); this
    names the key, the value and what was expected (:class:`ConfigError`).

    Returns:
        the old cluster keys the config still set (:func:`pop_cluster_keys`), which the workflow
        reads as the training rules' resources until the next release.
    """
    old_cluster_keys = pop_cluster_keys(config)
    resolved = resolve_config(config)
    config.clear()
    config.update(resolved)
    return old_cluster_keys


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
    elif kind == "anyOf":  # each alternative as its values or its type
        want = " or ".join(
            "one of " + ", ".join(map(repr, o["enum"])) if "enum" in o else str(o["type"]) for o in expected
        )
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
