"""`evocane train|score|generate|make-prompts|engines`: the engine-agnostic commands the engine rules call.

train dispatches on the model's ``engine:`` in the config; score and generate on the checkpoint's
``evocane_checkpoint.json``, so they need no config.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from evocane.cli import add_config_arguments, command, config_from_args


def _train_args(p: argparse.ArgumentParser) -> None:
    add_config_arguments(p)
    p.add_argument("--model", required=True, help="a name under the config's 'models:'")
    p.add_argument("--dataset", required=True, type=Path, help="dataset variant directory (results/datasets/<variant>)")
    p.add_argument("--out", required=True, type=Path, help="checkpoint directory to write")
    p.add_argument("--init-checkpoint", type=Path, help="fine-tune from this checkpoint (default: the model's init_checkpoint)")
    p.add_argument("--hpo-best", type=Path, help="a study's best.yaml: its values merged over the model's params (params_from_hpo)")


@command("train", "train (or fine-tune) a configured model on a dataset variant's train split", _train_args)
def _train(args: argparse.Namespace) -> None:
    import dataclasses

    from evocane.engines.base import get_engine, model_config

    config = config_from_args(args)
    model = model_config(config, args.model)
    if args.hpo_best is not None:
        from evocane.config import validate_section
        from evocane.hpo.study import merged_params
        from evocane.hpo.summary import read_best_params

        entry = {**config["models"][args.model], "params": merged_params(model.params, read_best_params(args.hpo_best))}
        model = dataclasses.replace(model, params=dict(validate_section("models", {args.model: entry})[args.model]["params"]))
    init = args.init_checkpoint or (Path(model.init_checkpoint) if model.init_checkpoint else None)
    get_engine(model.engine).train(args.dataset, model, args.out, init)


def _checkpoint_engine(checkpoint: Path):  # type: ignore[no-untyped-def]
    """The engine a checkpoint was written by; an unknown or unavailable engine names the checkpoint's metadata."""
    from evocane.engines.base import CHECKPOINT_META, get_engine, read_checkpoint_meta
    from evocane.errors import EvocaneError

    name = read_checkpoint_meta(checkpoint)["engine"]
    try:
        return get_engine(name)
    except EvocaneError as error:
        raise EvocaneError(f"{checkpoint / CHECKPOINT_META}: {error}") from None


def _score_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True, type=Path)
    p.add_argument("--dataset", required=True, type=Path)
    p.add_argument("--split", required=True, choices=["train", "validation", "test"])
    p.add_argument("--out", required=True, type=Path, help="prediction set directory to write")
    p.add_argument("--distribution-windows", type=int, default=0, help="keep full A/C/G/T distributions for this many windows")
    p.add_argument("--trust-remote-code", action="store_true",
                   help="let the checkpoint's model run code it ships (Hugging Face trust_remote_code); only for models you trust")


@command("score", "score every window of a split with a checkpoint (any engine) into the prediction format", _score_args)
def _score(args: argparse.Namespace) -> None:
    from evocane.engines.base import select_distribution_windows

    engine = _checkpoint_engine(args.checkpoint)
    engine.allow_remote_code = args.trust_remote_code
    keep = select_distribution_windows(args.dataset, args.split, args.distribution_windows)
    engine.score(args.checkpoint, args.dataset, args.split, args.out, keep)


def _generate_args(p: argparse.ArgumentParser) -> None:
    add_config_arguments(p)
    p.add_argument("--checkpoint", required=True, type=Path)
    p.add_argument("--prompts", required=True, type=Path, help="prompt FASTA (ids are kept in the output)")
    p.add_argument("--out", required=True, type=Path, help="generated FASTA")
    p.add_argument("--trust-remote-code", action="store_true",
                   help="let the checkpoint's model run code it ships (Hugging Face trust_remote_code); only for models you trust")
    for field in dataclasses.fields(_sampling_class()):
        p.add_argument(f"--{field.name.replace('_', '-')}", type=type(field.default), help=f"override evaluation.generation.sampling.{field.name}")


