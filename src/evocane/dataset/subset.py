"""Scored subsets: a dataset-contract directory holding a seeded random sample of at most ``max_windows`` windows of
each evaluated split (evaluation.nextbase.subset).

Scoring a whole held-out split is what a benchmark wants and what a large model cannot afford: a sugarcane
homology group is ~0.5 Gb, i.e. days of Evo 2 7B time. The subset is drawn once per variant from the data only
(seed, variant and split name), written in the dataset contract (windows.parquet, arrays/{split}.*.npy,
manifest.json), and every engine scores it and the next-base evaluation reads it exactly as it would read the full
variant, so all models are compared on the same windows. Windows keep their ids, coordinates and region columns;
only their offsets into the (smaller) arrays change. Training and the tasks read the full variant.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from evocane.atomic import atomic_dir
from evocane.dataset.arrays import SPLITS, DatasetReader, SplitArrayWriter, dataset_variant_name
from evocane.dataset.splits import rng_for
from evocane.errors import EvocaneError


def choose_windows(windows: pd.DataFrame, max_windows: int, seed: int, variant: str, split: str) -> pd.DataFrame:
    """At most ``max_windows`` rows of one split's window table (in ``DatasetReader.split_windows`` order), drawn
    uniformly without replacement; the chosen rows keep that order. All rows when the split is not larger."""
    if max_windows < 1:
        raise EvocaneError(f"evaluation.nextbase.subset.max_windows must be at least 1, got {max_windows}")
    if len(windows) <= max_windows:
        return windows.reset_index(drop=True)
    chosen = rng_for(seed, "scored-subset", variant, split).choice(len(windows), size=max_windows, replace=False)
    return windows.iloc[np.sort(chosen)].reset_index(drop=True)


def write_scored_subset(dataset_dir: str | Path, splits: Sequence[str], max_windows: int, seed: int, out_dir: str | Path) -> dict[str, Any]:
    """Write the subset of ``splits`` of the variant in ``dataset_dir`` into ``out_dir`` (atomically); returns the
    ``subset`` entry of its manifest."""
    dataset = DatasetReader(dataset_dir)
    manifest = dataset.manifest
    variant = dataset_variant_name(dataset_dir)
    unknown = [split for split in splits if split not in SPLITS]
    if unknown:
        raise EvocaneError(f"{dataset_dir}: unknown split(s) {', '.join(unknown)} (splits: {', '.join(SPLITS)})")
    tables: list[pd.DataFrame] = []
    counts: dict[str, dict[str, int]] = {}
    with atomic_dir(out_dir) as staging:
        for split in splits:
            windows = dataset.split_windows(split)
            if windows.empty:
                raise EvocaneError(f"{dataset_dir}: split '{split}' has no windows to sample")
            chosen = choose_windows(windows, max_windows, seed, variant, split)
            arrays = dataset.arrays(split)
            writer = SplitArrayWriter(staging, split)
            offsets = np.empty(len(chosen), dtype=np.int64)
            rows = zip(chosen["offset"].to_numpy(), chosen["length"].to_numpy())
            for i, (offset, length) in enumerate(tqdm(rows, total=len(chosen), unit=" windows", desc=f"subset {variant} {split}", mininterval=2.0)):
                offsets[i] = writer.append(*arrays.window(int(offset), int(length)))
            writer.close()
            tables.append(chosen.assign(offset=offsets))
            counts[split] = {"windows": len(chosen), "tokens": int(chosen["length"].sum()), "of_windows": len(windows)}
        table = pd.concat(tables, ignore_index=True)
        table.to_parquet(staging / "windows.parquet", index=False)
        subset = {"source": str(Path(dataset_dir)), "max_windows": max_windows, "seed": seed, "splits": counts}
        splits_info = {split: {"windows": c["windows"], "tokens": c["tokens"]} for split, c in counts.items()}
        view = {**manifest, "variant": variant, "splits": splits_info, "subset": subset}
        (staging / "manifest.json").write_text(json.dumps(view, indent=2, sort_keys=True) + "\n")
    return subset
