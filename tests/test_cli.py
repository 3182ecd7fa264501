"""The `evocane` command as a user types it: every option explained, `engines` telling importable from runnable,
`leaderboard --show`, progress bars in bases; and the repository's `resources/` folder."""

from __future__ import annotations

import argparse
import ast
import csv
import importlib.util
import io
import json
import re
import shutil
import subprocess
import sys
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from conftest import REPO, run_cli
from test_markov import small_windows, write_dataset  # noqa: F401  (small_windows is a fixture)

# (command, option) pairs whose help is argparse.SUPPRESS on purpose; none today.
DELIBERATELY_HIDDEN: set[tuple[str, str]] = set()


def _option_name(action: argparse.Action) -> str:
    return action.option_strings[0] if action.option_strings else action.dest


def test_every_option_of_every_command_has_help() -> None:
    from evocane.cli import COMMANDS, build_parser

    parser = build_parser()  # without argv: every command gets all its options
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert set(commands.choices) == set(COMMANDS)
    parsers = [("evocane", parser), *commands.choices.items()]
    missing = []
    for name, command_parser in parsers:
        for action in command_parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            option = _option_name(action)
            if action.help == argparse.SUPPRESS:
                if (name, option) not in DELIBERATELY_HIDDEN:
                    missing.append(f"{name} {option} (help suppressed)")
            elif not (action.help or "").strip():
                missing.append(f"{name} {option}")
    assert not missing, "options without help text: " + "; ".join(missing)


def test_help_check_names_an_option_without_help() -> None:
    """The check above can fail: an option added without help is reported with its command."""
    from evocane.cli import COMMANDS, build_parser, command

    def arguments(p: argparse.ArgumentParser) -> None:
        p.add_argument("--documented", help="has help")
        p.add_argument("--undocumented")

    command("zz-test-only", "a command with an undocumented option", arguments)(lambda args: None)
    try:
        with pytest.raises(AssertionError, match=r"zz-test-only --undocumented") as failure:
            test_every_option_of_every_command_has_help()
        assert "--documented" not in str(failure.value)
    finally:
        del COMMANDS["zz-test-only"]


