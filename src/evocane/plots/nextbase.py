"""Next-base figures: bits per base by model and region with CIs, differences to the best Markov order, window
strata, per-window score distributions (violins), and the token-mode view of one window around a real site (start
codon, splice site or TSS: per-position heatmap of log2(P/0.25) for A/C/G/T with the observed base marked, and
per-position entropy). No figure is wider than WIDTH inches (the report's page at 110 dpi); models have the run's
shared colours (evocane.plots.palette); legends sit below the panels, off the data."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from evocane.dataset.arrays import CDS, INTRON, REGION_BITS, UTR5  # noqa: E402
from evocane.numerics import entropy_bits  # noqa: E402
from evocane.ordering import natural_sorted  # noqa: E402
from evocane.plots import WIDTH  # noqa: E402
from evocane.plots.palette import ModelPalette  # noqa: E402
from evocane.predictions import BASES  # noqa: E402

REGION_ORDER = ["nonrepeat", "all", "repeat", "cds", "utr5", "utr3", "intron", "promoter", "intergenic"]
REGION_PALETTE = "Set2"  # regions are categories too, never a sequential colour map


def message_figure(message: str) -> Figure:
    fig, ax = plt.subplots(figsize=(6, 2))
    ax.text(0.5, 0.5, message, ha="center", va="center")
    ax.set_axis_off()
    return fig


def _point_ranges(ax, data: pd.DataFrame, x: str, hue: str, hue_order: Sequence[str], x_order: Sequence[str], palette) -> None:  # type: ignore[no-untyped-def]
    """Points with precomputed CI bars (value, ci_low, ci_high), dodged by hue."""
    width = 0.7
    step = width / max(len(hue_order), 1)
    positions = {name: i for i, name in enumerate(x_order)}
    for j, level in enumerate(hue_order):
        subset = data[data[hue] == level]
        if subset.empty:
            continue
        xs = np.array([positions[v] for v in subset[x]]) - width / 2 + step * (j + 0.5)
        low = (subset["value"] - subset["ci_low"]).clip(lower=0).fillna(0)
        high = (subset["ci_high"] - subset["value"]).clip(lower=0).fillna(0)
        ax.errorbar(xs, subset["value"], yerr=[low, high], fmt="o", ms=4, capsize=2, lw=1, color=palette[level], label=level)
    ax.set_xticks(range(len(x_order)))
    ax.set_xticklabels(x_order, rotation=45, ha="right")


def _legend_below(fig: Figure, ax, title: str, ncol: int = 5) -> None:  # type: ignore[no-untyped-def]
    """The axes' legend under the figure, off the data."""
    handles, labels = ax.get_legend_handles_labels()
    fig.tight_layout()
    if handles:
        fig.legend(handles, labels, title=title, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=min(ncol, len(labels)), frameon=False, fontsize=8)


def bits_by_region(metrics: pd.DataFrame, split: str) -> Figure:
    """Bits per base (95 % CI) of every model, one colour per region stratum."""
    data = metrics[(metrics["split"] == split) & (metrics["stratum_kind"] == "region") & (metrics["metric"] == "bits_per_base")]
    data = data[data["n_bases"] > 0]
    if data.empty:
        return message_figure(f"no next-base metrics on {split}")
    models = natural_sorted(data["model"])
    regions = [r for r in REGION_ORDER if r in set(data["stratum"])]
    palette = dict(zip(regions, sns.color_palette(REGION_PALETTE, len(regions))))
    fig, ax = plt.subplots(figsize=(min(WIDTH, max(6, 0.5 * len(models) + 2)), 4.8))
    _point_ranges(ax, data, "model", "stratum", regions, models, palette)
    ax.axhline(2.0, color="grey", lw=0.8, ls=":")
    ax.set_ylabel("bits per base (lower is better)")
    ax.set_xlabel("")
    ax.set_title(f"next-base bits per base on {split}, by region (95 % bootstrap CI over windows)")
    _legend_below(fig, ax, "region")
    return fig