def _sampling_class() -> type:
    from evocane.engines.base import SamplingConfig

    return SamplingConfig


@command("generate", "generate continuations of prompts with a checkpoint (any engine) as FASTA", _generate_args)
def _generate(args: argparse.Namespace) -> None:
    from evocane.engines.base import read_prompts, sampling_config

    sampling = sampling_config(config_from_args(args))
    overrides = {f.name: getattr(args, f.name) for f in dataclasses.fields(sampling) if getattr(args, f.name) is not None}
    sampling = dataclasses.replace(sampling, **overrides)
    engine = _checkpoint_engine(args.checkpoint)
    engine.allow_remote_code = args.trust_remote_code
    engine.generate(args.checkpoint, read_prompts(args.prompts), sampling, args.out)


def _prompts_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", required=True, type=Path)
    p.add_argument("--split", default="test", choices=["train", "validation", "test"])
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--length", type=int, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, type=Path)


@command("make-prompts", "draw generation prompts (window prefixes) from a dataset split as FASTA", _prompts_args)
def _make_prompts(args: argparse.Namespace) -> None:
    from evocane.engines.base import make_prompts, write_prompts

    write_prompts(make_prompts(args.dataset, args.split, args.count, args.length, args.seed), args.out)


def _engines_args(p: argparse.ArgumentParser) -> None:
    pass


@command("engines", "list the registered engines and whether each can be loaded here", _engines_args)
def _engines(args: argparse.Namespace) -> None:
    from evocane.engines.base import engine_names, get_engine
    from evocane.errors import EvocaneError

    for name in engine_names():
        try:
            engine = get_engine(name)
            status = f"available ({type(engine).__module__}.{type(engine).__name__})"
        except EvocaneError as error:
            status = f"not available: {error}"
        print(f"{name}\t{status}")


def _loss_curves_args(p: argparse.ArgumentParser) -> None:
    add_config_arguments(p)  # the run's model palette (job config entry model_palette)
    p.add_argument("--checkpoints", nargs="+", required=True, type=Path, help="checkpoint directories (any engine)")
    p.add_argument("--plot", required=True, type=Path, help="figure (png, svg or pdf)")
    p.add_argument("--table", required=True, type=Path, help="all curves in one TSV (model, variant, engine, mode, ...)")


@command("loss-curves", "plot the training curves (metrics.tsv) of checkpoints; ones without curves are skipped", _loss_curves_args)
def _loss_curves(args: argparse.Namespace) -> None:
    import json

    import pandas as pd

    from evocane.engines.base import read_checkpoint_meta, training_mode
    from evocane.plots.palette import ModelPalette
    from evocane.plots.training import write_loss_curves

    palette = ModelPalette.from_config(config_from_args(args))
    colours: dict[str, str] = {}

    curves: dict[str, pd.DataFrame] = {}
    styles: dict[str, str] = {}
    rows = []
    for checkpoint in args.checkpoints:
        metrics = checkpoint / "metrics.tsv"
        if not metrics.exists():
            continue
        meta = read_checkpoint_meta(checkpoint)
        mode = training_mode(meta)
        base_model = (meta.get(str(meta["engine"])) or {}).get("base_model")
        label = f"{meta['model']} on {meta.get('variant', '?')} ({mode}{f' of {base_model}' if base_model else ''})"
        table = pd.read_csv(metrics, sep="\t")
        curves[label] = table
        styles[label] = {"LoRA": ":", "fine-tune": "--", "full fine-tune": "--"}.get(mode, "-")
        colours[label] = palette.colour(str(meta["model"]))
        rows.append(table.assign(model=meta["model"], variant=meta.get("variant"), engine=meta["engine"], mode=mode,
                                 init_checkpoint=meta.get("init_checkpoint"), base_model=base_model))  # fmt: skip
    write_loss_curves(curves, rows, args.table, args.plot, styles, colours)
    print(json.dumps({"curves": list(curves)}))

