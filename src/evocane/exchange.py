"""The benchmark's exchange format: predictions any tool can write, checked and imported into the prediction
contract (:mod:`evocane.predictions`). docs/exchange-format.md is the user's description; this module is its one
implementation (the ``external`` engine, ``evocane import-predictions`` and ``evocane benchmark-score`` use it).

A *submission* is a directory::

    submission.json              {"format": "evocane-submission", "format_version": 1, "model": NAME, ...}
                                 optional: "variant" and "bundle" (checked when given), "description", anything else
    nextbase/{split}.parquet     one row per window of the split (validation, test):
                                   window_id  string
                                   logprob    list of floats, one per base of the window's sequence: natural-log
                                              P(observed base), and optionally
                                   top1       list of floats, top-1 credit of the observed base (1/m if it ties
                                              with m - 1 others for the highest probability, else 0)
                                 or
                                   probs      list of 4 x bases floats: P(A), P(C), P(G), P(T) of base 0, then of
                                              base 1, ... (each quadruple sums to one)
    tasks/{task}.parquet         one row per task item: item_id (string), score (float); TASK_ITEMS says what an
                                 item and its score are

"Sequence" is the window as the bundle gives it: the bases after the lineage tag (if the variant has one), reverse
complemented for ``-`` windows, case kept. Missing values (NaN or null) are allowed only at the first base of a
window (a model without a start token cannot predict it) and at bases the benchmark does not score (weight code 0:
N and other IUPAC codes); anywhere else they, infinities and log-probabilities above 0 are errors. Every window and
every task item must be present exactly once; one EvocaneError names the file, row and window or item, and nothing
is written.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from evocane.atomic import atomic_path
from evocane.dataset.arrays import WEIGHT_NONE, DatasetReader
from evocane.errors import EvocaneError
from evocane.genome.download import sha256sum
from evocane.predictions import PredictionReader, PredictionWriter, base_codes, observed_base_scores, write_item_scores

FORMAT = "evocane-submission"
FORMAT_VERSION = 1
SUBMISSION_JSON = "submission.json"
NEXTBASE_SPLITS = ("validation", "test")
# task -> the task-dataset column that names an item, and what the item's score is (docs/exchange-format.md)
TASK_ITEMS = {
    "regulatory": ("window_id", "the window's log-likelihood score, higher = more likely under the model (evocane's "
                   "models: mean natural-log probability per scored base)"),
    "variant_effect": ("pair_id", "score of the alternative-allele window minus that of the reference window (evocane's "
                       "models: difference of the windows' summed natural-log probabilities; negative = deleterious)"),
    "experiments": ("window_id", "the element's log-likelihood score, higher = more likely (evocane's models: mean "
                    "natural-log probability per scored base)"),
}  # fmt: skip
# manifest.json "task" of a task dataset (evocane.evaluate) -> the task's name here
MANIFEST_TASKS = {"regulatory": "regulatory", "variants": "variant_effect", "experiments": "experiments"}
LOGPROB_TOLERANCE = 1e-3  # a log-probability may exceed 0 by rounding this much
SUM_TOLERANCE = 1e-3  # |sum of a position's four probabilities - 1|
BATCH_ROWS = 256


def nextbase_path(split: str) -> str:
    return f"nextbase/{split}.parquet"


def task_path(task: str) -> str:
    return f"tasks/{task}.parquet"


@dataclass(frozen=True)
class Submission:
    dir: Path
    meta: dict[str, Any]

    @classmethod
    def open(cls, directory: str | Path) -> Submission:
        directory = Path(directory)
        path = directory / SUBMISSION_JSON
        if not path.exists():
            raise EvocaneError(f"{path}: not found (a submission directory holds {SUBMISSION_JSON}; docs/exchange-format.md)")
        try:
            meta = json.loads(path.read_text())
        except ValueError as error:
            raise EvocaneError(f"{path}: not valid JSON ({error})") from None
        if not isinstance(meta, dict):
            raise EvocaneError(f"{path}: must be a JSON object")
        if meta.get("format") != FORMAT:
            raise EvocaneError(f"{path}: 'format' must be \"{FORMAT}\", got {meta.get('format')!r}")
        if meta.get("format_version") != FORMAT_VERSION:
            raise EvocaneError(f"{path}: 'format_version' {meta.get('format_version')!r} is not supported (this evocane reads {FORMAT_VERSION})")
        if not isinstance(meta.get("model"), str) or not meta["model"]:
            raise EvocaneError(f"{path}: 'model' (the model's name) must be a non-empty string")
        return cls(directory, meta)

    @property
    def model(self) -> str:
        return str(self.meta["model"])

    def file(self, relative: str) -> Path:
        path = self.dir / relative
        if not path.exists():
            raise EvocaneError(f"{path}: not found in the submission (docs/exchange-format.md)")
        return path

    def has(self, relative: str) -> bool:
        return (self.dir / relative).exists()

    def check_target(self, variant: str, bundle: str | None = None) -> None:
        """The submission's optional 'variant' and 'bundle' must name what it is imported against."""
        for key, expected in (("variant", variant), ("bundle", bundle)):
            given = self.meta.get(key)
            if given is not None and expected is not None and given != expected:
                raise EvocaneError(f"{self.dir / SUBMISSION_JSON}: '{key}' is '{given}', but it is imported against '{expected}'")

    def checksums(self) -> dict[str, str]:
        """sha256 of every file, by path relative to the submission."""
        return {str(p.relative_to(self.dir)): sha256sum(p) for p in sorted(self.dir.rglob("*")) if p.is_file()}


