"""Score a dataset split with an Evo 2 model into the prediction contract (:mod:`evocane.predictions`).

Windows are read from the dataset exports (memory-mapped), upper-cased, prefixed with BOS (so every base is
scored), cut into sliding-window chunks when longer than the context, and grouped into length-bucketed batches
(longest first, ``batch_tokens`` padded tokens per batch, right padding: every layer is causal, so padding never
changes earlier positions). On the GPU each position's logits are reduced to the A/C/G/T distribution folded over
case (P(A) = P('A') + P('a'), renormalised over the four bases; the full-vocabulary softmax cancels out); only
those four numbers per position come back to the host, where :func:`evocane.predictions.observed_base_scores`
gives the log-probability and top-1 credit of the observed base. Positions whose observed token is not A/C/G/T or
whose loss weight code is 0 (N, IUPAC, lineage tag) are NaN, as the contract says.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from evocane.engines.evo2.pipeline import Batch, run_pipeline
from evocane.engines.evo2.settings import ScoreSettings
from evocane.engines.evo2.tokens import PAD_ID, Chunk, model_inputs, plan_chunks
from evocane.errors import EvocaneError

log = logging.getLogger(__name__)

ACGT_TOKENS = [ord(base) for base in "ACGTacgt"]


@functools.cache
def _acgt_index(device: torch.device) -> torch.Tensor:
    """ACGT_TOKENS on ``device``, made once (generation folds logits every step: no host-to-device copy each time)."""
    return torch.tensor(ACGT_TOKENS, device=device)


def fold_acgt(logits: torch.Tensor) -> torch.Tensor:
    """(..., V) logits of Evo 2's byte vocabulary -> (..., 4) float32 probabilities of A, C, G, T, each folded
    over case and renormalised over the four bases."""
    index = _acgt_index(logits.device)
    probabilities = torch.softmax(logits.index_select(-1, index).to(torch.float32), dim=-1)
    return probabilities[..., :4] + probabilities[..., 4:]


@dataclass
class _Window:
    window_id: str
    length: int
    inputs: np.ndarray  # uint8 model input, length = number of targets
    codes: np.ndarray  # int8 observed base per position, -1 where not scored
    chunks: list[Chunk]
    keep_distribution: bool
    targets: np.ndarray | None = None  # (number of targets, 4) float32, filled by the consumer
    selected: bool = True  # written out (a shard scores only its windows; the others only share its batches)


@dataclass
class _GroupEnd:
    windows: list[_Window] = field(default_factory=list)


def _window(window_id: str, tokens: np.ndarray, weights: np.ndarray, settings: ScoreSettings, keep: bool) -> _Window:
    from evocane.dataset.arrays import WEIGHT_NONE
    from evocane.predictions import base_codes

    tokens = np.asarray(tokens, dtype=np.uint8)
    inputs = model_inputs(tokens, settings.prepend_bos)
    codes = base_codes(tokens).copy()
    codes[np.asarray(weights) == WEIGHT_NONE] = -1
    if not settings.prepend_bos and len(codes):
        codes[0] = -1
    return _Window(window_id, len(tokens), inputs, codes, plan_chunks(len(inputs), settings.context, settings.overlap), keep)


BUCKET_STEPS = (8, 9, 10, 12, 14)  # coarse bucket lengths m * 2**k: at most 20 % padding, 7-smooth sizes


def smooth_length(length: int, multiple: int = 16) -> int:
    """The smallest multiple of ``multiple`` >= ``length`` whose prime factors are 2, 3, 5 and 7 only: the Hyena
    layers convolve through FFTs of twice the input length, and cuFFT is fast on such sizes."""
    candidate = max(multiple, -(-length // multiple) * multiple)
    while True:
        rest = candidate
        for prime in (2, 3, 5, 7):
            while rest % prime == 0:
                rest //= prime
        if rest == 1:
            return candidate
        candidate += multiple


def bucket_length(length: int, multiple: int = 16) -> int:
    """A coarse padded length: the smallest m * 2**k >= ``length`` (m in BUCKET_STEPS, k >= 4; shorter chunks: a
    multiple of ``multiple``). A few lengths per octave make (batch, length) shapes repeat, and each new shape
    costs cuFFT plans and allocator blocks."""
    if length <= 8 * 16:
        return smooth_length(length, multiple)
    candidates = []
    for step in BUCKET_STEPS:
        power = 16
        while step * power < length:
            power *= 2
        if (step * power) % multiple == 0:
            candidates.append(step * power)
    return min(candidates) if candidates else smooth_length(length, multiple)


def batch_rows(pieces: int, per_batch: int, fixed_shapes: bool) -> int:
    """Rows of a batch holding ``pieces`` chunks when a full batch holds ``per_batch``: the pieces themselves, or
    with ``fixed_shapes`` the next power of two (capped at ``per_batch``), so the last, partial batch of a bucket
    takes one of a few shapes (extra rows are padding, computed and dropped)."""
    if not fixed_shapes or pieces >= per_batch:
        return pieces
    return min(per_batch, 1 << max(0, pieces - 1).bit_length())


def batch_layout(windows: list[Any], settings: ScoreSettings) -> list[tuple[int, int, list[tuple[Any, Chunk]]]]:
    """The batches of ``windows`` (objects with ``chunks``) as (padded length, rows, [(window, chunk)]), longest
    first, ``batch_tokens // padded length`` rows per full batch (at least one). Without ``fixed_shapes``, chunks
    whose :func:`smooth_length` fills whole batches are padded to it (the usual case: a variant's windows share one
    length) and the rest go to coarse buckets (:func:`bucket_length`); with ``fixed_shapes`` every chunk goes to its
    coarse bucket and partial batches get power-of-two rows (:func:`batch_rows`), so a split of any length mix runs
    a small fixed set of (rows, length) shapes, each of which costs cuFFT plans, allocator blocks and (Triton
    kernels, torch.compile) a compilation once per process. (Measured on an H100: a log-normal mix of window lengths
    padded to multiples of 16 ran at 0.37 of the 8,192-token forward's rate, through slow FFT sizes and ever-new
    shapes.)"""
    fine: dict[int, list[tuple[Any, Chunk]]] = {}
    for window in windows:
        for chunk in window.chunks:
            if settings.fixed_shapes:
                fine.setdefault(bucket_length(chunk.length, settings.pad_multiple), []).append((window, chunk))
            else:
                fine.setdefault(smooth_length(chunk.length, settings.pad_multiple), []).append((window, chunk))
    buckets: dict[int, list[tuple[Any, Chunk]]] = {}
    for padded, pieces in fine.items():
        if settings.fixed_shapes:
            buckets.setdefault(padded, []).extend(pieces)
            continue
        per_batch = max(1, settings.batch_tokens // padded)
        full = len(pieces) // per_batch * per_batch
        if full:
            buckets.setdefault(padded, []).extend(pieces[:full])
        for piece in pieces[full:]:
            buckets.setdefault(bucket_length(piece[1].length, settings.pad_multiple), []).append(piece)
    layout = []
    for padded in sorted(buckets, reverse=True):
        pieces = buckets[padded]
        per_batch = max(1, settings.batch_tokens // padded)
        for first in range(0, len(pieces), per_batch):
            rows = pieces[first : first + per_batch]
            layout.append((padded, batch_rows(len(rows), per_batch, settings.fixed_shapes), rows))
    return layout


def batches_of(windows: list[Any], settings: ScoreSettings) -> Iterator[Batch]:
    """The batches of :func:`batch_layout` as token ids (padding rows and columns hold PAD). Windows with a
    ``pool`` array (embeddings) also get its values at the positions each chunk contributes, as ``extra``."""
    for padded, count, rows in batch_layout(windows, settings):
        ids = np.full((count, padded), PAD_ID, dtype=np.uint8)
        pool = getattr(rows[0][0], "pool", None)
        extra = None if pool is None else np.zeros((count, padded), dtype=np.float32)
        for row, (window, chunk) in enumerate(rows):
            ids[row, : chunk.length] = window.inputs[chunk.start : chunk.end]
            if extra is not None:  # pooling weights of the positions this chunk contributes
                extra[row, chunk.keep_from - chunk.start : chunk.length] = window.pool[chunk.keep_from : chunk.end]
        yield Batch(ids, rows, extra)


@dataclass
class _Planned:
    chunks: list[Chunk]


def _planned_batches(lengths: Sequence[int] | np.ndarray, settings: ScoreSettings, selected: np.ndarray | None = None) -> Iterator[tuple[int, int, int]]:
    """(rows, padded length, model tokens) of every batch that scoring windows of these ``lengths`` (a split, in
    order) runs, from the lengths alone (groups as :func:`plan_groups`, batches as :func:`batch_layout`; only the
    groups holding a ``selected`` window when given). Windows of one length share one chunk plan."""
    lengths = np.asarray(lengths, dtype=np.int64)
    plans: dict[int, list[Chunk]] = {}
    for start, stop in plan_groups(lengths, settings.group_tokens):
        if selected is not None and not selected[start:stop].any():
            continue
        windows = []
        for n in lengths[start:stop].tolist():
            if n not in plans:
                plans[n] = plan_chunks(n if settings.prepend_bos else n - 1, settings.context, settings.overlap)
            windows.append(_Planned(plans[n]))
        for padded, rows, pieces in batch_layout(windows, settings):
            yield rows, padded, sum(chunk.length for _, chunk in pieces)


def planned_shapes(lengths: Sequence[int] | np.ndarray, settings: ScoreSettings, selected: np.ndarray | None = None) -> list[tuple[int, int]]:
    """Every (rows, padded length) batch shape that scoring windows of these ``lengths`` runs (see
    :func:`_planned_batches`), largest first."""
    shapes = {(rows, padded) for rows, padded, _ in _planned_batches(lengths, settings, selected)}
    return sorted(shapes, key=lambda shape: (shape[0] * shape[1], shape), reverse=True)


def shape_tokens(lengths: Sequence[int] | np.ndarray, settings: ScoreSettings) -> dict[tuple[int, int], int]:
    """Model tokens (positions fed to the model, padding excluded) per (rows, padded length) batch shape over the
    whole split: how much of the work each shape carries, whatever a shard selects."""
    tokens: dict[tuple[int, int], int] = {}
    for rows, padded, count in _planned_batches(lengths, settings):
        tokens[(rows, padded)] = tokens.get((rows, padded), 0) + count
    return tokens


def compile_forward(model: torch.nn.Module) -> Callable[[torch.Tensor], Any]:
    """``model`` under torch.compile for inference, one static graph per batch shape: the graph (hence the bytes) a
    batch gets depends on its shape alone, not on which shapes a job met before, so shards gather to the unsharded
    bytes. (Symbolic shapes, ``dynamic=True``, fail in Inductor on vortex's Triton rotary kernel with torch 2.11;
    automatic dynamic would give a job's first shape a static graph and the others a symbolic one, so bytes would
    depend on the order.) The graphs and kernels go to the persistent cache (runtime.configure_caches); the
    recompile limit is raised so no shape falls back to eager mid-job."""
    import torch._dynamo

    torch._dynamo.config.cache_size_limit = max(int(torch._dynamo.config.cache_size_limit), 64)
    return torch.compile(model, dynamic=False)


def shape_dispatch(model: Callable[[torch.Tensor], Any], compiled_shapes: Sequence[tuple[int, int]],
                   compile_model: Callable[[Any], Callable[[torch.Tensor], Any]] = compile_forward) -> Callable[[torch.Tensor], Any]:  # fmt: skip
    """A forward that runs batches of the ``compiled_shapes`` (rows, padded length) through the compiled model and
    every other batch eagerly: which path a batch takes depends on its shape alone, and the set comes from the
    whole split's plan, so every shard of a split agrees and shards still gather to the unsharded bytes."""
    if not compiled_shapes:
        return model
    compiled, chosen = compile_model(model), {tuple(shape) for shape in compiled_shapes}

    def forward(ids: torch.Tensor) -> Any:
        shape = tuple(ids.shape)
        if shape not in chosen:
            return model(ids)
        try:
            return compiled(ids)
        except Exception as error:  # Dynamo/Inductor errors have no common base class
            first_line = (str(error).strip().splitlines() or [""])[0][:300]
            raise EvocaneError(f"torch.compile failed on scoring batch shape {shape} ({type(error).__name__}: {first_line}); "
                               "set the model's params.compile: off to score eagerly") from error  # fmt: skip

    return forward


