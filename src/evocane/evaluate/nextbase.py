"""Next-base evaluation: bits per base, perplexity and top-1 accuracy of every prediction set on one dataset
variant, stratified by region, cultivar, homology group and leakage bin, with window-bootstrap CIs and the
difference to the best Markov order.

Which positions count (per model):
- scored = the model gave a finite log-prob AND the dataset's weight code is not 0 (N / IUPAC / lineage tag);
- region strata use the labels bit mask: ``repeat`` = the REPEAT bit (soft-masked in the source assembly);
  ``nonrepeat`` = scored and not repeat, the **headline** (repeats carry weight 0 in evaluation, as GPN and
  PlantCAD evaluate); ``all`` = every scored position; ``cds``, ``utr5``, ``utr3``, ``intron``, ``promoter``,
  ``intergenic`` = non-repeat positions carrying that bit (a base with two bits counts in both);
- window strata (any windows.parquet column named in ``window_strata``, e.g. cultivar, homology_group and the
  dataset room's leakage bin) restrict the headline positions to windows with that value; a configured column the
  table lacks is skipped with a warning; a float column with more than 12 distinct values is cut into quartiles.

Metrics: bits per base = mean(-log2 P(observed)); perplexity = 2 ** bits; top-1 accuracy = mean top-1 credit
(from the prediction's optional ``top1.npy``, NaN without it). ``delta_bits_per_base`` = model minus the best
Markov order on the positions both scored (negative = better than the baseline), with a paired bootstrap. The best
order is the baseline member with the lowest headline bits on the validation split (on the evaluated split only if
no validation predictions exist; ``selected_on`` says which). Every CI resamples windows
(:mod:`evocane.evaluate.bootstrap`), with the same resamples for all models of a split.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from evocane.dataset.arrays import REGION_BITS, REPEAT, WEIGHT_NONE, DatasetReader
from evocane.errors import EvocaneError
from evocane.evaluate.bootstrap import bootstrap_ratios, ratio
from evocane.numerics import LN2
from evocane.predictions import PredictionReader, gather, window_chunks

log = logging.getLogger(__name__)

HEADLINE = "nonrepeat"
REGIONS = ("cds", "utr5", "utr3", "intron", "promoter", "intergenic")
POSITION_STRATA = ("all", HEADLINE, "repeat", *REGIONS)
METRIC_COLUMNS = [
    "variant", "split", "model", "config_model", "engine", "stratum_kind", "stratum", "metric",
    "value", "ci_low", "ci_high", "n_bases", "n_windows", "baseline", "selected_on",
]  # fmt: skip
WINDOW_COLUMNS = ["split", "model", "config_model", "window_id", "stratum", "bits_per_base", "n_bases"]
CHUNK_BASES = 4_000_000


@dataclass(frozen=True)
class EvaluationSettings:
    baseline: str | None = "markov"
    window_strata: tuple[str, ...] = ("cultivar", "homology_group", "leakage_bin")
    n_resamples: int = 1000
    confidence: float = 0.95
    seed: int = 0


@dataclass
class WindowSums:
    """Per-window sums over the dataset windows of one split (rows in DatasetReader.split_windows order), one
    column per position stratum (POSITION_STRATA)."""

    nll: np.ndarray  # natural-log negative log-likelihood sums (W, S)
    n: np.ndarray  # bases scored (W, S)
    top1: np.ndarray | None  # top-1 credit sums (W, S); None when the prediction has no top1.npy


def position_masks(labels: np.ndarray, weights: np.ndarray, scored: np.ndarray) -> list[np.ndarray]:
    """Boolean masks in POSITION_STRATA order."""
    scored = scored & (weights != WEIGHT_NONE)
    repeat = (labels & REPEAT) != 0
    nonrepeat = scored & ~repeat
    masks = [scored, nonrepeat, scored & repeat]
    masks += [nonrepeat & ((labels & REGION_BITS[region]) != 0) for region in REGIONS]
    return masks


def _aligned_offsets(windows: pd.DataFrame, reader: PredictionReader) -> np.ndarray:
    """For each dataset window, the offset of its scores in the prediction arrays (-1 if not scored)."""
    unknown = pd.Index(reader.index["window_id"]).difference(windows["window_id"])
    if len(unknown):
        raise EvocaneError(f"{reader.dir}: {len(unknown)} scored window(s) are not in the dataset split, e.g. '{unknown[0]}'")
    joined = windows[["window_id", "length"]].merge(
        reader.index[["window_id", "offset", "length"]], on="window_id", how="left", suffixes=("", "_pred")
    )
    scored = joined["offset"].notna()
    bad = scored & (joined["length_pred"] != joined["length"])
    if bad.any():
        row = joined[bad].iloc[0]
        raise EvocaneError(f"{reader.dir}: window '{row.window_id}' has {int(row.length_pred)} scores for {int(row.length)} tokens")
    return joined["offset"].fillna(-1).to_numpy(dtype=np.int64)


def _read_scores(array: np.ndarray, pred_offsets: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Scores of a run of dataset windows, NaN for windows the prediction lacks."""
    if (pred_offsets >= 0).all():
        return gather(array, pred_offsets, lengths).astype(np.float32)
    out = np.full(int(lengths.sum()), np.nan, dtype=np.float32)
    position = 0
    for offset, length in zip(pred_offsets, lengths):
        if offset >= 0:
            out[position : position + length] = array[offset : offset + length]
        position += length
    return out


