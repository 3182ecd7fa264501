"""The benchmark's tasks beyond next-base prediction, end to end: config view, task inputs, the distributions a
task's scoring keeps, and evaluation of every model's predictions into tables, figures and leaderboard parts.
Scoring itself goes through the engine interface (``evocane task-score``: the engine the checkpoint names).

Layout (``results/tasks/{variant}/{task}/``)::

    dataset/                       task inputs in the dataset contract (regulatory, variant_effect, experiments)
    inputs/                        prompts.fa, truth.fa, genome.fa (generation)
    predictions/{model}/           any engine's prediction set of dataset/ (``evocane task-score``)
    generated/{model}/             sampled.fa and greedy.fa (``evocane generate``)
    evaluation/                    metrics.tsv (long), leaderboard.tsv (headline part), per-item tables, figures

Tasks know nothing about engines: they read prediction sets and generated FASTA, and the config tells which
model is the log-likelihood-ratio background (by default evaluation.nextbase.baseline, i.e. the Markov model).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from evocane.atomic import atomic_path
from evocane.errors import EvocaneError
from evocane.evaluate import experiments, generation, metrics, regulatory, variants
from evocane.plots.palette import ModelPalette
from evocane.evaluate.taskdata import ScoredTask, background_scores, held_out_regions, scored_members

log = logging.getLogger(__name__)

TASKS = ("regulatory", "variant_effect", "generation", "experiments")
SCORED_TASKS = ("regulatory", "variant_effect", "experiments")  # those scored through the prediction contract
HEADLINE = {
    "regulatory": lambda t: t["metric"].isin(["auroc_loglik", "auroc_llr"]),
    "variant_effect": lambda t: (t["metric"] == "auroc") & (t["stratum"] == "deleterious_vs_synonymous"),
    "generation": lambda t: t["metric"].eq("greedy_identity") | (t["metric"].eq("js_divergence_k6") & t["stratum"].isin(["sampled_vs_truth", "sampled_vs_genome"])),
    "experiments": lambda t: t["metric"].isin(["spearman_loglik", "spearman_llr"]),
}


def task_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """The validated ``evaluation.tasks`` section (defaults filled by the schema)."""
    evaluation = config.get("evaluation") or {}
    return dict(evaluation.get("tasks") or {})


def bootstrap_settings(config: Mapping[str, Any]) -> tuple[int, int]:
    boot = config["evaluation"]["bootstrap"]
    return int(boot["n_resamples"]), int(boot["seed"])


def background_model(config: Mapping[str, Any]) -> str | None:
    chosen = (task_settings(config).get("background") or {}).get("model")
    if chosen is None:
        chosen = ((config.get("evaluation") or {}).get("nextbase") or {}).get("baseline")
    return chosen


def task_variants(config: Mapping[str, Any], evaluated: Sequence[str]) -> list[str]:
    """Dataset variants the tasks run on: evaluation.tasks.datasets (null = every evaluated variant)."""
    wanted = task_settings(config).get("datasets")
    if wanted is None:
        return list(evaluated)
    unknown = [v for v in wanted if v not in evaluated]
    if unknown:
        raise EvocaneError(f"config key 'evaluation.tasks.datasets': '{unknown[0]}' is not a variant any experiment evaluates (have: {', '.join(evaluated) or 'none'})")
    return list(wanted)


# --- inputs -----------------------------------------------------------------------------------------------------------
def build_inputs(
    task: str, config: Mapping[str, Any], dataset_dir: Path, genomes_root: Path, out_dir: Path, table: Path | None = None
) -> Path:
    settings = task_settings(config)
    if task == "generation":
        return generation.build_generation_inputs(dataset_dir, generation.GenerationParams.from_mapping(settings["generation"]), out_dir)
    held_out = held_out_regions(dataset_dir)
    genome_dirs = {cultivar: genomes_root / cultivar for cultivar in held_out.cultivars()}
    if task == "experiments":
        genome_dirs = {cultivar: genomes_root / cultivar for cultivar in (config.get("cultivars") or {})} or genome_dirs
    for cultivar, directory in genome_dirs.items():
        if not (directory / "genome.fa.gz").exists():
            raise EvocaneError(f"{directory / 'genome.fa.gz'}: prepared genome of cultivar '{cultivar}' not found")
    if task == "regulatory":
        return regulatory.build_regulatory_inputs(held_out, genome_dirs, regulatory.RegulatoryParams.from_mapping(settings["regulatory"]), out_dir)
    if task == "variant_effect":
        return variants.build_variant_inputs(held_out, genome_dirs, variants.VariantParams.from_mapping(settings["variant_effect"]), out_dir)
    if task == "experiments":
        spec = settings["experiments"]
        table = table or (Path(spec["table"]) if spec.get("table") else None)
        if table is None:
            raise EvocaneError("config key 'evaluation.tasks.experiments.table' is not set: no experimental data to build")
        return experiments.build_experiment_inputs(table, held_out, genome_dirs, out_dir, spec["held_out_only"], spec["max_length"])
    raise EvocaneError(f"unknown task '{task}' (have: {', '.join(TASKS)})")


def distribution_windows(task: str, dataset_dir: Path) -> list[str]:
    """Task windows whose full A/C/G/T distributions the engine keeps (entropy metaplots need them)."""
    if task != "regulatory":
        return []
    from evocane.dataset.arrays import DatasetReader

    return regulatory.distribution_window_ids(DatasetReader(dataset_dir).split_windows("test"))


# --- evaluation -------------------------------------------------------------------------------------------------------
def _members(task_dataset: Path, prediction_sets: Sequence[Path], members: Sequence[str] | None) -> list[ScoredTask]:
    scored = []
    for prediction_set in prediction_sets:
        found = list(scored_members(task_dataset, prediction_set))
        if members is not None and len(found) > 1:
            chosen = [s for s in found if str(s.meta.get("member", "")) in members]
            if not chosen:
                have = ", ".join(str(s.meta.get("member", "")) for s in found)
                raise EvocaneError(
                    f"config key 'evaluation.tasks.members': none of {', '.join(members)} is a member of {prediction_set} (have: {have})"
                )
            found = chosen
        scored += found
    if not scored:
        raise EvocaneError(f"{task_dataset}: no predictions to evaluate")
    return scored


def _background(config: Mapping[str, Any], task_dataset: Path, background_set: Path | None) -> pd.Series | None:
    if background_set is None:
        return None
    member = (task_settings(config).get("background") or {}).get("member")
    return background_scores(task_dataset, background_set, member)


def _save_table(table: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as temp:
        if path.suffix == ".parquet":
            table.to_parquet(temp, index=False)
        else:
            table.to_csv(temp, sep="\t", index=False)


def _save_figure(figure: Any, path: Path) -> None:
    import matplotlib.pyplot as plt

    with atomic_path(path) as temp:
        figure.savefig(temp, format=path.suffix.lstrip("."), dpi=110, bbox_inches="tight")
    plt.close(figure)


def headline_rows(task: str, table: pd.DataFrame) -> pd.DataFrame:
    """The rows of a task's long metrics table that go on the leaderboard."""
    return table[HEADLINE[task](table)] if len(table) else table


