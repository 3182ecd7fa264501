"""`evocane bionemo-*`: the CPU-side BioNeMo steps (scoring FASTA, checkpoint pointers, conversion of predict and
infer outputs) and `bionemo-commands`, which prints every command the workflow runs for one model and variant.
The GPU steps run in the container through scripts/bionemo_run.py."""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path

from evocane.cli import add_config_arguments, command, config_from_args


def _fasta_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", required=True, type=Path, help="dataset directory in the dataset contract")
    p.add_argument("--split", required=True, choices=["train", "validation", "test"], help="split whose windows are written")
    p.add_argument("--out", required=True, type=Path, help="FASTA to write (id = window_id)")


@command("bionemo-fasta", "write a split's windows (lineage tag included) as the FASTA predict_evo2 scores", _fasta_args)
def _fasta(args: argparse.Namespace) -> None:
    from evocane.engines.bionemo.engine import write_windows_fasta

    write_windows_fasta(args.dataset, args.split, args.out)


def _checkpoint_args(p: argparse.ArgumentParser) -> None:
    add_config_arguments(p)
    p.add_argument("--model", required=True, help="the BioNeMo model (a key of models: with engine: bionemo)")
    p.add_argument("--variant", required=True, help="dataset variant the model is trained on or scores")
    p.add_argument("--out", required=True, type=Path, help="checkpoint directory to write (evocane_checkpoint.json)")
    p.add_argument("--train-manifest", type=Path, help="run.json of the model's training run (fine-tuned models)")


@command("bionemo-checkpoint", "write the evocane checkpoint pointer of a BioNeMo model (base or trained NeMo2)", _checkpoint_args)
def _checkpoint(args: argparse.Namespace) -> None:
    from evocane.engines.base import model_config
    from evocane.engines.bionemo import paths
    from evocane.engines.bionemo.engine import register_checkpoint
    from evocane.engines.bionemo.settings import bionemo_model, bionemo_settings
    from evocane.errors import EvocaneError

    config = config_from_args(args)
    settings = bionemo_settings(config)
    model = bionemo_model(config, args.model, settings)
    base = paths.base_checkpoint_dir(model.checkpoint)
    manifest = None
    nemo2, lora = base, None
    if model.trains:
        if args.train_manifest is None:
            raise EvocaneError(f"model '{args.model}' is fine-tuned ({model.finetune}): give --train-manifest")
        manifest = json.loads(args.train_manifest.read_text())
        nemo2, lora = (base, manifest["checkpoint"]) if model.lora else (manifest["checkpoint"], None)
    register_checkpoint(args.out, model, model_config(config, args.model), settings, paths.dataset_dir(args.variant), nemo2, lora, manifest)


def _predictions_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--raw", required=True, type=Path, help="predict_evo2 --output-dir")
    p.add_argument("--checkpoint", required=True, type=Path, help="the evocane checkpoint it was predicted with")
    p.add_argument("--dataset", required=True, type=Path, help="dataset directory the FASTA was written from")
    p.add_argument("--split", required=True, choices=["train", "validation", "test"], help="split that was predicted")
    p.add_argument("--out", required=True, type=Path, help="prediction set directory to write")
    p.add_argument("--distribution-windows", type=int, default=0, help="keep full A/C/G/T distributions for this many windows")
    p.add_argument("--task", help="a task dataset (evaluation tasks): keep the distributions that task needs")


@command("bionemo-predictions", "convert predict_evo2 output into the prediction format", _predictions_args)
def _predictions(args: argparse.Namespace) -> None:
    from evocane.engines.base import select_distribution_windows
    from evocane.engines.bionemo.convert import convert_predictions
    from evocane.engines.bionemo.runner import RegisteredCheckpoint

    registered = RegisteredCheckpoint.read(args.checkpoint)
    meta = {"model": registered.model, "engine": "bionemo", "variant": registered.variant, "checkpoint": str(args.checkpoint)}
    if args.task:
        from evocane.evaluate.tasks import distribution_windows

        keep = list(distribution_windows(args.task, args.dataset))
    else:
        keep = select_distribution_windows(args.dataset, args.split, args.distribution_windows)
    convert_predictions(args.raw, args.dataset, args.split, args.out, meta, prepend_bos=True, distribution_windows=keep)


def _generated_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--raw", required=True, type=Path, help="bionemo_infer output directory (plan.json + one file per call)")
    p.add_argument("--checkpoint", required=True, type=Path, help="the evocane checkpoint it was generated with")
    p.add_argument("--out", required=True, type=Path, help="generated FASTA to write")


@command("bionemo-generated", "parse infer_evo2 outputs into the generated-sequence FASTA", _generated_args)
def _generated(args: argparse.Namespace) -> None:
    from evocane.engines.bionemo.convert import convert_generated
    from evocane.engines.bionemo.runner import RegisteredCheckpoint

    convert_generated(args.raw, RegisteredCheckpoint.read(args.checkpoint).model, args.out)


def _commands_args(p: argparse.ArgumentParser) -> None:
    add_config_arguments(p)
    p.add_argument("--model", required=True, help="the BioNeMo model (a key of models: with engine: bionemo)")
    p.add_argument("--variant", required=True, help="dataset variant")
    p.add_argument("--split", default="test", choices=["validation", "test"], help="split whose scoring commands are printed (default: test)")


@command("bionemo-commands", "print the commands the workflow runs for one BioNeMo model and dataset variant", _commands_args)
def _commands(args: argparse.Namespace) -> None:
    from evocane.engines.bionemo.workflow import command_lines

    if args.job_config is not None:
        config_argument = f"--job-config {shlex.quote(str(args.job_config))}"
    else:
        config_argument = "--config " + " ".join(shlex.quote(c) for c in args.config or ["config/config.yaml"])
    for line in command_lines(config_from_args(args), args.model, args.variant, args.split, config_argument):
        print(line)
