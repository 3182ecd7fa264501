"""The training loop: weighted next-base loss, AdamW, warmup + cosine, gradient accumulation, bf16/fp32,
periodic validation, atomic checkpoints, exact resume after an interruption, and a metrics table.

Why not ``transformers.Trainer``: its checkpoints are written in place (a kill mid-save leaves a half checkpoint
that resume then picks up), and the per-base loss weights would need a custom collator and ``compute_loss``
anyway; the loop here is short and every step of it is tested.

Resume: ``work_dir`` holds ``step-NNNNNNNN/`` directories, each written whole through :func:`atomic_dir` (trainable
weights, optimiser, scheduler, RNG states, the metrics so far). A new run with the same fingerprint (params,
data, start weights) loads the newest one and goes on; because batch ``(step, micro)`` is a pure function of the
seed, the resumed run ends with the weights an uninterrupted run would have had.
"""

from __future__ import annotations

import json
import logging
import math
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch
import torch.nn.functional as F
from tqdm import tqdm

from evocane.atomic import atomic_dir, atomic_path
from evocane.engines.hf.data import Batch, WindowCrops
from evocane.engines.hf.model import autocast
from evocane.engines.hf.params import HFParams

log = logging.getLogger(__name__)

METRIC_COLUMNS = ["step", "tokens", "lr", "train_loss", "val_loss", "val_nll", "tokens_per_s", "elapsed_s"]
_STEP_DIR = re.compile(r"^step-(\d{8})$")


