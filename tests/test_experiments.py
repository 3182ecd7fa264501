"""Experimental-data task: the table parser's errors, region extraction (1-based, minus strand, test split only)
and correlations against an independent computation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pysam
import pytest
from scipy import stats

from evocane.dataset.arrays import DatasetReader
from evocane.errors import EvocaneError
from evocane.evaluate import experiments
from evocane.evaluate.taskdata import held_out_regions, read_scored
from evocane.numerics import correlations

from tasks_fixtures import CHROM, tair10_dataset, tair10_genome, uniform_predictions  # noqa: F401


def write(tmp_path: Path, text: str, name: str = "table.tsv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty table"),
        ("id\tmeasurement\tsequence\n", "header but no rows"),
        ("id\tsequence\na\tACGT\n", "missing required column 'measurement'"),
        ("id\tmeasurement\tsequnce\na\t1\tACGT\n", "unknown column 'sequnce'"),
        ("id\tmeasurement\n", "give a 'sequence' column or 'chrom', 'start', 'end'"),
        ("id\tmeasurement\tchrom\tstart\na\t1\tc\t5\n", "missing end"),
        ("id\tmeasurement\tsequence\na\t1\tACGT\na\t2\tACGA\n", "line 3: duplicate id 'a' (first on line 2)"),
        ("id\tmeasurement\tsequence\na\thigh\tACGT\n", "line 2: 'measurement' is not a number: 'high'"),
        ("id\tmeasurement\tsequence\na\tnan\tACGT\n", "must be finite"),
        ("id\tmeasurement\tsequence\na\t1\tACGU!\n", "not an IUPAC nucleotide: '!'"),
        ("id\tmeasurement\tsequence\tchrom\tstart\tend\na\t1\tACGT\tc\t1\t4\n", "either 'sequence' or a region"),
        ("id\tmeasurement\tsequence\tchrom\tstart\tend\na\t1\t\tc\t1\t\n", "neither 'sequence' nor a complete region"),
        ("id\tmeasurement\tchrom\tstart\tend\na\t1\tc\t10\t5\n", "1 <= start <= end"),
        ("id\tmeasurement\tchrom\tstart\tend\na\t1\tc\tten\t50\n", "must be integers"),
        ("id\tmeasurement\tchrom\tstart\tend\tstrand\na\t1\tc\t1\t5\t+1\n", "'strand' must be + or -"),
        ("id\tmeasurement\tsequence\na\t1\n", "line 2: 2 fields, the header has 3"),
    ],
)
def test_parser_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(EvocaneError) as error:
        experiments.read_experiment_table(write(tmp_path, text))
    assert message in str(error.value) and str(tmp_path / "table.tsv") in str(error.value)


def test_parser_reads_csv_comments_and_limits(tmp_path: Path) -> None:
    path = write(tmp_path, "# promoter activity\nid,measurement,sequence,group\np1,2.5,ACGTN,leaf\np2,-1,acgt,\n", "table.csv")
    elements = experiments.read_experiment_table(path)
    assert [(e.id, e.measurement, e.sequence, e.group, e.line) for e in elements] == [("p1", 2.5, "ACGTN", "leaf", 3), ("p2", -1.0, "acgt", "", 4)]
    with pytest.raises(EvocaneError, match="longer than the maximum 3"):
        experiments.read_experiment_table(path, max_length=3)
    with pytest.raises(EvocaneError, match="not found"):
        experiments.read_experiment_table(tmp_path / "missing.tsv")


def test_regions_are_read_from_the_test_split(tmp_path: Path, tair10_dataset: Path, tair10_genome: Path) -> None:  # noqa: F811
    with pysam.FastaFile(str(tair10_genome / "genome.fa.gz")) as fasta:
        sequence = fasta.fetch(CHROM)
    table = write(
        tmp_path,
        "id\tmeasurement\tchrom\tstart\tend\tstrand\tsequence\n"
        f"plus\t1.0\t{CHROM}\t150001\t150010\t+\t\n"
        f"minus\t2.0\t{CHROM}\t150001\t150010\t-\t\n"
        f"train\t3.0\t{CHROM}\t5001\t5100\t+\t\n"
        "given\t4.0\t\t\t\t\tACGTACGT\n",
    )
    held_out = held_out_regions(tair10_dataset)
    out = experiments.build_experiment_inputs(table, held_out, {"thaliana": tair10_genome}, tmp_path / "dataset", True, 1000)
    dataset = DatasetReader(out)
    windows = dataset.split_windows("test").set_index("window_id")
    tokens = dataset.arrays("test").tokens
    text = {w: bytes(tokens[r["offset"] : r["offset"] + r["length"]]).decode() for w, r in windows.iterrows()}
    assert text["plus"] == sequence[150000:150010]
    complement = str.maketrans("ACGTacgt", "TGCAtgca")
    assert text["minus"] == sequence[150000:150010].translate(complement)[::-1]
    assert text["given"] == "ACGTACGT" and "train" not in text  # a training region is dropped
    assert DatasetReader(out).manifest["dropped_outside_test"] == ["train"]
    bad = write(tmp_path, f"id\tmeasurement\tchrom\tstart\tend\nx\t1\t{CHROM}\t299990\t300010\n", "beyond.tsv")
    with pytest.raises(EvocaneError, match="ends beyond the record"):
        experiments.build_experiment_inputs(bad, held_out, {"thaliana": tair10_genome}, tmp_path / "d2", True, 1000)
    unknown = write(tmp_path, "id\tmeasurement\tchrom\tstart\tend\nx\t1\tChrZ\t1\t10\n", "unknown.tsv")
    with pytest.raises(EvocaneError, match="has no record 'ChrZ'"):
        experiments.build_experiment_inputs(unknown, held_out, {"thaliana": tair10_genome}, tmp_path / "d3", True, 1000)
    assert not (tmp_path / "d2").exists() and not (tmp_path / "d3").exists()


def test_correlations_against_independent_computation(tmp_path: Path, tair10_dataset: Path, tair10_genome: Path) -> None:  # noqa: F811
    rng = np.random.default_rng(4)
    rows = ["id\tmeasurement\tsequence"]
    for i in range(30):
        length = int(rng.integers(40, 80))
        gc = rng.random()
        bases = rng.choice(list("ACGT"), size=length, p=[(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2])
        rows.append(f"e{i}\t{gc:.4f}\t{''.join(bases)}")
    table = write(tmp_path, "\n".join(rows) + "\n")
    out = experiments.build_experiment_inputs(table, held_out_regions(tair10_dataset), {"thaliana": tair10_genome}, tmp_path / "dataset", True, 1000)
    scored = read_scored(out, uniform_predictions(out, tmp_path / "pred"))
    scores = experiments.experiment_scores(scored, None)
    # uniform model: every mean log-likelihood is log 1/4, the correlation is undefined -> NaN, not an error
    assert np.allclose(scores["loglik"], np.log(0.25), atol=1e-3)
    x = rng.normal(size=30)
    y = 2 * x + rng.normal(scale=0.5, size=30)
    found = correlations(x, y)
    assert found["pearson"][0] == pytest.approx(np.corrcoef(x, y)[0, 1])
    ranks_x, ranks_y = pd.Series(x).rank(), pd.Series(y).rank()
    assert found["spearman"][0] == pytest.approx(np.corrcoef(ranks_x, ranks_y)[0, 1])
    assert found["spearman"][1] == pytest.approx(stats.spearmanr(x, y).pvalue)
    scores["loglik"] = x
    scores["measurement"] = y
    rows_out = pd.DataFrame(experiments.experiment_metrics(scores, n_boot=100, seed=0))
    pearson = rows_out[rows_out["metric"] == "pearson_loglik"].iloc[0]
    assert pearson["value"] == pytest.approx(np.corrcoef(x, y)[0, 1]) and pearson["ci_low"] < pearson["value"] < pearson["ci_high"]
