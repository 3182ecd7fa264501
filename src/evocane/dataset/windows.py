"""Build a dataset variant: window + label + tokenise in one streaming pass per cultivar genome.

The build follows a plan (``evocane.dataset.splits``) exactly; it makes no random choice. Genomes are read one
record at a time (``evocane.genome.fasta.read_fasta``: `bgzip -dc` in a separate process, 16 MB chunks read ahead on
a thread), and each record's windows are processed in spans of at most ``SPAN_BASES`` (8 Mb), for which three uint8
arrays exist:

- tokens: the bases as ASCII (Evo 2 byte vocabulary); upper-cased when ``softmask: upper``;
- labels: the repeat bit on lowercase bases and the ambiguous bit on anything but A/C/G/T (one ``bytes.translate``),
  OR the region bits painted from the regions BED (streamed in step with the genome);
- weights: loss codes (0 for N/IUPAC, 1 for soft-masked bases unless ``softmask: upper``, 2 otherwise).

Back-to-back windows are written straight from the span arrays; others are gathered (a strided view indexed by
the window starts), reverse-complemented where the plan says ``-``, prefixed with the lineage tag (label 0,
weight 0) if asked, and appended to one SplitArrayWriter per split. Per-window composition (fraction of each region
bit, N and repeat fractions) comes from interval coverage (binary searches), not from scanning the windows.
Windows above ``max_n_fraction`` (or ``max_repeat_fraction`` with ``softmask: drop``) are dropped; validation and
test windows get their k-mer containment in the training set and are dropped above ``leakage.remove_above``.
Peak memory: the current record about twice (while it is assembled from the reader's chunks) plus the span
buffers and the window table (~150 B per window).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view
from tqdm import tqdm

from evocane.dataset.arrays import (
    AMBIGUOUS,
    REGION_BITS,
    REPEAT,
    SPLITS,
    WEIGHT_FULL,
    WEIGHT_NONE,
    WEIGHT_SOFTMASKED,
    WINDOW_COLUMNS,
    SplitArrayWriter,
)
from evocane.dataset.config import lineage_tag
from evocane.dataset.leakage import ContainmentScorer, HashAccumulator, Hasher, leakage_bin_labels, leakage_bins
from evocane.dataset.regions import RegionLabeler, merge_intervals
from evocane.dataset.splits import PlanReader, read_records
from evocane.errors import EvocaneError
from evocane.genome.fasta import read_fasta

log = logging.getLogger(__name__)

SPAN_BASES = 1 << 23  # record bases processed at a time (tokens, labels, weights exist only for the span)
FRACTION_COLUMNS = [f"{region}_fraction" for region in REGION_BITS]
EXTRA_COLUMNS = ["annotated", "source", *FRACTION_COLUMNS, "leakage_containment", "leakage_hashes", "leakage_bin"]


def _lut(mapping: Mapping[bytes, int], default: int) -> np.ndarray:
    table = np.full(256, default, dtype=np.uint8)
    for chars, value in mapping.items():
        table[np.frombuffer(chars, dtype=np.uint8)] = value
    return table


IDENTITY = np.arange(256, dtype=np.uint8)
UPPER = IDENTITY.copy()
UPPER[ord("a") : ord("z") + 1] -= 32
COMPLEMENT = IDENTITY.copy()
COMPLEMENT[np.frombuffer(b"ACGTRYKMSWBDHVNacgtrykmswbdhvn", dtype=np.uint8)] = np.frombuffer(
    b"TGCAYRMKSWVHDBNtgcayrmkswvhdbn", dtype=np.uint8
)
IS_LOWER = _lut({bytes(range(ord("a"), ord("z") + 1)): 1}, 0)
IS_AMBIGUOUS = _lut({b"ACGTacgt": 0}, 1)
WEIGHTS_KEEP = _lut({b"ACGT": WEIGHT_FULL, b"acgt": WEIGHT_SOFTMASKED}, WEIGHT_NONE)
WEIGHTS_UPPER = _lut({b"ACGTacgt": WEIGHT_FULL}, WEIGHT_NONE)
CASE_BITS = (IS_LOWER * REPEAT) | (IS_AMBIGUOUS * AMBIGUOUS)
CASE_TABLE, WEIGHTS_KEEP_TABLE, WEIGHTS_UPPER_TABLE = CASE_BITS.tobytes(), WEIGHTS_KEEP.tobytes(), WEIGHTS_UPPER.tobytes()


@dataclass(frozen=True)
class GenomeInput:
    """One cultivar's prepared genome (the genome room's outputs) and its regions BED (None = unannotated)."""

    cultivar: str
    fasta: Path
    records_tsv: Path
    regions_bed: Path | None


# --- interval coverage -------------------------------------------------------------------------------------------------
def runs(mask: np.ndarray) -> np.ndarray:
    """(n, 2) half-open intervals where a boolean array is True."""
    padded = np.zeros(len(mask) + 2, dtype=np.bool_)
    padded[1:-1] = mask
    edges = np.flatnonzero(padded[1:] != padded[:-1])  # bool compare: 1 byte per base, no int64 temporaries
    return edges.reshape(-1, 2).astype(np.int64)


def covered(intervals: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Bases of each [start, end) covered by sorted disjoint ``intervals``."""
    if not len(intervals):
        return np.zeros(len(starts), dtype=np.int64)
    lengths = intervals[:, 1] - intervals[:, 0]
    before = np.concatenate(([0], np.cumsum(lengths)))

    def upto(x: np.ndarray) -> np.ndarray:
        i = np.searchsorted(intervals[:, 0], x, side="right") - 1
        inside = np.clip(x - intervals[np.maximum(i, 0), 0], 0, lengths[np.maximum(i, 0)])
        return np.where(i >= 0, before[np.maximum(i, 0)] + inside, 0)

    return upto(ends) - upto(starts)


