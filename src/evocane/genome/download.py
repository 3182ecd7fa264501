"""Resumable, checksum-verified, atomic downloads over http(s) and ftp.

Bytes go to ``<output>.part``; an interrupted transfer resumes from there (HTTP Range / FTP REST). The final name
appears only after the whole file arrived and its sha256 (when configured) matches, so a partial download is never
used by a later step.
"""

from __future__ import annotations

import ftplib
import hashlib
import logging
import os
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

from tqdm import tqdm

from evocane.errors import EvocaneError

log = logging.getLogger(__name__)
CHUNK = 1 << 20


def sha256sum(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


class _Incomplete(Exception):
    """The server closed the connection before sending everything; resume from the partial file."""


def _http_fetch(url: str, part: Path, timeout: float) -> None:
    offset = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "evocane"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and offset:  # already complete
            return
        raise EvocaneError(f"{url}: HTTP {error.code} {error.reason}") from None
    with response:
        if offset and response.status != 206:
            log.info("server ignored the Range request; restarting %s from the beginning", url)
            offset = 0
        length = response.headers.get("Content-Length")
        expected = offset + int(length) if length is not None else None
        mode = "ab" if offset else "wb"
        received = offset
        with open(part, mode) as out, tqdm(
            total=expected, initial=offset, unit="B", unit_scale=True, desc=Path(urlparse(url).path).name
        ) as bar:
            while True:
                try:
                    block = response.read(CHUNK)
                except (TimeoutError, ConnectionError, OSError) as error:
                    raise _Incomplete(str(error)) from None
                if not block:
                    break
                out.write(block)
                received += len(block)
                bar.update(len(block))
        if expected is not None and received < expected:
            raise _Incomplete(f"received {received} of {expected} bytes")


def _ftp_fetch(url: str, part: Path, timeout: float) -> None:
    parsed = urlparse(url)
    offset = part.stat().st_size if part.exists() else 0
    try:
        with ftplib.FTP(parsed.hostname or "", timeout=timeout) as ftp:
            ftp.login(parsed.username or "anonymous", parsed.password or "anonymous@")
            ftp.voidcmd("TYPE I")
            size = ftp.size(parsed.path)
            if size is not None and offset >= size:
                return
            with open(part, "ab" if offset else "wb") as out, tqdm(
                total=size, initial=offset, unit="B", unit_scale=True, desc=Path(parsed.path).name
            ) as bar:

                def write(block: bytes) -> None:
                    out.write(block)
                    bar.update(len(block))

                ftp.retrbinary(f"RETR {parsed.path}", write, blocksize=CHUNK, rest=offset or None)
    except ftplib.error_perm as error:
        raise EvocaneError(f"{url}: FTP error {error}") from None
    except (EOFError, OSError, ftplib.error_temp) as error:
        raise _Incomplete(str(error)) from None


def download(
    url: str, output: str | Path, sha256: str | None = None, retries: int = 5, timeout: float = 60.0
) -> Path:
    """Download ``url`` to ``output`` (resuming a previous ``.part``), verify ``sha256``, then rename into place."""
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    part = output.with_name(output.name + ".part")
    scheme = urlparse(url).scheme
    if scheme in ("http", "https"):
        fetch = _http_fetch
    elif scheme == "ftp":
        fetch = _ftp_fetch
    else:
        raise EvocaneError(f"{url}: unsupported URL scheme '{scheme}' (use http, https or ftp)")
    for attempt in range(1, retries + 1):
        try:
            fetch(url, part, timeout)
            break
        except _Incomplete as error:
            if attempt == retries:
                raise EvocaneError(
                    f"{url}: download incomplete after {retries} attempts ({error}); "
                    f"partial data kept in {part} and resumed next time"
                ) from None
            log.warning("download of %s interrupted (%s); resuming (attempt %d)", url, error, attempt + 1)
            time.sleep(min(2**attempt, 30) * 0.1)
        except urllib.error.URLError as error:
            raise EvocaneError(f"{url}: cannot connect ({error.reason})") from None
    if sha256:
        actual = sha256sum(part)
        if actual.lower() != sha256.lower():
            part.unlink()
            raise EvocaneError(f"{url}: sha256 mismatch for {output.name}: expected {sha256}, got {actual}")
    os.replace(part, output)
    return output
