"""Genome QC: per-record composition (length, GC, N, other IUPAC codes, soft-masked fraction, N runs) and a
per-cultivar summary. Streams the FASTA one record at a time; counts with a byte histogram per record."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from evocane.genome.fasta import read_fasta

IUPAC_AMBIGUOUS = "RYKMSWBDHV"
QC_COLUMNS = [
    "cultivar", "record", "length", "A", "C", "G", "T", "N", *IUPAC_AMBIGUOUS, "gc_fraction", "n_fraction",
    "iupac_other", "softmasked_fraction", "n_runs", "longest_n_run", "kind", "homology_group",
    "homology_group2", "haplotype", "keep", "expected_groups", "max_haplotypes",
]  # fmt: skip


def _n_runs(sequence: np.ndarray) -> tuple[int, int]:
    is_n = (sequence == ord("N")) | (sequence == ord("n"))
    if not is_n.any():
        return 0, 0
    edges = np.diff(np.concatenate(([0], is_n.view(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    return len(starts), int((ends - starts).max())


def record_stats(sequence: bytes) -> dict[str, float | int]:
    array = np.frombuffer(sequence, dtype=np.uint8)
    counts = np.bincount(array, minlength=256)
    upper_counts = counts[ord("A") : ord("Z") + 1] + counts[ord("a") : ord("z") + 1]

    def count(base: str) -> int:
        return int(upper_counts[ord(base) - ord("A")])

    stats: dict[str, float | int] = {"length": len(array)}
    for base in "ACGTN" + IUPAC_AMBIGUOUS:
        stats[base] = count(base)
    acgt = sum(int(stats[b]) for b in "ACGT")
    stats["gc_fraction"] = (int(stats["G"]) + int(stats["C"])) / acgt if acgt else float("nan")
    stats["n_fraction"] = int(stats["N"]) / len(array) if len(array) else float("nan")
    stats["iupac_other"] = sum(int(stats[b]) for b in IUPAC_AMBIGUOUS)
    lowercase = int(counts[ord("a") : ord("z") + 1].sum())
    stats["softmasked_fraction"] = lowercase / len(array) if len(array) else float("nan")
    stats["n_runs"], stats["longest_n_run"] = _n_runs(array)
    return stats


def genome_qc(
    cultivar: str,
    fasta: str | Path,
    records_tsv: str | Path,
    expected_groups: int | None = None,
    max_haplotypes: int | None = None,
) -> pd.DataFrame:
    """Per-record QC table for one prepared genome (genome.fa.gz + records.tsv).

    ``expected_groups`` / ``max_haplotypes`` (from the cultivar's homology config) are carried along so the summary
    can flag a genome whose structure does not match what the config says about it.
    """
    records = pd.read_csv(records_tsv, sep="\t", dtype=str, keep_default_na=False).set_index("record")
    rows = []
    for record in tqdm(read_fasta(fasta, validate=False), desc=f"QC {cultivar}", unit=" records"):
        row: dict[str, object] = {"cultivar": cultivar, "record": record.name}
        row.update(record_stats(record.sequence))
        meta = records.loc[record.name]
        for column in ("kind", "homology_group", "homology_group2", "haplotype", "keep"):
            row[column] = meta[column]
        row["expected_groups"] = expected_groups
        row["max_haplotypes"] = max_haplotypes
        rows.append(row)
    table = pd.DataFrame(rows, columns=QC_COLUMNS)
    table["keep"] = table["keep"].astype(str) == "True"
    return table


def n50(lengths: pd.Series) -> int:
    ordered = np.sort(lengths.to_numpy())[::-1]
    cumulative = np.cumsum(ordered)
    return int(ordered[np.searchsorted(cumulative, cumulative[-1] / 2)])


def summarise(table: pd.DataFrame) -> pd.DataFrame:
    """One row per cultivar: sizes, composition, masking and homology structure."""
    rows = []
    for cultivar, group in table.groupby("cultivar", sort=False):
        bases = int(group["length"].sum())
        acgt = int(group[list("ACGT")].to_numpy().sum())
        placed = group[group["kind"] == "placed"]
        haplotypes = placed.groupby("homology_group")["record"].count()
        rows.append(
            {
                "cultivar": cultivar,
                "records": len(group),
                "bases": bases,
                "n50": n50(group["length"]),
                "largest_record": int(group["length"].max()),
                "gc_fraction": (int(group["G"].sum()) + int(group["C"].sum())) / acgt if acgt else float("nan"),
                "n_fraction": int(group["N"].sum()) / bases,
                "iupac_other": int(group["iupac_other"].sum()),
                "softmasked_fraction": float((group["softmasked_fraction"] * group["length"]).sum() / bases),
                "homology_groups": int(placed["homology_group"].nunique()),
                "recombinant_records": int((placed["homology_group2"].astype(str) != "").sum()),
                "min_haplotypes_per_group": int(haplotypes.min()) if len(haplotypes) else 0,
                "max_haplotypes_per_group": int(haplotypes.max()) if len(haplotypes) else 0,
                "unplaced_records": int((group["kind"] == "unplaced").sum()),
                "unplaced_bases": int(group.loc[group["kind"] == "unplaced", "length"].sum()),
                "organelle_records": int((group["kind"] == "organelle").sum()),
                "dropped_bases": int(group.loc[~group["keep"], "length"].sum()),
                "warnings": "; ".join(_structure_warnings(group, placed, haplotypes)),
            }
        )
    return pd.DataFrame(rows)


def _structure_warnings(group: pd.DataFrame, placed: pd.DataFrame, haplotypes: pd.Series) -> list[str]:
    warnings = []
    expected = group["expected_groups"].dropna()
    if len(expected) and placed["homology_group"].nunique() != int(expected.iloc[0]):
        warnings.append(f"{placed['homology_group'].nunique()} homology groups, config expects {int(expected.iloc[0])}")
    limit = group["max_haplotypes"].dropna()
    if len(limit) and len(haplotypes) and int(haplotypes.max()) > int(limit.iloc[0]):
        crowded = ", ".join(f"HG{g}" for g in haplotypes[haplotypes > int(limit.iloc[0])].index)
        warnings.append(f"more than {int(limit.iloc[0])} haplotypes in {crowded}")
    return warnings
