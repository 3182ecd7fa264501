"""Command lines for BioNeMo's Evo 2 CLIs (bionemo-framework v2.7.1, the pinned container), as argv lists.

Standard library only, so the rules (at DAG time), ``evocane bionemo-commands`` (by hand) and the launcher script
inside the container build the same commands. Every flag emitted here exists in v2.7.1 (and in the last version of
the sub-package, e2150f8): tests/data/bionemo/cli_flags_v2.7.1.json records the argparse flag names per CLI with
their source, and tests/test_bionemo_commands.py checks every built command against it.

Launching (``launch``): a Slurm job of the slurm executor runs one task (``srun -n1``), which Lightning detects as
a one-process Slurm world. So

- one GPU: the CLI itself;
- several GPUs on one node: ``torchrun --standalone --nproc-per-node=G --no-python <cli>`` (torchrun's environment
  takes precedence over Slurm's in Lightning), inside the container of the rule;
- several nodes: ``srun --nodes=N --ntasks-per-node=G apptainer exec --nv IMAGE <cli>`` from the batch script (an
  MPI-style job: ``resources: mpi, tasks_per_node, nodes``). srun cannot run inside the container, so each task
  starts its own container; IMAGE must then be a local .sif file (``apptainer pull``).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from evocane.engines.bionemo.settings import (
    INFER_MAX_SEQ_LENGTH,
    BioNeMoModel,
    CheckpointSpec,
    InferSettings,
    LauncherSettings,
    PredictSettings,
)
from evocane.errors import EvocaneError

CONVERT = "evo2_convert_to_nemo2"
PREPROCESS = "preprocess_evo2"
TRAIN = "train_evo2"
PREDICT = "predict_evo2"
INFER = "infer_evo2"


def _number(value: float | int) -> str:
    """Floats as argparse reads them back unchanged (repr keeps 1.5e-05 exact)."""
    return repr(value) if isinstance(value, float) else str(value)


def convert_command(checkpoint: CheckpointSpec, output_dir: str | Path) -> list[str]:
    """Savanna checkpoint (hf://arcinstitute/savanna_evo2_* or a local .pt) -> NeMo2 directory."""
    if not checkpoint.needs_conversion:
        raise EvocaneError(f"bionemo checkpoint '{checkpoint.name}' is already NeMo2 (format: nemo2); nothing to convert")
    return [CONVERT, "--model-path", checkpoint.source, "--model-size", checkpoint.model_size, "--output-dir", str(output_dir)]


def preprocess_command(config_yaml: str | Path) -> list[str]:
    """FASTA -> Megatron .bin/.idx as the preprocessing YAML (a list of Evo2PreprocessingConfig) says."""
    return [PREPROCESS, "--config", str(config_yaml)]


def train_command(
    model: BioNeMoModel,
    dataset_config: str | Path,
    result_dir: str | Path,
    experiment_name: str,
    init_checkpoint: str | Path,
    dataset_dir: str | Path | None = None,
) -> list[str]:
    """train_evo2 for a full or LoRA fine-tune of ``init_checkpoint`` (a NeMo2 directory).

    Outputs go to ``{result_dir}/{experiment_name}/`` (checkpoints/, dev/ TensorBoard). Resume: when
    ``{result_dir}/{experiment_name}/checkpoints`` already holds a checkpoint, train_evo2 resumes from it and
    ignores ``--ckpt-dir``; the launcher (runner.prepare_run_dir) therefore refuses a result directory left by a
    different command. The validation interval, which is also the checkpoint interval, is always set.
    """
    if not model.trains:
        raise EvocaneError(f"model '{model.name}' is zero-shot (finetune: none): it has no training command")
    t = model.train
    argv = [
        TRAIN,
        "--dataset-config", str(dataset_config),
    ]  # fmt: skip
    if dataset_dir is not None:
        argv += ["--dataset-dir", str(dataset_dir)]
    argv += [
        "--result-dir", str(result_dir),
        "--experiment-name", experiment_name,
        "--model-size", model.checkpoint.model_size,
        "--ckpt-dir", str(init_checkpoint),
        "--num-nodes", str(t.nodes),
        "--devices", str(t.gpus_per_node),
        "--tensor-parallel-size", str(t.tensor_parallel),
        "--pipeline-model-parallel-size", str(t.pipeline_parallel),
        "--context-parallel-size", str(t.context_parallel),
        "--seq-length", str(t.seq_length),
        "--micro-batch-size", str(t.micro_batch_size),
        "--grad-acc-batches", str(t.grad_acc_batches),
        "--max-steps", str(t.max_steps),
        "--val-check-interval", str(t.val_check_interval),
        "--limit-val-batches", str(t.limit_val_batches),
        "--lr", _number(t.lr),
        "--min-lr", _number(t.min_lr),
        "--warmup-steps", str(t.warmup_steps),
        "--wd", _number(t.wd),
        "--clip-grad", _number(t.clip_grad),
        "--attention-dropout", _number(t.attention_dropout),
        "--hidden-dropout", _number(t.hidden_dropout),
        "--seed", str(t.seed),
        "--workers", str(t.workers),
        "--save-top-k", str(t.save_top_k),
    ]  # fmt: skip
    optional_values = {
        "--global-batch-size": t.global_batch_size,
        "--early-stop-on-step": t.early_stop_on_step,
        "--constant-steps": t.constant_steps,
        "--activation-checkpoint-recompute-num-layers": t.activation_checkpoint_layers,
    }
    for flag, value in optional_values.items():
        if value is not None:
            argv += [flag, _number(value)]
    switches = {
        "--sequence-parallel": t.sequence_parallel,
        "--no-activation-checkpointing": t.no_activation_checkpointing,
        "--fp8": t.fp8,
        "--eod-pad-in-loss-mask": t.eod_pad_in_loss_mask,
        "--no-renormalize-loss": t.no_renormalize_loss,
        "--ckpt-async-save": t.ckpt_async_save,
        "--create-tensorboard-logger": t.tensorboard,
        "--restore-optimizer-from-ckpt": t.restore_optimizer_from_ckpt,
    }
    argv += [flag for flag, on in switches.items() if on]
    if model.lora:
        argv.append("--lora-finetune")
        if t.lora.dim is not None:
            argv += ["--lora-dim", str(t.lora.dim)]
        if t.lora.alpha is not None:
            argv += ["--lora-alpha", str(t.lora.alpha)]
    return argv


def predict_command(
    checkpoint: CheckpointSpec,
    ckpt_dir: str | Path,
    fasta: str | Path,
    output_dir: str | Path,
    settings: PredictSettings,
    lora_checkpoint: str | Path | None = None,
) -> list[str]:
    """predict_evo2 over every record of ``fasta``, always with ``--prepend-bos`` (so the first base is scored).

    ``settings.output`` logits: ``token_logits`` + ``pad_mask`` + ``seq_idx`` (full distributions);
    log_probs: per-token ``log_probs_seqs`` (log P of the observed token over the whole vocabulary).
    Context parallelism is not offered: it returns per-token outputs shuffled along the sequence.
    """
    argv = [
        PREDICT,
        "--fasta", str(fasta),
        "--ckpt-dir", str(ckpt_dir),
        "--output-dir", str(output_dir),
        "--model-size", checkpoint.model_size,
        "--prepend-bos",
        "--micro-batch-size", str(settings.micro_batch_size),
        "--tensor-parallel-size", str(settings.tensor_parallel),
        "--devices", str(settings.gpus),
        "--num-nodes", "1",
        "--write-interval", settings.write_interval,
    ]  # fmt: skip
    if settings.files_per_subdir is not None:
        argv += ["--files-per-subdir", str(settings.files_per_subdir)]
    if settings.output == "log_probs":
        argv += ["--output-log-prob-seqs", "--log-prob-collapse-option", "per_token"]
    elif settings.output != "logits":
        raise EvocaneError(f"config key 'bionemo.predict.output': '{settings.output}' is not logits or log_probs")
    if checkpoint.fp8:
        argv.append("--fp8")
    if lora_checkpoint is not None:
        argv += ["--lora-checkpoint-path", str(lora_checkpoint)]
    return argv


def _with_sampling_defaults(sampling: Mapping[str, Any]) -> dict[str, Any]:
    """``sampling`` with evaluation.generation.sampling's schema defaults for absent keys."""
    from dataclasses import asdict

    from evocane.engines.base import SamplingConfig

    return {**asdict(SamplingConfig()), **sampling}


def infer_sampling_args(sampling: Mapping[str, Any]) -> list[str]:
    """evocane's sampling settings (evaluation.generation.sampling) as infer_evo2 flags.

    Conventions differ: evocane's temperature 0 = greedy (infer_evo2: top-k 1) and top_p 1.0 = off
    (infer_evo2: top-p 0.0 = off).
    """
    sampling = _with_sampling_defaults(sampling)
    temperature = float(sampling["temperature"])
    top_k = int(sampling["top_k"])
    top_p = float(sampling["top_p"])
    if temperature == 0.0:
        temperature, top_k = 1.0, 1
    if top_p >= 1.0:
        top_p = 0.0
    return ["--temperature", _number(temperature), "--top-k", str(top_k), "--top-p", _number(top_p)]


def infer_command(
    ckpt_dir: str | Path,
    prompt: str,
    output_file: str | Path,
    sampling: Mapping[str, Any],
    seed: int,
    settings: InferSettings,
    fp8: bool = False,
) -> list[str]:
    """infer_evo2 for one prompt (the CLI takes exactly one); writes the repr of an InferenceRequest to
    ``output_file`` (parsed by :func:`evocane.engines.bionemo.convert.parse_inference_output`)."""
    n_tokens = int(_with_sampling_defaults(sampling)["n_tokens"])
    if len(prompt) + n_tokens > INFER_MAX_SEQ_LENGTH:
        raise EvocaneError(
            f"infer_evo2 handles at most {INFER_MAX_SEQ_LENGTH} tokens (prompt + generated); "
            f"prompt {len(prompt)} + n_tokens {n_tokens} is more"
        )
    argv = [
        INFER,
        "--ckpt-dir", str(ckpt_dir),
        "--prompt", prompt,
        "--max-new-tokens", str(n_tokens),
        *infer_sampling_args(sampling),
        "--seed", str(seed),
        "--tensor-parallel-size", str(settings.tensor_parallel),
        "--output-file", str(output_file),
    ]  # fmt: skip
    if fp8:
        argv.append("--fp8")
    if settings.flash_decode:
        argv.append("--flash-decode")
    return argv


def launch(argv: Sequence[str], gpus_per_node: int, nodes: int = 1, image: str | None = None, launcher: LauncherSettings | None = None) -> list[str]:
    """Wrap a CLI call so that it runs one process per GPU (see the module docstring)."""
    if nodes > 1:
        launcher = launcher or LauncherSettings()
        if image is None or "://" in image:
            raise EvocaneError(
                f"multi-node jobs start one container per task: set bionemo.image to a local .sif file "
                f"(apptainer pull bionemo-framework_2.7.1.sif {image or 'docker://...'}), not '{image}'"
            )
        return [
            *shlex.split(launcher.mpi),
            f"--nodes={nodes}",
            f"--ntasks-per-node={gpus_per_node}",
            "--kill-on-bad-exit=1",
            *shlex.split(launcher.apptainer),
            "exec",
            *shlex.split(launcher.apptainer_args),
            image,
            *argv,
        ]
    if gpus_per_node > 1:
        return ["torchrun", "--standalone", f"--nproc-per-node={gpus_per_node}", "--no-python", *argv]
    return list(argv)


def shell_join(argv: Sequence[str]) -> str:
    return shlex.join(argv)
