"""The leaderboard: one long table of headline numbers, model x dataset variant x task x metric.

Every evaluation task writes a *part* (CSV or TSV) with LEADERBOARD_COLUMNS; ``evocane leaderboard`` concatenates
the parts into ``results/leaderboard.csv`` and a wide table for the report. A new engine joins by writing
predictions (its rows come from the tasks' evaluation); a new task joins by writing a part and listing it in the
workflow's ``LEADERBOARD_PARTS`` — this module never changes for either.

Columns: task (nextbase, generation, regulatory, variant_effect, ...), model, engine, variant, split, metric,
stratum (the subset the number is over, e.g. nonrepeat; empty = all), value, ci_low, ci_high (empty without a CI),
n (the evaluation units behind the value: bases for next-base, sequences/elements/variants for other tasks).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from evocane.errors import EvocaneError

LEADERBOARD_COLUMNS = ["task", "model", "engine", "variant", "split", "metric", "stratum", "value", "ci_low", "ci_high", "n"]
REQUIRED = ("task", "model", "variant", "metric", "value")
KEY = ["task", "model", "variant", "split", "metric", "stratum"]


def read_part(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        raise EvocaneError(f"{path}: leaderboard part not found")
    table = pd.read_csv(path, sep="\t" if path.suffix in (".tsv", ".tab") else ",", dtype={"split": str, "stratum": str})
    missing = [c for c in REQUIRED if c not in table.columns]
    if missing:
        raise EvocaneError(f"{path}: leaderboard part lacks column(s) {', '.join(missing)}")
    unknown = [c for c in table.columns if c not in LEADERBOARD_COLUMNS]
    if unknown:
        raise EvocaneError(f"{path}: unknown leaderboard column(s) {', '.join(unknown)} (allowed: {', '.join(LEADERBOARD_COLUMNS)})")
    for column in LEADERBOARD_COLUMNS:
        if column not in table.columns:
            table[column] = np.nan if column in ("ci_low", "ci_high", "n") else ""
    for column in ("engine", "split", "stratum"):
        table[column] = table[column].fillna("").astype(str)
    if not pd.api.types.is_numeric_dtype(table["value"]):
        raise EvocaneError(f"{path}: column 'value' must be numeric")
    return table[LEADERBOARD_COLUMNS]


def combine(parts: Sequence[str | Path]) -> pd.DataFrame:
    tables = [read_part(p) for p in parts]
    board = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=LEADERBOARD_COLUMNS)
    duplicated = board.duplicated(KEY, keep=False)
    if duplicated.any():
        row = board[duplicated].iloc[0]
        raise EvocaneError(f"leaderboard: two parts give {', '.join(f'{k}={row[k]}' for k in KEY)}")
    return board.sort_values(["task", "metric", "stratum", "variant", "split", "model"], key=_natural, kind="stable").reset_index(drop=True)


def _natural(column: pd.Series) -> pd.Series:
    """markov_k2 before markov_k10: numbers zero-padded for sorting."""
    return column.astype(str).str.replace(r"\d+", lambda match: match.group().zfill(9), regex=True)


def _cell(row: pd.Series) -> str:
    if pd.isna(row["value"]):
        return ""
    text = f"{row['value']:.4g}"
    if pd.notna(row["ci_low"]) and pd.notna(row["ci_high"]):
        text += f" [{row['ci_low']:.4g}, {row['ci_high']:.4g}]"
    return text


def wide_table(board: pd.DataFrame) -> pd.DataFrame:
    """One row per task, metric, stratum, split and model; one column per dataset variant; cells "value [ci]"."""
    if board.empty:
        return pd.DataFrame(columns=["task", "metric", "stratum", "split", "model", "engine"])
    cells = board.assign(cell=board.apply(_cell, axis=1))
    wide = cells.pivot_table(index=["task", "metric", "stratum", "split", "model", "engine"], columns="variant", values="cell", aggfunc="first")
    wide.columns.name = None
    wide = wide.reset_index().fillna("")
    return wide.sort_values(["task", "metric", "stratum", "split", "model"], key=_natural, kind="stable").reset_index(drop=True)
