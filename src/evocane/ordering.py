"""Natural order of names, the one order of models, variants and members in tables, figures and files:
markov_k2 before markov_k10 (runs of digits compare as numbers, the rest as text)."""

from __future__ import annotations

import re
from collections.abc import Iterable

import pandas as pd

_DIGITS = re.compile(r"(\d+)")


def natural_key(text: str) -> tuple[str | int, ...]:
    """Sort key: text and numbers alternate (the split always starts with text, maybe empty), so keys compare."""
    return tuple(int(part) if part.isdigit() else part for part in _DIGITS.split(text))


def natural_sorted(names: Iterable[str]) -> list[str]:
    """The distinct ``names`` in natural order."""
    return sorted(set(names), key=natural_key)


def natural_column(column: pd.Series) -> pd.Series:
    """``DataFrame.sort_values(key=...)`` form of the same order: numbers zero-padded to nine digits as text."""
    return column.astype(str).str.replace(r"\d+", lambda match: match.group().zfill(9), regex=True)
