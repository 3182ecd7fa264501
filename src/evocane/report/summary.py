"""The report's summary: what the run found, written from the leaderboard's numbers.

Per benchmark variant (``datasets.variants.<v>.role``), the headline table: non-repeat test bits per base of the
baseline's best member (the Markov order the evaluation chose on validation, read from the variant's next-base
metrics) and of every other model, each model's difference to it with the 95 % CI, the lowest-scoring model marked
as the winner. Then the leakage of each benchmark and control variant (mean containment of the test windows in the
training windows) next to the scores of the models evaluated on several of them, and sentences made from those
numbers ("No model beats markov_k8 on homology_split ...", "random_control scores 0.123 bits/base better than
homology_split for markov_k10 ...: leakage"), and the run's caveats. Pretraining variants stay out of all of it.

Every number comes from ``results/leaderboard.csv`` (task nextbase, split test, stratum nonrepeat); the next-base
metrics tables are read only for which member is the best baseline member and which members there are.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from evocane.ordering import natural_sorted

ROLES = ("benchmark", "control", "pretraining")
HEADLINE = {"task": "nextbase", "split": "test", "stratum": "nonrepeat"}
BITS, DELTA = "bits_per_base", "delta_bits_per_base"


@dataclass(frozen=True)
class Variant:
    name: str
    role: str = "benchmark"
    description: str = ""


@dataclass(frozen=True)
class Baseline:
    """The next-base baseline on one variant: the best member (chosen on ``selected_on``) and every member scored."""

    best: str
    selected_on: str
    members: tuple[str, ...]

    @property
    def at_edge(self) -> bool:
        """The best member is the first or last of three or more (e.g. the highest Markov order tried)."""
        ordered = natural_sorted(self.members)
        return len(ordered) >= 3 and self.best in (ordered[0], ordered[-1])


@dataclass(frozen=True)
class Caveats:
    """What the summary must say about the run's scale and data, gathered from the config and the checkpoints."""

    max_length: Mapping[str, int | None] = field(default_factory=dict)  # cultivar -> bases kept per record
    scored_windows: int | None = None  # evaluation.nextbase.subset.max_windows
    training_steps: Mapping[str, int] = field(default_factory=dict)  # trained model -> optimiser steps
    synthetic_tasks: Sequence[str] = ()  # tasks whose input table is synthetic
    notes: Sequence[str] = ()  # further caveats, as written


def baseline_from_metrics(metrics: pd.DataFrame, baseline_model: str) -> Baseline | None:
    """The best member and the members of ``baseline_model`` in one variant's next-base metrics (None without it)."""
    chosen = metrics.loc[metrics["baseline"].fillna("") != "", ["baseline", "selected_on"]].drop_duplicates()
    if chosen.empty:
        return None
    members = tuple(natural_sorted(metrics.loc[metrics["config_model"] == baseline_model, "model"].astype(str)))
    return Baseline(str(chosen.iloc[0]["baseline"]), str(chosen.iloc[0]["selected_on"]), members)


def headline_rows(board: pd.DataFrame, variant: str) -> pd.DataFrame:
    """The leaderboard's headline next-base rows of one variant (test, non-repeat), one per model and metric."""
    rows = board
    for column, value in HEADLINE.items():
        rows = rows[rows[column].fillna("").astype(str) == value]
    return rows[(rows["variant"] == variant) & rows["metric"].isin([BITS, DELTA])]


def _bits(board: pd.DataFrame, variant: str) -> pd.Series:
    rows = headline_rows(board, variant)
    return rows[rows["metric"] == BITS].set_index("model")["value"].astype(float)


def headline_table(board: pd.DataFrame, variant: str, baseline: Baseline | None) -> pd.DataFrame:
    """One row per model: the best baseline member and every model outside the baseline's members, with bits per
    base, the difference to the best member (CI), a verdict and the winner (lowest bits per base) marked."""
    rows = headline_rows(board, variant)
    bits = rows[rows["metric"] == BITS].set_index("model")
    delta = rows[rows["metric"] == DELTA].set_index("model")
    excluded = set(baseline.members) - {baseline.best} if baseline else set()
    models = [m for m in natural_sorted(list(bits.index)) if m not in excluded]
    if baseline and baseline.best in models:  # the baseline first, then the models by score
        models.remove(baseline.best)
        models = [baseline.best, *sorted(models, key=lambda m: (bits.loc[m, "value"], m))]
    table = pd.DataFrame({
        "model": models,
        "engine": [bits.loc[m, "engine"] for m in models],
        "bits": [float(bits.loc[m, "value"]) for m in models],
        "bits_low": [float(bits.loc[m, "ci_low"]) for m in models],
        "bits_high": [float(bits.loc[m, "ci_high"]) for m in models],
        "delta": [float(delta.loc[m, "value"]) if m in delta.index else math.nan for m in models],
        "delta_low": [float(delta.loc[m, "ci_low"]) if m in delta.index else math.nan for m in models],
        "delta_high": [float(delta.loc[m, "ci_high"]) if m in delta.index else math.nan for m in models],
        "n_bases": [bits.loc[m, "n"] for m in models],
    })  # fmt: skip
    table["verdict"] = [_verdict(row, baseline) for row in table.itertuples()]
    table["winner"] = False
    if len(table):
        table.loc[table["bits"].idxmin(), "winner"] = True
    return table


