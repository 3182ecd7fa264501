"""The ``hpo.studies`` config section as Optuna objects: search spaces checked against the engine's params schema,
samplers, pruners, storage (journal file by default), and the slot bookkeeping that makes trials Snakemake jobs.

A study of N trials has N slots, one per Snakemake job (``results/hpo/{study}/trials/{slot}.json``). A job asks the
shared study for a trial and tags it with its slot; a job that was killed leaves its trial RUNNING, and the job's
rerun marks that trial FAIL before asking for a new one, while a slot whose trial finished is never run twice.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

from evocane import layout
from evocane.config import DEFAULT_SCHEMA, load_yaml, schema_types
from evocane.dataset.config import variant_names
from evocane.engines.base import engine_entry
from evocane.errors import EvocaneError

SLOT = "evocane_slot"  # user attribute naming a trial's Snakemake slot
DIRECTION = "minimize"  # non-repeat bits per base on the validation split


@dataclass(frozen=True)
class StudySpec:
    """One validated entry of hpo.studies."""

    name: str
    model: str
    variant: str
    trials: int
    sampler: dict[str, Any]
    pruner: dict[str, Any]
    storage: str | None
    validation_windows: int | None
    params: dict[str, Any]
    space: dict[str, dict[str, Any]]

    @classmethod
    def from_config(cls, config: Mapping[str, Any], name: str) -> StudySpec:
        studies = (config.get("hpo") or {}).get("studies") or {}
        if name not in studies:
            raise EvocaneError(f"config: no study named '{name}' under 'hpo.studies' (have: {', '.join(studies) or 'none'})")
        entry = studies[name]
        return cls(
            name, entry["model"], entry["variant"], entry["trials"], dict(entry["sampler"]), dict(entry["pruner"]),
            entry["storage"], entry["validation_windows"], dict(entry["params"]), dict(entry["space"]),
        )  # fmt: skip

    @property
    def storage_url(self) -> str:
        return self.storage or str(layout.hpo_journal(self.name))


def study_names(config: Mapping[str, Any]) -> list[str]:
    return list(((config.get("hpo") or {}).get("studies") or {}))


# --- checks the schema cannot express -------------------------------------------------------------------------------
def check_studies(config: Mapping[str, Any], schema_path: str | Path = DEFAULT_SCHEMA) -> None:
    """Every study names a trainable model and a dataset variant, and its space names params of that model's
    engine with sensible bounds; every params_from_hpo names a study of a model of the same engine. Raises
    EvocaneError naming the key."""
    schema = load_yaml(schema_path)
    models = config.get("models") or {}
    variants = variant_names(config)
    for name in study_names(config):
        where = f"hpo.studies.{name}"
        spec = StudySpec.from_config(config, name)
        if spec.model not in models:
            raise EvocaneError(f"config key '{where}.model': no model named '{spec.model}' (have: {', '.join(models) or 'none'})")
        engine = models[spec.model]["engine"]
        if engine_entry(engine).trains is None:
            raise EvocaneError(f"config key '{where}.model': '{spec.model}' is an {engine} model; studies tune engines with a training loop (hf, evo2)")
        if spec.variant not in variants:
            raise EvocaneError(f"config key '{where}.variant': no dataset variant named '{spec.variant}' (have: {', '.join(variants) or 'none'})")
        for key, distribution in spec.space.items():
            _check_distribution(schema, engine, f"{where}.space.{key}", key, distribution)
    for model, entry in models.items():
        study = entry.get("params_from_hpo")
        if study is None:
            continue
        if study not in study_names(config):
            raise EvocaneError(f"config key 'models.{model}.params_from_hpo': no study named '{study}' under 'hpo.studies'")
        tuned = models[StudySpec.from_config(config, study).model]["engine"]
        if tuned != entry["engine"]:
            raise EvocaneError(f"config key 'models.{model}.params_from_hpo': study '{study}' tunes an {tuned} model, '{model}' is {entry['engine']}")


def _check_distribution(schema: Mapping[str, Any], engine: str, where: str, key: str, distribution: Mapping[str, Any]) -> None:
    probe = {"models": {"probe": {"engine": engine, "params": {}}}}
    types = schema_types(schema, probe, ("models", "probe", "params", *key.split(".")))
    if not types:
        raise EvocaneError(f"config key '{where}': '{key}' is not a param of engine {engine}")
    kind = distribution["type"]
    if kind == "categorical":
        return
    wanted = {"float": {"number"}, "int": {"integer", "number"}}[kind]
    if not types & wanted:
        raise EvocaneError(f"config key '{where}': {engine} param '{key}' takes {'/'.join(sorted(types))}, not {kind}")
    low, high = distribution["low"], distribution["high"]
    if kind == "int" and not (float(low).is_integer() and float(high).is_integer()):
        raise EvocaneError(f"config key '{where}': int bounds must be whole numbers (low {low}, high {high})")
    if not low < high:
        raise EvocaneError(f"config key '{where}': low ({low}) must be below high ({high})")
    if distribution.get("log") and low <= 0:
        raise EvocaneError(f"config key '{where}': a log-scale range needs low > 0 (low {low})")
    if distribution.get("log") and distribution.get("step") is not None:
        raise EvocaneError(f"config key '{where}': step and log cannot be combined (Optuna's rule)")


# --- Optuna objects --------------------------------------------------------------------------------------------------
def slot_seed(seed: int, slot: int) -> int:
    """The sampler seed of one trial job: derived from (study seed, slot), so jobs started side by side with an empty
    study draw different values (one seed for all would give every parallel job the same first sample), and a
    rerun of a slot draws as before from the same study history."""
    import numpy as np

    return int(np.random.SeedSequence([seed, slot]).generate_state(1)[0])


def make_sampler(spec: StudySpec, slot: int = 0) -> optuna.samplers.BaseSampler:
    name, seed = spec.sampler["name"], slot_seed(spec.sampler["seed"], slot)
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed)
    if name == "qmc":
        return optuna.samplers.QMCSampler(seed=seed)
    return optuna.samplers.GPSampler(seed=seed)


def make_pruner(spec: StudySpec) -> optuna.pruners.BasePruner:
    name = spec.pruner["name"]
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=spec.pruner["startup_trials"], n_warmup_steps=spec.pruner["warmup_steps"])
    if name == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner()
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner()
    return optuna.pruners.NopPruner()


def make_storage(spec: StudySpec) -> optuna.storages.BaseStorage:
    """Optuna's journal file (appends under a file lock, safe for concurrent jobs on a shared filesystem) or the
    configured RDB."""
    if spec.storage:
        return optuna.storages.RDBStorage(spec.storage)
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

    path = Path(spec.storage_url).resolve()  # absolute: the study object may outlive a change of directory
    path.parent.mkdir(parents=True, exist_ok=True)
    return optuna.storages.JournalStorage(JournalFileBackend(str(path), lock_obj=JournalFileOpenLock(str(path))))


def open_study(spec: StudySpec, slot: int = 0) -> optuna.Study:
    """The shared study, with the sampler of ``slot``'s job (see :func:`slot_seed`)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(
        study_name=spec.name, storage=make_storage(spec), sampler=make_sampler(spec, slot), pruner=make_pruner(spec),
        direction=DIRECTION, load_if_exists=True,
    )  # fmt: skip


