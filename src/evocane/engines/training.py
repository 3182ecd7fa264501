"""The training core shared by the engines that train in-process (hf, evo2): weighted next-token loss, AdamW with
warmup + cosine, gradient accumulation, periodic validation, the metrics log, and atomic resume states with exact
resume after a kill.

An engine supplies only what depends on its model: a :class:`Trainee` (the module, the tensors the optimiser
updates, the forward call, precision hooks such as fp32 master copies) and its data as :class:`Batch` es. The
micro-batches of optimiser step ``s`` must be a pure function of ``s`` (and the seed): a resumed run then draws
exactly the batches an uninterrupted run would, and the step number is the whole data position.

Loss: next-token cross-entropy in fp32, each target weighted by its loss weight (full base 1, soft-masked base
``softmasked_weight``, N/IUPAC/lineage tag/padding 0; :func:`weight_table`), divided by a total weight. With
``normalise="micro_batch"`` each micro-batch is divided by its own total weight and the step's loss is the mean over
its micro-batches; with ``normalise="step"`` every micro-batch is divided by the total weight of the whole step,
so gradient accumulation gives exactly the gradient of one large batch.

Learning rate: linear warmup over ``warmup_steps``, then cosine decay to ``lr * min_lr_ratio`` at the last step
(:func:`warmup_cosine`). Two warmup conventions are kept, one per engine, so neither engine's results changed when
the core was shared: ``warmup_from_zero`` (hf, as transformers' schedules) trains step ``s`` < warmup at
``lr * s / warmup``, its first step at 0; otherwise (evo2) at ``lr * (s + 1) / warmup``.

Resume layout (``work_dir``)::

    metrics.tsv                the metrics log so far (METRIC_COLUMNS), rewritten atomically at every log row
    step-NNNNNNNN/             one resume state, written whole through atomic_dir; the newest ``keep_checkpoints``
        state.json             fingerprint, step, tokens, elapsed seconds, trainable names, scheduler state
        trainable.safetensors  the tensors the optimiser updates, by name
        optimizer.pt           the optimiser's state dict (tensors in plain containers; read with weights_only=True)
        rng.safetensors        the random states (CPU, and each CUDA device)
        metrics.tsv            the metrics rows up to this step

Nothing in a resume state is unpickled: JSON, safetensors, and one torch file read with ``weights_only=True``
(a file holding anything but tensors and plain containers is refused with an :class:`EvocaneError`). A state made
by a different configuration (another ``fingerprint``) is discarded and training starts afresh. A state is written
every ``checkpoint_every`` steps, but not after the last step: the engine writes its final checkpoint then.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import pickle
import re
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from evocane.atomic import atomic_dir, atomic_path
from evocane.errors import EvocaneError
from evocane.numerics import LN2

log = logging.getLogger(__name__)

# tokens: cumulative (padded) training tokens; lr: the learning rate of the row's last step; train_loss: mean step
# loss since the previous row; tokens_per_second and peak_memory_gib: over the interval since the previous row;
# elapsed_s: wall seconds since training began (continued across a resume)
METRIC_COLUMNS = ["step", "tokens", "lr", "train_loss", "val_loss", "val_nll", "val_nonrepeat_bits", "tokens_per_second", "elapsed_s",
                  "peak_memory_gib"]  # fmt: skip
# called after each evaluation with (step, the metrics row): the hyperparameter search reports and prunes there
EvaluationHook = Callable[[int, dict[str, float]], None]
ADAM_BETAS = (0.9, 0.95)
ADAM_EPS = 1e-8
NORMALISATIONS = ("micro_batch", "step")
_STEP_DIR = re.compile(r"^step-(\d{8})$")


# --- loss ------------------------------------------------------------------------------------------------------------
def weight_table(softmasked_weight: float) -> np.ndarray:
    """Dataset weight code (uint8: 0 none, 1 soft-masked, 2 full) -> float32 loss weight."""
    from evocane.dataset.arrays import WEIGHT_FULL, WEIGHT_SOFTMASKED

    table = np.zeros(256, dtype=np.float32)
    table[WEIGHT_FULL] = 1.0
    table[WEIGHT_SOFTMASKED] = softmasked_weight
    return table


def loss_weights(codes: np.ndarray, softmasked_weight: float) -> np.ndarray:
    """Dataset weight codes -> float32 loss weights."""
    return weight_table(softmasked_weight)[np.asarray(codes, dtype=np.uint8)]


def token_nll(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of every position in fp32, flattened to (batch x length,)."""
    return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="none")