# --- reading list columns ----------------------------------------------------------------------------------------------
def _list_column(batch: pa.RecordBatch, name: str, path: Path, first_row: int) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, float64 values with NaN for null) of a list-of-numbers column."""
    column = batch.column(batch.schema.get_field_index(name))
    if not (pa.types.is_list(column.type) or pa.types.is_large_list(column.type)):
        raise EvocaneError(f"{path}: column '{name}' must be a list of numbers per row, got {column.type}")
    if column.null_count:
        row = first_row + int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
        raise EvocaneError(f"{path} row {row}: column '{name}' is null (give a list, with NaN or null for single bases)")
    try:
        values = pc.fill_null(column.values.cast(pa.float64()), np.nan).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise EvocaneError(f"{path}: column '{name}' must hold numbers, got {column.type}") from None
    return column.offsets.to_numpy(), values


def _window_columns(path: Path) -> tuple[str, bool]:
    """'logprob' or 'probs', and whether top1 is given; unknown or conflicting columns are errors."""
    try:
        names = pq.ParquetFile(path).schema_arrow.names
    except (pa.ArrowInvalid, OSError) as error:
        raise EvocaneError(f"{path}: not a readable parquet file ({error})") from None
    allowed = {"window_id", "logprob", "top1", "probs"}
    unknown = [n for n in names if n not in allowed]
    if unknown:
        raise EvocaneError(f"{path}: unknown column(s) {', '.join(unknown)} (allowed: window_id, logprob [+ top1] or probs)")
    if "window_id" not in names:
        raise EvocaneError(f"{path}: lacks the column window_id")
    if ("logprob" in names) == ("probs" in names):
        raise EvocaneError(f"{path}: give exactly one of the columns logprob and probs")
    if "top1" in names and "probs" in names:
        raise EvocaneError(f"{path}: top1 goes with logprob (with probs it is computed from the distributions)")
    return ("logprob" if "logprob" in names else "probs"), "top1" in names


def iter_window_values(path: Path) -> Iterator[tuple[int, str, str, np.ndarray, np.ndarray | None]]:
    """(row number, window_id, kind, values, top1 or None) for every row of a window file; kind "logprob" (values
    (n,)) or "probs" (values (4n,))."""
    kind, has_top1 = _window_columns(path)
    columns = ["window_id", kind] + (["top1"] if has_top1 else [])
    row = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS, columns=columns):
        id_column = batch.column(0)
        if not (pa.types.is_string(id_column.type) or pa.types.is_large_string(id_column.type)):
            raise EvocaneError(f"{path}: column window_id must hold strings, got {id_column.type}")
        ids = id_column.to_pylist()
        offsets, values = _list_column(batch, kind, path, row)
        top1_offsets, top1_values = _list_column(batch, "top1", path, row) if has_top1 else (None, None)
        for i, window_id in enumerate(ids):
            if window_id is None:
                raise EvocaneError(f"{path} row {row + i}: window_id is null")
            own = values[offsets[i] : offsets[i + 1]]
            top1 = None
            if top1_offsets is not None and top1_values is not None:
                top1 = top1_values[top1_offsets[i] : top1_offsets[i + 1]]
            yield row + i, str(window_id), kind, own, top1
        row += len(ids)


# --- checking one window ----------------------------------------------------------------------------------------------
def _check_missing(missing: np.ndarray, scorable: np.ndarray, where: str) -> None:
    wrong = missing & scorable
    wrong[:1] = False  # the first base may be left unscored
    if wrong.any():
        raise EvocaneError(
            f"{where}: missing value (NaN or null) at base {int(np.flatnonzero(wrong)[0])}; only the first base of a window "
            "and bases the benchmark does not score (N, IUPAC) may be left out"
        )


def window_scores(kind: str, values: np.ndarray, top1: np.ndarray | None, tokens: np.ndarray, weights: np.ndarray, where: str
                  ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:  # fmt: skip
    """Checked per-base (logprob, top1, probabilities) of one window's bases (tag excluded); NaN where not scored.
    ``tokens``/``weights``: the window's bases in the dataset contract."""
    n = len(tokens)
    scorable = np.asarray(weights) != WEIGHT_NONE
    if kind == "logprob":
        if len(values) != n:
            raise EvocaneError(f"{where}: {len(values)} logprob values for a window of {n} bases")
        missing = np.isnan(values)
        _check_missing(missing, scorable, where)
        bad = ~missing & scorable & ~np.isfinite(values)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise EvocaneError(f"{where}: logprob at base {i} is {values[i]} (log-probabilities must be finite)")
        high = ~missing & scorable & (values > LOGPROB_TOLERANCE)
        if high.any():
            i = int(np.flatnonzero(high)[0])
            raise EvocaneError(f"{where}: logprob at base {i} is {values[i]:.4g} > 0 (a natural-log probability is at most 0)")
        scored = ~missing & scorable
        logprob = np.where(scored, np.minimum(values, 0.0), np.nan)
        credit = None
        if top1 is not None:
            if len(top1) != n:
                raise EvocaneError(f"{where}: {len(top1)} top1 values for a window of {n} bases")
            wrong = scored & ~((top1 >= 0) & (top1 <= 1))
            if wrong.any():
                i = int(np.flatnonzero(wrong)[0])
                raise EvocaneError(f"{where}: top1 at base {i} is {top1[i]} (a top-1 credit lies in [0, 1])")
            credit = np.where(scored, top1, np.nan)
        return logprob, credit, None
    if len(values) != 4 * n:
        raise EvocaneError(f"{where}: {len(values)} probs values for a window of {n} bases (4 per base: A, C, G, T)")
    probs = values.reshape(n, 4)
    nan = np.isnan(probs)
    partial = nan.any(axis=1) & ~nan.all(axis=1) & scorable
    if partial.any():
        raise EvocaneError(f"{where}: base {int(np.flatnonzero(partial)[0])} has missing values among its four probabilities")
    missing = nan.all(axis=1)
    _check_missing(missing, scorable, where)
    scored = ~missing & scorable
    checked = probs[scored]
    bad = ~np.isfinite(checked).all(axis=1) | (checked < 0).any(axis=1)
    if bad.any():
        i = int(np.flatnonzero(scored)[np.flatnonzero(bad)[0]])
        raise EvocaneError(f"{where}: probabilities at base {i} are {probs[i].tolist()} (each must be finite and >= 0)")
    sums = checked.sum(axis=1)
    off = np.abs(sums - 1.0) > SUM_TOLERANCE
    if off.any():
        i = int(np.flatnonzero(scored)[np.flatnonzero(off)[0]])
        raise EvocaneError(f"{where}: probabilities at base {i} sum to {probs[i].sum():.6g}, not 1 (tolerance {SUM_TOLERANCE})")
    normalised = np.full((n, 4), np.nan)
    normalised[scored] = checked / sums[:, None]
    codes = np.where(scored, base_codes(tokens), -1)
    logprob, credit = observed_base_scores(np.nan_to_num(normalised, nan=0.25), codes)
    zero = scored & ~np.isfinite(logprob)
    if zero.any():
        raise EvocaneError(f"{where}: base {int(np.flatnonzero(zero)[0])} gives the observed base probability 0 (infinitely many bits)")
    return logprob.astype(np.float64), credit.astype(np.float64), normalised