def _verdict(row, baseline: Baseline | None) -> str:  # type: ignore[no-untyped-def]
    if baseline and row.model == baseline.best:
        return f"baseline (best order on {baseline.selected_on})"
    if math.isnan(row.delta_high):
        return ""
    if row.delta_high < 0:
        return "better than the baseline"
    if row.delta_low > 0:
        return "worse than the baseline"
    return "no significant difference"


def containment_by_variant(comparison: pd.DataFrame) -> dict[str, float]:
    """Mean containment of each variant's test windows (the dataset room's cross-variant leakage table)."""
    test = comparison[comparison["split"] == "test"]
    return {str(v): float(c) for v, c in zip(test["variant"], test["mean_containment"])}


def leakage_table(board: pd.DataFrame, variants: Sequence[Variant], containment: Mapping[str, float], models: Sequence[str]) -> pd.DataFrame:
    """Rows = benchmark and control variants: role, mean test containment and the headline bits per base of
    ``models`` (columns named after the models)."""
    shown = [v for v in variants if v.role in ("benchmark", "control")]
    scores = {v.name: _bits(board, v.name) for v in shown}
    rows = []
    for v in shown:
        row: dict[str, object] = {"variant": v.name, "role": v.role, "mean_test_containment": containment.get(v.name, math.nan)}
        for model in models:
            row[model] = float(scores[v.name].get(model, math.nan))
        rows.append(row)
    return pd.DataFrame(rows, columns=["variant", "role", "mean_test_containment", *models])


@dataclass(frozen=True)
class Inflation:
    """One model on a control variant against the reference (first benchmark) variant."""

    model: str
    control: str
    reference: str
    control_bits: float
    reference_bits: float
    control_containment: float
    reference_containment: float

    @property
    def gain(self) -> float:
        """Bits per base the control scores better (lower) than the reference."""
        return self.reference_bits - self.control_bits


def inflations(board: pd.DataFrame, variants: Sequence[Variant], containment: Mapping[str, float], baseline_model_members: Mapping[str, Sequence[str]]) -> list[Inflation]:
    """For every control variant, against the first benchmark variant: the baseline member with the largest gain
    and every other model evaluated on both (e.g. a language model trained on the control's own train split)."""
    benchmarks = [v.name for v in variants if v.role == "benchmark"]
    if not benchmarks:
        return []
    reference = benchmarks[0]
    reference_bits = _bits(board, reference)
    out = []
    for control in (v.name for v in variants if v.role == "control"):
        control_bits = _bits(board, control)
        shared = natural_sorted([m for m in control_bits.index if m in reference_bits.index])
        members = set(baseline_model_members.get(control, ())) | set(baseline_model_members.get(reference, ()))
        found = [Inflation(m, control, reference, float(control_bits[m]), float(reference_bits[m]),
                           containment.get(control, math.nan), containment.get(reference, math.nan)) for m in shared]  # fmt: skip
        baseline_found = [i for i in found if i.model in members]
        if baseline_found:
            out.append(max(baseline_found, key=lambda i: (i.gain, i.model)))
        out.extend(i for i in found if i.model not in members)
    return out


