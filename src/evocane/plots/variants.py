"""Figures of the variant-effect task."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

CLASS_ORDER = ["nonsense", "missense", "synonymous", "splice_site", "utr", "intron", "intergenic", "stop_lost"]


def delta_by_class(scores: pd.DataFrame, metrics_table: pd.DataFrame) -> Figure:
    """Left: Delta log-likelihood (alt - ref, nats, whole window) per variant class and model. Right: AUROC of
    nonsense+missense against synonymous and of splice sites against intron bases, with bootstrap CIs."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.2), gridspec_kw={"width_ratios": [3, 1.2]})
    if scores.empty:
        left.text(0.5, 0.5, "no variant scored", ha="center")
        return fig
    order = [c for c in CLASS_ORDER if c in set(scores["variant_class"])]
    models = list(dict.fromkeys(scores["model"]))
    palette = dict(zip(models, sns.color_palette("tab10", len(models))))
    sns.boxplot(data=scores, x="variant_class", y="delta_loglik", hue="model", order=order, hue_order=models, palette=palette,
                fliersize=1.5, ax=left)  # fmt: skip
    left.axhline(0, color="grey", linewidth=0.8, linestyle=":")
    left.set_xlabel("")
    left.set_ylabel("Δ log-likelihood (alt − ref, nats)")
    left.legend(title="model", fontsize=8)
    auroc = metrics_table[metrics_table["metric"] == "auroc"]
    contrasts = list(dict.fromkeys(auroc["stratum"]))
    width = 0.8 / max(len(models), 1)
    for m, model in enumerate(models):
        part = auroc[auroc["model"] == model].set_index("stratum").reindex(contrasts)
        x = np.arange(len(contrasts)) + (m - (len(models) - 1) / 2) * width
        yerr = [(part["value"] - part["ci_low"]).clip(lower=0).fillna(0), (part["ci_high"] - part["value"]).clip(lower=0).fillna(0)]
        right.bar(x, part["value"], width=width, color=palette[model], yerr=yerr, capsize=2)
    right.axhline(0.5, color="grey", linestyle=":", linewidth=1)
    right.set_xticks(np.arange(len(contrasts)), [c.replace("_vs_", "\nvs ").replace("deleterious", "nonsense+missense") for c in contrasts])
    right.set_ylim(0, 1)
    right.set_ylabel("AUROC (score = −Δ)")
    fig.tight_layout()
    return fig
