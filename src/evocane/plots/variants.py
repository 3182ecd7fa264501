"""Figures of the variant-effect task."""

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
from evocane.plots.regulatory import underpowered  # noqa: E402

CLASS_ORDER = ["nonsense", "missense", "synonymous", "splice_site", "utr", "intron", "intergenic", "stop_lost"]


def delta_by_class(scores: pd.DataFrame, metrics_table: pd.DataFrame, palette: ModelPalette | None = None) -> Figure:
    """Top: Delta log-likelihood (alt - ref, bits, whole window) per variant class and model, n = variants per class.
    Bottom: AUROC of nonsense+missense against synonymous and of splice sites against intron bases, with bootstrap
    CIs and n; hatched where the CI spans 0.5 (underpowered)."""
    fig, (left, right) = plt.subplots(2, 1, figsize=(WIDTH, 7.2), gridspec_kw={"height_ratios": [1.4, 1]})
    if scores.empty:
        left.text(0.5, 0.5, "no variant scored", ha="center")
        return fig
    order = [c for c in CLASS_ORDER if c in set(scores["variant_class"])]
    models = list(dict.fromkeys(scores["model"]))
    colours = (palette or ModelPalette.of(models)).colours(models)
    in_bits = scores.assign(delta_loglik=scores["delta_loglik"] / LN2)  # the table holds natural-log differences
    sns.boxplot(data=in_bits, x="variant_class", y="delta_loglik", hue="model", order=order, hue_order=models, palette=colours,
                fliersize=1.5, ax=left)  # fmt: skip
    counts = scores.groupby("variant_class")["pair_id"].nunique() if "pair_id" in scores else scores.groupby(["variant_class", "model"]).size().groupby("variant_class").max()
    left.set_xticks(range(len(order)), [f"{c}\n(n={int(counts.get(c, 0))})" for c in order], fontsize=8)
    left.axhline(0, color="grey", linewidth=0.8, linestyle=":")
    left.set_xlabel("")
    left.set_ylabel("Δ log2-likelihood (alt − ref, bits)")
    left.legend(title="model", fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    auroc = metrics_table[metrics_table["metric"] == "auroc"]
    contrasts = list(dict.fromkeys(auroc["stratum"]))
    width = 0.8 / max(len(models), 1)
    for m, model in enumerate(models):
        part = auroc[auroc["model"] == model].set_index("stratum").reindex(contrasts)
        x = np.arange(len(contrasts)) + (m - (len(models) - 1) / 2) * width
        yerr = [(part["value"] - part["ci_low"]).clip(lower=0).fillna(0), (part["ci_high"] - part["value"]).clip(lower=0).fillna(0)]
        weak = underpowered(part["ci_low"], part["ci_high"]).to_numpy()
        right.bar(x[~weak], part["value"][~weak], width=width, color=colours[model], yerr=[e[~weak] for e in yerr], capsize=2)
        right.bar(x[weak], part["value"][weak], width=width, color=colours[model], alpha=0.45, hatch="///", edgecolor="white",
                  yerr=[e[weak] for e in yerr], capsize=2)  # fmt: skip
    n = auroc.drop_duplicates("stratum").set_index("stratum")["n"].reindex(contrasts)
    right.axhline(0.5, color="grey", linestyle=":", linewidth=1)
    right.set_title("hatched: CI spans 0.5 (underpowered)", fontsize=9)
    right.set_xticks(np.arange(len(contrasts)), [f"{c.replace('_vs_', ' vs ').replace('deleterious', 'nonsense+missense')} (n={int(v) if pd.notna(v) else 0})" for c, v in zip(contrasts, n)], fontsize=8)
    right.set_ylim(0, 1)
    right.set_ylabel("AUROC (score = −Δ)")
    fig.tight_layout()
    return fig
