"""`evocane evo2-embed | evo2-loss-curves`: the evo2 engine's commands beyond the common train/score/generate of
:mod:`evocane.engines.cli` (which serve evo2 checkpoints too). argparse only here: torch is imported when a command
runs."""

from __future__ import annotations

import argparse
from pathlib import Path

from evocane.cli import command


def _embed_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True, type=Path, help="an evo2 checkpoint directory (evocane train)")
    p.add_argument("--dataset", required=True, type=Path)
    p.add_argument("--split", required=True, choices=["train", "validation", "test"])
    p.add_argument("--out", required=True, type=Path, help="embedding directory to write")
    p.add_argument("--layer", action="append", default=[], help="vortex layer name (repeatable), e.g. blocks.28.mlp.l3; default: params.embed_layers")


@command("evo2-embed", "mean embeddings of every window of a split from named layers of an evo2 checkpoint", _embed_args)
def _embed(args: argparse.Namespace) -> None:
    from evocane.engines.base import read_checkpoint_meta
    from evocane.engines.evo2 import Evo2Engine
    from evocane.errors import EvocaneError

    engine = read_checkpoint_meta(args.checkpoint)["engine"]
    if engine != "evo2":
        raise EvocaneError(f"{args.checkpoint}: an '{engine}' checkpoint; evo2-embed needs an evo2 checkpoint")
    Evo2Engine().embed(args.checkpoint, args.dataset, args.split, args.out, args.layer)


def _loss_curves_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoints", nargs="+", required=True, type=Path, help="evo2 checkpoint directories")
    p.add_argument("--plot", required=True, type=Path, help="figure (png, svg or pdf)")
    p.add_argument("--table", required=True, type=Path, help="all curves in one TSV (model, variant, mode, ...)")


@command("evo2-loss-curves", "plot the training curves (metrics.tsv) of evo2 fine-tunes; zero-shot ones are skipped", _loss_curves_args)
def _loss_curves(args: argparse.Namespace) -> None:
    import pandas as pd

    from evocane.engines.base import read_checkpoint_meta
    from evocane.plots.training import write_loss_curves

    curves: dict[str, pd.DataFrame] = {}
    rows = []
    for checkpoint in args.checkpoints:
        metrics = checkpoint / "metrics.tsv"
        if not metrics.exists():
            continue
        meta = read_checkpoint_meta(checkpoint)
        evo2 = meta.get("evo2") or {}
        mode = {"lora": "LoRA", "full": "full fine-tune"}.get(str(evo2.get("mode")), str(evo2.get("mode")))
        label = f"{meta['model']} on {meta.get('variant', '?')} ({mode} of {evo2.get('base_model', '?')})"
        table = pd.read_csv(metrics, sep="\t")
        curves[label] = table
        rows.append(table.assign(model=meta["model"], variant=meta.get("variant"), mode=mode, base_model=evo2.get("base_model")))
    write_loss_curves(curves, rows, args.table, args.plot)
