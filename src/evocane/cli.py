"""`evocane <command>`: every workflow step, runnable by hand. Rules call these commands or thin scripts."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from evocane import __version__
from evocane.errors import EvocaneError

Command = Callable[[argparse.Namespace], None]
COMMANDS: dict[str, tuple[str, Command, Callable[[argparse.ArgumentParser], None]]] = {}


def command(name: str, help_text: str, arguments: Callable[[argparse.ArgumentParser], None]) -> Callable[[Command], Command]:
    def register(function: Command) -> Command:
        COMMANDS[name] = (help_text, function, arguments)
        return function

    return register


def _config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", nargs="+", default=["config/config.yaml"], help="config YAML file(s)")


# --- configuration -----------------------------------------------------------------------------------------------
def _validate_args(p: argparse.ArgumentParser) -> None:
    _config_arguments(p)
    p.add_argument("--print", action="store_true", help="print the validated config with defaults filled")


@command("validate-config", "validate config file(s) against config/schema.yaml", _validate_args)
def _validate(args: argparse.Namespace) -> None:
    import yaml

    from evocane.config import load_config

    config = load_config(*args.config)
    if args.print:
        yaml.safe_dump(config, sys.stdout, sort_keys=False)
    else:
        print(f"{', '.join(args.config)}: valid ({len(config.get('cultivars', {}))} cultivars)")


# --- genome room ---------------------------------------------------------------------------------------------------
def _download_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", required=True)
    p.add_argument("--output", required=True, type=Path)
    p.add_argument("--sha256", default="", help="expected sha256 of the file; empty: not checked")
    p.add_argument("--retries", type=int, default=5)


@command("download", "download a URL resumably, verify sha256, rename into place", _download_args)
def _download(args: argparse.Namespace) -> None:
    from evocane.genome.download import download

    download(args.url, args.output, args.sha256 or None, retries=args.retries)


def _prepare_args(p: argparse.ArgumentParser) -> None:
    _config_arguments(p)
    p.add_argument("--cultivar", required=True)
    p.add_argument("--out-dir", type=Path, help="default: results/genomes/<cultivar>")
    p.add_argument("--downloads", type=Path, default=Path("resources/downloads"))


@command("prepare-genome", "select/rename records, bgzip + index the FASTA, filter the GFF3, assign homology groups", _prepare_args)
def _prepare(args: argparse.Namespace) -> None:
    from evocane.config import load_config
    from evocane.genome.prepare import prepare_genome
    from evocane.genome.sources import source_files

    config = load_config(*args.config)
    spec = _cultivar(config, args.cultivar)
    out_dir = args.out_dir or Path("results/genomes") / args.cultivar
    prepare_genome(args.cultivar, source_files(spec, args.cultivar, args.downloads), spec["homology"], out_dir, spec.get("max_length"))


def _cultivar(config: dict, name: str) -> dict:
    try:
        return config["cultivars"][name]
    except KeyError:
        raise EvocaneError(f"config: no cultivar named '{name}' (have: {', '.join(config.get('cultivars', {}))})") from None


def _qc_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cultivar", required=True)
    p.add_argument("--genome-dir", type=Path, help="default: results/genomes/<cultivar>")
    p.add_argument("--output", type=Path, help="default: <genome-dir>/qc.tsv")
    p.add_argument("--expected-groups", type=int, default=None, help="flag a different number of homology groups")
    p.add_argument("--max-haplotypes", type=int, default=None, help="flag groups with more haplotypes")


@command("qc", "per-record genome QC table (streams the genome)", _qc_args)
def _qc(args: argparse.Namespace) -> None:
    from evocane.atomic import atomic_path
    from evocane.genome.qc import genome_qc

    genome_dir = args.genome_dir or Path("results/genomes") / args.cultivar
    table = genome_qc(
        args.cultivar, genome_dir / "genome.fa.gz", genome_dir / "records.tsv", args.expected_groups, args.max_haplotypes
    )
    with atomic_path(args.output or genome_dir / "qc.tsv") as temp:
        table.to_csv(temp, sep="\t", index=False)


def _qc_report_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--qc", nargs="+", required=True, type=Path, help="per-cultivar qc.tsv files")
    p.add_argument("--summary", required=True, type=Path)
    p.add_argument("--records-table", required=True, type=Path)
    p.add_argument("--composition-plot", required=True, type=Path)
    p.add_argument("--gc-plot", required=True, type=Path)


@command("qc-report", "combine QC tables into a summary and the QC figures", _qc_report_args)
def _qc_report(args: argparse.Namespace) -> None:
    import pandas as pd

    from evocane.atomic import atomic_path
    from evocane.genome.qc import summarise
    from evocane.plots.qc import gc_vs_softmask, record_composition

    table = pd.concat([pd.read_csv(p, sep="\t", keep_default_na=False, na_values=[""]) for p in args.qc], ignore_index=True)
    table["homology_group2"] = table["homology_group2"].fillna("").astype(str).str.replace(r"\.0$", "", regex=True)
    table["homology_group"] = table["homology_group"].astype(str).str.replace(r"\.0$", "", regex=True)
    with atomic_path(args.summary) as temp:
        summarise(table).to_csv(temp, sep="\t", index=False)
    with atomic_path(args.records_table) as temp:
        table.to_csv(temp, sep="\t", index=False)
    for path, figure in ((args.composition_plot, record_composition(table)), (args.gc_plot, gc_vs_softmask(table))):
        with atomic_path(path) as temp:
            figure.savefig(temp, format=path.suffix.lstrip(".") or "png", dpi=110, bbox_inches="tight")


def _homology_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("names", nargs="+", help="chromosome names to parse")
    p.add_argument("--pattern", default=None)


@command("homology", "show how chromosome names parse into homology group and haplotype", _homology_args)
def _homology(args: argparse.Namespace) -> None:
    from evocane.genome import homology

    pattern = homology.compile_pattern(args.pattern or homology.DEFAULT_PATTERN)
    organelle = homology.compile_pattern_plain(homology.DEFAULT_ORGANELLE_PATTERN)
    print("record\tkind\thomology_group\thomology_group2\thaplotype\torigin")
    for name in args.names:
        a = homology.assign(name, pattern, organelle)
        print(f"{a.record}\t{a.kind}\t{a.group}\t{a.group2}\t{a.haplotype}\t{a.origin}")


# --- entry point ---------------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="evocane", description=__doc__)
    parser.add_argument("--version", action="version", version=f"evocane {__version__}")
    parser.add_argument("--verbose", "-v", action="store_true")
    sub = parser.add_subparsers(dest="command", metavar="<command>", required=True)
    _load_plugins()
    for name, (help_text, _, arguments) in COMMANDS.items():
        arguments(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def _load_plugins() -> None:
    """Import the modules of later rooms that register their own commands (kept optional so the genome room
    runs without the ML extras installed)."""
    import importlib

    for module in ("evocane.dataset.cli", "evocane.engines.cli", "evocane.evaluate.cli", "evocane.evaluate.tasks_cli"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as error:
            if error.name is None or not error.name.startswith(module.rsplit(".", 1)[0]):
                raise


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        COMMANDS[args.command][1](args)
    except EvocaneError as error:
        print(f"evocane: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    # Room modules register their commands into the importable module ``evocane.cli``, not into ``__main__``:
    # run that module's main so `python -m evocane.cli` sees every command.
    from evocane.cli import main as registered_main

    sys.exit(registered_main())