def verdict_sentence(variant: str, table: pd.DataFrame, baseline: Baseline | None) -> str:
    """What the headline table of one benchmark variant says, in one sentence with its numbers."""
    if table.empty:
        return f"{variant}: no next-base results."
    if baseline is None or baseline.best not in set(table["model"]):
        best = table[table["winner"]].iloc[0]
        return f"{variant}: no baseline was evaluated; the lowest score is {best.model}'s {best.bits:.3f} bits/base."
    base = table[table["model"] == baseline.best].iloc[0]
    others = table[table["model"] != baseline.best]
    if others.empty:
        return f"{variant}: only the baseline was evaluated; {baseline.best} (best order on {baseline.selected_on}) scores {base.bits:.3f} bits/base."
    better = others[others["delta_high"] < 0].sort_values("delta")
    if better.empty:
        closest = others.sort_values(["delta", "model"]).iloc[0]
        return (
            f"No model beats {baseline.best} on {variant}: {baseline.best} scores {base.bits:.3f} bits/base; the closest, "
            f"{closest.model}, scores {closest.bits:.3f} ({_ci_text(closest)})."
        )
    first = better.iloc[0]
    text = f"{first.model} beats {baseline.best} on {variant}: {first.bits:.3f} against {base.bits:.3f} bits/base ({_ci_text(first)})."
    if len(better) > 1:
        text += f" {len(better) - 1} more model(s) beat it: {', '.join(better['model'].iloc[1:])}."
    return text


def _ci_text(row) -> str:  # type: ignore[no-untyped-def]
    return f"difference {row.delta:+.3f}, 95 % CI {row.delta_low:+.3f} to {row.delta_high:+.3f}"


def inflation_sentence(item: Inflation) -> str:
    containment = f"mean test containment {_fmt(item.control_containment, 2)} against {_fmt(item.reference_containment, 2)}"
    if item.gain > 0:
        return (
            f"{item.control} scores {item.gain:.3f} bits/base better than {item.reference} for {item.model} "
            f"({item.control_bits:.3f} against {item.reference_bits:.3f}): leakage ({containment})."
        )
    return (
        f"{item.control} does not score better than {item.reference} for {item.model} "
        f"({item.control_bits:.3f} against {item.reference_bits:.3f} bits/base) despite its leakage ({containment})."
    )


def caveat_sentences(caveats: Caveats, variants: Sequence[Variant], baselines: Mapping[str, Baseline | None]) -> list[str]:
    out = []
    cut = {c: n for c, n in caveats.max_length.items() if n}
    if cut or caveats.scored_windows or caveats.training_steps:
        parts = []
        if cut:
            sizes = sorted(set(cut.values()))
            parts.append("every record cut to its first " + " or ".join(f"{n / 1e6:g} Mb" for n in sizes) + f" ({', '.join(sorted(cut))})")
        if caveats.scored_windows:
            parts.append(f"each held-out split scored on a seeded sample of at most {caveats.scored_windows} windows")
        if caveats.training_steps:
            steps = sorted(set(caveats.training_steps.values()))
            parts.append(f"language models trained for {steps[0]}" + (f" to {steps[-1]}" if len(steps) > 1 else "") + " optimiser steps")
        out.append("Scale: " + "; ".join(parts) + ". Differences of a few hundredths of a bit per base at this scale say little about full-size data.")
    for task in caveats.synthetic_tasks:
        out.append(f"The {task} task runs on a synthetic table (a demonstration of the machinery): its numbers say nothing about biology; its leaderboard rows are marked synthetic.")
    edges: dict[tuple[str, str], list[str]] = {}
    for variant in variants:
        baseline = baselines.get(variant.name)
        if variant.role != "pretraining" and baseline and baseline.at_edge:
            ordered = natural_sorted(baseline.members)
            side = "highest" if baseline.best == ordered[-1] else "lowest"
            edges.setdefault((baseline.best, f"the {side} of those tried ({ordered[0]} to {ordered[-1]})"), []).append(variant.name)
    for (best, where), names in edges.items():
        out.append(
            f"The best baseline member on {', '.join(names)}, {best}, is {where}: the grid may not contain the best order, "
            "so the baseline may be stronger than shown."
        )
    for variant in variants:
        if variant.role == "control":
            out.append(f"{variant.name} is a control ({variant.description or 'not a benchmark'}): never read it as a result.")
        elif variant.role == "pretraining":
            out.append(f"{variant.name} is pretraining data for other models: its evaluation is under Models, outside the headline.")
    out.extend(caveats.notes)
    return out


@dataclass(frozen=True)
class Summary:
    variants: tuple[Variant, ...]
    headlines: Mapping[str, pd.DataFrame]
    baselines: Mapping[str, Baseline | None]
    leakage: pd.DataFrame
    findings: tuple[str, ...]
    caveats: tuple[str, ...]


