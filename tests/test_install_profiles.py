"""`snakemake --profile slurm-gpu` by bare name after the README's set-up (`make install`, which runs `make profiles`
= `evocane install-profiles`): the project's profiles are linked into Snakemake's user config directory
(XDG_CONFIG_HOME/snakemake), a profile of the user's with the same name is left as it is, and a link made earlier is
pointed at this checkout."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, run_cli
from test_slurm_profile import SHIM_DIR, describe, subprocess_environment

PROFILES = REPO / "profiles"


def _user_profile(directory: Path, text: str = "cores: 3\n") -> Path:
    directory.mkdir(parents=True)
    (directory / "config.yaml").write_text(text)
    (directory / "notes.txt").write_text("mine\n")
    return directory


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_links_profiles_keeps_the_users_own_and_refreshes_earlier_links(tmp_path: Path) -> None:
    from evocane.profiles import install_profiles

    target = tmp_path / "xdg" / "snakemake"
    mine = _user_profile(target / "local")
    before = _snapshot(mine)
    # a link made from a clone that has since been deleted
    target.joinpath("slurm-gpu").symlink_to(tmp_path / "deleted-clone" / "profiles" / "slurm-gpu")

    links = {link.name: link for link in install_profiles(PROFILES, target)}
    assert links["local"].action == "kept"
    assert links["local"].message == (
        f"kept        {target / 'local'}: your own profile (a directory) stays; for evocane's use --profile "
        f"{PROFILES / 'local'}"
    )
    assert not mine.is_symlink() and _snapshot(mine) == before
    assert links["slurm-gpu"].action == "refreshed"
    assert (target / "slurm-gpu").resolve() == PROFILES / "slurm-gpu"
    assert f"(was -> {tmp_path / 'deleted-clone' / 'profiles' / 'slurm-gpu'})" in links["slurm-gpu"].message

    again = {link.name: link.action for link in install_profiles(PROFILES, target)}
    assert again == {"local": "kept", "slurm-gpu": "up to date"}

    # a link into another evocane checkout is ours: pointed here; a link anywhere else is the user's: kept
    other_clone = tmp_path / "other-clone"
    (other_clone / "profiles" / "slurm-gpu").mkdir(parents=True)
    (other_clone / "src" / "evocane").mkdir(parents=True)
    (other_clone / "src" / "evocane" / "profiles.py").write_text("")
    (target / "slurm-gpu").unlink()
    (target / "slurm-gpu").symlink_to(other_clone / "profiles" / "slurm-gpu")
    assert install_profiles(PROFILES, target, ["slurm-gpu"])[0].action == "refreshed"
    assert (target / "slurm-gpu").resolve() == PROFILES / "slurm-gpu"
    own_elsewhere = _user_profile(tmp_path / "my-profiles" / "slurm-gpu")
    (target / "slurm-gpu").unlink()
    (target / "slurm-gpu").symlink_to(own_elsewhere)
    (kept,) = install_profiles(PROFILES, target, ["slurm-gpu"])
    assert kept.action == "kept" and f"a link to {own_elsewhere}" in kept.message
    assert (target / "slurm-gpu").resolve() == own_elsewhere

    with pytest.raises(Exception, match="not a profile"):
        install_profiles(PROFILES, target, ["nonexistent"])


def test_install_profiles_targets_snakemakes_user_config_dir(tmp_path: Path) -> None:
    """The command's default target is where Snakemake looks: $XDG_CONFIG_HOME/snakemake."""
    code = "from snakemake.common import get_appdirs; print(get_appdirs().user_config_dir)"
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "xdg"), "HOME": str(tmp_path)}
    asked = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert Path(asked.stdout.strip()) == tmp_path / "xdg" / "snakemake"
    result = subprocess.run([sys.executable, "-m", "evocane.cli", "install-profiles"], env=env, capture_output=True,
                            text=True, cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "xdg" / "snakemake").iterdir()) == ["local", "slurm-gpu"]
    assert result.stdout.count("evocane profiles: linked") == 2
    assert run_cli("install-profiles", "--help").returncode == 0