# --- importing into the prediction contract ----------------------------------------------------------------------------
def _spilled(path: Path, length: int) -> np.ndarray:
    return np.memmap(path, dtype=np.float32, mode="r") if length else np.zeros(0, dtype=np.float32)


def import_nextbase(
    submission: Submission, dataset_dir: str | Path, split: str, out_dir: str | Path, meta: dict[str, Any],
    distribution_windows: Sequence[str] = (), windows: Sequence[str] | None = None,
) -> Path:  # fmt: skip
    """Check ``nextbase/{split}.parquet`` against the split of ``dataset_dir`` and write it as a prediction
    directory at ``out_dir`` (atomically: nothing is written when a window is wrong), windows in split order
    whatever the file's order. ``windows``: import only these windows of the split (one scoring shard; the file
    must still hold every window of the split)."""
    path = submission.file(nextbase_path(split))
    dataset = DatasetReader(dataset_dir)
    table = dataset.split_windows(split)
    if table.empty:
        raise EvocaneError(f"{dataset_dir}: the dataset has no '{split}' windows")
    arrays = dataset.arrays(split)
    position = {window_id: i for i, window_id in enumerate(table["window_id"].astype(str))}
    selected = np.ones(len(table), dtype=bool)
    if windows is not None:
        selected[:] = False
        for window_id in windows:
            if str(window_id) not in position:
                raise EvocaneError(f"{dataset_dir}: selected window '{window_id}' is not in the '{split}' split")
            selected[position[str(window_id)]] = True
    offsets = table["offset"].to_numpy(dtype=np.int64)
    lengths = table["length"].to_numpy(dtype=np.int64)
    prefixes = table["prefix_length"].to_numpy(dtype=np.int64)
    keep = set(distribution_windows)
    seen = np.full(len(table), -1, dtype=np.int64)
    # checked values are spilled in the file's order and written in split order, so memory stays at one window
    spill_at = np.zeros(len(table), dtype=np.int64)
    has_top1 = False
    distributions: dict[str, np.ndarray] = {}
    Path(out_dir).parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{Path(out_dir).name}.import-", dir=Path(out_dir).parent) as scratch:
        spilled = 0
        with open(Path(scratch) / "values.f32", "wb") as values_out, open(Path(scratch) / "top1.f32", "wb") as top1_out:
            for row, window_id, kind, values, top1 in iter_window_values(path):
                where = f"{path} row {row} (window '{window_id}')"
                i = position.get(window_id)
                if i is None:
                    raise EvocaneError(f"{where}: no such window in the '{split}' split of the benchmark")
                if seen[i] >= 0:
                    raise EvocaneError(f"{where}: window given twice (first at row {seen[i]})")
                seen[i] = row
                start, end = offsets[i] + prefixes[i], offsets[i] + lengths[i]
                logprob, credit, probs = window_scores(kind, values, top1, arrays.tokens[start:end], arrays.weights[start:end], where)
                if not selected[i]:
                    continue
                has_top1 = credit is not None
                values_out.write(logprob.astype(np.float32).tobytes())
                if credit is not None:
                    top1_out.write(credit.astype(np.float32).tobytes())
                spill_at[i] = spilled
                spilled += len(logprob)
                if probs is not None and window_id in keep:
                    distributions[window_id] = np.concatenate([np.full((prefixes[i], 4), np.nan), probs])
        absent = np.flatnonzero(seen < 0)
        if len(absent):
            raise EvocaneError(f"{path}: {len(absent)} of {len(table)} '{split}' windows are missing, e.g. '{table['window_id'].iloc[absent[0]]}'")
        spilled_values = _spilled(Path(scratch) / "values.f32", spilled)
        spilled_top1 = _spilled(Path(scratch) / "top1.f32", spilled) if has_top1 else None
        with PredictionWriter(out_dir, meta) as writer:
            for i in np.flatnonzero(selected):
                window_id = str(table["window_id"].iloc[i])
                n = int(lengths[i] - prefixes[i])
                tag = np.full(prefixes[i], np.nan, dtype=np.float32)
                piece = slice(spill_at[i], spill_at[i] + n)
                credit = None if spilled_top1 is None else np.concatenate([tag, spilled_top1[piece]])
                writer.add(window_id, np.concatenate([tag, spilled_values[piece]]), distribution=distributions.get(window_id), top1=credit)
    return Path(out_dir)


