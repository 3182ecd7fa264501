"""Load, resolve and validate workflow configuration against config/schema.yaml (JSON Schema 2020-12).

Validation fills in every ``default:`` from the schema and rejects unknown keys and wrong types with one message
that names the key (as a dotted path) and the file (or ``--config``) its value came from.

One truth per run: the Snakefile resolves the configuration once (config files in Snakemake's order, ``--config``
values coerced to the schema's types), and every job receives the part of that resolved configuration it reads as a
content-addressed job config (:func:`write_job_config`, results/config/<sha256>.json). Jobs never re-read config
files, and a changed value changes the file name, so exactly the jobs that read it rerun.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
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


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key defined twice in one mapping (YAML would keep the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key '{key}' is defined twice (first on line {seen[key] + 1})", key_node.start_mark
                )
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def load_yaml(path: str | Path) -> Any:
    path = Path(path)
    if not path.exists():
        raise EvocaneError(f"{path}: config file not found")
    if path.is_dir():
        raise EvocaneError(f"{path}: is a directory, not a config file")
    try:
        with open(path, encoding="utf-8-sig") as handle:  # utf-8-sig: a byte-order mark is not content
            return yaml.load(handle, Loader=_UniqueKeyLoader) or {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise EvocaneError(f"{path}: not valid YAML{where}: {problem}") from None
    except UnicodeDecodeError as error:
        raise EvocaneError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None


def _dotted(path: Iterable[Any]) -> str:
    return ".".join(str(part) for part in path) or "<top level>"


def _chosen_alternative(error: jsonschema.ValidationError) -> jsonschema.ValidationError | None:
    """For a mapping that fits none of a oneOf's alternatives: the error of the alternative it was meant to be (the
    one whose required keys it has, e.g. a location with ``path:``), so the message names the offending key."""
    if error.validator not in ("oneOf", "anyOf") or not isinstance(error.instance, dict):
        return None
    for index, alternative in enumerate(error.validator_value):
        required = alternative.get("required", []) if isinstance(alternative, dict) else []
        if required and all(key in error.instance for key in required):
            sub = [e for e in error.context or [] if e.schema_path and e.schema_path[0] == index]
            if sub:
                return jsonschema.exceptions.best_match(sub)
    return None


def _describe(error: jsonschema.ValidationError) -> str:
    chosen = _chosen_alternative(error)
    if chosen is not None:
        return _describe(chosen)
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
    if error.validator == "pattern":
        hint = error.schema.get("description")
        return f"config key '{where}': {error.instance!r} is not allowed here" + (f" ({hint})" if hint else f" (must match {error.validator_value})")
    return f"config key '{where}': {error.message}"


def _error_key_path(error: jsonschema.ValidationError) -> tuple[Any, ...]:
    """The key an error is about: for an unknown key, that key (not its parent mapping)."""
    path = tuple(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = set(error.schema.get("properties", {}))
        unknown = [key for key in error.instance if key not in known]
        if unknown:
            return (*path, unknown[0])
    return path


def validate_config(
    config: dict[str, Any],
    schema_path: str | Path = DEFAULT_SCHEMA,
    source: str = "config",
    origin: Callable[[tuple[Any, ...]], str | None] | None = None,
) -> dict[str, Any]:
    """Validate ``config`` in place (defaults filled) and return it; raise EvocaneError naming key and file.

    ``origin`` maps a key path to the file (or ``--config``) that set it, so the error names where the bad value
    came from; ``source`` is used when it cannot tell."""
    schema = load_yaml(schema_path)
    validator = _DefaultFillingValidator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(list(e.absolute_path)), str(e.absolute_path)))
    if errors:
        best = jsonschema.exceptions.best_match(errors)
        where = (origin(_error_key_path(best)) if origin else None) or source
        raise EvocaneError(f"{where}: {_describe(best)}")
    _check_cross_references(config, source)
    return config


def _check_cross_references(config: Mapping[str, Any], source: str) -> None:
    """Checks a JSON schema cannot express: names that must refer to other sections."""
    models = list(config.get("models") or {})
    background = (((config.get("evaluation") or {}).get("tasks") or {}).get("background") or {}).get("model")
    if background is not None and background not in models:
        raise EvocaneError(
            f"{source}: config key 'evaluation.tasks.background.model': no model named '{background}' "
            f"(have: {', '.join(models) or 'none'})"
        )
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


def schema_defaults(key: str, schema_path: str | Path = DEFAULT_SCHEMA) -> dict[str, Any]:
    """The values the schema gives the section at dotted ``key`` (e.g. ``evaluation.tasks.regulatory``) when the
    config sets none: what validation fills into an empty mapping there. Code that needs a section's defaults (tests,
    hand-made settings) takes them from here, so the schema stays their only home."""
    schema = load_yaml(schema_path)
    node: Mapping[str, Any] = schema
    for part in key.split("."):
        node = _resolve_ref(schema, node)["properties"][part]
    instance: dict[str, Any] = {}
    _DefaultFillingValidator({**node, "$defs": schema.get("$defs", {})}).validate(instance)
    return instance


def validate_section(key: str, value: Any, schema_path: str | Path = DEFAULT_SCHEMA) -> Any:
    """Validate ``value`` as the config section at dotted ``key`` (e.g. ``models``), defaults filled, in place; for
    values the workflow derives from a validated config (a trial's params, a tuned model's params)."""
    schema = load_yaml(schema_path)
    node: Mapping[str, Any] = schema
    for part in key.split("."):
        node = _resolve_ref(schema, node)["properties"][part]
    validator = _DefaultFillingValidator({**node, "$defs": schema.get("$defs", {})})
    errors = list(validator.iter_errors(value))
    if errors:
        best = jsonschema.exceptions.best_match(errors)
        path = ".".join([key, *(str(p) for p in best.absolute_path)])
        raise EvocaneError(f"config key '{path}': {best.message}")
    return value


def settings_from(settings_class: type, values: Mapping[str, Any], key: str, tuple_fields: Sequence[str] = ()) -> Any:
    """The dataclass ``settings_class`` from the validated config section at ``key`` (defaults filled by the schema:
    the code carries none of its own): every field must be there; other keys are ignored; lists become tuples for
    ``tuple_fields``."""
    known = {name: value for name, value in values.items() if name in settings_class.__dataclass_fields__}
    missing = [name for name in settings_class.__dataclass_fields__ if name not in known]
    if missing:
        raise EvocaneError(f"config key '{key}': missing {', '.join(missing)} (a validated config has them all: see config/schema.yaml)")
    for name in tuple_fields:
        known[name] = tuple(known[name])
    return settings_class(**known)


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


# --- one resolved configuration per run ------------------------------------------------------------------------------
COMMAND_LINE = "--config (command line)"


def _has_path(data: Any, path: Sequence[Any]) -> bool:
    """Whether ``data`` sets the value at ``path``: the key itself or a non-mapping value above it (which replaces
    everything below when configs are merged)."""
    node = data
    for key in path:
        if not isinstance(node, Mapping):
            return True
        if key not in node:
            return False
        node = node[key]
    return True


class ConfigSources:
    """Where each value of a merged configuration came from: config files in merge order (lowest first), then the
    ``--config`` values, which win over every file (as in Snakemake)."""

    def __init__(self, files: Sequence[str | Path], overrides: Mapping[str, Any] | None = None):
        self.files = [str(path) for path in files]
        self.data = [load_yaml(path) for path in self.files]
        self.overrides = dict(overrides or {})

    def origin(self, path: tuple[Any, ...]) -> str | None:
        """The source that set the value at ``path`` last, or None when it is a schema default."""
        if self.overrides and _has_path(self.overrides, path):
            return COMMAND_LINE
        for name, data in zip(reversed(self.files), reversed(self.data)):
            if isinstance(data, Mapping) and _has_path(data, path):
                return name
        return None

    def describe(self) -> str:
        return ", ".join(self.files + ([COMMAND_LINE] if self.overrides else [])) or "config"


def _resolve_ref(root: Mapping[str, Any], schema: Mapping[str, Any]) -> Mapping[str, Any]:
    while isinstance(schema, Mapping) and "$ref" in schema:
        pointer = schema["$ref"]
        if not pointer.startswith("#/"):
            break
        target: Any = root
        for part in pointer[2:].split("/"):
            target = target[part]
        schema = {**{k: v for k, v in schema.items() if k != "$ref"}, **target}
    return schema


def _candidates(root: Mapping[str, Any], schema: Any, instance: Any) -> list[Mapping[str, Any]]:
    """Every subschema that applies to ``instance`` at this level: $ref resolved, allOf/anyOf/oneOf expanded,
    if/then/else decided against the instance."""
    if not isinstance(schema, Mapping):
        return []
    schema = _resolve_ref(root, schema)
    found = [schema]
    for key in ("allOf", "anyOf", "oneOf"):
        for sub in schema.get(key, []):
            found += _candidates(root, sub, instance)
    if "if" in schema:
        test = jsonschema.Draft202012Validator({**schema["if"], "$defs": root.get("$defs", {})})
        branch = schema.get("then") if test.is_valid(instance) else schema.get("else")
        found += _candidates(root, branch, instance)
    return found


def _child_schemas(root: Mapping[str, Any], schemas: list[Mapping[str, Any]], key: Any) -> list[Any]:
    children: list[Any] = []
    for schema in schemas:
        if isinstance(key, int):
            if "items" in schema:
                children.append(schema["items"])
            continue
        if key in schema.get("properties", {}):
            children.append(schema["properties"][key])
            continue
        matched = [sub for pattern, sub in schema.get("patternProperties", {}).items() if re.search(pattern, str(key))]
        children += matched
        if not matched and isinstance(schema.get("additionalProperties"), Mapping):
            children.append(schema["additionalProperties"])
    return children


def schema_types(schema: Mapping[str, Any], config: Any, path: Sequence[Any]) -> set[str]:
    """The JSON types the schema allows at ``path`` of ``config`` (empty when the schema does not say)."""
    level: list[Any] = [schema]
    node = config
    for key in path:
        expanded = [c for sub in level for c in _candidates(schema, sub, node)]
        level = _child_schemas(schema, expanded, key)
        if isinstance(node, Mapping):
            node = node.get(key)
        elif isinstance(node, list) and isinstance(key, int) and key < len(node):
            node = node[key]
        else:
            node = None
    types: set[str] = set()
    for candidate in (c for sub in level for c in _candidates(schema, sub, node)):
        declared = candidate.get("type")
        if isinstance(declared, str):
            types.add(declared)
        elif isinstance(declared, list):
            types.update(declared)
        for value in candidate.get("enum", []) + ([candidate["const"]] if "const" in candidate else []):
            types.add(_json_type(value))
    return types


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _allowed(value: Any, types: set[str]) -> bool:
    kind = _json_type(value)
    return kind in types or (kind == "integer" and "number" in types)


def _number(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def coerce_overrides(config: dict[str, Any], overrides: Mapping[str, Any], schema: Mapping[str, Any]) -> None:
    """Give command-line values the schema's types, in place.

    Snakemake parses nested ``--config`` values with YAML's BaseLoader, so ``--config 'models={m: {params: {steps:
    5}}}'`` arrives as the string "5". Each string from ``overrides`` where the schema allows no string is read as
    YAML and kept when the result has a type the schema allows (otherwise validation reports it)."""

    def walk(node: Any, path: tuple[Any, ...]) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                walk(value, (*path, key))
            return
        if isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, (*path, index))
            return
        if not isinstance(node, str):
            return
        types = schema_types(schema, config, path)
        if not types or "string" in types:
            return
        try:
            parsed = yaml.safe_load(node)
        except yaml.YAMLError:
            return
        if isinstance(parsed, str) and types & {"number", "integer"}:
            parsed = _number(parsed)  # YAML 1.1 reads 1e-3 as a string
        if _allowed(parsed, types) or isinstance(parsed, (list, dict)):
            target: Any = config
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = parsed
            if isinstance(parsed, (list, dict)):
                walk(parsed, path)

    walk(overrides, ())


def resolve_config(
    config: dict[str, Any],
    files: Sequence[str | Path],
    overrides: Mapping[str, Any] | None = None,
    schema_path: str | Path = DEFAULT_SCHEMA,
) -> dict[str, Any]:
    """Resolve, in place, the configuration Snakemake merged from ``files`` (lowest first) and ``overrides``
    (``--config``): command-line strings coerced to the schema's types, defaults filled, validated; an error names
    the file or ``--config`` that set the bad value."""
    schema = load_yaml(schema_path)
    sources = ConfigSources(files, overrides)
    if overrides:
        coerce_overrides(config, overrides, schema)
    return validate_config(config, schema_path, source=sources.describe(), origin=sources.origin)


def _split_key(key: str | Sequence[str]) -> tuple[str, ...]:
    return tuple(key.split(".")) if isinstance(key, str) else tuple(key)


def config_subset(config: Mapping[str, Any], keys: Iterable[str | Sequence[str]]) -> dict[str, Any]:
    """The parts of ``config`` at ``keys`` (dotted, e.g. ``models.hf-lora``), nested as in the full configuration,
    so a command reads them with the same code whether it got the whole configuration or this subset."""
    subset: dict[str, Any] = {}
    for key in keys:
        path = _split_key(key)
        node: Any = config
        for index, part in enumerate(path):
            if not isinstance(node, Mapping) or part not in node:
                raise EvocaneError(f"config: no key '{'.'.join(path[: index + 1])}' (needed by a job)")
            node = node[part]
        target = subset
        for part in path[:-1]:
            target = target.setdefault(part, {})
        target[path[-1]] = copy.deepcopy(node)
    return subset


def write_job_config(
    config: Mapping[str, Any],
    keys: Iterable[str | Sequence[str]],
    directory: str | Path,
    resolved: Mapping[str, Any] | None = None,
) -> Path:
    """Write the subset of the resolved ``config`` at ``keys`` (plus ``resolved``: top-level entries the workflow
    derived from the config, e.g. a dataset step's view of its variant under ``dataset_step``) as
    ``<directory>/<sha256 prefix>.json``, atomically and once per distinct content, and return its path. The name
    changes exactly when the content does, so passing the path as a rule param reruns exactly the jobs whose
    configuration changed."""
    from evocane.atomic import atomic_path

    content = config_subset(config, keys)
    for name, value in (resolved or {}).items():
        if name in content:
            raise ValueError(f"job config: '{name}' is both a config key and a resolved entry")
        content[name] = value
    text = json.dumps(content, sort_keys=True, indent=1) + "\n"
    digest = hashlib.sha256(text.encode()).hexdigest()[:20]
    path = Path(directory) / f"{digest}.json"
    if not path.exists():  # named by its content and written atomically: an existing file holds exactly this text
        with atomic_path(path) as temp:
            temp.write_text(text)
    return path


def load_job_config(path: str | Path) -> dict[str, Any]:
    """A job config written by :func:`write_job_config`, as it is: resolved and validated when it was planned."""
    path = Path(path)
    if not path.is_file():
        raise EvocaneError(f"{path}: job config not found (the workflow writes it when it plans the job)")
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise EvocaneError(f"{path}: not a readable job config: {error}") from None
    if not isinstance(data, dict):
        raise EvocaneError(f"{path}: a job config must be a mapping of keys to values")
    return data
