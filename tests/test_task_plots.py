"""The task figures show bits: the scores tables hold natural-log values (the prediction contract's unit), the
figures divide by ln 2. Checked against log2 of the probabilities the scores came from, not against the code's own
constant."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd

from evocane.plots.experiments import score_vs_measurement
from evocane.plots.regulatory import score_distributions
from evocane.plots.variants import delta_by_class


def _probabilities(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.05, 0.6, n)


def test_score_vs_measurement_plots_log2_of_the_probabilities() -> None:
    probability = _probabilities(12, 1)
    scores = pd.DataFrame({"model": "markov_k3", "loglik": np.log(probability), "llr": np.nan,
                           "measurement": np.arange(12.0), "group": ""})  # fmt: skip
    figure = score_vs_measurement(scores)
    ax = figure.axes[0]
    assert "bits/base" in ax.get_xlabel()
    drawn = np.asarray(ax.collections[0].get_offsets())[:, 0]
    np.testing.assert_allclose(np.sort(drawn), np.sort(np.log2(probability)), rtol=1e-12)


def test_variant_effect_deltas_are_drawn_in_bits() -> None:
    ref, alt = _probabilities(40, 2), _probabilities(40, 3)
    scores = pd.DataFrame({"model": "markov_k3", "pair_id": [f"v{i}" for i in range(40)],
                           "variant_class": ["missense", "synonymous"] * 20, "delta_loglik": np.log(alt) - np.log(ref)})  # fmt: skip
    metrics = pd.DataFrame({"model": ["markov_k3"], "metric": ["auroc"], "stratum": ["deleterious_vs_synonymous"],
                            "value": [0.6], "ci_low": [0.4], "ci_high": [0.8], "n": [40]})  # fmt: skip
    figure = delta_by_class(scores, metrics)
    top = figure.axes[0]
    assert "bits" in top.get_ylabel() and "nats" not in top.get_ylabel()
    expected = np.log2(alt / ref)
    # the box whiskers span the data (no outliers beyond 1.5 IQR in a uniform sample of this size): the drawn y range
    # lies within the bits values and covers most of them, and not the natural-log values' wider range
    lines = np.concatenate([line.get_ydata() for line in top.lines if len(line.get_ydata())])
    lines = lines[np.isfinite(lines) & (lines != 0)]
    assert lines.min() >= expected.min() - 1e-9 and lines.max() <= expected.max() + 1e-9
    assert lines.max() - lines.min() > 0.8 * (expected.max() - expected.min())  # nats would span 0.69 of it


def test_regulatory_score_distributions_are_in_bits() -> None:
    probability = _probabilities(30, 4)
    scores = pd.DataFrame({"model": "markov_k3", "site_kind": "tss", "role": ["site", "shuffled", "background"] * 10,
                           "loglik": np.log(probability)})  # fmt: skip
    figure = score_distributions(scores)
    ax = figure.axes[0]
    assert "bits/base" in ax.get_ylabel()
    expected = np.log2(probability)
    drawn = np.concatenate([line.get_ydata() for line in ax.lines if len(line.get_ydata())])
    drawn = drawn[np.isfinite(drawn)]
    # whiskers end on data points: the lowest drawn value is the lowest score in bits, not in nats
    assert drawn.min() >= expected.min() - 1e-9
    assert drawn.min() < np.log(probability).min()
