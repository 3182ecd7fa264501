"""Project hygiene that users rely on: the CLI lists its commands, conda envs agree with pyproject."""

from __future__ import annotations

import re
import tomllib

import yaml

from conftest import REPO, run_cli

# PyPI name -> conda-forge name where they differ
CONDA_NAMES = {"matplotlib": "matplotlib-base", "seaborn": "seaborn-base", "torch": "pytorch"}
# Needed only by the driver (Snakemake itself and its plugins), by tests, or installed separately
DRIVER_ONLY = {"snakemake", "snakemake-executor-plugin-slurm", "pygments"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement, maxsplit=1)[0].strip().lower()


def test_help_lists_commands() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("validate-config", "download", "prepare-genome", "qc", "qc-report", "homology", "train", "score", "generate", "nextbase", "leaderboard"):
        assert command in result.stdout


def test_every_runtime_dependency_is_in_a_conda_env() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    conda_packages: set[str] = set()
    for env in (REPO / "envs").glob("*.yaml"):
        for dependency in yaml.safe_load(env.read_text())["dependencies"]:
            if isinstance(dependency, str):
                conda_packages.add(_name(dependency))
            else:  # {"pip": [...]}
                conda_packages.update(_name(d) for d in dependency.get("pip", []))
    wanted = {_name(r) for r in project["dependencies"]} - DRIVER_ONLY
    missing = {name for name in wanted if CONDA_NAMES.get(name, name) not in conda_packages}
    assert not missing, f"pyproject dependencies missing from envs/*.yaml: {sorted(missing)}"


def test_every_rule_has_a_conda_env_that_exists() -> None:
    for smk in (REPO / "rules").glob("*.smk"):
        for env in re.findall(r'conda:\s*\n\s*"([^"]+)"', smk.read_text()):
            assert (smk.parent / env).resolve().exists(), f"{smk.name}: {env} not found"
