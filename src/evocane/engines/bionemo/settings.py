"""Typed views of the config's ``bionemo`` section and of a ``models:`` entry with ``engine: bionemo``.

Standard library only: the command builders that use these run inside the BioNeMo container too.

Config layout (schema: config/schema.yaml ``bionemo``; defaults filled there)::

    bionemo:
      enabled, image
      checkpoints: {name: {source, format, model_size, fp8}}     base checkpoints (converted once)
      train:   parallelism (nodes, gpus_per_node, tensor/pipeline/context parallel) + hyper-parameters + lora
      predict: output (logits | log_probs), gpus, tensor_parallel, micro_batch_size, write_interval, ...
      infer:   tensor_parallel, flash_decode, max_seq_length
      resources: {gpu_model, convert, preprocess, train, predict, infer}: cpus, mem_mb, runtime
      launcher: {mpi, apptainer, apptainer_args}                 multi-node training only

    models:
      <name>: {engine: bionemo, params: {checkpoint: <name under bionemo.checkpoints>, finetune: none|full|lora,
                                         train: {<overrides of bionemo.train>}}}
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from evocane.errors import EvocaneError

DEFAULT_IMAGE = "docker://nvcr.io/nvidia/clara/bionemo-framework:2.7.1"
# Hyena configs the v2.7.1 CLIs accept for Evo 2 checkpoints (NeMo HYENA_MODEL_OPTIONS); *_nv are for training
# from scratch, the plain names match Arc's checkpoints (../shared/reference/evo2-toolchain.md §2.1).
MODEL_SIZES = ("1b", "1b_nv", "7b", "7b_arc_longcontext", "7b_nv", "40b", "40b_arc_longcontext", "40b_nv", "test", "test_nv")
FINETUNE_MODES = ("none", "full", "lora")
PREDICT_OUTPUTS = ("logits", "log_probs")
# infer_evo2 hard-codes inference_max_seq_length=8192 (prompt + generated tokens).
INFER_MAX_SEQ_LENGTH = 8192


@dataclass(frozen=True)
class CheckpointSpec:
    """A base checkpoint: a Savanna checkpoint (``hf://arcinstitute/savanna_evo2_*`` or a local ``.pt``) that
    evo2_convert_to_nemo2 turns into NeMo2, or a NeMo2 directory used as it is (e.g. from NGC)."""

    name: str
    source: str
    model_size: str
    format: str = "savanna"
    fp8: bool = False  # FP8-trained checkpoint: predict/infer with vortex-style --fp8 (the original 1b needs it)
    note: str = ""

    @property
    def needs_conversion(self) -> bool:
        return self.format == "savanna"


@dataclass(frozen=True)
class LoraSettings:
    dim: int | None = None  # None = NeMo's default (32)
    alpha: int | None = None  # None = NeMo's default (32)


@dataclass(frozen=True)
class TrainSettings:
    """train_evo2 settings. Every field maps to one flag (commands.train_command); None = the CLI's default."""

    nodes: int = 1
    gpus_per_node: int = 1
    tensor_parallel: int = 1
    pipeline_parallel: int = 1
    context_parallel: int = 1
    sequence_parallel: bool = False
    seq_length: int = 8192
    micro_batch_size: int = 1
    grad_acc_batches: int = 1
    global_batch_size: int | None = None
    max_steps: int = 100
    early_stop_on_step: int | None = None
    val_check_interval: int = 50
    limit_val_batches: int = 20
    lr: float = 1.5e-5
    min_lr: float = 1.49e-5
    warmup_steps: int = 10
    constant_steps: int | None = None
    wd: float = 0.001
    clip_grad: float = 250.0
    attention_dropout: float = 0.01
    hidden_dropout: float = 0.01
    activation_checkpoint_layers: int | None = None
    no_activation_checkpointing: bool = False
    fp8: bool = False
    eod_pad_in_loss_mask: bool = False
    no_renormalize_loss: bool = False
    seed: int = 1234
    workers: int = 8
    save_top_k: int = 5
    ckpt_async_save: bool = False
    tensorboard: bool = True
    restore_optimizer_from_ckpt: bool = False
    lora: LoraSettings = field(default_factory=LoraSettings)

    @property
    def world_size(self) -> int:
        return self.nodes * self.gpus_per_node

    @property
    def model_parallel_size(self) -> int:
        return self.tensor_parallel * self.pipeline_parallel * self.context_parallel

    @property
    def data_parallel_size(self) -> int:
        return self.world_size // self.model_parallel_size

    def check(self, where: str = "bionemo.train") -> None:
        if self.world_size % self.model_parallel_size:
            raise EvocaneError(
                f"config key '{where}': nodes x gpus_per_node = {self.world_size} GPUs is not divisible by "
                f"tensor_parallel x pipeline_parallel x context_parallel = {self.model_parallel_size}"
            )
        if self.global_batch_size is not None:
            per_step = self.micro_batch_size * self.data_parallel_size
            if self.global_batch_size % per_step:
                raise EvocaneError(
                    f"config key '{where}.global_batch_size': {self.global_batch_size} is not a multiple of "
                    f"micro_batch_size x data-parallel size = {per_step}"
                )
        if self.val_check_interval > self.max_steps:
            raise EvocaneError(
                f"config key '{where}.val_check_interval': {self.val_check_interval} exceeds max_steps {self.max_steps}, "
                "so no checkpoint would be saved"
            )
        if self.no_activation_checkpointing and self.activation_checkpoint_layers is not None:
            raise EvocaneError(f"config key '{where}': activation_checkpoint_layers and no_activation_checkpointing exclude each other")


@dataclass(frozen=True)
class PredictSettings:
    output: str = "logits"  # logits: full A/C/G/T distributions; log_probs: per-token log P over the vocabulary
    gpus: int = 1
    tensor_parallel: int = 1
    micro_batch_size: int = 1
    write_interval: str = "epoch"
    files_per_subdir: int | None = None
    shard_windows: int | None = None  # windows per predict_evo2 call (bounds the raw output on disk); None = one call
    compact: bool = True  # logits: keep only A/C/G/T/a/c/g/t and the log-sum-exp of the rest after each call

    def check(self, where: str = "bionemo.predict") -> None:
        if self.output not in PREDICT_OUTPUTS:
            raise EvocaneError(f"config key '{where}.output': '{self.output}' is not one of {', '.join(PREDICT_OUTPUTS)}")
        if self.gpus % self.tensor_parallel:
            raise EvocaneError(f"config key '{where}.gpus': {self.gpus} is not divisible by tensor_parallel {self.tensor_parallel}")


@dataclass(frozen=True)
class InferSettings:
    tensor_parallel: int = 1
    flash_decode: bool = False


@dataclass(frozen=True)
class JobResources:
    cpus: int = 8  # CPUs per GPU for GPU jobs, CPUs per task for preprocess
    mem_mb: int = 64000  # per node
    runtime: int | str = 120  # minutes, or "12h" / "1d"
    partition: str | None = None  # Slurm partition; None = the profile's choice (partitions.yaml)


@dataclass(frozen=True)
class LauncherSettings:
    """How a multi-node training job starts its tasks: ``{mpi} ... {apptainer} exec {apptainer_args} IMAGE``."""

    mpi: str = "srun"
    apptainer: str = "apptainer"
    apptainer_args: str = "--nv"


@dataclass(frozen=True)
class BioNeMoSettings:
    enabled: bool = False
    image: str = DEFAULT_IMAGE
    checkpoints: dict[str, CheckpointSpec] = field(default_factory=dict)
    train: TrainSettings = field(default_factory=TrainSettings)
    predict: PredictSettings = field(default_factory=PredictSettings)
    infer: InferSettings = field(default_factory=InferSettings)
    gpu_model: str | None = None
    resources: dict[str, JobResources] = field(default_factory=dict)
    launcher: LauncherSettings = field(default_factory=LauncherSettings)

    def checkpoint(self, name: str, where: str = "bionemo.checkpoints") -> CheckpointSpec:
        if name not in self.checkpoints:
            raise EvocaneError(f"config key '{where}': no checkpoint named '{name}' under bionemo.checkpoints (have: {', '.join(self.checkpoints) or 'none'})")
        return self.checkpoints[name]

    def job_resources(self, step: str) -> JobResources:
        return self.resources.get(step, JobResources())


@dataclass(frozen=True)
class BioNeMoModel:
    """One ``models:`` entry with ``engine: bionemo``: a base checkpoint, zero-shot or fine-tuned."""

    name: str
    checkpoint: CheckpointSpec
    finetune: str
    train: TrainSettings

    @property
    def trains(self) -> bool:
        return self.finetune != "none"

    @property
    def lora(self) -> bool:
        return self.finetune == "lora"


# --- parsing -----------------------------------------------------------------------------------------------------------
def _build(cls: type, values: Mapping[str, Any], where: str) -> Any:
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise EvocaneError(f"unknown config key(s) {', '.join(repr(f'{where}.{k}') for k in unknown)} (allowed here: {', '.join(sorted(known))})")
    return cls(**values)


def _train(values: Mapping[str, Any], where: str, base: TrainSettings | None = None) -> TrainSettings:
    values = dict(values)
    lora = values.pop("lora", None)
    merged = dataclasses.asdict(base) if base is not None else {}
    merged.pop("lora", None)
    merged.update(values)
    settings = _build(TrainSettings, merged, where)
    lora_base = base.lora if base is not None else LoraSettings()
    lora_values = {**dataclasses.asdict(lora_base), **(lora or {})}
    return dataclasses.replace(settings, lora=_build(LoraSettings, lora_values, f"{where}.lora"))


def bionemo_settings(config: Mapping[str, Any]) -> BioNeMoSettings:
    """The validated ``bionemo`` section (schema defaults already filled by config validation)."""
    section = dict(config.get("bionemo") or {})
    checkpoints = {
        name: _build(CheckpointSpec, {"name": name, **spec}, f"bionemo.checkpoints.{name}")
        for name, spec in (section.get("checkpoints") or {}).items()
    }
    for spec in checkpoints.values():
        if spec.model_size not in MODEL_SIZES:
            raise EvocaneError(f"config key 'bionemo.checkpoints.{spec.name}.model_size': '{spec.model_size}' is not one of {', '.join(MODEL_SIZES)}")
        if spec.format == "nemo2" and spec.source.startswith("hf://"):
            raise EvocaneError(f"config key 'bionemo.checkpoints.{spec.name}.source': an hf:// source is a Savanna checkpoint (format: savanna)")
    train = _train(section.get("train") or {}, "bionemo.train")
    train.check()
    predict = _build(PredictSettings, section.get("predict") or {}, "bionemo.predict")
    predict.check()
    resources_section = dict(section.get("resources") or {})
    gpu_model = resources_section.pop("gpu_model", None)
    resources = {step: _build(JobResources, values or {}, f"bionemo.resources.{step}") for step, values in resources_section.items()}
    return BioNeMoSettings(
        enabled=bool(section.get("enabled", False)),
        image=section.get("image") or DEFAULT_IMAGE,
        checkpoints=checkpoints,
        train=train,
        predict=predict,
        infer=_build(InferSettings, section.get("infer") or {}, "bionemo.infer"),
        gpu_model=gpu_model,
        resources=resources,
        launcher=_build(LauncherSettings, section.get("launcher") or {}, "bionemo.launcher"),
    )


def bionemo_model(config: Mapping[str, Any], name: str, settings: BioNeMoSettings | None = None) -> BioNeMoModel:
    """The ``models.<name>`` entry of a BioNeMo model, its params checked and its train overrides merged."""
    settings = settings or bionemo_settings(config)
    models = config.get("models") or {}
    if name not in models:
        raise EvocaneError(f"config: no model named '{name}' under 'models' (have: {', '.join(models) or 'none'})")
    entry = models[name]
    where = f"models.{name}.params"
    if entry.get("engine") != "bionemo":
        raise EvocaneError(f"config key 'models.{name}.engine': '{entry.get('engine')}' is not bionemo")
    params = dict(entry.get("params") or {})
    unknown = sorted(set(params) - {"checkpoint", "finetune", "train"})
    if unknown:
        raise EvocaneError(f"unknown config key(s) {', '.join(repr(f'{where}.{k}') for k in unknown)} (allowed here: checkpoint, finetune, train)")
    if "checkpoint" not in params:
        raise EvocaneError(f"config key '{where}.checkpoint' is required: a name under bionemo.checkpoints")
    finetune = params.get("finetune", "none")
    if finetune not in FINETUNE_MODES:
        raise EvocaneError(f"config key '{where}.finetune': '{finetune}' is not one of {', '.join(FINETUNE_MODES)}")
    train = _train(params.get("train") or {}, f"{where}.train", base=settings.train)
    if finetune != "none":
        train.check(f"{where}.train")
    return BioNeMoModel(name, settings.checkpoint(params["checkpoint"], f"{where}.checkpoint"), finetune, train)


def bionemo_model_names(config: Mapping[str, Any]) -> list[str]:
    return [name for name, entry in (config.get("models") or {}).items() if entry.get("engine") == "bionemo"]
