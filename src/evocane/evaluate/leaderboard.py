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
from evocane.ordering import natural_column

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
    return board.sort_values(["task", "metric", "stratum", "variant", "split", "model"], key=natural_column, kind="stable").reset_index(drop=True)


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
    return wide.sort_values(["task", "metric", "stratum", "split", "model"], key=natural_column, kind="stable").reset_index(drop=True)


# --- the headline table in a terminal (evocane leaderboard --show) ------------------------------------------------------
HEADLINE_TASK = "nextbase"
HEADLINE_STRATUM = "nonrepeat"
HEADLINE_METRIC = "bits_per_base"
DELTA_METRIC = "delta_bits_per_base"
HEADLINE_COLUMNS = ["variant", "model", "engine", "bits", "bits_low", "bits_high", "delta", "delta_low", "delta_high", "n"]


def read_leaderboard(path: str | Path) -> pd.DataFrame:
    """results/leaderboard.csv (or any file in the leaderboard's columns), checked like a part."""
    path = Path(path)
    if not path.exists():
        raise EvocaneError(f"{path}: leaderboard not found (run the workflow's leaderboard rule first, or give --csv)")
    return read_part(path)


def headline_table(board: pd.DataFrame, split: str = "test", variant: str | None = None) -> pd.DataFrame:
    """Per variant and model: next-base bits per non-repeat base on ``split`` with its CI, and the difference to the
    next-base baseline (``delta_bits_per_base``: model minus the baseline's best member, chosen on validation) with its
    CI; NaN where a model has no difference. Variants in natural order, models best (lowest bits) first."""
    rows = board[(board["task"] == HEADLINE_TASK) & (board["split"] == split) & (board["stratum"] == HEADLINE_STRATUM)]
    if rows.empty:
        raise EvocaneError(f"leaderboard: no next-base rows for split '{split}' (stratum {HEADLINE_STRATUM})")
    if variant is not None:
        if variant not in set(rows["variant"]):
            known = ", ".join(sorted(set(rows["variant"]), key=str))
            raise EvocaneError(f"leaderboard: no next-base {split} rows for variant '{variant}' (variants: {known})")
        rows = rows[rows["variant"] == variant]
    key = ["variant", "model"]
    bits = rows[rows["metric"] == HEADLINE_METRIC][[*key, "engine", "value", "ci_low", "ci_high", "n"]]
    bits = bits.rename(columns={"value": "bits", "ci_low": "bits_low", "ci_high": "bits_high"})
    delta = rows[rows["metric"] == DELTA_METRIC][[*key, "value", "ci_low", "ci_high"]]
    delta = delta.rename(columns={"value": "delta", "ci_low": "delta_low", "ci_high": "delta_high"})
    table = bits.merge(delta, on=key, how="left")[HEADLINE_COLUMNS]
    table = table.sort_values(["bits", "model"], kind="stable")
    table = table.sort_values("variant", key=natural_column, kind="stable")
    return table.reset_index(drop=True)


def format_headline(table: pd.DataFrame, split: str = "test") -> str:
    """The headline table as text, one block per variant, readable in 100 columns."""

    def interval(low: float, high: float, sign: str = "") -> str:
        return "" if pd.isna(low) or pd.isna(high) else f"[{low:{sign}.4f}, {high:{sign}.4f}]"

    lines = [
        f"Next-base prediction, {split} split: bits per non-repeat base (lower is better) with its bootstrap CI.",
        "Δ bits = model minus the baseline (the best member of evaluation.nextbase.baseline on validation,",
        "by default the best Markov order) on the bases both scored; negative = better than the baseline.",
    ]
    for variant, rows in table.groupby("variant", sort=False):
        columns = {
            "model": list(rows["model"]),
            "engine": list(rows["engine"]),
            "bits/base": [f"{v:.4f}" for v in rows["bits"]],
            "CI": [interval(lo, hi) for lo, hi in zip(rows["bits_low"], rows["bits_high"])],
            "Δ bits": [_delta_cell(d, lo, hi) for d, lo, hi in zip(rows["delta"], rows["delta_low"], rows["delta_high"])],
            "Δ CI": ["" if _is_baseline(d, lo, hi) else interval(lo, hi, "+")
                     for d, lo, hi in zip(rows["delta"], rows["delta_low"], rows["delta_high"])],
            "bases": ["" if pd.isna(n) else f"{int(n):,}" for n in rows["n"]],
        }  # fmt: skip
        right_aligned = {"bits/base", "Δ bits", "bases"}
        widths = {name: max(len(name), *(len(cell) for cell in cells)) for name, cells in columns.items()}

        def line(cells: dict[str, str]) -> str:
            return "  ".join(
                cells[name].rjust(widths[name]) if name in right_aligned else cells[name].ljust(widths[name]) for name in columns
            ).rstrip()

        lines += ["", variant, line({name: name for name in columns})]
        lines += [line({name: cells[i] for name, cells in columns.items()}) for i in range(len(rows))]
    return "\n".join(lines) + "\n"


def _is_baseline(delta: float, low: float, high: float) -> bool:
    """A difference of exactly 0 with a CI of exactly [0, 0]: the baseline's own row."""
    return delta == 0 and low == 0 and high == 0


def _delta_cell(delta: float, low: float, high: float) -> str:
    if pd.isna(delta):
        return ""
    return "baseline" if _is_baseline(delta, low, high) else f"{delta:+.4f}"
