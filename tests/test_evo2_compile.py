"""evo2 params.compile: which scoring jobs compile. The whole split decides (never the shard's selection), so every
shard of a split makes the same choice and shards keep gathering to the unsharded bytes; the CPU path never compiles."""

from __future__ import annotations

import pytest

from evocane.engines.evo2.params import Evo2Params
from evocane.errors import EvocaneError


def test_off_by_default_and_never_on_the_cpu() -> None:
    assert not Evo2Params.from_mapping({}).compiles(10**10, "cuda")
    assert not Evo2Params.from_mapping({"compile": "auto", "device": "cpu"}).compiles(10**10, "cpu")


def test_auto_compiles_splits_from_the_threshold_on() -> None:
    params = Evo2Params.from_mapping({"compile": "auto", "compile_min_bases": 1_000_000})
    assert [params.compiles(n, "cuda") for n in (999_999, 1_000_000, 5_000_000)] == [False, True, True]
    assert Evo2Params.from_mapping({"compile": "on"}).compiles(1, "cuda")


def test_compile_errors_name_the_key() -> None:
    with pytest.raises(EvocaneError, match="compile must be one of"):
        Evo2Params.from_mapping({"compile": "yes"})
    with pytest.raises(EvocaneError, match="compile: on needs device cuda"):
        Evo2Params.from_mapping({"compile": "on", "device": "cpu"})