def delta_to_baseline(metrics: pd.DataFrame, split: str) -> Figure:
    """Model minus the best Markov order, bits per base on commonly scored positions, by region (95 % CI)."""
    data = metrics[(metrics["split"] == split) & (metrics["stratum_kind"] == "region") & (metrics["metric"] == "delta_bits_per_base")]
    data = data[data["n_bases"] > 0]
    if data.empty:
        return message_figure(f"no baseline differences on {split}")
    models = natural_sorted(data["model"])
    regions = [r for r in REGION_ORDER if r in set(data["stratum"])]
    palette = dict(zip(regions, sns.color_palette(REGION_PALETTE, len(regions))))
    fig, ax = plt.subplots(figsize=(min(WIDTH, max(6, 0.5 * len(models) + 2)), 4.8))
    _point_ranges(ax, data, "model", "stratum", regions, models, palette)
    ax.axhline(0.0, color="black", lw=0.8)
    baseline = data["baseline"].iloc[0]
    ax.set_ylabel(f"bits per base minus {baseline}")
    ax.set_xlabel("")
    ax.set_title(f"difference to the best Markov order ({baseline}, chosen on {data['selected_on'].iloc[0]}) on {split}")
    _legend_below(fig, ax, "region")
    return fig


def window_strata(metrics: pd.DataFrame, split: str, models: Sequence[str], palette: ModelPalette | None = None) -> Figure:
    """Headline (non-repeat) bits per base per cultivar, homology group and leakage bin (95 % CI), one panel per
    window column that has at least two values here (a single-value panel repeats the headline)."""
    palette = palette or ModelPalette.of(models)
    data = metrics[(metrics["split"] == split) & (metrics["stratum_kind"] != "region") & (metrics["metric"] == "bits_per_base")]
    data = data[data["model"].isin(models) & (data["n_bases"] > 0)]
    kinds = [k for k in dict.fromkeys(data["stratum_kind"]) if data.loc[data["stratum_kind"] == k, "stratum"].nunique() >= 2]
    if data.empty or not kinds:
        return message_figure(f"no window column with two or more values on {split}")
    models = [m for m in natural_sorted(models) if m in set(data["model"])]
    colours = palette.colours(models)
    fig, axes = plt.subplots(len(kinds), 1, figsize=(WIDTH * 0.8, 3.0 * len(kinds) + 0.6), squeeze=False)
    for ax, kind in zip(axes[:, 0], kinds):
        subset = data[data["stratum_kind"] == kind]
        values = list(dict.fromkeys(subset["stratum"]))
        windows = subset.drop_duplicates("stratum").set_index("stratum")["n_windows"]
        _point_ranges(ax, subset, "stratum", "model", models, values, colours)
        ax.set_xticklabels([f"{v}\n(n={int(windows.get(v, 0))})" for v in values], rotation=0, ha="center", fontsize=8)
        ax.set_title(f"by {kind} (n = windows)", fontsize=10)
        ax.set_ylabel("non-repeat bits per base")
    _legend_below(fig, axes[-1, 0], "model", ncol=6)
    return fig


def window_violins(windows: pd.DataFrame, split: str, min_bases: int = 20, palette: ModelPalette | None = None) -> Figure:
    """Per-window bits per base per model, one panel per region (windows with at least ``min_bases`` there), the
    panels stacked so the figure keeps the page width."""
    data = windows[(windows["split"] == split) & (windows["n_bases"] >= min_bases)]
    if data.empty:
        return message_figure(f"no windows with >= {min_bases} scored bases on {split}")
    regions = [r for r in REGION_ORDER if r in set(data["stratum"]) and r != "all"]
    models = natural_sorted(data["model"])
    palette = palette or ModelPalette.of(models)
    fig, axes = plt.subplots(len(regions), 1, figsize=(WIDTH, 2.4 * len(regions) + 0.8), squeeze=False, sharex=True)
    for ax, region in zip(axes[:, 0], regions):
        subset = data[data["stratum"] == region]
        sns.violinplot(data=subset, x="model", y="bits_per_base", order=models, hue="model", hue_order=models,
                       palette=palette.colours(models), cut=0, inner="quartile", linewidth=0.6, density_norm="width", ax=ax, legend=False)  # fmt: skip
        ax.set_title(f"{region} ({subset['window_id'].nunique()} windows)", fontsize=9)
        ax.set_xlabel("")
        ax.set_ylabel("bits/base per window", fontsize=8)
    axes[-1, 0].tick_params(axis="x", rotation=60, labelsize=7)
    fig.tight_layout()
    return fig