def window_sums(dataset: DatasetReader, split: str, reader: PredictionReader, common_with: PredictionReader | None = None) -> WindowSums:
    """Per-window, per-stratum sums of one prediction; with ``common_with``, only over positions both scored."""
    windows = dataset.split_windows(split)
    arrays = dataset.arrays(split)
    offsets = windows["offset"].to_numpy(dtype=np.int64)
    lengths = windows["length"].to_numpy(dtype=np.int64)
    pred_offsets = _aligned_offsets(windows, reader)
    other_offsets = _aligned_offsets(windows, common_with) if common_with is not None else None
    n_windows, n_strata = len(windows), len(POSITION_STRATA)
    nll = np.zeros((n_windows, n_strata))
    n = np.zeros((n_windows, n_strata))
    top1 = np.zeros((n_windows, n_strata)) if reader.top1 is not None else None
    for rows in window_chunks(lengths, CHUNK_BASES):
        chunk_lengths = lengths[rows]
        starts = np.concatenate([[0], np.cumsum(chunk_lengths)[:-1]])
        logprob = _read_scores(reader.logprob, pred_offsets[rows], chunk_lengths)
        scored = ~np.isnan(logprob)  # -inf (probability 0) is scored: an infinite loss, not a gap
        if other_offsets is not None:
            assert common_with is not None
            scored &= ~np.isnan(_read_scores(common_with.logprob, other_offsets[rows], chunk_lengths))
        labels = gather(arrays.labels, offsets[rows], chunk_lengths)
        weights = gather(arrays.weights, offsets[rows], chunk_lengths)
        negative = np.where(scored, -logprob.astype(np.float64), 0.0)
        credit = None
        if top1 is not None:
            assert reader.top1 is not None
            credit = np.nan_to_num(_read_scores(reader.top1, pred_offsets[rows], chunk_lengths).astype(np.float64))
        for s, mask in enumerate(position_masks(labels, weights, scored)):
            nll[rows, s] = np.add.reduceat(np.where(mask, negative, 0.0), starts)
            n[rows, s] = np.add.reduceat(mask.astype(np.float64), starts)
            if top1 is not None and credit is not None:
                top1[rows, s] = np.add.reduceat(np.where(mask, credit, 0.0), starts)
    return WindowSums(nll, n, top1)


def window_groups(windows: pd.DataFrame, columns: Sequence[str]) -> list[tuple[str, str, np.ndarray]]:
    """(column, value, indicator over windows) for every configured window-level stratum the table has."""
    groups = []
    for column in columns:
        if column not in windows.columns:
            log.warning("windows.parquet has no column '%s': not stratifying by it", column)
            continue
        values = windows[column]
        if pd.api.types.is_float_dtype(values) and values.nunique() > 12:
            values = pd.qcut(values, 4, duplicates="drop").astype(str)
        values = values.astype(str).fillna("NA")
        for value in sorted(values.unique(), key=_natural):
            groups.append((column, value, (values == value).to_numpy()))
    return groups


def _natural(text: str) -> tuple:
    """Order stratum values by their first number: "2" < "10"; bin labels "<0.01" < "0.01-0.05" < ">=0.5";
    values without a number (cultivar names, "unmeasured") after the numbers, alphabetically."""
    numbers = [float(n) for n in re.findall(r"\d+(?:\.\d+)?", text)]
    if not numbers:
        return (math.inf, 0, text)
    rank = 0 if text.startswith("<") else 2 if text.startswith(">") else 1
    return (min(numbers), rank, text)


