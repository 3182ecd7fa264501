"""Fine-tune a vortex Evo 2 model on one GPU: full or LoRA, bf16, activation checkpointing, gradient accumulation,
resumable checkpoints.

Loss (as Evo 2 / BioNeMo): next-token cross-entropy on upper-cased input, each target weighted by the dataset's
weight code (:mod:`evocane.dataset.arrays`): full bases 1, soft-masked (lower-case) bases ``softmasked_weight``
(0.1), N/IUPAC/lineage tags 0; normalised by the total weight of the optimizer step (all its micro-batches), so
gradient accumulation gives exactly the gradient of one large batch.

Precision: the model computes in bf16 exactly as at inference, LoRA adapters included. Trainable bf16 parameters
get an fp32 master copy that the optimizer updates (a bf16 weight cannot absorb updates below ~0.4 % of its value,
i.e. most updates at fine-tuning learning rates); the fp32 HCL poles/residues are their own masters.

Resume: every ``checkpoint_every`` steps the trainable state, optimizer, scheduler, data position and random
states are written to ``resume_dir``; a restarted run continues from the newest one.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from evocane.atomic import atomic_path
from evocane.engines.evo2.model import forward_logits, rematerialise
from evocane.engines.evo2.settings import TrainSettings
from evocane.engines.evo2.tokens import PAD_ID, model_inputs, upper
from evocane.errors import EvocaneError

log = logging.getLogger(__name__)

# tokens = cumulative training tokens; tokens_per_second and peak memory over the logging interval
METRIC_COLUMNS = ["step", "tokens", "lr", "train_loss", "val_loss", "val_nll", "tokens_per_second", "seconds", "peak_memory_gib"]


# --- data ------------------------------------------------------------------------------------------------------------
def loss_weights(codes: np.ndarray, softmasked_weight: float) -> np.ndarray:
    """Dataset weight codes -> float32 loss weights (0 none, 1 soft-masked, 2 full)."""
    from evocane.dataset.arrays import WEIGHT_FULL, WEIGHT_SOFTMASKED

    table = np.zeros(256, dtype=np.float32)
    table[WEIGHT_SOFTMASKED] = softmasked_weight
    table[WEIGHT_FULL] = 1.0
    return table[np.asarray(codes, dtype=np.uint8)]


@dataclass
class Example:
    inputs: np.ndarray  # uint8 model input
    targets: np.ndarray  # uint8 upper-cased next tokens
    weights: np.ndarray  # float32 loss weight per target


def make_example(tokens: np.ndarray, codes: np.ndarray, prepend_bos: bool, softmasked_weight: float) -> Example:
    inputs = model_inputs(tokens, prepend_bos)
    targets = upper(tokens)
    weights = loss_weights(codes, softmasked_weight)
    if not prepend_bos:
        targets, weights = targets[1:], weights[1:]
    return Example(inputs, targets, weights)


@dataclass
class DataPosition:
    epoch: int = 0
    index: int = 0


class WindowStream:
    """Endless, seeded, resumable stream of training examples: the train windows in a fresh random order each
    epoch, each cropped to ``seq_length`` tokens at a random (seeded) offset when longer."""

    def __init__(self, dataset_dir: Path, split: str, settings: TrainSettings, position: DataPosition | None = None):
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
        self.position = position or DataPosition()

    def _order(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.settings.seed, epoch]).permutation(len(self.offsets))

    def example(self, epoch: int, index: int) -> Example:
        window = int(self._order(epoch)[index])
        offset, length = int(self.offsets[window]), int(self.lengths[window])
        take = min(length, self.settings.seq_length)
        if length > take:
            offset += int(np.random.default_rng([self.settings.seed, epoch, index]).integers(0, length - take + 1))
        tokens, _, codes = self.arrays.window(offset, take)
        return make_example(tokens, codes, self.settings.prepend_bos, self.settings.softmasked_weight)

    def __iter__(self) -> Iterator[Example]:
        return self

    def __next__(self) -> Example:
        example = self.example(self.position.epoch, self.position.index)
        self.position.index += 1
        if self.position.index >= len(self.offsets):
            self.position = DataPosition(self.position.epoch + 1, 0)
        return example


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


def weighted_loss_sum(logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Sum over positions of weight x cross-entropy (fp32)."""
    nll = torch.nn.functional.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), reduction="none")
    return (nll * weights.flatten()).sum()


