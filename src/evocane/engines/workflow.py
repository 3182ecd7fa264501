"""Snakefile-side helpers of the engine and evaluation rules (rules/engines.smk, rules/evaluation.smk): input
functions, per-model resources and target lists. They live here, not in the .smk files, so those hold rules only
(Snakemake's linter asks for that) and so they are importable and testable. Each factory takes the validated config
(or the planned runs) and returns what a rule directive expects: a function of ``wildcards`` or a list of paths."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from evocane.errors import EvocaneError
from evocane.experiments import Run

InputFunction = Callable[[Any], Any]


def model_spec(config: Mapping[str, Any]) -> InputFunction:
    """The model's config entry as JSON: a rule param, so a changed setting reruns the model's jobs."""
    return lambda wildcards: json.dumps(config["models"][wildcards.model], sort_keys=True)


def model_resource(config: Mapping[str, Any], key: str) -> InputFunction:
    """threads / mem_mb / runtime / gpu of the job's model (models.<name>.resources)."""
    return lambda wildcards: config["models"][wildcards.model]["resources"][key]


def engine_env(config: Mapping[str, Any], envs: Mapping[str, str]) -> InputFunction:
    """The conda env file of the job's model's engine (``envs``: engine -> path relative to the rule file)."""

    def env(wildcards: Any) -> str:
        engine = config["models"][wildcards.model]["engine"]
        if engine not in envs:
            raise EvocaneError(f"rules/engines.smk: no conda env registered for engine '{engine}' (ENGINE_ENVS)")
        return envs[engine]

    return env


def dataset_dir(results: str) -> InputFunction:
    return lambda wildcards: f"{results}/datasets/{wildcards.variant}"


def dataset_files(results: str, *splits: str) -> InputFunction:
    """The files that stand for the job's dataset variant. The dataset room writes the window table, the arrays of
    every split and the manifest in one job, so the table and the manifest order the jobs whatever form the arrays
    take; ``splits`` (the splits the job reads) documents the call."""
    return lambda wildcards: [f"{results}/datasets/{wildcards.variant}/windows.parquet", f"{results}/datasets/{wildcards.variant}/manifest.json"]


def init_checkpoint_input(config: Mapping[str, Any]) -> InputFunction:
    """Input function of a training rule: the model's init_checkpoint, if any (another model's checkpoint under
    results/ is then built first)."""

    def init(wildcards: Any) -> list[str]:
        path = config["models"][wildcards.model].get("init_checkpoint")
        return [path] if path else []

    return init


def uses_scored_subset(config: Mapping[str, Any]) -> bool:
    """Whether evaluation.nextbase.subset caps the scored windows."""
    return config["evaluation"]["nextbase"]["subset"]["max_windows"] is not None


def scored_dataset_dir(config: Mapping[str, Any], results: str) -> InputFunction:
    """The dataset directory the validation/test splits are scored and evaluated from: the variant itself, or its
    scored subset (results/datasets/{variant}/scored, evocane.dataset.subset) when evaluation.nextbase.subset caps
    the windows. Every engine's scoring rule and the next-base rules read it, so all models see the same windows."""
    suffix = "/scored" if uses_scored_subset(config) else ""
    return lambda wildcards: f"{results}/datasets/{wildcards.variant}{suffix}"


def scored_dataset_files(config: Mapping[str, Any], results: str) -> InputFunction:
    """The input that stands for :func:`scored_dataset_dir`: the subset directory (one rule output), or the
    variant's window table and manifest."""
    if uses_scored_subset(config):
        directory = scored_dataset_dir(config, results)
        return lambda wildcards: [directory(wildcards)]
    return dataset_files(results)


def engine_targets(runs: Sequence[Run], splits: Sequence[str], results: str) -> list[str]:
    targets = [f"{results}/predictions/{run.model}/{run.variant}/{split}" for run in runs for split in splits]
    targets += [f"{results}/generation/{run.model}/{run.variant}/generated.fa" for run in runs if run.generate]
    return targets


def nextbase_predictions(runs: Sequence[Run], splits: Sequence[str], results: str) -> InputFunction:
    """Every prediction set of the job's variant on ``splits`` (all models the experiments run on it)."""
    return lambda wildcards: [
        f"{results}/predictions/{run.model}/{wildcards.variant}/{split}" for run in runs if run.variant == wildcards.variant for split in splits
    ]


def evaluated_variants(runs: Sequence[Run]) -> list[str]:
    return list(dict.fromkeys(run.variant for run in runs))


def nextbase_parts(runs: Sequence[Run], results: str) -> list[str]:
    return [f"{results}/evaluation/{variant}/nextbase/leaderboard.tsv" for variant in evaluated_variants(runs)]


def leaderboard_inputs(parts: Sequence[Callable[[], list[str]]]) -> InputFunction:
    """Input function over LEADERBOARD_PARTS: evaluated when the DAG is built, after every rule file appended."""
    return lambda wildcards: [path for function in parts for path in function()]


def evaluation_targets(runs: Sequence[Run], results: str) -> list[str]:
    variants = evaluated_variants(runs)
    if not variants:
        return []
    targets = [f"{results}/leaderboard.csv", f"{results}/evaluation/leaderboard_table.tsv"]
    for variant in variants:
        targets += [f"{results}/evaluation/{variant}/nextbase/metrics.tsv", f"{results}/evaluation/{variant}/nextbase/ranked_windows.tsv"]
    return targets
