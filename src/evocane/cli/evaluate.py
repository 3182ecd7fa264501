"""`evocane nextbase|nextbase-plots|leaderboard`: the evaluation commands the evaluation rules call."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from evocane import layout
from evocane.cli import add_config_arguments, command, config_from_args
from evocane.errors import EvocaneError

NEXTBASE_TABLES = ("metrics.tsv", "windows.parquet", "leaderboard.tsv")
NEXTBASE_FIGURES = ("bits_by_region", "delta_to_markov", "window_strata", "window_violins", "window_heatmap")


def _settings(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """EvaluationSettings plus the raw nextbase and evaluation sections (defaults filled by the schema)."""
    from evocane.evaluate.nextbase import EvaluationSettings

    evaluation = config_from_args(args)["evaluation"]
    nextbase, bootstrap = evaluation["nextbase"], evaluation["bootstrap"]
    settings = EvaluationSettings(
        baseline=nextbase["baseline"],
        window_strata=tuple(nextbase["window_strata"]),
        n_resamples=bootstrap["n_resamples"],
        confidence=bootstrap["confidence"],
        seed=bootstrap["seed"],
    )
    return settings, nextbase, evaluation


def _prediction_dirs(sets: list[Path]) -> list[Path]:
    from evocane.predictions import prediction_dirs

    return [path for prediction_set in sets for path in prediction_dirs(prediction_set)]


def _nextbase_args(p: argparse.ArgumentParser) -> None:
    add_config_arguments(p)
    p.add_argument("--dataset", required=True, type=Path, help="dataset variant directory")
    p.add_argument("--predictions", required=True, nargs="+", type=Path, help="prediction sets (any models, validation and test)")
    p.add_argument("--out-dir", required=True, type=Path, help=f"writes {', '.join(NEXTBASE_TABLES)}")


@command("nextbase", "next-base metrics by region/cultivar/homology group/leakage bin with bootstrap CIs", _nextbase_args)
def _nextbase(args: argparse.Namespace) -> None:
    from evocane.atomic import atomic_paths
    from evocane.evaluate.nextbase import evaluate_variant, leaderboard_rows

    settings, _, _ = _settings(args)
    metrics, windows = evaluate_variant(args.dataset, _prediction_dirs(args.predictions), settings)
    with atomic_paths(*(args.out_dir / name for name in NEXTBASE_TABLES)) as (metrics_path, windows_path, board_path):
        metrics.to_csv(metrics_path, sep="\t", index=False, float_format="%.6g")
        windows.to_parquet(windows_path, index=False)
        leaderboard_rows(metrics).to_csv(board_path, sep="\t", index=False, float_format="%.6g")


def _plots_args(p: argparse.ArgumentParser) -> None:
    add_config_arguments(p)
    p.add_argument("--dataset", required=True, type=Path, help="the scored dataset directory (variant or its scored subset)")
    p.add_argument("--metrics", required=True, type=Path, help="metrics.tsv written by evocane nextbase")
    p.add_argument("--windows", required=True, type=Path, help="windows.parquet written by evocane nextbase")
    p.add_argument("--predictions", required=True, nargs="+", type=Path, help="prediction sets of the plotted split (distributions)")
    p.add_argument("--split", default="test", help="split to plot (default: test)")
    p.add_argument("--out-dir", required=True, type=Path, help="directory for the figures and ranked_windows.tsv")


@command("nextbase-plots", "next-base figures and the ranked table of best/worst windows", _plots_args)
def _nextbase_plots(args: argparse.Namespace) -> None:
    import numpy as np
    import pandas as pd

    from evocane.atomic import atomic_path
    from evocane.dataset.arrays import CDS, REPEAT, DatasetReader
    from evocane.evaluate.nextbase import read_metrics
    from evocane.plots import nextbase as plots  # selects the Agg backend before pyplot is imported
    from matplotlib import pyplot as plt
    from evocane.predictions import PredictionReader

    from evocane.plots.palette import ModelPalette

    settings, nextbase, evaluation = _settings(args)
    palette = ModelPalette.from_config(config_from_args(args))
    suffix = evaluation["plot_format"]
    metrics = read_metrics(args.metrics)
    windows = pd.read_parquet(args.windows)
    dataset = DatasetReader(args.dataset)
    split_metrics = metrics[metrics["split"] == args.split]
    baselines = set(split_metrics.loc[split_metrics["baseline"] != "", "baseline"])
    focus = sorted(baselines | set(split_metrics.loc[split_metrics["config_model"] != settings.baseline, "model"]))
    readers = [PredictionReader(d) for d in _prediction_dirs(args.predictions)]
    distributions = {r.model: r.distributions() for r in readers if r.meta["split"] == args.split and r.model in focus}
    distributions = {model: kept for model, kept in distributions.items() if kept}  # models with only log-probs are left out
    common = set.intersection(*(set(d) for d in distributions.values())) if distributions else set()
    split_windows = dataset.split_windows(args.split).set_index("window_id")
    labels = dataset.arrays(args.split).labels
    tokens = dataset.arrays(args.split).tokens

    def coding(window_id: str) -> int:
        row = split_windows.loc[window_id]
        piece = labels[int(row["offset"]) : int(row["offset"]) + int(row["length"])]
        return int(np.count_nonzero((piece & (CDS | REPEAT)) == CDS))

    figures = {
        "bits_by_region": plots.bits_by_region(metrics, args.split),
        "delta_to_markov": plots.delta_to_baseline(metrics, args.split),
        "window_strata": plots.window_strata(metrics, args.split, focus, palette),
        "window_violins": plots.window_violins(windows, args.split, palette=palette),
    }
    if common:
        def piece_of(window_id: str) -> slice:
            row = split_windows.loc[window_id]
            return slice(int(row["offset"]), int(row["offset"]) + int(row["length"]))

        def site_rank(window_id: str) -> int:
            """Windows with a start codon first, then a splice site, a TSS, none (plots.SITE_PREFERENCE)."""
            site = plots.best_site(tokens[piece_of(window_id)], labels[piece_of(window_id)])
            return plots.SITE_PREFERENCE.index(site[1]) if site else len(plots.SITE_PREFERENCE)

        window_id = sorted(common, key=lambda w: (site_rank(w), -coding(w), w))[0]
        piece = piece_of(window_id)
        figures["window_heatmap"] = plots.window_token_view(
            window_id, tokens[piece], labels[piece], {m: d[window_id] for m, d in distributions.items()}, nextbase["heatmap_span"]
        )
    else:
        figures["window_heatmap"] = plots.message_figure("no window has distributions from every plotted model")
    for name, figure in figures.items():
        with atomic_path(args.out_dir / f"{name}.{suffix}") as temp:
            figure.savefig(temp, format=suffix, dpi=110, bbox_inches="tight")
        plt.close(figure)
    ranked = plots.ranked_windows(windows, dataset.windows, args.split, focus, nextbase["ranked_windows"])
    with atomic_path(args.out_dir / "ranked_windows.tsv") as temp:
        ranked.to_csv(temp, sep="\t", index=False, float_format="%.4f")


def _leaderboard_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--parts", nargs="*", default=[], type=Path, help="leaderboard parts (CSV/TSV with the leaderboard columns)")
    p.add_argument("--output", type=Path, help="long CSV to write (results/leaderboard.csv); required unless --show")
    p.add_argument("--table", type=Path, help="wide TSV for the report: one column per dataset variant")
    p.add_argument("--show", action="store_true",
                   help="print the headline table: per variant, next-base bits per non-repeat base of every model with its "
                   "CI and the difference to the Markov baseline (reads --csv, or the --output just written)")
    p.add_argument("--csv", type=Path, default=Path(layout.leaderboard()),
                   help=f"leaderboard to show (default: {layout.leaderboard()})")
    p.add_argument("--variant", help="--show: only this dataset variant")
    p.add_argument("--split", default="test", help="--show: the split (default: test)")


@command("leaderboard", "combine every task's leaderboard part into results/leaderboard.csv, or --show its headline table", _leaderboard_args)
def _leaderboard(args: argparse.Namespace) -> None:
    from evocane.atomic import atomic_path
    from evocane.evaluate.leaderboard import combine, format_headline, headline_table, read_leaderboard, wide_table

    if args.output is None and not args.show:
        raise EvocaneError("leaderboard: give --output (combine parts) or --show (print the headline table)")
    if args.output is not None:
        board = combine(args.parts)
        with atomic_path(args.output) as temp:
            board.to_csv(temp, index=False, float_format="%.6g")
        if args.table:
            with atomic_path(args.table) as temp:
                wide_table(board).to_csv(temp, sep="\t", index=False)
    if args.show:
        shown = read_leaderboard(args.output if args.output is not None else args.csv)
        sys.stdout.write(format_headline(headline_table(shown, args.split, args.variant), args.split))
