"""One colour per model, the same in every figure of a run.

The workflow hands every plotting job the models that run, in config order, and the next-base baseline (the job
config's ``model_palette`` entry, `palette_entry`). Each model gets a colour of a categorical palette (tab10
without its grey, then Dark2) by its position in that list; the baseline's members (the Markov orders,
``markov_k1`` ... ``markov_k10``) are greys, darker for higher orders, so language models stand out from the
baseline family; members of another multi-member model share their model's colour, lighter for later members.
Names the palette does not know (a figure's own labels) get a neutral grey."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from matplotlib import colors as mcolors

# tab10 without its grey (index 7), then Dark2: categorical, no sequential colour map (viridis & co.)
CATEGORICAL = [c for i, c in enumerate(mcolors.TABLEAU_COLORS.values()) if i != 7] + [
    "#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d",
]  # fmt: skip
UNKNOWN = "#9e9e9e"
MAX_SHADED_ORDER = 12


def palette_entry(models: Sequence[str], baseline: str | None) -> dict[str, Any]:
    """The job config entry (resolved by the workflow): models in config order and the baseline."""
    return {"models": list(models), "baseline": baseline or ""}


@dataclass(frozen=True)
class ModelPalette:
    models: tuple[str, ...] = ()
    baseline: str = ""
    _index: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ModelPalette:
        """From a job config's ``model_palette`` entry, or from a whole config's models and baseline."""
        entry = config.get("model_palette")
        if entry is None:  # by hand, with a whole config: every configured model, in config order
            baseline = ((config.get("evaluation") or {}).get("nextbase") or {}).get("baseline") or ""
            entry = palette_entry(list(config.get("models") or {}), baseline)
        return cls.of(entry.get("models", ()), entry.get("baseline", ""))

    @classmethod
    def of(cls, models: Iterable[str], baseline: str = "") -> ModelPalette:
        models = tuple(models)
        index = {m: i for i, m in enumerate(m for m in models if m != baseline)}
        return cls(models, baseline, index)

    def _family(self, name: str) -> tuple[str, str] | None:
        """(config model, member) for a member name such as markov_k4; the longest matching model wins."""
        for model in sorted(self.models, key=len, reverse=True):
            if name.startswith(f"{model}_"):
                return model, name[len(model) + 1 :]
        return None

    def colour(self, name: str) -> str:
        if name == self.baseline:
            return _grey(MAX_SHADED_ORDER // 2)
        if name in self._index:
            return CATEGORICAL[self._index[name] % len(CATEGORICAL)]
        family = self._family(name)
        if family is None:
            return UNKNOWN
        model, member = family
        number = _member_number(member)
        if model == self.baseline:
            return _grey(number)
        base = self.colour(model)
        return _lighter(base, min(number, 6) / 10)

    def colours(self, names: Iterable[str]) -> dict[str, str]:
        return {name: self.colour(name) for name in names}


def _member_number(member: str) -> int:
    found = re.search(r"\d+", member)
    return int(found.group()) if found else 0


def _grey(order: int) -> str:
    """Light grey for low orders to near-black for high ones."""
    level = 0.78 - 0.63 * min(max(order, 0), MAX_SHADED_ORDER) / MAX_SHADED_ORDER
    return mcolors.to_hex((level, level, level))


def _lighter(colour: str, amount: float) -> str:
    r, g, b = mcolors.to_rgb(colour)
    return mcolors.to_hex((r + (1 - r) * amount, g + (1 - g) * amount, b + (1 - b) * amount))
