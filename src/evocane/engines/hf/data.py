"""Training and validation batches from the dataset contract's token/weight arrays.

A training example is a crop of ``context`` tokens from one window: the window's lineage-tag prefix (if any)
followed by a random stretch of its body. The model sees ``[BOS] + crop[:-1]`` and predicts ``crop`` (as Evo 2
with ``prepend_bos``), inputs and targets upper-cased (Evo 2's ``TO_UPPER_TOKENS``). Each target carries a loss
weight from its weight code: full 1, soft-masked ``softmasked_weight``, none (N, IUPAC, tags,
padding) 0. Batch ``(step, micro)`` depends only on the seed and those two numbers, so a resumed run draws exactly
the batches an uninterrupted one would.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from evocane.dataset.arrays import WEIGHT_FULL, DatasetReader
from evocane.engines.hf.tokenizer import TokenMap
from evocane.engines.training import Batch, weight_table
from evocane.errors import EvocaneError


class WindowCrops:
    """Crops of one split's windows as model inputs, targets and loss weights."""

    def __init__(self, dataset_dir: str | Path, split: str, token_map: TokenMap, context: int, softmasked_weight: float,
                 max_windows: int | None = None, seed: int = 0, fit_width: bool = False):  # fmt: skip
        if not token_map.per_base:
            raise EvocaneError("hf: training needs a per-base tokenizer (one token per base); this model's is not")
        dataset = DatasetReader(dataset_dir)
        windows = dataset.split_windows(split)
        if max_windows is not None and len(windows) > max_windows:
            keep = np.sort(np.random.default_rng(seed).choice(len(windows), size=max_windows, replace=False))
            windows = windows.iloc[keep].reset_index(drop=True)
        self.split = split
        self.arrays = dataset.arrays(split) if len(windows) else None
        self.offsets = windows["offset"].to_numpy(np.int64)
        self.lengths = windows["length"].to_numpy(np.int64)
        self.prefixes = windows["prefix_length"].to_numpy(np.int64) if "prefix_length" in windows else np.zeros(len(windows), np.int64)
        self.token_map = token_map
        self.context = context
        self.weights = weight_table(softmasked_weight)
        self.seed = seed
        # crops are padded to `width` columns: the context, or (fit_width, with a token budget) the longest crop
        longest = int(self.lengths.max()) if len(self.lengths) else context
        crop = min(context, longest) if fit_width else context
        self.width = crop if token_map.bos_id is not None else crop - 1

    def __len__(self) -> int:
        return len(self.offsets)

    def _example(self, index: int, start: int) -> tuple[np.ndarray, np.ndarray]:
        """Tokens and weight codes of window ``index``: its prefix plus the body from ``start`` (body coordinates),
        at most ``context`` tokens."""
        assert self.arrays is not None
        offset, length, prefix = int(self.offsets[index]), int(self.lengths[index]), int(self.prefixes[index])
        body = min(length - prefix, self.context - prefix)
        parts = [slice(offset, offset + prefix), slice(offset + prefix + start, offset + prefix + start + body)]
        tokens = np.concatenate([self.arrays.tokens[p] for p in parts])
        codes = np.concatenate([self.arrays.weights[p] for p in parts])
        return tokens, codes

    def _collate(self, examples: list[tuple[np.ndarray, np.ndarray]]) -> Batch:
        bos = self.token_map.bos_id
        width = self.width
        count = len(examples)
        input_ids = np.full((count, width), self.token_map.pad_id, dtype=np.int64)
        targets = np.full((count, width), self.token_map.pad_id, dtype=np.int64)
        weights = np.zeros((count, width), dtype=np.float32)
        codes_out = np.zeros((count, width), dtype=np.uint8)
        for row, (tokens, codes) in enumerate(examples):
            ids = self.token_map.encode_bases(tokens)
            if bos is not None:
                inputs, target_ids, target_codes = np.concatenate([[bos], ids[:-1]]), ids, codes
            else:
                inputs, target_ids, target_codes = ids[:-1], ids[1:], codes[1:]
            n = len(target_ids)
            input_ids[row, :n] = inputs
            targets[row, :n] = target_ids
            weights[row, :n] = self.weights[target_codes]
            codes_out[row, :n] = target_codes
        return Batch(torch.from_numpy(input_ids), torch.from_numpy(targets), torch.from_numpy(weights), torch.from_numpy(codes_out > 0),
                     torch.from_numpy(codes_out == WEIGHT_FULL))

    def train_batch(self, step: int, micro: int, batch_size: int) -> Batch:
        """Random crops (windows drawn in proportion to their length), reproducible from (seed, step, micro)."""
        if not len(self):
            raise EvocaneError(f"hf: the {self.split} split has no windows")
        rng = np.random.default_rng([self.seed, step, micro])
        body = self.lengths - self.prefixes
        chosen = rng.choice(len(self), size=batch_size, p=body / body.sum())
        examples = []
        for index in chosen:
            room = self.context - int(self.prefixes[index])
            start = int(rng.integers(0, max(int(body[index]) - room, 0) + 1))
            examples.append(self._example(int(index), start))
        return self._collate(examples)

    def eval_batches(self, count: int, batch_size: int) -> list[Batch]:
        """The first ``context`` tokens of ``count`` windows spread evenly over the split (the same every time)."""
        if not len(self) or count == 0:
            return []
        chosen = np.unique(np.linspace(0, len(self) - 1, num=min(count, len(self))).round().astype(np.int64))
        batches = []
        for first in range(0, len(chosen), batch_size):
            batches.append(self._collate([self._example(int(i), 0) for i in chosen[first : first + batch_size]]))
        return batches
