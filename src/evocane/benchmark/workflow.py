"""What the benchmark room reads, planned from the config alone: the sources of each bundle, the inputs of an
exported submission and of a model card. rules/benchmark.smk and the CLI (by hand) plan with the same functions, so
the rule's inputs are exactly the files the command opens."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from evocane import layout
from evocane.dataset.config import resolve_variant
from evocane.engines.workflow import uses_scored_subset
from evocane.errors import EvocaneError
from evocane.evaluate.tasks import SCORED_TASKS, background_model, task_settings, task_variants
from evocane.experiments import Run, experiment_runs

InputFunction = Callable[[Any], Any]


def scored_tasks(config: Mapping[str, Any]) -> list[str]:
    """The enabled tasks scored through the prediction contract (experiments only with a table)."""
    settings = task_settings(config)
    return [t for t in settings["enabled"] if t in SCORED_TASKS and (t != "experiments" or settings["experiments"]["table"])]


@dataclass
class BundleSources:
    """Every file a bundle of ``variant`` is made from (paths relative to the working directory)."""

    variant: str
    scored_dataset: str  # the scored subset (or the variant) whose validation/test windows every model is scored on
    splits: list[str]
    metrics: str  # the variant's next-base metrics.tsv (names the baseline's best member)
    cultivars: list[str]
    records: dict[str, str]  # cultivar -> results/genomes/{cultivar}/records.tsv
    baseline: str | None = None  # the next-base baseline model, when it runs on the variant
    baseline_sets: dict[str, str] = field(default_factory=dict)  # split -> its prediction set
    tasks: dict[str, str] = field(default_factory=dict)  # task -> task inputs (dataset contract)
    background: str | None = None  # the task LLR background model, when it runs on the variant
    background_member: str | None = None
    background_sets: dict[str, str] = field(default_factory=dict)  # task -> its task prediction set

    def files(self) -> list[str]:
        paths = [*_dataset_files(self.scored_dataset), self.metrics, *self.records.values(), *self.baseline_sets.values()]
        return paths + [*self.tasks.values(), *self.background_sets.values()]

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> BundleSources:
        return cls(**dict(values))


def _dataset_files(path: str) -> list[str]:
    """The files standing for a scored dataset directory: the subset (one rule output), or the variant's window
    table and manifest (the dataset build writes its arrays in the same job)."""
    if path.endswith("/scored"):
        return [path]
    return [f"{path}/windows.parquet", f"{path}/manifest.json"]


def _models_on(runs: list[Run], variant: str) -> list[str]:
    return [run.model for run in runs if run.variant == variant]


def bundle_variants(config: Mapping[str, Any]) -> list[str]:
    """benchmark.variants, or the evaluated variants tagged 'default'; each must be evaluated by an experiment."""
    evaluated = list(dict.fromkeys(run.variant for run in experiment_runs(config)))
    wanted = (config.get("benchmark") or {}).get("variants")
    if wanted is None:
        variants = (config.get("datasets") or {}).get("variants") or {}
        return [v for v in evaluated if "default" in (variants[v].get("tags") or [])]
    missing = [v for v in wanted if v not in evaluated]
    if missing:
        raise EvocaneError(f"config key 'benchmark.variants': '{missing[0]}' is not a variant any experiment evaluates (have: {', '.join(evaluated) or 'none'})")
    return list(wanted)


def bundle_sources(config: Mapping[str, Any], variant: str) -> BundleSources:
    runs = experiment_runs(config)
    models = _models_on(runs, variant)
    if not models:
        raise EvocaneError(f"benchmark: no experiment evaluates dataset variant '{variant}'")
    scored = layout.scored_dataset(variant) if uses_scored_subset(config) else layout.dataset(variant)
    splits = list(config["evaluation"]["nextbase"]["splits"])
    cultivars = list(resolve_variant(config, variant)["cultivars"])
    sources = BundleSources(
        variant=variant, scored_dataset=scored, splits=splits, metrics=layout.nextbase_file("metrics.tsv", variant),
        cultivars=cultivars, records={c: layout.genome_file("records.tsv", c) for c in cultivars},
    )  # fmt: skip
    baseline = config["evaluation"]["nextbase"]["baseline"]
    if baseline and baseline in models:
        sources.baseline = baseline
        sources.baseline_sets = {split: layout.predictions(baseline, variant, split) for split in splits}
    if variant in task_variants(config, list(dict.fromkeys(run.variant for run in runs))):
        sources.tasks = {task: layout.task_inputs(variant, task) for task in scored_tasks(config)}
        background = background_model(config)
        if background and background in models and sources.tasks:
            sources.background = background
            sources.background_member = (task_settings(config).get("background") or {}).get("member")
            sources.background_sets = {task: layout.task_predictions(variant, task, background) for task in sources.tasks}
    return sources


def planned_sources(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The sources of every bundle, as the job config's resolved entry ``benchmark_bundles``."""
    return {variant: asdict(bundle_sources(config, variant)) for variant in bundle_variants(config)}


