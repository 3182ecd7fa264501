"""Exports of a built variant, all from the same windows: FASTA per split and the BioNeMo Evo 2 YAMLs.

FASTA: one record per window (id = window_id, sequence exactly the window's tokens without the lineage tag,
reverse-complemented for ``-`` windows, case as the soft-mask policy left it), one sequence line per record, with a
samtools ``.fai`` index.

BioNeMo (``bionemo-evo2``, evo2-toolchain.md §4): ``preprocess_evo2`` assigns whole FASTA *records* to
train/val/test by weight, so each split gets its own FASTA and its own preprocess config with all weight on that
split (``{variant}_{split}_byte-level_{train|val|test}.bin/.idx``); ``dataset_config.yaml`` maps the three
prefixes to their splits for ``train_evo2 -d``. Prefixes must not contain dots (variant names cannot).
Lineage tags: with ``lineage_tag`` on, ``taxonomy_data`` maps ``"<cultivar>:"`` (the start of every window id)
to the cultivar's lineage and BioNeMo injects the tag itself, so the FASTA holds bases only.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pysam
import yaml

from evocane.atomic import atomic_paths
from evocane.dataset.arrays import SPLITS, DatasetReader
from evocane.dataset.config import LINEAGE_RANKS
from evocane.errors import EvocaneError

BIONEMO_SPLIT_NAMES = {"train": "train", "validation": "val", "test": "test"}
TOKENIZER = "Byte-Level"


def write_fasta(dataset_dir: str | Path, split: str, out_fasta: str | Path) -> int:
    """Write one split's windows as FASTA (+ .fai); returns the number of records."""
    dataset = DatasetReader(dataset_dir)
    windows = dataset.split_windows(split)
    tokens = dataset.arrays(split).tokens
    out_fasta = Path(out_fasta)
    with atomic_paths(out_fasta, f"{out_fasta}.fai") as (temp_fasta, temp_fai):
        with open(temp_fasta, "wb") as handle:
            for window_id, offset, length, prefix in zip(
                windows["window_id"], windows["offset"].to_numpy(), windows["length"].to_numpy(), windows["prefix_length"].to_numpy()
            ):
                handle.write(b">" + str(window_id).encode() + b"\n")
                handle.write(memoryview(np.ascontiguousarray(tokens[offset + prefix : offset + length])))
                handle.write(b"\n")
        pysam.faidx(str(temp_fasta))
        Path(f"{temp_fasta}.fai").replace(temp_fai)
    return len(windows)


def bionemo_prefix(variant: str, split: str) -> str:
    prefix = f"{variant}_{split}"
    if "." in prefix:
        raise EvocaneError(f"dataset variant '{variant}': a BioNeMo dataset prefix cannot contain '.' ({prefix})")
    return prefix


def preprocess_config(spec: Mapping[str, Any], split: str, fasta: str, output_dir: str, cultivars: list[str]) -> list[dict[str, Any]]:
    """The ``preprocess_evo2 -c`` YAML content (a list with one config) for one split's FASTA."""
    weights = {name: (1.0 if name == split else 0.0) for name in SPLITS}
    config: dict[str, Any] = {
        "datapaths": [fasta],
        "output_dir": output_dir,
        "output_prefix": bionemo_prefix(spec["name"], split),
        "train_split": weights["train"],
        "valid_split": weights["validation"],
        "test_split": weights["test"],
        "overwrite": True,
        "embed_reverse_complement": bool(spec["bionemo"]["embed_reverse_complement"]),
        "random_reverse_complement": 0.0,
        "force_uppercase": spec["windows"]["softmask"] == "upper",
        "indexed_dataset_dtype": "uint8",
        "tokenizer_type": TOKENIZER,
        "append_eod": bool(spec["bionemo"]["append_eod"]),
        "drop_empty_sequences": True,
        "nnn_filter": False,
        "workers": int(spec["bionemo"]["workers"]),
        "seed": int(spec["seed"]),
    }
    if spec["windows"]["lineage_tag"]:
        config["taxonomy_data"] = {
            f"{cultivar}:": {rank: spec["lineage"][cultivar].get(rank) for rank in LINEAGE_RANKS} for cultivar in cultivars
        }
    return [config]


def dataset_config(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The ``train_evo2 -d`` dataset-config YAML content; prefixes are relative to ``--dataset-dir``."""
    name = TOKENIZER.lower().replace(" ", "")
    return [
        {
            "dataset_prefix": f"{bionemo_prefix(spec['name'], split)}_{name}_{BIONEMO_SPLIT_NAMES[split]}",
            "dataset_split": split,
            "dataset_weight": 1.0,
        }
        for split in SPLITS
    ]


def check_taxonomy_keys(window_ids: Any, cultivars: Any, keys: list[str]) -> None:
    """BioNeMo gives a record the lineage of the first taxonomy key that is a substring of its id: make sure
    that is always the window's own cultivar."""
    for window_id, cultivar in zip(window_ids, cultivars):
        first = next((key for key in keys if key in window_id), None)
        if first != f"{cultivar}:":
            raise EvocaneError(
                f"BioNeMo taxonomy_data: window '{window_id}' of cultivar '{cultivar}' would get the lineage of "
                f"key '{first}'; rename the cultivars so no name followed by ':' occurs inside another's record names"
            )


def write_bionemo(
    spec: Mapping[str, Any], dataset_dir: str | Path, fasta_paths: Mapping[str, str], out_dir: str | Path
) -> list[Path]:
    """Write bionemo/preprocess_{split}.yaml (x3) and bionemo/dataset_config.yaml. Paths inside are the ones given
    (relative to the workflow directory, where the BioNeMo rules run)."""
    dataset = DatasetReader(dataset_dir)
    out_dir = Path(out_dir)
    preprocessed = str(out_dir / "preprocessed")
    paths = [out_dir / f"preprocess_{split}.yaml" for split in SPLITS] + [out_dir / "dataset_config.yaml"]
    header = (
        f"# evocane dataset variant '{spec['name']}' for bionemo-evo2 (container bionemo-framework:2.7.1).\n"
        "# Run from the workflow directory:  preprocess_evo2 -c {config}\n"
        f"# Then:  train_evo2 -d {out_dir / 'dataset_config.yaml'} --dataset-dir {preprocessed} ...\n"
    )
    with atomic_paths(*paths) as temps:
        for split, temp in zip(SPLITS, temps):
            windows = dataset.split_windows(split)
            cultivars = list(dict.fromkeys(windows["cultivar"]))
            content = preprocess_config(spec, split, fasta_paths[split], preprocessed, cultivars)
            if spec["windows"]["lineage_tag"]:
                check_taxonomy_keys(windows["window_id"], windows["cultivar"], list(content[0]["taxonomy_data"]))
            temp.write_text(header.format(config=paths[SPLITS.index(split)]) + yaml.safe_dump(content, sort_keys=False))
        temps[-1].write_text(
            header.format(config=out_dir / "preprocess_<split>.yaml") + yaml.safe_dump(dataset_config(spec), sort_keys=False)
        )
    return paths

