"""Next-base metrics on hand-computed examples, bootstrap CI behaviour (against scipy.stats.bootstrap), and the
leaderboard's long format."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from evocane.dataset.arrays import AMBIGUOUS, CDS, INTERGENIC, INTRON, REPEAT, SPLITS, SplitArrayWriter
from evocane.errors import EvocaneError
from evocane.evaluate.bootstrap import bootstrap_ratios
from evocane.evaluate.leaderboard import LEADERBOARD_COLUMNS, combine, read_part, wide_table
from evocane.evaluate.nextbase import EvaluationSettings, evaluate_variant, leaderboard_rows
from evocane.predictions import PredictionWriter

L = math.log
NAN = float("nan")


def approx(value: float):  # type: ignore[no-untyped-def]
    """Log-probs are stored as float16 (about 3 significant digits)."""
    return pytest.approx(value, rel=1e-3, abs=1e-3)


def _dataset(path: Path) -> Path:
    windows = {
        "test": [
            ("t0", "A", b"ACGTN", [CDS, CDS, INTERGENIC | REPEAT, INTRON, AMBIGUOUS], [2, 2, 1, 2, 0]),
            ("t1", "B", b"ACGT", [INTERGENIC] * 4, [2, 2, 2, 2]),
        ],
        "validation": [("v0", "A", b"ACG", [INTERGENIC] * 3, [2, 2, 2])],
        "train": [("r0", "A", b"ACGT", [INTERGENIC] * 4, [2, 2, 2, 2])],
    }
    rows = []
    for split in SPLITS:
        writer = SplitArrayWriter(path, split)
        for window_id, cultivar, tokens, labels, weights in windows[split]:
            offset = writer.append(np.frombuffer(tokens, dtype=np.uint8), np.array(labels, dtype=np.uint8), np.array(weights, dtype=np.uint8))
            rows.append({"window_id": window_id, "cultivar": cultivar, "chrom": "c", "start": 0, "end": len(tokens), "strand": "+",
                         "split": split, "homology_group": "3", "homology_group2": "", "haplotype": "A", "offset": offset,
                         "length": len(tokens), "prefix_length": 0})  # fmt: skip
        writer.close()
    pd.DataFrame(rows).to_parquet(path / "windows.parquet", index=False)
    return path


def _predictions(path: Path, model: str, config_model: str, split: str, windows: dict[str, list[float]], top1: dict[str, list[float]] | None = None) -> Path:
    meta = {"model": model, "config_model": config_model, "engine": "hand", "variant": "v", "split": split}
    with PredictionWriter(path, meta) as writer:
        for window_id, values in windows.items():
            writer.add(window_id, np.array(values), top1=None if top1 is None else np.array(top1[window_id]))
    return path


@pytest.fixture()
def hand_metrics(tmp_path: Path) -> pd.DataFrame:
    dataset = _dataset(tmp_path / "ds")
    sets = [
        _predictions(tmp_path / "mA", "mA", "mA", "test",
                     {"t0": [NAN, L(1 / 2), L(1 / 4), L(1 / 8), L(1 / 2)], "t1": [NAN, L(1 / 2), L(1 / 2), L(1 / 4)]},
                     {"t0": [NAN, 1, 0, 0.5, 1], "t1": [NAN, 1, 0.25, 0]}),
        _predictions(tmp_path / "b1t", "base_k1", "base", "test", {"t0": [NAN, L(1 / 4), NAN, L(1 / 4), NAN], "t1": [NAN, L(1 / 4)] * 2}),
        _predictions(tmp_path / "b2t", "base_k2", "base", "test", {"t0": [NAN, L(1 / 4), NAN, L(1 / 4), NAN], "t1": [NAN] + [L(1 / 4)] * 3}),
        _predictions(tmp_path / "b1v", "base_k1", "base", "validation", {"v0": [NAN, L(1 / 4), L(1 / 4)]}),
        _predictions(tmp_path / "b2v", "base_k2", "base", "validation", {"v0": [NAN, L(1 / 2), L(1 / 2)]}),
    ]  # fmt: skip
    settings = EvaluationSettings(baseline="base", window_strata=("cultivar", "leakage_bin"), n_resamples=200, seed=1)
    metrics, windows = evaluate_variant(dataset, sets, settings)
    return metrics


def _value(metrics: pd.DataFrame, model: str, stratum: str, metric: str, kind: str = "region", split: str = "test") -> float:
    row = metrics[(metrics["model"] == model) & (metrics["stratum"] == stratum) & (metrics["metric"] == metric)
                  & (metrics["stratum_kind"] == kind) & (metrics["split"] == split)]  # fmt: skip
    assert len(row) == 1, (model, stratum, metric, kind, split)
    return float(row["value"].iloc[0])


def test_metrics_by_region_match_hand_computation(hand_metrics: pd.DataFrame) -> None:
    m = hand_metrics
    # scored = finite log-prob and weight != 0; t0 position 4 (N, weight 0) is left out although finite
    assert _value(m, "mA", "nonrepeat", "bits_per_base") == approx((1 + 3 + 1 + 1 + 2) / 5)
    assert _value(m, "mA", "nonrepeat", "perplexity") == approx(2 ** 1.6)
    assert _value(m, "mA", "nonrepeat", "top1_accuracy") == approx((1 + 0.5 + 1 + 0.25 + 0) / 5)
    assert _value(m, "mA", "all", "bits_per_base") == approx(10 / 6)
    assert _value(m, "mA", "repeat", "bits_per_base") == approx(2.0)
    assert _value(m, "mA", "repeat", "top1_accuracy") == approx(0.0)
    assert _value(m, "mA", "cds", "bits_per_base") == approx(1.0)
    assert _value(m, "mA", "intron", "bits_per_base") == approx(3.0)
    assert _value(m, "mA", "intergenic", "bits_per_base") == approx(4 / 3)
    assert math.isnan(_value(m, "mA", "utr5", "bits_per_base"))
    # window strata restrict the headline to windows of one cultivar; a missing column is skipped
    assert _value(m, "mA", "A", "bits_per_base", kind="cultivar") == approx(2.0)
    assert _value(m, "mA", "B", "bits_per_base", kind="cultivar") == approx(4 / 3)
    assert "leakage_bin" not in set(m["stratum_kind"])
    row = m[(m["model"] == "mA") & (m["stratum"] == "nonrepeat") & (m["metric"] == "bits_per_base") & (m["split"] == "test")].iloc[0]
    assert (row["n_bases"], row["n_windows"]) == (5, 2)
    # without top1.npy there is no accuracy
    assert not ((m["model"] == "base_k1") & (m["metric"] == "top1_accuracy")).any()


def test_difference_to_the_best_baseline_member_uses_common_positions(hand_metrics: pd.DataFrame) -> None:
    m = hand_metrics
    deltas = m[m["metric"] == "delta_bits_per_base"]
    assert set(deltas["baseline"]) == {"base_k2"} and set(deltas["selected_on"]) == {"validation"}
    # base_k2 is better on validation (1 bit vs 2) although both are equal on test
    # mA vs base_k2 on the 5 non-repeat positions both scored: (8 - 10) / 5
    assert _value(m, "mA", "nonrepeat", "delta_bits_per_base") == approx(-0.4)
    assert _value(m, "base_k2", "nonrepeat", "delta_bits_per_base") == approx(0.0)
    # base_k1 did not score t1 position 2 (NaN), so that position leaves both sides: equal bits
    assert _value(m, "base_k1", "nonrepeat", "delta_bits_per_base") == approx(0.0)
    assert _value(m, "mA", "A", "delta_bits_per_base", kind="cultivar") == approx((4 - 4) / 2)
    row = deltas[(deltas["model"] == "mA") & (deltas["stratum"] == "nonrepeat") & (deltas["split"] == "test")].iloc[0]
    assert row["ci_low"] <= -0.4 <= row["ci_high"]


def test_leaderboard_rows_hold_the_headline(hand_metrics: pd.DataFrame) -> None:
    rows = leaderboard_rows(hand_metrics)
    assert list(rows.columns) == LEADERBOARD_COLUMNS
    assert set(rows["task"]) == {"nextbase"}
    assert set(zip(rows["metric"], rows["stratum"])) >= {("bits_per_base", "nonrepeat"), ("bits_per_base", "repeat"),
                                                         ("perplexity", "nonrepeat"), ("top1_accuracy", "nonrepeat"),
                                                         ("delta_bits_per_base", "nonrepeat")}  # fmt: skip
    headline = rows[(rows["model"] == "mA") & (rows["metric"] == "bits_per_base") & (rows["stratum"] == "nonrepeat")]
    assert headline["value"].iloc[0] == approx(1.6) and headline["n"].iloc[0] == 5


def test_predictions_must_match_the_dataset(tmp_path: Path) -> None:
    dataset = _dataset(tmp_path / "ds")
    settings = EvaluationSettings(baseline=None, n_resamples=0)
    stranger = _predictions(tmp_path / "x", "m", "m", "test", {"zz": [NAN, -1.0]})
    with pytest.raises(EvocaneError, match="not in the dataset split.*zz"):
        evaluate_variant(dataset, [stranger], settings)
    short = _predictions(tmp_path / "y", "m", "m", "test", {"t1": [NAN, -1.0]})
    with pytest.raises(EvocaneError, match="window 't1' has 2 scores for 4 tokens"):
        evaluate_variant(dataset, [short], settings)


# --- bootstrap -------------------------------------------------------------------------------------------------------------
def test_bootstrap_of_identical_windows_has_zero_width() -> None:
    numerators = np.full((30, 1), 6.0)
    denominators = np.full((30, 1), 3.0)
    intervals = bootstrap_ratios(numerators, denominators, n_resamples=100, seed=0)
    assert intervals.value[0] == intervals.low[0] == intervals.high[0] == 2.0


def test_bootstrap_agrees_with_scipy_and_narrows_with_more_windows() -> None:
    rng = np.random.default_rng(42)
    bases = rng.integers(50, 150, size=200).astype(float)
    nll = bases * rng.normal(1.9, 0.3, size=200)
    ours = bootstrap_ratios(nll[:, None], bases[:, None], n_resamples=4000, seed=1)
    reference = stats.bootstrap((nll, bases), lambda a, b, axis=-1: a.sum(axis=axis) / b.sum(axis=axis), paired=True,
                                vectorized=True, n_resamples=4000, method="percentile", random_state=2)  # fmt: skip
    width = reference.confidence_interval.high - reference.confidence_interval.low
    assert abs(ours.low[0] - reference.confidence_interval.low) < 0.1 * width
    assert abs(ours.high[0] - reference.confidence_interval.high) < 0.1 * width
    assert ours.low[0] < nll.sum() / bases.sum() < ours.high[0]
    sixteen = bootstrap_ratios(np.tile(nll, 16)[:, None], np.tile(bases, 16)[:, None], n_resamples=2000, seed=1)
    ratio = (sixteen.high[0] - sixteen.low[0]) / (ours.high[0] - ours.low[0])
    assert 0.18 < ratio < 0.35  # ~ 1 / sqrt(16)


def test_bootstrap_is_seeded_and_pairs_statistics() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(2.0, 0.5, size=(100, 1)) * 100
    b = a + rng.normal(0.1, 0.01, size=(100, 1)) * 100  # b = a + a small, nearly constant shift
    den = np.full((100, 1), 100.0)
    first = bootstrap_ratios(np.hstack([a, b, b - a]), np.hstack([den, den, den]), n_resamples=500, seed=3)
    second = bootstrap_ratios(np.hstack([a, b, b - a]), np.hstack([den, den, den]), n_resamples=500, seed=3)
    np.testing.assert_array_equal(first.low, second.low)
    # the paired difference is far tighter than either model's own interval
    assert (first.high[2] - first.low[2]) < 0.1 * (first.high[0] - first.low[0])
    empty = bootstrap_ratios(np.zeros((5, 1)), np.zeros((5, 1)), n_resamples=50)
    assert np.isnan(empty.value[0]) and np.isnan(empty.low[0])
    none = bootstrap_ratios(a, den, n_resamples=0)
    assert np.isnan(none.low[0]) and none.value[0] == pytest.approx(a.sum() / den.sum())


# --- leaderboard -----------------------------------------------------------------------------------------------------------
def test_leaderboard_joins_parts_of_any_task(tmp_path: Path) -> None:
    nextbase = tmp_path / "nextbase.tsv"
    pd.DataFrame([{"task": "nextbase", "model": "markov_k3", "engine": "markov", "variant": "hg", "split": "test",
                   "metric": "bits_per_base", "stratum": "nonrepeat", "value": 1.91, "ci_low": 1.9, "ci_high": 1.92, "n": 1000}]
                 ).to_csv(nextbase, sep="\t", index=False)  # fmt: skip
    generation = tmp_path / "generation.csv"  # a later task: minimal columns, CSV
    pd.DataFrame([{"task": "generation", "model": "evo2_7b", "variant": "hg", "metric": "kmer_js_k6", "value": 0.02}]).to_csv(generation, index=False)
    board = combine([nextbase, generation])
    assert list(board.columns) == LEADERBOARD_COLUMNS and len(board) == 2
    assert board.loc[board["task"] == "generation", "stratum"].iloc[0] == ""
    wide = wide_table(board)
    assert wide.loc[wide["model"] == "markov_k3", "hg"].iloc[0] == "1.91 [1.9, 1.92]"
    assert wide.loc[wide["model"] == "evo2_7b", "hg"].iloc[0] == "0.02"
    with pytest.raises(EvocaneError, match="two parts give"):
        combine([nextbase, nextbase])


def test_leaderboard_parts_are_checked(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    pd.DataFrame([{"task": "x", "model": "m", "variant": "v", "metric": "m", "value": 1.0, "valeu": 2}]).to_csv(bad, index=False)
    with pytest.raises(EvocaneError, match="unknown leaderboard column.*valeu"):
        read_part(bad)
    pd.DataFrame([{"task": "x", "model": "m", "metric": "m", "value": 1.0}]).to_csv(bad, index=False)
    with pytest.raises(EvocaneError, match="lacks column.*variant"):
        read_part(bad)
