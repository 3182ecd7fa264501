"""Snakefile-side helpers of the engine and evaluation rules (rules/engines.smk, rules/evaluation.smk): which
models run where, per-model environments and resources, input functions and target lists. They live here, not in
the .smk files, so those hold rules only (Snakemake's linter asks for that) and so they are importable and testable.

The shared train / score / generate rules serve every engine whose registry entry has no rules of its own
(:class:`evocane.engines.base.EngineEntry`): an engine's conda env, resources and checks are looked up per model,
so adding an engine adds no rule.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from evocane import layout
from evocane.engines.base import check_engine_params, engine_entry, engine_inputs, writes_training_curves
from evocane.experiments import Run, experiment_runs
from evocane.errors import EvocaneError

InputFunction = Callable[[Any], Any]


def pattern(names: Sequence[str]) -> str:
    """A wildcard constraint matching exactly ``names`` (and nothing when there are none)."""
    return "|".join(names) or "(?!)"


class EnginePlan:
    """The models and runs of one workflow run, from the validated config."""

    def __init__(self, config: Mapping[str, Any]):
        self.config = config
        self.models: dict[str, Any] = dict(config.get("models") or {})
        for name, entry in self.models.items():
            try:
                engine_entry(entry["engine"])
            except EvocaneError as error:
                raise EvocaneError(f"config key 'models.{name}.engine': {error}") from None
        check_engine_params(config)
        self.runs: list[Run] = experiment_runs(config)
        # models of the shared train/score/generate rules (engines without rules of their own)
        self.common_models = [name for name, entry in self.models.items() if not engine_entry(entry["engine"]).own_rules]
        self.common_pattern = pattern(self.common_models)
        self.splits: list[str] = list(config["evaluation"]["nextbase"]["splits"])
        # scoring jobs per split: models of the shared rules with more than one go through score_shard + gather
        self.sharded_models = [name for name in self.common_models if self.shard_count(name) > 1]
        self.sharded_pattern = pattern(self.sharded_models)
        self.unsharded_pattern = pattern([name for name in self.common_models if name not in self.sharded_models])

    def engine(self, model: str) -> str:
        return str(self.models[model]["engine"])

    def models_of(self, engine: str) -> list[str]:
        return [name for name, entry in self.models.items() if entry["engine"] == engine]

    def runs_of(self, engine: str) -> list[Run]:
        return [run for run in self.runs if self.engine(run.model) == engine]

    def shard_count(self, model: str) -> int:
        """Scoring jobs per split of ``model``: models.<name>.shards, else evaluation.nextbase.shards; 1 for engines
        with rules of their own (they shard their own way) and for engines that take no shards (external: imported)."""
        entry = self.models[model]
        engine = engine_entry(entry["engine"])
        if engine.own_rules or not engine.shards:
            return 1
        own = entry.get("shards")
        return int(own if own is not None else self.config["evaluation"]["nextbase"]["shards"])

    def prediction_shards(self, wildcards: Any) -> list[str]:
        """The shard prediction sets a gather_predictions job joins, shard 0 first."""
        count = self.shard_count(wildcards.model)
        return [layout.prediction_shard(wildcards.model, wildcards.variant, wildcards.split, i, count) for i in range(count)]

    def task_prediction_shards(self, wildcards: Any) -> list[str]:
        """The shard prediction sets a task_gather job joins, shard 0 first."""
        count = self.shard_count(wildcards.model)
        return [layout.task_prediction_shard(wildcards.variant, wildcards.task, wildcards.model, i, count) for i in range(count)]

    # --- rule directives ---------------------------------------------------------------------------------------------
    def conda_env(self, wildcards: Any) -> str:
        """The job's conda env file (relative to rules/): its model's engine's envs/<name>.yaml."""
        return f"../envs/{engine_entry(self.engine(wildcards.model)).conda_env}.yaml"

    def resource(self, key: str) -> InputFunction:
        """threads / mem_mb / runtime / gpu of the job's model (models.<name>.resources)."""
        return lambda wildcards: self.models[wildcards.model]["resources"][key]

    def remote_code(self, wildcards: Any) -> list[str]:
        """``--trust-remote-code`` for the scoring and generation commands when the model's own config (the user's)
        sets params.trust_remote_code: never decided by the checkpoint."""
        return ["--trust-remote-code"] if (self.models[wildcards.model].get("params") or {}).get("trust_remote_code") else []

    def hpo_best(self, wildcards: Any) -> list[str]:
        """The best.yaml of the study a model takes its params from (params_from_hpo), if any."""
        study = self.models[wildcards.model].get("params_from_hpo")
        return [layout.hpo_file("best.yaml", study)] if study else []

    def engine_inputs(self, wildcards: Any) -> list[str]:
        """Files the model's engine reads when training besides the dataset (the registry's ``inputs``)."""
        return engine_inputs(self.config, wildcards.model, wildcards.variant)

    def init_checkpoint(self, wildcards: Any) -> list[str]:
        """The model's init_checkpoint, if any (another model's checkpoint under results/ is then built first)."""
        path = self.models[wildcards.model].get("init_checkpoint")
        return [path] if path else []

    # --- targets -------------------------------------------------------------------------------------------------------
    def engine_targets(self) -> list[str]:
        targets = [layout.predictions(run.model, run.variant, split) for run in self.runs for split in self.splits]
        targets += [layout.generated(run.model, run.variant) for run in self.runs if run.generate]
        return targets

    def engine_env(self, engine: str) -> str:
        return engine_entry(engine).conda_env

    def curve_checkpoints(self, engine: str) -> list[str]:
        """Checkpoints of the ``engine`` models the experiments train with training curves, and the checkpoints
        they start from: the inputs of the engine's training-curve figure."""
        runs = [run for run in self.runs_of(engine) if writes_training_curves(self.config, run.model)]
        checkpoints = [layout.checkpoint(run.model, run.variant) for run in runs]
        checkpoints += [self.models[run.model]["init_checkpoint"] for run in self.runs_of(engine) if self.models[run.model].get("init_checkpoint")]
        return list(dict.fromkeys(checkpoints))

    def curve_engines(self) -> list[str]:
        """Engines with at least one run whose model writes training curves."""
        return [engine for engine in dict.fromkeys(self.engine(run.model) for run in self.runs)
                if any(writes_training_curves(self.config, run.model) for run in self.runs_of(engine))]  # fmt: skip

    def curve_targets(self, plot_format: str) -> list[str]:
        return [path for engine in self.curve_engines() for path in (layout.loss_curves(engine, plot_format), layout.loss_curves(engine, "tsv"))]

    def evaluated_variants(self) -> list[str]:
        return list(dict.fromkeys(run.variant for run in self.runs))

    def nextbase_predictions(self, splits: Sequence[str]) -> InputFunction:
        """Every prediction set of the job's variant on ``splits`` (all models the experiments run on it)."""
        return lambda wildcards: [
            layout.predictions(run.model, wildcards.variant, split) for run in self.runs if run.variant == wildcards.variant for split in splits
        ]

    def nextbase_parts(self) -> list[str]:
        return [layout.nextbase_file("leaderboard.tsv", variant) for variant in self.evaluated_variants()]

    def evaluation_targets(self) -> list[str]:
        variants = self.evaluated_variants()
        if not variants:
            return []
        targets = [layout.leaderboard(), layout.leaderboard_table()]
        for variant in variants:
            targets += [layout.nextbase_file("metrics.tsv", variant), layout.nextbase_file("ranked_windows.tsv", variant)]
        return targets


