"""Variant effect by in-silico mutagenesis: single-base substitutions sampled by class in held-out regions, scored
as the change of the window's log-likelihood, Delta = log P(alt window) - log P(ref window).

Classes, by priority when annotations overlap: ``splice_site`` (the two intronic bases at either end of an
intron: the GT and AG of canonical introns), coding (``synonymous`` / ``missense`` / ``nonsense`` / ``stop_lost``:
the most severe consequence over the transcripts whose complete codon contains the base, framed by the CDS phase,
complemented on the minus strand), ``utr`` (exon of a coding transcript outside its CDS: the GFF3s have no UTR
features), ``intron``, ``intergenic`` (no genic feature at all). Each window holds the variant at its centre on the
forward strand; because the models are causal, every position after the variant can change, so Delta sums over
the whole window.

Sampling is uniform within a class over the held-out bases: every candidate gets a random key and the smallest
keys win, per record first (at most a bounded number of coding positions per record are classified) and then
across records.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evocane.config import settings_from
from evocane.evaluate import metrics
from evocane.evaluate.codons import Transcript, codon_change, genic_intervals, load_transcripts, most_severe
from evocane.evaluate.taskdata import Genome, HeldOut, ScoredTask, TaskWindow, acgt_only, item_scores, write_task_dataset

CODING_CLASSES = ("synonymous", "missense", "nonsense")
NONCODING_CLASSES = ("utr", "intron", "intergenic", "splice_site")
VARIANT_CLASSES = CODING_CLASSES + NONCODING_CLASSES
DELETERIOUS = ("nonsense", "missense")
TASK = "variant_effect"

# per-base annotation bits of one record
_CDS, _EXON, _INTRON, _SPLICE, _GENIC = 1, 2, 4, 8, 16


@dataclass(frozen=True)
class VariantParams:
    variants_per_class: int
    window: int
    classes: tuple[str, ...]
    coding_positions_per_record: int  # CDS positions classified per record (x 3 alternative bases)
    seed: int

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> VariantParams:
        return settings_from(cls, values, "evaluation.tasks.variant_effect", tuple_fields=("classes",))


def annotation_bits(length: int, transcripts: list[Transcript], genic: list[tuple[int, int]]) -> np.ndarray:
    """uint8 per base of one record: CDS, exon of a coding transcript, intron, splice-site dinucleotide, genic."""
    bits = np.zeros(length, dtype=np.uint8)
    for start, end in genic:
        bits[max(start, 0) : min(end, length)] |= _GENIC
    for t in transcripts:
        bits[t.start : t.end] |= _GENIC
        for start, end, _ in t.cds:
            bits[start:end] |= _CDS
        if t.coding:
            for start, end in t.exons:
                bits[start:end] |= _EXON
        for start, end in t.introns():
            bits[start:end] |= _INTRON
            bits[start : min(start + 2, end)] |= _SPLICE
            bits[max(end - 2, start) : end] |= _SPLICE
    return bits


def noncoding_class_masks(bits: np.ndarray) -> dict[str, np.ndarray]:
    splice = (bits & _SPLICE) > 0
    cds = ((bits & _CDS) > 0) & ~splice
    utr = ((bits & _EXON) > 0) & ~cds & ~splice
    intron = ((bits & _INTRON) > 0) & ~cds & ~utr & ~splice
    intergenic = (bits & _GENIC) == 0
    return {"splice_site": splice, "utr": utr, "intron": intron, "intergenic": intergenic, "cds": cds}


def _eligible(held_out: HeldOut, cultivar: str, chrom: str, length: int, half: int) -> np.ndarray:
    mask = np.zeros(length, dtype=bool)
    for start, end in held_out.intervals[(cultivar, chrom)]:
        mask[int(start) + half : max(int(end) - half, int(start) + half)] = True
    return mask


@dataclass(frozen=True)
class Variant:
    key: float
    cultivar: str
    chrom: str
    position: int
    ref: str
    alt: str
    variant_class: str
    detail: str  # codon change for coding variants


def sample_variants(held_out: HeldOut, genome_dirs: dict[str, Path], params: VariantParams) -> list[tuple[Variant, bytes, bytes]]:
    """Variants with their reference and alternative windows (forward strand, variant at index window // 2)."""
    rng = np.random.default_rng(params.seed)
    half = params.window // 2
    kept: dict[str, list[tuple[Variant, bytes, bytes]]] = {name: [] for name in params.classes}
    for cultivar in held_out.cultivars():
        genome = Genome(genome_dirs[cultivar])
        chroms = held_out.chroms(cultivar)
        annotated = genome.annotation.exists()
        transcripts = load_transcripts(genome.annotation, chroms) if annotated else []
        genic = genic_intervals(genome.annotation, chroms) if annotated else {}
        if not transcripts:
            continue  # without an annotation no class is known (intergenic would be every base)
        by_chrom: dict[str, list[Transcript]] = {}
        for transcript in transcripts:
            by_chrom.setdefault(transcript.chrom, []).append(transcript)
        for chrom in chroms:
            if chrom not in by_chrom:
                continue
            sequence = genome.record(chrom)
            raw = np.frombuffer(sequence.encode(), dtype=np.uint8)
            upper = raw & 0xDF
            acgt = (upper == 65) | (upper == 67) | (upper == 71) | (upper == 84)
            bits = annotation_bits(len(sequence), by_chrom[chrom], genic.get(chrom, []))
            eligible = _eligible(held_out, cultivar, chrom, len(sequence), half) & acgt
            masks = noncoding_class_masks(bits)
            window_ok = _window_acgt(acgt, half, params.window)
            eligible &= window_ok

            def emit(variant: Variant) -> None:
                start = variant.position - half
                ref_window = sequence[start : start + params.window].encode()
                alt_base = variant.alt.lower() if ref_window[half : half + 1].islower() else variant.alt
                alt_window = ref_window[:half] + alt_base.encode() + ref_window[half + 1 :]
                kept[variant.variant_class].append((variant, ref_window, alt_window))

            for name in (c for c in params.classes if c in NONCODING_CLASSES):
                positions = np.nonzero(eligible & masks[name])[0]
                keys = rng.random(len(positions))
                for i in np.argsort(keys)[: params.variants_per_class]:
                    position = int(positions[i])
                    ref = sequence[position].upper()
                    alt = str(rng.choice([b for b in "ACGT" if b != ref]))
                    emit(Variant(float(keys[i]), cultivar, chrom, position, ref, alt, name, ""))
            coding_wanted = [c for c in params.classes if c in CODING_CLASSES]
            if coding_wanted:
                positions = np.nonzero(eligible & masks["cds"])[0]
                keys = rng.random(len(positions))
                covering = _cds_index(by_chrom[chrom])
                per_class: dict[str, int] = dict.fromkeys(coding_wanted, 0)
                for i in np.argsort(keys)[: params.coding_positions_per_record]:
                    position = int(positions[i])
                    ref = sequence[position].upper()
                    for alt in (b for b in "ACGT" if b != ref):
                        changes = [codon_change(t, sequence, position, alt) for t in covering(position)]
                        consequence = most_severe(changes)
                        if consequence in per_class and per_class[consequence] < params.variants_per_class:
                            change = next(c for c in changes if c is not None and c.consequence == consequence)
                            detail = f"{change.ref_codon}>{change.alt_codon} {change.ref_aa}>{change.alt_aa}"
                            emit(Variant(float(keys[i]), cultivar, chrom, position, ref, alt, consequence, detail))
                            per_class[consequence] += 1
                    if all(count >= params.variants_per_class for count in per_class.values()):
                        break
        genome.close()
    selected: list[tuple[Variant, bytes, bytes]] = []
    for name in params.classes:
        selected += sorted(kept[name], key=lambda item: item[0].key)[: params.variants_per_class]
    return selected


def _window_acgt(acgt: np.ndarray, half: int, window: int) -> np.ndarray:
    """True at positions whose whole window [p - half, p - half + window) is A/C/G/T."""
    bad = np.r_[0, np.cumsum(~acgt)]
    ok = np.zeros(len(acgt), dtype=bool)
    starts = np.arange(len(acgt)) - half
    valid = (starts >= 0) & (starts + window <= len(acgt))
    s = starts[valid]
    ok[valid] = (bad[s + window] - bad[s]) == 0
    return ok


def _cds_index(transcripts: list[Transcript]):  # type: ignore[no-untyped-def]
    """A lookup position -> coding transcripts whose CDS span contains it."""
    coding = [t for t in transcripts if t.coding]
    spans = np.array([(t.cds[0][0], t.cds[-1][1]) for t in coding], dtype=np.int64).reshape(-1, 2)

    def covering(position: int) -> list[Transcript]:
        hits = np.nonzero((spans[:, 0] <= position) & (position < spans[:, 1]))[0]
        return [coding[i] for i in hits]

    return covering


def build_variant_inputs(held_out: HeldOut, genome_dirs: dict[str, Path], params: VariantParams, out_dir: Path) -> Path:
    half = params.window // 2
    windows: list[TaskWindow] = []
    for variant, ref_window, alt_window in sample_variants(held_out, genome_dirs, params):
        pair = f"{variant.cultivar}:{variant.chrom}:{variant.position + 1}:{variant.ref}>{variant.alt}"
        start = variant.position - half
        common = {"task": "variants", "pair_id": pair, "variant_class": variant.variant_class, "position": variant.position,
                  "ref": variant.ref, "alt": variant.alt, "variant_index": half, "detail": variant.detail}  # fmt: skip
        for allele, window in (("ref", ref_window), ("alt", alt_window)):
            assert acgt_only(window)
            windows.append(TaskWindow(f"{pair}|{allele}", variant.cultivar, variant.chrom, start, start + params.window, "+", window,
                                      {**common, "allele": allele}))  # fmt: skip
    return write_task_dataset(out_dir, windows, held_out, "variants", {"params": params.__dict__})


# --- evaluation --------------------------------------------------------------------------------------------------------
def variant_scores(scored: ScoredTask) -> pd.DataFrame:
    """One row per variant: class, Delta log-likelihood (natural log, whole window)."""
    windows = scored.windows
    info = windows[windows["allele"] == "ref"].set_index("pair_id")[["cultivar", "chrom", "position", "ref", "alt", "variant_class", "detail"]]
    if scored.item_scores is None:
        wide = windows.pivot_table(index="pair_id", columns="allele", values="sum_logprob", aggfunc="first")
        table = info.join(wide.rename(columns={"ref": "ref_loglik", "alt": "alt_loglik"}), how="inner").reset_index()
    else:  # a model that scores each variant, not its two windows
        table = info.assign(ref_loglik=np.nan, alt_loglik=np.nan).reset_index()
    table["delta_loglik"] = item_scores(scored, TASK).reindex(table["pair_id"].astype(str)).to_numpy()
    for key, value in scored.identity.items():
        table[key] = value
    return table


def variant_metrics(table: pd.DataFrame, n_boot: int, seed: int) -> list[dict[str, object]]:
    """Mean Delta per class with CIs; AUROC of nonsense+missense against synonymous (score = -Delta: a larger drop
    in likelihood means more deleterious), and of splice sites against intron bases."""
    if table.empty:
        return []
    identity = {key: str(table[key].iloc[0]) for key in ("model", "engine", "variant", "split")}
    rows: list[dict[str, object]] = []
    for name, subset in table.groupby("variant_class", sort=True):
        found = {"mean_delta_loglik": metrics.mean_ci(subset["delta_loglik"].to_numpy(), n_boot, seed)}
        rows += metrics.long_rows(identity, TASK, found, len(subset), str(name))
    contrasts = {"deleterious_vs_synonymous": (DELETERIOUS, ("synonymous",)), "splice_vs_intron": (("splice_site",), ("intron",))}
    for name, (positive, negative) in contrasts.items():
        subset = table[table["variant_class"].isin(positive + negative)]
        labels = subset["variant_class"].isin(positive).to_numpy()
        if labels.all() or not labels.any():
            continue
        scores = -subset["delta_loglik"].to_numpy(dtype=np.float64)
        found = metrics.ranking_metrics(scores, labels, n_boot, seed)
        rows += metrics.long_rows(identity, TASK, found, len(subset), name)
    return rows