# --- the build -----------------------------------------------------------------------------------------------------------
class _Staging:
    """Outputs are written under a hidden directory next to the variant directory and moved into place only when
    everything succeeded, so a failed build leaves no half-written arrays, table or manifest."""

    def __init__(self, out_dir: Path):
        out_dir.mkdir(parents=True, exist_ok=True)
        for stale in out_dir.glob(".build-*"):  # left by a killed build of this variant (one build job at a time)
            shutil.rmtree(stale, ignore_errors=True)
        self.out_dir = out_dir
        self.path = Path(tempfile.mkdtemp(prefix=".build-", dir=out_dir))

    def commit(self, names: Sequence[str]) -> None:
        for name in names:
            final = self.out_dir / name
            if final.is_dir():
                shutil.rmtree(final)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.path / name, final)

    def cleanup(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def build_dataset(
    spec: Mapping[str, Any],
    plan: str | Path,
    genomes: Mapping[str, GenomeInput],
    out_dir: str | Path,
    train_hashes: np.ndarray | None = None,
    extra_manifest: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Write windows.parquet, arrays/{split}.{tokens,labels,weights}.npy and manifest.json into ``out_dir``,
    following the plan file (plan.parquet)."""
    out_dir = Path(out_dir)
    staging = _Staging(out_dir)
    try:
        summary = _build(spec, PlanReader(plan), genomes, staging.path, train_hashes, extra_manifest or {})
        staging.commit(["arrays", "windows.parquet", "manifest.json"])
    finally:
        staging.cleanup()
    return summary


class _WindowTable:
    """The window table written as records are processed: one parquet part per split (rows arrive in offset
    order within a split), joined into windows.parquet at the end one row group at a time. Memory: one record's
    rows."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.directory.mkdir()
        self.writers: dict[str, Any] = {}
        self.schema: Any = None
        self.counts = {split: {"windows": 0, "tokens": 0} for split in SPLITS}

    def add(self, table: Any) -> None:
        import pyarrow.parquet as pq

        self.schema = self.schema or table.schema
        table = table.cast(self.schema)
        splits = np.asarray(table.column("split").to_numpy(zero_copy_only=False))
        lengths = table.column("length").to_numpy()
        for split in SPLITS:
            chosen = np.flatnonzero(splits == split)
            if not len(chosen):
                continue
            if split not in self.writers:
                self.writers[split] = pq.ParquetWriter(str(self.directory / f"{split}.parquet"), self.schema)
            self.writers[split].write_table(table.take(chosen))
            self.counts[split]["windows"] += len(chosen)
            self.counts[split]["tokens"] += int(lengths[chosen].sum())

    def finish(self, path: Path) -> None:
        import pyarrow.parquet as pq

        for writer in self.writers.values():
            writer.close()
        with pq.ParquetWriter(str(path), self.schema) as out:
            for split in SPLITS:
                if split in self.writers:
                    part = pq.ParquetFile(str(self.directory / f"{split}.parquet"))
                    for i in range(part.num_row_groups):
                        out.write_table(part.read_row_group(i))
        shutil.rmtree(self.directory)


def _build(
    spec: Mapping[str, Any],
    plan: PlanReader,
    genomes: Mapping[str, GenomeInput],
    out_dir: Path,
    train_hashes: np.ndarray | None,
    extra_manifest: Mapping[str, Any],
) -> dict[str, Any]:
    windows_spec, leakage = spec["windows"], spec["leakage"]
    length = int(windows_spec["length"])
    softmask = windows_spec["softmask"]
    scorer = None
    if leakage["enabled"]:
        if train_hashes is None:
            raise EvocaneError(f"dataset variant '{spec['name']}': leakage audit enabled but no training sketch given")
        scorer = ContainmentScorer(train_hashes, leakage["ksize"], leakage["scaled"])
    bin_edges = list(leakage["bins"])
    writers = {split: SplitArrayWriter(out_dir, split) for split in SPLITS}
    table = _WindowTable(out_dir / ".table")
    warnings: list[str] = []
    removed = {split: 0 for split in SPLITS}
    filtered = {"n_fraction": 0, "repeat_fraction": 0}
    progress = tqdm(total=plan.rows, unit=" windows", desc=f"build {spec['name']}", mininterval=2.0)
    try:
        for cultivar in spec["cultivars"]:
            planned_records = set(plan.records(cultivar))
            if not planned_records:
                continue
            genome = genomes[cultivar]
            records = {r.name: r for r in read_records(genome.records_tsv, cultivar)}
            labeler = RegionLabeler(genome.regions_bed, list(records))
            tag = np.frombuffer(lineage_tag(spec["lineage"][cultivar]).encode(), dtype=np.uint8) if windows_spec["lineage_tag"] else np.empty(0, np.uint8)
            seen = set()
            for fasta_record in read_fasta(genome.fasta, validate=False):
                name, sequence = fasta_record.name, fasta_record.sequence
                if name not in planned_records:
                    continue
                seen.add(name)
                record = records[name]
                if len(sequence) != record.length:
                    raise EvocaneError(f"{genome.fasta}: record '{name}' has {len(sequence)} bases, records.tsv says {record.length}")
                planned = plan.windows(cultivar, name)
                part, record_warnings = _build_record(
                    spec, cultivar, record, sequence, planned, labeler, tag, writers, scorer, softmask, length, removed, filtered
                )
                warnings.extend(record_warnings)
                if part is not None:
                    part["leakage_bin"] = leakage_bins(part["leakage_containment"], part["split"], bin_edges)
                    table.add(_arrow_table(part))
                progress.update(len(planned))
            missing = sorted(planned_records - seen)
            if missing:
                raise EvocaneError(f"{genome.fasta}: planned records {', '.join(missing)} are not in the genome (re-run the plan)")
    finally:
        progress.close()
        for writer in writers.values():
            writer.close()

    for split in SPLITS:
        if not table.counts[split]["windows"]:
            raise EvocaneError(
                f"dataset variant '{spec['name']}': the {split} split is empty after filtering "
                f"(windows dropped for N: {filtered['n_fraction']}, for repeats: {filtered['repeat_fraction']}, "
                f"for leakage: {removed[split]})"
            )
    table.finish(out_dir / "windows.parquet")
    manifest = {
        "variant": spec["name"],
        "spec": spec,
        "window_columns": WINDOW_COLUMNS + EXTRA_COLUMNS,
        "leakage_bins": leakage_bin_labels(bin_edges),
        "splits": {split: {**table.counts[split], "removed_for_leakage": removed[split]} for split in SPLITS},
        "dropped_windows": filtered,
        "warnings": warnings,
        **extra_manifest,
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True, default=_json_default) + "\n")
    return manifest


def _arrow_table(columns: Mapping[str, Any]) -> Any:
    """One record's window rows as an Arrow table with fixed column types (strings, int64, bool, float64)."""
    import pyarrow as pa

    types = {"annotated": pa.bool_(), "leakage_hashes": pa.int64(), **{c: pa.int64() for c in ("start", "end", "offset", "length", "prefix_length")}}
    floats = {f"{region}_fraction" for region in REGION_BITS} | {"leakage_containment"}
    rows = len(columns["window_id"])
    arrays = {}
    for name in WINDOW_COLUMNS + EXTRA_COLUMNS:
        value = columns[name]
        if np.ndim(value) == 0:
            value = np.full(rows, value, dtype=object if isinstance(value, str) else None)
        kind = types.get(name, pa.float64() if name in floats else pa.string())
        arrays[name] = pa.array(value, type=kind)
    return pa.table(arrays)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {value!r}")


def _build_record(
    spec: Mapping[str, Any],
    cultivar: str,
    record: Any,
    sequence: bytes,
    planned: pd.DataFrame,
    labeler: RegionLabeler,
    tag: np.ndarray,
    writers: Mapping[str, SplitArrayWriter],
    scorer: ContainmentScorer | None,
    softmask: str,
    length: int,
    removed: dict[str, int],
    filtered: dict[str, int],
) -> tuple[dict[str, Any] | None, list[str]]:
    """Windows of one record, processed in spans of at most SPAN_BASES (plus one window): tokens, labels and
    weights exist only for the current span, so memory is the record's sequence plus a few span buffers."""
    warnings: list[str] = []
    if sequence.count(b"N") + sequence.count(b"n") == len(sequence):
        warnings.append(f"{cultivar}:{record.name} is entirely N/ambiguous: no windows")
    elif sequence.islower():
        warnings.append(f"{cultivar}:{record.name} is entirely soft-masked (every base is repeat-labelled)")
    starts = planned["start"].to_numpy(dtype=np.int64)
    ends = starts + length
    splits = planned["split"].to_numpy()
    strands = planned["strand"].to_numpy()
    keep = np.zeros(len(starts), dtype=bool)
    offsets = np.zeros(len(starts), dtype=np.int64)
    containment = np.full(len(starts), np.nan)
    hashes = np.zeros(len(starts), dtype=np.int64)
    coverage = {name: np.zeros(len(starts), dtype=np.int64) for name in REGION_BITS}
    total = len(tag) + length
    weight_table = WEIGHTS_UPPER_TABLE if softmask == "upper" else WEIGHTS_KEEP_TABLE
    groups = starts // SPAN_BASES
    boundaries = np.flatnonzero(np.diff(groups)) + 1
    for rows in np.split(np.arange(len(starts)), boundaries):
        span_start, span_end = int(starts[rows].min()), int(ends[rows].max())
        span = sequence[span_start:span_end]
        labels = np.frombuffer(bytearray(span.translate(CASE_TABLE)), dtype=np.uint8)  # bytes.translate beats numpy LUTs
        lower_runs, ambiguous_runs = case_runs(labels)
        labeler.add_labels(record.name, labels, span_start)
        weights = np.frombuffer(span.translate(weight_table), dtype=np.uint8)
        tokens = np.frombuffer(span.upper() if softmask == "upper" else span, dtype=np.uint8)
        local_starts, local_ends = starts[rows] - span_start, ends[rows] - span_start
        for name, bit in REGION_BITS.items():
            if bit not in (REPEAT, AMBIGUOUS):
                coverage[name][rows] = covered(labeler.intervals(record.name, bit), starts[rows], ends[rows])
        coverage["repeat"][rows] = covered(lower_runs, local_starts, local_ends)
        coverage["ambiguous"][rows] = covered(ambiguous_runs, local_starts, local_ends)
        span_keep, too_many_n, too_repetitive = keep_mask(coverage["ambiguous"][rows], coverage["repeat"][rows], length, spec["windows"])
        filtered["n_fraction"] += too_many_n
        filtered["repeat_fraction"] += too_repetitive
        if scorer is not None:
            for i in rows[span_keep & (splits[rows] != "train")]:
                containment[i], hashes[i] = scorer.containment(sequence[starts[i] : ends[i]])
            threshold = spec["leakage"]["remove_above"]
            if threshold is not None:
                too_close = span_keep & (splits[rows] != "train") & (containment[rows] > threshold)
                for split in SPLITS:
                    removed[split] += int((too_close & (splits[rows] == split)).sum())
                span_keep &= ~too_close
        keep[rows] = span_keep
        views = [sliding_window_view(array, length) for array in (tokens, labels, weights)]
        for split in SPLITS:
            selected = rows[span_keep & (splits[rows] == split)]
            if not len(selected):
                continue
            block_starts = starts[selected] - span_start
            minus = strands[selected] == "-"
            if not len(tag) and not minus.any() and np.array_equal(block_starts, block_starts[0] + length * np.arange(len(selected))):
                # back-to-back windows: write straight from the span arrays, no copy
                piece = slice(int(block_starts[0]), int(block_starts[0]) + length * len(selected))
                offset = writers[split].append(tokens[piece], labels[piece], weights[piece])
            else:
                block_tokens, block_labels, block_weights = (view[block_starts] for view in views)
                if minus.any():
                    block_tokens[minus] = COMPLEMENT[block_tokens[minus, ::-1]]
                    block_labels[minus] = block_labels[minus, ::-1]
                    block_weights[minus] = block_weights[minus, ::-1]
                if len(tag):
                    block_tokens = np.concatenate([np.broadcast_to(tag, (len(selected), len(tag))), block_tokens], axis=1)
                    block_labels = np.concatenate([np.zeros((len(selected), len(tag)), np.uint8), block_labels], axis=1)
                    block_weights = np.concatenate([np.zeros((len(selected), len(tag)), np.uint8), block_weights], axis=1)
                offset = writers[split].append(block_tokens.reshape(-1), block_labels.reshape(-1), block_weights.reshape(-1))
            offsets[selected] = offset + np.arange(len(selected), dtype=np.int64) * total
    if not keep.any():
        return None, warnings

    kept = np.flatnonzero(keep)
    columns: dict[str, Any] = {
        "window_id": [f"{cultivar}:{record.name}:{s}-{e}:{strand}" for s, e, strand in zip(starts[kept], ends[kept], strands[kept])],
        "cultivar": cultivar, "chrom": record.name, "start": starts[kept], "end": ends[kept], "strand": strands[kept],
        "split": splits[kept],
        "homology_group": record.groups[0] if record.groups else "",
        "homology_group2": record.groups[1] if len(record.groups) > 1 else "",
        "haplotype": record.haplotype, "offset": offsets[kept], "length": total, "prefix_length": len(tag),
        "annotated": record.annotated, "source": planned["source"].to_numpy()[kept],
        "leakage_containment": containment[kept], "leakage_hashes": hashes[kept],
    }  # fmt: skip
    for name in REGION_BITS:
        columns[f"{name}_fraction"] = coverage[name][kept] / length
    return columns, warnings


def _total(intervals: np.ndarray) -> int:
    return int((intervals[:, 1] - intervals[:, 0]).sum())


def case_runs(case_bits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Runs of soft-masked (REPEAT bit) and of ambiguous (AMBIGUOUS bit) bases from a record's CASE_BITS array,
    found from the positions where the array changes (one pass over the record)."""
    changes = np.flatnonzero(case_bits[1:] != case_bits[:-1]) + 1
    starts = np.concatenate(([0], changes)).astype(np.int64)
    ends = np.concatenate((changes, [len(case_bits)])).astype(np.int64)
    values = case_bits[starts] if len(case_bits) else case_bits[:0]
    out = []
    for bit in (REPEAT, AMBIGUOUS):
        selected = (values & bit) > 0
        out.append(merge_intervals(np.column_stack([starts[selected], ends[selected]])))
    return out[0], out[1]


def record_runs(sequence: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Runs of soft-masked (lowercase) and of ambiguous (not A/C/G/T) bases of one record."""
    return case_runs(np.frombuffer(sequence.translate(CASE_TABLE), dtype=np.uint8))


def keep_mask(ambiguous: np.ndarray, repeat: np.ndarray, length: int, windows_spec: Mapping[str, Any]) -> tuple[np.ndarray, int, int]:
    """Which windows pass the N filter (and, with ``softmask: drop``, the repeat filter); counts of each failure."""
    keep = ambiguous <= windows_spec["max_n_fraction"] * length
    too_many_n = int((~keep).sum())
    too_repetitive = 0
    if windows_spec["softmask"] == "drop":
        repeat_ok = repeat <= windows_spec["max_repeat_fraction"] * length
        too_repetitive = int((keep & ~repeat_ok).sum())
        keep &= repeat_ok
    return keep, too_many_n, too_repetitive


def sketch_training_windows(spec: Mapping[str, Any], plan: str | Path, genome: GenomeInput) -> np.ndarray:
    """Sorted unique sketched k-mer hashes of one cultivar's training windows (after the same filters as the
    build), streaming the genome one record at a time."""
    leakage, length = spec["leakage"], int(spec["windows"]["length"])
    hasher, accumulator = Hasher(leakage["ksize"], leakage["scaled"]), HashAccumulator()
    reader = PlanReader(plan)
    wanted = set(reader.records(genome.cultivar))
    progress = tqdm(unit=" windows", desc=f"sketch {spec['name']} {genome.cultivar}", mininterval=2.0)
    if wanted:
        for fasta_record in read_fasta(genome.fasta, validate=False):
            name, sequence = fasta_record.name, fasta_record.sequence
            if name not in wanted:
                continue
            windows = reader.windows(genome.cultivar, name)
            starts = np.unique(windows.loc[windows["split"] == "train", "start"].to_numpy(dtype=np.int64))
            if not len(starts):
                continue
            lower_runs, ambiguous_runs = record_runs(sequence)
            ends = starts + length
            keep, _, _ = keep_mask(covered(ambiguous_runs, starts, ends), covered(lower_runs, starts, ends), length, spec["windows"])
            for start in starts[keep]:
                accumulator.add(hasher.hashes(sequence[start : start + length]))
            progress.update(len(starts))
    progress.close()
    return accumulator.result()


