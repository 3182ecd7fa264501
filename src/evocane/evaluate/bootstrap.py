"""Bootstrap confidence intervals for ratio statistics, resampling windows.

Every next-base metric is a ratio of per-window sums (bits = sum of -log2 p / bases scored; accuracy = sum of
top-1 credits / bases scored; a model-minus-baseline difference = sum of the paired differences / common bases).
One resample draws W windows with replacement, i.e. a multinomial count vector c (W,), and every statistic is
(c @ numerator) / (c @ denominator). Drawing the count matrix once and multiplying it with all statistics at once
keeps them paired (the same resampled windows for every model, stratum and difference) and costs one matrix product
per batch of resamples. scipy.stats.bootstrap computes the same percentile interval for one statistic (the tests
check it), but indexes every sample array per resample, which is too slow and memory-hungry for hundreds of paired
statistics over thousands of windows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Intervals:
    value: np.ndarray  # (Q,) point estimates on the full data (NaN where the denominator is 0)
    low: np.ndarray  # (Q,)
    high: np.ndarray  # (Q,)


def ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1.0), np.nan)


def bootstrap_ratios(
    numerators: np.ndarray,
    denominators: np.ndarray,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    batch: int = 100,
) -> Intervals:
    """Percentile bootstrap over rows (windows) for Q ratio statistics.

    ``numerators`` and ``denominators``: (W, Q) per-window sums. A resample in which a statistic's denominator is
    0 (its stratum absent from every drawn window) does not count for that statistic. With ``n_resamples`` 0 the
    intervals are NaN.
    """
    numerators = np.asarray(numerators, dtype=np.float64)
    denominators = np.asarray(denominators, dtype=np.float64)
    if numerators.shape != denominators.shape or numerators.ndim != 2:
        raise ValueError("numerators and denominators must be (windows, statistics) arrays of one shape")
    n_windows, n_stats = numerators.shape
    value = ratio(numerators.sum(axis=0), denominators.sum(axis=0))
    if n_resamples <= 0 or n_windows == 0:
        nan = np.full(n_stats, np.nan)
        return Intervals(value, nan, nan.copy())
    rng = np.random.default_rng(seed)
    draws = np.empty((n_resamples, n_stats))
    uniform = np.full(n_windows, 1.0 / n_windows)
    for start in range(0, n_resamples, batch):
        size = min(batch, n_resamples - start)
        counts = rng.multinomial(n_windows, uniform, size=size).astype(np.float64)
        draws[start : start + size] = ratio(counts @ numerators, counts @ denominators)
    alpha = (1.0 - confidence) / 2.0
    with np.errstate(invalid="ignore"):
        all_nan = np.isnan(draws).all(axis=0)
        low = np.full(n_stats, np.nan)
        high = np.full(n_stats, np.nan)
        if (~all_nan).any():
            low[~all_nan] = np.nanquantile(draws[:, ~all_nan], alpha, axis=0)
            high[~all_nan] = np.nanquantile(draws[:, ~all_nan], 1.0 - alpha, axis=0)
    return Intervals(value, low, high)
