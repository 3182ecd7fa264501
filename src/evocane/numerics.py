"""Plain numeric functions that both the evaluation and the figures compute: correlations and per-position
entropy. numpy and scipy only, so every layer may import them."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

LN2 = math.log(2.0)  # natural-log scores (the prediction contract's unit) divided by LN2 are bits


def correlations(x: np.ndarray, y: np.ndarray) -> dict[str, tuple[float, float]]:
    """Pearson and Spearman correlation with their two-sided p-values (scipy), over rows where both are finite."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return {"pearson": (float("nan"), float("nan")), "spearman": (float("nan"), float("nan"))}
    pearson = stats.pearsonr(x, y)
    spearman = stats.spearmanr(x, y)
    return {
        "pearson": (float(pearson.statistic), float(pearson.pvalue)),
        "spearman": (float(spearman.statistic), float(spearman.pvalue)),
    }


def entropy_bits(distributions: np.ndarray) -> np.ndarray:
    """Per-position Shannon entropy (bits) of (L, 4) probability rows."""
    p = np.clip(np.asarray(distributions, dtype=np.float64), 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, -p * np.log2(p), 0.0)
    return terms.sum(axis=1)
