"""The config's experiment table: which model runs on which dataset variant. Shared by the engine rules and the
evaluation (both plan from it), so it lives below both and names no engine implementation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from evocane.dataset.config import variant_names
from evocane.errors import EvocaneError


@dataclass(frozen=True)
class Run:
    """One model trained on one dataset variant's train split and scored on its validation and test splits."""

    model: str
    variant: str
    generate: bool


def engine_enabled(config: Mapping[str, Any], engine: str) -> bool:
    """An engine with a top-level config section of its own (evo2, bionemo) can be switched off there with
    ``enabled: false`` (the CPU demo does): its models then take part in no experiment."""
    section = config.get(engine)
    return not isinstance(section, Mapping) or bool(section.get("enabled", True))


def experiment_runs(config: Mapping[str, Any]) -> list[Run]:
    """Every (model, variant) pair the config's ``experiments`` ask for, checked against ``models`` and the
    dataset variants (and the next-base baseline against ``models``). An experiment without ``variants`` runs on
    every variant; without ``models``, every model."""
    models = list(config.get("models") or {})
    variants = variant_names(config)
    baseline = ((config.get("evaluation") or {}).get("nextbase") or {}).get("baseline")
    if baseline and models and baseline not in models:  # a config without models (genomes/datasets only) is fine
        raise EvocaneError(f"config key 'evaluation.nextbase.baseline': no model named '{baseline}' (have: {', '.join(models) or 'none'})")
    runs: dict[tuple[str, str], Run] = {}
    for name, experiment in (config.get("experiments") or {}).items():
        for model in experiment.get("models") or models:
            if model not in models:
                raise EvocaneError(f"config key 'experiments.{name}.models': no model named '{model}' (have: {', '.join(models) or 'none'})")
            if not engine_enabled(config, (config["models"][model] or {}).get("engine", "")):
                continue
            for variant in experiment.get("variants") or variants:
                if variant not in variants:
                    raise EvocaneError(
                        f"config key 'experiments.{name}.variants': no dataset variant named '{variant}' (have: {', '.join(variants) or 'none'})"
                    )
                previous = runs.get((model, variant))
                runs[(model, variant)] = Run(model, variant, bool(experiment.get("generate")) or bool(previous and previous.generate))
    return list(runs.values())
