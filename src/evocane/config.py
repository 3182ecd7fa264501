"""Load and validate workflow configuration against config/schema.yaml (JSON Schema 2020-12).

Validation fills in every ``default:`` from the schema and rejects unknown keys and wrong types with one message
that names the key (as a dotted path) and the file it came from.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from evocane.errors import EvocaneError

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SCHEMA = REPO_ROOT / "config" / "schema.yaml"


def _with_defaults(validator_class: type[jsonschema.protocols.Validator]) -> type[jsonschema.protocols.Validator]:
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):  # type: ignore[no-untyped-def]
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema and name not in instance:
                    instance[name] = copy.deepcopy(subschema["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


_DefaultFillingValidator = _with_defaults(jsonschema.Draft202012Validator)


def load_yaml(path: str | Path) -> Any:
    path = Path(path)
    if not path.exists():
        raise EvocaneError(f"{path}: config file not found")
    try:
        with open(path) as handle:
            return yaml.safe_load(handle) or {}
    except yaml.YAMLError as error:
        raise EvocaneError(f"{path}: not valid YAML: {error}") from None


def _dotted(path: Iterable[Any]) -> str:
    return ".".join(str(part) for part in path) or "<top level>"


def _describe(error: jsonschema.ValidationError) -> str:
    where = _dotted(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = sorted(error.schema.get("properties", {}))
        pattern_props = error.schema.get("patternProperties", {})
        unknown = [
            key
            for key in error.instance
            if key not in allowed and not any(re.search(p, key) for p in pattern_props)
        ]
        prefix = "" if where == "<top level>" else where + "."
        keys = ", ".join(f"'{prefix}{key}'" for key in unknown)
        hint = f" (allowed here: {', '.join(allowed)})" if allowed else ""
        return f"unknown config key {keys}{hint}"
    if error.validator == "required":
        return f"config key '{where}': {error.message}"
    return f"config key '{where}': {error.message}"


def validate_config(
    config: dict[str, Any], schema_path: str | Path = DEFAULT_SCHEMA, source: str = "config"
) -> dict[str, Any]:
    """Validate ``config`` in place (defaults filled) and return it; raise EvocaneError naming key and file."""
    schema = load_yaml(schema_path)
    validator = _DefaultFillingValidator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(list(e.absolute_path)), str(e.absolute_path)))
    if errors:
        best = jsonschema.exceptions.best_match(errors)
        raise EvocaneError(f"{source}: {_describe(best)}")
    _check_cross_references(config, source)
    return config


def _check_cross_references(config: Mapping[str, Any], source: str) -> None:
    """Checks a JSON schema cannot express: names that must refer to other sections."""
    for name, cultivar in config.get("cultivars", {}).items():
        seen: set[str] = set()
        for index, src in enumerate(cultivar.get("sources", [])):
            records = src.get("records")
            if isinstance(records, dict):
                for new in records.values():
                    if new in seen:
                        raise EvocaneError(
                            f"{source}: config key 'cultivars.{name}.sources.{index}.records': "
                            f"record name '{new}' is used twice in cultivar '{name}'"
                        )
                    seen.add(new)


def merge_config(base: dict[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``overlay`` into ``base`` recursively, as Snakemake merges several --configfile files: mappings are
    merged key by key, any other value (lists included) replaces the earlier one."""
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            merge_config(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def is_whole_config(*paths: str | Path) -> bool:
    """Whether one of these config files names its own genomes (a top-level ``cultivars`` key), i.e. is a whole
    configuration such as config/sugarcane.yaml rather than an overlay such as ``evo2: {enabled: true}``. The
    Snakefile loads the demo config (config/config.yaml) under command-line config files only when none is whole,
    so the demo's cultivars, variants, models and experiments never leak into a sugarcane run."""
    for path in paths:
        data = load_yaml(path)
        if isinstance(data, dict) and "cultivars" in data:
            return True
    return False


def load_config(*paths: str | Path, schema_path: str | Path = DEFAULT_SCHEMA) -> dict[str, Any]:
    """Load one or more YAML files (later ones merged over earlier ones, recursively, as Snakemake does) and
    validate."""
    merged: dict[str, Any] = {}
    for path in paths:
        data = load_yaml(path)
        if not isinstance(data, dict):
            raise EvocaneError(f"{path}: the config must be a mapping of keys to values")
        merge_config(merged, data)
    return validate_config(merged, schema_path, source=", ".join(str(p) for p in paths))