def task_of(dataset_dir: str | Path) -> str | None:
    """The task a task dataset was built for (its manifest's "task"), None for a dataset variant."""
    manifest = DatasetReader(dataset_dir).manifest
    name = manifest.get("task")
    if name is None:
        return None
    if name not in MANIFEST_TASKS:
        raise EvocaneError(f"{Path(dataset_dir) / 'manifest.json'}: unknown task '{name}'")
    return MANIFEST_TASKS[name]


def task_items(windows: pd.DataFrame, task: str) -> list[str]:
    """The items of a task dataset in window order (a variant's two windows make one item)."""
    column = TASK_ITEMS[task][0]
    return list(dict.fromkeys(windows[column].astype(str)))


def read_task_scores(submission: Submission, task: str, items: Sequence[str]) -> pd.DataFrame:
    """``tasks/{task}.parquet`` checked against the task's items: item_id, score (float64), in the file's order."""
    path = submission.file(task_path(task))
    try:
        table = pd.read_parquet(path)
    except (pa.ArrowInvalid, OSError) as error:
        raise EvocaneError(f"{path}: not a readable parquet file ({error})") from None
    if sorted(table.columns) != ["item_id", "score"]:
        raise EvocaneError(f"{path}: columns must be item_id and score, got {', '.join(map(str, table.columns)) or 'none'}")
    if not pd.api.types.is_numeric_dtype(table["score"]) or pd.api.types.is_bool_dtype(table["score"]):
        raise EvocaneError(f"{path}: column score must be numeric, got {table['score'].dtype}")
    expected = set(items)
    seen: dict[str, int] = {}
    scores = table["score"].to_numpy(dtype=np.float64)
    for row, item in enumerate(table["item_id"]):
        if not isinstance(item, str):
            raise EvocaneError(f"{path} row {row}: item_id must be a string, got {item!r}")
        if item not in expected:
            raise EvocaneError(f"{path} row {row}: unknown {task} item '{item}'")
        if item in seen:
            raise EvocaneError(f"{path} row {row}: item '{item}' given twice (first at row {seen[item]})")
        seen[item] = row
        if not np.isfinite(scores[row]):
            raise EvocaneError(f"{path} row {row} (item '{item}'): score is {scores[row]} (scores must be finite)")
    absent = [item for item in items if item not in seen]
    if absent:
        raise EvocaneError(f"{path}: {len(absent)} of {len(items)} {task} items are missing, e.g. '{absent[0]}'")
    return pd.DataFrame({"item_id": table["item_id"].astype(str), "score": scores})


