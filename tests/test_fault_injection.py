"""Fault injection at every kind of job, and the determinism the README promises for CPU runs.

A small workflow (the demo config cut down: mockcane's AARE701a haplotype, Chr1A and Chr2A sliced to 75 kb with
their GFF3; the homology_split variant; the Markov model, orders 1-4; a 40-window scored subset; the regulatory
task on 5 sites per kind, no generation) runs once uninterrupted (the reference, with its report). In a second
directory the same workflow is then killed, one kind of job after the other, with SIGKILL to Snakemake's whole
process group while that job runs: genome preparation, dataset build, leakage audit, training, scoring, a task step
(regulatory scoring) and ``snakemake --report``. After each kill: every file under results/ is either absent or
has the reference's bytes (no partial output under a final name), ``snakemake --unlock``, and the next run uses
``--rerun-incomplete``. The last run completes; then every file under results/ equals the reference's byte for
byte, and no temporary or staging file a killed job left behind remains. Each kill names the job's target, so only
that job and the jobs it needs run: the kill hits it, not a neighbour, and the test checks that its output was not
complete yet.

Fields stripped before comparing, because they are wall-clock records, not results: ``created`` and
``train_seconds`` in ``evocane_checkpoint.json``; in report.html the two Vega specs of job runtimes and of the job
timeline (``var runtimes_spec = ...;`` and ``var timeline_spec = ...;``). Nothing else is excused.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from evocane import layout

from conftest import REPO

pytestmark = pytest.mark.slow

VARIANT = "homology_split"
CULTIVAR = "mockcane"
CHECKPOINT_TIMINGS = ("created", "train_seconds")
REPORT_TIMINGS = re.compile(r"var (runtimes|timeline)_spec = .*?;\n")


def small_config() -> dict:
    """The demo config cut down to a workflow of about a minute on 2 cores (22 jobs)."""
    demo = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    mockcane = demo["cultivars"][CULTIVAR]
    mockcane.update(max_length=75_000, sources=mockcane["sources"][:1], homology={"expected_groups": 2, "max_haplotypes": 1})
    markov = {**demo["models"]["markov"], "params": {**demo["models"]["markov"]["params"], "orders": [1, 2, 3, 4]}}
    return {
        "cultivars": {CULTIVAR: mockcane},
        "datasets": {"variants": {VARIANT: demo["datasets"]["variants"][VARIANT]}},
        "models": {"markov": markov},
        "experiments": {"markov_baseline": {"models": ["markov"], "variants": [VARIANT]}},
        "evaluation": {
            "bootstrap": {"n_resamples": 100, "confidence": 0.95, "seed": 0},
            "nextbase": {"baseline": "markov", "splits": ["validation", "test"], "report_split": "test",
                         "distribution_windows": 2, "subset": {"max_windows": 40, "seed": 0}},
            "tasks": {"enabled": ["regulatory"], "members": ["k1", "k4"], "background": {"model": "markov", "member": "k1"},
                      "regulatory": {"sites_per_kind": 5}},
        },
    }  # fmt: skip


def snakemake_command(directory: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(directory), *args]


def snakemake(directory: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(snakemake_command(directory, *args), capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"snakemake {' '.join(args)}:\n{result.stderr[-4000:]}"
    return result


def project(directory: Path) -> Path:
    (directory / "config").mkdir(parents=True)
    (directory / "config" / "config.yaml").write_text(yaml.safe_dump(small_config(), sort_keys=False))
    return directory


def complete_run(directory: Path) -> None:
    snakemake(directory, "--cores", "2")
    snakemake(directory, "--report", layout.report())


def comparable(path: Path) -> bytes:
    """A file's bytes with the wall-clock fields stripped (see the module docstring)."""
    if path.name == "evocane_checkpoint.json":
        meta = json.loads(path.read_text())
        for key in CHECKPOINT_TIMINGS:
            meta.pop(key, None)
        return json.dumps(meta, sort_keys=True).encode()
    if path.name == "report.html":
        return REPORT_TIMINGS.sub("", path.read_text(encoding="utf-8")).encode()
    return path.read_bytes()


def result_files(directory: Path, hidden: bool) -> dict[str, Path]:
    """Files under results/ by relative path; ``hidden``: also those in or under a dot-name (temporaries)."""
    root = directory / "results"
    files = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if path.is_file() and (hidden or not any(part.startswith(".") for part in relative.parts)):
            files[str(relative)] = path
    return files


