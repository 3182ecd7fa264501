"""Fine-tune a vortex Evo 2 model on one GPU: full or LoRA, bf16, activation checkpointing. The vortex-specific
side of the shared training core :mod:`evocane.engines.training` (which owns the loss, the schedule, gradient
accumulation, validation, the metrics log and the resume states).

Loss (as Evo 2 / BioNeMo): next-token cross-entropy on upper-cased input, each target weighted by the dataset's
weight code (:mod:`evocane.dataset.arrays`): full bases 1, soft-masked (lower-case) bases ``softmasked_weight``,
N/IUPAC/lineage tags 0; normalised by the total weight of the optimizer step (all its micro-batches), so gradient
accumulation gives exactly the gradient of one large batch.

Precision: the model computes in bf16 exactly as at inference, LoRA adapters included. Trainable bf16 parameters
get an fp32 master copy that the optimizer updates (a bf16 weight cannot absorb updates below ~0.4 % of its value,
i.e. most updates at fine-tuning learning rates); the fp32 HCL poles/residues are their own masters.

Data: example ``g`` of the run is window ``g mod n`` of epoch ``g div n`` in that epoch's seeded random order of
the ``n`` train windows, so step ``s`` (examples ``s * rows * grad_accum`` on) is a pure function of ``s`` and a
resumed run draws exactly what an uninterrupted one would. ``rows`` = ``micro_batch_size``, or with
``micro_batch_tokens`` the budget divided by the crop length (:func:`evocane.engines.training.micro_batch_rows`).

Resume: every ``checkpoint_every`` steps the trainable (master) tensors, optimizer, scheduler and random states are
written to ``resume_dir``; a restarted run with the same settings, data and start continues from the newest one.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from evocane.engines.evo2.model import forward_logits, rematerialise
from evocane.engines.evo2.settings import TrainSettings
from evocane.engines.evo2.tokens import PAD_ID, model_inputs, upper
from evocane.dataset.arrays import WEIGHT_FULL
from evocane.engines.training import (
    METRIC_COLUMNS,
    Batch,
    EvaluationHook,
    LoopSettings,
    Trainee,
    fingerprint,
    loss_weights,
    micro_batch_rows,
    weighted_loss_sum,
)
from evocane.engines.training import train as train_core
from evocane.errors import EvocaneError

log = logging.getLogger(__name__)

__all__ = ["METRIC_COLUMNS", "TrainResult", "collate", "loop_settings", "make_example", "train", "weighted_loss_sum"]


# --- data ------------------------------------------------------------------------------------------------------------
@dataclass
class Example:
    inputs: np.ndarray  # uint8 model input
    targets: np.ndarray  # uint8 upper-cased next tokens
    weights: np.ndarray  # float32 loss weight per target
    full: np.ndarray  # bool per target: full weight code (not soft-masked, not N/tag), the non-repeat bases


def make_example(tokens: np.ndarray, codes: np.ndarray, prepend_bos: bool, softmasked_weight: float) -> Example:
    inputs = model_inputs(tokens, prepend_bos)
    targets = upper(tokens)
    weights = loss_weights(codes, softmasked_weight)
    full = codes == WEIGHT_FULL
    if not prepend_bos:
        targets, weights, full = targets[1:], weights[1:], full[1:]
    return Example(inputs, targets, weights, full)


def collate(examples: list[Example]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded (inputs int64, targets int64, weights float32); padding has weight 0."""
    length = max(len(e.inputs) for e in examples)
    inputs = np.full((len(examples), length), PAD_ID, dtype=np.int64)
    targets = np.full((len(examples), length), PAD_ID, dtype=np.int64)
    weights = np.zeros((len(examples), length), dtype=np.float32)
    for row, example in enumerate(examples):
        n = len(example.inputs)
        inputs[row, :n], targets[row, :n], weights[row, :n] = example.inputs, example.targets, example.weights
    return torch.from_numpy(inputs), torch.from_numpy(targets), torch.from_numpy(weights)