def _save_metrics(task: str, rows: list[dict[str, object]], out_dir: Path) -> None:
    table = metrics.long_table(rows)
    _save_table(table, out_dir / "metrics.tsv")
    _save_table(headline_rows(task, table), out_dir / "leaderboard.tsv")


def task_scores(task: str, scored: Sequence[ScoredTask], background: pd.Series | None) -> pd.DataFrame:
    """One row per item and model of a scored task (regulatory, variant_effect, experiments)."""
    if task == "regulatory":
        return pd.concat([regulatory.regulatory_scores(s, None if _same(s, background) else background) for s in scored], ignore_index=True)
    if task == "variant_effect":
        return pd.concat([variants.variant_scores(s) for s in scored], ignore_index=True)
    if task == "experiments":
        return pd.concat([experiments.experiment_scores(s, None if _same(s, background) else background) for s in scored], ignore_index=True)
    raise EvocaneError(f"unknown scored task '{task}' (have: {', '.join(SCORED_TASKS)})")


def task_metric_rows(task: str, scores: pd.DataFrame, n_boot: int, seed: int) -> list[dict[str, object]]:
    """Long metric rows of every model in a task's score table."""
    rows: list[dict[str, object]] = []
    for _, per_model in scores.groupby("model", sort=False):
        if task == "regulatory":
            rows += regulatory.regulatory_metrics(per_model.dropna(axis=1, how="all"), n_boot, seed)
        elif task == "variant_effect":
            rows += variants.variant_metrics(per_model, n_boot, seed)
        else:
            rows += experiments.experiment_metrics(per_model.dropna(axis=1, how="all"), n_boot, seed)
    return rows


