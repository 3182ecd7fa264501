"""Transcript models from a GFF3 (gffutils) and the coding consequence of a single-base substitution.

Coordinates are 0-based half-open on the forward strand of the record, as in the dataset contract. A transcript's
CDS is read in transcript orientation (5' -> 3': ascending on '+', descending on '-'); the GFF3 ``phase`` of its
first CDS segment (in that orientation) is the number of bases before the first complete codon, so a transcript
whose annotation starts mid-codon (phase 1 or 2) is framed correctly. On the minus strand the reference and
alternative bases are complemented before the codon is translated.

Known GFF3 quirks handled here: no UTR features (UTRs are exon minus CDS, derived by the callers); exons listed
twice in AARE701a (once under the mRNA, once under the gene with gbkey=exon) - only exons whose parent is the
transcript are read; NCBI CDS lines sharing one ID (gffutils' create_unique keeps them all).
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evocane.errors import EvocaneError

STOP = "*"
_BASES = "TCAG"
_AMINO_ACIDS = "FFLLSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG"
GENETIC_CODE = {
    a + b + c: _AMINO_ACIDS[16 * i + 4 * j + k]
    for i, a in enumerate(_BASES)
    for j, b in enumerate(_BASES)
    for k, c in enumerate(_BASES)
}  # the standard code (NCBI table 1), which nuclear plant genes use
_COMPLEMENT = str.maketrans("ACGTacgtNnRYKMSWBDHVrykmswbdhv", "TGCAtgcaNnYRMKSWVHDByrmkswvhdb")

TRANSCRIPT_TYPES = ("mRNA", "transcript")
# Feature types whose span is genic (so never intergenic); anything ending in RNA counts too.
GENIC_TYPES = {"gene", "pseudogene", "ncRNA_gene", "transposable_element_gene", "mRNA", "transcript",
               "primary_transcript", "exon", "CDS", "pseudogenic_transcript"}  # fmt: skip

CODING_CLASSES = ("synonymous", "missense", "nonsense", "stop_lost")


def reverse_complement(sequence: str) -> str:
    return sequence.translate(_COMPLEMENT)[::-1]


def translate_codon(codon: str) -> str | None:
    """Amino acid (one letter, '*' for stop) of an A/C/G/T codon in either case; None for anything else."""
    return GENETIC_CODE.get(codon.upper())


@dataclass(frozen=True)
class Transcript:
    id: str
    gene: str
    chrom: str
    strand: str  # "+" or "-"
    start: int  # transcript span, 0-based half-open
    end: int
    exons: tuple[tuple[int, int], ...]  # sorted by start
    cds: tuple[tuple[int, int, int], ...]  # (start, end, phase), sorted by start

    @property
    def coding(self) -> bool:
        return bool(self.cds)

    def first_cds_phase(self) -> int:
        """Phase of the 5'-most CDS segment in transcript orientation."""
        segment = self.cds[0] if self.strand == "+" else self.cds[-1]
        return segment[2]

    def cds_positions(self) -> np.ndarray:
        """Genomic positions of the CDS bases in transcript order (5' -> 3')."""
        if not self.cds:
            return np.empty(0, dtype=np.int64)
        positions = np.concatenate([np.arange(start, end, dtype=np.int64) for start, end, _ in self.cds])
        return positions if self.strand == "+" else positions[::-1]

    def introns(self) -> list[tuple[int, int]]:
        """Gaps between consecutive exons (genomic order)."""
        return [(left_end, right_start) for (_, left_end), (right_start, _) in zip(self.exons, self.exons[1:]) if right_start > left_end]

    def tss(self) -> int:
        """Genomic position of the first transcribed base."""
        return self.start if self.strand == "+" else self.end - 1


def _open_text(path: Path) -> Iterable[str]:
    with open(path, "rb") as probe:
        gzipped = probe.read(2) == b"\x1f\x8b"
    handle = gzip.open(path, "rt") if gzipped else open(path)
    with handle:
        yield from handle