# --- optimisation ----------------------------------------------------------------------------------------------------
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


def lr_lambda(settings: TrainSettings) -> Any:
    def factor(step: int) -> float:
        if step < settings.warmup_steps:
            return (step + 1) / settings.warmup_steps
        progress = min(1.0, (step - settings.warmup_steps) / max(1, settings.steps - settings.warmup_steps))
        return settings.min_lr_ratio + (1 - settings.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


@dataclass
class TrainResult:
    model: nn.Module  # the trained vortex model (LoRA merged)
    adapter: dict[str, torch.Tensor] | None
    metrics: list[dict[str, float]] = field(default_factory=list)
    resumed_from: int | None = None


def _peak_gib(device: torch.device) -> float:
    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else 0.0


@torch.no_grad()
def evaluate(model: nn.Module, dataset_dir: Path, settings: TrainSettings, device: torch.device) -> tuple[float, float]:
    """On the first ``eval_windows`` validation windows (their first ``seq_length`` tokens): the weighted loss per
    unit weight (as trained) and the plain mean NLL over every scored base (repeats at full weight); NaN when the
    dataset has no validation windows."""
    from evocane.dataset.arrays import DatasetReader

    dataset = DatasetReader(dataset_dir)
    table = dataset.split_windows("validation").head(settings.eval_windows)
    if table.empty:
        return float("nan"), float("nan")
    arrays = dataset.arrays("validation")
    totals = np.zeros(4)  # weighted loss, weight, plain loss, scored bases
    was_training = model.training
    model.eval()
    for offset, length in zip(table["offset"].to_numpy(), table["length"].to_numpy()):
        tokens, _, codes = arrays.window(int(offset), int(min(length, settings.seq_length)))
        inputs, targets, weights = collate([make_example(tokens, codes, settings.prepend_bos, settings.softmasked_weight)])
        logits = forward_logits(model, inputs.to(device))
        targets, weights = targets.to(device), weights.to(device)
        scored = (weights > 0).to(torch.float32)
        totals += [float(weighted_loss_sum(logits, targets, weights)), float(weights.sum()),
                   float(weighted_loss_sum(logits, targets, scored)), float(scored.sum())]  # fmt: skip
    model.train(was_training)
    return (totals[0] / totals[1] if totals[1] else float("nan")), (totals[2] / totals[3] if totals[3] else float("nan"))


def _latest_state(resume_dir: Path) -> Path | None:
    states = sorted(resume_dir.glob("step_*.pt"))
    return states[-1] if states else None


def train(
    model: nn.Module,
    dataset_dir: Path,
    settings: TrainSettings,
    device: torch.device,
    resume_dir: Path,
) -> TrainResult:
    """Fine-tune ``model`` (a vortex StripedHyena, loaded or random) on the train split of ``dataset_dir``."""
    from tqdm import tqdm

    from evocane.engines.evo2.lora import LORA_TARGETS, adapter_state_dict, apply_lora, merge_lora

    settings.check()
    rematerialise(model)
    torch.manual_seed(settings.seed)
    if settings.mode == "lora":
        container: nn.Module = apply_lora(model, settings.lora_rank, settings.lora_alpha, settings.lora_dropout, settings.lora_targets or LORA_TARGETS)
    else:
        container = nn.ModuleDict({"model": model})
        for param in model.parameters():
            param.requires_grad_(True)
    names = [name for name, p in container.named_parameters() if p.requires_grad]
    params = [p for p in container.parameters() if p.requires_grad]
    master = MasterWeights(params) if settings.master_weights else None
    optimised = master.masters if master else params
    optimizer = torch.optim.AdamW(optimised, lr=settings.lr, betas=settings.adam_betas, weight_decay=settings.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(settings))
    stream = WindowStream(dataset_dir, "train", settings)

    step, resumed_from, metrics = 0, None, []
    resume_dir.mkdir(parents=True, exist_ok=True)
    latest = _latest_state(resume_dir)
    if latest is not None:
        state = torch.load(latest, map_location="cpu", weights_only=False)
        if state["names"] != names:
            raise EvocaneError(f"{latest}: resume state does not match this model's trainable parameters")
        with torch.no_grad():
            for tensor, saved in zip(optimised, state["masters"]):
                tensor.copy_(saved)
        if master:
            master.masters_to_params()
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        stream.position = DataPosition(**state["position"])
        torch.set_rng_state(state["rng"])
        step = resumed_from = int(state["step"])
        metrics = list(state["metrics"])
        log.info("resumed from %s (step %d)", latest, step)

    inner = container["model"]
    if not metrics:
        val_loss, val_nll = evaluate(inner, dataset_dir, settings, device)
        metrics.append({"step": 0, "tokens": 0, "lr": 0.0, "train_loss": float("nan"), "val_loss": val_loss, "val_nll": val_nll,
                        "tokens_per_second": 0.0, "seconds": 0.0, "peak_memory_gib": _peak_gib(device)})  # fmt: skip
    inner.train()
    tokens_seen = int(metrics[-1]["tokens"])
    window_loss, window_tokens, window_seconds = 0.0, 0, 0.0
    with tqdm(total=settings.steps, initial=step, desc=f"evo2 {settings.mode} fine-tune", unit="step", mininterval=10) as bar:
        while step < settings.steps:
            started = time.perf_counter()
            micro_batches = [collate([next(stream) for _ in range(settings.micro_batch_size)]) for _ in range(settings.grad_accum)]
            step_weight = float(sum(weights.sum() for _, _, weights in micro_batches))
            loss_total = 0.0
            for inputs, targets, weights in micro_batches:
                logits = forward_logits(inner, inputs.to(device, non_blocking=True), settings.activation_checkpointing)
                loss = weighted_loss_sum(logits, targets.to(device, non_blocking=True), weights.to(device, non_blocking=True)) / max(step_weight, 1e-9)
                loss.backward()
                loss_total += float(loss.detach())
                window_tokens += int(inputs.numel())
            if master:
                master.grads_to_masters()
            torch.nn.utils.clip_grad_norm_(optimised, settings.grad_clip)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            if master:
                master.masters_to_params()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            step += 1
            window_seconds += time.perf_counter() - started
            window_loss += loss_total
            bar.update(1)
            last = step == settings.steps
            if step % settings.log_every == 0 or step % settings.eval_every == 0 or last:
                steps_in_window = step - int(metrics[-1]["step"])
                tokens_seen += window_tokens
                val_loss, val_nll = evaluate(inner, dataset_dir, settings, device) if (step % settings.eval_every == 0 or last) else (float("nan"), float("nan"))
                row = {
                    "step": step,
                    "tokens": tokens_seen,
                    "lr": scheduler.get_last_lr()[0],
                    "train_loss": window_loss / max(1, steps_in_window),
                    "val_loss": val_loss,
                    "val_nll": val_nll,
                    "tokens_per_second": window_tokens / window_seconds if window_seconds else 0.0,
                    "seconds": window_seconds,
                    "peak_memory_gib": _peak_gib(device),
                }
                if device.type == "cuda":
                    torch.cuda.reset_peak_memory_stats(device)
                metrics.append(row)
                log.info("step %d: %s", step, {k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()})
                window_loss, window_tokens, window_seconds = 0.0, 0, 0.0
            if step % settings.checkpoint_every == 0 and not last:
                _save_state(resume_dir, step, names, optimised, optimizer, scheduler, stream.position, metrics, settings.keep_checkpoints)

    adapter = adapter_state_dict(container) if settings.mode == "lora" else None
    trained = merge_lora(container) if settings.mode == "lora" else inner  # type: ignore[arg-type]
    for param in trained.parameters():
        param.requires_grad_(False)
    return TrainResult(trained.eval(), adapter, metrics, resumed_from)


def _save_state(
    resume_dir: Path, step: int, names: list[str], optimised: list[torch.Tensor], optimizer: Any, scheduler: Any,
    position: DataPosition, metrics: list[dict[str, float]], keep: int,
) -> None:  # fmt: skip
    state = {
        "step": step,
        "names": names,
        "masters": [t.detach().cpu() for t in optimised],
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "position": {"epoch": position.epoch, "index": position.index},
        "rng": torch.get_rng_state(),
        "metrics": metrics,
    }
    with atomic_path(resume_dir / f"step_{step:08d}.pt") as temp:
        torch.save(state, temp)
    for old in sorted(resume_dir.glob("step_*.pt"))[:-keep]:
        old.unlink()
