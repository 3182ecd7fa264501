"""Figures of an Optuna study (Optuna's own matplotlib visualisations, one figure each, report width)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import optuna  # noqa: E402
from matplotlib import pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

WIDTH, HEIGHT = 8.0, 4.5  # inches at 110 dpi: fits the report's page width


def _message(text: str) -> Figure:
    fig, ax = plt.subplots(figsize=(WIDTH, 1.5))
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True)
    ax.set_axis_off()
    return fig


def _sized(axes: object, title: str) -> Figure:
    first = axes[0] if hasattr(axes, "__len__") else axes  # type: ignore[index]
    fig = first.figure
    fig.set_size_inches(WIDTH, HEIGHT)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def study_figures(study: optuna.Study) -> dict[str, Figure]:
    """history, importances, parallel coordinates and intermediate values; a note where a figure cannot say
    anything yet (fewer than two complete trials)."""
    from optuna.visualization import matplotlib as vis

    complete = [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]
    figures: dict[str, Figure] = {}
    if complete:
        figures["history"] = _sized(vis.plot_optimization_history(study, target_name="validation bits/base"), "Optimisation history (lower is better)")
    else:
        figures["history"] = _message("no trial completed")
    if len(complete) >= 2 and len(complete[0].params) >= 1:
        figures["importances"] = _sized(vis.plot_param_importances(study), "Parameter importances (fANOVA, complete trials)")
        figures["parallel"] = _sized(vis.plot_parallel_coordinate(study, target_name="validation bits/base"), "Parallel coordinates")
    else:
        note = "fewer than two complete trials: no importances or parallel coordinates"
        figures["importances"] = _message(note)
        figures["parallel"] = _message(note)
    if any(t.intermediate_values for t in study.get_trials(deepcopy=False)):
        figures["intermediate"] = _sized(vis.plot_intermediate_values(study), "Validation bits/base at each evaluation step")
    else:
        figures["intermediate"] = _message("no intermediate values reported")
    return figures
