"""Experimental data: a user table of sequences or genomic regions with a measurement (expression, promoter
strength, accessibility ...), scored by every model and compared with the measurement.

Table format (tab-separated; comma-separated when the file name ends in .csv; '#' lines are comments), one row
per element, documented in config/README.md:

    id           required, unique
    measurement  required, a number
    sequence     the element's bases (IUPAC letters), or instead a region:
    cultivar     which prepared genome the region is on (may be left out when the config has one cultivar)
    chrom        record name as in results/genomes/{cultivar}/records.tsv
    start, end   1-based, inclusive (as samtools regions and GFF3)
    strand       + (default) or -: a - region is reverse-complemented
    group        optional label, colours the scatter plot

Every row gives either ``sequence`` or ``chrom``/``start``/``end``, never both. Model score = mean log-likelihood
per base (so elements of different lengths compare), and its ratio to the Markov baseline.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from evocane.errors import EvocaneError
from evocane.evaluate import metrics
from evocane.evaluate.taskdata import Genome, HeldOut, ScoredTask, TaskWindow, item_scores, oriented, write_task_dataset
from evocane.numerics import correlations

TASK = "experiments"
REQUIRED_COLUMNS = ("id", "measurement")
REGION_COLUMNS = ("chrom", "start", "end")
OPTIONAL_COLUMNS = ("sequence", "cultivar", "strand", "group")
ALLOWED_COLUMNS = REQUIRED_COLUMNS + REGION_COLUMNS + OPTIONAL_COLUMNS
IUPAC = set("ACGTNRYKMSWBDHVacgtnrykmswbdhv")


@dataclass(frozen=True)
class Element:
    id: str
    measurement: float
    line: int
    sequence: str | None = None
    cultivar: str | None = None
    chrom: str | None = None
    start: int | None = None  # 1-based inclusive
    end: int | None = None
    strand: str = "+"
    group: str = ""


def read_experiment_table(path: str | Path, max_length: int = 100_000) -> list[Element]:
    """Parse and validate the table; one EvocaneError naming the file, line and column for the first problem."""
    path = Path(path)
    if not path.exists():
        raise EvocaneError(f"{path}: experimental-data table not found")
    delimiter = "," if path.suffix.lower() == ".csv" else "\t"
    with open(path, newline="") as handle:
        lines = [(number, line) for number, line in enumerate(handle, start=1) if line.strip() and not line.startswith("#")]
    if not lines:
        raise EvocaneError(f"{path}: empty table (expected a header line with {', '.join(REQUIRED_COLUMNS)} ...)")
    header_line, header = lines[0][0], next(csv.reader([lines[0][1]], delimiter=delimiter))
    header = [column.strip() for column in header]
    unknown = [column for column in header if column not in ALLOWED_COLUMNS]
    if unknown:
        raise EvocaneError(f"{path}: line {header_line}: unknown column '{unknown[0]}' (allowed: {', '.join(ALLOWED_COLUMNS)})")
    if len(set(header)) != len(header):
        raise EvocaneError(f"{path}: line {header_line}: a column appears twice")
    for column in REQUIRED_COLUMNS:
        if column not in header:
            raise EvocaneError(f"{path}: line {header_line}: missing required column '{column}'")
    has_region = [c in header for c in REGION_COLUMNS]
    if any(has_region) and not all(has_region):
        missing = [c for c, present in zip(REGION_COLUMNS, has_region) if not present]
        raise EvocaneError(f"{path}: line {header_line}: region columns need chrom, start and end (missing {', '.join(missing)})")
    if "sequence" not in header and not all(has_region):
        raise EvocaneError(f"{path}: line {header_line}: give a 'sequence' column or 'chrom', 'start', 'end' columns")
    elements: list[Element] = []
    seen: dict[str, int] = {}
    for number, line in lines[1:]:
        values = next(csv.reader([line.rstrip("\r\n")], delimiter=delimiter))
        if len(values) != len(header):
            raise EvocaneError(f"{path}: line {number}: {len(values)} fields, the header has {len(header)}")
        row = {column: value.strip() for column, value in zip(header, values)}
        elements.append(_element(path, number, row, seen, max_length))
    if not elements:
        raise EvocaneError(f"{path}: the table has a header but no rows")
    return elements


def _element(path: Path, number: int, row: dict[str, str], seen: dict[str, int], max_length: int) -> Element:
    where = f"{path}: line {number}"
    identifier = row["id"]
    if not identifier:
        raise EvocaneError(f"{where}: empty 'id'")
    if identifier in seen:
        raise EvocaneError(f"{where}: duplicate id '{identifier}' (first on line {seen[identifier]})")
    seen[identifier] = number
    try:
        measurement = float(row["measurement"])
    except ValueError:
        raise EvocaneError(f"{where}: 'measurement' is not a number: '{row['measurement']}'") from None
    if not np.isfinite(measurement):
        raise EvocaneError(f"{where}: 'measurement' must be finite, got '{row['measurement']}'")
    sequence = row.get("sequence", "")
    region = [row.get(c, "") for c in REGION_COLUMNS]
    if sequence and any(region):
        raise EvocaneError(f"{where}: give either 'sequence' or a region (chrom/start/end), not both")
    strand = row.get("strand", "") or "+"
    if strand not in ("+", "-"):
        raise EvocaneError(f"{where}: 'strand' must be + or -, got '{strand}'")
    group = row.get("group", "")
    if sequence:
        bad = sorted(set(sequence) - IUPAC)
        if bad:
            raise EvocaneError(f"{where}: 'sequence' has a character that is not an IUPAC nucleotide: '{bad[0]}'")
        if len(sequence) > max_length:
            raise EvocaneError(f"{where}: sequence of {len(sequence)} bases is longer than the maximum {max_length}")
        return Element(identifier, measurement, number, sequence=sequence, strand=strand, group=group)
    if not all(region):
        raise EvocaneError(f"{where}: neither 'sequence' nor a complete region (chrom, start, end)")
    try:
        start, end = int(region[1]), int(region[2])
    except ValueError:
        raise EvocaneError(f"{where}: 'start' and 'end' must be integers, got '{region[1]}', '{region[2]}'") from None
    if start < 1 or end < start:
        raise EvocaneError(f"{where}: region {region[0]}:{start}-{end} must have 1 <= start <= end (1-based, inclusive)")
    if end - start + 1 > max_length:
        raise EvocaneError(f"{where}: region of {end - start + 1} bases is longer than the maximum {max_length}")
    return Element(identifier, measurement, number, cultivar=row.get("cultivar") or None, chrom=region[0], start=start,
                   end=end, strand=strand, group=group)  # fmt: skip


def build_experiment_inputs(
    table_path: str | Path, held_out: HeldOut, genome_dirs: dict[str, Path], out_dir: Path, held_out_only: bool, max_length: int
) -> Path:
    """Task dataset of the table's elements. Region rows are read from the prepared genome; with ``held_out_only``
    a region outside the variant's test split is dropped (and counted in the manifest), since scoring training
    sequence would flatter the models. Sequence rows cannot be checked and are kept as given."""
    elements = read_experiment_table(table_path, max_length)
    cultivars = sorted(genome_dirs)
    windows: list[TaskWindow] = []
    dropped: list[str] = []
    genomes: dict[str, Genome] = {}
    for element in elements:
        where = f"{table_path}: line {element.line}"
        columns = {"task": "experiments", "element_id": element.id, "measurement": element.measurement,
                   "group": element.group, "source": "sequence" if element.sequence else "region"}  # fmt: skip
        if element.sequence is not None:
            cultivar = element.cultivar or (held_out.cultivars() or cultivars)[0]
            sequence = oriented(element.sequence.encode(), element.strand)
            windows.append(TaskWindow(element.id, cultivar, "", 0, len(sequence), element.strand, sequence, {**columns, "held_out": False}))
            continue
        cultivar = element.cultivar
        if cultivar is None:
            if len(cultivars) != 1:
                raise EvocaneError(f"{where}: 'cultivar' is needed for a region when the config has several ({', '.join(cultivars)})")
            cultivar = cultivars[0]
        if cultivar not in genome_dirs:
            raise EvocaneError(f"{where}: unknown cultivar '{cultivar}' (have: {', '.join(cultivars)})")
        genome = genomes.setdefault(cultivar, Genome(genome_dirs[cultivar]))
        assert element.chrom is not None and element.start is not None and element.end is not None
        try:
            length = genome.length(element.chrom)
        except KeyError:
            raise EvocaneError(f"{where}: cultivar '{cultivar}' has no record '{element.chrom}'") from None
        if element.end > length:
            raise EvocaneError(f"{where}: region {element.chrom}:{element.start}-{element.end} ends beyond the record ({length} bases)")
        start, end = element.start - 1, element.end
        inside = held_out.contains(cultivar, element.chrom, start, end)
        if held_out_only and not inside:
            dropped.append(element.id)
            continue
        sequence = oriented(genome.record(element.chrom)[start:end].encode(), element.strand)
        windows.append(TaskWindow(element.id, cultivar, element.chrom, start, end, element.strand, sequence, {**columns, "held_out": inside}))
    for genome in genomes.values():
        genome.close()
    if not windows:
        raise EvocaneError(f"{table_path}: no element left to score ({len(dropped)} regions lie outside the test split of '{held_out.variant}')")
    return write_task_dataset(out_dir, windows, held_out, "experiments", {"table": str(table_path), "dropped_outside_test": dropped})


# --- evaluation --------------------------------------------------------------------------------------------------------
def experiment_scores(scored: ScoredTask, background: pd.Series | None) -> pd.DataFrame:
    table = scored.windows[["window_id", "element_id", "measurement", "group", "source", "held_out", "length"]].copy()
    table["loglik"] = item_scores(scored, TASK).reindex(table["window_id"].astype(str)).to_numpy()
    if background is not None:
        table["llr"] = table["loglik"].to_numpy() - background.reindex(table["window_id"]).to_numpy()
    table["rank_measurement"] = table["measurement"].rank(ascending=False, method="min").astype(int)
    table["rank_loglik"] = table["loglik"].rank(ascending=False, method="min").astype(int)
    for key, value in scored.identity.items():
        table[key] = value
    return table.sort_values("rank_loglik").reset_index(drop=True)


def experiment_metrics(table: pd.DataFrame, n_boot: int, seed: int) -> list[dict[str, object]]:
    """Pearson and Spearman of each score against the measurement, with bootstrap CIs over elements."""
    if table.empty:
        return []
    identity = {key: str(table[key].iloc[0]) for key in ("model", "engine", "variant", "split")}
    found: dict[str, tuple[float, float, float]] = {}
    for score in ("loglik", "llr"):
        if score not in table or not table[score].notna().any():
            continue
        x = table[score].to_numpy(dtype=np.float64)
        y = table["measurement"].to_numpy(dtype=np.float64)
        for name in ("pearson", "spearman"):
            found[f"{name}_{score}"] = metrics.bootstrap_ci(lambda a, b, n=name: correlations(a, b)[n][0], (x, y), n_boot, seed=seed)
            found[f"{name}_{score}_pvalue"] = (correlations(x, y)[name][1], float("nan"), float("nan"))
    return metrics.long_rows(identity, TASK, found, len(table))
