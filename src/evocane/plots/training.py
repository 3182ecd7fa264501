"""Training curves of trained models (the hf engine's ``metrics.tsv``): weighted training loss, validation loss
and plain validation NLL against tokens seen, one line per model and dataset variant."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from evocane.numerics import LN2  # noqa: E402
from evocane.plots import WIDTH  # noqa: E402

PANELS = (
    ("train_loss", "training loss\n(weighted, bits/base)"),
    ("val_loss", "validation loss\n(weighted, bits/base)"),
    ("val_nll", "validation NLL\n(all scored bases, bits/base)"),
)
UNIFORM_BITS = 2.0  # a uniform guess over A/C/G/T


def loss_curves(curves: Mapping[str, pd.DataFrame], line_styles: Mapping[str, str] | None = None, colours: Mapping[str, str] | None = None) -> Figure:
    """``curves``: label (e.g. "hf-pretrain on thaliana_pretrain") -> metrics table with columns tokens,
    train_loss, val_loss, val_nll; ``line_styles``: label -> matplotlib line style (runs that overlap stay
    visible). The metrics tables hold nats (the training loop's unit); the figure shows bits per base like every
    other figure of the report. A grey dashed line marks 2 bits, the loss of a uniform guess over A/C/G/T."""
    line_styles = line_styles or {}
    frames = []
    for label, table in curves.items():
        frame = table.copy()
        frame["run"] = label
        frames.append(frame)
    data = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["run", "tokens", *[p for p, _ in PANELS]])
    data["tokens (M)"] = data["tokens"].astype(float) / 1e6
    for column, _ in PANELS:
        data[column] = data[column].astype(float) / LN2
    fig, axes = plt.subplots(1, len(PANELS), figsize=(WIDTH, 3.8), squeeze=False)
    # the run's model colours (evocane.plots.palette); the same model on two variants: a different marker
    palette = {**dict(zip(curves, sns.color_palette("tab10", max(len(curves), 1)))), **(colours or {})}
    seen: dict[str, int] = {}
    markers = {}
    for label in curves:
        colour = palette[label]
        markers[label] = "osD^v"[seen.get(str(colour), 0) % 5]
        seen[str(colour)] = seen.get(str(colour), 0) + 1
    for ax, (column, title) in zip(axes[0], PANELS):
        subset = data.dropna(subset=[column])
        for label, group in subset.groupby("run", sort=False):
            ax.plot(group["tokens (M)"], group[column], marker=markers[label], markevery=max(1, len(group) // 8), ms=3, label=label, color=palette[label],
                    ls=line_styles.get(label, "-"))  # fmt: skip
        ax.axhline(UNIFORM_BITS, color="grey", ls="--", lw=0.8, label="uniform over A/C/G/T (2 bits)" if column == "train_loss" else None)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("tokens seen (millions)", fontsize=9)
        ax.set_xlim(left=0)
        values = subset[column]
        if len(values):  # a fresh model starts near log2 512 = 9 bits; zoom on the range where the models differ
            ax.set_ylim(min(values.min(), UNIFORM_BITS) - 0.05, min(values.max(), UNIFORM_BITS + 1.0) + 0.05)
    handles, labels = axes[0][0].get_legend_handles_labels()
    if not handles:
        for ax in axes[0]:
            ax.text(0.5, 0.5, "no trained model", ha="center", va="center", transform=ax.transAxes)
    else:
        rows = -(-len(labels) // 2)
        fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 2), fontsize=8, frameon=False, bbox_to_anchor=(0.5, 0.0))
        fig.tight_layout(rect=(0, 0.055 * rows + 0.02, 1, 1))
        return fig
    fig.tight_layout()
    return fig


def write_loss_curves(
    curves: Mapping[str, pd.DataFrame],
    rows: list[pd.DataFrame],
    table_path: Path,
    plot_path: Path,
    line_styles: Mapping[str, str] | None = None,
    colours: Mapping[str, str] | None = None,
) -> None:
    """Write every engine's training curves as one TSV (``rows``, one frame per checkpoint) and one figure."""
    from evocane.atomic import atomic_path

    combined = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=["model", "variant", "mode", "step"])
    with atomic_path(table_path) as temp:
        combined.to_csv(temp, sep="\t", index=False)
    figure = loss_curves(curves, line_styles, colours)
    with atomic_path(plot_path) as temp:
        figure.savefig(temp, format=plot_path.suffix.lstrip(".") or "png", dpi=110, bbox_inches="tight")
