"""The `evocane` command as a user types it: every option explained, `engines` telling importable from runnable,
`leaderboard --show`, progress bars in bases; and the repository's `resources/` folder."""

from __future__ import annotations

import argparse
import ast
import csv
import importlib.util
import io
import json
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
