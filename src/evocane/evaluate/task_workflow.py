"""Snakefile-side helpers of rules/tasks.smk: which models each task runs for, input functions, params and target
lists. They live here so the rule file holds rules only (Snakemake's linter asks for that) and so they can be
tested. Each factory takes the validated config and the planned runs and returns what a rule directive expects."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from evocane import layout
from evocane.experiments import Run

InputFunction = Callable[[Any], Any]


class TaskPlan:
    """The tasks of one workflow run: enabled tasks, the variants they run on and the models of each variant."""

    def __init__(self, config: Mapping[str, Any], runs: Sequence[Run], basedir: str):
        from evocane.evaluate.tasks import background_model, task_variants

        self.config = config
        self.settings = config["evaluation"]["tasks"]
        self.runs = list(runs)
        self.variants = task_variants(config, list(dict.fromkeys(run.variant for run in self.runs)))
        self.table = self._resolved_table(basedir)
        self.enabled = [t for t in self.settings["enabled"] if t != "experiments" or self.table]
        self.background = background_model(config)

    def _resolved_table(self, basedir: str) -> str | None:
        """A relative table path is taken from the working directory if it is there, else from the workflow's
        directory (so the demo table is found when snakemake runs with --directory elsewhere)."""
        table = self.settings["experiments"]["table"]
        if not table or Path(table).is_absolute() or Path(table).exists():
            return table
        return str(Path(basedir) / table)

    def models(self, variant: str, generating: bool = False) -> list[str]:
        """Models of the experiments on ``variant``; for generation only those of experiments with generate: true."""
        return [run.model for run in self.runs if run.variant == variant and (run.generate or not generating)]

    def pairs(self) -> list[tuple[str, str]]:
        """(variant, task) pairs that have models to evaluate."""
        return [(v, t) for v in self.variants for t in self.enabled if self.models(v, generating=t == "generation")]

    # --- directives ----------------------------------------------------------------------------------------------
    def table_input(self) -> InputFunction:
        return lambda wildcards: [self.table] if wildcards.task == "experiments" and self.table else []

    def table_argument(self) -> InputFunction:
        return lambda wildcards: ["--table", self.table] if wildcards.task == "experiments" and self.table else []

    def predictions(self, task: str) -> InputFunction:
        return lambda wildcards: [layout.task_predictions(wildcards.variant, task, m) for m in self.models(wildcards.variant)]

    def background_argument(self, task: str) -> InputFunction:
        """["--background", <the background model's prediction set>] when that model runs on the variant."""

        def argument(wildcards: Any) -> list[str]:
            if self.background in self.models(wildcards.variant):
                return ["--background", layout.task_predictions(wildcards.variant, task, self.background)]
            return []

        return argument

    def evaluation_keys(self, task: str) -> Callable[[Any], list[str]]:
        """The config keys `evocane task-evaluate` reads for ``task`` on the job's variant: the task's settings,
        bootstrap, background and members, plot format, and the engine of each model evaluated."""

        def keys(wildcards: Any) -> list[str]:
            models = self.models(wildcards.variant, generating=task == "generation")
            return [f"evaluation.tasks.{task}", "evaluation.tasks.background", "evaluation.tasks.members",
                    "evaluation.nextbase.baseline", "evaluation.bootstrap", "evaluation.plot_format",
                    *(f"models.{model}.engine" for model in models)]  # fmt: skip

        return keys

    def input_keys(self, wildcards: Any) -> list[str]:
        """The config keys `evocane task-inputs` reads: the task's settings (the experiments task also looks for
        every cultivar's genome)."""
        keys = [f"evaluation.tasks.{wildcards.task}"]
        return keys + ["cultivars"] if wildcards.task == "experiments" else keys

    def generated_files(self) -> InputFunction:
        return lambda wildcards: [
            layout.task_generated(wildcards.variant, m, kind)
            for m in self.models(wildcards.variant, generating=True)
            for kind in ("sampled", "greedy")
        ]

    def generated_dirs(self) -> InputFunction:
        return lambda wildcards: [
            str(Path(layout.task_generated(wildcards.variant, m)).parent) for m in self.models(wildcards.variant, generating=True)
        ]

    def sampling_arguments(self, greedy: bool) -> list[str]:
        """`evocane generate` options of the generation task's sampled or greedy continuations."""
        spec = self.settings["generation"]
        common = ["--n-tokens", str(spec["continuation_length"]), "--seed", str(spec["seed"])]
        if greedy:
            return [*common, "--samples-per-prompt", "1", "--temperature", "0"]
        return [*common, "--samples-per-prompt", str(spec["samples_per_prompt"]), "--temperature", str(spec["temperature"]),
                "--top-k", str(spec["top_k"]), "--top-p", str(spec["top_p"])]  # fmt: skip

    def parts(self) -> list[str]:
        return [layout.task_evaluation(variant, task, "leaderboard.tsv") for variant, task in self.pairs()]

    def targets(self) -> list[str]:
        return [layout.task_evaluation(variant, task, "metrics.tsv") for variant, task in self.pairs()]
