"""`evocane hpo-trial | hpo-summary`: one trial of an Optuna study (a Snakemake job each), and what a study hands on
(best.yaml, the trials table, figures). Watch a running study with `optuna-dashboard <journal or RDB URL>`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from evocane import layout
from evocane.cli import add_config_arguments, command, config_from_args


def _trial_args(p: argparse.ArgumentParser) -> None:
    add_config_arguments(p)
    p.add_argument("--study", required=True, help="a name under hpo.studies")
    p.add_argument("--slot", required=True, type=int, help="the trial's slot, 0 .. trials-1 (one Snakemake job each)")
    p.add_argument("--dataset", type=Path, help="dataset variant directory (default: the study's variant)")
    p.add_argument("--init-checkpoint", type=Path, help="start from this checkpoint (default: the model's init_checkpoint)")
    p.add_argument("--out", type=Path, help=f"trial record to write (default: {layout.hpo_trial('<study>', '<slot>')})")


@command("hpo-trial", "run one trial of a study: ask for values, train, report validation bits/base, tell", _trial_args)
def _trial(args: argparse.Namespace) -> None:
    from evocane.hpo.study import StudySpec
    from evocane.hpo.trial import run_trial

    config = config_from_args(args)
    spec = StudySpec.from_config(config, args.study)
    dataset = args.dataset or Path(layout.dataset(spec.variant))
    out = args.out or Path(layout.hpo_trial(args.study, str(args.slot)))
    record = run_trial(config, args.study, args.slot, dataset, out, args.init_checkpoint)
    print(json.dumps(record, sort_keys=True))


def _summary_args(p: argparse.ArgumentParser) -> None:
    add_config_arguments(p)
    p.add_argument("--study", required=True, help="a name under hpo.studies")
    p.add_argument("--plot-format", default="png", help="format of the figures (png, svg or pdf)")


@command("hpo-summary", "best.yaml, trials.tsv and the figures of a study", _summary_args)
def _summary(args: argparse.Namespace) -> None:
    from evocane.hpo.summary import FIGURES, write_summary

    figures = {name: Path(layout.hpo_file(f"{name}.{args.plot_format}", args.study)) for name in FIGURES}
    best = write_summary(config_from_args(args), args.study, Path(layout.hpo_file("best.yaml", args.study)),
                         Path(layout.hpo_file("trials.tsv", args.study)), figures)  # fmt: skip
    print(json.dumps({key: best[key] for key in ("study", "best_trial", "value", "params")}, sort_keys=True))