SITE_PREFERENCE = ("start codon", "splice donor", "splice acceptor", "TSS")


def find_sites(tokens: np.ndarray, labels: np.ndarray) -> list[tuple[int, str]]:
    """Real sites in a window, from its region labels and bases (windows are stored on their own strand): a start
    codon (a CDS starting with ATG after 5' UTR or non-coding sequence), a splice donor (CDS or UTR followed by an
    intron starting GT), a splice acceptor (an intron ending AG), a TSS (a 5' UTR starting after non-transcribed
    sequence). (position, kind), in window order."""
    bases = bytes(tokens).upper()
    cds = (labels & CDS) != 0
    intron = (labels & INTRON) != 0
    utr5 = (labels & UTR5) != 0
    sites = []
    for p in range(1, len(labels) - 2):
        if cds[p] and not cds[p - 1] and not intron[p - 1] and bases[p : p + 3] == b"ATG":
            sites.append((p, "start codon"))
        elif intron[p] and not intron[p - 1] and bases[p : p + 2] == b"GT":
            sites.append((p, "splice donor"))
        elif intron[p - 1] and not intron[p] and bases[p - 2 : p] == b"AG":
            sites.append((p, "splice acceptor"))
        elif utr5[p] and not utr5[p - 1] and not intron[p - 1] and not cds[p - 1]:
            sites.append((p, "TSS"))
    return sites


def best_site(tokens: np.ndarray, labels: np.ndarray) -> tuple[int, str] | None:
    """The window's most telling site (SITE_PREFERENCE order, then the first), or None."""
    sites = find_sites(tokens, labels)
    if not sites:
        return None
    return min(sites, key=lambda site: (SITE_PREFERENCE.index(site[1]), site[0]))


def heatmap_span(labels: np.ndarray, span: int, centre: int | None = None) -> slice:
    """The ``span`` positions to draw: centred on ``centre`` (a site), else starting shortly before the first CDS
    start inside the window, else at 1."""
    if centre is not None:
        first = centre - span // 2
    else:
        cds = (labels & REGION_BITS["cds"]) != 0
        starts = np.flatnonzero(cds[1:] & ~cds[:-1]) + 1
        first = int(starts[0]) - span // 5 if len(starts) else 1
    first = max(1, min(first, len(labels) - span))
    return slice(first, min(len(labels), first + span))


