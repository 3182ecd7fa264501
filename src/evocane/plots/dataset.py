"""Dataset figures: leakage audit and region composition per variant, and leakage across variants; and the two
dataset steps that draw them (rules dataset_audit and dataset_comparison, ``evocane dataset-audit|dataset-compare``),
which sit here, above the dataset room, because they write figures."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from evocane.atomic import atomic_path  # noqa: E402
from evocane.dataset.arrays import SPLITS  # noqa: E402
from evocane.dataset.steps import VariantPaths  # noqa: E402
from evocane.errors import EvocaneError  # noqa: E402

SPLIT_COLOURS = {"train": "#4c72b0", "validation": "#dd8452", "test": "#c44e52"}
REGIONS = ["cds", "utr5", "utr3", "intron", "promoter", "intergenic", "repeat", "ambiguous"]


def leakage_figure(windows: pd.DataFrame, variant: str, bin_labels: Sequence[str]) -> Figure:
    """Left: distribution of each held-out window's k-mer containment in the training set. Right: share of
    windows per leakage bin."""
    held_out = windows[windows["split"].isin(["validation", "test"])]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.0, 4), gridspec_kw={"width_ratios": [1.4, 1]})
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
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.5, 4))
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
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
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


# --- the steps that draw them -------------------------------------------------------------------------------------
def audit_step(
    spec: Mapping[str, Any],
    variant_dir: str | Path,
    sketches: Sequence[str | Path],
    table_out: str | Path,
    leakage_plot: str | Path,
    composition_plot: str | Path,
    signature_out: str | Path,
) -> None:
    from evocane.dataset.leakage import audit_table, load_sketch, save_signature, union

    paths = VariantPaths(Path(variant_dir))
    windows = pd.read_parquet(paths.windows)
    manifest = json.loads(paths.manifest.read_text())
    removed = {split: manifest["splits"][split]["removed_for_leakage"] for split in SPLITS}
    table = audit_table(windows, manifest["leakage_bins"], removed)
    with atomic_path(table_out) as temp:
        table.to_csv(temp, sep="\t", index=False)
    leakage = spec["leakage"]
    hashes = union([load_sketch(path) for path in sketches]) if leakage["enabled"] else union([])
    save_signature(hashes, leakage["ksize"], leakage["scaled"], f"evocane {spec['name']} training windows", signature_out)
    for path, figure in ((leakage_plot, leakage_figure(windows, spec["name"], manifest["leakage_bins"])), (composition_plot, composition_figure(windows, spec["name"]))):
        _save_figure(figure, path)


def _save_figure(figure: Figure, path: str | Path) -> None:
    path = Path(path)
    with atomic_path(path) as temp:
        figure.savefig(temp, format=path.suffix.lstrip(".") or "png", dpi=110, bbox_inches="tight", metadata=_figure_metadata(path))
    plt.close(figure)


def _figure_metadata(path: Path) -> dict[str, Any]:
    """No creation date or software version in the file, so the same data gives the same bytes."""
    suffix = path.suffix.lower()
    if suffix == ".png":
        return {"Software": None}
    if suffix == ".svg":
        return {"Date": None, "Creator": None}
    if suffix == ".pdf":
        return {"CreationDate": None, "Creator": None, "Producer": None}
    return {}


def comparison_step(variants: Mapping[str, str | Path], table_out: str | Path, plot_out: str | Path) -> None:
    from evocane.dataset.leakage import comparison_row

    windows_by_variant = {}
    rows = []
    for name, variant_dir in variants.items():
        paths = VariantPaths(Path(variant_dir))
        manifest = json.loads(paths.manifest.read_text())
        windows = pd.read_parquet(paths.windows, columns=["split", "leakage_containment"])
        windows_by_variant[name] = windows
        rows.extend(comparison_row(name, manifest["spec"]["split"]["strategy"], windows))
    if not rows:
        raise EvocaneError("dataset comparison: no variants given")
    with atomic_path(table_out) as temp:
        pd.DataFrame(rows).to_csv(temp, sep="\t", index=False)
    _save_figure(comparison_figure(windows_by_variant), plot_out)
