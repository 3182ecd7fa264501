"""Snakefile-side helpers of the report: its categories in reading order, per-variant subcategories (benchmarks in
config order, then controls; a pretraining variant's evaluation goes under Models), and the inputs of the report
rules (rules/report.smk). Snakemake sorts categories and subcategories by name and the items of a subcategory by
their labels, so every name carries its place in the reading order."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from evocane import layout
from evocane.experiments import Run
from evocane.plots.palette import palette_entry
from evocane.report.summary import variants_from_config

CATEGORIES = {
    "summary": "0. Summary",
    "leaderboard": "1. Leaderboard",
    "nextbase": "2. Next-base prediction",
    "generation": "3. Generation",
    "regulatory": "4. Regulatory elements (zero-shot)",
    "variant_effect": "5. Variant effect (in-silico mutagenesis)",
    "experiments": "6. Experimental data",
    "models": "7. Models",
    "datasets": "8. Datasets",
    "genomes": "9. Genomes",
}


class ReportPlan:
    def __init__(self, config: Mapping[str, Any], runs: Sequence[Run]):
        self.config = config
        self.runs = list(runs)
        self.variants = variants_from_config(config)
        ordered = [v for v in self.variants if v.role == "benchmark"] + [v for v in self.variants if v.role == "control"]
        ordered += [v for v in self.variants if v.role == "pretraining"]
        self.rank = {v.name: i + 1 for i, v in enumerate(ordered)}
        self.role = {v.name: v.role for v in self.variants}

    def variant_label(self, variant: str) -> str:
        """"1. homology_split", "4. random_control (control)", "5. thaliana_pretrain (pretraining data)"."""
        role = self.role.get(variant, "benchmark")
        suffix = {"control": " (control)", "pretraining": " (pretraining data)"}.get(role, "")
        return f"{self.rank.get(variant, len(self.rank) + 1)}. {variant}{suffix}"

    def nextbase_category(self) -> Callable[[Any], str]:
        return lambda wildcards: CATEGORIES["models"] if self.role.get(wildcards.variant) == "pretraining" else CATEGORIES["nextbase"]

    def nextbase_subcategory(self) -> Callable[[Any], str]:
        def name(wildcards: Any) -> str:
            if self.role.get(wildcards.variant) == "pretraining":
                return f"next-base on {wildcards.variant} (pretraining data)"
            return self.variant_label(wildcards.variant)

        return name

    def variant_subcategory(self) -> Callable[[Any], str]:
        return lambda wildcards: self.variant_label(wildcards.variant)

    # --- the report rules' inputs and job config entries ------------------------------------------------------------
    def variant_order(self, wildcards: Any = None) -> list[str]:
        return [v.name for v in self.variants]

    def model_palette(self, wildcards: Any = None) -> dict[str, Any]:
        """The job config entry every plotting job gets: the models that run, in config order, and the baseline."""
        running = {run.model for run in self.runs}
        models = [m for m in self.config.get("models", {}) if m in running]
        return palette_entry(models, self.config["evaluation"]["nextbase"].get("baseline"))

    def generation(self, wildcards: Any = None) -> dict[str, list[str]]:
        """Which models generate continuations (experiments with generate: true) and which do not: the summary
        says why a model is missing from the generation task."""
        generating = sorted({run.model for run in self.runs if run.generate})
        return {"generating": generating, "not_generating": sorted({run.model for run in self.runs} - set(generating))}

    def checkpoints(self) -> list[str]:
        return [layout.checkpoint(run.model, run.variant) for run in self.runs]

    def nextbase_metrics(self) -> list[str]:
        return [layout.nextbase_file("metrics.tsv", v) for v in dict.fromkeys(run.variant for run in self.runs)]
