"""`evocane task-inputs|task-score|task-evaluate`: the commands of the benchmark's tasks (generation, regulatory
elements, variant effect, experimental data). Each runs by hand as the rules in rules/tasks.smk run it."""

from __future__ import annotations

import argparse
from pathlib import Path

from evocane import layout
from evocane.cli import add_config_arguments, command, config_from_args

TASK_CHOICES = ["regulatory", "variant_effect", "generation", "experiments"]


def _inputs_args(p: argparse.ArgumentParser) -> None:
    add_config_arguments(p)
    p.add_argument("--task", required=True, choices=TASK_CHOICES, help="the task whose inputs are built")
    p.add_argument("--dataset", required=True, type=Path, help="source dataset variant (results/datasets/<variant>)")
    p.add_argument("--genomes", type=Path, default=Path(layout.genomes()), help="root of the prepared genomes")
    p.add_argument("--out", required=True, type=Path, help="task dataset (or generation inputs) directory to write")
    p.add_argument("--table", type=Path, help="experiments: the table (default: evaluation.tasks.experiments.table)")


@command("task-inputs", "build a task's inputs (windows, negatives, variants, prompts) from a variant's test split", _inputs_args)
def _task_inputs(args: argparse.Namespace) -> None:
    from evocane.evaluate.tasks import build_inputs

    build_inputs(args.task, config_from_args(args), args.dataset, args.genomes, args.out, args.table)


def _score_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", required=True, choices=[t for t in TASK_CHOICES if t != "generation"], help="the task of the dataset (decides which distributions are kept)")
    p.add_argument("--checkpoint", required=True, type=Path, help="checkpoint directory of any engine (holds evocane_checkpoint.json)")
    p.add_argument("--dataset", required=True, type=Path, help="task dataset directory (task-inputs output)")
    p.add_argument("--out", required=True, type=Path, help="prediction set directory to write")
    p.add_argument("--trust-remote-code", action="store_true",
                   help="let the checkpoint's model run code it ships (Hugging Face trust_remote_code); only for models you trust")
    from evocane.cli.engines import add_shard_arguments

    add_shard_arguments(p)


@command("task-score", "score a task dataset with a checkpoint of any engine (keeps the distributions the task needs)", _score_args)
def _task_score(args: argparse.Namespace) -> None:
    from evocane.engines.base import get_engine, read_checkpoint_meta
    from evocane.evaluate.tasks import distribution_windows

    engine = get_engine(read_checkpoint_meta(args.checkpoint)["engine"])
    engine.allow_remote_code = args.trust_remote_code
    from evocane.cli.engines import shard_selection

    selection = shard_selection(args, args.dataset, "test")
    engine.score(args.checkpoint, args.dataset, "test", args.out, distribution_windows(args.task, args.dataset), selection)


def _evaluate_args(p: argparse.ArgumentParser) -> None:
    add_config_arguments(p)
    p.add_argument("--task", required=True, choices=TASK_CHOICES, help="the task to evaluate")
    p.add_argument("--inputs", required=True, type=Path, help="task dataset (or generation inputs) directory")
    p.add_argument("--predictions", nargs="*", type=Path, default=[], help="prediction sets of the task dataset")
    p.add_argument("--background", type=Path, help="prediction set of the log-likelihood-ratio background model")
    p.add_argument("--generated", nargs="*", type=Path, default=[], help="generation: directories with sampled.fa and greedy.fa")
    p.add_argument("--out-dir", required=True, type=Path, help="evaluation directory to write (metrics.tsv, leaderboard.tsv, tables, figures)")


@command("task-evaluate", "evaluate every model of a task: metrics (long table), leaderboard part, figures", _evaluate_args)
def _task_evaluate(args: argparse.Namespace) -> None:
    from evocane.evaluate.tasks import evaluate

    config = config_from_args(args)
    engines = {name: str(spec.get("engine", "")) for name, spec in (config.get("models") or {}).items()}
    evaluate(args.task, config, args.inputs, args.out_dir, args.predictions, args.background, args.generated, engines)
