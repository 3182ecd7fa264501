"""Order-k Markov chain baseline: interpolated smoothing over all orders 0..K, trained in one pass.

Contexts are 2-bit encoded integers (A 0, C 1, G 2, T 3; the most recent base in the lowest bits), so an order-k
context is one int64 and counting is one ``np.bincount`` per order over ``context * 4 + base``. Case is folded
(soft-masked bases are the same symbols) and a context never spans a window boundary, an N/IUPAC base or a lineage
tag (weight code 0). Training counts are weighted by the target's loss-weight code: full 1.0, soft-masked
``softmasked_weight`` (0.1 by default, as Evo 2, GPN and PlantCAD weight repeats in training).

Smoothing is interpolated (``P_-1`` = uniform 1/4; h' = h without its oldest base; c = weighted counts; t(h) =
number of distinct bases seen after h):
- ``dirichlet`` (default): P_k(w | h) = (c(h, w) + a_k P_k-1(w | h')) / (c(h) + a_k), i.e. the lower order is a
  Dirichlet prior of strength a_k (Jelinek-Mercer with a count-dependent weight c(h) / (c(h) + a_k)). With
  ``concentration: null`` each a_k is tuned greedily, order by order, on (a subsample of) the validation split,
  the classic held-out estimate of interpolation weights; the test split is never read.
- ``witten_bell``: P_k(w | h) = (c(h, w) + t(h) P_k-1(w | h')) / (c(h) + t(h))
- ``absolute_discounting``: P_k(w | h) = (max(c(h, w) - D, 0) + m(h) P_k-1(w | h')) / c(h), m(h) the mass removed
An unseen context (c(h) = 0) falls back to P_k-1. Every P_k sums to one by construction. On DNA, Witten-Bell and
absolute discounting trust sparse high-order contexts far too much (a context seen a few times in training says
little about the next base), so their bits per base rise above 2 beyond order ~8 on a few Mb of training data;
the tuned Dirichlet prior keeps improving or plateaus.

One checkpoint holds all orders; ``score`` writes one prediction directory per configured order (``k1/``, ...),
all from one pass, because P_k is built from P_k-1 anyway.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from evocane.atomic import atomic_dir
from evocane.dataset.arrays import WEIGHT_FULL, WEIGHT_NONE, WEIGHT_SOFTMASKED, DatasetReader
from evocane.engines.base import (
    Engine,
    ModelConfig,
    Prompt,
    SamplingConfig,
    checkpoint_model,
    dataset_variant_name,
    selected_windows,
    write_checkpoint_meta,
)
from evocane.errors import EvocaneError
from evocane.predictions import (
    BASES,
    GeneratedSequence,
    PredictionWriter,
    base_codes,
    gather,
    observed_base_scores,
    window_chunks,
    write_generated_fasta,
)

log = logging.getLogger(__name__)

MAX_ORDER = 24  # (order + 1) * 2 bits must fit an int64 key
SMOOTHINGS = ("dirichlet", "witten_bell", "absolute_discounting")
DEFAULT_CONCENTRATION = 32.0  # when there is no validation split to tune on
COUNTS_FILE = "counts.npz"


@dataclass(frozen=True)
class MarkovParams:
    orders: tuple[int, ...] = tuple(range(1, 11))
    smoothing: str = "dirichlet"
    concentration: float | None = None  # dirichlet: None = tune a_k per order on the validation split
    concentration_grid: tuple[float, ...] = tuple(2.0**e for e in range(-2, 13))
    tune_bases: int = 2_000_000  # validation positions used for tuning (evenly spaced windows)
    discount: float = 0.75
    softmasked_weight: float = 0.1
    dense_max_order: int = 11
    chunk_bases: int = 2_000_000
    generation_order: int | None = None

    @classmethod
    def from_mapping(cls, params: dict[str, Any]) -> MarkovParams:
        unknown = set(params) - set(cls.__dataclass_fields__)
        if unknown:
            raise EvocaneError(f"markov params: unknown key(s) {', '.join(sorted(unknown))}")
        values = dict(params)
        if "orders" in values:
            values["orders"] = tuple(sorted(set(int(k) for k in values["orders"])))
        if "concentration_grid" in values:
            values["concentration_grid"] = tuple(float(a) for a in values["concentration_grid"])
        out = cls(**values)
        if not out.orders or out.orders[0] < 0 or out.orders[-1] > MAX_ORDER:
            raise EvocaneError(f"markov params: orders must lie in 0..{MAX_ORDER}, got {list(out.orders)}")
        if out.smoothing not in SMOOTHINGS:
            raise EvocaneError(f"markov params: smoothing must be one of {', '.join(SMOOTHINGS)}, got '{out.smoothing}'")
        if out.generation_order is not None and out.generation_order not in out.orders:
            raise EvocaneError(f"markov params: generation_order {out.generation_order} is not among orders {list(out.orders)}")
        return out

    @property
    def max_order(self) -> int:
        return self.orders[-1]


# --- count tables ----------------------------------------------------------------------------------------------------
class CountTable:
    """Weighted next-base counts of one order: a dense (4**k, 4) array for small k, else sorted context keys
    with their count rows (looked up with searchsorted)."""

    def __init__(self, order: int, contexts: np.ndarray, counts: np.ndarray, dense: bool):
        self.order = order
        self.contexts = np.asarray(contexts, dtype=np.int64)
        self.counts = np.asarray(counts, dtype=np.float64).reshape(-1, 4)
        self.dense: np.ndarray | None = None
        if dense:
            self.dense = np.zeros((4**order, 4), dtype=np.float64)
            self.dense[self.contexts] = self.counts

    def lookup(self, contexts: np.ndarray) -> np.ndarray:
        if self.dense is not None:
            return self.dense[contexts]
        rows = np.zeros((len(contexts), 4), dtype=np.float64)
        if len(self.contexts):
            where = np.searchsorted(self.contexts, contexts)
            where[where == len(self.contexts)] = 0
            found = self.contexts[where] == contexts
            rows[found] = self.counts[where[found]]
        return rows


class _CountAccumulator:
    """Sums weighted (context, base) keys of one order over chunks: bincount into a dense array, or for large k
    per-chunk np.unique reductions merged at the end."""

    def __init__(self, order: int, dense: bool):
        self.order = order
        self.size = 4 ** (order + 1)
        self.dense = np.zeros(self.size, dtype=np.float64) if dense else None
        self.sparse: list[tuple[np.ndarray, np.ndarray]] = []

    def add(self, keys: np.ndarray, weights: np.ndarray) -> None:
        if self.dense is not None:
            self.dense += np.bincount(keys, weights, minlength=self.size)
        elif len(keys):
            unique, inverse = np.unique(keys, return_inverse=True)
            self.sparse.append((unique, np.bincount(inverse, weights)))
            if len(self.sparse) >= 16:
                self.sparse = [self._merged()]

    def add_table(self, table: CountTable) -> None:
        keys = (table.contexts[:, None] * 4 + np.arange(4)).ravel()
        self.add(keys, table.counts.ravel())

    def _merged(self) -> tuple[np.ndarray, np.ndarray]:
        keys = np.concatenate([k for k, _ in self.sparse])
        sums = np.concatenate([s for _, s in self.sparse])
        unique, inverse = np.unique(keys, return_inverse=True)
        return unique, np.bincount(inverse, sums)

    def table(self, dense_lookup: bool) -> CountTable:
        if self.dense is not None:
            rows = self.dense.reshape(-1, 4)
            contexts = np.flatnonzero(rows.sum(axis=1) > 0)
            return CountTable(self.order, contexts, rows[contexts], dense_lookup)
        if not self.sparse:
            return CountTable(self.order, np.zeros(0, np.int64), np.zeros((0, 4)), dense_lookup)
        keys, sums = self._merged()
        contexts, position = np.unique(keys >> 2, return_inverse=True)
        rows = np.zeros((len(contexts), 4), dtype=np.float64)
        np.add.at(rows, (position, keys & 3), sums)
        keep = rows.sum(axis=1) > 0
        return CountTable(self.order, contexts[keep], rows[keep], dense_lookup)


# --- shared per-chunk encoding -----------------------------------------------------------------------------------------
@dataclass
class EncodedChunk:
    codes: np.ndarray  # int64 base codes 0..3 (0 where invalid; masked by `valid`)
    valid: np.ndarray  # A/C/G/T and weight code != 0
    run: np.ndarray  # valid bases immediately before each position in the same window (= usable context length)
    weight_codes: np.ndarray
    window_start: np.ndarray  # bool, first position of a window


def encode_chunk(tokens: np.ndarray, weight_codes: np.ndarray, window_starts: np.ndarray) -> EncodedChunk:
    raw = base_codes(tokens).astype(np.int64)
    weight_codes = np.asarray(weight_codes)
    valid = (raw >= 0) & (weight_codes != WEIGHT_NONE)
    codes = np.where(valid, raw, 0)
    n = len(codes)
    start = np.zeros(n, dtype=bool)
    start[window_starts] = True
    reset = start.copy()
    reset[1:] |= ~valid[:-1]
    index = np.arange(n)
    run = index - np.maximum.accumulate(np.where(reset, index, 0))
    return EncodedChunk(codes, valid, run, weight_codes, start)


def contexts_by_order(codes: np.ndarray, max_order: int) -> Iterator[tuple[int, np.ndarray]]:
    """(k, context integer of the k bases before each position) for k = 0..max_order; only meaningful where
    run >= k. Built incrementally: context_k = context_k-1 + base[i - k] * 4**(k - 1)."""
    context = np.zeros(len(codes), dtype=np.int64)
    yield 0, context
    for k in range(1, max_order + 1):
        context = context.copy()
        context[k:] += codes[:-k] << (2 * (k - 1))
        yield k, context


def _row_sum(rows: np.ndarray) -> np.ndarray:
    """(n, 4) -> (n, 1); four vector adds beat a reduction along a length-4 axis several times over."""
    return (rows[:, 0] + rows[:, 1] + rows[:, 2] + rows[:, 3])[:, None]


def smooth(counts: np.ndarray, lower: np.ndarray, smoothing: str, parameter: float) -> np.ndarray:
    """One interpolation step: counts (n, 4) of the order-k contexts, lower (n, 4) = P_k-1 -> P_k (n, 4).
    ``parameter`` = the concentration a_k (dirichlet) or the discount D (absolute_discounting). Unseen contexts
    (no counts) keep P_k-1; no boolean masking, which costs more than the arithmetic."""
    total = _row_sum(counts)
    if smoothing == "dirichlet":
        return (counts + parameter * lower) / (total + parameter)
    if smoothing == "witten_bell":
        types = _row_sum((counts > 0).astype(np.float64))
        numerator, denominator = counts + types * lower, total + types
    else:
        kept = np.maximum(counts - parameter, 0.0)
        numerator, denominator = kept + (total - _row_sum(kept)) * lower, total
    return np.divide(numerator, denominator, out=lower.copy(), where=denominator > 0)


class MarkovModel:
    """Count tables of orders 0..K plus the smoothing parameter of each order."""

    def __init__(self, params: MarkovParams, tables: list[CountTable], parameters: np.ndarray | None = None):
        self.params = params
        self.tables = tables  # index = order, 0..max_order
        if parameters is None:
            default = params.discount if params.smoothing == "absolute_discounting" else (params.concentration or DEFAULT_CONCENTRATION)
            parameters = np.full(len(tables), default, dtype=np.float64)
        self.parameters = np.asarray(parameters, dtype=np.float64)

    @classmethod
    def load(cls, checkpoint: Path) -> MarkovModel:
        params = MarkovParams.from_mapping(checkpoint_model(checkpoint).params)
        path = Path(checkpoint) / COUNTS_FILE
        if not path.exists():
            raise EvocaneError(f"{path}: Markov counts not found")
        with np.load(path) as data:
            tables = [
                CountTable(k, data[f"order{k}_contexts"], data[f"order{k}_counts"], k <= params.dense_max_order)
                for k in range(params.max_order + 1)
            ]
            parameters = data["parameters"]
        return cls(params, tables, parameters)

    def save(self, checkpoint: Path) -> None:
        """Uncompressed: zlib on the count tables costs more time than the whole counting pass. Counts are stored
        as float32 (exact up to 2**24 per cell, then 1e-7 relative)."""
        arrays = {"parameters": self.parameters}
        for table in self.tables:
            arrays[f"order{table.order}_contexts"] = table.contexts
            arrays[f"order{table.order}_counts"] = table.counts.astype(np.float32)
        np.savez(Path(checkpoint) / COUNTS_FILE, **arrays)

    def distributions(self, contexts: Sequence[np.ndarray], run: np.ndarray, up_to: int) -> Iterator[tuple[int, np.ndarray]]:
        """(k, P_k) for k = 0..up_to; where fewer than k context bases exist, P_k stays at the highest order the
        context allows. ``contexts[k]`` = order-k context integers."""
        probabilities = np.full((len(run), 4), 0.25)
        for k in range(up_to + 1):
            # every position is smoothed (a context too short for order k is a valid, meaningless index) and the
            # result kept only where the context is long enough: cheaper than masking before the lookup
            smoothed = smooth(self.tables[k].lookup(contexts[k]), probabilities, self.params.smoothing, self.parameters[k])
            probabilities = np.where((run >= k)[:, None], smoothed, probabilities) if k else smoothed
            yield k, probabilities

    def tune_concentrations(self, chunk: EncodedChunk, target_weight: np.ndarray) -> np.ndarray:
        """Greedy held-out choice of a_k: for k = 0, 1, ..., the grid value minimising the weighted log loss of
        P_k on ``chunk`` given the already chosen a_0..a_k-1."""
        targets = chunk.valid & ~chunk.window_start
        weight = target_weight[chunk.weight_codes] * targets
        probabilities = np.full((len(chunk.codes), 4), 0.25)
        chosen = np.empty(len(self.tables))
        for k, context in contexts_by_order(chunk.codes, len(self.tables) - 1):
            available = chunk.run >= k
            counts = self.tables[k].lookup(context[available])
            lower = probabilities[available]
            rows, observed = np.arange(len(counts)), chunk.codes[available]
            # only the observed base's probability enters the loss: (c_obs + a p_obs) / (c + a)
            c_observed, p_observed, total = counts[rows, observed], lower[rows, observed], counts.sum(axis=1)
            losses = [-(weight[available] * np.log((c_observed + a * p_observed) / (total + a))).sum() for a in self.params.concentration_grid]
            chosen[k] = self.params.concentration_grid[int(np.argmin(losses))]
            probabilities[available] = smooth(counts, lower, "dirichlet", chosen[k])
        return chosen


# --- the engine --------------------------------------------------------------------------------------------------------
def _window_chunks(windows: pd.DataFrame, chunk_bases: int) -> Iterator[pd.DataFrame]:
    for rows in window_chunks(windows["length"].to_numpy(), chunk_bases):
        yield windows.iloc[rows]


def _tuning_windows(windows: pd.DataFrame, max_bases: int) -> pd.DataFrame:
    """Evenly spaced windows holding about ``max_bases`` positions (all of them if the split is smaller)."""
    if windows.empty or windows["length"].sum() <= max_bases:
        return windows
    count = max(1, int(max_bases / windows["length"].mean()))
    return windows.iloc[np.unique(np.linspace(0, len(windows) - 1, count).round().astype(int))]


def _chunk_arrays(arrays, chunk: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # type: ignore[no-untyped-def]
    offsets = chunk["offset"].to_numpy(dtype=np.int64)
    lengths = chunk["length"].to_numpy(dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    return gather(arrays.tokens, offsets, lengths), gather(arrays.weights, offsets, lengths), starts, lengths


class MarkovEngine(Engine):
    name = "markov"

    def train(
        self, dataset_dir: Path, model: ModelConfig, out_dir: Path, init_checkpoint: Path | None = None,
        on_evaluation: Callable[[int, dict[str, float]], None] | None = None,
    ) -> Path:  # fmt: skip
        params = MarkovParams.from_mapping(model.params)
        dataset = DatasetReader(dataset_dir)
        windows = dataset.split_windows("train")
        if windows.empty:
            raise EvocaneError(f"{dataset_dir}: the train split has no windows")
        arrays = dataset.arrays("train")
        accumulators = [_CountAccumulator(k, dense=k <= params.dense_max_order) for k in range(params.max_order + 1)]
        if init_checkpoint is not None:
            base = MarkovModel.load(init_checkpoint)
            if base.params.max_order < params.max_order:
                raise EvocaneError(f"{init_checkpoint}: holds orders up to {base.params.max_order}, need {params.max_order}")
            for accumulator in accumulators:
                accumulator.add_table(base.tables[accumulator.order])
        target_weight = np.zeros(256, dtype=np.float64)
        target_weight[WEIGHT_FULL] = 1.0
        target_weight[WEIGHT_SOFTMASKED] = params.softmasked_weight
        began = time.perf_counter()
        n_bases = 0
        progress = tqdm(total=int(windows["length"].sum()), unit="bp", unit_scale=True, desc=f"train {model.name}")
        for chunk in _window_chunks(windows, params.chunk_bases):
            tokens, weight_codes, starts, _ = _chunk_arrays(arrays, chunk)
            encoded = encode_chunk(tokens, weight_codes, starts)
            weight = target_weight[encoded.weight_codes] * encoded.valid
            targets = weight > 0
            n_bases += int(targets.sum())
            for k, context in contexts_by_order(encoded.codes, params.max_order):
                use = targets & (encoded.run >= k)
                accumulators[k].add((context[use] << 2) | encoded.codes[use], weight[use])
            progress.update(len(tokens))
        progress.close()
        seconds = time.perf_counter() - began
        model_out = MarkovModel(params, [a.table(a.order <= params.dense_max_order) for a in accumulators])
        tuned_on = 0
        if params.smoothing == "dirichlet" and params.concentration is None:
            validation = _tuning_windows(dataset.split_windows("validation"), params.tune_bases)
            if validation.empty:
                log.warning("%s: no validation windows to tune the concentrations on; using %s", dataset_dir, DEFAULT_CONCENTRATION)
            else:
                tokens, weight_codes, starts, _ = _chunk_arrays(dataset.arrays("validation"), validation)
                model_out.parameters = model_out.tune_concentrations(encode_chunk(tokens, weight_codes, starts), target_weight)
                tuned_on = len(tokens)
        with atomic_dir(out_dir) as temp:
            model_out.save(temp)
            write_checkpoint_meta(
                temp, model, dataset_dir, init_checkpoint=str(init_checkpoint) if init_checkpoint else None,
                train_bases=n_bases, train_seconds=round(seconds, 3),
                contexts_per_order={t.order: int(len(t.contexts)) for t in model_out.tables},
                parameters=4 * sum(int(len(t.contexts)) for t in model_out.tables),  # one count per context and base
                smoothing_parameters=None if params.smoothing == "witten_bell" else dict(enumerate(model_out.parameters.tolist())),
                tuned_on_validation_bases=tuned_on,
            )  # fmt: skip
        log.info("trained %s on %d bases in %.1f s (%.0f bases/s)", model.name, n_bases, seconds, n_bases / max(seconds, 1e-9))
        return Path(out_dir)

    def score(
        self, checkpoint: Path, dataset_dir: Path, split: str, out_dir: Path, distribution_windows: Sequence[str] = (),
        windows: Sequence[str] | None = None,
    ) -> Path:  # fmt: skip
        model_config = checkpoint_model(checkpoint)
        model = MarkovModel.load(checkpoint)
        params = model.params
        dataset = DatasetReader(dataset_dir)
        table = dataset.split_windows(split)
        # chunks are cut over the whole split, as without a selection (Engine.score); only chunks holding a
        # selected window are computed
        selected = selected_windows(table, windows, f"{dataset_dir} split '{split}'")
        windows = table.assign(selected=selected)
        arrays = dataset.arrays(split)
        keep_distribution = set(distribution_windows)
        variant = dataset_variant_name(dataset_dir)
        began = time.perf_counter()
        with atomic_dir(out_dir) as temp:
            writers = {
                k: PredictionWriter(
                    temp / f"k{k}",
                    {
                        "model": f"{model_config.name}_k{k}", "config_model": model_config.name, "member": f"k{k}",
                        "engine": self.name, "variant": variant, "split": split, "order": k,
                        "smoothing": params.smoothing, "checkpoint": str(checkpoint), "dataset": str(dataset_dir),
                    },
                )  # fmt: skip
                for k in params.orders
            }
            try:
                progress = tqdm(total=int(windows["length"][selected].sum()), unit="bp", unit_scale=True, desc=f"score {model_config.name} {split}")
                for chunk in _window_chunks(windows, params.chunk_bases):
                    if not chunk["selected"].any():
                        continue
                    tokens, weight_codes, starts, lengths = _chunk_arrays(arrays, chunk)
                    encoded = encode_chunk(tokens, weight_codes, starts)
                    observed = np.where(encoded.valid & ~encoded.window_start, encoded.codes, -1)
                    contexts = [context for _, context in contexts_by_order(encoded.codes, params.max_order)]
                    ids = chunk["window_id"].astype(str).tolist()
                    keep = chunk["selected"].to_numpy()
                    for k, probabilities in model.distributions(contexts, encoded.run, params.max_order):
                        if k not in writers:
                            continue
                        logprob, top1 = observed_base_scores(probabilities, observed)
                        for window_id, start, length, chosen in zip(ids, starts, lengths, keep):
                            if not chosen:
                                continue
                            piece = slice(start, start + length)
                            distribution = probabilities[piece].copy() if window_id in keep_distribution else None
                            writers[k].add(window_id, logprob[piece], distribution=distribution, top1=top1[piece])
                    progress.update(int(lengths[keep].sum()))
                progress.close()
            except BaseException as error:
                for writer in writers.values():
                    writer.abort(error)
                raise
            for writer in writers.values():
                writer.close()
        seconds = time.perf_counter() - began
        log.info("scored %d bases of %s in %.1f s", int(windows["length"][selected].sum()), split, seconds)
        return Path(out_dir)

    def generate(self, checkpoint: Path, prompts: Sequence[Prompt], sampling: SamplingConfig, out_fasta: Path) -> Path:
        model_config = checkpoint_model(checkpoint)
        model = MarkovModel.load(checkpoint)
        order = model.params.generation_order if model.params.generation_order is not None else model.params.max_order
        records = []
        for prompt_index, prompt in enumerate(tqdm(prompts, desc=f"generate {model_config.name}")):
            for sample in range(sampling.samples_per_prompt):
                seed = sampling.sample_seed(prompt_index, sample)
                sequence = self._continue(model, order, prompt.sequence, sampling, np.random.default_rng(seed))
                records.append(
                    GeneratedSequence(
                        prompt.id, sample, seed, sequence, model=f"{model_config.name}_k{order}",
                        temperature=sampling.temperature, top_k=sampling.top_k, top_p=sampling.top_p,
                        prompt_length=len(prompt.sequence),
                    )  # fmt: skip
                )
        return write_generated_fasta(records, out_fasta)

    @staticmethod
    def _continue(model: MarkovModel, order: int, prompt: str, sampling: SamplingConfig, rng: np.random.Generator) -> str:
        codes = base_codes(np.frombuffer(prompt.encode("ascii"), dtype=np.uint8)).astype(np.int64)
        history = []
        for code in codes[::-1]:  # the context = the valid bases after the prompt's last N/tag
            if code < 0 or len(history) == order:
                break
            history.append(int(code))
        history.reverse()
        out = np.empty(sampling.n_tokens, dtype=np.int64)
        for step in range(sampling.n_tokens):
            run = np.array([len(history)])
            contexts = [np.array([sum(history[-j] << (2 * (j - 1)) for j in range(1, k + 1)) if k <= len(history) else 0]) for k in range(order + 1)]
            probabilities = None
            for _, probabilities in model.distributions(contexts, run, order):
                pass
            assert probabilities is not None
            out[step] = sample_base(probabilities[0], sampling, rng)
            history.append(int(out[step]))
            if len(history) > order:
                history.pop(0)
        return "".join(BASES[c] for c in out)


def sample_base(probabilities: np.ndarray, sampling: SamplingConfig, rng: np.random.Generator) -> int:
    """Draw one base code from a distribution over A/C/G/T after temperature, top-k and top-p (nucleus)."""
    p = np.asarray(probabilities, dtype=np.float64)
    if sampling.temperature == 0:
        return int(np.argmax(p))
    p = p ** (1.0 / sampling.temperature)
    p /= p.sum()
    order = np.argsort(-p, kind="stable")
    keep = np.ones(4, dtype=bool)
    if sampling.top_k:
        keep[order[sampling.top_k :]] = False
    if sampling.top_p < 1.0:
        cumulative = np.cumsum(p[order])
        beyond = np.flatnonzero(cumulative >= sampling.top_p)
        cut = beyond[0] + 1 if len(beyond) else 4
        keep[order[cut:]] = False
    p = np.where(keep, p, 0.0)
    return int(rng.choice(4, p=p / p.sum()))
