"""`evocane benchmark-export|export-predictions|import-predictions|benchmark-score|model-card`: the benchmark as a
release (bundles, the exchange format, model cards). rules/benchmark.smk calls the first, second and last; the
other two are what another group or a reviewer runs on a bundle."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from evocane import layout
from evocane.cli import add_config_arguments, command, config_from_args


def _export_args(p: argparse.ArgumentParser) -> None:
    add_config_arguments(p)
    p.add_argument("--variant", nargs="*", default=None, help="variants to release (default: the config's benchmark.variants)")
    p.add_argument("--out", type=Path, default=Path(layout.benchmark()), help="root the bundles are written under, one {variant}-{version}/ each")


@command("benchmark-export", "write the benchmark bundle of dataset variants (windows, labels, tasks, scoring, card, manifest)", _export_args)
def _benchmark_export(args: argparse.Namespace) -> None:
    from evocane.benchmark.bundle import export_bundle
    from evocane.benchmark.workflow import BundleSources, bundle_sources, bundle_variants
    from evocane.errors import EvocaneError

    config = config_from_args(args)
    planned = config.get("benchmark_bundles")  # the workflow's job config carries the sources it planned
    variants = args.variant if args.variant else (list(planned) if planned is not None else bundle_variants(config))
    if not variants:
        raise EvocaneError("benchmark-export: no variant to release (benchmark.variants, or --variant)")
    for variant in variants:
        if planned is not None and variant not in planned:
            raise EvocaneError(f"{args.job_config}: job config planned no bundle of variant '{variant}'")
        sources = BundleSources.from_dict(planned[variant]) if planned is not None else bundle_sources(config, variant)
        print(export_bundle(sources, config, args.out))


def _submission_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", required=True, type=Path, help="the dataset the prediction sets scored (the scored subset)")
    p.add_argument("--predictions", nargs="*", default=[], type=Path, help="next-base prediction sets of one model (its splits)")
    p.add_argument("--member", help="the member to export of multi-member sets (e.g. k4)")
    p.add_argument("--task", nargs=3, action="append", default=[], metavar=("TASK", "INPUTS", "PREDICTIONS"),
                   help="a task, its task dataset and the model's task prediction set (repeatable)")  # fmt: skip
    p.add_argument("--name", help="the model name in submission.json (default: the exported member's name)")
    p.add_argument("--out", required=True, type=Path, help="submission directory to write")


@command("export-predictions", "write a model's evocane predictions as an exchange-format submission", _submission_args)
def _export_predictions(args: argparse.Namespace) -> None:
    from evocane.benchmark.submission import export_submission

    fields = {"model": args.name} if args.name else {}
    tasks = {task: (inputs, predictions) for task, inputs, predictions in args.task}
    export_submission(args.out, args.dataset, args.predictions, tasks, member=args.member, **fields)


def _import_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bundle", required=True, type=Path, help="benchmark bundle directory ({variant}-{version})")
    p.add_argument("--predictions", required=True, type=Path, help="submission directory (docs/exchange-format.md)")
    p.add_argument("--model", help="model name of the prediction sets (default: submission.json's model)")
    p.add_argument("--out", required=True, type=Path, help="writes nextbase/{split}/ and tasks/{task}/ prediction directories")


@command("import-predictions", "check a submission against a bundle and write it in evocane's prediction contract", _import_args)
def _import_predictions(args: argparse.Namespace) -> None:
    from evocane.atomic import atomic_dir
    from evocane.benchmark.score import ENGINE, Bundle, import_against_bundle
    from evocane.exchange import Submission
    from evocane.predictions import write_item_scores

    bundle = Bundle.open(args.bundle)
    submission = Submission.open(args.predictions)
    model = args.model or submission.model
    with atomic_dir(args.out) as temp:
        imported = import_against_bundle(bundle, submission, temp, model)
        for task, scores in imported["tasks"].items():
            meta = {"model": model, "engine": ENGINE, "variant": bundle.variant, "split": "test", "task": task}
            write_item_scores(temp / "tasks" / task, meta, scores.rename_axis("item_id").reset_index(name="score"))
    print(f"{args.out}: {len(imported['nextbase'])} next-base split(s), {len(imported['tasks'])} task(s) of {bundle.name}")


def _score_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bundle", required=True, type=Path, help="benchmark bundle directory ({variant}-{version})")
    p.add_argument("--predictions", required=True, type=Path, help="submission directory (docs/exchange-format.md)")
    p.add_argument("--model", help="model name on the rows (default: submission.json's model)")
    p.add_argument("--out", type=Path, help="also write the rows as CSV (the columns of results/leaderboard.csv)")


@command("benchmark-score", "score a submission against a bundle: the leaderboard rows, without the workflow", _score_args)
def _benchmark_score(args: argparse.Namespace) -> None:
    from evocane.atomic import atomic_path
    from evocane.benchmark.score import score_submission

    rows = score_submission(args.bundle, args.predictions, args.model)
    if args.out:
        with atomic_path(args.out) as temp:
            rows.to_csv(temp, index=False, float_format="%.6g")
    rows.to_csv(sys.stdout, index=False, float_format="%.6g")


def _card_args(p: argparse.ArgumentParser) -> None:
    add_config_arguments(p)
    p.add_argument("--checkpoint", required=True, type=Path, help="the model's checkpoint directory")
    p.add_argument("--metrics", required=True, type=Path, help="the variant's next-base metrics.tsv")
    p.add_argument("--manifest", required=True, type=Path, help="the dataset variant's manifest.json (training data and split)")
    p.add_argument("--variant", required=True, help="the dataset variant")
    p.add_argument("--out", required=True, type=Path, help="MODEL_CARD.md to write")


@command("model-card", "write a trained model's MODEL_CARD.md (engine, data, parameters, headline numbers, limits)", _card_args)
def _model_card(args: argparse.Namespace) -> None:
    from evocane.benchmark.model_card import write_model_card

    config = config_from_args(args)
    spec = ((config.get("datasets") or {}).get("variants") or {}).get(args.variant)
    write_model_card(args.out, args.checkpoint, args.metrics, args.manifest, args.variant, spec)
