"""Streaming FASTA reading with validation. One record is held in memory at a time, never a whole genome."""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from evocane.errors import EvocaneError

# IUPAC nucleotide codes in both cases; '-' and '*' are not accepted in genome assemblies.
IUPAC = b"ACGTNRYKMSWBDHVUacgtnrykmswbdhvu"
GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class FastaRecord:
    name: str
    description: str
    sequence: bytes


def is_gzip(path: str | Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(2) == GZIP_MAGIC


def open_maybe_gzip(path: str | Path) -> IO[bytes]:
    """Open plain, gzip or bgzip (a gzip variant) input as a binary stream."""
    path = Path(path)
    if not path.exists():
        raise EvocaneError(f"{path}: input file not found")
    if is_gzip(path):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """Yield (line number, line without newline); turn compression errors into one clear error."""
    try:
        with open_maybe_gzip(path) as handle:
            reader = io.BufferedReader(handle, buffer_size=1 << 20)  # type: ignore[arg-type]
            for number, line in enumerate(reader, start=1):
                yield number, line.rstrip(b"\r\n")
    except EOFError:
        raise EvocaneError(f"{path}: truncated gzip file (compressed stream ended early)") from None
    except (gzip.BadGzipFile, zlib.error, OSError) as error:
        if isinstance(error, FileNotFoundError):
            raise
        raise EvocaneError(f"{path}: corrupt gzip data ({error})") from None


def read_fasta(path: str | Path, validate: bool = True) -> Iterator[FastaRecord]:
    """Stream records from a FASTA file.

    With ``validate`` (the default), raises EvocaneError for a duplicate id, an empty record, sequence before the
    first header, or a character outside the IUPAC nucleotide alphabet (naming file, record and line).
    """
    path = Path(path)
    seen: set[str] = set()
    name: str | None = None
    description = ""
    header_line = 0
    chunks: list[bytes] = []

    def finish() -> FastaRecord:
        assert name is not None
        sequence = b"".join(chunks)
        if validate and not sequence:
            raise EvocaneError(f"{path}: record '{name}' (line {header_line}) is empty")
        return FastaRecord(name, description, sequence)

    for number, line in _lines(path):
        if line.startswith(b">"):
            if name is not None:
                yield finish()
                chunks = []
            header = line[1:].decode("utf-8", errors="replace").strip()
            if not header:
                raise EvocaneError(f"{path}: line {number}: header without a record id")
            name, _, description = header.partition(" ")
            header_line = number
            if validate:
                if name in seen:
                    raise EvocaneError(f"{path}: duplicate record id '{name}' (line {number})")
                seen.add(name)
        elif line:
            if name is None:
                if line.startswith(b";"):
                    continue
                raise EvocaneError(f"{path}: line {number}: sequence before the first '>' header (not FASTA?)")
            line = line.strip()
            if validate:
                bad = line.translate(None, IUPAC)
                if bad:
                    char = bad[:1].decode("latin-1")
                    raise EvocaneError(
                        f"{path}: record '{name}' line {number}: character {char!r} is not an IUPAC nucleotide code"
                    )
            chunks.append(line)
    if name is not None:
        yield finish()
    elif validate:
        raise EvocaneError(f"{path}: no FASTA records found")


def read_fai(path: str | Path) -> list[tuple[str, int]]:
    """Record names and lengths from a samtools-style .fai index (file order)."""
    out = []
    with open(path) as handle:
        for line in handle:
            fields = line.rstrip("\n").split("\t")
            out.append((fields[0], int(fields[1])))
    return out