def make_batch(examples: list[Example]) -> Batch:
    """A core batch; every target with a nonzero weight counts for the plain validation NLL."""
    inputs, targets, weights = collate(examples)
    full = torch.zeros(weights.shape, dtype=torch.bool)
    for row, example in enumerate(examples):
        full[row, : len(example.full)] = torch.from_numpy(example.full)
    return Batch(inputs, targets, weights, weights > 0, full)


class TrainWindows:
    """The train windows as an endless, seeded sequence of examples (see the module docstring), each cropped to
    ``seq_length`` tokens at a random (seeded) offset when longer."""

    def __init__(self, dataset_dir: Path, split: str, settings: TrainSettings):
        from evocane.dataset.arrays import DatasetReader

        dataset = DatasetReader(dataset_dir)
        table = dataset.split_windows(split)
        if table.empty:
            raise EvocaneError(f"{dataset_dir}: split '{split}' has no windows to train on")
        if settings.max_windows is not None and settings.max_windows < len(table):
            chosen = np.sort(np.random.default_rng(settings.seed).choice(len(table), settings.max_windows, replace=False))
            table = table.iloc[chosen].reset_index(drop=True)
        self.offsets = table["offset"].to_numpy()
        self.lengths = table["length"].to_numpy()
        self.arrays = dataset.arrays(split)
        self.settings = settings
        self._order: tuple[int, np.ndarray] | None = None  # (epoch, window order) of the last epoch drawn from
        # the sequence length training uses: the longest window (tag included) or seq_length, as the model sees it
        crop = min(int(self.lengths.max()), settings.seq_length) - (0 if settings.prepend_bos else 1)
        self.rows = micro_batch_rows(settings.micro_batch_size, settings.micro_batch_tokens, crop)

    def __len__(self) -> int:
        return len(self.offsets)

    def _window_order(self, epoch: int) -> np.ndarray:
        if self._order is None or self._order[0] != epoch:
            self._order = (epoch, np.random.default_rng([self.settings.seed, epoch]).permutation(len(self)))
        return self._order[1]

    def example(self, number: int) -> Example:
        """Example ``number`` (0-based over the whole run)."""
        epoch, index = divmod(number, len(self))
        window = int(self._window_order(epoch)[index])
        offset, length = int(self.offsets[window]), int(self.lengths[window])
        take = min(length, self.settings.seq_length)
        if length > take:
            offset += int(np.random.default_rng([self.settings.seed, epoch, index]).integers(0, length - take + 1))
        tokens, _, codes = self.arrays.window(offset, take)
        return make_example(tokens, codes, self.settings.prepend_bos, self.settings.softmasked_weight)

    def micro_batches(self, step: int) -> list[Batch]:
        """The ``grad_accum`` micro-batches of optimiser step ``step``, ``rows`` examples each."""
        size = self.rows
        first = step * size * self.settings.grad_accum
        return [make_batch([self.example(first + micro * size + row) for row in range(size)]) for micro in range(self.settings.grad_accum)]


def validation_batches(dataset_dir: Path, settings: TrainSettings) -> list[Batch]:
    """The first ``eval_windows`` validation windows (their first ``seq_length`` tokens), one batch each; none
    when the dataset has no validation windows."""
    from evocane.dataset.arrays import DatasetReader

    dataset = DatasetReader(dataset_dir)
    table = dataset.split_windows("validation").head(settings.eval_windows)
    if table.empty:
        return []
    arrays = dataset.arrays("validation")
    batches = []
    for offset, length in zip(table["offset"].to_numpy(), table["length"].to_numpy()):
        tokens, _, codes = arrays.window(int(offset), int(min(length, settings.seq_length)))
        batches.append(make_batch([make_example(tokens, codes, settings.prepend_bos, settings.softmasked_weight)]))
    return batches


