"""Split planning: which part of which record belongs to train, validation or test, and which windows are drawn.

Planning reads records.tsv (lengths, homology groups), for genic sampling the regions BED, and, to align validation
blocks between homologs, the training records' sequence (sketched k-mers only). The plan is a table of windows
(cultivar, chrom, start, end, strand, split, source) that the build step follows exactly, so every random choice
(random splits, genic jitter, random windows, random strands) is made here, from
generators seeded by (variant seed, purpose, cultivar, record) and therefore independent of processing order.

Split strategies (``split.strategy``):

- ``homology_group`` (default): whole homology groups are held out in every cultivar. A recombinant record whose
  groups fall into different splits is dropped (``recombinant: drop``) or goes to the most held-out of them
  (``held_out``: test before validation); it is never in train. Unplaced and organelle records have no group and
  are dropped.
- ``chromosomes``: lists of records (``Chr1A`` in any cultivar of the variant, or ``cultivar:Chr1A``).
- ``cultivar``: lists of cultivars (e.g. train on mockcane, test on thaliana).
- ``random_windows``: every window is assigned at random (``fractions``): the deliberately leaky control.

When ``validation`` is empty (first three strategies), validation is a block of every training record
(``validation_block``): the first training record of each homology group gets ``[center - fraction/2, center +
fraction/2)`` of its length; every other record of the group gets the equally long block that shares most sketched
k-mers with that one (``align: homolog``), or the same relative position (``relative``); ``buffer`` of the record
length on both sides of the block belongs to no split. On the 2 Mb demo the mean containment of validation windows
in training drops from 0.48 (relative) to 0.095 (homolog) and 0.06 (plus a 0.02 buffer); the audit reports it.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evocane.atomic import atomic_paths
from evocane.dataset.arrays import REGION_BITS, SPLITS
from evocane.dataset.regions import RegionLabeler, merge_intervals
from evocane.errors import EvocaneError

PLAN_COLUMNS = ["cultivar", "chrom", "start", "end", "strand", "split", "source"]
HELD_OUT_ORDER = ("test", "validation")


@dataclass
class Record:
    cultivar: str
    name: str
    length: int
    kind: str
    groups: tuple[str, ...]
    haplotype: str
    annotated: bool


@dataclass
class RecordAssignment:
    cultivar: str
    record: str
    length: int
    homology_groups: list[str]
    split: str | None  # None = dropped; "random" = per window
    reason: str = ""
    segments: list[tuple[int, int, str]] = field(default_factory=list)


@dataclass
class Plan:
    windows: pd.DataFrame
    records: list[RecordAssignment]
    warnings: list[str]
    validation_block: dict[str, Any] | None = None

    def segments(self) -> pd.DataFrame:
        rows = [(a.cultivar, a.record, s, e, split) for a in self.records for s, e, split in a.segments]
        return pd.DataFrame(rows, columns=["cultivar", "chrom", "start", "end", "split"])


def _key(text: str) -> int:
    return zlib.crc32(text.encode())


def rng_for(seed: int, purpose: str, *names: str) -> np.random.Generator:
    """A generator that depends only on the seed, the purpose and the names (not on processing order)."""
    return np.random.default_rng([seed, _key(purpose), *(_key(name) for name in names)])


def read_records(records_tsv: str | Path, cultivar: str) -> list[Record]:
    """Kept records of a prepared genome (records.tsv written by the genome room), in genome order."""
    if not Path(records_tsv).exists():
        raise EvocaneError(f"{records_tsv}: records table of cultivar '{cultivar}' not found (prepare the genome first)")
    table = pd.read_csv(records_tsv, sep="\t", dtype=str, keep_default_na=False)
    out = []
    for row in table.itertuples(index=False):
        if str(row.keep) != "True":
            continue
        groups = tuple(g for g in (row.homology_group, row.homology_group2) if g) if row.kind == "placed" else ()
        out.append(Record(cultivar, row.record, int(row.length), row.kind, groups, row.haplotype, str(row.annotated) == "True"))
    return out


# --- record -> split -------------------------------------------------------------------------------------------------
def assign_records(spec: Mapping[str, Any], records: Sequence[Record]) -> tuple[list[RecordAssignment], list[str]]:
    split = spec["split"]
    strategy = split["strategy"]
    warnings: list[str] = []
    assignments: list[RecordAssignment] = []
    lists = {key: split.get(key) for key in SPLITS}

    def listed(item_keys: Sequence[str]) -> set[str]:
        found = set()
        for key in ("validation", "test"):
            if any(item in (lists[key] or []) for item in item_keys):
                found.add(key)
        if lists["train"] is None:
            if not found:
                found.add("train")
        elif any(item in lists["train"] for item in item_keys):
            found.add("train")
        return found

    for record in records:
        assignment = RecordAssignment(record.cultivar, record.name, record.length, list(record.groups), None)
        if strategy == "random_windows":
            assignment.split = "random"
        elif strategy == "cultivar":
            found = listed([record.cultivar])
            assignment.split = next(iter(found)) if found else None
            assignment.reason = "" if found else "cultivar not listed in the split"
        elif strategy == "chromosomes":
            found = listed([record.name, f"{record.cultivar}:{record.name}"])
            if len(found) > 1:
                raise EvocaneError(f"config key 'datasets.variants.{spec['name']}.split': record {record.cultivar}:{record.name} is listed in {' and '.join(sorted(found))}")
            assignment.split = next(iter(found)) if found else None
            assignment.reason = "" if found else "record not listed in the split"
        else:  # homology_group
            if not record.groups:
                assignment.reason = f"{record.kind} record: no homology group"
            else:
                per_group = {group: listed([group]) for group in record.groups}
                splits_hit = set().union(*per_group.values())
                unselected = [g for g, hit in per_group.items() if not hit]
                described = ", ".join(f"{g} ({'/'.join(sorted(hit)) or 'not selected'})" for g, hit in per_group.items())
                if len(splits_hit) == 1 and not unselected:
                    assignment.split = next(iter(splits_hit))
                elif not splits_hit:
                    assignment.reason = f"homology group {described} not selected"
                elif split["recombinant"] == "held_out" and splits_hit & set(HELD_OUT_ORDER):
                    assignment.split = next(s for s in HELD_OUT_ORDER if s in splits_hit)
                    assignment.reason = f"recombinant spanning groups {described}: held out"
                else:
                    assignment.reason = f"recombinant spanning groups {described}: dropped"
        assignments.append(assignment)

    if strategy in ("chromosomes", "cultivar"):
        known = {a.cultivar for a in assignments} if strategy == "cultivar" else {a.record for a in assignments} | {f"{a.cultivar}:{a.record}" for a in assignments}
        for key in SPLITS:
            for item in lists[key] or []:
                if item not in known:
                    raise EvocaneError(f"config key 'datasets.variants.{spec['name']}.split.{key}': '{item}' matches no record of the variant's cultivars")
    if strategy == "homology_group":
        present = sorted({g for r in records for g in r.groups}, key=lambda g: (len(g), g))
        for key in SPLITS:
            for item in lists[key] or []:
                if item not in present:
                    raise EvocaneError(
                        f"config key 'datasets.variants.{spec['name']}.split.{key}': homology group '{item}' has no kept "
                        f"record in the variant's cultivars ({', '.join(spec['cultivars'])}; groups present: "
                        f"{', '.join(present) or 'none'})"
                    )
    if strategy == "chromosomes":
        train_groups = {g for a in assignments if a.split == "train" for g in a.homology_groups}
        for a in assignments:
            shared = sorted(set(a.homology_groups) & train_groups) if a.split in HELD_OUT_ORDER else []
            if shared:
                warnings.append(
                    f"{a.cultivar}:{a.record} ({a.split}) shares homology group {', '.join(shared)} with training "
                    "records: expect homolog leakage"
                )
    return assignments, warnings


def validation_blocks(
    spec: Mapping[str, Any], assignments: Sequence[RecordAssignment], fastas: Mapping[str, str | Path] | None = None
) -> dict[str, Any] | None:
    """Where each training record's validation block lies, when validation is not a list of groups/records.

    The first training record of each homology group gets the block at the configured relative position; with
    ``align: homolog`` (and the genomes given) every other training record of the group gets the equally long
    block, on a grid of window-length bins, that contains most of the reference block's sketched k-mers.
    Records without a homologous hit (fewer than 5 % of the reference k-mers) keep the relative position.
    """
    split = spec["split"]
    if split["strategy"] == "random_windows" or split.get("validation"):
        return None
    settings = split["validation_block"]
    center, fraction = settings["center"], settings["fraction"]
    train = [a for a in assignments if a.split == "train"]
    blocks: dict[str, dict[str, Any]] = {}
    for a in train:
        start = int(round(a.length * max(0.0, center - fraction / 2)))
        end = int(round(a.length * min(1.0, center + fraction / 2)))
        blocks[f"{a.cultivar}:{a.record}"] = {"start": start, "end": end, "placement": "relative"}
    if settings["align"] == "homolog" and fastas:
        _align_blocks(spec, train, blocks, fastas)
    return {**settings, "records": blocks}


def _align_blocks(
    spec: Mapping[str, Any], train: Sequence[RecordAssignment], blocks: dict[str, dict[str, Any]], fastas: Mapping[str, str | Path]
) -> None:
    from evocane.dataset.leakage import Hasher, count_hits
    from evocane.genome.fasta import read_fasta

    members: dict[str, list[RecordAssignment]] = {}
    for a in train:
        if a.homology_groups:
            members.setdefault(a.homology_groups[0], []).append(a)
    references = {f"{m[0].cultivar}:{m[0].record}": group for group, m in members.items() if len(m) > 1}
    followers = {f"{a.cultivar}:{a.record}": group for group, m in members.items() if len(m) > 1 for a in m[1:]}
    if not followers:
        return
    hasher = Hasher(spec["leakage"]["ksize"], spec["leakage"]["scaled"])
    bin_size = int(spec["windows"]["length"])
    reference_hashes: dict[str, np.ndarray] = {}
    for cultivar in spec["cultivars"]:  # pass 1: the reference blocks
        wanted = {key for key in references if key.startswith(f"{cultivar}:")}
        if wanted:
            for record in read_fasta(fastas[cultivar], validate=False):
                key = f"{cultivar}:{record.name}"
                if key in wanted:
                    block = blocks[key]
                    reference_hashes[references[key]] = np.unique(hasher.hashes(record.sequence[block["start"] : block["end"]]))
    for cultivar in spec["cultivars"]:  # pass 2: bin hits of every other record of the group
        wanted = {key for key in followers if key.startswith(f"{cultivar}:")}
        if not wanted:
            continue
        for record in read_fasta(fastas[cultivar], validate=False):
            key = f"{cultivar}:{record.name}"
            if key not in wanted:
                continue
            sequence = record.sequence
            group = followers[key]
            reference = reference_hashes.get(group, np.empty(0, np.uint64))
            block_length = blocks[key]["end"] - blocks[key]["start"]
            hits = np.array([count_hits(reference, hasher.hashes(sequence[b : b + bin_size])) for b in range(0, len(sequence), bin_size)], dtype=np.int64)
            span = max(1, int(round(block_length / bin_size)))
            sums = np.convolve(hits, np.ones(span, dtype=np.int64), mode="valid") if len(hits) >= span else hits.sum(keepdims=True)
            best = int(np.argmax(sums))
            shared = float(sums[best]) / max(1, len(reference))
            blocks[key]["aligned_to"] = next(ref for ref, g in references.items() if g == group)
            blocks[key]["shared_kmers"] = round(shared, 4)
            if shared >= 0.05:
                start = best * bin_size
                blocks[key].update(start=start, end=min(len(sequence), start + block_length), placement="homolog")


def add_segments(spec: Mapping[str, Any], assignments: Sequence[RecordAssignment], blocks: Mapping[str, Any] | None) -> None:
    """Fill each assignment's segments: whole records, or train | buffer | validation block | buffer | train."""
    buffer = blocks["buffer"] if blocks else 0.0
    for a in assignments:
        if a.split is None:
            continue
        block = blocks["records"].get(f"{a.cultivar}:{a.record}") if blocks and a.split == "train" else None
        if block is None:
            a.segments = [(0, a.length, a.split)]
            continue
        margin = int(round(buffer * a.length))
        pieces = ((0, block["start"] - margin, "train"), (block["start"], block["end"], "validation"), (block["end"] + margin, a.length, "train"))
        a.segments = [(max(0, s), min(a.length, e), name) for s, e, name in pieces if min(a.length, e) > max(0, s)]


