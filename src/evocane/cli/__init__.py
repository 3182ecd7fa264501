"""`evocane <command>`: every workflow step, runnable by hand. Rules call these commands.

One module per room registers its commands with :func:`command` (evocane.cli.genome, .dataset, .engines,
.evo2, .bionemo, .evaluate, .tasks, .hpo, .benchmark, .report). Commands that read configuration take it through
:func:`add_config_arguments` / :func:`config_from_args`: by hand, config files (merged and validated like
Snakemake's ``--configfiles``); in the workflow, the one resolved job config the rule was planned with
(``--job-config``, written by :func:`evocane.config.write_job_config`).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from evocane import __version__
from evocane.errors import EvocaneError

Command = Callable[[argparse.Namespace], None]
COMMANDS: dict[str, tuple[str, Command, Callable[[argparse.ArgumentParser], None]]] = {}
ROOM_MODULES = (
    "evocane.cli.genome",
    "evocane.cli.dataset",
    "evocane.cli.engines",
    "evocane.cli.evo2",
    "evocane.cli.bionemo",
    "evocane.cli.evaluate",
    "evocane.cli.tasks",
    "evocane.cli.hpo",
    "evocane.cli.benchmark",
    "evocane.cli.report",
)


def command(name: str, help_text: str, arguments: Callable[[argparse.ArgumentParser], None]) -> Callable[[Command], Command]:
    """Register ``function`` as ``evocane <name>``; ``arguments`` adds its options to the sub-parser."""

    def register(function: Command) -> Command:
        COMMANDS[name] = (help_text, function, arguments)
        return function

    return register


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """--config FILE... (by hand) or --job-config FILE (the workflow's resolved configuration), not both."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--config",
        "-c",
        nargs="+",
        default=None,
        metavar="FILE",
        help="config YAML file(s), later ones merged over earlier ones as Snakemake merges --configfiles "
        "(default: config/config.yaml)",
    )
    group.add_argument(
        "--job-config",
        type=Path,
        default=None,
        metavar="FILE",
        help="resolved job configuration written by the workflow (results/config/<sha256>.json): used as it is, "
        "no files re-read",
    )


def config_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The configuration a command runs with: the job config the workflow planned, or the validated merge of the
    config files given by hand."""
    from evocane.config import load_config, load_job_config

    if getattr(args, "job_config", None) is not None:
        return load_job_config(args.job_config)
    return load_config(*(args.config or ["config/config.yaml"]))


# --- configuration -----------------------------------------------------------------------------------------------
def _validate_args(p: argparse.ArgumentParser) -> None:
    add_config_arguments(p)
    p.add_argument("--print", action="store_true", help="print the validated config with defaults filled")


@command("validate-config", "validate config file(s) against config/schema.yaml", _validate_args)
def _validate(args: argparse.Namespace) -> None:
    import yaml

    config = config_from_args(args)
    if args.print:
        yaml.safe_dump(config, sys.stdout, sort_keys=False)
    else:
        source = args.job_config or ", ".join(args.config or ["config/config.yaml"])
        print(f"{source}: valid ({len(config.get('cultivars', {}))} cultivars)")


# --- set-up --------------------------------------------------------------------------------------------------------
def _install_profiles_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--source", type=Path, default=None,
                   help="the project's profiles/ directory (default: the one of this checkout)")
    p.add_argument("--target", type=Path, default=None,
                   help="where to link them (default: Snakemake's user config directory, $XDG_CONFIG_HOME/snakemake "
                   "or ~/.config/snakemake, where `snakemake --profile NAME` looks)")
    p.add_argument("--profiles", nargs="+", default=None, metavar="NAME",
                   help="profiles to link (default: local slurm-gpu)")


@command("install-profiles", "link profiles/local and profiles/slurm-gpu where `snakemake --profile NAME` finds them "
         "(a profile of yours with that name is left alone)", _install_profiles_args)  # fmt: skip
def _install_profiles(args: argparse.Namespace) -> None:
    from evocane.profiles import INSTALLED_PROFILES, install_profiles, project_profiles_dir, snakemake_user_profile_dir

    source = args.source or project_profiles_dir()
    target = args.target or snakemake_user_profile_dir()
    for link in install_profiles(source, target, args.profiles or INSTALLED_PROFILES):
        print(f"evocane profiles: {link.message}")


# --- entry point ---------------------------------------------------------------------------------------------------
def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser of every command; given ``argv``, only the command it names gets its options (some options are
    derived from modules that take a while to import, and a workflow job runs one command)."""
    parser = argparse.ArgumentParser(prog="evocane", description=__doc__)
    parser.add_argument("--version", action="version", version=f"evocane {__version__}")
    parser.add_argument("--verbose", "-v", action="store_true", help="debug-level log messages")
    sub = parser.add_subparsers(dest="command", metavar="<command>", required=True)
    _load_rooms()
    chosen = next((word for word in argv if word in COMMANDS), None) if argv is not None else None
    for name, (help_text, _, arguments) in COMMANDS.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        if chosen is None or name == chosen:
            arguments(command_parser)
    return parser


def _load_rooms() -> None:
    """Import every room's command module (each keeps its heavy imports inside its commands)."""
    for module in ROOM_MODULES:
        importlib.import_module(module)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(argv).parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        COMMANDS[args.command][1](args)
    except EvocaneError as error:
        print(f"evocane: error: {error}", file=sys.stderr)
        return 2
    except MemoryError:
        print(f"evocane: error: {args.command}: out of memory (give the job more memory, or smaller inputs)", file=sys.stderr)
        return 2
    except OSError as error:  # disk full, file too large (ulimit -f), is a directory, permission denied ...
        print(f"evocane: error: {args.command}: {_os_error_where(error, args)}{error.strerror or error}", file=sys.stderr)
        return 2
    return 0


def _os_error_where(error: OSError, args: argparse.Namespace) -> str:
    """The file an OSError is about, quoted: the one it names, else the command's output (a failed write names
    no file)."""
    if error.filename is not None:
        target = f" -> '{error.filename2}'" if error.filename2 is not None else ""
        return f"'{error.filename}'{target}: "
    for name in ("out", "output", "out_dir"):
        output = getattr(args, name, None)
        if output is not None:
            return f"writing '{output}': "
    return ""
