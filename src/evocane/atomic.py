"""Atomic outputs: a file or directory appears under its final name only once it is complete.

Every writer in evocane goes through these helpers, so an interrupted or failed step never leaves a partial output
that a later step (or Snakemake) could mistake for a finished one; the temporary a killed writer left behind is
removed when the output is written again. A final name that is a directory where a file is meant is refused
before anything is written, and an OSError without a file name raised while writing (disk full, file too large
under ``ulimit -f``) is given the final name, so the CLI's one error line says which output failed.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from evocane.errors import EvocaneError


def _refuse_directory(path: Path) -> None:
    if path.is_dir():
        raise EvocaneError(f"{path}: is a directory, cannot write a file there")


def _named(error: OSError, path: Path) -> OSError:
    """``error`` naming ``path`` when it names no file (a failed write reports only its errno)."""
    if error.filename is not None or error.errno is None:
        return error
    return OSError(error.errno, error.strerror or str(error), str(path))


def _temp_sibling(path: Path, is_dir: bool) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{path.name}.tmp-"
    # a writer of this output killed earlier (SIGKILL, a lost node) left its temporary behind: one writer per output
    for stale in path.parent.glob(f"{glob.escape(prefix)}*"):
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)
    if is_dir:
        return Path(tempfile.mkdtemp(prefix=prefix, dir=path.parent))
    fd, name = tempfile.mkstemp(prefix=prefix, dir=path.parent)
    os.close(fd)
    return Path(name)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path in the same directory; rename it onto ``path`` only if the block succeeds."""
    final = Path(path)
    _refuse_directory(final)
    temp = _temp_sibling(final, is_dir=False)
    try:
        yield temp
        os.chmod(temp, 0o644)
        os.replace(temp, final)
    except OSError as error:
        raise _named(error, final) from None
    finally:
        if temp.exists():
            temp.unlink()


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Like :func:`atomic_path` for a directory: an existing directory at ``path`` is replaced whole."""
    final = Path(path)
    if final.exists() and not final.is_dir():
        raise EvocaneError(f"{final}: is a file, cannot write a directory there")
    temp = _temp_sibling(final, is_dir=True)
    try:
        yield temp
        os.chmod(temp, 0o755)
        if final.exists():
            shutil.rmtree(final)
        os.replace(temp, final)
    except OSError as error:
        raise _named(error, final) from None
    finally:
        if temp.exists():
            shutil.rmtree(temp)


@contextlib.contextmanager
def atomic_paths(*paths: str | os.PathLike[str]) -> Iterator[list[Path]]:
    """Several files that must appear together (e.g. a FASTA and its indexes): all or none."""
    finals = [Path(p) for p in paths]
    for final in finals:
        _refuse_directory(final)
    temps = [_temp_sibling(p, is_dir=False) for p in finals]
    try:
        yield temps
        for temp, final in zip(temps, finals):
            os.chmod(temp, 0o644)
            os.replace(temp, final)
    except BaseException as error:
        for final in finals:
            if final.exists():
                final.unlink()
        if isinstance(error, OSError):
            raise _named(error, finals[0].parent) from None
        raise
    finally:
        for temp in temps:
            if temp.exists():
                temp.unlink()
