"""Run *tiny* vortex models on the CPU, for the test suite and for debugging without a GPU.

vortex needs CUDA for two reasons only: every block enters ``torch.cuda.device(...)`` (which rejects a CPU device)
and the rotary embedding is a Triton kernel. :func:`cpu_execution` lifts both while it is active: the device context
becomes a no-op for CPU devices and the rotary kernel is replaced by a plain PyTorch version of the same
formula (:func:`evocane.engines.evo2.rotary.rotary_torch`). Everything else (Hyena FIR/FFT convolutions, attention
through ``scaled_dot_product_attention``, the MLPs, ``load_checkpoint``, cached generation) is vortex's own code, unchanged.

The engine never enables this for real work (:func:`evocane.engines.evo2.runtime.require_cuda` refuses CPUs):
the CPU path is far too slow for real checkpoints and its FFTs differ from cuFFT in rounding.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import sys
import types
from collections.abc import Iterator

import torch

from evocane.engines.evo2.rotary import rotary_torch

_ROTARY_OPS_MODULE = "vortex.ops.embedding.rotary"


class _DeviceContext:
    """Stand-in for ``torch.cuda.device`` that accepts CPU devices (and does nothing for them)."""

    def __init__(self, device: object) -> None:
        self.device = device

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


@contextlib.contextmanager
def cpu_execution() -> Iterator[None]:
    """While active, vortex models can be built and run on the CPU (see the module docstring)."""
    if importlib.util.find_spec("triton") is None and _ROTARY_OPS_MODULE not in sys.modules:
        # vortex imports its Triton rotary module at import time; without Triton give it the reference instead
        stub = types.ModuleType(_ROTARY_OPS_MODULE, "evocane CPU stand-in for vortex's Triton rotary kernel")
        stub.apply_rotary = rotary_torch  # type: ignore[attr-defined]
        sys.modules[_ROTARY_OPS_MODULE] = stub
    from evocane.engines.evo2.runtime import import_vortex

    import_vortex()
    rotary = importlib.import_module("vortex.model.rotary")
    saved_rotary = rotary.apply_rotary
    saved_device = torch.cuda.device
    rotary.apply_rotary = rotary_torch
    torch.cuda.device = _DeviceContext  # type: ignore[misc, assignment]
    try:
        yield
    finally:
        rotary.apply_rotary = saved_rotary
        torch.cuda.device = saved_device  # type: ignore[misc]
