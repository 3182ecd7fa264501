"""What every task shares: the held-out regions of a dataset variant, genome access, writing task inputs in the
dataset contract, and reading any engine's predictions of them back.

A *task dataset* (``results/tasks/{variant}/{task}/dataset``) is an ordinary dataset directory of the dataset
contract with a single ``test`` split, so every engine scores it through its normal ``score`` method. Its
``windows.parquet`` carries, besides WINDOW_COLUMNS, the task's own columns (what the window is: a site, a
shuffled copy, a reference or alternative allele ...), and ``manifest.json`` names the source variant (so the
predictions are labelled with it) and the task. Task windows are cut only from inside test windows of the source
variant, so no sequence a model trained on is evaluated; they inherit the lineage-tag prefix of the test window
they come from, and the source's soft-mask case policy.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evocane.atomic import atomic_dir
from evocane.dataset.arrays import (
    AMBIGUOUS,
    REPEAT,
    WEIGHT_FULL,
    WEIGHT_NONE,
    WEIGHT_SOFTMASKED,
    WINDOW_COLUMNS,
    DatasetReader,
    SplitArrayWriter,
    dataset_variant_name,
)
from evocane.errors import EvocaneError
from evocane.exchange import MANIFEST_TASKS, TASK_ITEMS, task_items
from evocane.predictions import PredictionReader, has_item_scores, prediction_dirs, read_item_scores

TASK_SPLIT = "test"


@dataclass
class HeldOut:
    """The test regions of one dataset variant: merged intervals per (cultivar, chrom) plus what the task windows
    inherit from the test window containing them."""

    intervals: dict[tuple[str, str], np.ndarray]  # (cultivar, chrom) -> (n, 2) merged [start, end)
    group_columns: dict[tuple[str, str], dict[str, Any]]  # homology_group, homology_group2, haplotype
    tag: dict[str, bytes]  # cultivar -> lineage-tag prefix (b"" without)
    uppercase: bool  # the source variant upper-cases its tokens (soft-mask policy "upper")
    variant: str

    def contains(self, cultivar: str, chrom: str, start: int, end: int) -> bool:
        spans = self.intervals.get((cultivar, chrom))
        if spans is None or len(spans) == 0:
            return False
        index = int(np.searchsorted(spans[:, 0], start, side="right")) - 1
        return index >= 0 and spans[index, 0] <= start and end <= spans[index, 1]

    def records(self) -> list[tuple[str, str]]:
        return sorted(self.intervals)

    def cultivars(self) -> list[str]:
        return sorted({cultivar for cultivar, _ in self.intervals})

    def chroms(self, cultivar: str) -> list[str]:
        return sorted(chrom for c, chrom in self.intervals if c == cultivar)


def held_out_regions(dataset_dir: str | Path) -> HeldOut:
    """The test split of a dataset variant as merged genomic intervals."""
    dataset = DatasetReader(dataset_dir)
    windows = dataset.split_windows(TASK_SPLIT)
    if windows.empty:
        raise EvocaneError(f"{dataset_dir}: the dataset has no '{TASK_SPLIT}' windows to build tasks from")
    tokens = dataset.arrays(TASK_SPLIT).tokens
    intervals: dict[tuple[str, str], np.ndarray] = {}
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    tags: dict[str, bytes] = {}
    for (cultivar, chrom), rows in windows.groupby(["cultivar", "chrom"], sort=True):
        spans = rows[["start", "end"]].to_numpy(dtype=np.int64)
        spans = spans[np.argsort(spans[:, 0], kind="stable")]
        merged: list[list[int]] = []
        for start, end in spans:
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], int(end))
            else:
                merged.append([int(start), int(end)])
        intervals[(str(cultivar), str(chrom))] = np.array(merged, dtype=np.int64)
        first = rows.iloc[0]
        groups[(str(cultivar), str(chrom))] = {key: first[key] for key in ("homology_group", "homology_group2", "haplotype")}
        prefix = int(first["prefix_length"])
        tags.setdefault(str(cultivar), bytes(tokens[int(first["offset"]) : int(first["offset"]) + prefix]))
    sample = np.asarray(tokens[: min(len(tokens), 1 << 22)])
    uppercase = not bool(np.any((sample >= ord("a")) & (sample <= ord("z"))))
    return HeldOut(intervals, groups, tags, uppercase, dataset_variant_name(dataset_dir))


class Genome:
    """Random access to one cultivar's prepared genome (BGZF + .fai/.gzi, pysam); one record cached at a time."""

    def __init__(self, genome_dir: str | Path):
        import pysam

        self.dir = Path(genome_dir)
        fasta = self.dir / "genome.fa.gz"
        if not fasta.exists():
            raise EvocaneError(f"{fasta}: prepared genome not found")
        self._fasta = pysam.FastaFile(str(fasta))
        self._cached: tuple[str, str] | None = None

    @property
    def annotation(self) -> Path:
        return self.dir / "annotation.gff3.gz"

    def length(self, chrom: str) -> int:
        return int(self._fasta.get_reference_length(chrom))

    def record(self, chrom: str) -> str:
        """The whole record (the streaming rule allows one chromosome in memory)."""
        if self._cached is None or self._cached[0] != chrom:
            if chrom not in self._fasta.references:
                raise EvocaneError(f"{self.dir / 'genome.fa.gz'}: no record '{chrom}'")
            self._cached = (chrom, self._fasta.fetch(chrom))
        return self._cached[1]

    def close(self) -> None:
        self._fasta.close()


