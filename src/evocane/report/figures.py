"""The report room's figure: the data of the leakage figure (evocane.plots.leakage) from the leaderboard, the
variants' containment and the control's per-bin metrics, and a byte-stable save."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd
from matplotlib import pyplot as plt
from matplotlib.figure import Figure

from evocane.atomic import atomic_path
from evocane.plots.leakage import leakage_figure
from evocane.plots.palette import ModelPalette
from evocane.report.summary import BITS, Variant, headline_rows


def leakage_inputs(board: pd.DataFrame, variants: Sequence[Variant], containment: Mapping[str, float],
                   metrics: Mapping[str, pd.DataFrame], palette: ModelPalette) -> Figure:  # fmt: skip
    shown = [v for v in variants if v.role in ("benchmark", "control")]
    frames = []
    for v in shown:
        rows = headline_rows(board, v.name)
        rows = rows[rows["metric"] == BITS]
        frames.append(pd.DataFrame({"variant": v.name, "model": rows["model"], "containment": containment.get(v.name), "bits": rows["value"]}))
    scores = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["variant", "model", "containment", "bits"])
    control = next((v.name for v in shown if v.role == "control"), shown[-1].name if shown else "")
    table = metrics.get(control, pd.DataFrame(columns=["split", "stratum_kind", "stratum", "metric", "model"]))
    part = table[(table["split"] == "test") & (table["stratum_kind"] == "leakage_bin") & (table["metric"] == BITS) & (table["stratum"] != "unmeasured")]
    bins = pd.DataFrame({"model": part.get("model"), "bin": part.get("stratum"), "bits": part.get("value"), "ci_low": part.get("ci_low"),
                         "ci_high": part.get("ci_high"), "n_windows": part.get("n_windows")})  # fmt: skip
    return leakage_figure(scores, bins.reset_index(drop=True), control, palette)


def save_figure(figure: Figure, path: str | Path, dpi: int = 110) -> None:
    """Atomically, without a date or software version in the file (same data, same bytes)."""
    path = Path(path)
    suffix = path.suffix.lstrip(".").lower() or "png"
    metadata = {"png": {"Software": None}, "svg": {"Date": None, "Creator": None}, "pdf": {"CreationDate": None, "Creator": None, "Producer": None}}
    with atomic_path(path) as temp:
        figure.savefig(temp, format=suffix, dpi=dpi, bbox_inches="tight", metadata=metadata.get(suffix, {}))
    plt.close(figure)
