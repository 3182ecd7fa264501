"""The model table of the report: one row per trained checkpoint (model x dataset variant), read from the
checkpoints' ``evocane_checkpoint.json``: engine, where its weights start (random, another checkpoint, a base
model), the data it was trained on, optimiser steps, parameters. Engine-specific facts are read from the meta's
section named after the engine (``hf: {kind, steps, parameters, ...}``) or its top level, whichever has them;
the table never imports an engine."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from evocane.errors import EvocaneError

META = "evocane_checkpoint.json"
COLUMNS = ["model", "trained on", "engine", "init", "kind", "steps", "parameters", "trainable parameters", "training tokens", "description"]


def read_meta(checkpoint: str | Path) -> dict[str, Any]:
    path = Path(checkpoint) / META
    try:
        meta = json.loads(path.read_text())
    except FileNotFoundError:
        raise EvocaneError(f"{path}: checkpoint metadata not found") from None
    except ValueError as error:
        raise EvocaneError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(meta, dict) or "model" not in meta or "engine" not in meta:
        raise EvocaneError(f"{path}: not an evocane checkpoint meta (needs 'model' and 'engine')")
    return meta


def _fact(meta: Mapping[str, Any], *keys: str) -> Any:
    """The first of ``keys`` in the engine's own section, else at the meta's top level (None if absent)."""
    section = meta.get(str(meta["engine"]))
    for key in keys:
        if isinstance(section, Mapping) and section.get(key) is not None:
            return section[key]
        if meta.get(key) is not None:
            return meta[key]
    return None


def _checkpoint_name(path: str) -> str:
    """"results/models/hf-pretrain/thaliana_pretrain/checkpoint" -> "hf-pretrain (thaliana_pretrain)"."""
    found = re.search(r"models/([^/]+)/([^/]+)/checkpoint/?$", path)
    return f"{found.group(1)} ({found.group(2)})" if found else path


def _init(meta: Mapping[str, Any]) -> str:
    init = meta.get("init_checkpoint")
    if init:
        return _checkpoint_name(str(init))
    params = meta.get("params") or {}
    base = params.get("base_model") if isinstance(params, Mapping) else None
    if base:
        return str(base)
    return "none (from scratch)"


def model_row(checkpoint: str | Path) -> dict[str, Any]:
    meta = read_meta(checkpoint)
    parameters = _fact(meta, "parameters")
    if parameters is None and meta.get("init_checkpoint"):  # a reference to another checkpoint has its weights
        init = Path(str(meta["init_checkpoint"]))
        if (init / META).exists():
            parameters = _fact(read_meta(init), "parameters")
    return {
        "model": meta["model"],
        "trained on": meta.get("variant", ""),
        "engine": meta["engine"],
        "init": _init(meta),
        "kind": _fact(meta, "kind") or "",
        "steps": _fact(meta, "steps"),
        "parameters": parameters,
        "trainable parameters": _fact(meta, "trainable_parameters"),
        "training tokens": _fact(meta, "train_tokens", "train_bases"),
        "description": meta.get("description", ""),
    }


def model_table(checkpoints: Sequence[str | Path]) -> pd.DataFrame:
    rows = [model_row(path) for path in checkpoints]
    table = pd.DataFrame(rows, columns=COLUMNS)
    for column in ("steps", "parameters", "trainable parameters", "training tokens"):
        table[column] = table[column].astype("Int64")
    return table