_COMPLEMENT = bytes.maketrans(b"ACGTacgtNnRYKMSWBDHVrykmswbdhv", b"TGCAtgcaNnYRMKSWVHDByrmkswvhdb")


def oriented(sequence: bytes, strand: str) -> bytes:
    return sequence.translate(_COMPLEMENT)[::-1] if strand == "-" else sequence


def oriented_span(site: int, strand: str, upstream: int, downstream: int) -> tuple[int, int]:
    """Genomic [start, end) of a window that, read on ``strand``, has ``upstream`` bases before the base at
    genomic ``site`` (which lands at index ``upstream``) and ``downstream - 1`` after it."""
    if strand == "+":
        return site - upstream, site + downstream
    return site - downstream + 1, site + upstream + 1


def acgt_only(sequence: bytes) -> bool:
    return len(sequence.upper().translate(None, b"ACGT")) == 0


def label_and_weight(tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-base label bits (repeat = lower case, ambiguous = not A/C/G/T) and loss-weight codes of task tokens."""
    upper = (tokens == ord("A")) | (tokens == ord("C")) | (tokens == ord("G")) | (tokens == ord("T"))
    lower = (tokens == ord("a")) | (tokens == ord("c")) | (tokens == ord("g")) | (tokens == ord("t"))
    labels = np.where(lower, REPEAT, 0) | np.where(upper | lower, 0, AMBIGUOUS)
    weights = np.where(upper, WEIGHT_FULL, np.where(lower, WEIGHT_SOFTMASKED, WEIGHT_NONE))
    return labels.astype(np.uint8), weights.astype(np.uint8)


@dataclass
class TaskWindow:
    window_id: str
    cultivar: str
    chrom: str
    start: int
    end: int
    strand: str
    sequence: bytes  # oriented, without the lineage tag
    columns: dict[str, Any] = field(default_factory=dict)  # the task's own columns


def write_task_dataset(
    out_dir: str | Path, windows: Sequence[TaskWindow], held_out: HeldOut, task: str, extra_manifest: dict[str, Any] | None = None
) -> Path:
    """Write task windows as a dataset directory (single ``test`` split), atomically."""
    if not windows:
        raise EvocaneError(f"{out_dir}: task '{task}' found no window inside the test regions of '{held_out.variant}'")
    ids = [w.window_id for w in windows]
    if len(set(ids)) != len(ids):
        raise ValueError(f"task '{task}': duplicate window ids")
    with atomic_dir(out_dir) as temp:
        writer = SplitArrayWriter(temp, TASK_SPLIT)
        rows = []
        for window in windows:
            sequence = window.sequence.upper() if held_out.uppercase else window.sequence
            tag = held_out.tag.get(window.cultivar, b"")
            tokens = np.frombuffer(tag + sequence, dtype=np.uint8)
            labels, weights = label_and_weight(tokens)
            labels[: len(tag)] = 0
            weights[: len(tag)] = WEIGHT_NONE
            offset = writer.append(tokens, labels, weights)
            group = held_out.group_columns.get((window.cultivar, window.chrom), {})
            rows.append(
                {"window_id": window.window_id, "cultivar": window.cultivar, "chrom": window.chrom,
                 "start": window.start, "end": window.end, "strand": window.strand, "split": TASK_SPLIT,
                 "homology_group": group.get("homology_group"), "homology_group2": group.get("homology_group2"),
                 "haplotype": group.get("haplotype"), "offset": offset, "length": len(tokens),
                 "prefix_length": len(tag), **window.columns}
            )  # fmt: skip
        writer.close()
        table = pd.DataFrame(rows)
        table = table[WINDOW_COLUMNS + [c for c in table.columns if c not in WINDOW_COLUMNS]]
        table.to_parquet(temp / "windows.parquet", index=False)
        manifest = {"variant": held_out.variant, "task": task, "windows": len(table), **(extra_manifest or {})}
        (temp / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str) + "\n")
    return Path(out_dir)


# --- reading predictions of task windows -----------------------------------------------------------------------------
@dataclass
class ScoredTask:
    """One model's predictions joined to one task dataset."""

    windows: pd.DataFrame  # task windows + mean_logprob, sum_logprob, n_scored
    logprob: dict[str, np.ndarray]  # window_id -> per-position log P (tag removed)
    distributions: dict[str, np.ndarray]  # window_id -> (L, 4) (tag removed), where the engine kept them
    meta: dict[str, Any]
    # item -> score for models that give task scores, not per-base values (evocane.exchange); None otherwise
    item_scores: pd.Series | None = None

    @property
    def identity(self) -> dict[str, str]:
        return {
            "model": str(self.meta["model"]),
            "engine": str(self.meta["engine"]),
            "variant": str(self.meta["variant"]),
            "split": str(self.meta.get("task_split", self.meta["split"])),
        }


def dataset_task(dataset: DatasetReader) -> str:
    """The task a task dataset was built for (evocane.exchange's name), from its manifest."""
    name = dataset.manifest.get("task")
    if name not in MANIFEST_TASKS:
        raise EvocaneError(f"{dataset.dir / 'manifest.json'}: names no known task ({name!r})")
    return MANIFEST_TASKS[name]


def scored_from_items(windows: pd.DataFrame, task: str, scores: pd.Series, meta: dict[str, Any], source: str | Path) -> ScoredTask:
    """A ScoredTask of a model that gave one score per task item; every item must have one."""
    items = task_items(windows, task)
    absent = [item for item in items if item not in scores.index]
    if absent:
        raise EvocaneError(f"{source}: {len(absent)} {task} items not scored (first: {absent[0]})")
    windows = windows.assign(mean_logprob=np.nan, sum_logprob=np.nan, n_scored=0)
    meta = {**meta, "task_split": "test"}
    return ScoredTask(windows, {}, {}, meta, scores.loc[items].rename(str(meta["model"])))


def item_scores(scored: ScoredTask, task: str) -> pd.Series:
    """Each task item's score (evocane.exchange.TASK_ITEMS): given by the model, or made from its per-base values
    (regulatory, experiments: mean log-probability of the window; variant_effect: alternative minus reference
    window sum). The evaluation and the exchange export read the same numbers from here."""
    if scored.item_scores is not None:
        return scored.item_scores
    windows = scored.windows
    if task == "variant_effect":
        wide = windows.pivot_table(index="pair_id", columns="allele", values="sum_logprob", aggfunc="first")
        delta = wide["alt"] - wide["ref"]
        return delta.reindex(task_items(windows, task)).rename(str(scored.meta["model"]))
    key = TASK_ITEMS[task][0]
    return pd.Series(windows["mean_logprob"].to_numpy(), index=windows[key].astype(str).to_numpy(), name=str(scored.meta["model"]))


def read_scored(task_dataset: str | Path, prediction_dir: str | Path) -> ScoredTask:
    """Join one prediction directory to its task dataset on window_id; every task window (or, for item scores,
    every task item) must be scored."""
    dataset = DatasetReader(task_dataset)
    windows = dataset.split_windows(TASK_SPLIT)
    if has_item_scores(prediction_dir):
        meta, scores = read_item_scores(prediction_dir)
        return scored_from_items(windows, dataset_task(dataset), scores, meta, prediction_dir)
    reader = PredictionReader(prediction_dir)
    index = reader.index.set_index("window_id")
    missing = [w for w in windows["window_id"] if w not in index.index]
    if missing:
        raise EvocaneError(f"{prediction_dir}: {len(missing)} task windows not scored (first: {missing[0]})")
    logprob: dict[str, np.ndarray] = {}
    means = np.empty(len(windows))
    for i, row in enumerate(windows.itertuples(index=False)):
        entry = index.loc[row.window_id]
        if int(entry["length"]) != int(row.length):
            raise EvocaneError(f"{prediction_dir}: window {row.window_id} has length {int(entry['length'])}, dataset {row.length}")
        values = np.asarray(reader.logprob[int(entry["offset"]) : int(entry["offset"]) + int(entry["length"])], dtype=np.float64)
        values = values[int(row.prefix_length) :]
        logprob[row.window_id] = values
        finite = np.isfinite(values)
        means[i] = values[finite].mean() if finite.any() else np.nan
    windows = windows.assign(
        mean_logprob=means,
        sum_logprob=[np.nansum(logprob[w]) for w in windows["window_id"]],
        n_scored=[int(np.isfinite(logprob[w]).sum()) for w in windows["window_id"]],
    )
    prefix = dict(zip(windows["window_id"], windows["prefix_length"]))
    distributions = {key: value[int(prefix[key]) :] for key, value in reader.distributions().items() if key in prefix}
    meta = dict(reader.meta)
    meta["task_split"] = "test"
    return ScoredTask(windows, logprob, distributions, meta)


def scored_members(task_dataset: str | Path, prediction_set: str | Path) -> Iterator[ScoredTask]:
    """Every member of a prediction set (e.g. each Markov order) joined to the task dataset."""
    for directory in prediction_dirs(prediction_set):
        yield read_scored(task_dataset, directory)


def background_scores(task_dataset: str | Path, background_set: str | Path | None, member: str | None) -> pd.Series | None:
    """Mean log-prob per window of the background model (the Markov baseline) for log-likelihood ratios, or None.
    ``member`` picks one member of a multi-member set (e.g. "k3"); None = the first member."""
    if background_set is None:
        return None
    directories = prediction_dirs(background_set)
    chosen = directories[0]
    if member is not None:
        named = [d for d in directories if d.name == member]
        if not named:
            raise EvocaneError(f"{background_set}: no member '{member}' (have: {', '.join(d.name for d in directories)})")
        chosen = named[0]
    scored = read_scored(task_dataset, chosen)
    if scored.item_scores is not None:
        series = scored.item_scores.reindex(scored.windows["window_id"].astype(str))
        series.index.name = "window_id"
    else:
        series = scored.windows.set_index("window_id")["mean_logprob"]
    series.name = str(scored.meta["model"])
    return series
