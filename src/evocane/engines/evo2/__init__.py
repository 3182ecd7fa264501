"""Evo 2 on one GPU through Arc's own model code (PyPI ``vtx`` = vortex, configs from PyPI ``evo2``).

Modules: ``runtime`` (importing vortex without flash-attn, TE and CUDA checks), ``configs`` (Arc's models and the
FP8/bf16 decision), ``model`` (build, random init, load, re-materialise for training, checkpointed forward),
``checkpoint`` (locating weights, Arc's ``.pt`` layout), ``tokens`` (upper-casing, BOS, sliding windows),
``pipeline``/``scoring``/``embeddings`` (GPU-bound batched inference into the prediction contract), ``generation``,
``lora`` and ``training`` (full and LoRA fine-tuning), ``params`` (the model entry's ``params:``), ``engine``
(:class:`Evo2Engine`, the engine interface), ``cli`` (``evocane evo2-embed``), ``cpu_shim`` (tiny models on a CPU
for the tests). vortex is imported only when a model is built.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Evo2Engine"]


def __getattr__(name: str) -> Any:
    """Import the engine (torch, peft) only when it is used: the CLI module and the params stay light."""
    if name == "Evo2Engine":
        from evocane.engines.evo2.engine import Evo2Engine

        return Evo2Engine
    raise AttributeError(name)