@dataclass(frozen=True)
class Prediction:
    reader: PredictionReader

    @property
    def model(self) -> str:
        return str(self.reader.meta["model"])

    @property
    def config_model(self) -> str:
        return str(self.reader.meta.get("config_model", self.reader.meta["model"]))

    @property
    def engine(self) -> str:
        return str(self.reader.meta["engine"])

    @property
    def split(self) -> str:
        return str(self.reader.meta["split"])


def _statistics(sums: WindowSums, groups: list[tuple[str, str, np.ndarray]]) -> tuple[list[tuple[str, str, str]], np.ndarray, np.ndarray]:
    """(stratum_kind, stratum, metric) labels and the (W, Q) numerators/denominators of a model's metrics."""
    labels, numerators, denominators = [], [], []
    headline = POSITION_STRATA.index(HEADLINE)
    columns = [("region", stratum, s, None) for s, stratum in enumerate(POSITION_STRATA)]
    columns += [(kind, value, headline, indicator) for kind, value, indicator in groups]
    for kind, stratum, s, indicator in columns:
        weight = 1.0 if indicator is None else indicator.astype(np.float64)
        labels.append((kind, stratum, "bits_per_base"))
        numerators.append(sums.nll[:, s] * weight / LN2)
        denominators.append(sums.n[:, s] * weight)
        if sums.top1 is not None:
            labels.append((kind, stratum, "top1_accuracy"))
            numerators.append(sums.top1[:, s] * weight)
            denominators.append(sums.n[:, s] * weight)
    return labels, np.stack(numerators, axis=1), np.stack(denominators, axis=1)


