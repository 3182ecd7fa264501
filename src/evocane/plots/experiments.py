"""Figures of the experimental-data task."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from evocane.numerics import LN2, correlations  # noqa: E402


def score_vs_measurement(scores: pd.DataFrame) -> Figure:
    """One panel per model and score: the model's score of each element against its measurement, with Pearson r
    and Spearman rho in the title; colours = the table's group column."""
    score_columns = [c for c in ("loglik", "llr") if c in scores and scores[c].notna().any()]
    models = list(dict.fromkeys(scores["model"]))
    # the background model has no LLR against itself: no panel for it rather than an empty one
    panels = [(score, model) for score in score_columns for model in models if scores.loc[scores["model"] == model, score].notna().any()]
    columns = min(3, max(len(panels), 1))  # wrapped: the figure keeps the report's page width
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(10.0, 3.1 * rows), squeeze=False)
    has_groups = scores["group"].fillna("").astype(str).str.len().gt(0).any()
    for ax in axes.flat[len(panels) :]:
        ax.set_axis_off()
    for i, (ax, (score, model)) in enumerate(zip(axes.flat, panels)):
        data = scores[scores["model"] == model].assign(**{score: lambda t: t[score] / LN2})  # natural log -> bits
        sns.scatterplot(data=data, x=score, y="measurement", hue="group" if has_groups else None, ax=ax, s=14, legend=i == 0)
        if i == 0 and has_groups and ax.get_legend():
            ax.get_legend().set_title("group")
            ax.legend(fontsize=7, loc="best", frameon=True, framealpha=0.8)
        found = correlations(data[score].to_numpy(), data["measurement"].to_numpy())
        ax.set_title(f"{model} (n={len(data)})\nPearson r={found['pearson'][0]:.2f}, Spearman ρ={found['spearman'][0]:.2f}", fontsize=8)
        ax.set_xlabel("mean log2-likelihood (bits/base)" if score == "loglik" else "LLR vs Markov (bits/base)", fontsize=8)
    fig.tight_layout()
    return fig
