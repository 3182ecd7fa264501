"""Scoring a submission against a bundle, with no workflow, training data or genome: what a reviewer runs.

The numbers come from the workflow's own code: the submission and the bundle's reference models are imported into
the prediction contract (:mod:`evocane.exchange`), :func:`evocane.evaluate.nextbase.evaluate_variant` and the task
evaluation (:mod:`evocane.evaluate.tasks`) compute the metrics, and the leaderboard's own
:func:`evocane.evaluate.leaderboard.combine` orders the rows, so they equal the rows ``results/leaderboard.csv``
holds for the same predictions.
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from evocane.dataset.arrays import DatasetReader
from evocane.errors import EvocaneError
from evocane.evaluate import metrics as task_metrics
from evocane.evaluate.leaderboard import combine
from evocane.evaluate.nextbase import EvaluationSettings, evaluate_variant, leaderboard_rows
from evocane.evaluate.taskdata import scored_from_items
from evocane.evaluate.tasks import headline_rows, task_metric_rows, task_scores
from evocane.exchange import Submission, import_nextbase, nextbase_path, read_task_scores, task_items, task_path
from evocane.genome.download import sha256sum

log = logging.getLogger(__name__)
ENGINE = "external"


@dataclass(frozen=True)
class Bundle:
    dir: Path
    manifest: dict[str, Any]
    scoring: dict[str, Any]

    @classmethod
    def open(cls, directory: str | Path, verify: bool = True) -> Bundle:
        directory = Path(directory)
        for name in ("manifest.json", "scoring.json"):
            if not (directory / name).exists():
                raise EvocaneError(f"{directory / name}: not found (not a benchmark bundle: `evocane benchmark-export` writes them)")
        manifest = json.loads((directory / "manifest.json").read_text())
        bundle = cls(directory, manifest, json.loads((directory / "scoring.json").read_text()))
        if verify:
            bundle.verify()
        return bundle

    @property
    def name(self) -> str:
        return str(self.manifest["name"])

    @property
    def variant(self) -> str:
        return str(self.manifest["variant"])

    @property
    def dataset(self) -> Path:
        return self.dir / "dataset"

    @property
    def tasks(self) -> list[str]:
        return list(self.scoring["tasks"])

    def task_dataset(self, task: str) -> Path:
        return self.dir / "tasks" / task / "dataset"

    def reference(self, role: str) -> Submission | None:
        directory = self.dir / "reference" / role
        return Submission.open(directory) if directory.exists() else None

    def verify(self) -> None:
        """Every file the manifest lists has its sha256 (a damaged or edited bundle scores nothing)."""
        for relative, entry in sorted(self.manifest["files"].items()):
            path = self.dir / relative
            if not path.exists():
                raise EvocaneError(f"{path}: listed in the bundle's manifest.json but missing")
            if sha256sum(path) != entry["sha256"]:
                raise EvocaneError(f"{path}: sha256 differs from the bundle's manifest.json (the file was changed)")

    def settings(self) -> EvaluationSettings:
        baseline = self.scoring["nextbase"]["baseline"]
        boot = self.scoring["bootstrap"]
        return EvaluationSettings(
            baseline=baseline["config_model"] if baseline else None, window_strata=tuple(self.scoring["nextbase"]["window_strata"]),
            n_resamples=int(boot["n_resamples"]), confidence=float(boot["confidence"]), seed=int(boot["seed"]),
        )  # fmt: skip


def import_against_bundle(bundle: Bundle, submission: Submission, out_dir: Path, model: str, engine: str = ENGINE) -> dict[str, Any]:
    """Import a submission's next-base files into ``out_dir/nextbase/{split}`` and check its task files; returns
    {"nextbase": [prediction dirs], "tasks": {task: item scores}}. Raises before anything is written elsewhere."""
    submission.check_target(bundle.variant, bundle.name)
    splits = [s for s in bundle.scoring["nextbase"]["splits"] if submission.has(nextbase_path(s))]
    if not splits and not any(submission.has(task_path(t)) for t in bundle.tasks):
        raise EvocaneError(f"{submission.dir}: has neither nextbase/<split>.parquet nor tasks/<task>.parquet files for this bundle")
    written = []
    for split in splits:
        meta = {"model": model, "engine": engine, "variant": bundle.variant, "split": split, "submission": str(submission.dir)}
        written.append(import_nextbase(submission, bundle.dataset, split, out_dir / "nextbase" / split, meta))
    tasks = {}
    for task in bundle.tasks:
        if not submission.has(task_path(task)):
            log.warning("%s: no %s, no %s rows", submission.dir, task_path(task), task)
            continue
        windows = DatasetReader(bundle.task_dataset(task)).split_windows("test")
        table = read_task_scores(submission, task, task_items(windows, task))
        tasks[task] = pd.Series(table["score"].to_numpy(), index=table["item_id"].to_numpy())
    return {"nextbase": written, "tasks": tasks}


def score_submission(bundle_dir: str | Path, submission_dir: str | Path, model: str | None = None) -> pd.DataFrame:
    """The leaderboard rows (evocane.evaluate.leaderboard columns) of a submission scored against a bundle."""
    bundle = Bundle.open(bundle_dir)
    submission = Submission.open(submission_dir)
    name = model or submission.model
    engine = str(submission.meta.get("engine", ENGINE))
    with tempfile.TemporaryDirectory(prefix="evocane-score-") as temp:
        work = Path(temp)
        mine = import_against_bundle(bundle, submission, work / "submission", name, engine)
        parts = []
        if mine["nextbase"]:
            directories = list(mine["nextbase"])
            baseline = bundle.scoring["nextbase"]["baseline"]
            reference = bundle.reference("baseline")
            if baseline and reference is not None:
                if reference.model == name:
                    raise EvocaneError(f"{submission.dir}: model name '{name}' is the bundle's baseline's; give another (--model)")
                for split in bundle.scoring["nextbase"]["splits"]:
                    meta = {"model": reference.model, "config_model": baseline["config_model"], "engine": str(reference.meta.get("engine", "")),
                            "variant": bundle.variant, "split": split}  # fmt: skip
                    directories.append(import_nextbase(reference, bundle.dataset, split, work / "reference" / split, meta))
            metrics, _ = evaluate_variant(bundle.dataset, directories, bundle.settings(), bundle.variant)
            rows = leaderboard_rows(metrics)
            path = work / "nextbase.tsv"
            rows[rows["model"] == name].to_csv(path, sep="\t", index=False, float_format="%.6g")
            parts.append(path)
        background = bundle.reference("background")
        boot = bundle.scoring["bootstrap"]
        for task, scores in mine["tasks"].items():
            windows = DatasetReader(bundle.task_dataset(task)).split_windows("test")
            identity = {"model": name, "engine": engine, "variant": bundle.variant, "split": "test"}
            scored = scored_from_items(windows, task, scores, identity, submission.dir)
            against = None
            if background is not None and bundle.scoring["tasks"][task]["llr"] and (background.dir / task_path(task)).exists():
                table = read_task_scores(background, task, task_items(windows, task))
                against = pd.Series(table["score"].to_numpy(), index=table["item_id"].to_numpy(), name=background.model)
            rows = task_metric_rows(task, task_scores(task, [scored], against), int(boot["n_resamples"]), int(boot["seed"]))
            path = work / f"{task}.tsv"
            headline_rows(task, task_metrics.long_table(rows)).to_csv(path, sep="\t", index=False)
            parts.append(path)
        return combine(parts)