def import_task(submission: Submission, task_dataset: str | Path, out_dir: str | Path, meta: dict[str, Any]) -> Path:
    """Check ``tasks/{task}.parquet`` against a task dataset and write an item-score prediction directory."""
    task = task_of(task_dataset)
    if task is None:
        raise EvocaneError(f"{task_dataset}: not a task dataset (its manifest names no task)")
    windows = DatasetReader(task_dataset).split_windows("test")
    scores = read_task_scores(submission, task, task_items(windows, task))
    return write_item_scores(out_dir, {**meta, "task": task}, scores)


# --- writing submissions ------------------------------------------------------------------------------------------------
def _list_array(pieces: list[np.ndarray]) -> pa.Array:
    offsets = np.concatenate([[0], np.cumsum([len(p) for p in pieces])]).astype(np.int32)
    flat = np.concatenate(pieces).astype(np.float32) if pieces else np.zeros(0, dtype=np.float32)
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat, type=pa.float32()))


def write_window_file(path: str | Path, rows: Iterator[tuple[str, np.ndarray, np.ndarray | None]], kind: str = "logprob") -> Path:
    """Write a nextbase/{split}.parquet from (window_id, values, top1 or None) rows, atomically; ``kind`` "logprob"
    (values per base) or "probs" (an (n, 4) array or its 4n values)."""
    path = Path(path)
    writer = None
    with atomic_path(path) as temp:
        try:
            batch: list[tuple[str, np.ndarray, np.ndarray | None]] = []

            def flush() -> None:
                nonlocal writer
                columns = {"window_id": pa.array([r[0] for r in batch], type=pa.string()),
                           kind: _list_array([np.asarray(r[1]).reshape(-1) for r in batch])}  # fmt: skip
                if batch[0][2] is not None:
                    columns["top1"] = _list_array([np.asarray(r[2]) for r in batch])
                table = pa.table(columns)
                if writer is None:
                    writer = pq.ParquetWriter(temp, table.schema)
                writer.write_table(table)
                batch.clear()

            for row in rows:
                batch.append(row)
                if len(batch) == BATCH_ROWS:
                    flush()
            if batch or writer is None:
                if not batch:
                    raise EvocaneError(f"{path}: no windows to write")
                flush()
        finally:
            if writer is not None:
                writer.close()
    return path


