"""Engine settings defaults, read from config/schema.yaml: the one place where they are written down.

:func:`evocane.config.validate_config` fills these defaults into a whole config; engine code that receives a params
mapping from elsewhere (a checkpoint's meta, a test, a bench) fills them here the same way, so no default number is
repeated in Python.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping
from typing import Any

from evocane.errors import EvocaneError


@functools.lru_cache(maxsize=1)
def _schema() -> dict[str, Any]:
    from evocane.config import DEFAULT_SCHEMA, load_yaml

    schema = load_yaml(DEFAULT_SCHEMA)
    assert isinstance(schema, dict)
    return schema


def params_schema(engine: str) -> dict[str, Any]:
    """The schema of ``models.<name>.params`` for a model of ``engine``."""
    for branch in _schema()["properties"]["models"]["additionalProperties"]["allOf"]:
        if branch["if"]["properties"]["engine"]["const"] == engine:
            return dict(branch["then"]["properties"]["params"])
    raise EvocaneError(f"config/schema.yaml: no params block for engine '{engine}'")


def section_schema(*path: str) -> dict[str, Any]:
    """The schema of a nested config section, e.g. ``section_schema("evaluation", "generation", "sampling")``."""
    schema = _schema()
    for key in path:
        schema = _object_properties(schema)[key]
    return dict(schema)


def _object_properties(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The properties of a mapping schema, or of the mapping branch of a ``oneOf``/``anyOf`` (e.g. null | mapping)."""
    if "properties" in schema:
        return dict(schema["properties"])
    for branch in [*schema.get("oneOf", []), *schema.get("anyOf", [])]:
        if "properties" in branch:
            return dict(branch["properties"])
    return {}


def with_defaults(schema: Mapping[str, Any], value: Any) -> Any:
    """``value`` with every default that ``schema`` declares for an absent key filled in, recursively into nested
    mappings (as validation fills them). Nothing is validated here; a non-mapping ``value`` is returned as it is."""
    if not isinstance(value, Mapping):
        return value
    properties = _object_properties(schema)
    out = dict(value)
    for name, spec in properties.items():
        if name not in out and "default" in spec:
            out[name] = copy.deepcopy(spec["default"])
        if name in out:
            out[name] = with_defaults(spec, out[name])
    return out


def schema_defaults(schema: Mapping[str, Any]) -> dict[str, Any]:
    """Every default of a mapping schema (nested mappings filled too)."""
    filled = with_defaults(schema, {})
    assert isinstance(filled, dict)
    return filled


def engine_params(engine: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """``params`` of an ``engine`` model with the schema's defaults filled in for every absent key."""
    filled = with_defaults(params_schema(engine), dict(params or {}))
    assert isinstance(filled, dict)
    return filled


def check_param_keys(engine: str, given: Mapping[str, Any], params_class: type, lora_class: type) -> None:
    """Refuse keys of an engine's params mapping (and of its ``lora`` mapping) that its dataclasses do not have."""
    from dataclasses import fields

    known = {f.name for f in fields(params_class)}
    unknown = set(given) - known
    if unknown:
        raise EvocaneError(f"{engine} params: unknown key(s) {', '.join(sorted(unknown))} (known: {', '.join(sorted(known))})")
    lora = given.get("lora")
    if lora is None:
        return
    if not isinstance(lora, Mapping):
        raise EvocaneError(f"{engine} params: lora must be a mapping (rank, alpha, dropout, target_modules)")
    unknown_lora = set(lora) - {f.name for f in fields(lora_class)}
    if unknown_lora:
        raise EvocaneError(f"{engine} params: unknown lora key(s) {', '.join(sorted(unknown_lora))}")