def build_summary(
    board: pd.DataFrame,
    variants: Sequence[Variant],
    baselines: Mapping[str, Baseline | None],
    containment: Mapping[str, float],
    caveats: Caveats,
) -> Summary:
    benchmarks = [v for v in variants if v.role == "benchmark"]
    headlines = {v.name: headline_table(board, v.name, baselines.get(v.name)) for v in benchmarks}
    findings = [verdict_sentence(v.name, headlines[v.name], baselines.get(v.name)) for v in benchmarks]
    members = {name: b.members for name, b in baselines.items() if b}
    inflated = inflations(board, variants, containment, members)
    findings += [inflation_sentence(i) for i in inflated]
    # the leakage table's columns: each benchmark's best baseline member and the models compared across variants
    tracked = [b.best for v in benchmarks if (b := baselines.get(v.name))] + [i.model for i in inflated]
    return Summary(
        tuple(variants), headlines, dict(baselines), leakage_table(board, variants, containment, list(dict.fromkeys(tracked))), tuple(findings),
        tuple(caveat_sentences(caveats, variants, baselines)),
    )  # fmt: skip


# --- HTML ------------------------------------------------------------------------------------------------------------
# Scoped to .evocane-summary: the same file is the report's Summary item and is included in the landing page,
# whose description column (Tailwind max-w-lg) it widens and whose centring it turns off (Snakemake's report has no
# other way to put a wide text first).
STYLE = """
div.prose:has(.evocane-summary) { max-width: 56rem; }
/* the landing view centres its content, which cuts off the top and left of anything taller or wider than the
   window (a long rule graph): start at the top left instead, so the summary is the first thing seen */
div.items-center.justify-center:has(.evocane-summary) { align-items: flex-start; justify-content: flex-start; }
.evocane-summary { font-size: 14px; line-height: 1.45; color: #1f2937; }
.evocane-summary h2 { font-size: 20px; margin: 0.6em 0 0.3em 0; }
.evocane-summary h3 { font-size: 16px; margin: 1em 0 0.3em 0; }
.evocane-summary table { border-collapse: collapse; margin: 0.3em 0 0.8em 0; font-size: 13px; }
.evocane-summary th, .evocane-summary td { border-bottom: 1px solid #e5e7eb; padding: 2px 8px; text-align: right; white-space: nowrap; }
.evocane-summary th:first-child, .evocane-summary td:first-child { text-align: left; }
.evocane-summary tr.winner td { font-weight: 600; background: #ecfdf5; }
.evocane-summary tr.baseline td { color: #374151; background: #f3f4f6; }
.evocane-summary p.variant { margin: 0.2em 0; color: #4b5563; }
.evocane-summary li { margin: 0.15em 0; }
"""


def _fmt(value: float, digits: int = 3) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def _ci(low: float, high: float, signed: bool = False) -> str:
    if math.isnan(low) or math.isnan(high):
        return ""
    return f"[{low:+.3f}, {high:+.3f}]" if signed else f"[{low:.3f}, {high:.3f}]"


def _headline_html(variant: Variant, table: pd.DataFrame, baseline: Baseline | None) -> str:
    e = html.escape
    head = "<tr><th>model</th><th>engine</th><th>bits/base</th><th>95 % CI</th><th>Δ vs baseline</th><th>95 % CI</th><th>verdict</th><th>bases</th></tr>"
    rows = []
    for row in table.itertuples():
        classes = " ".join(c for c, on in (("winner", row.winner), ("baseline", baseline is not None and row.model == baseline.best)) if on)
        mark = " ★" if row.winner else ""
        delta = "" if (baseline and row.model == baseline.best) or math.isnan(row.delta) else f"{row.delta:+.3f}"
        delta_ci = "" if (baseline and row.model == baseline.best) else _ci(row.delta_low, row.delta_high, signed=True)
        rows.append(
            f'<tr class="{classes}"><td>{e(row.model)}{mark}</td><td>{e(str(row.engine))}</td><td>{row.bits:.3f}</td>'
            f"<td>{_ci(row.bits_low, row.bits_high)}</td><td>{delta}</td><td>{delta_ci}</td><td>{e(row.verdict)}</td>"
            f"<td>{int(row.n_bases) if not pd.isna(row.n_bases) else ''}</td></tr>"
        )
    description = f'<p class="variant">{e(variant.description)}</p>' if variant.description else ""
    return f"<h3>{e(variant.name)}</h3>{description}<table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"


