"""Exchange-format submissions written from evocane's own predictions: a model's next-base prediction sets and its
task predictions become ``nextbase/{split}.parquet`` and ``tasks/{task}.parquet`` (docs/exchange-format.md).

The bundles ship their reference models this way, and the demo's external model is such an export imported back
(the round trip that shows the exchange loses nothing the leaderboard shows). Task item scores come from
:func:`evocane.evaluate.taskdata.item_scores`, the numbers the task evaluation itself ranks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from evocane.atomic import atomic_dir
from evocane.errors import EvocaneError
from evocane.evaluate.taskdata import dataset_task, item_scores, read_scored
from evocane.dataset.arrays import DatasetReader
from evocane.exchange import nextbase_path, prediction_rows, task_path, write_submission_json, write_task_file, write_window_file
from evocane.predictions import PredictionReader, prediction_dirs


def member_dir(prediction_set: str | Path, member: str | None) -> Path:
    """The prediction directory of ``member`` in a prediction set (None: the set must have only one)."""
    directories = prediction_dirs(prediction_set)
    if member is None:
        if len(directories) > 1:
            raise EvocaneError(f"{prediction_set}: has members {', '.join(d.name for d in directories)}; name one (member)")
        return directories[0]
    named = [d for d in directories if d.name == member]
    if not named:
        raise EvocaneError(f"{prediction_set}: no member '{member}' (have: {', '.join(d.name for d in directories)})")
    return named[0]


def export_submission(
    out_dir: str | Path,
    dataset_dir: str | Path,
    nextbase_sets: Sequence[str | Path] = (),
    tasks: Mapping[str, tuple[str | Path, str | Path]] | None = None,
    member: str | None = None,
    **fields: Any,
) -> Path:
    """Write a submission (atomically) from prediction sets of one model: ``nextbase_sets`` on splits of
    ``dataset_dir`` (each set's split from its meta), ``tasks`` = task -> (task inputs, task prediction set).
    ``member`` picks one member of multi-member sets; ``fields`` go into submission.json (model defaults to the
    exported member's name)."""
    nextbase = [member_dir(s, member) for s in nextbase_sets]
    task_dirs = {task: (Path(inputs), member_dir(predictions, member)) for task, (inputs, predictions) in (tasks or {}).items()}
    first = nextbase[0] if nextbase else next((d for _, d in task_dirs.values()), None)
    if first is None:
        raise EvocaneError(f"{out_dir}: nothing to export (no prediction sets given)")
    source = PredictionReader(first).meta if nextbase else read_scored(*next(iter(task_dirs.values()))).meta
    meta = {"model": str(source["model"]), "variant": str(source["variant"]), **fields}
    with atomic_dir(out_dir) as temp:
        for directory in nextbase:
            split = str(PredictionReader(directory).meta["split"])
            (temp / "nextbase").mkdir(exist_ok=True)
            write_window_file(temp / nextbase_path(split), prediction_rows(directory, dataset_dir, split))
        for task, (inputs, directory) in task_dirs.items():
            if dataset_task(DatasetReader(inputs)) != task:
                raise EvocaneError(f"{inputs}: is not the '{task}' task's dataset")
            scores = item_scores(read_scored(inputs, directory), task)
            (temp / "tasks").mkdir(exist_ok=True)
            write_task_file(temp / task_path(task), pd.DataFrame({"item_id": scores.index.astype(str), "score": scores.to_numpy()}))
        write_submission_json(temp, **meta)
    return Path(out_dir)