# --- exported submissions (external models with export_from) -------------------------------------------------------
def exported_models(config: Mapping[str, Any]) -> list[str]:
    return [name for name, entry in (config.get("models") or {}).items()
            if entry.get("engine") == "external" and (entry.get("params") or {}).get("export_from")]  # fmt: skip


@dataclass
class ExportSources:
    """What the submission of an external model exported from ``source`` on ``variant`` is made from."""

    source: str
    member: str | None
    scored_dataset: str
    nextbase_sets: dict[str, str]  # split -> the source's prediction set
    tasks: dict[str, tuple[str, str]]  # task -> (task inputs, the source's task prediction set)

    def files(self) -> list[str]:
        return [*_dataset_files(self.scored_dataset), *self.nextbase_sets.values(), *(p for pair in self.tasks.values() for p in pair)]


def export_sources(config: Mapping[str, Any], model: str, variant: str) -> ExportSources:
    spec = config["models"][model]["params"]["export_from"]
    source = spec["model"]
    runs = experiment_runs(config)
    tasks: dict[str, tuple[str, str]] = {}
    if variant in task_variants(config, list(dict.fromkeys(run.variant for run in runs))):
        tasks = {task: (layout.task_inputs(variant, task), layout.task_predictions(variant, task, source)) for task in scored_tasks(config)}
    scored = layout.scored_dataset(variant) if uses_scored_subset(config) else layout.dataset(variant)
    splits = config["evaluation"]["nextbase"]["splits"]
    return ExportSources(source, spec.get("member"), scored, {s: layout.predictions(source, variant, s) for s in splits}, tasks)


# --- rule directives ----------------------------------------------------------------------------------------------------
class BenchmarkPlan:
    def __init__(self, config: Mapping[str, Any]):
        self.config = config
        settings = config.get("benchmark") or {}
        self.bundles = planned_sources(config) if settings.get("export", True) else {}
        self.exported = exported_models(config)
        self.model_cards = bool(settings.get("model_cards", True))
        self.runs = experiment_runs(config)

    def bundle_inputs(self) -> list[str]:
        return [path for sources in self.bundles.values() for path in BundleSources.from_dict(sources).files()]

    def bundle_keys(self) -> list[str]:
        """Config keys the export reads (besides the resolved sources): provenance and scoring definitions."""
        cultivars = sorted({c for sources in self.bundles.values() for c in sources["cultivars"]})
        return ["benchmark", "datasets.regions", "datasets.seed", "evaluation.nextbase", "evaluation.bootstrap", "evaluation.tasks",
                *(f"datasets.variants.{v}" for v in self.bundles), *(f"cultivars.{c}" for c in cultivars)]  # fmt: skip

    def export_inputs(self, wildcards: Any) -> list[str]:
        return export_sources(self.config, wildcards.model, wildcards.variant).files()

    def export_arguments(self, wildcards: Any) -> list[str]:
        """`evocane export-predictions` options of the job's (model, variant)."""
        sources = export_sources(self.config, wildcards.model, wildcards.variant)
        arguments = ["--dataset", sources.scored_dataset, "--predictions", *sources.nextbase_sets.values()]
        if sources.member:
            arguments += ["--member", sources.member]
        for task, (inputs, predictions) in sources.tasks.items():
            arguments += ["--task", task, inputs, predictions]
        return arguments

    def card_inputs(self, wildcards: Any) -> dict[str, str]:
        return {
            "checkpoint": layout.checkpoint(wildcards.model, wildcards.variant),
            "metrics": layout.nextbase_file("metrics.tsv", wildcards.variant),
            "manifest": str(layout.VariantPaths.of(wildcards.variant).manifest),
        }

    def targets(self) -> list[str]:
        targets = [layout.benchmark()] if self.bundles else []
        if self.model_cards:
            targets += [layout.model_card(run.model, run.variant) for run in self.runs]
        return targets
