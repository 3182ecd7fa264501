"""The package's FASTA reader: streaming, with validation. One record is held in memory at a time, never a whole
genome.

The file is read in 16 MB chunks on a background thread, up to 3 chunks ahead (file reads and decompression
release the GIL, so they overlap with the caller's work). Compressed input (gzip or BGZF) is decompressed by a
separate `bgzip -dc` process when bgzip is installed (multi-threaded, on another core), else by Python's gzip.
Chunks are cut at the headers, not into lines (unless a line carries blanks to strip), so memory is about twice
the current record.
"""

from __future__ import annotations

import gzip
import io
import queue
import shutil
import subprocess
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from evocane.errors import EvocaneError

# IUPAC nucleotide codes in both cases; '-' and '*' are not accepted in genome assemblies.
IUPAC = b"ACGTNRYKMSWBDHVUacgtnrykmswbdhvu"
GZIP_MAGIC = b"\x1f\x8b"
CHUNK = 1 << 24
# Whitespace a sequence line may carry at its ends (removed, as str.strip would); line breaks are removed anyway.
_BLANKS = b" \t\x0b\x0c"


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


def _gzip_error(path: Path, error: BaseException) -> BaseException:
    """Compression errors as one clear EvocaneError; anything else unchanged."""
    if isinstance(error, EOFError):
        return EvocaneError(f"{path}: truncated gzip file (compressed stream ended early)")
    if isinstance(error, (gzip.BadGzipFile, zlib.error, OSError)) and not isinstance(error, FileNotFoundError):
        return EvocaneError(f"{path}: corrupt gzip data ({error})")
    return error


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """Yield (line number, line without newline) of a text file (GFF3); turn compression errors into one clear error."""
    try:
        with open_maybe_gzip(path) as handle:
            reader = io.BufferedReader(handle, buffer_size=1 << 20)  # type: ignore[arg-type]
            for number, line in enumerate(reader, start=1):
                yield number, line.rstrip(b"\r\n")
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as error:
        raise _gzip_error(path, error) from None


