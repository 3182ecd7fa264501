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
    p.add_argument("--checkpoint", required=True, type=Path, help="checkpoint directory of any engine (holds evocane_checkpoint.json)")
    p.add_argument("--dataset", required=True, type=Path, help="dataset directory in the dataset contract (a variant or its scored subset)")
    p.add_argument("--split", required=True, choices=["train", "validation", "test"], help="split to score")
    p.add_argument("--out", required=True, type=Path, help="prediction set directory to write")
    p.add_argument("--distribution-windows", type=int, default=0, help="keep full A/C/G/T distributions for this many windows")
    p.add_argument("--trust-remote-code", action="store_true",
                   help="let the checkpoint's model run code it ships (Hugging Face trust_remote_code); only for models you trust")
    add_shard_arguments(p)


def add_shard_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--shards", type=int, default=1,
                   help="the split is scored by this many jobs (contiguous runs of windows balanced by bases); "
                        "evocane gather-predictions joins their outputs")  # fmt: skip
    p.add_argument("--shard", type=int, default=0, help="which of the --shards this job scores (0-based)")


def shard_selection(args: argparse.Namespace, dataset: Path, split: str) -> list[str] | None:
    """The window ids of this job's shard (None = the whole split)."""
    from evocane.engines.base import shard_windows
    from evocane.errors import EvocaneError

    if args.shards < 1 or not 0 <= args.shard < args.shards:
        raise EvocaneError(f"--shard {args.shard} --shards {args.shards}: need shards >= 1 and 0 <= shard < shards")
    if args.shards == 1:
        return None
    return shard_windows(dataset, split, args.shards)[args.shard]


@command("score", "score every window of a split with a checkpoint (any engine) into the prediction format", _score_args)
def _score(args: argparse.Namespace) -> None:
    from evocane.engines.base import select_distribution_windows

    engine = _checkpoint_engine(args.checkpoint)
    engine.allow_remote_code = args.trust_remote_code
    keep = select_distribution_windows(args.dataset, args.split, args.distribution_windows)
    engine.score(args.checkpoint, args.dataset, args.split, args.out, keep, shard_selection(args, args.dataset, args.split))


def _gather_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", required=True, type=Path, help="the dataset directory the shards scored")
    p.add_argument("--split", required=True, choices=["train", "validation", "test"], help="split the shards scored")
    p.add_argument("--shards", required=True, nargs="+", type=Path, help="the shards' prediction sets, shard 0 first")
    p.add_argument("--out", required=True, type=Path, help="prediction set directory to write")


@command("gather-predictions", "join the prediction sets of a split's shards into the one the unsharded score writes", _gather_args)
def _gather(args: argparse.Namespace) -> None:
    from evocane.engines.base import shard_windows
    from evocane.predictions import gather_prediction_sets

    gather_prediction_sets(args.shards, args.out, shard_windows(args.dataset, args.split, len(args.shards)))


def _generate_args(p: argparse.ArgumentParser) -> None:
    add_config_arguments(p)
    p.add_argument("--checkpoint", required=True, type=Path, help="checkpoint directory of any engine (holds evocane_checkpoint.json)")
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
    p.add_argument("--dataset", required=True, type=Path, help="dataset variant directory (results/datasets/<variant>)")
    p.add_argument("--split", default="test", choices=["train", "validation", "test"], help="split the prompts come from (default: test)")
    p.add_argument("--count", type=int, required=True, help="number of prompts")
    p.add_argument("--length", type=int, required=True, help="bases per prompt (after the lineage tag, if any); windows with an N among them are skipped")
    p.add_argument("--seed", type=int, default=0, help="seed of the window draw (default 0)")
    p.add_argument("--out", required=True, type=Path, help="prompt FASTA to write")


@command("make-prompts", "draw generation prompts (window prefixes) from a dataset split as FASTA", _prompts_args)
def _make_prompts(args: argparse.Namespace) -> None:
    from evocane.engines.base import make_prompts, write_prompts

    write_prompts(make_prompts(args.dataset, args.split, args.count, args.length, args.seed), args.out)


def _engines_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="one JSON object per engine instead of the text listing")


@command("engines", "list the registered engines: whether each imports here and whether it can run on this machine", _engines_args)
def _engines(args: argparse.Namespace) -> None:
    import dataclasses
    import json

    from evocane.engines.readiness import all_engines

    for status in all_engines():
        if args.json:
            print(json.dumps(dataclasses.asdict(status)))
            continue
        print(f"{status.engine}")
        print(f"  importable:    {'yes' if status.importable else 'no'}: {status.import_detail}")
        print(f"  runnable here: {'yes' if status.runnable else 'no'}: {status.run_detail}")


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

