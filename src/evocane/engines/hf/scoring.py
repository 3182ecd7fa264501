"""Score dataset windows with a causal LM into the prediction contract.

Per-base tokenizers (this engine's byte vocabulary, character-level DNA tokenizers): at every position the logits
are folded over case and renormalised over A/C/G/T (P(A) = P('A') + P('a'), as the contract says), giving the
observed base's log-prob, a top-1 credit and, for selected windows, the full distribution. The model reads
``[BOS] + window[:-1]`` (so position 0 is scored from BOS) or, without a BOS token, ``window`` (position 0 NaN).

Other tokenizers (k-mer, BPE): only per-token log-probs exist. Each token's log-prob is spread evenly over the
A/C/G/T bases it spells, so a window's ``sum_logprob`` is the exact sequence total while per-base values are not
meaningful; ``meta.json`` says ``"per_base": false`` and no top-1 is written.

Windows longer than the model's context are scored in overlapping chunks: after the first ``context`` positions,
each chunk scores ``stride`` new positions with the ``context - stride`` preceding tokens as context.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from evocane.dataset.arrays import DatasetReader
from evocane.engines.hf.model import LoadedModel, autocast
from evocane.engines.hf.tokenizer import upper_bytes
from evocane.errors import EvocaneError
from evocane.predictions import PredictionWriter, base_codes, observed_base_scores

log = logging.getLogger(__name__)


def chunk_plan(stream_length: int, context: int, stride: int) -> list[tuple[int, int, int]]:
    """Chunks covering rows ``[0, stream_length)`` of an input stream: ``(input_start, keep_start, keep_end)``;
    a chunk feeds ``stream[input_start:keep_end]`` and keeps the logits of rows ``[keep_start, keep_end)``."""
    if stream_length <= 0:
        return []
    chunks = [(0, 0, min(context, stream_length))]
    while chunks[-1][2] < stream_length:
        keep_start = chunks[-1][2]
        keep_end = min(keep_start + stride, stream_length)
        chunks.append((max(0, keep_end - context), keep_start, keep_end))
    return chunks


@dataclass
class _Pending:
    window_id: str
    stream: np.ndarray  # model input ids
    rows: list[np.ndarray | None]  # per chunk: the kept output rows (filled in by the batch runs)
    plan: list[tuple[int, int, int]]
    payload: Any  # what the finishing step needs (tokens, offsets ...)
    selected: bool = True  # written out (a shard scores only its windows; the others only share its batches)


class WindowScorer:
    """Runs chunked forward passes for many windows, batching chunks of equal length."""

    def __init__(self, loaded: LoadedModel, batch_size: int, stride: int):
        self.loaded = loaded
        self.batch_size = batch_size
        self.stride = min(stride, loaded.context - 1) if loaded.context > 1 else 1

    @torch.no_grad()
    def run(self, pending: list[_Pending], reduce_rows: Any) -> None:
        """Fill ``pending[i].rows`` with ``reduce_rows(logits_rows, window, chunk_index)`` for every chunk."""
        jobs: dict[int, list[tuple[int, int]]] = {}
        for w, item in enumerate(pending):
            for c, (start, _, end) in enumerate(item.plan):
                jobs.setdefault(end - start, []).append((w, c))
        loaded = self.loaded
        for length, members in jobs.items():
            for first in range(0, len(members), self.batch_size):
                group = members[first : first + self.batch_size]
                if not any(pending[w].selected for w, _ in group):
                    continue
                ids = np.stack([pending[w].stream[pending[w].plan[c][0] : pending[w].plan[c][2]] for w, c in group])
                with autocast(loaded.device, loaded.precision):
                    logits = loaded.model(input_ids=torch.from_numpy(ids).to(loaded.device), use_cache=False).logits
                logits = logits.float()
                for row, (w, c) in enumerate(group):
                    start, keep_start, keep_end = pending[w].plan[c]
                    pending[w].rows[c] = reduce_rows(logits[row, keep_start - start : keep_end - start], pending[w], c)


def _fold_bases(logits: torch.Tensor, base_ids: Sequence[Sequence[int]]) -> torch.Tensor:
    """(n, V) logits -> (n, 4) probabilities over A/C/G/T, folded over case and renormalised."""
    folded = torch.stack([torch.logsumexp(logits[:, list(ids)], dim=1) for ids in base_ids], dim=1)
    return torch.softmax(folded.double(), dim=1)


def score_split(
    loaded: LoadedModel,
    dataset_dir: str | Path,
    split: str,
    out_dir: str | Path,
    meta: dict[str, Any],
    batch_size: int,
    stride: int,
    distribution_windows: Iterable[str] = (),
    windows_per_flush: int = 64,
    selection: Sequence[str] | None = None,
) -> Path:
    """Score the windows of ``split`` (or the ``selection``, a shard: see :meth:`evocane.engines.base.Engine.score`).
    Windows are computed in flushes of ``windows_per_flush`` consecutive windows of the whole split (batches never
    mix flushes), so a shard computes the batches of its flushes that hold its windows."""
    from evocane.engines.base import selected_windows

    dataset = DatasetReader(dataset_dir)
    windows = dataset.split_windows(split)
    if windows.empty:
        raise EvocaneError(f"{dataset_dir}: the {split} split has no windows")
    selected = selected_windows(windows, selection, f"{dataset_dir} split '{split}'")
    keep_distribution = set(distribution_windows)
    token_map = loaded.token_map
    if not token_map.per_base and not getattr(loaded.tokenizer, "is_fast", False):
        raise EvocaneError("hf: scoring a non-per-base tokenizer needs a fast tokenizer (offset mapping)")
    scorer = WindowScorer(loaded, batch_size, stride)
    meta = {**meta, "per_base": token_map.per_base, "context": loaded.context, "stride": scorer.stride,
            "precision": loaded.precision, "device": str(loaded.device)}  # fmt: skip
    total = int(windows["length"].to_numpy()[selected].sum())
    progress = tqdm(total=total, unit="bp", unit_scale=True, desc=f"score {meta.get('model', '')} {split}")
    with PredictionWriter(out_dir, meta) as writer:
        pending: list[_Pending] = []
        for number, (row, tokens, _, _) in enumerate(dataset.iter_windows(split)):
            flush_start = number - number % windows_per_flush
            if selected[flush_start : flush_start + windows_per_flush].any():
                item = _prepare(token_map, loaded.tokenizer, str(row.window_id), np.asarray(tokens), loaded.context, scorer.stride)
                item.selected = bool(selected[number])
                pending.append(item)
            if (number + 1) % windows_per_flush == 0:
                _flush(scorer, pending, writer, keep_distribution, token_map.per_base, progress)
        _flush(scorer, pending, writer, keep_distribution, token_map.per_base, progress)
    progress.close()
    return Path(out_dir)


def _prepare(token_map: Any, tokenizer: Any, window_id: str, tokens: np.ndarray, context: int, stride: int) -> _Pending:
    bos = token_map.bos_id
    if token_map.per_base:
        ids = token_map.encode_bases(tokens)
        stream = np.concatenate([[bos], ids[:-1]]) if bos is not None else ids[:-1]
        payload: Any = tokens
    else:
        text = upper_bytes(tokens).tobytes().decode("ascii", errors="replace")
        encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        token_ids = np.asarray(encoded["input_ids"], dtype=np.int64)
        offsets = np.asarray(encoded["offset_mapping"], dtype=np.int64).reshape(-1, 2)
        # the stream predicts token k from the tokens before it; targets are every token (with BOS) or all but the first
        stream = np.concatenate([[bos], token_ids[:-1]]) if bos is not None else token_ids[:-1]
        payload = (tokens, token_ids, offsets)
    stream = stream.astype(np.int64)
    plan = chunk_plan(len(stream), context, stride)
    return _Pending(window_id, stream, [None] * len(plan), plan, payload)


def _flush(scorer: WindowScorer, pending: list[_Pending], writer: PredictionWriter, keep: set[str], per_base: bool,
           progress: tqdm) -> None:  # fmt: skip
    if not pending:
        return
    token_map = scorer.loaded.token_map
    has_bos = token_map.bos_id is not None
    if per_base:
        scorer.run(pending, lambda logits, item, c: _fold_bases(logits, token_map.base_ids).cpu().numpy())
        for item in pending:
            if not item.selected:
                continue
            tokens = item.payload
            probabilities = np.full((len(tokens), 4), np.nan)
            rows = np.concatenate(item.rows) if item.rows else np.zeros((0, 4))
            first = 0 if has_bos else 1
            probabilities[first : first + len(rows)] = rows
            observed = base_codes(tokens).astype(np.int64)
            if not has_bos and len(observed):
                observed[0] = -1
            logprob, top1 = observed_base_scores(np.nan_to_num(probabilities, nan=0.25), observed)
            distribution = probabilities.astype(np.float32) if item.window_id in keep else None
            writer.add(item.window_id, logprob, distribution=distribution, top1=top1)
            progress.update(len(tokens))
    else:

        def token_logprobs(logits: torch.Tensor, item: _Pending, c: int) -> np.ndarray:
            _, token_ids, _ = item.payload
            start, keep_start, keep_end = item.plan[c]
            first_target = 0 if has_bos else 1
            targets = torch.from_numpy(token_ids[first_target + keep_start : first_target + keep_end]).to(logits.device)
            return torch.log_softmax(logits, dim=1).gather(1, targets[:, None])[:, 0].double().cpu().numpy()

        scorer.run(pending, token_logprobs)
        for item in pending:
            if not item.selected:
                continue
            tokens, token_ids, offsets = item.payload
            per_token = np.concatenate(item.rows) if item.rows else np.zeros(0)
            first_target = 0 if has_bos else 1
            is_base = base_codes(tokens) >= 0
            logprob = np.full(len(tokens), np.nan, dtype=np.float64)
            for k, value in enumerate(per_token, start=first_target):
                begin, end = offsets[k]
                span = np.flatnonzero(is_base[begin:end]) + begin
                if len(span):
                    logprob[span] = value / len(span)
            writer.add(item.window_id, logprob)
            progress.update(len(tokens))
    pending.clear()