class _Chunks:
    """A file's (decompressed) bytes in CHUNK-sized pieces, read ahead on a thread; ``b""`` at the end."""

    def __init__(self, path: Path):
        self.path = path
        self.process: subprocess.Popen[bytes] | None = None
        compressed = is_gzip(path)
        if compressed and shutil.which("bgzip"):
            self.process = subprocess.Popen(["bgzip", "-dc", "-@", "2", str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            self.stream: Any = self.process.stdout
        else:
            self.stream = gzip.open(path, "rb") if compressed else open(path, "rb")
        self.queue: queue.Queue[bytes | BaseException] = queue.Queue(maxsize=3)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            while not self.stopped.is_set():
                chunk = self.stream.read(CHUNK)
                self.queue.put(chunk)
                if not chunk:
                    return
        except BaseException as error:  # handed to the consumer
            self.queue.put(error)

    def read(self) -> bytes:
        item = self.queue.get()
        if isinstance(item, BaseException):
            raise _gzip_error(self.path, item) from None
        if not item:
            self.queue.put(item)  # stay at end of file
            # bgzip's output ends early on bad input: fail before the last (possibly cut) record is handed out
            if self.process is not None and self.process.wait() != 0:
                assert self.process.stderr is not None
                message = self.process.stderr.read().decode(errors="replace").strip()
                raise EvocaneError(f"{self.path}: corrupt or truncated gzip data (bgzip: {message})")
        return item

    def __enter__(self) -> _Chunks:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self.stopped.set()
        while self.thread.is_alive():
            try:
                self.queue.get(timeout=0.1)
            except queue.Empty:
                pass
        self.stream.close()
        if self.process is not None:
            self.process.wait()
            assert self.process.stderr is not None
            self.process.stderr.close()


def read_fasta(path: str | Path, validate: bool = True) -> Iterator[FastaRecord]:
    """Stream records from a plain, gzip or BGZF FASTA file.

    The record name is the header's first word, the description the rest. Line breaks and the blanks at either end
    of a sequence line are removed. Always an error: sequence before the first header (';' comment lines and blank
    lines are allowed there), a header without a name, a corrupt or truncated gzip stream. With ``validate`` (the
    default) also a duplicate name, an empty record, a character outside the IUPAC nucleotide alphabet or a file
    without records. Every error names the file, and the record and line where it has them.
    """
    path = Path(path)
    if not path.exists():
        raise EvocaneError(f"{path}: input file not found")
    with _Chunks(path) as chunks:
        yield from _Parser(path, validate).records(chunks)


class _Parser:
    """Cuts chunks at the headers (a '>' at the start of a line); a record's text may span any number of chunks."""

    def __init__(self, path: Path, validate: bool):
        self.path = path
        self.validate = validate
        self.seen: set[str] = set()
        self.name: str | None = None
        self.description = ""
        self.header_line = 0
        self.parts: list[bytes] = []
        self.newlines = 0  # line breaks before the first byte not yet taken, for line numbers
        self.line_start = True  # whether that byte starts a line

    def records(self, chunks: _Chunks) -> Iterator[FastaRecord]:
        carry = b""  # bytes left for the next chunk: an unfinished header or comment line, blanks that may end a line
        while True:
            chunk = chunks.read()
            data = carry + chunk if carry else chunk
            if not data:
                break
            at_end = not chunk
            position = 0
            while True:
                header = self._next_header(data, position)
                if header < 0:
                    carry = self._text(data[position:], complete=at_end)
                    break
                self._text(data[position:header], complete=True)
                line_end = data.find(b"\n", header)
                if line_end < 0 and not at_end:
                    carry = data[header:]
                    break
                if line_end < 0:
                    line_end = len(data)
                if self.name is not None:
                    yield self._finish()
                self._header(data[header + 1 : line_end])
                self.newlines += 1
                self.line_start = True
                position = line_end + 1
            if at_end:
                break
        if self.name is not None:
            yield self._finish()
        elif self.validate:
            raise EvocaneError(f"{self.path}: no FASTA records found")

    def _next_header(self, data: bytes, position: int) -> int:
        """Index of the next '>' that starts a line, or -1 (a '>' inside a line is sequence, and invalid there)."""
        found = data.find(b">", position)
        while found >= 0 and not (data[found - 1 : found] == b"\n" if found else self.line_start):
            found = data.find(b">", found + 1)
        return found

    def _text(self, text: bytes, complete: bool) -> bytes:
        """Take the text before a header (``complete``) or up to the end of a chunk; return what must wait for the
        next chunk: an unfinished comment line, or blanks that may turn out to end a sequence line."""
        if self.name is None:
            lines = text.split(b"\n")
            rest = b"" if complete else lines.pop()
            for number, line in enumerate([*lines, rest], start=self.newlines + 1):
                if line.strip() and not line.startswith(b";"):
                    raise EvocaneError(f"{self.path}: line {number}: sequence before the first '>' header (not FASTA?)")
        else:
            rest = b"" if complete else text[len(text.rstrip(_BLANKS + b"\r")) :]
        taken = text[: len(text) - len(rest)]
        if not taken:
            return rest
        if self.name is not None:
            self.parts.append(self._bases(taken))
        self.newlines += taken.count(b"\n")
        self.line_start = taken.endswith(b"\n")
        return rest

    def _bases(self, text: bytes) -> bytes:
        """Sequence text without line breaks and without blanks at the ends of its lines."""
        if b"\r" in text:
            text = text.replace(b"\r\n", b"\n")
        if b"\r" in text or any(blank in text for blank in _BLANKS):
            bases = b"".join(self._stripped_lines(text))
        else:
            bases = text.replace(b"\n", b"")
        if self.validate and bases.translate(None, IUPAC):
            for number, line in enumerate(self._stripped_lines(text), start=self.newlines + 1):
                bad = line.translate(None, IUPAC)
                if bad:
                    char = bad[:1].decode("latin-1")
                    raise EvocaneError(f"{self.path}: record '{self.name}' line {number}: character {char!r} is not an IUPAC nucleotide code")
        return bases

    def _stripped_lines(self, text: bytes) -> list[bytes]:
        # a first line that continues one begun in the previous chunk keeps its leading blanks: they are inside it
        lines = text.split(b"\n")
        return [line.rstrip() if i == 0 and not self.line_start else line.strip() for i, line in enumerate(lines)]

    def _header(self, line: bytes) -> None:
        number = self.newlines + 1
        header = line.decode("utf-8", errors="replace").strip()
        if not header:
            raise EvocaneError(f"{self.path}: line {number}: header without a record id")
        fields = header.split(maxsplit=1)
        self.name, self.description = fields[0], fields[1] if len(fields) > 1 else ""
        self.header_line = number
        if self.validate:
            if self.name in self.seen:
                raise EvocaneError(f"{self.path}: duplicate record id '{self.name}' (line {number})")
            self.seen.add(self.name)

    def _finish(self) -> FastaRecord:
        assert self.name is not None
        sequence = b"".join(self.parts)
        self.parts = []
        if self.validate and not sequence:
            raise EvocaneError(f"{self.path}: record '{self.name}' (line {self.header_line}) is empty")
        return FastaRecord(self.name, self.description, sequence)


def read_fai(path: str | Path) -> list[tuple[str, int]]:
    """Record names and lengths from a samtools-style .fai index (file order)."""
    out = []
    with open(path) as handle:
        for line in handle:
            fields = line.rstrip("\n").split("\t")
            out.append((fields[0], int(fields[1])))
    return out
