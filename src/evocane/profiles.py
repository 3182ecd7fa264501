"""Make the project's Snakemake profiles findable by bare name (`snakemake --profile slurm-gpu`).

Snakemake 9 resolves a ``--profile`` value that is not an existing path as a directory of that name in, in order,
the current directory, its user config directory and its site config directory (``snakemake.cli.get_profile_dir``;
directories from ``snakemake.common.get_appdirs`` = ``platformdirs.AppDirs("snakemake", "snakemake")``, on Linux
``$XDG_CONFIG_HOME/snakemake`` (default ``~/.config/snakemake``), then the first entry of ``$XDG_CONFIG_DIRS``
(default ``/etc/xdg/snakemake``)). It never looks in the workflow's ``profiles/`` for ``--profile`` (only
``--workflow-profile`` does). So :func:`install_profiles` links ``profiles/<name>`` into the user config directory.
A directory, file or foreign link already there is the user's own profile and stays as it is; a link made here
earlier (to some evocane checkout's ``profiles/<name>``, or to nothing any more) is pointed at this checkout.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

from evocane.errors import EvocaneError

INSTALLED_PROFILES = ("local", "slurm-gpu")


@dataclasses.dataclass(frozen=True)
class ProfileLink:
    name: str
    path: Path  # where Snakemake looks for the name
    action: str  # linked | refreshed | up to date | kept
    message: str  # one line for the user


def snakemake_user_profile_dir() -> Path:
    """The user config directory Snakemake searches for profile names, asked from Snakemake itself."""
    from snakemake.common import get_appdirs

    return Path(get_appdirs().user_config_dir)


def project_profiles_dir() -> Path:
    """``profiles/`` of the checkout this package runs from (an editable install or ``src/`` on the path), else of the
    current directory."""
    for candidate in (Path(__file__).resolve().parents[2] / "profiles", Path.cwd() / "profiles"):
        if (candidate / "local" / "config.yaml").is_file():
            return candidate
    raise EvocaneError("profiles/: not found next to the evocane package nor in the current directory (give --source)")


def install_profiles(source: Path, target: Path, names: Sequence[str] = INSTALLED_PROFILES) -> list[ProfileLink]:
    """Link ``source/<name>`` as ``target/<name>`` for each name; never replaces the user's own profile."""
    source = source.resolve()
    for name in names:
        if not (source / name / "config.yaml").is_file():
            raise EvocaneError(f"{source / name}: not a profile (no config.yaml)")
    target.mkdir(parents=True, exist_ok=True)
    return [_link(name, source / name, target / name) for name in names]


def _link(name: str, profile: Path, path: Path) -> ProfileLink:
    if path.is_symlink():
        pointed = Path(os.readlink(path))
        pointed = pointed if pointed.is_absolute() else path.parent / pointed
        if pointed.resolve() == profile:
            return ProfileLink(name, path, "up to date", f"up to date  {path} -> {profile}")
        if _made_by_us(name, pointed):
            _replace_link(path, profile)
            return ProfileLink(name, path, "refreshed", f"refreshed   {path} -> {profile} (was -> {pointed})")
        return _kept(name, path, profile, f"a link to {pointed}")
    if path.exists():
        return _kept(name, path, profile, "a directory" if path.is_dir() else "a file")
    path.symlink_to(profile, target_is_directory=True)
    return ProfileLink(name, path, "linked", f"linked      {path} -> {profile}")


def _kept(name: str, path: Path, profile: Path, what: str) -> ProfileLink:
    return ProfileLink(
        name, path, "kept",
        f"kept        {path}: your own profile ({what}) stays; for evocane's use --profile {profile}",
    )  # fmt: skip


def _made_by_us(name: str, pointed: Path) -> bool:
    """A link to ``<checkout>/profiles/<name>`` of an evocane checkout, or a dangling link to ``.../profiles/<name>``."""
    if pointed.name != name or pointed.parent.name != "profiles":
        return False
    if not pointed.exists():
        return True
    return (pointed.parent.parent / "src" / "evocane" / "profiles.py").is_file()


def _replace_link(path: Path, profile: Path) -> None:
    """Point the link at ``profile`` in one rename, so Snakemake never sees it missing."""
    temporary = path.with_name(f".{path.name}.evocane-{os.getpid()}")
    if temporary.is_symlink() or temporary.exists():
        temporary.unlink()
    temporary.symlink_to(profile, target_is_directory=True)
    os.replace(temporary, path)