def weighted_loss(logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Sum of weight x NLL over positions divided by the sum of weights (Evo 2's ``normalized_weighted``):
    a soft-masked base counts ``softmasked_weight`` times a full one, N/IUPAC/tags/padding not at all."""
    nll = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="none")
    weights = weights.reshape(-1)
    return (nll * weights).sum() / weights.sum().clamp_min(1e-8)


def forward_logits(model: torch.nn.Module, input_ids: torch.Tensor) -> torch.Tensor:
    return model(input_ids=input_ids, use_cache=False).logits


@torch.no_grad()
def evaluate(model: torch.nn.Module, batches: list[Batch], device: torch.device, precision: str) -> tuple[float, float]:
    """(weighted loss as trained, plain mean NLL over every base with a nonzero weight code) on fixed batches."""
    if not batches:
        return math.nan, math.nan
    was_training = model.training
    model.eval()
    weighted_sum = weight_total = nll_sum = scored_total = 0.0
    for batch in batches:
        batch = batch.to(device)
        with autocast(device, precision):
            logits = forward_logits(model, batch.input_ids)
        nll = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), batch.targets.reshape(-1), reduction="none")
        weights = batch.weights.reshape(-1)
        scored = batch.scored.reshape(-1)
        weighted_sum += float((nll * weights).sum())
        weight_total += float(weights.sum())
        nll_sum += float(nll[scored].sum())
        scored_total += float(scored.sum())
    model.train(was_training)
    return weighted_sum / max(weight_total, 1e-8), nll_sum / max(scored_total, 1.0)


@dataclass
class TrainState:
    step: int = 0
    tokens: int = 0
    elapsed_s: float = 0.0
    metrics: list[dict[str, float]] = field(default_factory=list)


def trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach().to("cpu").contiguous() for name, p in model.named_parameters() if p.requires_grad}


def _latest_checkpoint(work_dir: Path) -> Path | None:
    steps = sorted((int(m.group(1)), p) for p in work_dir.glob("step-*") if (m := _STEP_DIR.match(p.name)) and p.is_dir())
    return steps[-1][1] if steps else None


def save_resume_checkpoint(work_dir: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any,
                           state: TrainState, fingerprint: str, keep: int) -> Path:  # fmt: skip
    from safetensors.torch import save_file

    target = work_dir / f"step-{state.step:08d}"
    with atomic_dir(target) as temp:
        save_file(trainable_state(model), str(temp / "trainable.safetensors"))
        torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "rng": _rng_state()}, temp / "optimizer.pt")
        (temp / "state.json").write_text(
            json.dumps({"fingerprint": fingerprint, "step": state.step, "tokens": state.tokens, "elapsed_s": state.elapsed_s}) + "\n"
        )
        pd.DataFrame(state.metrics, columns=METRIC_COLUMNS).to_csv(temp / "metrics.tsv", sep="\t", index=False)
    for old in sorted(p for p in work_dir.glob("step-*") if _STEP_DIR.match(p.name))[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return target


def load_resume_checkpoint(work_dir: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any,
                           fingerprint: str) -> TrainState | None:  # fmt: skip
    from safetensors.torch import load_file

    latest = _latest_checkpoint(work_dir)
    if latest is None:
        return None
    saved = json.loads((latest / "state.json").read_text())
    if saved.get("fingerprint") != fingerprint:
        log.warning("%s: made by a different configuration or data; starting afresh", latest)
        for stale in work_dir.glob("step-*"):
            shutil.rmtree(stale, ignore_errors=True)
        return None
    weights = load_file(str(latest / "trainable.safetensors"))
    missing, unexpected = model.load_state_dict(weights, strict=False)
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    if unexpected or trainable - set(weights):
        raise RuntimeError(f"{latest}: trainable parameters do not match the model (unexpected {unexpected[:3]})")
    extra = torch.load(latest / "optimizer.pt", weights_only=False)
    optimizer.load_state_dict(extra["optimizer"])
    scheduler.load_state_dict(extra["scheduler"])
    _set_rng_state(extra["rng"])
    metrics = pd.read_csv(latest / "metrics.tsv", sep="\t").to_dict("records")
    log.info("resuming from %s (step %d)", latest, saved["step"])
    return TrainState(int(saved["step"]), int(saved["tokens"]), float(saved["elapsed_s"]), metrics)


def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def make_optimizer(model: torch.nn.Module, params: HFParams) -> tuple[torch.optim.Optimizer, Any]:
    from transformers import get_cosine_with_min_lr_schedule_with_warmup

    decay, no_decay = [], []
    for _, parameter in model.named_parameters():
        if parameter.requires_grad:
            (decay if parameter.ndim >= 2 else no_decay).append(parameter)
    groups = [{"params": decay, "weight_decay": params.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=params.lr, betas=(0.9, 0.95), eps=1e-8)
    scheduler = get_cosine_with_min_lr_schedule_with_warmup(
        optimizer, num_warmup_steps=min(params.warmup_steps, params.steps), num_training_steps=max(params.steps, 1),
        min_lr_rate=params.min_lr_ratio,
    )  # fmt: skip
    return optimizer, scheduler


def write_metrics(metrics: list[dict[str, float]], path: Path) -> None:
    with atomic_path(path) as temp:
        pd.DataFrame(metrics, columns=METRIC_COLUMNS).to_csv(temp, sep="\t", index=False)


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
) -> TrainState:
    """Train ``model`` (its trainable parameters) for ``params.steps`` optimiser steps, resuming from ``work_dir``.

    ``after_step(step)`` is called after every optimiser step (tests use it to interrupt a run).
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    model.to(device).train()
    optimizer, scheduler = make_optimizer(model, params)
    state = load_resume_checkpoint(work_dir, model, optimizer, scheduler, fingerprint) or TrainState()
    eval_batches = val_data.eval_batches(params.eval_windows, params.batch_size) if val_data is not None else []
    metrics_path = work_dir / "metrics.tsv"
    losses: list[torch.Tensor] = []  # kept on the device: no host sync per step
    began = time.perf_counter() - state.elapsed_s
    interval_began, interval_tokens = time.perf_counter(), 0
    progress = tqdm(total=params.steps, initial=state.step, desc=description, unit="step", dynamic_ncols=True)
    while state.step < params.steps:
        step_loss = torch.zeros((), device=device)
        for micro in range(params.grad_accum):
            batch = train_data.train_batch(state.step, micro, params.batch_size).to(device)
            with autocast(device, precision):
                logits = forward_logits(model, batch.input_ids)
            loss = weighted_loss(logits, batch.targets, batch.weights) / params.grad_accum
            loss.backward()
            step_loss += loss.detach()
            state.tokens += batch.n_tokens
            interval_tokens += batch.n_tokens
        if params.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], params.grad_clip)
        lr = optimizer.param_groups[0]["lr"]
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        state.step += 1
        losses.append(step_loss)
        progress.update(1)
        last = state.step == params.steps
        checkpoint_now = state.step % params.checkpoint_every == 0 or last
        # a checkpoint step is always a log step, so a resumed run's loss intervals match an uninterrupted run's
        if state.step % params.log_every == 0 or state.step % params.eval_every == 0 or checkpoint_now:
            now = time.perf_counter()
            tokens_per_s = interval_tokens / max(now - interval_began, 1e-9)
            val_loss, val_nll = (math.nan, math.nan)
            if state.step % params.eval_every == 0 or last:
                val_loss, val_nll = evaluate(model, eval_batches, device, precision)
            state.elapsed_s = now - began
            state.metrics.append({
                "step": state.step, "tokens": state.tokens, "lr": lr, "train_loss": float(torch.stack(losses).mean()),
                "val_loss": val_loss, "val_nll": val_nll, "tokens_per_s": tokens_per_s, "elapsed_s": state.elapsed_s,
            })  # fmt: skip
            write_metrics(state.metrics, metrics_path)
            progress.set_postfix(loss=f"{state.metrics[-1]['train_loss']:.4f}", val=f"{val_loss:.4f}", tok_s=f"{tokens_per_s:,.0f}")
            losses.clear()
            interval_began, interval_tokens = time.perf_counter(), 0
        if checkpoint_now:
            state.elapsed_s = time.perf_counter() - began
            save_resume_checkpoint(work_dir, model, optimizer, scheduler, state, fingerprint, params.keep_checkpoints)
        if after_step is not None:
            after_step(state.step)
    progress.close()
    return state
