"""Figures of the experimental-data task."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from evocane.numerics import correlations  # noqa: E402


def score_vs_measurement(scores: pd.DataFrame) -> Figure:
    """One panel per model and score: the model's score of each element against its measurement, with Pearson r
    and Spearman rho in the title; colours = the table's group column."""
    score_columns = [c for c in ("loglik", "llr") if c in scores and scores[c].notna().any()]
    models = list(dict.fromkeys(scores["model"]))
    fig, axes = plt.subplots(len(score_columns), len(models), figsize=(4.2 * len(models), 3.6 * len(score_columns)), squeeze=False)
    has_groups = scores["group"].fillna("").astype(str).str.len().gt(0).any()
    for row, score in enumerate(score_columns):
        for col, model in enumerate(models):
            ax = axes[row][col]
            data = scores[scores["model"] == model]
            if data[score].isna().all():
                ax.axis("off")
                ax.text(0.5, 0.5, f"{model}\nis the background model:\nno log-likelihood ratio", ha="center", va="center")
                continue
            sns.scatterplot(data=data, x=score, y="measurement", hue="group" if has_groups else None, ax=ax, s=18, legend=(row == 0 and col == len(models) - 1))
            found = correlations(data[score].to_numpy(), data["measurement"].to_numpy())
            ax.set_title(f"{model}\nPearson r={found['pearson'][0]:.2f}, Spearman ρ={found['spearman'][0]:.2f}", fontsize=9)
            ax.set_xlabel("mean log-likelihood (nats/base)" if score == "loglik" else "LLR vs Markov (nats/base)")
    fig.tight_layout()
    return fig
