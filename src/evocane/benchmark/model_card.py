"""Model cards: ``results/models/{model}/{variant}/MODEL_CARD.md`` beside every trained checkpoint, written after
the next-base evaluation so they carry the model's validation and test headline numbers.

A card says what the model is (engine, how it was trained, from what base), on which data and split it was trained,
its parameters, its headline numbers with their intervals, what it is meant for and its known limits. Everything
comes from the checkpoint's metadata, the dataset's manifest and the evaluation's metrics table, so the card of the
same run is the same bytes (no dates).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from evocane.atomic import atomic_path
from evocane.engines.base import read_checkpoint_meta, training_mode
from evocane.evaluate.nextbase import HEADLINE, read_metrics
from evocane.ordering import natural_key

SPLITS = ("validation", "test")


def _base(meta: Mapping[str, Any]) -> str:
    params = meta.get("params") or {}
    own = meta.get(str(meta.get("engine"))) or {}
    if meta.get("engine") == "external":
        return f"none: predictions imported from the exchange-format submission {own.get('submission')} (model '{own.get('submission_model')}')"
    if meta.get("init_checkpoint"):
        return f"the checkpoint {meta['init_checkpoint']}"
    for key in ("base_model", "checkpoint"):
        if params.get(key):
            return f"{key.replace('_', ' ')} {params[key]}"
    return "none (trained from scratch)"


def _steps(meta: Mapping[str, Any], checkpoint: Path) -> str:
    curves = checkpoint / "metrics.tsv"
    if curves.exists():
        table = pd.read_csv(curves, sep="\t")
        if len(table):
            return f"{int(table['step'].max())} optimiser steps ({int(table['tokens'].max()):,} training tokens)"
    params = meta.get("params") or {}
    if meta.get("engine") == "markov":
        return f"one counting pass over {int(meta.get('train_bases', 0)):,} training bases (no optimiser steps)"
    if "steps" in params:
        return f"{params['steps']} optimiser steps" if params["steps"] else "0 (not trained: evaluated as it is)"
    return "none recorded (zero-shot or imported)"


def _cell(row: pd.Series | None, digits: int = 4) -> str:
    if row is None or pd.isna(row["value"]):
        return ""
    text = f"{row['value']:.{digits}f}"
    if pd.notna(row["ci_low"]) and pd.notna(row["ci_high"]):
        text += f" [{row['ci_low']:.{digits}f}, {row['ci_high']:.{digits}f}]"
    return text


def headline_table(metrics: pd.DataFrame, model: str) -> list[str]:
    """Markdown rows: one per scored model (Markov members) and split."""
    mine = metrics[(metrics["config_model"] == model) & (metrics["stratum_kind"] == "region") & (metrics["stratum"] == HEADLINE)]
    lines = ["| scored model | split | bits per base [95% CI] | top-1 accuracy | Δ bits vs baseline | bases | windows |",
             "|---|---|---|---|---|---|---|"]  # fmt: skip
    for (name, split), rows in sorted(mine.groupby(["model", "split"]), key=lambda item: (natural_key(item[0][0]), SPLITS.index(item[0][1]) if item[0][1] in SPLITS else 9)):
        by_metric = {r["metric"]: r for _, r in rows.iterrows()}
        bits = by_metric.get("bits_per_base")
        delta = by_metric.get("delta_bits_per_base")
        against = f" ({delta['baseline']})" if delta is not None and delta["baseline"] else ""
        bases = f"{int(bits['n_bases']):,}" if bits is not None else ""
        windows = f"{int(bits['n_windows']):,}" if bits is not None else ""
        lines.append(f"| {name} | {split} | {_cell(bits)} | {_cell(by_metric.get('top1_accuracy'))} | {_cell(delta)}{against} | {bases} | {windows} |")
    if len(lines) == 2:
        lines.append("| (no next-base metrics for this model) | | | | | | |")
    return lines


def _limits(meta: Mapping[str, Any], manifest: Mapping[str, Any], metrics: pd.DataFrame, model: str) -> list[str]:
    spec = manifest.get("spec") or {}
    split = spec.get("split") or {}
    limits = [
        f"Trained and evaluated on the cultivars {', '.join(spec.get('cultivars') or []) or 'of the variant'} only; the "
        f"held-out split ({split.get('strategy', 'unknown')} strategy) measures generalisation to held-out "
        "sequence of these genomes, not to other species or assemblies.",
        "Headline numbers exclude repeats (soft-masked bases) and count only A/C/G/T; they are over the scored windows "
        "(evaluation.nextbase.subset when set), a seeded sample of each held-out split.",
    ]  # fmt: skip
    leaky = metrics[(metrics["config_model"] == model) & (metrics["stratum_kind"] == "leakage_bin") & (metrics["metric"] == "bits_per_base")]
    if len(leaky):
        limits.append("Held-out windows share k-mers with training to different degrees: see the leakage-bin rows of "
                      f"results/evaluation/{meta.get('variant')}/nextbase/metrics.tsv before reading small differences.")  # fmt: skip
    engine = meta.get("engine")
    if engine == "markov":
        limits.append("A fixed-order Markov chain: no context beyond its order, no long-range structure; a baseline.")
    elif engine == "external":
        limits.append("Scored outside evocane: the card cannot vouch for how the predictions were made.")
    if (meta.get("params") or {}).get("steps") == 0:
        limits.append("Not trained on this variant (steps 0): a zero-shot or random-initialisation reference.")
    return limits


def model_card(checkpoint: str | Path, metrics_path: str | Path, dataset_manifest: str | Path, variant: str,
               variant_spec: Mapping[str, Any] | None = None) -> str:  # fmt: skip
    checkpoint = Path(checkpoint)
    meta = read_checkpoint_meta(checkpoint)
    model = str(meta["model"])
    manifest = json.loads(Path(dataset_manifest).read_text())
    metrics = read_metrics(metrics_path)
    metrics = metrics[metrics["variant"] == variant]
    splits = manifest.get("splits") or {}
    train = splits.get("train") or {}
    description = " ".join(str((variant_spec or {}).get("description") or "").split())
    params = yaml.safe_dump(meta.get("params") or {}, sort_keys=True, default_flow_style=False).rstrip()
    external = meta.get("engine") == "external"
    mode = "imported predictions" if external else training_mode(meta)
    data = f"dataset variant `{variant}`{': ' + description if description else ''}"
    if external:
        data = f"unknown to evocane (predictions imported); evaluated on the held-out splits of {data}"
    lines = [
        f"# Model card: {model} on {variant}", "",
        " ".join(str(meta.get("description") or "").split()) or "(no description in the config)", "",
        "| | |", "|---|---|",
        f"| Engine | {meta.get('engine')} ({mode}) |",
        f"| Base | {_base(meta)} |",
        f"| Training data | {data} |",
        f"| Split | {json.dumps((manifest.get('spec') or {}).get('split') or {}, sort_keys=True)} |",
        f"| Training split size | {int(train.get('windows', 0)):,} windows, {int(train.get('tokens', 0)):,} tokens |",
        f"| Training | {_steps(meta, checkpoint)} |",
        f"| Checkpoint | `{checkpoint}` |",
        f"| evocane | {meta.get('evocane_version', '')} |", "",
        "## Headline numbers", "",
        "Non-repeat bits per base (lower is better) with 95% bootstrap intervals over windows; Δ = this model minus "
        "the best baseline member on the bases both scored (negative = better).", "",
        *headline_table(metrics, model), "",
        "## Parameters", "", "```yaml", params, "```", "",
        "## Intended use", "",
        "Research comparison of DNA language models on held-out crop-genome sequence (next-base prediction and the "
        "benchmark's zero-shot tasks); not validated for variant interpretation, breeding decisions or any clinical or "
        "regulatory use.", "",
        "## Known limits", "",
        *(f"- {text}" for text in _limits(meta, manifest, metrics, model)), "",
    ]  # fmt: skip
    return "\n".join(lines)


def write_model_card(out: str | Path, checkpoint: str | Path, metrics_path: str | Path, dataset_manifest: str | Path, variant: str,
                     variant_spec: Mapping[str, Any] | None = None) -> Path:  # fmt: skip
    text = model_card(checkpoint, metrics_path, dataset_manifest, variant, variant_spec)
    with atomic_path(out) as temp:
        temp.write_text(text)
    return Path(out)