def write_task_file(path: str | Path, scores: pd.DataFrame) -> Path:
    with atomic_path(path) as temp:
        pd.DataFrame({"item_id": scores["item_id"].astype(str), "score": scores["score"].astype(np.float64)}).to_parquet(temp, index=False)
    return Path(path)


def write_submission_json(directory: str | Path, model: str, **fields: Any) -> Path:
    path = Path(directory) / SUBMISSION_JSON
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "model": model, **fields}
    with atomic_path(path) as temp:
        temp.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return path


def prediction_rows(prediction_dir: str | Path, dataset_dir: str | Path, split: str) -> Iterator[tuple[str, np.ndarray, np.ndarray | None]]:
    """A prediction directory's windows as exchange rows (window_id, logprob, top1), the lineage tag removed, in the
    dataset's window order; every window of the split must be scored."""
    reader = PredictionReader(prediction_dir)
    windows = DatasetReader(dataset_dir).split_windows(split)
    index = reader.index.set_index("window_id")
    for row in windows.itertuples(index=False):
        if row.window_id not in index.index:
            raise EvocaneError(f"{prediction_dir}: window '{row.window_id}' of split '{split}' is not scored")
        entry = index.loc[row.window_id]
        start, length = int(entry["offset"]), int(entry["length"])
        if length != int(row.length):
            raise EvocaneError(f"{prediction_dir}: window '{row.window_id}' has {length} scores for {int(row.length)} tokens")
        piece = slice(start + int(row.prefix_length), start + length)
        top1 = None if reader.top1 is None else np.asarray(reader.top1[piece], dtype=np.float32)
        yield str(row.window_id), np.asarray(reader.logprob[piece], dtype=np.float32), top1