def warm_up(compute: Callable[[torch.Tensor], Any], shapes: Sequence[tuple[int, int]], device: torch.device) -> float:
    """Run ``compute`` once on PAD ids of every shape (cuFFT plans, allocator blocks, Triton/compile work happen
    here, not in the timed scoring); returns the seconds it took."""
    start = time.perf_counter()
    for rows, padded in shapes:
        compute(torch.full((rows, padded), PAD_ID, dtype=torch.long, device=device))
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def plan_groups(lengths: np.ndarray, group_tokens: int) -> list[tuple[int, int]]:
    """Row ranges ``[start, stop)`` of the windows scored together (batched with each other): consecutive windows
    until they hold ``group_tokens`` bases. Formed over the whole split whatever a shard selects, so a window's
    batches, hence its bytes, are the same in every shard plan."""
    groups, start, size = [], 0, 0
    for row, length in enumerate(np.asarray(lengths, dtype=np.int64)):
        size += int(length)
        if size >= group_tokens:
            groups.append((start, row + 1))
            start, size = row + 1, 0
    if start < len(lengths):
        groups.append((start, len(lengths)))
    return groups


def _groups(dataset: Any, split: str, settings: ScoreSettings, keep: set[str], selected: np.ndarray) -> Iterator[list[_Window]]:
    """The groups (:func:`plan_groups`) that hold a selected window, as windows ready for batching."""
    table = dataset.split_windows(split)
    arrays = dataset.arrays(split)
    ids = table["window_id"].astype(str).tolist()
    offsets, lengths = table["offset"].to_numpy(), table["length"].to_numpy()
    for start, stop in plan_groups(lengths, settings.group_tokens):
        if not selected[start:stop].any():
            continue
        group = []
        for row in range(start, stop):
            tokens, _, weights = arrays.window(int(offsets[row]), int(lengths[row]))
            window = _window(ids[row], tokens, weights, settings, ids[row] in keep)
            window.selected = bool(selected[row])
            group.append(window)
        yield group


