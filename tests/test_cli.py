"""The `evocane` command as a user types it: every option explained, `engines` telling importable from runnable,
`leaderboard --show`, progress bars in bases; and the repository's `resources/` folder."""

from __future__ import annotations

import argparse
import ast
import csv
import io
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
