"""Leakage audit: k-mer containment of every validation and test window in the training windows (FracMinHash).

k-mers are hashed by sourmash (canonical 64-bit MurmurHash, seed 42; k-mers with N/IUPAC codes skipped, case
ignored), so the training sketch can also be saved as a regular sourmash signature. A FracMinHash sketch keeps
the k-mers whose hash is below 2^64 / ``scaled``; the training sketch is kept as a sorted numpy uint64 array
(sourmash's own sketch inserts one hash at a time into a sorted vector, which is quadratic at genome scale).

Containment of a window W in the training set T is |H(W) ∩ H(T)| / |H(W)| over the sketched hashes, so a window
of L bases is judged on about L / scaled k-mers: choose ``scaled`` well below the window length (the demo uses 1 kb
windows with scaled 10, about 100 k-mers per window; sugarcane 8 kb windows with scaled 100, about 80).

Memory: the training sketch holds one uint64 per sketched k-mer, 8 B x (training bases / scaled), plus about
as much again while merging: 5 Gb of training sequence at scaled 100 is 50 M hashes, about 0.4 GB (0.8 GB peak).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from evocane.atomic import atomic_path

if TYPE_CHECKING:
    import pandas as pd

TRAIN_BIN = "train"
UNMEASURED_BIN = "unmeasured"


def _template(ksize: int, scaled: int):  # type: ignore[no-untyped-def]
    import sourmash

    return sourmash.MinHash(n=0, ksize=ksize, scaled=scaled)


class Hasher:
    """Sketched k-mer hashes of one sequence at a time."""

    def __init__(self, ksize: int, scaled: int):
        self.template = _template(ksize, scaled)

    def hashes(self, sequence: bytes) -> np.ndarray:
        sketch = self.template.copy_and_clear()
        sketch.add_sequence(sequence.decode("ascii"), force=True)
        return np.fromiter(sketch.hashes.keys(), dtype=np.uint64, count=len(sketch))


class HashAccumulator:
    """A growing set of hashes, deduplicated in batches so memory follows the number of distinct hashes."""

    def __init__(self, batch: int = 1 << 23):
        self.batch = batch
        self.merged = np.empty(0, dtype=np.uint64)
        self.pending: list[np.ndarray] = []
        self.pending_size = 0

    def add(self, hashes: np.ndarray) -> None:
        self.pending.append(hashes)
        self.pending_size += len(hashes)
        if self.pending_size >= self.batch:
            self._merge()

    def _merge(self) -> None:
        if self.pending:
            self.merged = np.unique(np.concatenate([self.merged, *self.pending]))
            self.pending, self.pending_size = [], 0

    def result(self) -> np.ndarray:
        self._merge()
        return self.merged


def union(sketches: Sequence[np.ndarray]) -> np.ndarray:
    return np.unique(np.concatenate([np.asarray(s, dtype=np.uint64) for s in sketches])) if sketches else np.empty(0, np.uint64)


def count_hits(sorted_hashes: np.ndarray, hashes: np.ndarray) -> int:
    """How many of ``hashes`` occur in the sorted array ``sorted_hashes``."""
    if not len(sorted_hashes) or not len(hashes):
        return 0
    index = np.minimum(np.searchsorted(sorted_hashes, hashes), len(sorted_hashes) - 1)
    return int(np.count_nonzero(sorted_hashes[index] == hashes))


class ContainmentScorer:
    """Containment of windows in a training sketch (sorted unique uint64 hashes)."""

    def __init__(self, train_hashes: np.ndarray, ksize: int, scaled: int):
        self.train = np.asarray(train_hashes, dtype=np.uint64)
        self.hasher = Hasher(ksize, scaled)

    def containment(self, sequence: bytes) -> tuple[float, int]:
        """(containment, number of sketched k-mers); NaN when the window has no sketched k-mer."""
        hashes = self.hasher.hashes(sequence)
        if not len(hashes):
            return math.nan, 0
        return count_hits(self.train, hashes) / len(hashes), len(hashes)


def leakage_bin_labels(edges: Sequence[float]) -> list[str]:
    """Bin names for edges e1 < e2 < ...: '<e1', 'e1-e2', ..., '>=en'."""
    labels = [f"<{edges[0]:g}"]
    labels += [f"{a:g}-{b:g}" for a, b in zip(edges[:-1], edges[1:])]
    labels.append(f">={edges[-1]:g}")
    return labels


def leakage_bins(containment: np.ndarray, splits: np.ndarray, edges: Sequence[float]) -> np.ndarray:
    """Bin name per window: 'train' for training windows, 'unmeasured' where containment is NaN."""
    labels = np.array(leakage_bin_labels(edges), dtype=object)
    values = np.asarray(containment, dtype=float)
    out = labels[np.searchsorted(np.asarray(edges, dtype=float), np.nan_to_num(values, nan=0.0), side="right")]
    out = np.where(np.isnan(values), UNMEASURED_BIN, out)
    return np.where(np.asarray(splits) == "train", TRAIN_BIN, out)


def save_sketch(hashes: np.ndarray, path: str | Path) -> None:
    with atomic_path(path) as temp:
        with open(temp, "wb") as handle:
            np.save(handle, np.asarray(hashes, dtype=np.uint64))


def load_sketch(path: str | Path) -> np.ndarray:
    return np.load(path)


def save_signature(hashes: np.ndarray, ksize: int, scaled: int, name: str, path: str | Path) -> None:
    """The training sketch as a sourmash signature (JSON), usable with the sourmash command line."""
    import sourmash
    from sourmash.signature import save_signatures_to_json

    sketch = _template(ksize, scaled)
    sketch.add_many(np.sort(np.asarray(hashes, dtype=np.uint64)))  # ascending: appended, not inserted
    signature = sourmash.SourmashSignature(sketch, name=name)
    with atomic_path(path) as temp:
        temp.write_bytes(save_signatures_to_json([signature]))


# --- audit tables ------------------------------------------------------------------------------------------------------
def audit_table(windows: pd.DataFrame, bin_labels: Sequence[str], removed: dict[str, int]) -> pd.DataFrame:
    """Per held-out split, overall and per cultivar: windows, containment statistics and windows per bin."""
    import pandas as pd

    rows = []
    for split in ("validation", "test"):
        part = windows[windows["split"] == split]
        for cultivar in ["all", *dict.fromkeys(part["cultivar"])]:
            subset = part if cultivar == "all" else part[part["cultivar"] == cultivar]
            values = subset["leakage_containment"].dropna()
            row = {
                "split": split,
                "cultivar": cultivar,
                "windows": len(subset),
                "removed_for_leakage": removed.get(split, 0) if cultivar == "all" else None,
                "mean_containment": values.mean() if len(values) else None,
                "median_containment": values.median() if len(values) else None,
                "p90_containment": values.quantile(0.9) if len(values) else None,
                "max_containment": values.max() if len(values) else None,
            }
            counts = subset["leakage_bin"].value_counts()
            for label in [*bin_labels, UNMEASURED_BIN]:
                row[label] = int(counts.get(label, 0))
            rows.append(row)
    table = pd.DataFrame(rows)
    stats = ["mean_containment", "median_containment", "p90_containment", "max_containment"]
    table[stats] = table[stats].astype(float).round(4)
    table["removed_for_leakage"] = table["removed_for_leakage"].astype("Int64")
    return table


def comparison_row(variant: str, strategy: str, windows: pd.DataFrame) -> list[dict[str, object]]:
    """One row per held-out split of a variant for the cross-variant leakage comparison."""
    out = []
    for split in ("validation", "test"):
        values = windows.loc[windows["split"] == split, "leakage_containment"].dropna()
        out.append({
            "variant": variant, "strategy": strategy, "split": split, "windows": int((windows["split"] == split).sum()),
            "mean_containment": round(float(values.mean()), 4) if len(values) else None,
            "median_containment": round(float(values.median()), 4) if len(values) else None,
            "fraction_above_0.2": round(float((values > 0.2).mean()), 4) if len(values) else None,
            "fraction_above_0.5": round(float((values > 0.5).mean()), 4) if len(values) else None,
        })  # fmt: skip
    return out