def _set_up(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The README's set-up: `make install` runs `make profiles`; here with this interpreter's venv taken as installed."""
    venv = Path(sys.prefix)
    if shutil.which("make") is None or not (venv / "bin" / "evocane").exists():
        pytest.skip("needs make and an evocane venv (the README's set-up)")
    planned = subprocess.run(["make", "-n", "-o", f"{venv}/.installed", "install", f"VENV={venv}"], cwd=REPO, env=env,
                             capture_output=True, text=True, check=True)  # fmt: skip
    assert f"{venv}/bin/evocane install-profiles" in planned.stdout.splitlines()
    return subprocess.run(["make", "-o", f"{venv}/.installed", "profiles", f"VENV={venv}"], cwd=REPO, env=env,
                          capture_output=True, text=True)  # fmt: skip


def test_bare_profile_names_plan_the_workflow_after_set_up(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = subprocess_environment(XDG_CONFIG_HOME=str(home / ".config"), HOME=str(home))
    work = tmp_path / "work"  # a copy of the checkout's demo config; the Snakefile from the checkout
    (work / "config").mkdir(parents=True)
    shutil.copy(REPO / "config" / "config.yaml", work / "config" / "config.yaml")
    snakefile = ["--snakefile", str(REPO / "Snakefile")]

    before = subprocess.run([sys.executable, "-m", "snakemake", *snakefile, "-n", "--profile", "slurm-gpu"],
                            cwd=work, env=env, capture_output=True, text=True)  # fmt: skip
    assert before.returncode != 0 and "no profile.yaml (or config.yaml) found" in before.stderr

    set_up = _set_up(env)
    assert set_up.returncode == 0, set_up.stderr
    assert "evocane profiles: linked" in set_up.stdout
    assert (home / ".config" / "snakemake" / "slurm-gpu").resolve() == PROFILES / "slurm-gpu"

    for profile in ("slurm-gpu", "local"):
        result = subprocess.run([sys.executable, "-m", "snakemake", *snakefile, "-n", "--profile", profile],
                                cwd=work, env=env, capture_output=True, text=True)  # fmt: skip
        assert result.returncode == 0, describe(result)
        assert f"Using profile {profile} for setting default command line arguments." in result.stdout + result.stderr
        assert "rule all:" in result.stdout or "localrule all:" in result.stdout

    # The design card's command as typed: the sugarcane config needs apptainer on the submit host even to plan (its
    # BioNeMo rules run in a container); the test's apptainer stand-in answers --version.
    sugarcane_env = {**env, "PATH": f"{SHIM_DIR}{os.pathsep}{env['PATH']}", "EVOCANE_APPTAINER_LOG": str(tmp_path / "apptainer.jsonl")}
    result = subprocess.run([sys.executable, "-m", "snakemake", *snakefile, "-n", "--profile", "slurm-gpu",
                             "--configfile", str(REPO / "config" / "sugarcane.yaml")],
                            cwd=work, env=sugarcane_env, capture_output=True, text=True)  # fmt: skip
    assert result.returncode == 0, describe(result)
    assert "bionemo_train" in result.stdout


def test_set_up_leaves_a_users_profile_of_the_same_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    mine = _user_profile(home / ".config" / "snakemake" / "local", "cores: 1\nkeep-going: true\n")
    before = _snapshot(mine)
    env = subprocess_environment(XDG_CONFIG_HOME=str(home / ".config"), HOME=str(home))
    set_up = _set_up(env)
    assert set_up.returncode == 0, set_up.stderr
    kept = [line for line in set_up.stdout.splitlines() if line.startswith("evocane profiles: kept")]
    assert kept == [f"evocane profiles: kept        {mine}: your own profile (a directory) stays; for evocane's use "
                    f"--profile {PROFILES / 'local'}"]  # fmt: skip
    assert _snapshot(mine) == before and not mine.is_symlink()

    # Snakemake resolves the linked slurm-gpu's relative partitions.yaml in the link's directory
    import snakemake.common
    from snakemake.cli import parse_args

    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setattr(snakemake.common, "APPDIRS", None)
    monkeypatch.chdir(tmp_path)
    _, args = parse_args(["--profile", "slurm-gpu", "-n"])
    partitions = Path(args.slurm_partition_config)
    assert partitions == home / ".config" / "snakemake" / "slurm-gpu" / "partitions.yaml" and partitions.is_file()
    _, args = parse_args(["--profile", "local", "-n"])
    assert args.keep_going is True  # the user's own local profile, not the project's