# --- datasets as the engine and evaluation rules read them -----------------------------------------------------------
def dataset_dir(wildcards: Any) -> str:
    return layout.dataset(wildcards.variant)


def dataset_files(wildcards: Any) -> list[str]:
    """The files that stand for the job's dataset variant. The dataset room writes the window table, the arrays of
    every split and the manifest in one job, so the table and the manifest order the jobs whatever form the arrays
    take."""
    paths = layout.VariantPaths.of(wildcards.variant)
    return [str(paths.windows), str(paths.manifest)]


def uses_scored_subset(config: Mapping[str, Any]) -> bool:
    """Whether evaluation.nextbase.subset caps the scored windows."""
    return config["evaluation"]["nextbase"]["subset"]["max_windows"] is not None


def scored_dataset_dir(config: Mapping[str, Any]) -> InputFunction:
    """The dataset directory the validation/test splits are scored and evaluated from: the variant itself, or its
    scored subset (evocane.dataset.subset) when evaluation.nextbase.subset caps the windows. Every engine's scoring
    rule and the next-base rules read it, so all models see the same windows."""
    if uses_scored_subset(config):
        return lambda wildcards: layout.scored_dataset(wildcards.variant)
    return dataset_dir


def scored_dataset_files(config: Mapping[str, Any]) -> InputFunction:
    """The input that stands for :func:`scored_dataset_dir`: the subset directory (one rule output), or the
    variant's window table and manifest."""
    if uses_scored_subset(config):
        return lambda wildcards: [layout.scored_dataset(wildcards.variant)]
    return dataset_files


def leaderboard_inputs(parts: Sequence[Callable[[], list[str]]]) -> InputFunction:
    """Input function over LEADERBOARD_PARTS: evaluated when the DAG is built, after every rule file appended."""
    return lambda wildcards: [path for function in parts for path in function()]
