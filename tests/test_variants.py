"""Variant-effect task: every sampled variant's class is checked independently (Biopython translation of the
whole CDS of every covering transcript, raw GFF3 spans for the non-coding classes); Delta and AUROC end to end."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pysam
import pytest
from Bio.Seq import Seq

from evocane.dataset.arrays import DatasetReader
from evocane.evaluate import variants
from evocane.evaluate.codons import load_transcripts
from evocane.evaluate.taskdata import held_out_regions, read_scored
from evocane.predictions import PredictionWriter
from evocane.config import schema_defaults

from tasks_fixtures import TEST_START, tair10_dataset, tair10_genome  # noqa: F401

PARAMS = variants.VariantParams.from_mapping({**schema_defaults("evaluation.tasks.variant_effect"), "variants_per_class": 15, "window": 128, "seed": 5})


@pytest.fixture(scope="module")
def variant_dataset(tmp_path_factory: pytest.TempPathFactory, tair10_dataset: Path, tair10_genome: Path) -> Path:  # noqa: F811
    held_out = held_out_regions(tair10_dataset)
    return variants.build_variant_inputs(held_out, {"thaliana": tair10_genome}, PARAMS, tmp_path_factory.mktemp("var") / "dataset")


def protein(cds: str, strand: str) -> str:
    text = cds if strand == "+" else str(Seq(cds).reverse_complement())
    return str(Seq(text[: len(text) // 3 * 3]).translate())


def test_every_class_is_sampled_and_checked_independently(variant_dataset: Path, tair10_genome: Path) -> None:  # noqa: F811
    windows = DatasetReader(variant_dataset).split_windows("test")
    refs = windows[windows["allele"] == "ref"]
    counts = refs["variant_class"].value_counts()
    assert set(counts.index) == set(variants.VARIANT_CLASSES)
    assert (counts == PARAMS.variants_per_class).all()
    with pysam.FastaFile(str(tair10_genome / "genome.fa.gz")) as fasta:
        sequence = fasta.fetch("NC_003070.9")
    transcripts = load_transcripts(tair10_genome / "annotation.gff3.gz")
    spans = []
    with gzip.open(tair10_genome / "annotation.gff3.gz", "rt") as handle:
        for line in handle:
            fields = line.split("\t")
            if not line.startswith("#") and len(fields) == 9 and fields[2] not in ("region", "sequence_feature"):
                spans.append((int(fields[3]) - 1, int(fields[4])))
    severity = {"synonymous": 0, "missense": 1, "stop_lost": 2, "nonsense": 3}
    for row in refs.itertuples(index=False):
        p, cls = int(row.position), row.variant_class
        assert p >= TEST_START and sequence[p].upper() == row.ref and row.alt != row.ref
        in_cds = [t for t in transcripts if any(s <= p < e for s, e, _ in t.cds)]
        in_exon = [t for t in transcripts if t.coding and any(s <= p < e for s, e in t.exons)]
        near_intron_end = any(s <= p < s + 2 or e - 2 <= p < e for t in transcripts for s, e in t.introns())
        if cls == "splice_site":
            assert near_intron_end
            continue
        assert not near_intron_end
        if cls in severity:
            found = []
            for t in in_cds:
                cds = "".join(sequence[s:e] for s, e, _ in t.cds).upper()
                offset = sum(min(e, p) - s for s, e, _ in t.cds if s <= p)
                mutated = cds[:offset] + row.alt + cds[offset + 1 :]
                before, after = protein(cds, t.strand), protein(mutated, t.strand)
                changed = [i for i, (a, b) in enumerate(zip(before, after)) if a != b]
                if not changed:
                    found.append("synonymous")
                else:
                    a, b = before[changed[0]], after[changed[0]]
                    found.append("nonsense" if b == "*" else "stop_lost" if a == "*" else "missense")
            assert max(found, key=severity.__getitem__) == cls, (row.pair_id, found)
        elif cls == "utr":
            assert in_exon and not in_cds
        elif cls == "intron":
            assert not in_cds and not in_exon and any(s <= p < e for t in transcripts for s, e in t.introns())
        elif cls == "intergenic":
            assert not any(s <= p < e for s, e in spans)


def test_windows_differ_only_at_the_variant(variant_dataset: Path) -> None:
    dataset = DatasetReader(variant_dataset)
    windows = dataset.split_windows("test").set_index("window_id")
    tokens = dataset.arrays("test").tokens
    for pair in windows["pair_id"].unique()[:40]:
        ref, alt = windows.loc[f"{pair}|ref"], windows.loc[f"{pair}|alt"]
        a = np.asarray(tokens[ref["offset"] : ref["offset"] + ref["length"]])
        b = np.asarray(tokens[alt["offset"] : alt["offset"] + alt["length"]])
        assert len(a) == len(b) == PARAMS.window
        assert np.nonzero(a != b)[0].tolist() == [PARAMS.window // 2]
        assert chr(b[PARAMS.window // 2]).upper() == alt["alt"]


def test_delta_and_auroc_on_constructed_scores(variant_dataset: Path, tmp_path: Path) -> None:
    """A model whose alt windows lose 2 nats for nonsense, 1 for missense and 0 for synonymous: Delta per class as
    constructed and AUROC of nonsense+missense vs synonymous = 1."""
    windows = DatasetReader(variant_dataset).split_windows("test")
    penalty = {"nonsense": 2.0, "missense": 1.0}
    with PredictionWriter(tmp_path / "pred", {"model": "toy", "engine": "test", "variant": "fixture", "split": "test"}) as writer:
        for row in windows.itertuples(index=False):
            values = np.full(row.length, -1.3, dtype=np.float32)
            values[0] = np.nan
            if row.allele == "alt":
                values[row.variant_index] -= penalty.get(row.variant_class, 0.0)
            writer.add(row.window_id, values)
    table = variants.variant_scores(read_scored(variant_dataset, tmp_path / "pred"))
    assert len(table) == PARAMS.variants_per_class * len(variants.VARIANT_CLASSES)
    means = table.groupby("variant_class")["delta_loglik"].mean()
    assert means["nonsense"] == pytest.approx(-2.0, abs=0.01) and means["missense"] == pytest.approx(-1.0, abs=0.01)
    assert means["synonymous"] == pytest.approx(0.0, abs=1e-6)
    rows = pd.DataFrame(variants.variant_metrics(table, n_boot=50, seed=0))
    headline = rows[(rows["metric"] == "auroc") & (rows["stratum"] == "deleterious_vs_synonymous")]
    assert headline["value"].tolist() == [1.0] and headline["task"].tolist() == ["variant_effect"]
