"""Engines room: one interface (train, score, generate) over every model backend, and the registry that maps a
model's ``engine:`` to its implementation. See :mod:`evocane.engines.base`."""

from evocane.engines.base import (
    Engine,
    ModelConfig,
    Prompt,
    SamplingConfig,
    engine_names,
    get_engine,
    register_engine,
)

__all__ = ["Engine", "ModelConfig", "Prompt", "SamplingConfig", "engine_names", "get_engine", "register_engine"]
