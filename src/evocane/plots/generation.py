"""Figures of the generation task."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import logomaker  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

SOURCE_ORDER = ["truth", "greedy", "sampled", "genome"]


def gc_bars(per_sequence: pd.DataFrame) -> Figure:
    """GC per prompt: the true continuation, the greedy continuation and the mean of the samples (bar = mean,
    error bar = s.d. over samples), one panel per model; dashed line = mean GC of held-out genome pieces."""
    models = list(dict.fromkeys(per_sequence["model"]))
    n_prompts = per_sequence.loc[per_sequence["source"] == "truth", "prompt_id"].nunique()
    fig, axes = plt.subplots(len(models), 1, figsize=(max(6, 0.7 * n_prompts + 3), 2.8 * len(models)), squeeze=False)
    colours = dict(zip(SOURCE_ORDER, sns.color_palette("Set2", len(SOURCE_ORDER))))
    for ax, model in zip(axes[:, 0], models):
        data = per_sequence[(per_sequence["model"] == model) & (per_sequence["source"] != "genome")]
        prompts = sorted(data.loc[data["source"] == "truth", "prompt_id"].unique())
        summary = data.groupby(["prompt_id", "source"])["gc"].agg(["mean", "std"]).reset_index()
        sources = [s for s in ("truth", "greedy", "sampled") if s in set(summary["source"])]
        width = 0.8 / len(sources)
        for i, source in enumerate(sources):
            part = summary[summary["source"] == source].set_index("prompt_id").reindex(prompts)
            x = np.arange(len(prompts)) + (i - (len(sources) - 1) / 2) * width
            ax.bar(x, part["mean"], width=width, yerr=part["std"].fillna(0), capsize=2, color=colours[source], label=source)
        genome_gc = per_sequence.loc[(per_sequence["model"] == model) & (per_sequence["source"] == "genome"), "gc"].mean()
        ax.axhline(genome_gc, color="black", linestyle="--", linewidth=0.8, label="held-out genome")
        ax.set_xticks(np.arange(len(prompts)), [p if len(p) < 24 else "…" + p[-22:] for p in prompts], rotation=40, ha="right", fontsize=7)
        ax.set_ylabel("GC fraction")
        ax.set_title(model)
        ax.set_ylim(0, 1)
    axes[0, 0].legend(fontsize=8, ncol=4, loc="lower right", bbox_to_anchor=(1.0, 1.08), frameon=False)  # above the bars
    fig.tight_layout()
    return fig


def kmer_divergence(divergence: pd.DataFrame) -> Figure:
    """Jensen-Shannon divergence of k-mer spectra (k = 1..6): samples vs true continuations and vs held-out genome,
    greedy vs truth, and the truth vs genome level as the floor that sampling noise alone reaches."""
    grid = sns.relplot(data=divergence, x="k", y="js_divergence", hue="model", style="comparison", kind="line", markers=True,
                       height=3.6, aspect=1.5)  # fmt: skip
    grid.set_axis_labels("k", "JS divergence (bits)")
    return grid.figure


def sequence_properties(per_sequence: pd.DataFrame, identities: pd.DataFrame) -> Figure:
    """Greedy and sampled identity to the truth per prompt; repeat fraction (12-mers seen twice), low-complexity
    (DUST) fraction and length of sampled, greedy, true and genome sequences, per model."""
    lengths = per_sequence[per_sequence["source"].isin(["sampled", "greedy"])]
    varied = lengths["length"].nunique() > 1  # a length histogram of one value would be an empty panel: left out
    fig, grid = plt.subplots(2 if varied else 1, 2 if varied else 3, figsize=(10.0, 7.2 if varied else 3.8), squeeze=False)
    axes = list(grid.flat)
    melted = identities.melt(id_vars=["model", "prompt_id"], value_vars=["greedy_identity", "sample_identity"], var_name="which", value_name="identity")
    # seaborn 0.13 draws the strip jitter from numpy's global generator and bootstraps bar CIs unseeded: seed both
    # so the figure's bytes depend on the data only
    state = np.random.get_state()
    np.random.seed(0)
    try:
        sns.stripplot(data=melted, x="model", y="identity", hue="which", dodge=True, ax=axes[0], size=4)
    finally:
        np.random.set_state(state)
    axes[0].axhline(0.25, color="grey", linestyle=":", linewidth=0.8)
    axes[0].set_ylim(0, 1)
    axes[0].set_title("identity to the true continuation")
    axes[0].tick_params(axis="x", rotation=20)
    order = [s for s in SOURCE_ORDER if s in set(per_sequence["source"])]
    for ax, measure, title in ((axes[1], "repeat_fraction", "repeat fraction (12-mer twice)"), (axes[2], "low_complexity_fraction", "low-complexity fraction (DUST)")):
        sns.barplot(data=per_sequence, x="source", y=measure, hue="model", order=order, ax=ax, errorbar=("ci", 95), seed=0)
        ax.set_title(title, fontsize=9)
        ax.set_ylim(0, 1)
        ax.set_xlabel("")
        ax.get_legend().remove() if ax.get_legend() else None
    if varied:
        sns.histplot(data=lengths, x="length", hue="model", ax=axes[3], element="step")
        axes[3].set_title("length of generated sequences")
    else:
        value = int(lengths["length"].iloc[0]) if len(lengths) else 0
        fig.suptitle(f"every generated sequence has {value} bases", fontsize=9, y=1.0)
    for ax in axes:
        ax.tick_params(axis="x", labelsize=7)
    fig.tight_layout()
    return fig


def _observed(counts: pd.DataFrame) -> pd.DataFrame:
    """The positions (rows, index kept) where some sequence has a base: beyond the shortest continuation, or under
    an N, a position has no counts and no information content (logomaker refuses the NaN it would give)."""
    return counts.loc[counts.sum(axis=1) > 0]


def logos(samples: dict[str, pd.DataFrame], truth: pd.DataFrame, prompt_id: str) -> Figure:
    """Sequence logos (information content, logomaker) of the samples each model drew from one prompt, above the
    one-hot logo of the true continuation."""
    rows = len(samples) + 1
    fig, axes = plt.subplots(rows, 1, figsize=(min(10.0, max(8, 0.16 * len(truth))), 1.5 * rows), squeeze=False, sharex=True)
    for ax, (model, counts) in zip(axes[:-1, 0], samples.items()):
        info = logomaker.transform_matrix(_observed(counts), from_type="counts", to_type="information", pseudocount=0.0)
        logomaker.Logo(info, ax=ax, color_scheme="classic")
        ax.set_ylim(0, 2)
        ax.set_ylabel("bits")
        ax.set_title(f"{model}: {int(counts.sum(axis=1).max())} samples from prompt {prompt_id}", fontsize=9)
    ax = axes[-1, 0]
    info = logomaker.transform_matrix(_observed(truth), from_type="counts", to_type="information", pseudocount=0.0)
    logomaker.Logo(info, ax=ax, color_scheme="classic")
    ax.set_ylim(0, 2)
    ax.set_title("true continuation", fontsize=9)
    ax.set_xlabel("generated position")
    fig.tight_layout()
    return fig
