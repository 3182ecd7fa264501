"""What a study hands on: best.yaml (the best complete trial's values, nested as model params), the trials table
and the study's figures (`evocane hpo-summary`, rule hpo_summary)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
import yaml

from evocane.atomic import atomic_path
from evocane.errors import EvocaneError
from evocane.hpo.study import SLOT, StudySpec, nested, open_study

FIGURES = ("history", "importances", "parallel", "intermediate")


def trials_table(study: optuna.Study) -> pd.DataFrame:
    rows = []
    for trial in study.get_trials(deepcopy=False):
        rows.append({
            "number": trial.number, "slot": trial.user_attrs.get(SLOT), "state": trial.state.name, "value": trial.value,
            "duration_s": trial.duration.total_seconds() if trial.duration else None,
            "last_step": max(trial.intermediate_values) if trial.intermediate_values else None,
            **{f"param.{key}": value for key, value in sorted(trial.params.items())},
        })  # fmt: skip
    return pd.DataFrame(rows)


def best_values(spec: StudySpec, study: optuna.Study) -> dict[str, Any]:
    complete = [t for t in study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        raise EvocaneError(f"study '{spec.name}': no trial completed (see {spec.storage_url}); nothing to hand on")
    best = min(complete, key=lambda t: (t.value, t.number))
    counts = {state.name.lower(): sum(t.state == state for t in study.get_trials(deepcopy=False)) for state in optuna.trial.TrialState}
    return {
        "study": spec.name, "model": spec.model, "variant": spec.variant, "objective": "validation non-repeat bits per base",
        "best_trial": best.number, "value": best.value, "params": nested(best.params), "trials": counts,
    }  # fmt: skip


def write_summary(config: Mapping[str, Any], study_name: str, best_yaml: Path, table: Path, figure_paths: Mapping[str, Path]) -> dict[str, Any]:
    from matplotlib import pyplot as plt

    from evocane.plots.hpo import study_figures

    spec = StudySpec.from_config(config, study_name)
    study = open_study(spec)
    best = best_values(spec, study)
    with atomic_path(best_yaml) as temp:
        temp.write_text(yaml.safe_dump(best, sort_keys=False))
    with atomic_path(table) as temp:
        trials_table(study).to_csv(temp, sep="\t", index=False, float_format="%.6g")
    for name, figure in study_figures(study).items():
        path = Path(figure_paths[name])
        with atomic_path(path) as temp:
            figure.savefig(temp, format=path.suffix.lstrip(".") or "png", dpi=110, bbox_inches="tight")
        plt.close(figure)
    return best


def read_best_params(path: str | Path) -> dict[str, Any]:
    """The params of a study's best.yaml (for a model with params_from_hpo)."""
    path = Path(path)
    if not path.is_file():
        raise EvocaneError(f"{path}: no best.yaml (run the study first)")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data.get("params"), dict):
        raise EvocaneError(f"{path}: no 'params' mapping")
    return data["params"]
