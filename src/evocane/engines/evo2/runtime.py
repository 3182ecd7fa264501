"""Importing Arc's vortex (PyPI ``vtx``) and the runtime facts the Evo 2 engine depends on.

Quirks handled here (docs/ARCHITECTURE.md, "Evo 2 engine"):

- vtx 1.1.0 imports a module named ``flash_attn_2_cuda`` unconditionally (``vortex/ops/attn_interface.py``, reached
  through the rotary embedding). Without flash-attn an empty stand-in module makes the import work; the model then
  must run with ``use_flash_attn: False`` (``torch.nn.functional.scaled_dot_product_attention``), which
  :func:`flash_attn_available` tells the config loader.
- Transformer Engine (TE) is optional: it decides whether FP8 input projections are possible (the 1B checkpoint needs
  them for correct scores).
- vortex has no CPU path (per-block ``torch.cuda.device`` and a Triton rotary kernel); :func:`require_cuda` gives the
  one clear error. :mod:`evocane.engines.evo2.cpu_shim` lifts both for tiny test models only.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import sys
import types
from functools import cache
from pathlib import Path
from typing import Any

from evocane.errors import EvocaneError

_FLASH_ATTN_MODULE = "flash_attn_2_cuda"
_STUB_MARKER = "__evocane_stub__"


def flash_attn_available() -> bool:
    """True when the real flash-attn CUDA extension is installed (checked without importing it)."""
    if _FLASH_ATTN_MODULE in sys.modules:
        return not _stub_installed()
    return importlib.util.find_spec(_FLASH_ATTN_MODULE) is not None


def _stub_installed() -> bool:
    module = sys.modules.get(_FLASH_ATTN_MODULE)
    return module is not None and getattr(module, _STUB_MARKER, False)


def _install_flash_attn_stub() -> None:
    """Register an empty ``flash_attn_2_cuda`` so vortex imports; its functions are never called because every
    config this engine builds sets ``use_flash_attn: False`` when flash-attn is absent."""
    if flash_attn_available() or _FLASH_ATTN_MODULE in sys.modules:
        return
    stub = types.ModuleType(_FLASH_ATTN_MODULE, "evocane stand-in: flash-attn is not installed")
    setattr(stub, _STUB_MARKER, True)
    sys.modules[_FLASH_ATTN_MODULE] = stub


@cache
def transformer_engine_available() -> bool:
    """True when NVIDIA Transformer Engine's PyTorch module imports (needed for FP8 input projections)."""
    try:
        importlib.import_module("transformer_engine.pytorch")
    except Exception:  # ImportError, or a broken CUDA/TE install that raises on import
        return False
    return True


def import_vortex() -> types.SimpleNamespace:
    """Import the parts of vortex the engine uses; one EvocaneError naming the package if it is missing."""
    _install_flash_attn_stub()
    first_import = "vortex.logging" not in sys.modules
    stray_log = Path("activations_debug.log")
    stray_log_existed = stray_log.exists()
    try:
        model = importlib.import_module("vortex.model.model")
        utils = importlib.import_module("vortex.model.utils")
        generation = importlib.import_module("vortex.model.generation")
        tokenizer = importlib.import_module("vortex.model.tokenizer")
        layers = importlib.import_module("vortex.model.layers")
    except ModuleNotFoundError as error:
        if error.name and (error.name.startswith("vortex") or error.name == "triton"):
            raise EvocaneError(
                f"the Evo 2 engine needs Arc's vortex (pip install 'vtx==1.1.0') and Triton; import failed: {error}"
            ) from None
        raise
    finally:
        if first_import and not stray_log_existed:
            # vortex.logging opens ./activations_debug.log at import (a debug log that stays empty unless
            # activation logging is switched on): close it and remove the empty file from the working directory
            handler = getattr(sys.modules.get("vortex.logging"), "activations_file_handler", None)
            if handler is not None:
                handler.close()
            if stray_log.exists() and stray_log.stat().st_size == 0:
                stray_log.unlink()
    return types.SimpleNamespace(
        StripedHyena=model.StripedHyena,
        AttentionBlock=model.AttentionBlock,
        ParallelGatedConvBlock=model.ParallelGatedConvBlock,
        HyenaCascade=model.HyenaCascade,
        TELinear=layers.TELinear,
        dotdict=utils.dotdict,
        load_checkpoint=utils.load_checkpoint,
        Generator=generation.Generator,
        CharLevelTokenizer=tokenizer.CharLevelTokenizer,
    )


def dependencies() -> dict[str, str]:
    """Import what the evo2 engine's jobs import (`evocane engines`): torch, peft, vortex (with Triton) and Arc's evo2
    configs; their versions, flash-attn and Transformer Engine noted as optional."""
    from evocane.engines.readiness import imported_versions

    versions = imported_versions(["torch", "peft"])
    import_vortex()
    evo2_package_dir()
    versions.update(imported_versions(["vortex", "triton"]))
    versions["evo2"] = importlib.metadata.version("evo2")
    versions["flash-attn"] = "yes" if flash_attn_available() else "absent (PyTorch SDPA instead)"
    versions["transformer-engine"] = "yes" if transformer_engine_available() else "absent (no FP8)"
    return versions


def evo2_package_dir() -> Path:
    """Directory of Arc's ``evo2`` package (its ``configs/*.yml``), found without importing it: ``import evo2``
    pulls in vortex and Triton, which the config loader does not need."""
    spec = importlib.util.find_spec("evo2")
    if spec is None or not spec.submodule_search_locations:
        raise EvocaneError("the Evo 2 engine needs Arc's evo2 package for its model configs (pip install 'evo2==0.6.0')")
    return Path(list(spec.submodule_search_locations)[0])


CACHE_VARIABLES = {"TRITON_CACHE_DIR": "triton", "TORCHINDUCTOR_CACHE_DIR": "inductor"}


def configure_caches(cache_dir: str | None) -> dict[str, str]:
    """Point Triton's kernel cache and TorchInductor's at persistent directories under ``cache_dir`` (default
    ``$XDG_CACHE_HOME/evocane``, i.e. ``~/.cache/evocane``) before anything compiles, so a scoring job does not
    compile vortex's Triton kernels (rotary; HCS/HCM/HCL with ``kernels``) or torch.compile graphs again when an
    earlier job on the same filesystem did. A variable the user already set is left alone. Returns the values in
    force."""
    base = Path(cache_dir) if cache_dir else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "evocane"
    for variable, name in CACHE_VARIABLES.items():
        if not os.environ.get(variable):
            os.environ[variable] = str(base / name)
    return {variable: os.environ[variable] for variable in CACHE_VARIABLES}


def require_cuda() -> Any:
    """The CUDA device vortex runs on, or one clear error (vortex has no CPU path)."""
    import torch

    if not torch.cuda.is_available():
        raise EvocaneError(
            "the Evo 2 engine (Arc's vortex) needs a CUDA GPU; none is visible "
            "(run the evo2 rules on a GPU node, e.g. with --profile profiles/slurm-gpu)"
        )
    return torch.device("cuda", torch.cuda.current_device())
