"""The dataset steps as the workflow runs them, one function per rule, shared by ``evocane dataset-*`` commands and
``scripts/dataset_step.py``. Each takes explicit paths and writes its outputs atomically. The two steps that draw
figures (audit, comparison) are in :mod:`evocane.plots.dataset`: the dataset room imports no figure code.

Layout (``results/datasets``)::

    regions/{cultivar}.bed.gz, regions/{cultivar}.summary.json     region intervals per cultivar (all variants)
    {variant}/plan.parquet, splits/{split}.bed, splits/manifest.json
    {variant}/audit/sketch/{cultivar}.npy                          sketched k-mers of the training windows
    {variant}/windows.parquet, arrays/{split}.*.npy, manifest.json  the dataset contract
    {variant}/fasta/{split}.fa(.fai), bionemo/*.yaml                exports
    {variant}/audit/leakage.tsv, leakage.png, composition.png, train.sig
    {variant}/card.html
    comparison/leakage.tsv, comparison/leakage.png                  leakage across variants
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from evocane.atomic import atomic_path
from evocane.dataset.arrays import SPLITS
from evocane.errors import EvocaneError
from evocane.layout import VariantPaths

log = logging.getLogger(__name__)


def genome_files(genome_dir: str | Path) -> dict[str, Path]:
    genome_dir = Path(genome_dir)
    return {
        "genome.fa.gz": genome_dir / "genome.fa.gz",
        "annotation.gff3.gz": genome_dir / "annotation.gff3.gz",
        "records.tsv": genome_dir / "records.tsv",
    }


def _annotated(records_tsv: Path) -> list[str]:
    table = pd.read_csv(records_tsv, sep="\t", dtype=str, keep_default_na=False)
    return [row.record for row in table.itertuples() if row.annotated == "True"]


# --- steps --------------------------------------------------------------------------------------------------------------
def regions_step(cultivar: str, genome_dir: str | Path, settings: Mapping[str, Any], bed: str | Path, summary: str | Path) -> None:
    from evocane.dataset.regions import derive_regions, write_regions

    files = genome_files(genome_dir)
    table, result = derive_regions(
        cultivar, files["annotation.gff3.gz"], f"{files['genome.fa.gz']}.fai", _annotated(files["records.tsv"]),
        settings["promoter_length"], settings["gene_types"],
    )  # fmt: skip
    write_regions(table, result, bed, summary)
    log.info("%s: %d region intervals, %d coding transcripts", cultivar, len(table), result.coding_transcripts)


def plan_step(spec: Mapping[str, Any], genome_dirs: Mapping[str, str | Path], regions: Mapping[str, str | Path], out_dir: str | Path) -> None:
    from evocane.dataset.splits import make_plan, write_plan

    cultivars = spec["cultivars"]
    plan = make_plan(
        spec,
        {c: genome_files(genome_dirs[c])["records.tsv"] for c in cultivars},
        {c: regions.get(c) for c in cultivars},
        {c: genome_files(genome_dirs[c])["genome.fa.gz"] for c in cultivars},
    )
    manifest = write_plan(plan, spec, out_dir)
    log.info("%s: planned windows %s", spec["name"], manifest["planned_windows"])
    for warning in plan.warnings:
        log.warning("%s: %s", spec["name"], warning)


def _genome_input(cultivar: str, genome_dir: str | Path, regions_bed: str | Path | None):  # type: ignore[no-untyped-def]
    from evocane.dataset.windows import GenomeInput

    files = genome_files(genome_dir)
    return GenomeInput(cultivar, files["genome.fa.gz"], files["records.tsv"], Path(regions_bed) if regions_bed else None)


def sketch_step(spec: Mapping[str, Any], cultivar: str, genome_dir: str | Path, plan: str | Path, out: str | Path) -> None:
    from evocane.dataset.leakage import save_sketch
    from evocane.dataset.windows import sketch_training_windows

    hashes = sketch_training_windows(spec, plan, _genome_input(cultivar, genome_dir, None))
    save_sketch(hashes, out)
    log.info("%s/%s: %d sketched training k-mers", spec["name"], cultivar, len(hashes))


def build_step(
    spec: Mapping[str, Any],
    genome_dirs: Mapping[str, str | Path],
    regions: Mapping[str, str | Path],
    plan: str | Path,
    sketches: Sequence[str | Path],
    out_dir: str | Path,
) -> None:
    from evocane.dataset.leakage import load_sketch, union
    from evocane.dataset.windows import build_dataset

    genomes = {c: _genome_input(c, genome_dirs[c], regions.get(c)) for c in spec["cultivars"]}
    train_hashes = union([load_sketch(path) for path in sketches]) if spec["leakage"]["enabled"] else None
    manifest = build_dataset(spec, plan, genomes, out_dir, train_hashes)
    log.info("%s: %s", spec["name"], {split: manifest["splits"][split]["windows"] for split in SPLITS})
    for warning in manifest["warnings"]:
        log.warning("%s: %s", spec["name"], warning)


def fasta_step(variant_dir: str | Path, split: str, out: str | Path) -> None:
    from evocane.dataset.exports import write_fasta

    count = write_fasta(variant_dir, split, out)
    log.info("%s: %d windows", out, count)


def bionemo_step(spec: Mapping[str, Any], variant_dir: str | Path, fastas: Mapping[str, str], out_dir: str | Path) -> None:
    from evocane.dataset.exports import write_bionemo

    write_bionemo(spec, variant_dir, fastas, out_dir)


def card_step(
    spec: Mapping[str, Any],
    cultivar_configs: Mapping[str, Any],
    variant_dir: str | Path,
    genome_dirs: Mapping[str, str | Path],
    region_summaries: Mapping[str, str | Path],
    out: str | Path,
) -> None:
    from evocane.dataset.card import render_card, sha256_file

    paths = VariantPaths(Path(variant_dir))
    sources = {}
    for cultivar in spec["cultivars"]:
        files = {name: path for name, path in genome_files(genome_dirs[cultivar]).items()}
        files["regions.bed.gz"] = Path(str(region_summaries[cultivar]).replace(".summary.json", ".bed.gz"))
        sources[cultivar] = {
            "config": cultivar_configs[cultivar].get("sources", []),
            "files": {name: (str(path), sha256_file(path), path.stat().st_size) for name, path in files.items() if path.exists()},
        }
    regions = {c: json.loads(Path(region_summaries[c]).read_text()) for c in spec["cultivars"]}
    audit = pd.read_csv(paths.audit_table, sep="\t")
    html = render_card(
        spec, pd.read_parquet(paths.windows), json.loads(paths.manifest.read_text()), json.loads(paths.split_manifest.read_text()),
        audit, sources, regions,
    )  # fmt: skip
    with atomic_path(out) as temp:
        temp.write_text(html)