def window_token_view(
    window_id: str, tokens: np.ndarray, labels: np.ndarray, distributions: Mapping[str, np.ndarray], span: int = 100
) -> Figure:
    """For each model: heatmap of log2(P / 0.25) of A/C/G/T per position (above 0 = more likely than a uniform
    guess) with the observed base outlined, and the entropy of the predicted distribution (bits) per position,
    around the window's best site; a region strip on top."""
    models = natural_sorted(distributions)
    if not models:
        return message_figure(f"no distributions kept for window {window_id}")
    site = best_site(tokens, labels)
    piece = heatmap_span(labels, span, site[0] if site else None)
    positions = np.arange(piece.start, piece.stop)
    observed = np.frombuffer(bytes(tokens[piece]).upper(), dtype=np.uint8)
    heights = [0.35] + [1.2, 0.7] * len(models)
    fig, axes = plt.subplots(len(heights), 1, figsize=(min(WIDTH, max(7, len(positions) * 0.1)), sum(heights) + 1.6),
                             gridspec_kw={"height_ratios": heights}, sharex=True)  # fmt: skip
    region_names = ["cds", "utr5", "utr3", "intron", "promoter", "intergenic", "repeat"]
    strip = np.array([[next((i for i, r in enumerate(region_names) if labels[p] & REGION_BITS[r]), len(region_names)) for p in positions]])
    region_colours = sns.color_palette(REGION_PALETTE, len(region_names)) + [(1, 1, 1)]
    axes[0].imshow(strip, aspect="auto", cmap=matplotlib.colors.ListedColormap(region_colours), vmin=-0.5, vmax=len(region_names) + 0.5,
                   extent=(positions[0] - 0.5, positions[-1] + 0.5, 0, 1))  # fmt: skip
    axes[0].set_yticks([])
    where = f"{site[1]} at position {site[0]}" if site else "no annotated site in the window"
    axes[0].set_title(f"window {window_id}: {where} (dashed line)", fontsize=9)
    norm = matplotlib.colors.TwoSlopeNorm(vmin=-4.0, vcenter=0.0, vmax=2.0)
    for m, model in enumerate(models):
        heat_ax, entropy_ax = axes[1 + 2 * m], axes[2 + 2 * m]
        distribution = np.asarray(distributions[model], dtype=np.float64)[piece]
        log_odds = np.log2(np.clip(distribution, 1e-6, 1.0) / 0.25)
        image = heat_ax.imshow(log_odds.T, aspect="auto", cmap="RdBu_r", norm=norm,
                               extent=(positions[0] - 0.5, positions[-1] + 0.5, 3.5, -0.5))  # fmt: skip
        for x, base in zip(positions, observed):
            if chr(base) in BASES:
                row = BASES.index(chr(base))
                heat_ax.add_patch(matplotlib.patches.Rectangle((x - 0.5, row - 0.5), 1, 1, fill=False, ec="black", lw=0.7))
        heat_ax.set_yticks(range(4), list(BASES))
        heat_ax.set_ylabel(model, fontsize=8)
        entropy_ax.plot(positions, entropy_bits(distribution), color="black", lw=0.9)
        entropy_ax.set_ylim(0, 2.05)
        entropy_ax.set_ylabel("entropy\n(bits)", fontsize=7)
        for ax in (heat_ax, entropy_ax):
            if site:
                ax.axvline(site[0] - 0.5, color="#4b5563", ls="--", lw=0.8)
    fig.colorbar(image, ax=list(axes[1:]), pad=0.01, fraction=0.02, label="log2(P / 0.25)")
    handles = [matplotlib.patches.Patch(color=c, label=r) for r, c in zip(region_names, region_colours)]
    fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=len(handles), frameon=False, fontsize=7, title="region (top strip)")
    axes[-1].set_xlabel("position in window (black box = observed base)")
    return fig


def ranked_windows(windows: pd.DataFrame, dataset_windows: pd.DataFrame, split: str, models: Sequence[str], count: int) -> pd.DataFrame:
    """The ``count`` best- and worst-scored windows (headline bits per base) of each model, with their location."""
    data = windows[(windows["split"] == split) & (windows["stratum"] == "nonrepeat") & windows["model"].isin(models)]
    location = [c for c in ("window_id", "cultivar", "chrom", "start", "end", "strand", "homology_group") if c in dataset_windows.columns]
    frames = []
    for model in natural_sorted(data["model"]):
        subset = data[data["model"] == model].sort_values(["bits_per_base", "window_id"])
        for kind, picked in (("best", subset.head(count)), ("worst", subset.tail(count).iloc[::-1])):
            picked = picked.assign(rank=np.arange(1, len(picked) + 1), ranking=kind)
            frames.append(picked)
    if not frames:
        return pd.DataFrame(columns=["model", "ranking", "rank", *location, "bits_per_base", "n_bases"])
    table = pd.concat(frames, ignore_index=True).merge(dataset_windows[location], on="window_id", how="left")
    return table[["model", "ranking", "rank", *location, "bits_per_base", "n_bases"]]
