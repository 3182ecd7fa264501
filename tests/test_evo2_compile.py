"""evo2 params.compile: which batch shapes a scoring job compiles. The whole split decides (never the shard's
selection), so every shard of a split makes the same choice and shards keep gathering to the unsharded bytes; the CPU
path never compiles. (What each shape carries is checked against the batches scoring feeds in tests/test_evo2.py.)"""

from __future__ import annotations

import pytest

from evocane.engines.evo2.params import Evo2Params
from evocane.engines.evo2.scoring import shape_tokens
from evocane.errors import EvocaneError

# 8,191-base windows (8,191 tokens with BOS) fill 8,192-token batches of 8 rows: one dominant shape (partial batches
# at the ends of read groups take a few others), plus the short windows' shapes
LENGTHS = [8191] * 2_000 + [1000] * 40 + [300] * 3


def test_never_on_the_cpu_or_when_off() -> None:
    assert Evo2Params.from_mapping({"compile": "auto", "device": "cpu"}).compiled_shapes(LENGTHS, "cpu") == []
    assert Evo2Params.from_mapping({"compile": "off"}).compiled_shapes(LENGTHS, "cuda") == []


def test_auto_compiles_the_shapes_that_carry_enough_bases() -> None:
    params = Evo2Params.from_mapping({"compile": "auto", "compile_min_bases": 1_000_000})
    tokens = shape_tokens(LENGTHS, params.score_settings())
    assert tokens[(8, 8192)] > 0.99 * 2_000 * 8191 and sum(tokens.values()) == sum(LENGTHS)
    assert params.compiled_shapes(LENGTHS, "cuda") == [(8, 8192)]  # the 1 kb and 300 b shapes carry too little
    every = Evo2Params.from_mapping({"compile": "on"}).compiled_shapes(LENGTHS, "cuda")
    assert sorted(every) == sorted(tokens) and len(every) > 1
    assert Evo2Params.from_mapping({"compile": "auto", "compile_min_bases": 10**9}).compiled_shapes(LENGTHS, "cuda") == []


def test_compile_and_rotary_errors_name_the_key() -> None:
    with pytest.raises(EvocaneError, match="rotary must be one of torch, triton, got 'cuda'"):
        Evo2Params.from_mapping({"rotary": "cuda"})
    with pytest.raises(EvocaneError, match="compile must be one of"):
        Evo2Params.from_mapping({"compile": "yes"})
    with pytest.raises(EvocaneError, match="compile: on needs device cuda"):
        Evo2Params.from_mapping({"compile": "on", "device": "cpu"})


def test_a_failing_compile_names_the_shape_and_the_key() -> None:
    import torch

    from evocane.engines.evo2.scoring import shape_dispatch

    def broken_compile(module):  # type: ignore[no-untyped-def]
        def compiled(ids: torch.Tensor) -> str:
            raise RuntimeError("Inductor says no\nsecond line")

        return compiled

    forward = shape_dispatch(lambda ids: "eager", [(2, 8)], broken_compile)
    assert forward(torch.zeros(3, 8)) == "eager"  # shapes not chosen never touch the compiled path
    with pytest.raises(EvocaneError, match=r"shape \(2, 8\) \(RuntimeError: Inductor says no\).*params.compile: off"):
        forward(torch.zeros(2, 8))
