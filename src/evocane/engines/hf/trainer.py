"""Training an hf model: the transformers-specific side (forward under bf16 autocast, no weight decay on
vectors) of the shared training core :mod:`evocane.engines.training`, which owns the loss, the schedule, gradient
accumulation, validation, the metrics log and the resume states.

Why not ``transformers.Trainer``: its checkpoints are written in place (a kill mid-save leaves a half checkpoint
that resume then picks up), and the per-base loss weights would need a custom collator and ``compute_loss``
anyway.

Resume: a new run with the same fingerprint (params, data, start weights) continues from the newest resume state
in ``work_dir``; because batch ``(step, micro)`` is a pure function of the seed, the resumed run ends with the
weights an uninterrupted run would have had.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from evocane.engines.hf.data import Batch, WindowCrops
from evocane.engines.hf.model import autocast
from evocane.engines.hf.params import HFParams
from evocane.engines.training import (
    METRIC_COLUMNS,
    EvaluationHook,
    LoopSettings,
    Trainee,
    TrainState,
    micro_batch_rows,
    train,
    weighted_loss,
    write_metrics,
)
from evocane.engines.training import make_optimizer as make_core_optimizer

__all__ = ["METRIC_COLUMNS", "TrainState", "loop_settings", "make_optimizer", "train_loop", "trainee", "weighted_loss", "write_metrics"]


def forward_logits(model: torch.nn.Module, input_ids: torch.Tensor) -> torch.Tensor:
    return model(input_ids=input_ids, use_cache=False).logits


def loop_settings(params: HFParams) -> LoopSettings:
    """hf's training params for the core: each micro-batch normalised by its own weight, warmup from lr 0 (as
    transformers' schedules), no step-0 row."""
    return LoopSettings(
        steps=params.steps, lr=params.lr, min_lr_ratio=params.min_lr_ratio, warmup_steps=params.warmup_steps,
        warmup_from_zero=True,
        weight_decay=params.weight_decay, grad_clip=params.grad_clip, log_every=params.log_every,
        eval_every=params.eval_every, checkpoint_every=params.checkpoint_every,
        keep_checkpoints=params.keep_checkpoints, normalise="micro_batch", evaluate_at_start=False,
    )  # fmt: skip


def trainee(model: torch.nn.Module, device: torch.device, precision: str) -> Trainee:
    """The trainable parameters of ``model`` (matrices with weight decay, vectors without), forward in ``precision``."""
    trainable = {name: p for name, p in model.named_parameters() if p.requires_grad}

    def forward(input_ids: torch.Tensor) -> torch.Tensor:
        with autocast(device, precision):
            return forward_logits(model, input_ids)

    return Trainee(model, trainable, forward, no_decay=frozenset(name for name, p in trainable.items() if p.ndim < 2))


def make_optimizer(model: torch.nn.Module, params: HFParams) -> tuple[torch.optim.Optimizer, Any]:
    """The optimiser and schedule training uses (for benchmarks that step a model by hand)."""
    return make_core_optimizer(trainee(model, torch.device("cpu"), "fp32"), loop_settings(params))


def train_loop(
    model: torch.nn.Module,
    train_data: WindowCrops,
    val_data: WindowCrops | None,
    params: HFParams,
    work_dir: Path,
    device: torch.device,
    precision: str,
    fingerprint: str,
    description: str = "train",
    after_step: Callable[[int], None] | None = None,
    on_evaluation: EvaluationHook | None = None,
) -> TrainState:
    """Train ``model`` (its trainable parameters) for ``params.steps`` optimiser steps, resuming from ``work_dir``.

    ``after_step(step)`` is called after every optimiser step (tests use it to interrupt a run).
    """
    model.to(device).train()
    eval_batches = val_data.eval_batches(params.eval_windows, params.batch_size) if val_data is not None else []

    rows = micro_batch_rows(params.batch_size, params.micro_batch_tokens, train_data.width)

    def micro_batches(step: int) -> list[Batch]:
        return [train_data.train_batch(step, micro, rows) for micro in range(params.grad_accum)]

    return train(trainee(model, device, precision), micro_batches, eval_batches, loop_settings(params), work_dir, device,
                 fingerprint, description, after_step, on_evaluation)  # fmt: skip