def _leakage_html(table: pd.DataFrame) -> str:
    e = html.escape
    models = list(table.columns[3:])
    head = "<tr><th>variant</th><th>role</th><th>mean test containment</th>" + "".join(f"<th>{e(m)}</th>" for m in models) + "</tr>"
    rows = []
    for _, row in table.iterrows():
        cells = "".join(f"<td>{_fmt(row[m])}</td>" for m in models)
        rows.append(f"<tr><td>{e(row['variant'])}</td><td>{e(row['role'])}</td><td>{_fmt(row['mean_test_containment'], 3)}</td>{cells}</tr>")
    return f"<table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"


def summary_fragment(summary: Summary) -> str:
    """The summary as one <div class="evocane-summary"> with its own style."""
    e = html.escape
    parts = [f"<style>{STYLE}</style>", "<h2>Summary</h2>"]
    parts.append(
        "<p>Next-base prediction on held-out <b>test</b> windows, non-repeat bases, in <b>bits per base</b> (lower is better; "
        "2 = a uniform guess over A/C/G/T). The baseline is the Markov order with the lowest bits per base on the "
        "<b>validation</b> split, as the evaluation chooses it; Δ = model − baseline on the bases both scored, with a 95 % "
        "bootstrap CI over windows; ★ = lowest bits per base.</p>"
    )
    parts.append("<h3>Findings</h3><ul class=\"findings\">" + "".join(f"<li>{e(s)}</li>" for s in summary.findings) + "</ul>")
    for variant in summary.variants:
        if variant.name in summary.headlines:
            parts.append(_headline_html(variant, summary.headlines[variant.name], summary.baselines.get(variant.name)))
    if len(summary.leakage):
        parts.append("<h3>Leakage</h3><p>Mean containment of the test windows' k-mers in the training windows (0 = none "
                     "seen in training, 1 = all), next to the test bits per base of the models evaluated on several variants.</p>")  # fmt: skip
        parts.append(_leakage_html(summary.leakage))
    parts.append("<h3>Caveats</h3><ul class=\"caveats\">" + "".join(f"<li>{e(s)}</li>" for s in summary.caveats) + "</ul>")
    return '<div class="evocane-summary">' + "\n".join(parts) + "</div>"


def summary_page(summary: Summary) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>evocane summary</title></head>\n'
        f"<body>\n{summary_fragment(summary)}\n</body></html>\n"
    )


# --- the browsable leaderboard -----------------------------------------------------------------------------------------
def leaderboard_view(board: pd.DataFrame, variants: Sequence[Variant], synthetic_tasks: Sequence[str]) -> pd.DataFrame:
    """The leaderboard for reading: the headline next-base rows (test, non-repeat bits per base and difference to
    the baseline) of the benchmark variants first, then those of the controls, then every other row; rows of
    pretraining variants last. Columns ``role`` and ``data`` (real, or synthetic for tasks on a synthetic table)
    lead."""
    roles = {v.name: v.role for v in variants}
    order = {v.name: i for i, v in enumerate(variants)}
    view = board.copy()
    view["role"] = [roles.get(v, "benchmark") for v in view["variant"]]
    view["data"] = np.where(view["task"].isin(list(synthetic_tasks)), "synthetic", "real")
    is_headline = (view["task"] == "nextbase") & (view["split"] == "test") & (view["stratum"] == "nonrepeat") & view["metric"].isin([BITS, DELTA])
    view["headline"] = np.where(is_headline & (view["role"] != "pretraining"), "yes", "")
    rank = np.select(
        [view["role"] == "pretraining", is_headline & (view["role"] == "benchmark"), is_headline & (view["role"] == "control")],
        [3, 0, 1],
        default=2,
    )
    view["_rank"] = rank
    view["_variant"] = [order.get(v, len(order)) for v in view["variant"]]
    view["_metric"] = (view["metric"] != BITS).astype(int)
    view = view.sort_values(["_rank", "_variant", "_metric", "value", "model"], kind="stable")
    columns = ["headline", "role", "data", "task", "variant", "model", "engine", "split", "metric", "stratum", "value", "ci_low", "ci_high", "n"]
    return view[columns].reset_index(drop=True)


def variants_from_config(config: Mapping[str, object]) -> list[Variant]:
    """The dataset variants in config order (the job config's ``variant_order``, which the workflow resolves because
    a job config's keys are sorted; by hand, the config file's order), with their role and description."""
    specs = (config.get("datasets") or {}).get("variants") or {}  # type: ignore[union-attr]
    order = list(config.get("variant_order") or specs)  # type: ignore[arg-type]
    return [Variant(name, str(specs[name].get("role", "benchmark")), str(specs[name].get("description", "")).strip()) for name in order if name in specs]
