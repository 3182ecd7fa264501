"""`evocane bionemo-*`: the CPU-side BioNeMo steps (scoring FASTA, checkpoint pointers, conversion of predict and
infer outputs) and `bionemo-commands`, which prints every command the workflow runs for one model and variant.
The GPU steps run in the container through scripts/bionemo_run.py."""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path

from evocane.cli import _config_arguments, command


def _fasta_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", required=True, type=Path)
    p.add_argument("--split", required=True, choices=["train", "validation", "test"])
    p.add_argument("--out", required=True, type=Path)


@command("bionemo-fasta", "write a split's windows (lineage tag included) as the FASTA predict_evo2 scores", _fasta_args)
def _fasta(args: argparse.Namespace) -> None:
    from evocane.engines.bionemo.engine import write_windows_fasta

    write_windows_fasta(args.dataset, args.split, args.out)


def _checkpoint_args(p: argparse.ArgumentParser) -> None:
    _config_arguments(p)
    p.add_argument("--model", required=True)
    p.add_argument("--variant", required=True)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--train-manifest", type=Path, help="run.json of the model's training run (fine-tuned models)")


@command("bionemo-checkpoint", "write the evocane checkpoint pointer of a BioNeMo model (base or trained NeMo2)", _checkpoint_args)
def _checkpoint(args: argparse.Namespace) -> None:
    from evocane.config import load_config
    from evocane.engines.base import model_config
    from evocane.engines.bionemo import paths
    from evocane.engines.bionemo.engine import register_checkpoint
    from evocane.engines.bionemo.settings import bionemo_model, bionemo_settings
    from evocane.errors import EvocaneError

    config = load_config(*args.config)
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
    p.add_argument("--dataset", required=True, type=Path)
    p.add_argument("--split", required=True, choices=["train", "validation", "test"])
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--distribution-windows", type=int, default=0)
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
    p.add_argument("--checkpoint", required=True, type=Path)
    p.add_argument("--out", required=True, type=Path)


@command("bionemo-generated", "parse infer_evo2 outputs into the generated-sequence FASTA", _generated_args)
def _generated(args: argparse.Namespace) -> None:
    from evocane.engines.bionemo.convert import convert_generated
    from evocane.engines.bionemo.runner import RegisteredCheckpoint

    convert_generated(args.raw, RegisteredCheckpoint.read(args.checkpoint).model, args.out)


def _commands_args(p: argparse.ArgumentParser) -> None:
    _config_arguments(p)
    p.add_argument("--model", required=True)
    p.add_argument("--variant", required=True)
    p.add_argument("--split", default="test", choices=["validation", "test"])


@command("bionemo-commands", "print the commands the workflow runs for one BioNeMo model and dataset variant", _commands_args)
def _commands(args: argparse.Namespace) -> None:
    from evocane.config import load_config

    for line in command_lines(load_config(*args.config), args.model, args.variant, args.split, args.config):
        print(line)


def command_lines(config: dict, model: str, variant: str, split: str, config_files: list[str]) -> list[str]:
    """The workflow's BioNeMo steps for (model, variant) as shell lines, in order, with comments."""
    import dataclasses

    from evocane.engines.bionemo import commands, paths, workflow

    plan = workflow.BioNeMoPlan.from_config(config)
    if model not in plan.models:
        from evocane.errors import EvocaneError

        raise EvocaneError(f"config: '{model}' is not a BioNeMo model (have: {', '.join(plan.models) or 'none'})")
    spec = plan.models[model]
    configs = " ".join(shlex.quote(c) for c in config_files)
    container = f"apptainer exec --nv {plan.settings.image}"
    checkpoint = paths.model_checkpoint_dir(model, variant)
    lines = [f"# BioNeMo steps of model {model} on dataset variant {variant} (run from the repository directory)"]
    if spec.checkpoint.needs_conversion:
        out = paths.converted_checkpoint_dir(spec.checkpoint.name)
        lines += [f"# 1. base checkpoint -> NeMo2 (GPU): {commands.shell_join(commands.convert_command(spec.checkpoint, out))}", f"{container} python scripts/bionemo_run.py convert --spec {shlex.quote(json.dumps(dataclasses.asdict(spec.checkpoint)))} --out {out}"]
    if spec.trains:
        lines.append("# 2. dataset -> Megatron .bin/.idx (CPU), one call per split")
        lines += [f"{container} {commands.shell_join(commands.preprocess_command(workflow.preprocess_config(variant, s)))}" for s in workflow.DATASET_SPLITS]
        run_dir = paths.train_run_dir(model, variant)
        train = commands.shell_join(plan.train_argv(model, variant))
        prefix = "" if plan.multi_node else f"{container} "
        lines += [
            f"# 3. {spec.finetune} fine-tune ({spec.train.nodes} node(s) x {spec.train.gpus_per_node} GPU(s)); a rerun resumes from {paths.train_checkpoints_dir(model, variant)}",
            f"{prefix}python scripts/bionemo_run.py train --run-dir {run_dir} --checkpoints-dir {paths.train_checkpoints_dir(model, variant)} "
            f"--manifest {paths.train_manifest(model, variant)} -- {train}",
        ]
    manifest = f" --train-manifest {paths.train_manifest(model, variant)}" if spec.trains else ""
    fasta = f"{paths.BIONEMO}/fasta/{variant}/{split}.fa"
    raw = paths.predict_raw_dir(model, variant, split)
    lines += [
        "# 4. evocane checkpoint pointer (CPU)",
        f"evocane bionemo-checkpoint --config {configs} --model {model} --variant {variant} --out {checkpoint}{manifest}",
        f"# 5. score the {split} split (GPU), then convert to the prediction format (CPU)",
        f"evocane bionemo-fasta --dataset {paths.dataset_dir(variant)} --split {split} --out {fasta}",
        f"{container} python scripts/bionemo_run.py predict --checkpoint {checkpoint} --fasta {fasta} --out {raw}",
        f"evocane bionemo-predictions --raw {raw} --checkpoint {checkpoint} --dataset {paths.dataset_dir(variant)} --split {split} "
        f"--out {paths.predictions_dir(model, variant, split)}",
    ]
    if not spec.lora:
        sampling = json.dumps(config["evaluation"]["generation"]["sampling"], sort_keys=True)
        lines += [
            "# 6. generate from the prompts (GPU, one infer_evo2 call per prompt and sample), then FASTA (CPU)",
            f"{container} python scripts/bionemo_run.py infer --checkpoint {checkpoint} --prompts {paths.prompts_fasta(variant)} "
            f"--out {paths.infer_raw_dir(model, variant)} --sampling {shlex.quote(sampling)}",
            f"evocane bionemo-generated --raw {paths.infer_raw_dir(model, variant)} --checkpoint {checkpoint} --out {paths.generated_fasta(model, variant)}",
        ]
    return lines
