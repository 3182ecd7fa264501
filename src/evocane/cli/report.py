"""`evocane report-summary|report-models`: the report's summary (landing page), browsable leaderboard, leakage
figure and model table (rules/report.smk)."""

from __future__ import annotations

import argparse
from pathlib import Path

from evocane.cli import add_config_arguments, command, config_from_args


def _summary_args(p: argparse.ArgumentParser) -> None:
    add_config_arguments(p)
    p.add_argument("--leaderboard", required=True, type=Path, help="results/leaderboard.csv")
    p.add_argument("--metrics", nargs="*", default=[], type=Path, help="every variant's next-base metrics.tsv (which baseline member is best)")
    p.add_argument("--leakage", required=True, type=Path, help="the cross-variant leakage table (results/datasets/comparison/leakage.tsv)")
    p.add_argument("--checkpoints", nargs="*", default=[], type=Path, help="checkpoint directories of the run (training steps for the caveats)")
    p.add_argument("--summary", required=True, type=Path, help="writes the summary page (HTML; also included in the report's landing page)")
    p.add_argument("--leaderboard-page", required=True, type=Path, help="writes the browsable leaderboard (HTML)")
    p.add_argument("--figure", required=True, type=Path, help="writes the leakage figure (format from the suffix)")


@command("report-summary", "the report's summary, browsable leaderboard and leakage figure, written from the leaderboard", _summary_args)
def _report_summary(args: argparse.Namespace) -> None:
    import pandas as pd

    from evocane.atomic import atomic_path
    from evocane.evaluate.nextbase import read_metrics
    from evocane.plots.palette import ModelPalette
    from evocane.plots.tables import write_table_page
    from evocane.report import summary as s
    from evocane.report.figures import leakage_inputs, save_figure
    from evocane.report.models import model_table

    config = config_from_args(args)
    variants = s.variants_from_config(config)
    baseline_model = config["evaluation"]["nextbase"]["baseline"]
    board = pd.read_csv(args.leaderboard, dtype={"split": str, "stratum": str})
    for column in ("engine", "split", "stratum"):
        board[column] = board[column].fillna("")
    metrics = {}
    for path in args.metrics:
        table = read_metrics(path)
        if len(table):
            metrics[str(table["variant"].iloc[0])] = table
    baselines = {name: s.baseline_from_metrics(table, baseline_model) for name, table in metrics.items()}
    containment = s.containment_by_variant(pd.read_csv(args.leakage, sep="\t"))
    models = model_table(args.checkpoints) if args.checkpoints else pd.DataFrame(columns=["model", "steps", "engine"])
    trained = models[models["steps"].fillna(0) > 0]
    experiments = config["evaluation"].get("tasks", {}).get("experiments", {})
    synthetic = ["experiments"] if experiments.get("table") and experiments.get("synthetic") else []
    caveats = s.Caveats(
        max_length={name: c.get("max_length") for name, c in config.get("cultivars", {}).items()},
        scored_windows=(config["evaluation"]["nextbase"].get("subset") or {}).get("max_windows"),
        training_steps={f"{m} ({v})": int(n) for m, v, n in zip(trained["model"], trained["trained on"], trained["steps"])},
        synthetic_tasks=synthetic,
        notes=_generation_notes(config),
    )
    summary = s.build_summary(board, variants, baselines, containment, caveats)
    with atomic_path(args.summary) as temp:
        Path(temp).write_text(s.summary_page(summary), encoding="utf-8")
    view = s.leaderboard_view(board, variants, synthetic)
    write_table_page(view, args.leaderboard_page, "Leaderboard",
                     "Headline rows first (next-base, test split, non-repeat bases, bits per base and difference to the best "
                     "Markov order) for the benchmark variants, then the controls, then every other row; pretraining variants last. "
                     "data = synthetic marks rows computed on a synthetic table. Sort by any column; search or filter per column. "
                     "The same rows: results/leaderboard.csv.")  # fmt: skip
    palette = ModelPalette.from_config(config)
    save_figure(leakage_inputs(board, variants, containment, metrics, palette), args.figure)


def _generation_notes(config: dict) -> list[str]:
    """Why models are missing from the generation task (only experiments with generate: true generate)."""
    entry = config.get("generation") or {}
    tasks = (config["evaluation"].get("tasks") or {}).get("enabled") or []
    if not entry.get("not_generating") or "generation" not in tasks:
        return []
    return [
        f"Generation task: continuations come only from {', '.join(entry.get('generating') or ['no model'])} (experiments with "
        f"generate: true); {', '.join(entry['not_generating'])} do not generate, because their experiments do not ask for it "
        "(in the CPU demo, to keep its run time)."
    ]


def _models_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoints", nargs="+", required=True, type=Path, help="checkpoint directories (each with evocane_checkpoint.json)")
    p.add_argument("--table", required=True, type=Path, help="writes the model table (TSV)")
    p.add_argument("--page", required=True, type=Path, help="writes the browsable model table (HTML)")


@command("report-models", "the model table (engine, init, data, steps, parameters) from the checkpoints' metadata", _models_args)
def _report_models(args: argparse.Namespace) -> None:
    from evocane.atomic import atomic_path
    from evocane.plots.tables import write_table_page
    from evocane.report.models import model_table

    table = model_table(args.checkpoints)
    with atomic_path(args.table) as temp:
        table.to_csv(temp, sep="\t", index=False)
    write_table_page(table, args.page, "Models",
                     "One row per trained checkpoint (model x dataset variant), from its evocane_checkpoint.json. init = where the "
                     "weights start (another checkpoint, a base model, or none); steps = optimiser steps (empty for counted models "
                     "such as the Markov baseline); training tokens = tokens seen in training (bases counted for Markov).")  # fmt: skip


def _page_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--table", required=True, type=Path, help="a TSV (or CSV, by its suffix) table")
    p.add_argument("--page", required=True, type=Path, help="writes the browsable table (HTML, works offline)")
    p.add_argument("--title", required=True, help="the page's title")
    p.add_argument("--note", default="", help="a line of text above the table")


@command("table-page", "a TSV/CSV table as a sortable, searchable HTML page for the report (itables, offline)", _page_args)
def _table_page(args: argparse.Namespace) -> None:
    import pandas as pd

    from evocane.errors import EvocaneError
    from evocane.plots.tables import write_table_page

    if not args.table.exists():
        raise EvocaneError(f"{args.table}: table not found")
    table = pd.read_csv(args.table, sep="," if args.table.suffix == ".csv" else "\t", comment=None)
    write_table_page(table, args.page, args.title, args.note)
