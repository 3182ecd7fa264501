"""Small dataset variants cut from the start of a real FASTA record, for the hf tests and benchmarks.

Not the datasets room (which splits by homology group, labels regions from GFF3 and audits leakage): this only
writes the dataset contract's files (window table + token/label/weight arrays through ``SplitArrayWriter``) from
consecutive windows of one record, with soft-masked bases as weight code 1 and the repeat bit, N/IUPAC as code 0.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd

from evocane.atomic import atomic_dir
from evocane.dataset.arrays import (
    AMBIGUOUS,
    INTERGENIC,
    REPEAT,
    SPLITS,
    WEIGHT_FULL,
    WEIGHT_NONE,
    WEIGHT_SOFTMASKED,
    WINDOW_COLUMNS,
    SplitArrayWriter,
)


def read_prefix(fasta: str | Path, n_bases: int, skip: int = 0) -> tuple[str, bytes]:
    """The name and bases ``[skip, skip + n_bases)`` of the first record of a (gzipped) FASTA, read as a stream."""
    opener = gzip.open if str(fasta).endswith(".gz") else open
    chunks: list[bytes] = []
    have = 0
    name = ""
    with opener(fasta, "rb") as handle:
        for line in handle:
            if line.startswith(b">"):
                if name:
                    break
                name = line[1:].split()[0].decode()
                continue
            chunks.append(line.strip())
            have += len(chunks[-1])
            if have >= skip + n_bases:
                break
    return name, b"".join(chunks)[skip : skip + n_bases]


def codes_for(tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(labels, weight codes) of a window: repeat bit + code 1 for acgt, code 2 for ACGT, ambiguous + 0 otherwise."""
    upper = np.isin(tokens, np.frombuffer(b"ACGT", dtype=np.uint8))
    lower = np.isin(tokens, np.frombuffer(b"acgt", dtype=np.uint8))
    weights = np.where(upper, WEIGHT_FULL, np.where(lower, WEIGHT_SOFTMASKED, WEIGHT_NONE)).astype(np.uint8)
    labels = np.where(upper | lower, INTERGENIC, AMBIGUOUS).astype(np.uint8) | np.where(lower, REPEAT, 0).astype(np.uint8)
    return labels, weights


def write_toy_dataset(
    fasta: str | Path, out_dir: str | Path, window: int, counts: dict[str, int], cultivar: str = "toy", skip: int = 0
) -> Path:
    """Consecutive ``window``-base windows from the start (after ``skip``) of ``fasta``'s first record: the first
    ``counts['train']`` to train, then validation, then test."""
    total = sum(counts.get(split, 0) for split in SPLITS)
    chrom, sequence = read_prefix(fasta, total * window, skip)
    tokens = np.frombuffer(sequence, dtype=np.uint8)
    rows = []
    position = 0
    with atomic_dir(out_dir) as temp:
        for split in SPLITS:
            writer = SplitArrayWriter(temp, split)
            for index in range(counts.get(split, 0)):
                piece = tokens[position * window : (position + 1) * window]
                labels, weights = codes_for(piece)
                offset = writer.append(piece, labels, weights)
                start = skip + position * window
                rows.append({
                    "window_id": f"{cultivar}:{chrom}:{start}-{start + window}:+", "cultivar": cultivar, "chrom": chrom,
                    "start": start, "end": start + window, "strand": "+", "split": split, "homology_group": "1",
                    "homology_group2": "", "haplotype": "A", "offset": offset, "length": len(piece), "prefix_length": 0,
                })  # fmt: skip
                position += 1
            writer.close()
        pd.DataFrame(rows, columns=WINDOW_COLUMNS).to_parquet(temp / "windows.parquet", index=False)
        (temp / "manifest.json").write_text(json.dumps({"variant": Path(out_dir).name, "toy": True}) + "\n")
    return Path(out_dir)
