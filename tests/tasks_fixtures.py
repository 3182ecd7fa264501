"""Helpers for the task tests (generation, regulatory, variants, experiments): a prepared-genome directory and a
dataset-contract directory built from the real TAIR10 slice of conftest, without running the other rooms."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pysam

from evocane.dataset.arrays import WEIGHT_FULL, WEIGHT_NONE, WEIGHT_SOFTMASKED, WINDOW_COLUMNS, SplitArrayWriter
from evocane.predictions import PredictionWriter, base_codes

CHROM = "NC_003070.9"
TEST_START = 100_000  # the fixture's test split: [TEST_START, slice end); train before it


def genome_dir_from_slice(fasta: Path, gff: Path, out: Path) -> Path:
    """results/genomes/{cultivar}-like directory: BGZF genome + .fai/.gzi and the annotation."""
    out.mkdir(parents=True, exist_ok=True)
    pysam.tabix_compress(str(fasta), str(out / "genome.fa.gz"), force=True)
    pysam.faidx(str(out / "genome.fa.gz"))
    shutil.copy(gff, out / "annotation.gff3.gz")
    return out


def dataset_from_genome(genome_dir: Path, out: Path, cultivar: str = "thaliana", window: int = 1024, tag: str = "") -> Path:
    """A dataset variant tiling the record with ``window``-bp windows: train before TEST_START, test after."""
    with pysam.FastaFile(str(genome_dir / "genome.fa.gz")) as fasta:
        sequence = fasta.fetch(CHROM).encode()
    rows = []
    writers = {split: SplitArrayWriter(out, split) for split in ("train", "validation", "test")}
    for start in range(0, len(sequence) - window + 1, window):
        split = "train" if start + window <= TEST_START else ("test" if start >= TEST_START else None)
        if split is None:
            continue
        tokens = np.frombuffer(tag.encode() + sequence[start : start + window], dtype=np.uint8)
        codes = base_codes(tokens)
        lower = tokens >= ord("a")
        weights = np.where(codes < 0, WEIGHT_NONE, np.where(lower, WEIGHT_SOFTMASKED, WEIGHT_FULL)).astype(np.uint8)
        weights[: len(tag)] = WEIGHT_NONE
        offset = writers[split].append(tokens, np.zeros(len(tokens), dtype=np.uint8), weights)
        rows.append({"window_id": f"{cultivar}:{CHROM}:{start}", "cultivar": cultivar, "chrom": CHROM, "start": start,
                     "end": start + window, "strand": "+", "split": split, "homology_group": "1", "homology_group2": "2",
                     "haplotype": "A", "offset": offset, "length": len(tokens), "prefix_length": len(tag)})  # fmt: skip
    for writer in writers.values():
        writer.close()
    pd.DataFrame(rows, columns=WINDOW_COLUMNS).to_parquet(out / "windows.parquet", index=False)
    (out / "manifest.json").write_text(json.dumps({"variant": "fixture"}))
    return out


def uniform_predictions(task_dataset: Path, out: Path, model: str = "uniform", keep_distributions: bool = True) -> Path:
    """A prediction directory of a model that gives every base probability 1/4 (log 1/4 everywhere scored)."""
    windows = pd.read_parquet(task_dataset / "windows.parquet").sort_values("offset")
    tokens = np.load(task_dataset / "arrays" / "test.tokens.npy")
    with PredictionWriter(out, {"model": model, "engine": "uniform", "variant": "fixture", "split": "test"}) as writer:
        for row in windows.itertuples(index=False):
            codes = base_codes(tokens[row.offset : row.offset + row.length])
            logprob = np.where(codes >= 0, np.log(0.25), np.nan).astype(np.float32)
            logprob[0] = np.nan
            distribution = np.full((row.length, 4), 0.25, dtype=np.float32) if keep_distributions else None
            writer.add(row.window_id, logprob, distribution=distribution)
    return out


def gff_lines(gff: Path, attribute: str) -> list[list[str]]:
    with gzip.open(gff, "rt") as handle:
        return [line.rstrip("\n").split("\t") for line in handle if not line.startswith("#") and attribute in line]


# --- fixtures (import them into a test module to use them) ------------------------------------------------------------
import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tair10_genome(tmp_path_factory: pytest.TempPathFactory, tair10_slice: tuple[Path, Path]) -> Path:
    """The 300 kb TAIR10 slice as a prepared-genome directory."""
    fasta, gff = tair10_slice
    return genome_dir_from_slice(fasta, gff, tmp_path_factory.mktemp("genome") / "thaliana")


@pytest.fixture(scope="session")
def tair10_dataset(tmp_path_factory: pytest.TempPathFactory, tair10_genome: Path) -> Path:
    """A dataset variant over the slice: train before 100 kb, test after."""
    return dataset_from_genome(tair10_genome, tmp_path_factory.mktemp("dataset") / "fixture")
