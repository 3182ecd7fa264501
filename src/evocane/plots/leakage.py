"""Leakage made visible: each model's headline score across dataset variants against the variants' mean test
containment (left), and a control variant's score per containment bin of its test windows (right)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from evocane.plots import WIDTH  # noqa: E402
from evocane.plots.palette import ModelPalette  # noqa: E402


def leakage_figure(scores: pd.DataFrame, bins: pd.DataFrame, control: str, palette: ModelPalette) -> Figure:
    """``scores``: variant, model, containment (mean over test windows), bits (test, non-repeat), one row per model
    evaluated on the variant; ``bins``: model, bin, bits, ci_low, ci_high, n_windows of the control's test windows
    per containment bin, in bin order. Models on a single variant are left out of the left panel."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(WIDTH, 4.6), gridspec_kw={"width_ratios": [1.15, 1]})
    counts = scores.groupby("model")["variant"].nunique()
    shown = scores[scores["model"].isin(counts[counts >= 2].index)]
    models = list(dict.fromkeys(shown["model"]))
    for model, group in shown.groupby("model", sort=False):
        group = group.sort_values("containment")
        member = bool(palette.baseline) and model.startswith(f"{palette.baseline}_")  # the baseline's orders: thin grey lines
        left.plot(group["containment"], group["bits"], marker="o", ms=4 if member else 6, lw=0.8 if member else 2.0,
                  color=palette.colour(model), label=model, zorder=2 if member else 3)  # fmt: skip
    for i, (variant, group) in enumerate(shown.sort_values("containment").groupby("variant", sort=False)):
        # staggered: variants with similar containment would print over each other
        left.annotate(variant, (group["containment"].iloc[0], group["bits"].max()), textcoords="offset points", xytext=(0, 8 + 11 * (i % 2)),
                      ha="center", fontsize=8, color="#374151")  # fmt: skip
    left.set_xlabel("mean containment of the test windows in training (k-mers)")
    left.set_ylabel("test bits per base, non-repeat (lower is better)")
    left.set_title("score against leakage, per dataset variant", fontsize=10)
    left.margins(x=0.12, y=0.15)
    part = bins[bins["model"].isin(models)] if models else bins
    order = list(dict.fromkeys(part["bin"]))
    positions = {b: i for i, b in enumerate(order)}
    step = 0.8 / max(part["model"].nunique(), 1)
    for j, (model, group) in enumerate(part.groupby("model", sort=False)):
        xs = [positions[b] - 0.4 + step * (j + 0.5) for b in group["bin"]]
        low = (group["bits"] - group["ci_low"]).clip(lower=0).fillna(0)
        high = (group["ci_high"] - group["bits"]).clip(lower=0).fillna(0)
        right.errorbar(xs, group["bits"], yerr=[low, high], fmt="o", ms=3, lw=0.8, capsize=1.5, color=palette.colour(model))
    windows = part.drop_duplicates("bin").set_index("bin")["n_windows"] if len(part) else pd.Series(dtype=float)
    right.set_xticks(range(len(order)), [f"{b}\n(n={int(windows.get(b, 0))})" for b in order], fontsize=8)
    right.set_xlabel(f"containment bin of {control}'s test windows (n = windows)")
    right.set_ylabel("test bits per base, non-repeat")
    right.set_title(f"{control}: score by containment bin", fontsize=10)
    handles, labels = left.get_legend_handles_labels()
    if handles:  # below both panels, off the data
        fig.legend(handles, labels, loc="lower center", ncol=min(6, len(labels)), frameon=False, fontsize=8, bbox_to_anchor=(0.5, 0.0))
    rows = -(-len(labels) // 6) if labels else 0
    fig.tight_layout(rect=(0, 0.05 * rows + 0.02, 1, 1))
    return fig
