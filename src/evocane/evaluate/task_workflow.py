"""Snakefile-side helpers of rules/tasks.smk: which models each task runs for, input functions, params and target
lists. They live here so the rule file holds rules only (Snakemake's linter asks for that) and so they can be
tested. Each factory takes the validated config and the planned runs and returns what a rule directive expects."""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from evocane.experiments import Run

InputFunction = Callable[[Any], Any]


class TaskPlan:
    """The tasks of one workflow run: enabled tasks, the variants they run on and the models of each variant."""

    def __init__(self, config: Mapping[str, Any], runs: Sequence[Run], results: str, basedir: str):
        from evocane.evaluate.tasks import background_model, task_variants

        self.config = config
        self.settings = config["evaluation"]["tasks"]
        self.runs = list(runs)
        self.results = results
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
    def settings_param(self, task: str | None = None) -> InputFunction:
        """The task's settings (and the bootstrap/background/members ones) as JSON: a param, so a changed setting
        reruns the step."""

        def settings(wildcards: Any) -> str:
            name = task or wildcards.task
            return json.dumps({"task": self.settings[name], "background": self.settings["background"], "members": self.settings["members"],
                               "bootstrap": self.config["evaluation"]["bootstrap"]}, sort_keys=True)  # fmt: skip

        return settings

    def table_input(self) -> InputFunction:
        return lambda wildcards: [self.table] if wildcards.task == "experiments" and self.table else []

    def table_argument(self) -> InputFunction:
        return lambda wildcards: f"--table {shlex.quote(self.table)}" if wildcards.task == "experiments" and self.table else ""

    def predictions(self, task: str) -> InputFunction:
        return lambda wildcards: [f"{self.results}/tasks/{wildcards.variant}/{task}/predictions/{m}" for m in self.models(wildcards.variant)]

    def background_argument(self, task: str) -> InputFunction:
        def argument(wildcards: Any) -> str:
            if self.background in self.models(wildcards.variant):
                return f"--background {self.results}/tasks/{wildcards.variant}/{task}/predictions/{self.background}"
            return ""

        return argument

    def generated_files(self) -> InputFunction:
        return lambda wildcards: [
            f"{self.results}/tasks/{wildcards.variant}/generation/generated/{m}/{kind}.fa"
            for m in self.models(wildcards.variant, generating=True)
            for kind in ("sampled", "greedy")
        ]

    def generated_dirs(self) -> InputFunction:
        return lambda wildcards: " ".join(
            f"{self.results}/tasks/{wildcards.variant}/generation/generated/{m}" for m in self.models(wildcards.variant, generating=True)
        )

    def sampling_arguments(self, greedy: bool) -> str:
        spec = self.settings["generation"]
        common = f"--n-tokens {spec['continuation_length']} --seed {spec['seed']}"
        if greedy:
            return f"{common} --samples-per-prompt 1 --temperature 0"
        return (
            f"{common} --samples-per-prompt {spec['samples_per_prompt']} --temperature {spec['temperature']} "
            f"--top-k {spec['top_k']} --top-p {spec['top_p']}"
        )

    def parts(self) -> list[str]:
        return [f"{self.results}/tasks/{variant}/{task}/evaluation/leaderboard.tsv" for variant, task in self.pairs()]

    def targets(self) -> list[str]:
        return [f"{self.results}/tasks/{variant}/{task}/evaluation/metrics.tsv" for variant, task in self.pairs()]
