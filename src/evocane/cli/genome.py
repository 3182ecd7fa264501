"""`evocane download|prepare-genome|qc|qc-report|homology`: the genome room's commands."""

from __future__ import annotations

import argparse
from pathlib import Path

from evocane import layout
from evocane.cli import add_config_arguments, command, config_from_args
from evocane.errors import EvocaneError


# --- genome room ---------------------------------------------------------------------------------------------------
def _download_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", required=True, help="http(s) or ftp URL")
    p.add_argument("--output", required=True, type=Path, help="file to write (appears only once complete and verified)")
    p.add_argument("--sha256", default="", help="expected sha256 of the file; empty: not checked")
    p.add_argument("--retries", type=int, default=5, help="attempts, each resuming where the last stopped")


@command("download", "download a URL resumably, verify sha256, rename into place", _download_args)
def _download(args: argparse.Namespace) -> None:
    from evocane.genome.download import download

    download(args.url, args.output, args.sha256 or None, retries=args.retries)


def _prepare_args(p: argparse.ArgumentParser) -> None:
    add_config_arguments(p)
    p.add_argument("--cultivar", required=True, help="a name under the config's 'cultivars:'")
    p.add_argument("--out-dir", type=Path, help=f"default: {layout.genome_dir('<cultivar>')}")
    p.add_argument("--downloads", type=Path, default=Path(layout.DOWNLOADS), help="where URL sources were downloaded")


@command("prepare-genome", "select/rename records, bgzip + index the FASTA, filter the GFF3, assign homology groups", _prepare_args)
def _prepare(args: argparse.Namespace) -> None:
    from evocane.genome.prepare import prepare_genome
    from evocane.genome.sources import source_files

    config = config_from_args(args)
    spec = _cultivar(config, args.cultivar)
    out_dir = args.out_dir or Path(layout.genome_dir(args.cultivar))
    prepare_genome(args.cultivar, source_files(spec, args.cultivar, args.downloads), spec["homology"], out_dir, spec.get("max_length"))


def _cultivar(config: dict, name: str) -> dict:
    try:
        return config["cultivars"][name]
    except KeyError:
        raise EvocaneError(f"config: no cultivar named '{name}' (have: {', '.join(config.get('cultivars', {}))})") from None


def _qc_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cultivar", required=True, help="cultivar name (the genome's folder)")
    p.add_argument("--genome-dir", type=Path, help=f"default: {layout.genome_dir('<cultivar>')}")
    p.add_argument("--output", type=Path, help="default: <genome-dir>/qc.tsv")
    p.add_argument("--expected-groups", type=int, default=0, help="flag a different number of homology groups (0: no check)")
    p.add_argument("--max-haplotypes", type=int, default=0, help="flag groups with more haplotypes (0: no check)")


@command("qc", "per-record genome QC table (streams the genome)", _qc_args)
def _qc(args: argparse.Namespace) -> None:
    from evocane.atomic import atomic_path
    from evocane.genome.qc import genome_qc

    genome_dir = args.genome_dir or Path(layout.genome_dir(args.cultivar))
    table = genome_qc(
        args.cultivar, genome_dir / "genome.fa.gz", genome_dir / "records.tsv", args.expected_groups or None, args.max_haplotypes or None
    )
    with atomic_path(args.output or genome_dir / "qc.tsv") as temp:
        table.to_csv(temp, sep="\t", index=False)


def _qc_report_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--qc", nargs="+", required=True, type=Path, help="per-cultivar qc.tsv files")
    p.add_argument("--summary", required=True, type=Path, help="per-cultivar summary TSV to write (N50, haplotypes per group, unplaced bases)")
    p.add_argument("--records-table", required=True, type=Path, help="every cultivar's per-record QC rows in one TSV to write")
    p.add_argument("--composition-plot", required=True, type=Path, help="per-record composition figure to write (png, svg or pdf)")
    p.add_argument("--gc-plot", required=True, type=Path, help="GC vs soft-masked fraction figure to write (png, svg or pdf)")


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
    p.add_argument("--pattern", default=None, help="homology regular expression with named groups hg, hg2, hap, origin (default: the built-in sugarcane pattern)")


@command("homology", "show how chromosome names parse into homology group and haplotype", _homology_args)
def _homology(args: argparse.Namespace) -> None:
    from evocane.genome import homology

    pattern = homology.compile_pattern(args.pattern or homology.DEFAULT_PATTERN)
    organelle = homology.compile_pattern_plain(homology.DEFAULT_ORGANELLE_PATTERN)
    print("record\tkind\thomology_group\thomology_group2\thaplotype\torigin")
    for name in args.names:
        a = homology.assign(name, pattern, organelle)
        print(f"{a.record}\t{a.kind}\t{a.group}\t{a.group2}\t{a.haplotype}\t{a.origin}")