def evaluate_variant(
    dataset_dir: str | Path, prediction_dirs: Sequence[str | Path], settings: EvaluationSettings, variant: str | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Metrics (long table, METRIC_COLUMNS) and per-window bits per base (WINDOW_COLUMNS) for every prediction."""
    dataset = DatasetReader(dataset_dir)
    predictions = [Prediction(PredictionReader(path)) for path in prediction_dirs]
    seen: set[tuple[str, str]] = set()
    for p in predictions:
        if (p.model, p.split) in seen:
            raise EvocaneError(f"{p.reader.dir}: model '{p.model}' on split '{p.split}' is given twice")
        seen.add((p.model, p.split))
    if variant is None:
        variant = str(predictions[0].reader.meta["variant"]) if predictions else Path(dataset_dir).name
    splits = [s for s in ("validation", "test", "train") if any(p.split == s for p in predictions)]
    sums = {(p.model, p.split): window_sums(dataset, p.split, p.reader) for p in predictions}
    baseline, selected_on = _best_baseline(predictions, sums, settings.baseline)
    metric_rows: list[dict] = []
    window_frames = []
    for split in splits:
        windows = dataset.split_windows(split)
        groups = window_groups(windows, settings.window_strata)
        split_predictions = [p for p in predictions if p.split == split]
        reference = next((q for q in split_predictions if baseline and q.model == baseline), None)
        blocks: list[tuple[Prediction, list[tuple[str, str, str]], str | None]] = []
        numerators, denominators = [], []
        for p in split_predictions:
            labels, num, den = _statistics(sums[(p.model, split)], groups)
            blocks.append((p, labels, None))
            numerators.append(num)
            denominators.append(den)
            if reference is not None:
                mine = window_sums(dataset, split, p.reader, common_with=reference.reader)
                theirs = window_sums(dataset, split, reference.reader, common_with=p.reader)
                delta = WindowSums(mine.nll - theirs.nll, mine.n, None if mine.top1 is None or theirs.top1 is None else mine.top1 - theirs.top1)
                labels, num, den = _statistics(delta, groups)
                blocks.append((p, [(k, s, f"delta_{m}") for k, s, m in labels], reference.model))
                numerators.append(num)
                denominators.append(den)
            window_frames.append(_window_table(windows, sums[(p.model, split)], p, split))
        if not numerators:
            continue
        intervals = bootstrap_ratios(
            np.concatenate(numerators, axis=1), np.concatenate(denominators, axis=1),
            settings.n_resamples, settings.confidence, settings.seed,
        )  # fmt: skip
        column = 0
        for (p, labels, against), den in zip(blocks, denominators):
            for q, (kind, stratum, metric) in enumerate(labels):
                bases = den[:, q]
                metric_rows.append({
                    "variant": variant, "split": split, "model": p.model, "config_model": p.config_model,
                    "engine": p.engine, "stratum_kind": kind, "stratum": stratum, "metric": metric,
                    "value": intervals.value[column], "ci_low": intervals.low[column], "ci_high": intervals.high[column],
                    "n_bases": int(bases.sum()), "n_windows": int(np.count_nonzero(bases)),
                    "baseline": against or "", "selected_on": selected_on if against else "",
                })  # fmt: skip
                column += 1
    metrics = pd.DataFrame(metric_rows, columns=METRIC_COLUMNS)
    metrics = pd.concat([metrics, _perplexity(metrics)], ignore_index=True)
    window_table = pd.concat(window_frames, ignore_index=True) if window_frames else pd.DataFrame(columns=WINDOW_COLUMNS)
    return metrics, window_table


def _perplexity(metrics: pd.DataFrame) -> pd.DataFrame:
    bits = metrics[metrics["metric"] == "bits_per_base"].copy()
    bits["metric"] = "perplexity"
    for column in ("value", "ci_low", "ci_high"):
        bits[column] = np.power(2.0, bits[column])
    return bits


def _best_baseline(predictions: Sequence[Prediction], sums: dict, baseline: str | None) -> tuple[str | None, str]:
    if not baseline:
        return None, ""
    members = [p for p in predictions if p.config_model == baseline]
    if not members:
        log.warning("no predictions of the baseline model '%s': no differences to it", baseline)
        return None, ""
    selection_split = "validation" if any(p.split == "validation" for p in members) else members[0].split
    headline = POSITION_STRATA.index(HEADLINE)
    scores = {
        p.model: float(ratio(sums[(p.model, p.split)].nll[:, headline].sum(), sums[(p.model, p.split)].n[:, headline].sum()))
        for p in members
        if p.split == selection_split
    }
    best = min(scores, key=lambda m: (np.nan_to_num(scores[m], nan=np.inf), m))
    log.info("best %s member on %s: %s (%.4f bits/base)", baseline, selection_split, best, scores[best] / LN2)
    return best, selection_split


def _window_table(windows: pd.DataFrame, sums: WindowSums, p: Prediction, split: str) -> pd.DataFrame:
    frames = []
    for s, stratum in enumerate(POSITION_STRATA):
        keep = sums.n[:, s] > 0
        frames.append(pd.DataFrame({
            "split": split, "model": p.model, "config_model": p.config_model,
            "window_id": windows["window_id"].to_numpy()[keep], "stratum": stratum,
            "bits_per_base": sums.nll[keep, s] / sums.n[keep, s] / LN2, "n_bases": sums.n[keep, s].astype(np.int64),
        }))  # fmt: skip
    return pd.concat(frames, ignore_index=True)


def read_metrics(path: str | Path) -> pd.DataFrame:
    """A metrics.tsv written by ``evocane nextbase`` (text columns kept as text, empty = "")."""
    text = ["variant", "split", "model", "config_model", "engine", "stratum_kind", "stratum", "metric", "baseline", "selected_on"]
    table = pd.read_csv(path, sep="\t", dtype={c: str for c in text})
    table[text] = table[text].fillna("")
    return table


def leaderboard_rows(metrics: pd.DataFrame) -> pd.DataFrame:
    """The headline next-base numbers in the leaderboard's long format (evocane.evaluate.leaderboard)."""
    region = metrics[metrics["stratum_kind"] == "region"]
    wanted = region[
        (region["stratum"].isin([HEADLINE, "repeat"]) & region["metric"].isin(["bits_per_base", "perplexity", "top1_accuracy"]))
        | ((region["stratum"] == HEADLINE) & region["metric"].isin(["delta_bits_per_base", "delta_top1_accuracy"]))
    ]
    out = pd.DataFrame({
        "task": "nextbase", "model": wanted["model"], "engine": wanted["engine"], "variant": wanted["variant"],
        "split": wanted["split"], "metric": wanted["metric"], "stratum": wanted["stratum"], "value": wanted["value"],
        "ci_low": wanted["ci_low"], "ci_high": wanted["ci_high"], "n": wanted["n_bases"],
    })  # fmt: skip
    return out.reset_index(drop=True)
