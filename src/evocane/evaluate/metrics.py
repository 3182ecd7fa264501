"""Metrics shared by the benchmark's tasks: ranking (AUROC, AUPRC) with bootstrap confidence intervals, k-mer
spectra and their divergence, and the long table format of the tasks. Correlations and per-position entropy, which
the figures compute too, are in :mod:`evocane.numerics`.

Every metric here is a plain function of numpy arrays so it can be checked against an independent computation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import product

import numpy as np
import pandas as pd
from scipy import stats

# The long format of every task table: the leaderboard's columns (evocane.evaluate.leaderboard.LEADERBOARD_COLUMNS).
LONG_COLUMNS = ["task", "model", "engine", "variant", "split", "metric", "stratum", "value", "ci_low", "ci_high", "n"]


def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve = P(score of a random positive > score of a random negative), ties counting 1/2
    (the Mann-Whitney U statistic over n_pos * n_neg). NaN when a class is empty."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=bool)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = stats.rankdata(scores)  # average ranks for ties
    u = ranks[labels].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))


def auprc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Average precision (area under the precision-recall curve, step interpolation as scikit-learn's
    average_precision_score): sum over distinct thresholds of (recall gain) x precision. Tied scores enter
    together. NaN without positives."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=bool)
    n_pos = int(labels.sum())
    if n_pos == 0:
        return float("nan")
    order = np.argsort(-scores, kind="mergesort")
    sorted_scores, sorted_labels = scores[order], labels[order]
    # the last index of every run of equal scores is a threshold
    last_of_run = np.r_[np.nonzero(np.diff(sorted_scores))[0], len(sorted_scores) - 1]
    true_positives = np.cumsum(sorted_labels)[last_of_run]
    predicted = last_of_run + 1
    precision = true_positives / predicted
    recall = true_positives / n_pos
    recall_gain = np.diff(np.r_[0.0, recall])
    return float(np.sum(recall_gain * precision))


def bootstrap_ci(
    statistic: Callable[..., float],
    arrays: tuple[np.ndarray, ...],
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    strata: np.ndarray | None = None,
) -> tuple[float, float, float]:
    """(estimate, low, high): the statistic on the data and a percentile bootstrap interval over resampled rows.

    With ``strata`` (e.g. the class labels of a ranking metric) rows are resampled within each stratum, so every
    replicate keeps the class sizes and the ranking metric stays defined. Replicates giving NaN are dropped.
    """
    estimate = float(statistic(*arrays))
    n = len(arrays[0])
    if n == 0 or n_boot <= 0:
        return estimate, float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    groups = [np.arange(n)] if strata is None else [np.nonzero(strata == value)[0] for value in np.unique(strata)]
    replicates = np.empty(n_boot)
    for b in range(n_boot):
        index = np.concatenate([rng.choice(group, size=len(group), replace=True) for group in groups if len(group)])
        replicates[b] = statistic(*(np.asarray(a)[index] for a in arrays))
    replicates = replicates[np.isfinite(replicates)]
    if len(replicates) == 0:
        return estimate, float("nan"), float("nan")
    alpha = (1 - confidence) / 2
    low, high = np.quantile(replicates, [alpha, 1 - alpha])
    return estimate, float(low), float(high)


def ranking_metrics(scores: np.ndarray, labels: np.ndarray, n_boot: int, seed: int) -> dict[str, tuple[float, float, float]]:
    """AUROC and AUPRC with class-stratified bootstrap intervals."""
    labels = np.asarray(labels, dtype=bool)
    return {
        "auroc": bootstrap_ci(auroc, (scores, labels), n_boot, seed=seed, strata=labels),
        "auprc": bootstrap_ci(auprc, (scores, labels), n_boot, seed=seed, strata=labels),
    }


def mean_ci(values: np.ndarray, n_boot: int, seed: int) -> tuple[float, float, float]:
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return float("nan"), float("nan"), float("nan")
    return bootstrap_ci(lambda v: float(np.mean(v)), (values,), n_boot, seed=seed)


# --- sequences -------------------------------------------------------------------------------------------------------
def kmer_spectrum(sequences: Iterable[str | bytes], k: int) -> np.ndarray:
    """Counts of the 4^k upper-case A/C/G/T k-mers (lexicographic order) over all sequences; k-mers containing any
    other symbol are skipped. Vectorised: base codes -> rolling base-4 index."""
    counts = np.zeros(4**k, dtype=np.int64)
    code = np.full(256, -1, dtype=np.int64)
    for value, base in enumerate(b"ACGT"):
        code[base] = value
        code[base + 32] = value  # lower case
    for sequence in sequences:
        raw = sequence.encode() if isinstance(sequence, str) else bytes(sequence)
        if len(raw) < k:
            continue
        codes = code[np.frombuffer(raw, dtype=np.uint8)]
        windows = np.lib.stride_tricks.sliding_window_view(codes, k)
        valid = (windows >= 0).all(axis=1)
        index = (windows[valid] * (4 ** np.arange(k - 1, -1, -1))).sum(axis=1)
        counts += np.bincount(index, minlength=4**k)
    return counts


def kmer_names(k: int) -> list[str]:
    return ["".join(p) for p in product("ACGT", repeat=k)]


def js_divergence(p_counts: np.ndarray, q_counts: np.ndarray) -> float:
    """Jensen-Shannon divergence in bits (0 identical .. 1 disjoint) between two count vectors; NaN if either is
    empty."""
    p = np.asarray(p_counts, dtype=np.float64)
    q = np.asarray(q_counts, dtype=np.float64)
    if p.sum() == 0 or q.sum() == 0:
        return float("nan")
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2

    def kl(a: np.ndarray, b: np.ndarray) -> float:
        nonzero = a > 0
        return float(np.sum(a[nonzero] * np.log2(a[nonzero] / b[nonzero])))

    return 0.5 * kl(p, m) + 0.5 * kl(q, m)


def long_rows(
    identity: dict[str, str],
    task: str,
    metrics: dict[str, tuple[float, float, float]],
    n: int | dict[str, int],
    stratum: str = "",
) -> list[dict[str, object]]:
    """Rows of the long table (the leaderboard's columns) for one task and stratum; ``identity`` gives model,
    engine, variant and split."""
    rows = []
    for metric, (value, low, high) in metrics.items():
        rows.append(
            {"task": task, **{key: identity[key] for key in ("model", "engine", "variant", "split")}, "metric": metric,
             "stratum": stratum, "value": value, "ci_low": low, "ci_high": high, "n": n[metric] if isinstance(n, dict) else n}
        )  # fmt: skip
    return rows


def long_table(rows: list[dict[str, object]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=LONG_COLUMNS)
