"""Dataset figures: leakage audit and region composition per variant, and leakage across variants."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

SPLIT_COLOURS = {"train": "#4c72b0", "validation": "#dd8452", "test": "#c44e52"}
REGIONS = ["cds", "utr5", "utr3", "intron", "promoter", "intergenic", "repeat", "ambiguous"]


def leakage_figure(windows: pd.DataFrame, variant: str, bin_labels: Sequence[str]) -> Figure:
    """Left: distribution of each held-out window's k-mer containment in the training set. Right: share of
    windows per leakage bin."""
    held_out = windows[windows["split"].isin(["validation", "test"])]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [1.4, 1]})
    measured = held_out.dropna(subset=["leakage_containment"])
    if len(measured):
        sns.histplot(data=measured, x="leakage_containment", hue="split", hue_order=["validation", "test"], bins=np.linspace(0, 1, 21),
                     stat="probability", common_norm=False, element="step", palette=SPLIT_COLOURS, ax=left)  # fmt: skip
    left.set_xlim(0, 1)
    left.set_xlabel("containment of the window's k-mers in the training windows")
    left.set_ylabel("fraction of windows")
    left.set_title(f"{variant}: leakage of held-out windows")
    labels = [*bin_labels, "unmeasured"]
    shares = (
        held_out.groupby("split")["leakage_bin"].value_counts(normalize=True).unstack(fill_value=0.0)
        .reindex(index=["validation", "test"], columns=labels, fill_value=0.0)
    )  # fmt: skip
    colours = sns.color_palette("rocket_r", len(bin_labels)) + [(0.8, 0.8, 0.8)]
    shares.plot.barh(stacked=True, ax=right, color=colours, width=0.6)
    right.set_xlim(0, 1)
    right.set_xlabel("fraction of windows")
    right.set_ylabel("")
    right.set_title("windows per containment bin")
    right.legend(title="containment", loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


def composition_figure(windows: pd.DataFrame, variant: str) -> Figure:
    """Left: fraction of bases per region in each split (annotated windows; repeat/ambiguous over all windows).
    Right: windows per split and cultivar."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
    rows = []
    for split, part in windows.groupby("split", sort=False):
        annotated = part[part["annotated"]]
        for region in REGIONS:
            source = part if region in ("repeat", "ambiguous") else annotated
            value = float(source[f"{region}_fraction"].mean()) if len(source) else np.nan
            rows.append({"split": split, "region": region, "fraction": value})
    data = pd.DataFrame(rows)
    sns.barplot(data=data, x="region", y="fraction", hue="split", hue_order=[s for s in SPLIT_COLOURS if s in set(data["split"])],
                palette=SPLIT_COLOURS, ax=left)  # fmt: skip
    left.set_ylabel("mean fraction of window bases")
    left.set_xlabel("")
    left.set_title(f"{variant}: region composition")
    left.tick_params(axis="x", rotation=30)
    counts = windows.groupby(["split", "cultivar"]).size().unstack(fill_value=0).reindex([s for s in SPLIT_COLOURS if s in set(windows["split"])])
    counts.plot.bar(stacked=True, ax=right, color=sns.color_palette("Set2", counts.shape[1]), rot=0)
    right.set_ylabel("windows")
    right.set_xlabel("")
    right.set_title("windows per split and cultivar")
    right.legend(title="cultivar", frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


def comparison_figure(windows_by_variant: dict[str, pd.DataFrame]) -> Figure:
    """Cumulative distribution of held-out windows' containment, one line per variant, per held-out split."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    palette = dict(zip(windows_by_variant, sns.color_palette("tab10", len(windows_by_variant))))
    for ax, split in zip(axes, ("validation", "test")):
        for variant, windows in windows_by_variant.items():
            values = np.sort(windows.loc[windows["split"] == split, "leakage_containment"].dropna().to_numpy())
            if len(values):
                ax.step(values, np.arange(1, len(values) + 1) / len(values), where="post", label=variant, color=palette[variant])
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.01)
        ax.set_xlabel("containment of the window's k-mers in the training windows")
        ax.set_title(f"{split} windows")
    axes[0].set_ylabel("cumulative fraction of windows")
    axes[1].legend(title="variant", loc="lower right", frameon=False, fontsize=8)
    fig.tight_layout()
    return fig