def load_transcripts(gff3: str | Path, chroms: Iterable[str] | None = None) -> list[Transcript]:
    """Every mRNA/transcript of the GFF3 (restricted to ``chroms`` if given) with its own exons and CDS segments.

    The GFF3 lines of other records are dropped before gffutils builds its in-memory database, so the cost
    follows the held-out records, not the whole annotation.
    """
    import gffutils

    gff3 = Path(gff3)
    if not gff3.exists():
        raise EvocaneError(f"{gff3}: annotation not found")
    wanted = set(chroms) if chroms is not None else None
    lines = [
        line
        for line in _open_text(gff3)
        if line.strip() and not line.startswith("#") and (wanted is None or line.split("\t", 1)[0] in wanted)
    ]
    if not lines:
        return []
    try:
        db = gffutils.create_db(
            "".join(lines), ":memory:", from_string=True, merge_strategy="create_unique",
            disable_infer_genes=True, disable_infer_transcripts=True, keep_order=False,
        )  # fmt: skip
    except Exception as error:  # gffutils raises plain ValueError/IndexError on malformed lines
        raise EvocaneError(f"{gff3}: cannot parse the GFF3 ({error})") from None
    transcripts = []
    for featuretype in TRANSCRIPT_TYPES:
        for feature in db.features_of_type(featuretype, order_by=("seqid", "start")):
            if feature.strand not in ("+", "-"):
                continue
            exons = sorted((child.start - 1, child.end) for child in db.children(feature, featuretype="exon", level=1))
            cds = sorted(
                (child.start - 1, child.end, int(child.frame) if child.frame not in (".", "") else 0)
                for child in db.children(feature, featuretype="CDS", level=1)
            )
            if not exons and cds:
                exons = [(start, end) for start, end, _ in cds]
            if not exons:
                continue
            parents = feature.attributes.get("Parent", [""])
            transcripts.append(
                Transcript(feature.id, parents[0], feature.seqid, feature.strand, feature.start - 1, feature.end,
                           tuple(exons), tuple(cds))
            )  # fmt: skip
    return transcripts


def genic_intervals(gff3: str | Path, chroms: Iterable[str] | None = None) -> dict[str, list[tuple[int, int]]]:
    """Per record, the spans of every genic feature (GENIC_TYPES and any type ending in 'RNA'), unmerged."""
    wanted = set(chroms) if chroms is not None else None
    out: dict[str, list[tuple[int, int]]] = {}
    for line in _open_text(Path(gff3)):
        if line.startswith("#") or not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 9 or (wanted is not None and fields[0] not in wanted):
            continue
        if fields[2] in GENIC_TYPES or fields[2].endswith("RNA"):
            out.setdefault(fields[0], []).append((int(fields[3]) - 1, int(fields[4])))
    return out


@dataclass(frozen=True)
class CodonChange:
    transcript: str
    codon_index: int  # 0-based codon number from the first complete codon
    codon_position: int  # 0, 1, 2 within the codon
    ref_codon: str  # in transcript orientation
    alt_codon: str
    ref_aa: str
    alt_aa: str
    consequence: str  # one of CODING_CLASSES


def codon_change(transcript: Transcript, chrom_sequence: str, position: int, alt: str) -> CodonChange | None:
    """The codon effect of substituting the forward-strand base at genomic ``position`` by ``alt`` (forward
    strand), or None when the position is not in a complete A/C/G/T codon of this transcript's CDS."""
    positions = transcript.cds_positions()
    hits = np.nonzero(positions == position)[0]
    if len(hits) == 0:
        return None
    cds_index = int(hits[0])
    phase = transcript.first_cds_phase()
    if cds_index < phase:
        return None
    codon_position = (cds_index - phase) % 3
    codon_start = cds_index - codon_position
    if codon_start + 3 > len(positions):
        return None
    genomic = positions[codon_start : codon_start + 3]
    ref_codon = "".join(chrom_sequence[p] for p in genomic).upper()
    alt_base = alt.upper()
    if transcript.strand == "-":
        ref_codon = ref_codon.translate(_COMPLEMENT)  # positions are already in transcript order
        alt_base = alt_base.translate(_COMPLEMENT)
    alt_codon = ref_codon[:codon_position] + alt_base + ref_codon[codon_position + 1 :]
    ref_aa, alt_aa = translate_codon(ref_codon), translate_codon(alt_codon)
    if ref_aa is None or alt_aa is None:
        return None
    if ref_aa == alt_aa:
        consequence = "synonymous"
    elif alt_aa == STOP:
        consequence = "nonsense"
    elif ref_aa == STOP:
        consequence = "stop_lost"
    else:
        consequence = "missense"
    return CodonChange(transcript.id, (codon_start - phase) // 3, codon_position, ref_codon, alt_codon, ref_aa, alt_aa, consequence)


SEVERITY = {"nonsense": 3, "stop_lost": 2, "missense": 1, "synonymous": 0}


def most_severe(changes: Iterable[CodonChange | None]) -> str | None:
    """The most severe consequence over the transcripts covering a position (nonsense > stop_lost > missense >
    synonymous)."""
    found = [change.consequence for change in changes if change is not None]
    return max(found, key=SEVERITY.__getitem__) if found else None
