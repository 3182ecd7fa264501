"""Zero-shot regulatory element identification: annotated sites against matched negatives, scored by likelihood.

Site kinds (from the transcripts of the GFF3, read on the transcript's strand so the site is always at the same
window index and the causal model reads 5' -> 3'):

- ``tss``: the first transcribed base; the window is the promoter (``promoter_upstream`` bases) plus
  ``promoter_downstream`` transcribed bases;
- ``tis``: the A of the ATG that starts a complete CDS (first CDS phase 0 and an ATG there);
- ``donor``: the first intron base (the G of GT); ``acceptor``: the first base of the next exon (after AG);
  these three get ``site_flank`` bases on either side.

Negatives per site: a dinucleotide-shuffled copy of its window (:func:`evocane.evaluate.shuffle.dinucleotide_shuffle`,
same composition to the dinucleotide, so likelihood differences are grammar, not composition) and a GC-matched
window of held-out genome without a site of that kind nearby, on a random strand. Scores: mean log-likelihood per
base, and the log-likelihood ratio against the Markov baseline (mean log P(model) - mean log P(background)).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evocane.config import settings_from
from evocane.evaluate import metrics
from evocane.evaluate.codons import Transcript, load_transcripts
from evocane.evaluate.shuffle import dinucleotide_shuffle, gc_fraction, match_gc
from evocane.evaluate.taskdata import (
    Genome,
    HeldOut,
    ScoredTask,
    TaskWindow,
    acgt_only,
    item_scores,
    oriented,
    oriented_span,
    write_task_dataset,
)
from evocane.numerics import LN2, entropy_bits

SITE_KINDS = ("tss", "tis", "donor", "acceptor")
ROLES = ("site", "shuffled", "background")
NEGATIVES = ("shuffled", "background")


@dataclass(frozen=True)
class RegulatoryParams:
    sites_per_kind: int
    promoter_upstream: int
    promoter_downstream: int
    site_flank: int
    gc_tolerance: float
    background_exclusion: int  # background windows keep this far from any site of the kind
    kinds: tuple[str, ...]
    seed: int

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> RegulatoryParams:
        return settings_from(cls, values, "evaluation.tasks.regulatory", tuple_fields=("kinds",))

    def flanks(self, kind: str) -> tuple[int, int]:
        """(upstream, downstream) bases of the window around a site of ``kind``; the site is at index upstream."""
        if kind == "tss":
            return self.promoter_upstream, self.promoter_downstream
        return self.site_flank, self.site_flank


@dataclass(frozen=True)
class Site:
    kind: str
    chrom: str
    strand: str
    position: int  # genomic 0-based coordinate of the base at the site (index `upstream` of the oriented window)
    transcript: str


def transcript_sites(transcript: Transcript, chrom_sequence: str | None = None) -> list[Site]:
    """TSS, TIS, donor and acceptor sites of one transcript. The TIS needs ``chrom_sequence`` to check the ATG."""
    t = transcript
    sites = [Site("tss", t.chrom, t.strand, t.tss(), t.id)]
    if t.cds and t.first_cds_phase() == 0:
        start = t.cds[0][0] if t.strand == "+" else t.cds[-1][1] - 1
        codon = None
        if chrom_sequence is not None:
            if t.strand == "+":
                codon = chrom_sequence[start : start + 3].upper()
            else:
                codon = oriented(chrom_sequence[start - 2 : start + 1].encode(), "-").decode().upper()
        if codon is None or codon == "ATG":
            sites.append(Site("tis", t.chrom, t.strand, start, t.id))
    for left_end, right_start in t.introns():
        if t.strand == "+":
            sites.append(Site("donor", t.chrom, t.strand, left_end, t.id))
            sites.append(Site("acceptor", t.chrom, t.strand, right_start, t.id))
        else:  # transcript orientation runs right to left: the intron starts at its right end
            sites.append(Site("donor", t.chrom, t.strand, right_start - 1, t.id))
            sites.append(Site("acceptor", t.chrom, t.strand, left_end - 1, t.id))
    return sites


def _unique_sites(sites: list[Site]) -> list[Site]:
    seen: dict[tuple[str, str, str, int], Site] = {}
    for site in sites:
        seen.setdefault((site.kind, site.chrom, site.strand, site.position), site)
    return list(seen.values())


def build_regulatory_windows(held_out: HeldOut, genome_dirs: dict[str, Path], params: RegulatoryParams) -> list[TaskWindow]:
    """Positive, shuffled and GC-matched background windows for every site kind, from held-out regions only."""
    rng = np.random.default_rng(params.seed)
    windows: list[TaskWindow] = []
    for cultivar in held_out.cultivars():
        genome = Genome(genome_dirs[cultivar])
        chroms = held_out.chroms(cultivar)
        transcripts = load_transcripts(genome.annotation, chroms) if genome.annotation.exists() else []
        by_chrom: dict[str, list[Transcript]] = {}
        for transcript in transcripts:
            by_chrom.setdefault(transcript.chrom, []).append(transcript)
        candidates: dict[str, list[tuple[Site, bytes]]] = {kind: [] for kind in params.kinds}
        all_positions: dict[tuple[str, str], list[int]] = {}
        for chrom in chroms:
            if chrom not in by_chrom:
                continue
            sequence = genome.record(chrom)
            sites = _unique_sites([s for t in by_chrom[chrom] for s in transcript_sites(t, sequence)])
            for site in sites:
                all_positions.setdefault((site.kind, chrom), []).append(site.position)
                if site.kind not in candidates:
                    continue
                upstream, downstream = params.flanks(site.kind)
                start, end = oriented_span(site.position, site.strand, upstream, downstream)
                if start < 0 or end > len(sequence) or not held_out.contains(cultivar, chrom, start, end):
                    continue
                window = oriented(sequence[start:end].encode(), site.strand)
                if acgt_only(window):
                    candidates[site.kind].append((site, window))
        for kind in params.kinds:
            pool = candidates[kind]
            if not pool:
                continue
            chosen = sorted(rng.choice(len(pool), size=min(params.sites_per_kind, len(pool)), replace=False))
            upstream, downstream = params.flanks(kind)
            positives = [pool[i] for i in chosen]
            backgrounds = _background_windows(
                held_out, genome, cultivar, kind, all_positions, upstream + downstream, [gc_fraction(w) for _, w in positives], params, rng
            )
            for number, (site, window) in enumerate(positives):
                pair = f"{cultivar}:{kind}:{number}"
                start, end = oriented_span(site.position, site.strand, upstream, downstream)
                common = {"task": "regulatory", "site_kind": kind, "pair_id": pair, "site_index": upstream,
                          "transcript": site.transcript, "site_position": site.position}  # fmt: skip
                windows.append(TaskWindow(f"{pair}|site", cultivar, site.chrom, start, end, site.strand, window,
                                          {**common, "role": "site", "gc": gc_fraction(window)}))  # fmt: skip
                shuffled = dinucleotide_shuffle(window, rng)
                windows.append(TaskWindow(f"{pair}|shuffled", cultivar, site.chrom, start, end, site.strand, shuffled,
                                          {**common, "role": "shuffled", "gc": gc_fraction(shuffled)}))  # fmt: skip
                if number < len(backgrounds) and backgrounds[number] is not None:
                    chrom, b_start, b_strand, b_window = backgrounds[number]
                    windows.append(TaskWindow(f"{pair}|background", cultivar, chrom, b_start, b_start + len(b_window), b_strand, b_window,
                                              {**common, "role": "background", "gc": gc_fraction(b_window),
                                               "transcript": "", "site_position": -1}))  # fmt: skip
        genome.close()
    return windows


def _background_windows(
    held_out: HeldOut, genome: Genome, cultivar: str, kind: str, site_positions: dict[tuple[str, str], list[int]],
    length: int, target_gc: list[float], params: RegulatoryParams, rng: np.random.Generator,
) -> list[tuple[str, int, str, bytes] | None]:  # fmt: skip
    """GC-matched held-out windows with no site of ``kind`` within ``background_exclusion`` bases."""
    spans = [(chrom, int(s), int(e)) for chrom in held_out.chroms(cultivar) for s, e in held_out.intervals[(cultivar, chrom)] if e - s >= length]
    if not spans:
        return []
    sizes = np.array([e - s - length + 1 for _, s, e in spans], dtype=np.float64)
    n_candidates = max(20 * len(target_gc), 200)
    picks = rng.choice(len(spans), size=n_candidates, p=sizes / sizes.sum())
    candidates: list[tuple[str, int, str, bytes]] = []
    for span_index in sorted(picks.tolist()):
        chrom, span_start, span_end = spans[span_index]
        start = int(rng.integers(span_start, span_end - length + 1))
        nearby = np.asarray(site_positions.get((kind, chrom), []), dtype=np.int64)
        if len(nearby) and np.any((nearby >= start - params.background_exclusion) & (nearby < start + length + params.background_exclusion)):
            continue
        sequence = genome.record(chrom)[start : start + length].encode()
        if not acgt_only(sequence):
            continue
        strand = "+" if rng.random() < 0.5 else "-"
        candidates.append((chrom, start, strand, oriented(sequence, strand)))
    if not candidates:
        return []
    chosen = match_gc(np.array(target_gc), np.array([gc_fraction(c[3]) for c in candidates]), params.gc_tolerance, rng)
    return [candidates[i] if i >= 0 else None for i in chosen]


def build_regulatory_inputs(held_out: HeldOut, genome_dirs: dict[str, Path], params: RegulatoryParams, out_dir: Path) -> Path:
    windows = build_regulatory_windows(held_out, genome_dirs, params)
    return write_task_dataset(out_dir, windows, held_out, "regulatory", {"params": params.__dict__})


# --- evaluation --------------------------------------------------------------------------------------------------------
def regulatory_scores(scored: ScoredTask, background: pd.Series | None) -> pd.DataFrame:
    """One row per task window: kind, role, pair, mean log-likelihood and (with a background) LLR."""
    table = scored.windows[["window_id", "cultivar", "site_kind", "role", "pair_id", "gc"]].copy()
    table["loglik"] = item_scores(scored, "regulatory").reindex(table["window_id"].astype(str)).to_numpy()
    if background is not None:
        table["llr"] = table["loglik"].to_numpy() - background.reindex(table["window_id"]).to_numpy()
    for key, value in scored.identity.items():
        table[key] = value
    return table


def regulatory_metrics(table: pd.DataFrame, n_boot: int, seed: int) -> list[dict[str, object]]:
    """AUROC/AUPRC of sites against each negative kind, for each score, with bootstrap CIs; plus the paired
    fraction of sites scoring above their own shuffled copy (DART-Eval's paired test). Long rows."""
    rows: list[dict[str, object]] = []
    identity = {key: str(table[key].iloc[0]) for key in ("model", "engine", "variant", "split")} if len(table) else {}
    score_columns = [c for c in ("loglik", "llr") if c in table and table[c].notna().any()]
    for kind, subset in table.groupby("site_kind", sort=True):
        for negative in NEGATIVES:
            pair = subset[subset["role"].isin(["site", negative])]
            if (pair["role"] == negative).sum() == 0:
                continue
            labels = (pair["role"] == "site").to_numpy()
            for score in score_columns:
                values = pair[score].to_numpy(dtype=np.float64)
                keep = np.isfinite(values)
                found = metrics.ranking_metrics(values[keep], labels[keep], n_boot, seed)
                rows += metrics.long_rows(identity, "regulatory", {f"{m}_{score}": v for m, v in found.items()}, int(keep.sum()), f"{kind}_vs_{negative}")
        wide = subset.pivot_table(index="pair_id", columns="role", values=score_columns[0] if score_columns else "loglik")
        if {"site", "shuffled"} <= set(wide.columns):
            difference = (wide["site"] - wide["shuffled"]).dropna().to_numpy()
            wins = metrics.bootstrap_ci(lambda d: float(np.mean(d > 0)), (difference,), n_boot, seed=seed)
            rows += metrics.long_rows(identity, "regulatory", {"fraction_site_above_shuffled": wins}, len(difference), f"{kind}_vs_shuffled")
    return rows


def metaplot_profiles(scored: ScoredTask) -> pd.DataFrame:
    """Position-wise mean log-probability and entropy (where distributions were kept) of site windows and their
    shuffled copies, positions relative to the site (0 = site base). Long table: kind, role, position, measure,
    mean, sem, n."""
    windows = scored.windows[scored.windows["role"].isin(["site", "shuffled"])]
    if not scored.logprob:  # a model that gave item scores only has no per-position values
        windows = windows.iloc[:0]
    records = []
    for (kind, role), subset in windows.groupby(["site_kind", "role"], sort=True):
        site_index = int(subset["site_index"].iloc[0])
        measures: dict[str, list[np.ndarray]] = {"logprob": [], "entropy": []}
        for window_id in subset["window_id"]:
            measures["logprob"].append(scored.logprob[window_id])
            if window_id in scored.distributions:
                measures["entropy"].append(entropy_bits(scored.distributions[window_id]))
        for measure, rows in measures.items():
            if not rows:
                continue
            matrix = np.vstack(rows).astype(np.float64)
            if measure == "logprob":
                matrix = matrix / LN2  # bits, like the entropy
            counts = np.isfinite(matrix).sum(axis=0)
            finite = np.where(np.isfinite(matrix), matrix, 0.0)
            mean = np.where(counts > 0, finite.sum(axis=0) / np.maximum(counts, 1), np.nan)
            spread = np.sqrt(np.where(np.isfinite(matrix), (matrix - mean) ** 2, 0.0).sum(axis=0) / np.maximum(counts - 1, 1))
            sem = np.where(counts > 1, spread / np.sqrt(np.maximum(counts, 1)), np.nan)
            positions = np.arange(matrix.shape[1]) - site_index
            records.append(pd.DataFrame({"site_kind": kind, "role": role, "position": positions, "measure": measure,
                                         "mean": mean, "sem": sem, "n": counts}))  # fmt: skip
    columns = ["site_kind", "role", "position", "measure", "mean", "sem", "n"]
    profile = pd.concat(records, ignore_index=True) if records else pd.DataFrame(columns=columns)
    for key, value in scored.identity.items():
        profile[key] = value
    return profile


def distribution_window_ids(task_dataset_windows: pd.DataFrame) -> list[str]:
    """Windows whose full distributions the engines should keep: every site window and its shuffled copy."""
    return task_dataset_windows.loc[task_dataset_windows["role"].isin(["site", "shuffled"]), "window_id"].astype(str).tolist()

