"""`evocane dataset-*` commands: every dataset step by hand, with the workflow's default paths.

    evocane dataset-regions --cultivar thaliana
    evocane dataset-plan --variant homology_split
    evocane dataset-sketch --variant homology_split --cultivar mockcane
    evocane dataset-build --variant homology_split
    evocane dataset-export --variant homology_split
    evocane dataset-audit --variant homology_split
    evocane dataset-card --variant homology_split
    evocane dataset-compare
    evocane dataset-subset --dataset results/datasets/homology_split --max-windows 1000 --out results/datasets/homology_split/scored
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from evocane import layout
from evocane.cli import add_config_arguments, command, config_from_args
from evocane.errors import EvocaneError


def _paths_arguments(p: argparse.ArgumentParser) -> None:
    add_config_arguments(p)
    p.add_argument("--genomes", type=Path, default=Path(layout.genomes()), help="folder of prepared genomes (<genomes>/<cultivar>/)")
    p.add_argument("--datasets", type=Path, default=Path(layout.datasets()), help="folder of dataset outputs")


def _variant_arguments(p: argparse.ArgumentParser) -> None:
    _paths_arguments(p)
    p.add_argument("--variant", required=True, help="a name under datasets.variants")


def _spec(args: argparse.Namespace, step: str = "card") -> tuple[dict[str, Any], dict[str, Any]]:
    """The config and the part of the variant that ``step`` reads: from the job config the workflow planned
    (``dataset_step``), or resolved from the config files by hand (the same bytes either way)."""
    from evocane.dataset.config import resolve_variant, spec_view

    config = config_from_args(args)
    if "dataset_step" in config:
        spec = config["dataset_step"]
        if spec.get("name") != args.variant:
            raise EvocaneError(f"{args.job_config}: job config planned for dataset variant '{spec.get('name')}', not '{args.variant}'")
        return config, spec
    return config, spec_view(resolve_variant(config, args.variant), step)


def _genome_dirs(args: argparse.Namespace, spec: dict[str, Any]) -> dict[str, Path]:
    return {c: args.genomes / c for c in spec["cultivars"]}


def _regions(args: argparse.Namespace, spec: dict[str, Any], suffix: str = ".bed.gz") -> dict[str, Path]:
    return {c: args.datasets / "regions" / f"{c}{suffix}" for c in spec["cultivars"]}


def _sketches(args: argparse.Namespace, spec: dict[str, Any]) -> list[Path]:

    paths = layout.VariantPaths(args.datasets / spec["name"])
    return [paths.sketch(c) for c in spec["cultivars"]] if spec["leakage"]["enabled"] else []


def _regions_args(p: argparse.ArgumentParser) -> None:
    _paths_arguments(p)
    p.add_argument("--cultivar", required=True, help="cultivar (a key of cultivars:) whose GFF3 gives the regions")


@command("dataset-regions", "region intervals (CDS, UTRs, introns, promoters, intergenic) from a cultivar's GFF3", _regions_args)
def _regions_command(args: argparse.Namespace) -> None:
    from evocane.dataset.steps import regions_step

    config = config_from_args(args)
    if args.cultivar not in config["cultivars"]:
        raise EvocaneError(f"config: no cultivar named '{args.cultivar}'")
    out = args.datasets / "regions"
    regions_step(args.cultivar, args.genomes / args.cultivar, config["datasets"]["regions"], out / f"{args.cultivar}.bed.gz", out / f"{args.cultivar}.summary.json")


@command("dataset-plan", "assign records to splits and plan the windows of a dataset variant", _variant_arguments)
def _plan_command(args: argparse.Namespace) -> None:
    from evocane.dataset.steps import plan_step

    _, spec = _spec(args, "plan")
    regions = _regions(args, spec) if spec["sampling"]["mode"] == "genic" else {}
    plan_step(spec, _genome_dirs(args, spec), regions, args.datasets / spec["name"])


def _sketch_args(p: argparse.ArgumentParser) -> None:
    _variant_arguments(p)
    p.add_argument("--cultivar", required=True, help="cultivar whose training windows are sketched")


@command("dataset-sketch", "FracMinHash sketch of one cultivar's training windows (leakage audit)", _sketch_args)
def _sketch_command(args: argparse.Namespace) -> None:
    from evocane.dataset.steps import sketch_step

    _, spec = _spec(args, "sketch")
    paths = layout.VariantPaths(args.datasets / spec["name"])
    sketch_step(spec, args.cultivar, args.genomes / args.cultivar, paths.plan, paths.sketch(args.cultivar))


@command("dataset-build", "window, label and tokenise a planned variant; audit held-out windows", _variant_arguments)
def _build_command(args: argparse.Namespace) -> None:
    from evocane.dataset.steps import build_step

    _, spec = _spec(args, "build")
    paths = layout.VariantPaths(args.datasets / spec["name"])
    build_step(spec, _genome_dirs(args, spec), _regions(args, spec), paths.plan, _sketches(args, spec), paths.root)


@command("dataset-export", "FASTA per split and BioNeMo preprocess/dataset-config YAMLs of a built variant", _variant_arguments)
def _export_command(args: argparse.Namespace) -> None:
    from evocane.dataset.arrays import SPLITS
    from evocane.dataset.steps import bionemo_step, fasta_step

    _, spec = _spec(args, "bionemo")
    paths = layout.VariantPaths(args.datasets / spec["name"])
    for split in SPLITS:
        fasta_step(paths.root, split, paths.fasta(split))
    bionemo_step(spec, paths.root, {split: str(paths.fasta(split)) for split in SPLITS}, paths.bionemo)


@command("dataset-audit", "leakage table and figures of a built variant", _variant_arguments)
def _audit_command(args: argparse.Namespace) -> None:
    from evocane.plots.dataset import audit_step

    config, spec = _spec(args, "audit")
    paths = layout.VariantPaths(args.datasets / spec["name"])
    fmt = config["qc"]["plot_format"]
    audit_step(spec, paths.root, _sketches(args, spec), paths.audit_table, paths.root / "audit" / f"leakage.{fmt}",
               paths.root / "audit" / f"composition.{fmt}", paths.signature)  # fmt: skip


@command("dataset-card", "the dataset card (HTML) of a built and audited variant", _variant_arguments)
def _card_command(args: argparse.Namespace) -> None:
    from evocane.dataset.steps import card_step

    config, spec = _spec(args)
    paths = layout.VariantPaths(args.datasets / spec["name"])
    card_step(spec, config["cultivars"], paths.root, _genome_dirs(args, spec), _regions(args, spec, ".summary.json"), paths.card)


def _compare_args(p: argparse.ArgumentParser) -> None:
    _paths_arguments(p)
    p.add_argument("--variants", nargs="*", help="default: every configured variant")


@command("dataset-compare", "leakage of held-out windows across dataset variants (table and figure)", _compare_args)
def _compare_command(args: argparse.Namespace) -> None:
    from evocane.dataset.config import variant_names
    from evocane.plots.dataset import comparison_step

    config = config_from_args(args)
    names = args.variants or variant_names(config)
    fmt = config["qc"]["plot_format"]
    out = args.datasets / "comparison"
    comparison_step({name: args.datasets / name for name in names}, out / "leakage.tsv", out / f"leakage.{fmt}")


def _subset_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", required=True, type=Path, help="built variant directory (results/datasets/<variant>)")
    p.add_argument("--splits", nargs="+", default=["validation", "test"], help="splits to sample (default: validation test)")
    p.add_argument("--max-windows", required=True, type=int, help="at most this many windows per split")
    p.add_argument("--seed", type=int, default=0, help="seed of the sample (with variant and split; default 0)")
    p.add_argument("--out", required=True, type=Path, help="subset directory to write (dataset contract)")


@command("dataset-subset", "seeded random subset of a variant's held-out windows, the same for every model scored on it", _subset_args)
def _subset_command(args: argparse.Namespace) -> None:
    from evocane.dataset.subset import write_scored_subset

    subset = write_scored_subset(args.dataset, args.splits, args.max_windows, args.seed, args.out)
    for split, counts in subset["splits"].items():
        print(f"{split}: {counts['windows']} of {counts['of_windows']} windows ({counts['tokens']} tokens)")
