"""The package's one FASTA reader (evocane.genome.fasta.read_fasta): the same records whatever the chunking and
the decompressor, line numbers in errors, gzip failures as one clear error."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest

from evocane.errors import EvocaneError
from evocane.genome import fasta
from evocane.genome.fasta import read_fasta

TEXT = (
    ";a comment before the first header\n"
    "\n"
    ">one first record\r\n"
    "ACGTN \r\n"
    "  acgt\n"
    "\n"
    ">two\n"
    "RYKM\tSWBD\n"  # a blank inside a line is kept when not validating
    ">three |d__E;s__Arabidopsis thaliana|\n"
    "GG"
)
EXPECTED = [("one", "first record", b"ACGTNacgt"), ("two", "", b"RYKM\tSWBD"), ("three", "|d__E;s__Arabidopsis thaliana|", b"GG")]


def _records(path: Path, validate: bool = False) -> list[tuple[str, str, bytes]]:
    return [(r.name, r.description, r.sequence) for r in read_fasta(path, validate=validate)]


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 1 << 24])
@pytest.mark.parametrize("compressed", [False, True])
def test_records_do_not_depend_on_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int, compressed: bool) -> None:
    path = tmp_path / ("x.fa.gz" if compressed else "x.fa")
    if compressed:
        with gzip.open(path, "wt") as handle:
            handle.write(TEXT)
    else:
        path.write_text(TEXT)
    monkeypatch.setattr(fasta, "CHUNK", chunk)
    assert _records(path) == EXPECTED


@pytest.mark.parametrize("chunk", [1, 5, 1 << 24])
@pytest.mark.parametrize(
    ("text", "message"),
    [
        (">a\nACGT\n>b\nAC GT\n", "record 'b' line 4: character ' '"),
        (">a\nACGT\nAC>T\n", "record 'a' line 3: character '>'"),
        (">a\nACGT\n\n;x\n", "record 'a' line 4: character ';'"),
        ("\n\nACGT\n>a\nA\n", "line 3: sequence before the first '>' header"),
        (">a\nAC\n>\nAC\n", "line 3: header without a record id"),
        (">a\nAC\n\n>b\n>c\nA\n", "record 'b' (line 4) is empty"),
        (">a\nAC\n>a\nAC\n", "duplicate record id 'a' (line 3)"),
        (";only a comment\n", "no FASTA records found"),
    ],
)
def test_validation_errors_name_the_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int, text: str, message: str) -> None:
    path = tmp_path / "bad.fa"
    path.write_text(text)
    monkeypatch.setattr(fasta, "CHUNK", chunk)
    with pytest.raises(EvocaneError, match=f"^{path}: .*" + message.replace("(", r"\(").replace(")", r"\)")):
        _records(path, validate=True)


def test_trailing_blanks_are_not_errors(tmp_path: Path) -> None:
    path = tmp_path / "ok.fa"
    path.write_text(">a x\r\nACGT \t\r\n\tAC\n")
    assert _records(path, validate=True) == [("a", "x", b"ACGTAC")]


@pytest.mark.parametrize("bgzip", [True, False])
def test_truncated_gzip_is_one_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bgzip: bool) -> None:
    if bgzip and shutil.which("bgzip") is None:
        pytest.skip("bgzip not installed")
    if not bgzip:
        monkeypatch.setattr(fasta.shutil, "which", lambda name: None)
    whole = tmp_path / "whole.fa.gz"
    with gzip.open(whole, "wt") as handle:
        for i in range(50):
            handle.write(f">r{i}\n" + "ACGTTGCAAC" * 2000 + "\n")
    cut = tmp_path / "cut.fa.gz"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(EvocaneError, match="truncated gzip"):
        _records(cut)
    assert len(_records(whole)) == 50


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(EvocaneError, match="input file not found"):
        _records(tmp_path / "none.fa")