# --- precision -------------------------------------------------------------------------------------------------------
class MasterWeights:
    """fp32 copies of trainable low-precision parameters for the optimizer (fp32 parameters are used directly)."""

    def __init__(self, params: list[nn.Parameter]):
        self.params = params
        self.masters = [p if p.dtype == torch.float32 else nn.Parameter(p.detach().float().clone()) for p in params]

    def grads_to_masters(self) -> None:
        for param, master in zip(self.params, self.masters):
            if master is param:
                continue
            master.grad = None if param.grad is None else param.grad.float()
            param.grad = None

    @torch.no_grad()
    def masters_to_params(self) -> None:
        for param, master in zip(self.params, self.masters):
            if master is not param:
                param.copy_(master)


# --- training --------------------------------------------------------------------------------------------------------
def loop_settings(settings: TrainSettings) -> LoopSettings:
    """evo2's training settings for the core: micro-batches normalised by the step's total weight, warmup from
    ``lr / warmup_steps`` at the first step, and a step-0 row with the validation loss of the starting weights."""
    return LoopSettings(
        steps=settings.steps, lr=settings.lr, min_lr_ratio=settings.min_lr_ratio, warmup_steps=settings.warmup_steps,
        warmup_from_zero=False,
        weight_decay=settings.weight_decay, grad_clip=settings.grad_clip, log_every=settings.log_every,
        eval_every=settings.eval_every, checkpoint_every=settings.checkpoint_every,
        keep_checkpoints=settings.keep_checkpoints, normalise="step", evaluate_at_start=True,
    )  # fmt: skip


@dataclass
class TrainResult:
    model: nn.Module  # the trained vortex model (LoRA merged)
    adapter: dict[str, torch.Tensor] | None
    metrics: list[dict[str, float]] = field(default_factory=list)
    resumed_from: int | None = None


def train(
    model: nn.Module,
    dataset_dir: Path,
    settings: TrainSettings,
    device: torch.device,
    resume_dir: Path,
    start: Mapping[str, Any] | None = None,
    on_evaluation: EvaluationHook | None = None,
) -> TrainResult:
    """Fine-tune ``model`` (a vortex StripedHyena, loaded or random) on the train split of ``dataset_dir``.
    ``start`` describes the starting weights (part of what a resume state must match)."""
    from evocane.engines.evo2.lora import adapter_state_dict, apply_lora, merge_lora

    settings.check()
    rematerialise(model)
    torch.manual_seed(settings.seed)
    if settings.mode == "lora":
        container: nn.Module = apply_lora(model, settings.lora_rank, settings.lora_alpha, settings.lora_dropout, settings.lora_targets)
    else:
        container = nn.ModuleDict({"model": model})
        for param in model.parameters():
            param.requires_grad_(True)
    names = [name for name, p in container.named_parameters() if p.requires_grad]
    params = [p for p in container.parameters() if p.requires_grad]
    master = MasterWeights(params) if settings.master_weights else None
    inner = container["model"]
    checkpoint_blocks = settings.activation_checkpointing

    def forward(input_ids: torch.Tensor) -> torch.Tensor:
        # activations are recomputed in backward only when there is a backward (not in validation)
        return forward_logits(inner, input_ids, checkpoint_blocks and torch.is_grad_enabled())

    trainee = Trainee(
        inner, dict(zip(names, master.masters if master else params)), forward,
        grads_to_trainable=master.grads_to_masters if master else None,
        trainable_to_module=master.masters_to_params if master else None,
    )  # fmt: skip
    windows = TrainWindows(dataset_dir, "train", settings)
    shaping = {k: v for k, v in asdict(settings).items() if k != "log_every"}
    state = train_core(
        trainee, windows.micro_batches, validation_batches(dataset_dir, settings), loop_settings(settings), resume_dir,
        device, fingerprint(shaping, dataset_dir, dict(start or {})), description=f"evo2 {settings.mode} fine-tune",
        on_evaluation=on_evaluation,
    )  # fmt: skip
    adapter = adapter_state_dict(container) if settings.mode == "lora" else None
    trained = merge_lora(container) if settings.mode == "lora" else inner  # type: ignore[arg-type]
    for param in trained.parameters():
        param.requires_grad_(False)
    return TrainResult(trained.eval(), adapter, state.metrics, state.resumed_from)