# --- windows ---------------------------------------------------------------------------------------------------------
def tile(start: int, end: int, length: int, stride: int) -> np.ndarray:
    if end - start < length:
        return np.empty(0, dtype=np.int64)
    return np.arange(start, end - length + 1, stride, dtype=np.int64)


def _genic_targets(regions: RegionLabeler | None, record: str, kinds: Sequence[str], flank: int, length: int) -> np.ndarray:
    if regions is None:
        return np.empty((0, 2), dtype=np.int64)
    pieces = [regions.intervals(record, REGION_BITS[kind]) for kind in kinds]
    targets = np.concatenate(pieces) if pieces else np.empty((0, 2), dtype=np.int64)
    if not len(targets):
        return np.empty((0, 2), dtype=np.int64)
    padded = targets + np.array([-flank, flank])
    padded[:, 0] = np.maximum(padded[:, 0], 0)
    padded[:, 1] = np.minimum(padded[:, 1], length)
    return merge_intervals(padded)


def plan_windows(
    spec: Mapping[str, Any],
    records: Sequence[Record],
    assignments: Sequence[RecordAssignment],
    regions: Mapping[str, RegionLabeler | None],
) -> pd.DataFrame:
    windows_spec, sampling = spec["windows"], spec["sampling"]
    length, stride, seed = windows_spec["length"], windows_spec["stride"], spec["seed"]
    annotated = {(r.cultivar, r.name) for r in records if r.annotated}
    frames: list[pd.DataFrame] = []

    def frame(a: RecordAssignment, starts: np.ndarray, split: str | np.ndarray, source: str) -> pd.DataFrame:
        return pd.DataFrame({"cultivar": a.cultivar, "chrom": a.record, "start": starts, "end": starts + length,
                             "split": split, "source": source})  # fmt: skip

    for a in assignments:
        for seg_start, seg_end, seg_split in a.segments:
            if sampling["mode"] == "tile":
                frames.append(frame(a, tile(seg_start, seg_end, length, stride), seg_split, "tile"))
                continue
            if (a.cultivar, a.record) not in annotated or seg_end - seg_start < length:
                continue
            targets = _genic_targets(regions.get(a.cultivar), a.record, sampling["genic_regions"], sampling["flank"], a.length)
            targets[:, 0] = np.maximum(targets[:, 0], seg_start)
            targets[:, 1] = np.minimum(targets[:, 1], seg_end)
            targets = targets[targets[:, 1] > targets[:, 0]]
            starts = [tile(s, e, length, stride) if e - s >= length else np.array([(s + e) // 2 - length // 2]) for s, e in targets]
            if not starts:
                continue
            starts_array = np.concatenate(starts)
            rng = rng_for(seed, "genic-jitter", a.cultivar, a.record, str(seg_start))
            jitter = sampling["jitter"]
            if jitter:
                starts_array = starts_array + rng.integers(-jitter, jitter + 1, size=len(starts_array))
            starts_array = np.unique(np.clip(starts_array, seg_start, seg_end - length))
            frames.append(frame(a, starts_array, seg_split, "genic"))

    windows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["cultivar", "chrom", "start", "end", "split", "source"])
    if sampling["mode"] == "genic":
        windows = pd.concat([windows, _random_windows(spec, assignments, windows)], ignore_index=True)

    if spec["split"]["strategy"] == "random_windows":
        fractions = spec["split"]["fractions"]
        weights = np.array([fractions[s] for s in SPLITS], dtype=float)
        weights /= weights.sum()
        assigned = np.empty(len(windows), dtype=object)
        for (cultivar, chrom), index in windows.groupby(["cultivar", "chrom"], sort=False).groups.items():
            rng = rng_for(seed, "random-split", cultivar, chrom)
            assigned[np.asarray(index)] = np.array(SPLITS, dtype=object)[rng.choice(3, size=len(index), p=weights)]
        windows["split"] = assigned

    windows = _strands(windows, windows_spec["reverse_complement"], seed)
    order = {(r.cultivar, r.name): i for i, r in enumerate(records)}
    windows["_record"] = [order[key] for key in zip(windows["cultivar"], windows["chrom"])]
    windows = windows.sort_values(["_record", "start", "strand", "source"], kind="stable")
    windows = windows.drop_duplicates(["cultivar", "chrom", "start", "strand"]).drop(columns="_record")
    windows["start"] = windows["start"].astype(np.int64)
    windows["end"] = windows["end"].astype(np.int64)
    return windows[PLAN_COLUMNS].reset_index(drop=True)


def _random_windows(spec: Mapping[str, Any], assignments: Sequence[RecordAssignment], genic: pd.DataFrame) -> pd.DataFrame:
    """``random_ratio`` x (genic windows of a split) windows drawn uniformly from every segment of that split."""
    length, seed, ratio = spec["windows"]["length"], spec["seed"], spec["sampling"]["random_ratio"]
    frames = []
    pools = ("random",) if spec["split"]["strategy"] == "random_windows" else SPLITS
    for split in pools:
        wanted = int(round(ratio * int((genic["split"] == split).sum()))) if len(genic) else 0
        segments = [(a, s, e) for a in assignments for s, e, name in a.segments if name == split and e - s >= length]
        if not wanted or not segments:
            continue
        room = np.array([e - s - length + 1 for _, s, e in segments], dtype=np.int64)
        rng = rng_for(seed, "random-windows", split)
        draws = rng.integers(0, int(room.sum()), size=wanted)
        which = np.searchsorted(np.cumsum(room), draws, side="right")
        before = np.concatenate(([0], np.cumsum(room)[:-1]))
        starts = np.array([segments[w][1] for w in which], dtype=np.int64) + draws - before[which]
        frames.append(pd.DataFrame({
            "cultivar": [segments[w][0].cultivar for w in which], "chrom": [segments[w][0].record for w in which],
            "start": starts, "end": starts + length, "split": split, "source": "random",
        }))  # fmt: skip
    return pd.concat(frames, ignore_index=True) if frames else genic.iloc[0:0]


def _strands(windows: pd.DataFrame, policy: str, seed: int) -> pd.DataFrame:
    if policy == "none":
        return windows.assign(strand="+")
    if policy == "both":
        return pd.concat([windows.assign(strand="+"), windows.assign(strand="-")], ignore_index=True)
    strands = np.empty(len(windows), dtype=object)
    for (cultivar, chrom), index in windows.groupby(["cultivar", "chrom"], sort=False).groups.items():
        rng = rng_for(seed, "random-strand", cultivar, chrom)
        strands[np.asarray(index)] = np.where(rng.random(len(index)) < 0.5, "+", "-")
    return windows.assign(strand=strands)


# --- the whole plan ----------------------------------------------------------------------------------------------------
def make_plan(
    spec: Mapping[str, Any],
    records_tsv: Mapping[str, str | Path],
    regions_bed: Mapping[str, str | Path | None] | None = None,
    fastas: Mapping[str, str | Path] | None = None,
) -> Plan:
    """Plan a variant: ``records_tsv``, ``regions_bed`` and ``fastas`` map each of the variant's cultivars to its
    files (the genomes are read only to align validation blocks between homologs)."""
    records: list[Record] = []
    for cultivar in spec["cultivars"]:
        records.extend(read_records(records_tsv[cultivar], cultivar))
    if not records:
        raise EvocaneError(f"dataset variant '{spec['name']}': its cultivars have no kept records")
    length = spec["windows"]["length"]
    longest = max(records, key=lambda r: r.length)
    if length > longest.length:
        raise EvocaneError(
            f"dataset variant '{spec['name']}': window length {length} is longer than every record "
            f"(longest: {longest.cultivar}:{longest.name}, {longest.length} bases)"
        )
    assignments, warnings = assign_records(spec, records)
    block = validation_blocks(spec, assignments, fastas)
    add_segments(spec, assignments, block)
    regions: dict[str, RegionLabeler | None] = {}
    if spec["sampling"]["mode"] == "genic":
        for cultivar in spec["cultivars"]:
            path = (regions_bed or {}).get(cultivar)
            order = [r.name for r in records if r.cultivar == cultivar]
            regions[cultivar] = RegionLabeler(path, order) if path else None
    windows = plan_windows(spec, records, assignments, regions)
    short = [f"{r.cultivar}:{r.name}" for r in records if r.length < length]
    if short:
        warnings.append(f"records shorter than the window ({length}) give no windows: {', '.join(short)}")
    for split in SPLITS:
        if not (windows["split"] == split).any():
            raise EvocaneError(
                f"dataset variant '{spec['name']}': the {split} split is empty "
                f"(strategy {spec['split']['strategy']}; check split lists, window length and sampling)"
            )
    return Plan(windows, assignments, warnings, block)


def split_bed(plan: Plan, split: str, strategy: str) -> pd.DataFrame:
    """Merged intervals of one split (BED6, name = cultivar): the record segments, or for random_windows the windows."""
    if strategy == "random_windows":
        source = plan.windows[plan.windows["split"] == split][["cultivar", "chrom", "start", "end"]]
    else:
        segments = plan.segments()
        source = segments[segments["split"] == split][["cultivar", "chrom", "start", "end"]]
    rows = []
    for (cultivar, chrom), part in source.groupby(["cultivar", "chrom"], sort=False):
        for start, end in merge_intervals(part[["start", "end"]].to_numpy()):
            rows.append((chrom, int(start), int(end), cultivar, 0, "."))
    return pd.DataFrame(rows, columns=["chrom", "start", "end", "name", "score", "strand"])


def write_plan_table(windows: pd.DataFrame, path: str | Path) -> None:
    """The plan as parquet with one row group per (cultivar, record), so steps read one record's windows at a time."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(windows[PLAN_COLUMNS].reset_index(drop=True), preserve_index=False)
    keys = list(zip(windows["cultivar"], windows["chrom"]))
    with pq.ParquetWriter(str(path), table.schema) as writer:
        if not keys:
            writer.write_table(table)
        first = 0
        for i in range(1, len(keys) + 1):
            if i == len(keys) or keys[i] != keys[first]:
                writer.write_table(table.slice(first, i - first), row_group_size=i - first)
                first = i


class PlanReader:
    """One record's planned windows at a time from plan.parquet (row groups per record)."""

    def __init__(self, path: str | Path):
        import pyarrow.parquet as pq

        self.path = Path(path)
        if not self.path.exists():
            raise EvocaneError(f"{self.path}: plan not found (run the plan step first)")
        self.file = pq.ParquetFile(str(self.path))
        self.rows = self.file.metadata.num_rows
        self.groups: dict[tuple[str, str], list[int]] = {}
        for i in range(self.file.num_row_groups):
            if self.file.metadata.row_group(i).num_rows == 0:
                continue
            first = self.file.read_row_group(i, columns=["cultivar", "chrom"]).slice(0, 1).to_pylist()[0]
            self.groups.setdefault((first["cultivar"], first["chrom"]), []).append(i)

    def records(self, cultivar: str) -> list[str]:
        return [chrom for c, chrom in self.groups if c == cultivar]

    def windows(self, cultivar: str, record: str) -> pd.DataFrame:
        import pyarrow as pa

        groups = self.groups.get((cultivar, record), [])
        if not groups:
            return pd.DataFrame(columns=PLAN_COLUMNS)
        return pa.concat_tables([self.file.read_row_group(i) for i in groups]).to_pandas()


def write_plan(plan: Plan, spec: Mapping[str, Any], out_dir: str | Path) -> dict[str, Any]:
    """plan.parquet, splits/{split}.bed and splits/manifest.json, all or none."""
    out_dir = Path(out_dir)
    paths = [out_dir / "plan.parquet", out_dir / "splits" / "manifest.json"] + [out_dir / "splits" / f"{s}.bed" for s in SPLITS]
    counts = plan.windows.groupby("split").size().reindex(list(SPLITS), fill_value=0)
    manifest = {
        "variant": spec["name"],
        "strategy": spec["split"]["strategy"],
        "seed": spec["seed"],
        "split": spec["split"],
        "windows": spec["windows"],
        "sampling": spec["sampling"],
        "validation_block": plan.validation_block,
        "records": [asdict(a) for a in plan.records],
        "planned_windows": {split: int(n) for split, n in counts.items()},
        "planned_windows_by_source": {f"{k[0]}/{k[1]}": int(v) for k, v in plan.windows.groupby(["split", "source"]).size().items()},
        "warnings": plan.warnings,
    }
    with atomic_paths(*paths) as temps:
        write_plan_table(plan.windows, temps[0])
        temps[1].write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        for split, temp in zip(SPLITS, temps[2:]):
            split_bed(plan, split, spec["split"]["strategy"]).to_csv(temp, sep="\t", header=False, index=False, lineterminator="\n")
    return manifest
