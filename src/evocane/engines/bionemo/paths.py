"""Where the workflow keeps BioNeMo files (relative to the working directory). rules/bionemo.smk and
``evocane bionemo-commands`` both use these, so the printed commands are the ones the rules run.

    results/bionemo/checkpoints/{checkpoint}/            NeMo2 base checkpoint (evo2_convert_to_nemo2)
    results/bionemo/train/{model}/{variant}/             train_evo2 --result-dir (one per model and variant)
        {model}/checkpoints/epoch=..-step=..[-last]/     its checkpoints; {model}/dev/ TensorBoard
        evocane_command.json, run.json                   the command it runs, the last checkpoint once done
    results/bionemo/predict/{model}/{variant}/{split}/   raw predict_evo2 output (temporary)
    results/bionemo/infer/{model}/{variant}/             raw infer_evo2 outputs + plan.json

The files every engine shares (checkpoint pointer, predictions, generated FASTA, prompts, datasets) are
evocane.layout's; the names below re-export them for the BioNeMo rules and commands.
"""

from __future__ import annotations

from evocane import layout
from evocane.engines.bionemo.settings import CheckpointSpec

BIONEMO = layout.bionemo()
model_checkpoint_dir = layout.checkpoint
predictions_dir = layout.predictions
generated_fasta = layout.generated
prompts_fasta = layout.prompts
dataset_dir = layout.dataset


def base_checkpoint_dir(checkpoint: CheckpointSpec) -> str:
    """The NeMo2 directory of a base checkpoint: converted by the workflow, or the configured NeMo2 source."""
    return converted_checkpoint_dir(checkpoint.name) if checkpoint.needs_conversion else checkpoint.source


def converted_checkpoint_dir(name: str) -> str:
    return f"{BIONEMO}/checkpoints/{name}"


def train_run_dir(model: str, variant: str) -> str:
    return f"{BIONEMO}/train/{model}/{variant}"


def train_experiment_name(model: str) -> str:
    return model


def train_checkpoints_dir(model: str, variant: str) -> str:
    return f"{train_run_dir(model, variant)}/{train_experiment_name(model)}/checkpoints"


def train_manifest(model: str, variant: str) -> str:
    return f"{train_run_dir(model, variant)}/run.json"


def predict_raw_dir(model: str, variant: str, split: str) -> str:
    return f"{BIONEMO}/predict/{model}/{variant}/{split}"


def infer_raw_dir(model: str, variant: str) -> str:
    return f"{BIONEMO}/infer/{model}/{variant}"
