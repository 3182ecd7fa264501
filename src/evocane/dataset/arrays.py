"""The dataset contract: a window table plus flat per-base arrays per split, aligned base for base.

Layout of one dataset variant directory (``results/datasets/{variant}``)::

    windows.parquet              one row per window, every split (columns: WINDOW_COLUMNS + region fractions ...)
    arrays/{split}.tokens.npy    uint8, Evo 2 byte vocabulary (ASCII); case kept as the variant's soft-mask policy says
    arrays/{split}.labels.npy    uint8 bit mask per base (REGION_BITS)
    arrays/{split}.weights.npy   uint8 loss-weight code per base (WEIGHT_* codes)

Window ``i`` of split ``s`` occupies ``[offset, offset + length)`` of the three ``s`` arrays; the first
``prefix_length`` positions of a window are an optional lineage tag (label 0, weight code 0).
Engines read tokens/weights; evaluation reads labels; nobody reads the genome again.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from evocane.errors import EvocaneError

SPLITS = ("train", "validation", "test")

# Region bit mask (labels.npy). A base may carry several bits (e.g. CDS of one transcript, intron of another).
CDS = 1
UTR5 = 2
UTR3 = 4
INTRON = 8
PROMOTER = 16
INTERGENIC = 32
REPEAT = 64  # soft-masked in the source assembly (overlay on the others)
AMBIGUOUS = 128  # N or another non-ACGT IUPAC code
REGION_BITS = {
    "cds": CDS,
    "utr5": UTR5,
    "utr3": UTR3,
    "intron": INTRON,
    "promoter": PROMOTER,
    "intergenic": INTERGENIC,
    "repeat": REPEAT,
    "ambiguous": AMBIGUOUS,
}

# Loss-weight codes (weights.npy); trainers map them to numbers (soft-masked default 0.1, as Evo 2 and GPN).
WEIGHT_NONE = 0  # N / IUPAC / lineage tag: never in the loss
WEIGHT_SOFTMASKED = 1
WEIGHT_FULL = 2

WINDOW_COLUMNS = [
    "window_id",
    "cultivar",
    "chrom",
    "start",  # 0-based, on the forward strand of chrom
    "end",
    "strand",  # "+" or "-" (reverse complement)
    "split",
    "homology_group",
    "homology_group2",
    "haplotype",
    "offset",  # into arrays/{split}.*.npy
    "length",  # tokens, including prefix_length
    "prefix_length",
]


@dataclass(frozen=True)
class SplitArrays:
    tokens: np.ndarray
    labels: np.ndarray
    weights: np.ndarray

    def window(self, offset: int, length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        end = offset + length
        return self.tokens[offset:end], self.labels[offset:end], self.weights[offset:end]


def dataset_variant_name(dataset_dir: str | Path) -> str:
    """The variant name of a dataset directory: its manifest's ``variant`` if present, else the folder name."""
    manifest = Path(dataset_dir) / "manifest.json"
    if manifest.exists():
        name = json.loads(manifest.read_text()).get("variant")
        if name:
            return str(name)
    return Path(dataset_dir).resolve().name


def array_path(dataset_dir: str | Path, split: str, kind: str) -> Path:
    return Path(dataset_dir) / "arrays" / f"{split}.{kind}.npy"


class DatasetReader:
    """Read-only access to one dataset variant; arrays are memory-mapped."""

    def __init__(self, dataset_dir: str | Path):
        self.dir = Path(dataset_dir)
        table = self.dir / "windows.parquet"
        if not table.exists():
            raise EvocaneError(f"{table}: dataset window table not found")
        self.windows = pd.read_parquet(table)

    @property
    def manifest(self) -> dict:
        path = self.dir / "manifest.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def split_windows(self, split: str) -> pd.DataFrame:
        return self.windows[self.windows["split"] == split].sort_values("offset").reset_index(drop=True)

    def arrays(self, split: str) -> SplitArrays:
        paths = [array_path(self.dir, split, kind) for kind in ("tokens", "labels", "weights")]
        for path in paths:
            if not path.exists():
                raise EvocaneError(f"{path}: dataset array not found")
        tokens, labels, weights = (np.load(path, mmap_mode="r") for path in paths)
        if not (len(tokens) == len(labels) == len(weights)):
            raise EvocaneError(f"{self.dir}: arrays of split '{split}' differ in length")
        return SplitArrays(tokens, labels, weights)

    def iter_windows(self, split: str) -> Iterator[tuple[pd.Series, np.ndarray, np.ndarray, np.ndarray]]:
        arrays = self.arrays(split)
        for row in self.split_windows(split).itertuples(index=False):
            yield (row, *arrays.window(int(row.offset), int(row.length)))  # type: ignore[misc]


def _npy_header(length: int) -> bytes:
    """The .npy (format 1.0) header of a flat uint8 array; 128 bytes for any length below 10**15."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": np.lib.format.dtype_to_descr(np.dtype(np.uint8)), "fortran_order": False, "shape": (length,)}
    )
    return buffer.getvalue()


class SplitArrayWriter:
    """Append windows of one split to growing .npy files without holding the split in memory.

    Data is streamed into a hidden file after a placeholder .npy header (np.lib.format); ``close`` writes the real
    header in place and renames the file, so the writer's memory is one window and every byte is written once,
    however large the split.
    """

    def __init__(self, out_dir: str | Path, split: str):
        self.out_dir = Path(out_dir)
        self.split = split
        (self.out_dir / "arrays").mkdir(parents=True, exist_ok=True)
        self._raw = {kind: open(self._raw_path(kind), "wb") for kind in ("tokens", "labels", "weights")}
        self._header_size = len(_npy_header(0))
        for handle in self._raw.values():
            handle.write(_npy_header(0))
        self.length = 0

    def _raw_path(self, kind: str) -> Path:
        return self.out_dir / "arrays" / f".{self.split}.{kind}.raw"

    def append(self, tokens: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> int:
        """Append one window (or several back to back); returns its offset."""
        if not (len(tokens) == len(labels) == len(weights)):
            raise ValueError("tokens, labels and weights of a window must have equal length")
        offset = self.length
        for kind, values in (("tokens", tokens), ("labels", labels), ("weights", weights)):
            self._raw[kind].write(memoryview(np.ascontiguousarray(values, dtype=np.uint8)))  # no extra copy
        self.length += len(tokens)
        return offset

    def close(self) -> None:
        header = _npy_header(self.length)
        if len(header) != self._header_size:
            raise ValueError(f"array of {self.length} elements is too long for the reserved .npy header")
        for kind, handle in self._raw.items():
            handle.seek(0)
            handle.write(header)
            handle.close()
            os.replace(self._raw_path(kind), array_path(self.out_dir, self.split, kind))
