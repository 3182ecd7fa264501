"""Figures of the zero-shot regulatory-element task."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from evocane.numerics import LN2  # noqa: E402
from evocane.plots import WIDTH  # noqa: E402
from evocane.plots.palette import ModelPalette  # noqa: E402

KIND_LABELS = {"tss": "TSS (promoter)", "tis": "TIS (start codon)", "donor": "splice donor", "acceptor": "splice acceptor"}


def _empty(message: str) -> Figure:
    fig, ax = plt.subplots(figsize=(6, 2))
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True)
    return fig


def underpowered(low: pd.Series, high: pd.Series) -> pd.Series:
    """A CI that spans 0.5: the AUROC cannot be told from chance with this many sites."""
    return (low <= 0.5) & (high >= 0.5)


def ranking_bars(table: pd.DataFrame, palette: ModelPalette | None = None) -> Figure:
    """AUROC (with bootstrap CI) of sites against each kind of negative, per site kind, model and score; n (sites
    plus negatives) under each kind, hatched bars where the CI spans 0.5 (underpowered)."""
    data = table[table["metric"].str.startswith("auroc_")].copy()
    if data.empty:
        return _empty("no AUROC computed (no task window was scored)")
    data["score"] = data["metric"].str.replace("auroc_", "", regex=False).map({"loglik": "log-likelihood", "llr": "LLR vs Markov"})
    data["kind"] = data["stratum"].str.split("_vs_").str[0].map(KIND_LABELS)
    data["negative"] = "vs " + data["stratum"].str.split("_vs_").str[1]
    scores = list(dict.fromkeys(data["score"]))
    negatives = list(dict.fromkeys(data["negative"]))
    models = list(dict.fromkeys(data["model"]))
    fig, axes = plt.subplots(len(scores), len(negatives), figsize=(WIDTH, 3.0 * len(scores) + 0.8), squeeze=False, sharey=True)
    colours = (palette or ModelPalette.of(models)).colours(models)
    kinds = [KIND_LABELS[k] for k in KIND_LABELS if KIND_LABELS[k] in set(data["kind"])]
    width = 0.8 / max(len(models), 1)
    for row, score in enumerate(scores):
        for col, negative in enumerate(negatives):
            ax = axes[row][col]
            subset = data[(data["score"] == score) & (data["negative"] == negative)]
            for m, model in enumerate(models):
                part = subset[subset["model"] == model].set_index("kind").reindex(kinds)
                x = np.arange(len(kinds)) + (m - (len(models) - 1) / 2) * width
                low = (part["value"] - part["ci_low"]).clip(lower=0).fillna(0)
                high = (part["ci_high"] - part["value"]).clip(lower=0).fillna(0)
                weak = underpowered(part["ci_low"], part["ci_high"]).to_numpy()
                ax.bar(x[~weak], part["value"][~weak], width=width, color=colours[model], label=model, yerr=[low[~weak], high[~weak]], capsize=2)
                ax.bar(x[weak], part["value"][weak], width=width, color=colours[model], alpha=0.45, hatch="///", edgecolor="white",
                       yerr=[low[weak], high[weak]], capsize=2)  # fmt: skip
            counts = subset.drop_duplicates("kind").set_index("kind")["n"].reindex(kinds)
            ax.axhline(0.5, color="grey", linestyle=":", linewidth=1)
            ax.set_xticks(np.arange(len(kinds)), [f"{k}\n(n={int(n) if pd.notna(n) else 0})" for k, n in zip(kinds, counts)], fontsize=8)
            ax.set_ylim(0, 1)
            ax.set_title(f"{score}, sites {negative}", fontsize=10)
            ax.set_ylabel("AUROC" if col == 0 else "")
    handles = [plt.Rectangle((0, 0), 1, 1, color=colours[m]) for m in models]
    handles.append(plt.Rectangle((0, 0), 1, 1, facecolor="#bbbbbb", hatch="///", edgecolor="white"))
    fig.tight_layout()
    fig.legend(handles, [*models, "hatched: CI spans 0.5 (underpowered)"], loc="upper center", bbox_to_anchor=(0.5, 0.0),
               ncol=min(4, len(handles)), frameon=False, fontsize=8)  # fmt: skip
    return fig


def metaplots(profile: pd.DataFrame, palette: ModelPalette | None = None) -> Figure:
    """Position-wise mean log-probability and entropy (bits) around each site kind; solid = site windows, dotted
    = their dinucleotide-shuffled copies; x = position relative to the site."""
    if profile.empty:
        return _empty("no per-position profile (no task window was scored)")
    measures = [m for m in ("logprob", "entropy") if m in set(profile["measure"])]
    kinds = [k for k in KIND_LABELS if k in set(profile["site_kind"])]
    models = list(dict.fromkeys(profile["model"]))
    colours = (palette or ModelPalette.of(models)).colours(models)
    # one row per site kind, one column per measure: two columns keep the page width whatever the number of kinds
    fig, axes = plt.subplots(len(kinds), len(measures), figsize=(WIDTH, 2.6 * len(kinds) + 0.8), squeeze=False, sharex="row")
    for col, measure in enumerate(measures):
        for row, kind in enumerate(kinds):
            ax = axes[row][col]
            for model in models:
                for role, style in (("site", "-"), ("shuffled", ":")):
                    part = profile[(profile["measure"] == measure) & (profile["site_kind"] == kind) & (profile["model"] == model) & (profile["role"] == role)]
                    if part.empty:
                        continue
                    part = part.sort_values("position")
                    smooth = part["mean"].rolling(3, center=True, min_periods=1).mean()
                    ax.plot(part["position"], smooth, style, color=colours[model], linewidth=1.2, label=f"{model} ({role})")
            ax.axvline(0, color="black", linewidth=0.6)
            ax.set_title(f"{KIND_LABELS[kind]}: {'mean log2 P(observed base)' if measure == 'logprob' else 'entropy (bits)'}", fontsize=9)
            if row == len(kinds) - 1:
                ax.set_xlabel("position relative to site (bases, 5' to 3')")
    handles = [plt.Line2D([], [], color=colours[m]) for m in models] + [plt.Line2D([], [], color="grey", linestyle=s) for s in ("-", ":")]
    fig.tight_layout()
    fig.legend(handles, models + ["site windows", "shuffled copies"], loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=5, frameon=False, fontsize=8)
    return fig


def score_distributions(scores: pd.DataFrame) -> Figure:
    """Per-window score in bits per base (LLR against the Markov background where available, else
    log-likelihood) of sites, shuffled copies and GC-matched background, per site kind and model."""
    if scores.empty:
        return _empty("no scores")
    column = "llr" if "llr" in scores and scores["llr"].notna().any() else "loglik"
    data = scores.dropna(subset=[column]).copy()
    data[column] = data[column] / LN2  # the tables hold natural-log scores; the report shows bits
    data["kind"] = data["site_kind"].map(KIND_LABELS)
    models = list(dict.fromkeys(data["model"]))
    grid = sns.catplot(
        data=data, x="kind", y=column, hue="role", col="model", col_wrap=min(3, len(models)), kind="box",
        hue_order=["site", "shuffled", "background"], height=2.6, aspect=(WIDTH - 1.2) / 3 / 2.6, fliersize=1.5, sharey=False,
    )  # fmt: skip
    grid.set_axis_labels("", "LLR vs Markov (bits/base)" if column == "llr" else "mean log2-likelihood (bits/base)")
    for ax in grid.axes.flat:
        ax.tick_params(axis="x", rotation=15)
    return grid.figure
