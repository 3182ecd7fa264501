"""Genome QC figures."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from evocane.ordering import natural_sorted  # noqa: E402
from evocane.plots import WIDTH  # noqa: E402


def record_composition(table: pd.DataFrame) -> Figure:
    """Per record: length (Mb), GC, soft-masked and N fraction, coloured by homology group, one row per cultivar."""
    data = table.copy()
    data["length_mb"] = data["length"] / 1e6
    data["group"] = data.apply(
        lambda r: f"HG{r.homology_group}" + (f"+{r.homology_group2}" if str(r.homology_group2) not in ("", "nan") else "")
        if r.kind == "placed" else r.kind, axis=1,
    )  # fmt: skip
    metrics = [("length_mb", "length (Mb)"), ("gc_fraction", "GC fraction"),
               ("softmasked_fraction", "soft-masked fraction"), ("n_fraction", "N fraction")]  # fmt: skip
    cultivars = list(dict.fromkeys(data["cultivar"]))
    most_records = int(data.groupby("cultivar").size().max())
    row_height = max(2.2, 0.16 * most_records + 0.8)  # a sugarcane cultivar's ~130 records stay legible
    fig, axes = plt.subplots(len(cultivars), len(metrics), figsize=(WIDTH, row_height * len(cultivars)), squeeze=False)
    tick_size = 8 if most_records <= 40 else 6
    groups = natural_sorted(data["group"].astype(str))  # natural order: HG2 before HG10
    palette = dict(zip(groups, sns.color_palette("tab20", len(groups))))
    for row, cultivar in enumerate(cultivars):
        subset = data[data["cultivar"] == cultivar]
        for col, (metric, label) in enumerate(metrics):
            ax = axes[row][col]
            sns.barplot(data=subset, y="record", x=metric, hue="group", palette=palette, dodge=False, ax=ax, legend=False)
            ax.set_xlabel(label)
            ax.set_xlim(left=0, right=max(ax.get_xlim()[1], 1e-3))
            ax.set_ylabel(cultivar if col == 0 else "")
            ax.tick_params(axis="y", labelsize=tick_size)
            if col:
                ax.set_yticklabels([])
    handles = [Patch(color=colour, label=group) for group, colour in palette.items()]
    fig.tight_layout()
    # above the panels, in rows: a legend beside them would widen the figure past the page
    fig.legend(handles=handles, title="homology group", loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=min(8, len(handles)),
               frameon=False, fontsize=8)  # fmt: skip
    return fig


def gc_vs_softmask(table: pd.DataFrame) -> Figure:
    """Scatter of GC fraction against soft-masked fraction, one point per record, size ∝ length."""
    fig, ax = plt.subplots(figsize=(6, 4.5))
    sns.scatterplot(data=table, x="gc_fraction", y="softmasked_fraction", hue="cultivar", size="length",
                    sizes=(20, 300), alpha=0.8, ax=ax)  # fmt: skip
    ax.set_xlabel("GC fraction (of A/C/G/T)")
    ax.set_ylabel("soft-masked (lowercase) fraction")
    ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False, fontsize=8)
    fig.tight_layout()
    return fig
