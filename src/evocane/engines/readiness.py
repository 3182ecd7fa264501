"""Whether each registered engine can be used on this machine (`evocane engines`): *importable* = the engine's class
and its Python dependencies import here; *runnable here* = importable and the machine has what the engine runs on
(registry field ``runs_on``): ``cpu`` always, ``cpu_or_cuda`` always (on a CUDA GPU when one is visible), ``cuda`` a
visible CUDA GPU, ``container`` apptainer or singularity on PATH (the engine's heavy code runs in a container)."""

from __future__ import annotations

import dataclasses
import functools
import importlib
import importlib.metadata
import shutil
from collections.abc import Sequence

from evocane.engines.base import engine_entry, engine_names, get_engine
from evocane.errors import EvocaneError

RUNS_ON = ("cpu", "cpu_or_cuda", "cuda", "container")
CONTAINER_RUNTIMES = ("apptainer", "singularity")


@dataclasses.dataclass(frozen=True)
class EngineReadiness:
    engine: str
    importable: bool
    import_detail: str  # the versions that imported, or the import error
    runnable: bool
    run_detail: str  # where it runs here, or what is missing


def imported_versions(modules: Sequence[str]) -> dict[str, str]:
    """Import ``modules`` in order (an ImportError names the first missing one); their distributions' versions."""
    versions = {}
    for name in modules:
        importlib.import_module(name)
        top = name.split(".")[0]
        distributions = _distributions().get(top, [top])
        try:
            versions[distributions[0]] = importlib.metadata.version(distributions[0])
        except importlib.metadata.PackageNotFoundError:
            versions[top] = "?"
    return versions


@functools.cache
def _distributions() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()  # type: ignore[return-value]


def cuda_device() -> tuple[str | None, str]:
    """(the first visible CUDA GPU's name, "") or (None, why none is visible)."""
    try:
        import torch
    except Exception as error:  # ImportError, or a torch whose CUDA libraries fail to load
        return None, f"torch does not import ({_first_line(error)})"
    if torch.version.cuda is None:
        return None, f"torch {torch.__version__} is a CPU-only build"
    if not torch.cuda.is_available():
        return None, f"torch {torch.__version__} (CUDA {torch.version.cuda}) sees no GPU: no driver, or CUDA_VISIBLE_DEVICES hides them"
    count = torch.cuda.device_count()
    return f"{torch.cuda.get_device_name(0)}{f' (+{count - 1} more)' if count > 1 else ''}", ""


def container_runtime() -> str | None:
    """Path of apptainer (or singularity) on PATH, else None."""
    for name in CONTAINER_RUNTIMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def engine_readiness(name: str) -> EngineReadiness:
    entry = engine_entry(name)
    if entry.runs_on not in RUNS_ON:
        raise ValueError(f"engine '{name}': runs_on {entry.runs_on!r} is not one of {RUNS_ON}")
    importable, import_detail = _import_status(name)
    where_ok, where = _where_it_runs(entry.runs_on)
    if not importable:
        return EngineReadiness(name, False, import_detail, False, f"its Python dependencies do not import (above); {where}")
    return EngineReadiness(name, True, import_detail, where_ok, where)


def all_engines() -> list[EngineReadiness]:
    return [engine_readiness(name) for name in engine_names()]


def _import_status(name: str) -> tuple[bool, str]:
    entry = engine_entry(name)
    try:
        engine = get_engine(name)
        versions = {}
        if entry.dependencies:
            module_name, _, function_name = entry.dependencies.partition(":")
            versions = getattr(importlib.import_module(module_name), function_name)()
    except Exception as error:  # a missing module, or a dependency that fails while importing (CUDA libraries, ...)
        return False, _first_line(error)
    detail = ", ".join(f"{package} {version}" for package, version in versions.items())
    return True, detail or f"{type(engine).__name__} needs nothing beyond evocane's own dependencies"


def _where_it_runs(runs_on: str) -> tuple[bool, str]:
    if runs_on == "cpu":
        return True, "on the CPU"
    if runs_on == "container":
        runtime = container_runtime()
        if runtime is None:
            return False, "needs apptainer or singularity on PATH (its tools run in a container); neither found"
        return True, f"through {runtime} (its tools run in the container, GPU steps on GPU nodes)"
    gpu, why_not = cuda_device()
    if gpu is not None:
        return True, f"on CUDA GPU {gpu}"
    if runs_on == "cuda":
        return False, f"needs a CUDA GPU, none visible ({why_not})"
    return True, f"on the CPU only: no CUDA GPU visible ({why_not})"


def _first_line(error: BaseException) -> str:
    """An EvocaneError's message as it is (it names what to install); other errors with their type."""
    text = str(error).strip().splitlines()
    message = text[0] if text else ""
    return message if isinstance(error, EvocaneError) else f"{type(error).__name__}: {message}".rstrip(": ")
