"""Evo 2 tokens and the layout of model inputs: upper-casing, the BOS token, sliding-window chunks.

Evo 2's vocabulary is bytes (token id = ASCII code), ``EOD`` = 0 doubles as BOS, pad = 1. Evo 2 was trained on
upper-cased sequence (soft-masking only changed the loss weights) and Arc's tokenizer does not upper-case, so every
input goes through :func:`upper`. The dataset's case is still used, through its weight codes, for the loss.

Layout of one window of n tokens: ``full = [BOS] + upper(tokens)`` (or without BOS), model input
``full[:-1]``, targets ``full[1:]``: with BOS every base is predicted (the input is exactly n tokens); without it
position 0 is not scored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BOS_ID = 0
PAD_ID = 1
UPPER = np.arange(256, dtype=np.uint8)
UPPER[ord("a") : ord("z") + 1] -= ord("a") - ord("A")


def upper(tokens: np.ndarray) -> np.ndarray:
    """ASCII lower-case letters to upper-case (tag characters and digits unchanged)."""
    return UPPER[np.asarray(tokens, dtype=np.uint8)]


def model_inputs(tokens: np.ndarray, prepend_bos: bool) -> np.ndarray:
    """The model input for one window (uint8): ``[BOS] + upper(tokens)[:-1]`` or ``upper(tokens)[:-1]``."""
    tokens = upper(tokens)
    if prepend_bos:
        return np.concatenate([np.array([BOS_ID], dtype=np.uint8), tokens[:-1]])
    return tokens[:-1]


@dataclass(frozen=True)
class Chunk:
    """One model call's slice ``[start, end)`` of a window's inputs; it contributes the predictions for targets
    ``[keep_from, end)`` (the first ``keep_from - start`` positions are context already scored by the previous
    chunk)."""

    start: int
    end: int
    keep_from: int

    @property
    def length(self) -> int:
        return self.end - self.start


def plan_chunks(n_inputs: int, context: int, overlap: int) -> list[Chunk]:
    """Cover ``n_inputs`` positions with chunks of at most ``context`` tokens, so that every target is predicted
    exactly once and, after the first chunk, with at least ``overlap`` positions of context. The last chunk is
    aligned to the end (full length, maximal context)."""
    if not 0 <= overlap < context:
        raise ValueError(f"overlap must lie in [0, context), got {overlap} for context {context}")
    if n_inputs <= context:
        return [Chunk(0, n_inputs, 0)] if n_inputs > 0 else []
    chunks = [Chunk(0, context, 0)]
    while chunks[-1].end < n_inputs:
        start = min(chunks[-1].end - overlap, n_inputs - context)
        chunks.append(Chunk(start, start + context, chunks[-1].end))
    return chunks