# --- progress bars ----------------------------------------------------------------------------------------------------
def _tqdm_calls() -> list[tuple[str, int, dict[str, object]]]:
    calls = []
    for path in sorted((REPO / "src" / "evocane").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "tqdm":
                keywords = {k.arg: ast.literal_eval(k.value) for k in node.keywords if k.arg in ("unit", "unit_scale")}
                calls.append((str(path.relative_to(REPO)), node.lineno, keywords))
    return calls


def test_progress_bars_count_bases_in_bp() -> None:
    """A bar with a scaled unit shows k/M prefixes on the rate: bases must read "kbp/s" (kb/s reads as kilobits);
    bytes keep "B". Every other unit is a plain count (windows, records, steps, batches)."""
    calls = _tqdm_calls()
    assert len(calls) >= 10, calls
    scaled = [(path, line, kw) for path, line, kw in calls if kw.get("unit_scale")]
    assert {kw["unit"] for _, _, kw in scaled} <= {"bp", "B"}, scaled
    base_bars = [(path, line) for path, line, kw in scaled if kw["unit"] == "bp"]
    # markov train + score, hf scoring, evo2 scoring
    assert len(base_bars) == 4, base_bars
    assert not [c for c in calls if str(c[2].get("unit", "")).strip() in ("b", "base", "bases", "kb")], calls


def test_markov_bars_show_bp_per_second(tmp_path: Path, small_windows, capsys) -> None:  # type: ignore[no-untyped-def]
    """What a user sees: the Markov engine's training and scoring bars on real TAIR10 windows."""
    from evocane.engines.base import ModelConfig, get_engine

    dataset = write_dataset(tmp_path / "ds", small_windows)
    engine = get_engine("markov")
    engine.train(dataset, ModelConfig("mk", "markov", {"orders": [2], "concentration": 2.0}), tmp_path / "ckpt")
    engine.score(tmp_path / "ckpt", dataset, "test", tmp_path / "pred")
    bars = capsys.readouterr().err
    assert "train mk" in bars and "score mk" in bars
    assert "bp/s" in bars and "b/s" not in bars.replace("bp/s", "")


# --- resources/ ---------------------------------------------------------------------------------------------------------
def test_resources_folder_is_in_the_clone_with_only_its_readme_tracked() -> None:
    readme = REPO / "resources" / "README.md"
    assert readme.is_file()
    assert "resources/downloads/" in readme.read_text() or "`downloads/`" in readme.read_text()
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    tracked = subprocess.run(["git", "ls-files", "resources"], cwd=REPO, capture_output=True, text=True, check=True)
    assert tracked.stdout.split() == ["resources/README.md"]
    for inside in ("resources/downloads/genome.fna.gz", "resources/sugarcane/XTT22.genome.fa", "resources/weights.pt"):
        ignored = subprocess.run(["git", "check-ignore", "-q", inside], cwd=REPO)
        assert ignored.returncode == 0, f"{inside} is not ignored"
    assert subprocess.run(["git", "check-ignore", "-q", "resources/README.md"], cwd=REPO).returncode == 1


# --- evocane engines ------------------------------------------------------------------------------------------------------
def _imports(*modules: str) -> bool:
    """Whether every module imports, asked in a fresh interpreter (the independent check)."""
    code = "import importlib, sys\nfor m in sys.argv[1:]:\n    importlib.import_module(m)"
    return subprocess.run([sys.executable, "-c", code, *modules], capture_output=True).returncode == 0


def _torch_sees_cuda() -> bool:
    code = "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"
    return subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def test_engines_tells_importable_from_runnable_on_this_machine() -> None:
    result = run_cli("engines", "--json")
    assert result.returncode == 0, result.stderr
    status = {row["engine"]: row for row in map(json.loads, result.stdout.splitlines())}
    from evocane.engines.base import engine_names

    assert sorted(status) == engine_names()

    hf_imports = _imports("torch", "transformers", "tokenizers", "safetensors", "peft")
    # vortex needs Triton and (without flash-attn) evocane's stand-in module, so ask for Triton and the packages
    evo2_imports = _imports("torch", "peft", "triton", "vortex") and importlib.util.find_spec("evo2") is not None
    cuda = _torch_sees_cuda()
    container = shutil.which("apptainer") or shutil.which("singularity")

    assert status["markov"]["importable"] and status["markov"]["runnable"]
    assert status["markov"]["run_detail"] == "on the CPU"
    assert status["hf"]["importable"] == hf_imports
    assert status["hf"]["runnable"] == hf_imports  # CPU or GPU
    assert ("on CUDA GPU" in status["hf"]["run_detail"]) == (hf_imports and cuda)
    if hf_imports:
        assert "torch " in status["hf"]["import_detail"] and "transformers " in status["hf"]["import_detail"]
    assert status["evo2"]["importable"] == evo2_imports
    assert status["evo2"]["runnable"] == (evo2_imports and cuda)
    if not cuda:
        assert "needs a CUDA GPU, none visible" in status["evo2"]["run_detail"]
    if not evo2_imports:
        assert "vortex" in status["evo2"]["import_detail"] or "No module named" in status["evo2"]["import_detail"]
    assert status["bionemo"]["importable"]  # the host side is evocane's own code
    assert status["bionemo"]["runnable"] == bool(container)
    if not container:
        assert "apptainer or singularity" in status["bionemo"]["run_detail"]

    text = run_cli("engines")
    assert text.returncode == 0
    for name, row in status.items():
        block = text.stdout.split(f"{name}\n", 1)[1]
        assert f"importable:    {'yes' if row['importable'] else 'no'}: {row['import_detail']}" in block
        assert f"runnable here: {'yes' if row['runnable'] else 'no'}: {row['run_detail']}" in block


def test_engines_sees_a_container_runtime_and_a_gpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The other side of each check: apptainer on PATH makes bionemo runnable; a visible GPU puts hf on it and makes
    evo2 runnable exactly when its dependencies import."""
    from evocane.engines import readiness

    apptainer = tmp_path / "bin" / "apptainer"
    apptainer.parent.mkdir()
    apptainer.write_text("#!/bin/sh\nexit 0\n")
    apptainer.chmod(0o755)
    monkeypatch.setenv("PATH", f"{apptainer.parent}:/usr/bin:/bin")
    bionemo = readiness.engine_readiness("bionemo")
    assert bionemo.runnable and str(apptainer) in bionemo.run_detail

    monkeypatch.setattr(readiness, "cuda_device", lambda: ("NVIDIA H200", ""))
    hf = readiness.engine_readiness("hf")
    assert hf.runnable == hf.importable and (not hf.importable or hf.run_detail == "on CUDA GPU NVIDIA H200")
    evo2 = readiness.engine_readiness("evo2")
    assert evo2.runnable == evo2.importable
    monkeypatch.setattr(readiness, "cuda_device", lambda: (None, "torch 2.13.0+cpu is a CPU-only build"))
    assert not readiness.engine_readiness("evo2").runnable
    assert readiness.engine_readiness("hf").run_detail.startswith("on the CPU only: no CUDA GPU visible")


# --- evocane leaderboard --show -------------------------------------------------------------------------------------------
LEADERBOARD_HEADER = ["task", "model", "engine", "variant", "split", "metric", "stratum", "value", "ci_low", "ci_high", "n"]
# Headline rows as the demo wrote them (results/leaderboard.csv), plus rows --show must leave out: other splits,
# strata, metrics and tasks.
LEADERBOARD_ROWS = [
    ["nextbase", "markov_k10", "markov", "homology_split", "test", "bits_per_base", "nonrepeat", 1.9418, 1.94018, 1.94322, 778243],
    ["nextbase", "markov_k3", "markov", "homology_split", "test", "bits_per_base", "nonrepeat", 1.94536, 1.94384, 1.94687, 778243],
    ["nextbase", "hf-lora-tuned", "hf", "homology_split", "test", "bits_per_base", "nonrepeat", 1.94649, 1.94479, 1.94813, 779001],
    ["nextbase", "markov_k7", "markov", "homology_split", "test", "bits_per_base", "nonrepeat", 1.94162, 1.93997, 1.94304, 778243],
    ["nextbase", "markov_k10", "markov", "homology_split", "test", "delta_bits_per_base", "nonrepeat", 0.0, 0.0, 0.0, 778243],
    ["nextbase", "markov_k3", "markov", "homology_split", "test", "delta_bits_per_base", "nonrepeat", 0.003556, 0.00306, 0.004078, 778243],
    ["nextbase", "hf-lora-tuned", "hf", "homology_split", "test", "delta_bits_per_base", "nonrepeat", 0.004631, 0.003841, 0.005429, 778243],
    ["nextbase", "markov_k7", "markov", "homology_split", "test", "delta_bits_per_base", "nonrepeat", -0.000184, -0.000285, -7.6e-05, 778243],
    ["nextbase", "hf-pretrain", "hf", "thaliana_pretrain", "test", "bits_per_base", "nonrepeat", 1.96061, 1.95613, 1.96541, 73495],
    ["nextbase", "markov_k3", "markov", "homology_split", "validation", "bits_per_base", "nonrepeat", 1.8, 1.7, 1.9, 5000],
    ["nextbase", "markov_k3", "markov", "homology_split", "test", "bits_per_base", "repeat", 1.5, 1.4, 1.6, 900],
    ["nextbase", "markov_k3", "markov", "homology_split", "test", "perplexity", "nonrepeat", 3.85, 3.84, 3.86, 778243],
    ["regulatory", "markov_k3", "markov", "homology_split", "test", "auroc", "tss", 0.61, 0.58, 0.64, 400],
]


def _write_board(path: Path) -> Path:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(LEADERBOARD_HEADER)
        writer.writerows(LEADERBOARD_ROWS)
    return path


def _expected_headline(path: Path, split: str = "test") -> dict[str, list[tuple]]:
    """The independent computation: per variant, (model, engine, bits, low, high, delta, low, high, n) sorted by bits,
    from the CSV with the standard library."""
    bits: dict[tuple[str, str], tuple] = {}
    delta: dict[tuple[str, str], tuple] = {}
    with open(path) as handle:
        for row in csv.DictReader(handle):
            if row["task"] != "nextbase" or row["split"] != split or row["stratum"] != "nonrepeat":
                continue
            key = (row["variant"], row["model"])
            numbers = (float(row["value"]), float(row["ci_low"]), float(row["ci_high"]))
            if row["metric"] == "bits_per_base":
                bits[key] = (row["engine"], *numbers, int(row["n"]))
            elif row["metric"] == "delta_bits_per_base":
                delta[key] = numbers
    out: dict[str, list[tuple]] = {}
    for (variant, model), (engine, value, low, high, n) in bits.items():
        out.setdefault(variant, []).append((model, engine, value, low, high, *delta.get((variant, model), (None,) * 3), n))
    return {variant: sorted(rows, key=lambda r: r[2]) for variant, rows in sorted(out.items())}


def _parse_shown(text: str) -> dict[str, list[tuple]]:
    """The printed table back into numbers: blocks of `variant`, a header line, then one line per model; cells are
    separated by at least two spaces (a CI holds one)."""

    def interval(cell: str) -> tuple[float, float]:
        low, high = cell.strip("[]").split(", ")
        return float(low), float(high)

    shown: dict[str, list[tuple]] = {}
    for block in text.split("\n\n")[1:]:
        variant, header, *lines = block.strip("\n").splitlines()
        assert re.split(r"\s{2,}", header) == ["model", "engine", "bits/base", "CI", "Δ bits", "Δ CI", "bases"], header
        rows = []
        for line in lines:
            cells = re.split(r"\s{2,}", line)
            model, engine, value, ci, *delta_cells, n = cells
            if delta_cells == ["baseline"]:
                delta: tuple = (0.0, 0.0, 0.0)
            elif delta_cells:
                delta = (float(delta_cells[0]), *interval(delta_cells[1]))
            else:
                delta = (None, None, None)
            rows.append((model, engine, float(value), *interval(ci), *delta, int(n.replace(",", ""))))
        shown[variant] = rows
    return shown


def _assert_same(shown: dict[str, list[tuple]], expected: dict[str, list[tuple]]) -> None:
    assert list(shown) == list(expected)
    for variant in expected:
        assert [r[:2] for r in shown[variant]] == [r[:2] for r in expected[variant]], variant
        for got, want in zip(shown[variant], expected[variant]):
            assert got[8] == want[8]
            for g, w in zip(got[2:8], want[2:8]):
                assert (g is None) == (w is None), (got, want)
                if w is not None:
                    assert g == pytest.approx(w, abs=5e-5), (got, want)


def test_leaderboard_show_prints_the_headline_table(tmp_path: Path) -> None:
    board = _write_board(tmp_path / "leaderboard.csv")
    result = run_cli("leaderboard", "--show", "--csv", str(board))
    assert result.returncode == 0, result.stderr
    expected = _expected_headline(board)
    assert list(expected) == ["homology_split", "thaliana_pretrain"]
    _assert_same(_parse_shown(result.stdout), expected)
    assert max(len(line) for line in result.stdout.splitlines()) <= 100
    # the baseline's own row says so instead of +0.0000 [+0.0000, +0.0000]; a model without a difference shows none
    assert re.search(r"^markov_k10 +markov +1\.9418 +\[1\.9402, 1\.9432\] +baseline +778,243$", result.stdout, re.M)
    assert re.search(r"^markov_k7 +markov +1\.9416 +\[1\.9400, 1\.9430\] +-0\.0002 +\[-0\.0003, -0\.0001\] +778,243$", result.stdout, re.M)
    assert "5,000" not in result.stdout and "1.8000" not in result.stdout and "1.5000" not in result.stdout

    only = run_cli("leaderboard", "--show", "--csv", str(board), "--variant", "thaliana_pretrain")
    assert only.returncode == 0, only.stderr
    _assert_same(_parse_shown(only.stdout), {"thaliana_pretrain": expected["thaliana_pretrain"]})


def test_leaderboard_show_after_combining_parts_and_its_errors(tmp_path: Path) -> None:
    part = _write_board(tmp_path / "part.csv")
    combined = run_cli("leaderboard", "--parts", str(part), "--output", str(tmp_path / "board.csv"), "--show")
    assert combined.returncode == 0, combined.stderr
    _assert_same(_parse_shown(combined.stdout), _expected_headline(part))
    assert (tmp_path / "board.csv").exists()

    unknown = run_cli("leaderboard", "--show", "--csv", str(part), "--variant", "nope")
    assert unknown.returncode == 2
    assert "variant 'nope'" in unknown.stderr and "homology_split, thaliana_pretrain" in unknown.stderr
    missing = run_cli("leaderboard", "--show", cwd=tmp_path)
    assert missing.returncode == 2 and "results/leaderboard.csv: leaderboard not found" in missing.stderr
    neither = run_cli("leaderboard")
    assert neither.returncode == 2 and "--output" in neither.stderr and "--show" in neither.stderr
