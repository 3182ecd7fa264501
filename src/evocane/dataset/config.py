"""The ``datasets`` config section: variant lookup and the checks a JSON schema cannot express.

Variants are a mapping ``datasets.variants.<name>``; :func:`resolve_variant` returns one variant with every
implicit value made explicit (seed, stride, flank, cultivar list, group names as strings), which is what the
dataset steps receive and what the dataset card records.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from evocane.errors import EvocaneError

LINEAGE_RANKS = ("domain", "phylum", "clazz", "order", "family", "genus", "species")
LINEAGE_PREFIXES = ("d", "p", "c", "o", "f", "g", "s")


def variant_names(config: Mapping[str, Any]) -> list[str]:
    return list(((config.get("datasets") or {}).get("variants") or {}))


def resolve_variant(config: Mapping[str, Any], name: str) -> dict[str, Any]:
    """One variant with defaults made explicit; raises EvocaneError for inconsistent settings."""
    datasets = config.get("datasets") or {}
    variants = datasets.get("variants") or {}
    if name not in variants:
        raise EvocaneError(f"config: no dataset variant named '{name}' under 'datasets.variants' (have: {', '.join(variants) or 'none'})")
    spec = copy.deepcopy(variants[name])
    where = f"datasets.variants.{name}"
    cultivars = list(config.get("cultivars") or {})
    spec["name"] = name
    spec["seed"] = int(datasets.get("seed", 0) if spec.get("seed") is None else spec["seed"])
    if spec.get("cultivars") is None:
        spec["cultivars"] = cultivars
    for cultivar in spec["cultivars"]:
        if cultivar not in cultivars:
            raise EvocaneError(f"config key '{where}.cultivars': no cultivar named '{cultivar}' (have: {', '.join(cultivars)})")

    windows = spec["windows"]
    if windows.get("stride") is None:
        windows["stride"] = windows["length"]
    sampling = spec["sampling"]
    if sampling.get("flank") is None:
        sampling["flank"] = windows["length"] // 2

    split = spec["split"]
    for key in ("train", "validation", "test"):
        if split.get(key) is not None:
            split[key] = [str(item) for item in split[key]]
    _check_split(split, spec["cultivars"], where)

    if windows["lineage_tag"]:
        for cultivar in spec["cultivars"]:
            if not (config["cultivars"][cultivar].get("lineage") or {}):
                raise EvocaneError(
                    f"config key '{where}.windows.lineage_tag': cultivar '{cultivar}' has no 'lineage' "
                    f"(set cultivars.{cultivar}.lineage or turn the tag off)"
                )
    spec["lineage"] = {cultivar: dict(config["cultivars"][cultivar].get("lineage") or {}) for cultivar in spec["cultivars"]}
    leakage = spec["leakage"]
    if sorted(set(leakage["bins"])) != list(leakage["bins"]):
        raise EvocaneError(f"config key '{where}.leakage.bins': bin edges must be strictly increasing")
    return spec


def _check_split(split: dict[str, Any], cultivars: list[str], where: str) -> None:
    strategy = split["strategy"]
    lists = {key: split.get(key) or [] for key in ("train", "validation", "test")}
    if strategy == "random_windows":
        fractions = split["fractions"]
        for key in ("train", "validation", "test"):
            if fractions[key] <= 0:
                raise EvocaneError(f"config key '{where}.split.fractions.{key}': must be > 0, or the {key} split is empty")
        return
    if not lists["test"]:
        raise EvocaneError(f"config key '{where}.split.test': the {strategy} strategy needs at least one held-out entry")
    seen: dict[str, str] = {}
    for key, items in lists.items():
        for item in items:
            if item in seen and seen[item] != key:
                raise EvocaneError(f"config key '{where}.split': '{item}' is listed in both {seen[item]} and {key}")
            seen[item] = key
    if strategy == "cultivar":
        for key, items in lists.items():
            for item in items:
                if item not in cultivars:
                    raise EvocaneError(f"config key '{where}.split.{key}': '{item}' is not one of the variant's cultivars ({', '.join(cultivars)})")


def lineage_tag(lineage: Mapping[str, str] | None) -> str:
    """Evo 2 / BioNeMo lineage tag ``|d__...;p__...;...;s__...|``; a missing rank is written ``None`` as the
    BioNeMo preprocessor does."""
    lineage = lineage or {}
    ranks = ";".join(f"{prefix}__{lineage.get(rank) or None}" for prefix, rank in zip(LINEAGE_PREFIXES, LINEAGE_RANKS))
    return f"|{ranks}|"


# What each step depends on, so a config change reruns only the steps it touches (Snakemake params trigger).
STEP_KEYS = {
    "plan": ("name", "cultivars", "seed", "split", "windows", "sampling", "leakage"),
    "sketch": ("name", "cultivars", "windows", "leakage"),
    "build": ("name", "cultivars", "seed", "split", "windows", "sampling", "leakage", "lineage"),
    "bionemo": ("name", "cultivars", "seed", "windows", "bionemo", "lineage"),
    "audit": ("name", "cultivars", "leakage"),
}
HASHING_KEYS = ("enabled", "ksize", "scaled")


def spec_view(spec: Mapping[str, Any], step: str) -> dict[str, Any]:
    """The part of a resolved variant that one step reads (the whole variant for unknown steps, e.g. the card)."""
    if step not in STEP_KEYS:
        return dict(spec)
    view = {key: spec[key] for key in STEP_KEYS[step]}
    if step in ("plan", "sketch"):
        view["leakage"] = {key: spec["leakage"][key] for key in HASHING_KEYS}
    return view


def check_datasets(config: Mapping[str, Any]) -> None:
    """Resolve every variant once so a bad variant fails when the workflow is parsed."""
    for name in variant_names(config):
        resolve_variant(config, name)