def finished_trial(study: optuna.Study, slot: int) -> optuna.trial.FrozenTrial | None:
    """The trial of ``slot`` that already ended (complete or pruned), if any: its job must not train again."""
    done = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    for trial in study.get_trials(deepcopy=False, states=done):
        if trial.user_attrs.get(SLOT) == slot:
            return trial
    return None


def fail_stale_trials(study: optuna.Study, slot: int) -> list[int]:
    """Mark FAIL the trials of ``slot`` left RUNNING by a killed job; returns their numbers."""
    stale = [t.number for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)) if t.user_attrs.get(SLOT) == slot]
    for number in stale:
        study.tell(number, state=optuna.trial.TrialState.FAIL)
    return stale


def suggest(trial: optuna.Trial, space: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The trial's values for every key of the space (flat, dotted keys)."""
    values: dict[str, Any] = {}
    for key, distribution in space.items():
        kind = distribution["type"]
        if kind == "categorical":
            values[key] = trial.suggest_categorical(key, list(distribution["choices"]))
        elif kind == "int":
            step = int(distribution["step"]) if distribution.get("step") else 1
            values[key] = trial.suggest_int(key, int(distribution["low"]), int(distribution["high"]), step=step, log=distribution["log"])
        else:
            values[key] = trial.suggest_float(key, float(distribution["low"]), float(distribution["high"]), step=distribution.get("step"), log=distribution["log"])
    return values


def nested(values: Mapping[str, Any]) -> dict[str, Any]:
    """Dotted keys (lora.rank) as nested mappings ({lora: {rank: ...}})."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        parts = key.split(".")
        target = out
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value
    return out


def merged_params(base: Mapping[str, Any], *overlays: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` params with each overlay merged over it (mappings key by key), as a trial or a tuned model trains."""
    out = copy.deepcopy(dict(base))
    for overlay in overlays:
        for key, value in overlay.items():
            if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
                out[key] = merged_params(out[key], value)
            elif isinstance(value, Mapping) and out.get(key) is None:
                out[key] = merged_params({}, value)
            else:
                out[key] = copy.deepcopy(value)
    return out


def finite(value: float) -> bool:
    return value is not None and math.isfinite(value)
