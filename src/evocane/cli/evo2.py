"""`evocane evo2-embed`: the evo2 engine's command beyond the common train/score/generate/loss-curves of
:mod:`evocane.cli.engines` (which serve evo2 checkpoints too). argparse only here: torch is imported when it runs."""

from __future__ import annotations

import argparse
from pathlib import Path

from evocane.cli import command


def _embed_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True, type=Path, help="an evo2 checkpoint directory (evocane train)")
    p.add_argument("--dataset", required=True, type=Path, help="dataset variant directory (results/datasets/<variant>)")
    p.add_argument("--split", required=True, choices=["train", "validation", "test"], help="split whose windows are embedded")
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
