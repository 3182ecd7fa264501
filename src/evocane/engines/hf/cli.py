"""`evocane hf-loss-curves`: the training curves of hf checkpoints as one figure and one table (for the report).

Training, scoring and generation go through the engine-agnostic `evocane train|score|generate`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from evocane.cli import command


def _loss_curves_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoints", nargs="+", required=True, type=Path, help="hf checkpoint directories")
    p.add_argument("--plot", required=True, type=Path, help="figure (png, svg or pdf)")
    p.add_argument("--table", required=True, type=Path, help="all curves in one TSV (model, variant, init, ...)")


@command("hf-loss-curves", "plot the training curves (metrics.tsv) of hf checkpoints; untrained ones are skipped", _loss_curves_args)
def _loss_curves(args: argparse.Namespace) -> None:
    import pandas as pd

    from evocane.engines.base import read_checkpoint_meta
    from evocane.plots.training import write_loss_curves

    curves: dict[str, pd.DataFrame] = {}
    styles: dict[str, str] = {}
    rows = []
    for checkpoint in args.checkpoints:
        metrics = checkpoint / "metrics.tsv"
        if not metrics.exists():
            continue
        meta = read_checkpoint_meta(checkpoint)
        hf = meta.get("hf") or {}
        mode = "LoRA" if hf.get("kind") == "lora" else ("fine-tune" if meta.get("init_checkpoint") else "from scratch")
        label = f"{meta['model']} on {meta.get('variant', '?')} ({mode})"
        table = pd.read_csv(metrics, sep="\t")
        curves[label] = table
        styles[label] = {"LoRA": ":", "fine-tune": "--"}.get(mode, "-")
        rows.append(table.assign(model=meta["model"], variant=meta.get("variant"), mode=mode, init_checkpoint=meta.get("init_checkpoint")))
    write_loss_curves(curves, rows, args.table, args.plot, styles)
    print(json.dumps({"curves": list(curves)}))