def weighted_loss_sum(logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Sum over positions of weight x cross-entropy (fp32)."""
    return (token_nll(logits, targets) * weights.reshape(-1)).sum()


def weighted_loss(logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Sum of weight x NLL over positions divided by the sum of weights (Evo 2's ``normalized_weighted``): a
    soft-masked base counts ``softmasked_weight`` times a full one, N/IUPAC/tags/padding not at all."""
    return weighted_loss_sum(logits, targets, weights) / weights.sum().clamp_min(1e-8)


@dataclass(frozen=True)
class Batch:
    """One micro-batch: model inputs, next-token targets, their loss weights, and which targets count for the
    plain validation NLL."""

    input_ids: torch.Tensor  # (B, L) int64
    targets: torch.Tensor  # (B, L) int64
    weights: torch.Tensor  # (B, L) float32, 0 where not in the loss
    scored: torch.Tensor  # (B, L) bool
    full: torch.Tensor  # (B, L) bool: targets of full weight code (not soft-masked, not N/tag): the non-repeat bases

    def to(self, device: torch.device) -> Batch:
        return Batch(*(t.to(device, non_blocking=True) for t in (self.input_ids, self.targets, self.weights, self.scored, self.full)))

    @property
    def n_tokens(self) -> int:
        return int(self.input_ids.numel())


def micro_batch_rows(rows: int, micro_batch_tokens: int | None, crop_length: int) -> int:
    """Rows of a training micro-batch: ``rows``, or with a token budget ``micro_batch_tokens // crop_length`` (at
    least 1), where ``crop_length`` is the sequence length training actually uses (the longest train window, lineage
    tag included, capped by the context). So 1 kb windows under an 8,192-token context fill a micro-batch as 8 kb
    windows do, with no packing across windows: each row is one window's crop, right-padded with weight 0. A
    constant of the run, so batches stay a pure function of (seed, step); the loss normalisation, weights and masks
    do not change (the same rows give the same batches as ``rows`` would)."""
    if micro_batch_tokens is None:
        return rows
    return max(1, int(micro_batch_tokens) // max(1, int(crop_length)))


# --- optimisation ----------------------------------------------------------------------------------------------------
def warmup_cosine(warmup_steps: int, steps: int, min_lr_ratio: float, warmup_from_zero: bool) -> Callable[[int], float]:
    """Learning-rate factor of optimiser step ``step`` (0-based): linear warmup (capped at ``steps``; from 0 at
    step 0 with ``warmup_from_zero``, else from ``1 / warmup``), then cosine decay from 1 to ``min_lr_ratio`` at step
    ``steps``."""
    warmup = min(warmup_steps, steps)
    offset = 0 if warmup_from_zero else 1

    def factor(step: int) -> float:
        if step < warmup:
            return (step + offset) / warmup
        progress = min(1.0, (step - warmup) / max(1, steps - warmup))
        return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


@dataclass(frozen=True)
class LoopSettings:
    """What the core needs of an engine's training params."""

    steps: int
    lr: float
    min_lr_ratio: float
    warmup_steps: int
    warmup_from_zero: bool  # see warmup_cosine
    weight_decay: float
    grad_clip: float  # 0 = off
    log_every: int
    eval_every: int
    checkpoint_every: int
    keep_checkpoints: int
    normalise: str  # one of NORMALISATIONS (see the module docstring)
    evaluate_at_start: bool  # a step-0 metrics row with the validation loss of the starting weights

    def __post_init__(self) -> None:
        if self.normalise not in NORMALISATIONS:
            raise ValueError(f"normalise must be one of {NORMALISATIONS}, got {self.normalise!r}")


@dataclass
class Trainee:
    """The model-specific side of training."""

    module: nn.Module  # switched between train() and eval()
    trainable: dict[str, torch.Tensor]  # what the optimiser updates, by name (saved and restored by resume states)
    forward: Callable[[torch.Tensor], torch.Tensor]  # input ids on the device -> logits (B, L, vocab)
    no_decay: frozenset[str] = frozenset()  # trainable names exempt from weight decay
    # precision hooks, e.g. fp32 master copies of bf16 parameters: move the gradients onto ``trainable`` before
    # clipping; copy ``trainable`` back into the module after every update and after a resume
    grads_to_trainable: Callable[[], None] | None = None
    trainable_to_module: Callable[[], None] | None = None


def make_optimizer(trainee: Trainee, settings: LoopSettings) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW (betas 0.9/0.95) over ``trainee.trainable`` and its warmup + cosine schedule."""
    decay = [t for name, t in trainee.trainable.items() if name not in trainee.no_decay]
    no_decay = [t for name, t in trainee.trainable.items() if name in trainee.no_decay]
    groups = [{"params": decay, "weight_decay": settings.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW([g for g in groups if g["params"]], lr=settings.lr, betas=ADAM_BETAS, eps=ADAM_EPS)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(settings.warmup_steps, settings.steps, settings.min_lr_ratio, settings.warmup_from_zero))
    return optimizer, scheduler


# --- evaluation ------------------------------------------------------------------------------------------------------
@torch.no_grad()
def evaluate(trainee: Trainee, batches: Sequence[Batch], device: torch.device) -> tuple[float, float, float]:
    """(weighted loss per unit weight, as trained; plain mean NLL over the scored targets; bits per base over the
    non-repeat targets, the benchmark's headline statistic) on fixed batches; NaN without batches."""
    if not batches:
        return math.nan, math.nan, math.nan
    was_training = trainee.module.training
    trainee.module.eval()
    weighted = weight_total = nll_total = scored_total = full_nll = full_total = 0.0
    for batch in batches:
        batch = batch.to(device)
        nll = token_nll(trainee.forward(batch.input_ids), batch.targets)
        weights, scored, full = batch.weights.reshape(-1), batch.scored.reshape(-1), batch.full.reshape(-1)
        weighted += float((nll * weights).sum())
        weight_total += float(weights.sum())
        nll_total += float((nll * scored).sum())
        scored_total += float(scored.sum())
        full_nll += float((nll * full).sum())
        full_total += float(full.sum())
    trainee.module.train(was_training)
    return (
        weighted / weight_total if weight_total else math.nan,
        nll_total / scored_total if scored_total else math.nan,
        full_nll / full_total / LN2 if full_total else math.nan,
    )


# --- resume states ---------------------------------------------------------------------------------------------------
@dataclass
class TrainState:
    step: int = 0
    tokens: int = 0
    elapsed_s: float = 0.0
    metrics: list[dict[str, float]] = field(default_factory=list)
    resumed_from: int | None = None


def resume_states(work_dir: Path) -> list[Path]:
    """The step directories under ``work_dir``, oldest first."""
    found = [(int(m.group(1)), p) for p in work_dir.glob("step-*") if (m := _STEP_DIR.match(p.name)) and p.is_dir()]
    return [path for _, path in sorted(found)]


def _rng_state() -> dict[str, torch.Tensor]:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state.update({f"cuda.{index}": s for index, s in enumerate(torch.cuda.get_rng_state_all())})
    return state


def _set_rng_state(state: dict[str, torch.Tensor]) -> None:
    torch.set_rng_state(state["torch"])
    cuda = [state[f"cuda.{index}"] for index in range(len(state)) if f"cuda.{index}" in state]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda[: torch.cuda.device_count()])


def save_resume_state(work_dir: Path, trainee: Trainee, optimizer: torch.optim.Optimizer, scheduler: Any, state: TrainState,
                      fingerprint: str, keep: int) -> Path:  # fmt: skip
    """Write ``work_dir/step-NNNNNNNN/`` whole (see the module docstring) and drop all but the newest ``keep``."""
    from safetensors.torch import save_file

    target = work_dir / f"step-{state.step:08d}"
    with atomic_dir(target) as temp:
        save_file({name: t.detach().to("cpu").contiguous() for name, t in trainee.trainable.items()}, str(temp / "trainable.safetensors"))
        torch.save(optimizer.state_dict(), temp / "optimizer.pt")
        save_file({name: t.contiguous() for name, t in _rng_state().items()}, str(temp / "rng.safetensors"))
        saved = {
            "fingerprint": fingerprint, "step": state.step, "tokens": state.tokens, "elapsed_s": state.elapsed_s,
            "trainable": list(trainee.trainable), "scheduler": scheduler.state_dict(),
        }  # fmt: skip
        (temp / "state.json").write_text(json.dumps(saved) + "\n")
        pd.DataFrame(state.metrics, columns=METRIC_COLUMNS).to_csv(temp / "metrics.tsv", sep="\t", index=False)
    for old in resume_states(work_dir)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return target


def load_tensor_file(path: Path) -> Any:
    """A torch file of tensors in plain containers (a state dict), read with ``weights_only=True``: anything else
    (a pickled object of any other class) is refused."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, AttributeError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise EvocaneError(f"{path}: refused: not a plain tensor state that loads with weights_only=True ({reason})") from None


def load_resume_state(work_dir: Path, trainee: Trainee, optimizer: torch.optim.Optimizer, scheduler: Any,
                      fingerprint: str) -> TrainState | None:  # fmt: skip
    """Restore the newest resume state in ``work_dir`` into ``trainee``, ``optimizer``, ``scheduler`` and the
    random states; None when there is none, or when it was made by another configuration (then it is removed)."""
    from safetensors.torch import load_file

    states = resume_states(work_dir)
    if not states:
        return None
    latest = states[-1]
    try:
        saved = json.loads((latest / "state.json").read_text())
    except (OSError, ValueError) as error:
        raise EvocaneError(f"{latest / 'state.json'}: unreadable resume state ({error}); delete {work_dir} to start afresh") from None
    if saved.get("fingerprint") != fingerprint:
        log.warning("%s: made by a different configuration or data; starting afresh", latest)
        for stale in states:
            shutil.rmtree(stale, ignore_errors=True)
        (work_dir / "metrics.tsv").unlink(missing_ok=True)
        return None
    if saved.get("trainable") != list(trainee.trainable):
        raise EvocaneError(f"{latest}: resume state does not match this model's trainable parameters")
    tensors = load_file(str(latest / "trainable.safetensors"))
    with torch.no_grad():
        for name, tensor in trainee.trainable.items():
            tensor.copy_(tensors[name])
    if trainee.trainable_to_module is not None:
        trainee.trainable_to_module()
    optimizer.load_state_dict(load_tensor_file(latest / "optimizer.pt"))
    scheduler.load_state_dict(saved["scheduler"])
    _set_rng_state(load_file(str(latest / "rng.safetensors")))
    metrics = pd.read_csv(latest / "metrics.tsv", sep="\t").to_dict("records")
    log.info("resuming from %s (step %d)", latest, saved["step"])
    step = int(saved["step"])
    return TrainState(step, int(saved["tokens"]), float(saved["elapsed_s"]), metrics, resumed_from=step)


def fingerprint(shaping: Mapping[str, Any], dataset_dir: Path, start: Mapping[str, Any]) -> str:
    """What must match for a resume: the params that shape training, the data (path and manifest) and the
    starting weights, as one hash."""
    manifest = dataset_dir / "manifest.json"
    data = {"dataset": str(dataset_dir.resolve()), "manifest": manifest.read_text() if manifest.exists() else None}
    blob = json.dumps({"params": dict(shaping), "data": data, "start": dict(start)}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def write_metrics(metrics: Sequence[dict[str, float]], path: Path) -> None:
    with atomic_path(path) as temp:
        pd.DataFrame(list(metrics), columns=METRIC_COLUMNS).to_csv(temp, sep="\t", index=False)


# --- the loop --------------------------------------------------------------------------------------------------------
def _peak_gib(device: torch.device) -> float:
    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else 0.0


def train(
    trainee: Trainee,
    micro_batches: Callable[[int], list[Batch]],
    eval_batches: Sequence[Batch],
    settings: LoopSettings,
    work_dir: Path,
    device: torch.device,
    fingerprint: str,
    description: str = "train",
    after_step: Callable[[int], None] | None = None,
    on_evaluation: EvaluationHook | None = None,
) -> TrainState:
    """Train ``trainee`` for ``settings.steps`` optimiser steps, resuming from the newest state in ``work_dir``.

    ``micro_batches(step)``: the micro-batches of that step (a pure function of it). ``eval_batches``: the fixed
    validation batches. ``fingerprint``: what must match for a resume (params, data, starting weights).
    ``after_step(step)`` is called after every optimiser step (tests use it to interrupt a run);
    ``on_evaluation(step, row)`` after every evaluation, with the metrics row just logged (it may raise to stop).
    """
    from tqdm import tqdm

    work_dir.mkdir(parents=True, exist_ok=True)
    trainee.module.train()
    optimizer, scheduler = make_optimizer(trainee, settings)
    state = load_resume_state(work_dir, trainee, optimizer, scheduler, fingerprint) or TrainState()
    metrics_path = work_dir / "metrics.tsv"
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    if settings.evaluate_at_start and not state.metrics:
        val_loss, val_nll, val_bits = evaluate(trainee, eval_batches, device)
        state.metrics.append({"step": 0, "tokens": 0, "lr": 0.0, "train_loss": math.nan, "val_loss": val_loss, "val_nll": val_nll,
                              "val_nonrepeat_bits": val_bits, "tokens_per_second": 0.0, "elapsed_s": 0.0,
                              "peak_memory_gib": _peak_gib(device)})  # fmt: skip
        write_metrics(state.metrics, metrics_path)
    trainable = list(trainee.trainable.values())
    losses: list[torch.Tensor] = []  # step losses (fp64) since the last row, kept on the device: no host sync per step
    began = time.perf_counter() - state.elapsed_s
    interval_began, interval_tokens = time.perf_counter(), 0
    progress = tqdm(total=settings.steps, initial=state.step, desc=description, unit="step", dynamic_ncols=True, mininterval=1)
    while state.step < settings.steps:
        batches = micro_batches(state.step)
        step_weight = float(sum(b.weights.sum() for b in batches)) if settings.normalise == "step" else 0.0
        step_loss = torch.zeros((), dtype=torch.float64, device=device)
        for batch in batches:
            batch = batch.to(device)
            logits = trainee.forward(batch.input_ids)
            if settings.normalise == "step":
                loss = weighted_loss_sum(logits, batch.targets, batch.weights) / max(step_weight, 1e-9)
            else:
                loss = weighted_loss(logits, batch.targets, batch.weights) / len(batches)
            loss.backward()
            step_loss += loss.detach()
            state.tokens += batch.n_tokens
            interval_tokens += batch.n_tokens
        if trainee.grads_to_trainable is not None:
            trainee.grads_to_trainable()
        if settings.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(trainable, settings.grad_clip)
        lr = float(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        if trainee.trainable_to_module is not None:
            trainee.trainable_to_module()
        state.step += 1
        losses.append(step_loss)
        progress.update(1)
        last = state.step == settings.steps
        evaluate_now = state.step % settings.eval_every == 0 or last
        checkpoint_now = state.step % settings.checkpoint_every == 0 and not last
        # a checkpoint step is always a log step, so a resumed run's loss intervals match an uninterrupted run's
        log_now = state.step % settings.log_every == 0 or evaluate_now or checkpoint_now
        if log_now:
            train_loss = float(torch.stack(losses).mean())  # waits for the device: the interval's time is complete
            now = time.perf_counter()
            tokens_per_second = interval_tokens / max(now - interval_began, 1e-9)
            val_loss, val_nll, val_bits = evaluate(trainee, eval_batches, device) if evaluate_now else (math.nan,) * 3
            state.elapsed_s = now - began
            row = {"step": state.step, "tokens": state.tokens, "lr": lr, "train_loss": train_loss, "val_loss": val_loss,
                   "val_nll": val_nll, "val_nonrepeat_bits": val_bits, "tokens_per_second": tokens_per_second,
                   "elapsed_s": state.elapsed_s, "peak_memory_gib": _peak_gib(device)}  # fmt: skip
            state.metrics.append(row)
            write_metrics(state.metrics, metrics_path)
            log.info("step %d: %s", state.step, {k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()})
            progress.set_postfix(loss=f"{train_loss:.4f}", val=f"{val_loss:.4f}", tok_s=f"{tokens_per_second:,.0f}")
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            losses.clear()
        if on_evaluation is not None and log_now and evaluate_now:
            on_evaluation(state.step, row)
        if checkpoint_now:
            state.elapsed_s = time.perf_counter() - began
            save_resume_state(work_dir, trainee, optimizer, scheduler, state, fingerprint, settings.keep_checkpoints)
        if log_now:
            interval_began, interval_tokens = time.perf_counter(), 0
        if after_step is not None:
            after_step(state.step)
    progress.close()
    return state
