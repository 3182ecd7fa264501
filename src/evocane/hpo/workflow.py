"""Snakefile-side helpers of rules/hpo.smk: the studies of a run, each trial job's inputs, config keys, conda env
and resources (those of the tuned model's training), and the targets."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from evocane import layout
from evocane.engines.base import engine_entry
from evocane.hpo.study import StudySpec, check_studies, study_names
from evocane.hpo.summary import FIGURES

InputFunction = Callable[[Any], Any]


class HpoPlan:
    def __init__(self, config: Mapping[str, Any]):
        check_studies(config)
        self.config = config
        self.studies = {name: StudySpec.from_config(config, name) for name in study_names(config)}
        self.pattern = "|".join(self.studies) or "(?!)"

    def model_entry(self, wildcards: Any) -> Mapping[str, Any]:
        return self.config["models"][self.studies[wildcards.study].model]

    def trial_inputs(self, wildcards: Any) -> list[str]:
        """The study's dataset variant (window table + manifest stand for it) and the model's start checkpoint."""
        paths = layout.VariantPaths.of(self.studies[wildcards.study].variant)
        init = self.model_entry(wildcards).get("init_checkpoint")
        return [str(paths.windows), str(paths.manifest)] + ([init] if init else [])

    def dataset(self, wildcards: Any) -> str:
        return layout.dataset(self.studies[wildcards.study].variant)

    def trial_keys(self, wildcards: Any) -> list[str]:
        return [f"hpo.studies.{wildcards.study}", f"models.{self.studies[wildcards.study].model}"]

    def conda_env(self, wildcards: Any) -> str:
        return f"../envs/{engine_entry(self.model_entry(wildcards)['engine']).conda_env}.yaml"

    def resource(self, key: str) -> InputFunction:
        return lambda wildcards: self.model_entry(wildcards)["resources"][key]

    def trial_records(self, wildcards: Any) -> list[str]:
        return [layout.hpo_trial(wildcards.study, str(slot)) for slot in range(self.studies[wildcards.study].trials)]

    def targets(self, plot_format: str) -> list[str]:
        names = ["best.yaml", "trials.tsv", *(f"{figure}.{plot_format}" for figure in FIGURES)]
        return [layout.hpo_file(name, study) for study in self.studies for name in names]
