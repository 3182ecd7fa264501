"""One trial of a study, as one Snakemake job runs it (`evocane hpo-trial`): ask the shared study for values, train
the model with them on the variant's train split, report non-repeat bits per base on the validation split at every
evaluation step (the pruner may stop the trial there), and tell the study the final value: the same statistic over
the validation split (or a seeded sample of it) scored by the engine as every benchmark score is. Never the test
split."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import optuna

from evocane import layout
from evocane.atomic import atomic_path
from evocane.config import validate_section
from evocane.dataset.arrays import DatasetReader
from evocane.engines.base import ModelConfig, get_engine
from evocane.errors import EvocaneError
from evocane.evaluate.nextbase import HEADLINE, POSITION_STRATA, window_sums
from evocane.hpo.study import SLOT, StudySpec, fail_stale_trials, finished_trial, merged_params, nested, open_study, suggest
from evocane.numerics import LN2
from evocane.predictions import PredictionReader, prediction_dirs

log = logging.getLogger(__name__)
# the value each evaluation step reports: non-repeat (full-weight) bases of the validation windows, bits per base
INTERMEDIATE = "val_nonrepeat_bits"


def trial_params(config: Mapping[str, Any], spec: StudySpec, values: Mapping[str, Any]) -> dict[str, Any]:
    """The model's params for a trial: its configured params, the study's fixed params, then the trial's values;
    validated against the engine's params schema (defaults filled)."""
    entry = dict(config["models"][spec.model])
    entry["params"] = merged_params(entry.get("params") or {}, spec.params, nested(values))
    validated = validate_section("models", {spec.model: entry})
    return dict(validated[spec.model]["params"])


def nonrepeat_bits(dataset_dir: Path, prediction_set: Path, split: str) -> float:
    """Non-repeat bits per base of a prediction set over a split (the benchmark's headline statistic)."""
    dataset = DatasetReader(dataset_dir)
    column = POSITION_STRATA.index(HEADLINE)
    nll = total = 0.0
    for directory in prediction_dirs(prediction_set):
        sums = window_sums(dataset, split, PredictionReader(directory))
        nll, total = nll + float(sums.nll[:, column].sum()), total + float(sums.n[:, column].sum())
    return nll / total / LN2 if total else math.nan


def validation_bits(config: Mapping[str, Any], spec: StudySpec, checkpoint: Path, dataset_dir: Path, work: Path) -> float:
    """Score the validation split (or ``validation_windows`` of it, seeded) with the trained checkpoint."""
    from evocane.dataset.subset import write_scored_subset

    source = dataset_dir
    if spec.validation_windows is not None:
        source = work / "validation"
        write_scored_subset(dataset_dir, ["validation"], spec.validation_windows, spec.sampler["seed"], source)
    engine = get_engine(config["models"][spec.model]["engine"])
    engine.score(checkpoint, source, "validation", work / "scores")
    return nonrepeat_bits(source, work / "scores", "validation")


class Reporter:
    """The training loop's evaluation hook: report each step's value to the trial; stop when it is pruned."""

    def __init__(self, trial: optuna.Trial):
        self.trial = trial
        self.reported: list[tuple[int, float]] = []

    def __call__(self, step: int, metrics: Mapping[str, float]) -> None:
        value = float(metrics[INTERMEDIATE])
        self.trial.report(value, step)
        self.reported.append((step, value))
        if not math.isfinite(value) or self.trial.should_prune():
            raise optuna.TrialPruned(f"step {step}: {INTERMEDIATE} {value:.4f}")


def trial_record(trial: optuna.trial.FrozenTrial, slot: int) -> dict[str, Any]:
    duration = trial.duration.total_seconds() if trial.duration else None
    return {
        "slot": slot, "number": trial.number, "state": trial.state.name, "value": trial.value,
        "params": trial.params, "intermediate": {str(k): v for k, v in sorted(trial.intermediate_values.items())},
        "duration_s": duration,
    }  # fmt: skip


def run_trial(config: Mapping[str, Any], study_name: str, slot: int, dataset_dir: Path, out: Path, init_checkpoint: Path | None = None) -> dict[str, Any]:
    """Run (or, if its trial already ended, record) the trial of ``slot``; write its record to ``out``."""
    spec = StudySpec.from_config(config, study_name)
    if not 0 <= slot < spec.trials:
        raise EvocaneError(f"study '{study_name}': slot {slot} is outside its {spec.trials} trials")
    study = open_study(spec, slot)
    done = finished_trial(study, slot)
    if done is None:
        stale = fail_stale_trials(study, slot)
        if stale:
            log.info("slot %d: trial(s) %s left running by an interrupted job marked failed", slot, stale)
        done = _train_trial(config, spec, study, slot, dataset_dir, init_checkpoint)
    record = trial_record(done, slot)
    with atomic_path(out) as temp:
        temp.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    return record


def _train_trial(
    config: Mapping[str, Any], spec: StudySpec, study: optuna.Study, slot: int, dataset_dir: Path, init_checkpoint: Path | None
) -> optuna.trial.FrozenTrial:
    trial = study.ask()
    trial.set_user_attr(SLOT, slot)
    values = suggest(trial, spec.space)
    entry = config["models"][spec.model]
    model = ModelConfig(spec.model, entry["engine"], trial_params(config, spec, values), entry.get("description", ""), entry.get("init_checkpoint"))
    init = init_checkpoint or (Path(model.init_checkpoint) if model.init_checkpoint else None)
    work = Path(layout.hpo_work(spec.name, str(slot)))
    shutil.rmtree(work, ignore_errors=True)
    started = time.monotonic()
    log.info("study %s, slot %d: trial %d with %s", spec.name, slot, trial.number, values)
    try:
        get_engine(model.engine).train(dataset_dir, model, work / "checkpoint", init, on_evaluation=Reporter(trial))
        value = validation_bits(config, spec, work / "checkpoint", dataset_dir, work)
        if math.isfinite(value):
            study.tell(trial, value)
        else:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        log.info("trial %d: validation non-repeat %.5f bits/base (%.0f s)", trial.number, value, time.monotonic() - started)
    except optuna.TrialPruned as pruned:
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        log.info("trial %d pruned at %s", trial.number, pruned)
    except BaseException:
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
        with contextlib.suppress(OSError):  # the study's work/ folder goes with its last trial's scratch space
            work.parent.rmdir()
    return next(t for t in study.get_trials(deepcopy=False) if t.number == trial.number)