def evaluate(
    task: str,
    config: Mapping[str, Any],
    inputs: Path,
    out_dir: Path,
    prediction_sets: Sequence[Path] = (),
    background_set: Path | None = None,
    generated: Sequence[Path] = (),
    engines: Mapping[str, str] | None = None,
) -> None:
    """Evaluate every model of one task on one variant; writes the tables and figures the rules declare."""
    out_dir.mkdir(parents=True, exist_ok=True)
    n_boot, seed = bootstrap_settings(config)
    plot_format = config["evaluation"]["plot_format"]
    members = task_settings(config).get("members")
    if task == "generation":
        _evaluate_generation(config, inputs, out_dir, generated, engines or {}, n_boot, seed, plot_format)
        return
    if task not in SCORED_TASKS:
        raise EvocaneError(f"unknown task '{task}' (have: {', '.join(TASKS)})")
    scored = _members(inputs, prediction_sets, members)
    palette = ModelPalette.from_config(config)
    background = _background(config, inputs, background_set)
    scores = task_scores(task, scored, background)
    rows = task_metric_rows(task, scores, n_boot, seed)
    if task == "regulatory":
        from evocane.plots import regulatory as plots

        profile = pd.concat([regulatory.metaplot_profiles(s) for s in scored], ignore_index=True)
        _save_metrics(task, rows, out_dir)
        _save_table(scores, out_dir / "scores.tsv")
        _save_table(profile, out_dir / "profile.parquet")
        table = metrics.long_table(rows)
        _save_figure(plots.ranking_bars(table, palette), out_dir / f"auroc.{plot_format}")
        _save_figure(plots.metaplots(profile, palette), out_dir / f"metaplot.{plot_format}")
        _save_figure(plots.score_distributions(scores), out_dir / f"scores.{plot_format}")
    elif task == "variant_effect":
        from evocane.plots import variants as plots

        _save_metrics(task, rows, out_dir)
        _save_table(scores, out_dir / "scores.tsv")
        _save_figure(plots.delta_by_class(scores, metrics.long_table(rows), palette), out_dir / f"delta.{plot_format}")
    elif task == "experiments":
        from evocane.plots import experiments as plots

        _save_metrics(task, rows, out_dir)
        _save_table(scores, out_dir / "ranked.tsv")
        _save_figure(plots.score_vs_measurement(scores), out_dir / f"scatter.{plot_format}")


def _same(scored: ScoredTask, background: pd.Series | None) -> bool:
    """The background model compared with itself gives LLR 0 everywhere: leave the LLR out for it."""
    return background is not None and background.name == scored.meta["model"]


def _evaluate_generation(
    config: Mapping[str, Any], inputs: Path, out_dir: Path, generated: Sequence[Path], engines: Mapping[str, str],
    n_boot: int, seed: int, plot_format: str,
) -> None:  # fmt: skip
    from evocane.plots import generation as plots
    from evocane.predictions import read_generated_fasta

    settings = task_settings(config)["generation"]
    results = []
    logo_samples: dict[str, pd.DataFrame] = {}
    truth = generation.read_plain_fasta(inputs / "truth.fa")
    logo_prompt = sorted(truth)[0] if truth else ""
    logo_length = int(settings["logo_positions"])
    for directory in generated:
        sampled = read_generated_fasta(directory / "sampled.fa")
        greedy = read_generated_fasta(directory / "greedy.fa")
        model = (sampled or greedy)[0].model if (sampled or greedy) else directory.name
        identity = {"model": model or directory.name, "engine": engines.get(directory.name, ""), "variant": _variant_of(inputs), "split": "test"}
        results.append(generation.evaluate_generation(inputs, sampled, greedy, identity, n_boot, seed))
        samples = [g.sequence for g in sampled if g.prompt_id == logo_prompt]
        if samples:
            logo_samples[identity["model"]] = generation.position_counts(samples, logo_length)
    if not results:
        raise EvocaneError(f"{inputs}: no generated sequences to evaluate")
    rows = [row for result in results for row in result.rows]
    per_sequence = pd.concat([r.per_sequence for r in results], ignore_index=True)
    divergence = pd.concat([r.divergence for r in results], ignore_index=True)
    identities = pd.concat([r.greedy_identity for r in results], ignore_index=True)
    _save_metrics("generation", rows, out_dir)
    _save_table(per_sequence, out_dir / "per_sequence.tsv")
    _save_figure(plots.gc_bars(per_sequence), out_dir / f"gc.{plot_format}")
    _save_figure(plots.kmer_divergence(divergence), out_dir / f"kmer_divergence.{plot_format}")
    _save_figure(plots.sequence_properties(per_sequence, identities), out_dir / f"properties.{plot_format}")
    truth_counts = generation.position_counts([truth.get(logo_prompt, "")], logo_length)
    _save_figure(plots.logos(logo_samples, truth_counts, logo_prompt), out_dir / f"logos.{plot_format}")


def _variant_of(inputs: Path) -> str:
    """results/tasks/{variant}/generation/inputs -> variant (the inputs carry no manifest of their own)."""
    manifest = inputs / "manifest.json"
    if manifest.exists():
        import json

        return str(json.loads(manifest.read_text()).get("variant", ""))
    return inputs.resolve().parent.parent.name