def _items(groups: Iterator[list[_Window]], settings: ScoreSettings) -> Iterator[Batch | _GroupEnd]:
    """Every batch of each group that holds a selected window (the group's batch plan is the same with or without
    a selection), then the group's end."""
    for group in groups:
        for window in group:
            window.targets = np.full((len(window.inputs), 4), np.nan, dtype=np.float32)
        for batch in batches_of(group, settings):
            if any(window.selected for window, _ in batch.rows):
                yield batch
        yield _GroupEnd(group)


def _store(batch: Batch, result: np.ndarray) -> None:
    for row, (window, chunk) in enumerate(batch.rows):
        first = chunk.keep_from - chunk.start
        window.targets[chunk.keep_from : chunk.end] = result[row, first : chunk.length]


def window_scores(window: _Window) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-position (log-prob, top-1 credit, (length, 4) distribution) of one fully scored window."""
    from evocane.predictions import observed_base_scores

    distribution = np.full((window.length, 4), np.nan, dtype=np.float32)
    assert window.targets is not None
    distribution[window.length - len(window.targets) :] = window.targets
    logprob, top1 = observed_base_scores(np.nan_to_num(distribution, nan=0.25), window.codes)
    return logprob, top1, distribution


def score_split(
    model_fn: Callable[[torch.Tensor], torch.Tensor],
    dataset_dir: str | Path,
    split: str,
    out_dir: str | Path,
    meta: Mapping[str, Any],
    settings: ScoreSettings,
    device: torch.device,
    distribution_windows: Sequence[str] = (),
    windows: Sequence[str] | None = None,
) -> dict[str, float]:
    """Score every window of ``split`` (or the ``windows`` selected, a shard: see
    :meth:`evocane.engines.base.Engine.score`); ``model_fn`` maps (batch, length) int64 token ids on ``device`` to
    logits. Writes the prediction directory atomically; returns throughput figures (logged, not written: the
    prediction set's bytes do not depend on the run's speed)."""
    from tqdm import tqdm

    from evocane.dataset.arrays import DatasetReader
    from evocane.engines.base import selected_windows
    from evocane.predictions import PredictionWriter

    settings.check()
    dataset = DatasetReader(dataset_dir)
    table = dataset.split_windows(split)
    if table.empty:
        raise EvocaneError(f"{dataset_dir}: split '{split}' has no windows")
    selected = selected_windows(table, windows, f"{dataset_dir} split '{split}'")
    keep = {str(w) for w in distribution_windows}
    total = int(table["length"].to_numpy()[selected].sum())
    counters = {"windows": 0, "bases": 0, "padded_tokens": 0, "model_tokens": 0}

    def compute(ids: torch.Tensor, _extra: torch.Tensor | None) -> torch.Tensor:
        with torch.inference_mode():
            return fold_acgt(model_fn(ids.long()))

    warm_seconds = 0.0
    if settings.warmup:
        shapes = planned_shapes(table["length"].to_numpy(), settings, selected)
        warm_seconds = warm_up(lambda ids: compute(ids, None), shapes, device)
        log.info("warmed up %d batch shapes in %.1f s", len(shapes), warm_seconds)
    start = time.perf_counter()
    with PredictionWriter(out_dir, meta) as writer, tqdm(total=total, unit="bp", unit_scale=True, desc=f"evo2 score {split}", mininterval=5) as bar:

        def consume(item: Any, result: np.ndarray | None) -> None:
            if isinstance(item, _GroupEnd):
                for window in item.windows:
                    if not window.selected:
                        window.targets = None
                        continue
                    logprob, top1, distribution = window_scores(window)
                    writer.add(window.window_id, logprob, distribution=distribution if window.keep_distribution else None, top1=top1)
                    window.targets = None
                    counters["windows"] += 1
                    counters["bases"] += window.length
                    bar.update(window.length)
                return
            assert result is not None
            _store(item, result)
            counters["padded_tokens"] += result.shape[0] * result.shape[1]
            counters["model_tokens"] += sum(chunk.length for _, chunk in item.rows)

        run_pipeline(_items(_groups(dataset, split, settings, keep, selected), settings), compute, consume, device)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - start
    throughput = {
        "seconds": round(seconds, 3),
        "warmup_seconds": round(warm_seconds, 3),
        "bases_per_second": round(counters["bases"] / max(seconds, 1e-9), 1),
        "padding_fraction": round(1 - counters["model_tokens"] / max(1, counters["padded_tokens"]), 4),
        "recomputed_fraction": round(counters["model_tokens"] / max(1, counters["bases"]) - 1, 4),
    }
    log.info("throughput %s", json.dumps(throughput))
    return {"seconds": seconds, **counters}