def differing(directory: Path, reference: Path) -> list[str]:
    """Files under directory/results/ whose (stripped) bytes differ from the reference's, or that it lacks."""
    expected = result_files(reference, hidden=False)
    return [name for name, path in result_files(directory, hidden=False).items() if name not in expected or comparable(path) != comparable(expected[name])]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small workflow run once, uninterrupted, with its report."""
    directory = project(tmp_path_factory.mktemp("reference"))
    complete_run(directory)
    return directory


# --- kills ------------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Kill:
    kind: str
    targets: list[str]  # what the run is asked for: the job and the jobs it needs, nothing after it
    running: Callable[[Path, str], bool]  # true once the job runs (its log or its temporary output appeared)
    unfinished: str  # an output of the job, absent right after the kill if the kill hit the job while it ran


def exists(pattern: str) -> Callable[[Path, str], bool]:
    return lambda directory, _: any(directory.glob(pattern))


VARIANT_DIR = layout.dataset(VARIANT)
TEST_PREDICTIONS = layout.predictions("markov", VARIANT, "test")
REGULATORY_SCORES = layout.task_predictions(VARIANT, "regulatory", "markov")
KILLS = [
    # the atomic writers' temporaries appear as soon as the job writes: genome.fa.gz's, the build's staging folder,
    # the prediction set's; the other jobs are caught by their log file (created when the job's shell starts)
    Kill("genome preparation", [layout.genome_file("records.tsv", CULTIVAR)],
         exists(f"{layout.genome_dir(CULTIVAR)}/.genome.fa.gz.tmp-*"), layout.genome_file("records.tsv", CULTIVAR)),
    Kill("dataset build", [f"{VARIANT_DIR}/manifest.json"], exists(f"{VARIANT_DIR}/.build-*/*"), f"{VARIANT_DIR}/manifest.json"),
    Kill("leakage audit", [f"{VARIANT_DIR}/audit/leakage.tsv"], exists(f"logs/datasets/{VARIANT}/audit.log"), f"{VARIANT_DIR}/audit/leakage.tsv"),
    Kill("training", [layout.checkpoint("markov", VARIANT)], exists(f"logs/train/markov/{VARIANT}.log"), layout.checkpoint("markov", VARIANT)),
    Kill("scoring", [TEST_PREDICTIONS], exists(f"{Path(TEST_PREDICTIONS).parent}/.test.tmp-*"), TEST_PREDICTIONS),
    Kill("task step (regulatory scoring)", [REGULATORY_SCORES], exists(f"logs/tasks/{VARIANT}/regulatory/score_markov.log"), REGULATORY_SCORES),
]  # fmt: skip


def kill_while(directory: Path, command: list[str], running: Callable[[Path, str], bool], what: str, timeout: float = 300) -> None:
    """Start ``command`` in a new session, wait until ``running(directory, its output so far)`` holds, then SIGKILL
    the whole process group (Snakemake and every job it started)."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(iter(process.stderr.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    deadline = time.monotonic() + timeout
    try:
        while not running(directory, "".join(output)):
            if process.poll() is not None:
                reader.join(5)
                pytest.fail(f"{what}: the run ended before the job could be caught (too short?)\n{''.join(output)[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"{what}: the job did not start within {timeout} s")
            time.sleep(0.02)
        os.killpg(process.pid, signal.SIGKILL)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        reader.join(5)
    _wait_for_group(process.pid)


def _wait_for_group(pgid: int) -> None:
    """Until every process of the killed group is gone (a job's children are reaped by init after SIGKILL)."""
    for _ in range(200):
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)


def test_killed_jobs_rerun_to_the_reference_bytes(reference: Path, tmp_path: Path) -> None:
    directory = project(tmp_path / "faults")
    for kill in KILLS:
        command = snakemake_command(directory, "--cores", "2", "--rerun-incomplete", *kill.targets)
        kill_while(directory, command, kill.running, kill.kind)
        assert not (directory / kill.unfinished).exists(), f"{kill.kind}: finished before the kill (too short to catch)"
        assert not differing(directory, reference), f"after killing {kill.kind}: {differing(directory, reference)}"
        snakemake(directory, "--unlock")
    snakemake(directory, "--cores", "2", "--rerun-incomplete")

    # the report has no log or temporary to wait for: it is killed while it adds the results ("Adding ..." on its
    # output), then made again, whole
    kill_while(directory, snakemake_command(directory, "--report", layout.report()), lambda _, log: "\nAdding " in log, "report")
    assert not (directory / layout.report()).exists(), "report: finished before the kill"
    snakemake(directory, "--report", layout.report())

    assert set(result_files(directory, hidden=False)) == set(result_files(reference, hidden=False))
    assert not differing(directory, reference), differing(directory, reference)
    leftovers = sorted(str(path.relative_to(directory)) for path in (directory / "results").rglob(".*") if path.name != ".snakemake_timestamp")
    assert not leftovers, f"temporaries or staging folders of killed jobs left behind: {leftovers}"


def test_cpu_runs_are_byte_identical(reference: Path, tmp_path: Path) -> None:
    """Two uninterrupted runs in different directories write the same bytes: datasets, checkpoints (timings
    stripped), predictions, metrics, task results, figures, the leaderboard and the report (timings stripped)."""
    directory = project(tmp_path / "second")
    complete_run(directory)
    assert set(result_files(directory, hidden=True)) == set(result_files(reference, hidden=True))
    assert not differing(directory, reference), differing(directory, reference)
    for must in (f"{VARIANT_DIR}/windows.parquet", f"{TEST_PREDICTIONS}/k4/logprob.npy", layout.nextbase_file("metrics.tsv", VARIANT), layout.leaderboard()):
        assert (directory / must).read_bytes() == (reference / must).read_bytes(), must
