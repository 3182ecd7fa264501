"""Evo 2 through Arc's vortex on one GPU: evocane's engine side by side with the raw model, in one process.

Random-initialised StripedHyena models of the real Evo 2 1B and 7B shapes (Arc's evo2-1b-8k / evo2-7b-8k configs,
bf16, stable random long filters), since real weights cannot be downloaded here. For each size:

  raw_forward          model(ids) under inference_mode, batch 8 x 8,192 tokens: the reference for scoring
  arc_score_sequences  Arc's evo2.scoring.score_sequences at its defaults (batch 1, no BOS, mean): one number
                       per sequence, on 8,192-base sequences
  evocane_equal        `score_split` end to end: windows of 8,192 bases read from a dataset export on disk,
                       per-base predictions written (prediction contract), BOS + 8,191 bases per model call
  evocane_mixed        the same with a realistic mix of window lengths (log-normal, 200-8,192)
  evocane_chromosome   one chromosome-sized window, sliding windows of 8,192 with 512 overlap
  evocane_kernels      evocane_equal with vortex's Triton HCS/HCM/HCL kernels, and the score difference
  raw_train_step       full-parameter forward + backward + AdamW step, no checkpointing, batch 1 x 8,192
  evocane_lora         evocane's LoRA fine-tuning step (per-block activation checkpointing), 8,192 tokens
  evocane_full         evocane's full fine-tuning step (fp32 master weights, checkpointing), 8,192 tokens
  evocane_lora_65536   (7B) LoRA at 65,536 tokens

Every figure: tokens (or bases) per second, median of the timed repetitions, and peak GPU memory allocated by
PyTorch. Results go to one JSON file, rewritten after every measurement (a later failure keeps the earlier ones).

    python bench/bench_evo2.py --out results.json [--sizes 1b 7b] [--quick]

``--suite issue15`` (genome scale; same random models, side by side in one process, the card in "environment"):

  issue15_shards                 a mixed-length split scored whole and as 2 shards + gather: bytes equal per file,
                                 wall seconds of each, the speed-up on 2 GPUs and the shards' overhead
  issue15_cold_process           `evocane score` in fresh processes on >= 1 Mb of mixed windows (the workflow's own
                                 command: CUDA init, model build, first shapes), as it is, again (persistent Triton
                                 cache warm), with params.warmup and with fixed_shapes off (twice), against the
                                 warm raw forward on the same batches; and whether two processes wrote the same bytes
  issue15_cold_compile           the same on a split as the workflow makes it (windows of one length, 5 % shorter):
                                 eager, compile: auto (its full-batch shape compiled) with an empty and a filled
                                 compile cache, and as 2 compiled shards gathered (bytes equal to unsharded?)
  issue15_short_window_training  LoRA tokens/s on 1 kb windows under seq_length 8,192: micro-batch 1 vs
                                 micro_batch_tokens 8,192, against 8 kb windows
  issue15_generation             evocane's sampler vs Arc's Evo2.generate (vortex Generator) at batch 1 and batched
                                 (8 prompts x 2 samples), ms per token; batched rows identical to batch 1?
  issue15_exactness              default bf16 path vs vortex's Triton kernels vs torch.compile vs an fp32 copy, on the
                                 same weights: max |delta p|, mean |delta log p| (vs default and vs fp32), speed vs raw

    python bench/bench_evo2.py --suite issue15 --out r.json --sizes 1b [--only issue15_shards ...]
    python bench/bench_evo2.py --suite issue15 --dry-run --out r.json    # the tiny model on the CPU: checks the code
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import math
import statistics
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from evocane.dataset.arrays import WINDOW_COLUMNS, SplitArrayWriter  # noqa: E402
from evocane.engines.evo2.configs import resolve_config  # noqa: E402
from evocane.engines.evo2.model import build_model  # noqa: E402
from evocane.engines.evo2.params import Evo2Params  # noqa: E402
from evocane.engines.evo2.scoring import ScoreSettings, score_split  # noqa: E402

logging.basicConfig(level=logging.WARNING)
L = 8192
RESULTS: dict[str, Any] = {}
ONLY: set[str] = set()  # --only: run just these measurements


def save(path: Path) -> None:
    path.write_text(json.dumps(RESULTS, indent=2, default=str) + "\n")


def record(path: Path, size: str, name: str, function: Any) -> Any:
    """Run one measurement; keep its figures or its error, never stop the run."""
    if ONLY and name not in ONLY:
        return None
    reset()
    started = time.perf_counter()
    try:
        value = function()
        entry = value if isinstance(value, dict) else {"value": value}
    except Exception as error:  # OOM and friends are results too
        entry = {"error": f"{type(error).__name__}: {error}"[:600], "traceback": traceback.format_exc()[-1500:]}
        value = None
    entry["wall_seconds"] = round(time.perf_counter() - started, 1)
    RESULTS.setdefault(size, {})[name] = entry
    save(path)
    print(f"[{size}] {name}: {json.dumps({k: v for k, v in entry.items() if k != 'traceback'}, default=str)}", flush=True)
    reset()
    return value


DRY_RUN = False  # --dry-run: the tiny model on the CPU (evocane.engines.evo2.cpu_shim), small data: checks the code


def device() -> torch.device:
    return torch.device("cpu") if DRY_RUN else torch.device("cuda")


def sync() -> None:
    if not DRY_RUN:
        torch.cuda.synchronize()


def reset() -> None:
    gc.collect()
    if not DRY_RUN:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def peak_gib() -> float:
    return 0.0 if DRY_RUN else round(torch.cuda.max_memory_allocated() / 2**30, 2)


def timed(function: Any, repeats: int, warmup: int = 1) -> list[float]:
    for _ in range(warmup):
        function()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        sync()
        times.append(time.perf_counter() - start)
    return times


def random_bases(rng: np.random.Generator, n: int) -> np.ndarray:
    """A/C/G/T with soft-masked (lower-case) runs over ~20 % and a few N runs, as a soft-masked assembly."""
    bases = np.frombuffer(b"ACGT", dtype=np.uint8)[rng.integers(0, 4, n)].copy()
    for start in rng.integers(0, max(1, n - 2000), max(1, n // 10_000)):
        bases[start : start + 2000] += 32  # lower case
    for start in rng.integers(0, max(1, n - 50), max(1, n // 200_000)):
        bases[start : start + 50] = ord("N")
    return bases


def make_dataset(root: Path, splits: dict[str, list[int]], seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    rows = []
    for split, lengths in splits.items():
        writer = SplitArrayWriter(root, split)
        for index, length in enumerate(lengths):
            window = random_bases(rng, length)
            codes = np.where(np.isin(window, list(b"ACGT")), 2, np.where(np.isin(window, list(b"acgt")), 1, 0)).astype(np.uint8)
            offset = writer.append(window, np.zeros(length, np.uint8), codes)
            rows.append({"window_id": f"{split}_{index}", "cultivar": "x", "chrom": "c", "start": 0, "end": length, "strand": "+",
                         "split": split, "homology_group": "1", "homology_group2": "", "haplotype": "A", "offset": offset,
                         "length": length, "prefix_length": 0})  # fmt: skip
        writer.close()
    pd.DataFrame(rows, columns=WINDOW_COLUMNS).to_parquet(root / "windows.parquet", index=False)
    return root


def base_model(size: str) -> str:
    return "tiny" if size == "tiny" else f"evo2_{size}_base"


def model_for(size: str, kernels: bool = False) -> torch.nn.Module:
    config = resolve_config(base_model(size), fp8="off", kernels=kernels).config  # random weights: bf16 projections
    return build_model(config, device(), seed=0)


def score_run(model: torch.nn.Module, dataset: Path, out: Path, settings: ScoreSettings) -> dict[str, Any]:
    meta = {"model": "bench", "engine": "evo2", "variant": "bench", "split": "test"}
    sync()
    start = time.perf_counter()
    stats = score_split(lambda ids: model(ids)[0], dataset, "test", out, meta, settings, device())
    seconds = time.perf_counter() - start  # includes writing the prediction directory
    return {"bases_per_second": round(stats["bases"] / seconds), "seconds": round(seconds, 2), "bases": stats["bases"],
            "model_tokens": stats["model_tokens"], "padded_tokens": stats["padded_tokens"], "peak_gib": peak_gib()}  # fmt: skip


def bench_size(size: str, out: Path, work: Path, quick: bool) -> None:
    scale = 0.25 if quick else 1.0
    n_equal = max(8, int((96 if size == "1b" else 32) * scale))
    chromosome = int((1_000_000 if size == "1b" else 400_000) * scale)
    rng = np.random.default_rng(1)
    mixed: list[int] = []
    while sum(mixed) < n_equal * L:
        mixed.append(int(np.clip(rng.lognormal(np.log(3000), 0.8), 200, L)))
    data = {
        "warm": make_dataset(work / f"{size}_warm", {"test": [L, L, 3000]}),
        "equal": make_dataset(work / f"{size}_equal", {"test": [L] * n_equal}),
        "mixed": make_dataset(work / f"{size}_mixed", {"test": mixed}),
        "chromosome": make_dataset(work / f"{size}_chromosome", {"test": [chromosome]}),
        "train": make_dataset(work / f"{size}_train", {"train": [L] * 16, "validation": [L]}),
    }
    settings = Evo2Params.from_mapping({"context": L, "overlap": 512, "batch_tokens": 8 * L}).score_settings()
    model = model_for(size)
    RESULTS.setdefault(size, {})["params"] = sum(p.numel() for p in model.parameters())

    def raw_forward() -> dict[str, Any]:
        ids = torch.from_numpy(np.frombuffer(b"ACGT", np.uint8)[np.random.default_rng(2).integers(0, 4, (8, L))].astype(np.int64)).cuda()
        with torch.inference_mode():
            times = timed(lambda: model(ids), repeats=3 if size == "7b" else 5)
        return {"tokens_per_second": round(8 * L / statistics.median(times)), "batch": 8, "length": L, "peak_gib": peak_gib(),
                "times": [round(t, 4) for t in times]}  # fmt: skip

    raw = record(out, size, "raw_forward", raw_forward)

    def arc_score() -> dict[str, Any]:
        from evo2.scoring import score_sequences
        from vortex.model.tokenizer import CharLevelTokenizer

        n = 16 if size == "1b" else 8
        sequences = [random_bases(np.random.default_rng(10 + i), L).tobytes().decode().upper() for i in range(n)]
        tokenizer = CharLevelTokenizer(512)
        score_sequences(sequences[:2], model, tokenizer, batch_size=1)  # warm-up
        torch.cuda.synchronize()
        start = time.perf_counter()
        scores = score_sequences(sequences, model, tokenizer, batch_size=1)
        torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        return {"tokens_per_second": round(n * L / seconds), "sequences": n, "batch_size": 1, "peak_gib": peak_gib(),
                "finite": bool(np.isfinite(scores).all())}  # fmt: skip

    record(out, size, "arc_score_sequences", arc_score)
    score_run(model, data["warm"], work / f"pred_{size}_warm", settings)  # cuFFT plans, allocator warm-up
    raw_rate = (raw or {}).get("tokens_per_second")

    def evocane(name: str, dataset_key: str, kernels_model: torch.nn.Module | None = None) -> dict[str, Any]:
        result = score_run(kernels_model or model, data[dataset_key], work / f"pred_{size}_{name}", settings)
        if raw_rate:
            result["ratio_to_raw_forward"] = round(result["bases_per_second"] / raw_rate, 3)
        return result

    record(out, size, "evocane_equal", lambda: evocane("equal", "equal"))
    record(out, size, "evocane_equal_again", lambda: evocane("equal_again", "equal"))
    record(out, size, "evocane_mixed", lambda: evocane("mixed", "mixed"))
    record(out, size, "evocane_mixed_again", lambda: evocane("mixed_again", "mixed"))  # shapes seen: steady state

    def raw_forward_mixed() -> dict[str, Any]:
        """The model alone on exactly the batches evocane_mixed ran (after one warm pass over them)."""
        from evocane.dataset.arrays import DatasetReader
        from evocane.engines.evo2.scoring import _window, batches_of

        reader = DatasetReader(data["mixed"])
        arrays = reader.arrays("test")
        windows = [_window(str(w), *arrays.window(int(o), int(n))[::2], settings, False)
                   for w, o, n in reader.split_windows("test")[["window_id", "offset", "length"]].itertuples(index=False)]  # fmt: skip
        batches = [torch.from_numpy(b.ids.astype(np.int64)).cuda() for b in batches_of(windows, settings)]
        with torch.inference_mode():
            times = timed(lambda: [model(ids) for ids in batches], repeats=1, warmup=1)
        bases = sum(len(w.inputs) for w in windows)
        padded = sum(b.numel() for b in batches)
        return {"tokens_per_second": round(bases / times[0]), "padded_tokens_per_second": round(padded / times[0]),
                "batches": len(batches), "shapes": len({tuple(b.shape) for b in batches}), "peak_gib": peak_gib()}  # fmt: skip

    record(out, size, "raw_forward_mixed", raw_forward_mixed)
    record(out, size, "evocane_chromosome", lambda: evocane("chromosome", "chromosome"))

    def equal_check() -> dict[str, Any]:
        """evocane's stored log-probs against a direct forward of the first window (same weights)."""
        from evocane.dataset.arrays import DatasetReader
        from evocane.engines.evo2.scoring import fold_acgt
        from evocane.predictions import PredictionReader, base_codes

        reader = DatasetReader(data["equal"])
        tokens, _, _ = reader.arrays("test").window(0, L)
        from evocane.engines.evo2.tokens import model_inputs

        ids = torch.from_numpy(model_inputs(tokens, True).astype(np.int64))[None].cuda()
        with torch.inference_mode():
            probabilities = fold_acgt(model(ids)[0])[0].cpu().numpy().astype(np.float64)
        codes = base_codes(tokens)
        expected = np.log(probabilities[np.arange(L), np.where(codes >= 0, codes, 0)])
        got = PredictionReader(work / f"pred_{size}_equal").window("test_0")
        ok = codes >= 0
        return {"max_abs_logprob_diff": float(np.nanmax(np.abs(got[ok] - expected[ok]))),
                "max_abs_probability_diff": float(np.nanmax(np.abs(np.exp(got[ok]) - np.exp(expected[ok]))))}  # fmt: skip

    record(out, size, "evocane_equals_direct_forward", equal_check)

    del model
    reset()

    def raw_train_step() -> dict[str, Any]:
        net = model_for(size)
        for p in net.parameters():
            p.requires_grad_(True)
        net.train()
        optimizer = torch.optim.AdamW([p for p in net.parameters()], lr=1e-5)
        ids = torch.randint(65, 90, (1, L), device="cuda")

        def step() -> None:
            logits = net(ids)[0]
            torch.nn.functional.cross_entropy(logits[0, :-1].float(), ids[0, 1:]).backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

        times = timed(step, repeats=3, warmup=1)
        return {"tokens_per_second": round(L / statistics.median(times)), "peak_gib": peak_gib()}

    raw_train = record(out, size, "raw_train_step", raw_train_step)

    def evocane_train(mode: str, seq_length: int, dataset_key: str = "train", steps: int = 5) -> dict[str, Any]:
        from evocane.engines.evo2.training import train

        net = model_for(size)
        settings_train = Evo2Params.from_mapping({
            "mode": mode, "steps": steps, "seq_length": seq_length, "micro_batch_size": 1, "grad_accum": 1, "lr": 1e-4,
            "warmup_steps": 1, "eval_every": 10_000, "eval_windows": 0, "checkpoint_every": 10_000, "log_every": 1,
            "lora": {"rank": 16, "alpha": 32.0},
        }).train_settings()  # fmt: skip
        result = train(net, data[dataset_key], settings_train, torch.device("cuda"), work / f"{size}_{mode}_{seq_length}_resume")
        rows = [m for m in result.metrics if m["step"] >= 2]  # step 1 carries warm-up (allocation, kernels)
        rate = statistics.median(m["tokens_per_second"] for m in rows)
        entry = {"tokens_per_second": round(rate), "seq_length": seq_length, "steps": steps,
                 "peak_gib": round(max(m["peak_memory_gib"] for m in result.metrics), 2),
                 "train_loss": [round(m["train_loss"], 4) for m in result.metrics[1:]]}  # fmt: skip
        if raw_train and raw_train.get("tokens_per_second"):
            entry["ratio_to_raw_train_step"] = round(rate / raw_train["tokens_per_second"], 3)
        del net, result
        return entry

    record(out, size, "evocane_lora", lambda: evocane_train("lora", L))
    if size == "7b":
        data["long"] = make_dataset(work / f"{size}_long", {"train": [65536] * 2, "validation": [L]})
        record(out, size, "evocane_lora_65536", lambda: evocane_train("lora", 65536, "long", steps=2))
    record(out, size, "evocane_full", lambda: evocane_train("full", L, steps=4))

    def kernels() -> dict[str, Any]:
        from evocane.predictions import PredictionReader

        fused = model_for(size, kernels=True)  # the same seed: the same weights as the plain scoring runs
        score_run(fused, data["warm"], work / f"pred_{size}_warm_kernels", settings)  # Triton compilation
        result = evocane("kernels", "equal", fused)
        plain = np.asarray(PredictionReader(work / f"pred_{size}_equal").logprob, np.float32)
        with_kernels = np.asarray(PredictionReader(work / f"pred_{size}_kernels").logprob, np.float32)
        result["max_abs_probability_diff_vs_plain"] = float(np.nanmax(np.abs(np.exp(with_kernels) - np.exp(plain))))
        result["mean_abs_logprob_diff_vs_plain"] = float(np.nanmean(np.abs(with_kernels - plain)))
        del fused
        return result

    record(out, size, "evocane_kernels", kernels)


# --- issue 15: genome scale (sharding, cold processes, short windows, generation, exactness) ---------------------------
def mixed_lengths(total: int, longest: int, seed: int = 1) -> list[int]:
    """Log-normal window lengths (median 3,000, 200..longest) adding up to at least ``total`` bases."""
    rng = np.random.default_rng(seed)
    lengths: list[int] = []
    while sum(lengths) < total:
        lengths.append(int(np.clip(rng.lognormal(np.log(min(3000, longest // 2)), 0.8), min(200, longest), longest)))
    return lengths


def same_bytes(a: Path, b: Path) -> dict[str, bool]:
    names = sorted({p.name for p in a.iterdir()} | {p.name for p in b.iterdir()})
    return {name: (a / name).exists() and (b / name).exists() and (a / name).read_bytes() == (b / name).read_bytes() for name in names}


def scale_settings(size: str) -> dict[str, Any]:
    """Sizes of the issue-15 measurements: GPU (1B / 7B) or the dry run's tiny CPU model."""
    if size == "tiny":
        return {"L": 256, "score_bases": 12_000, "cold_bases": 8_000, "compile_bases": 8_000, "generation_rounds": 1, "short": 64, "train_steps": 3, "prompt": 150, "n_tokens": 6,
                "prompts": 3, "exact_rows": 2}  # fmt: skip
    big = size == "7b"
    return {"L": L, "score_bases": 1_000_000 if big else 3_000_000, "cold_bases": 1_000_000 if big else 2_000_000,
            "compile_bases": 1_000_000 if big else 4_000_000, "generation_rounds": 1 if big else 3, "short": 1024,
            "train_steps": 6, "prompt": 500, "n_tokens": 60 if big else 200, "prompts": 8, "exact_rows": 2 if big else 4}  # fmt: skip


def bench_issue15(size: str, out: Path, work: Path) -> None:
    from evocane.engines.base import shard_windows
    from evocane.predictions import gather_prediction_sets

    cfg = scale_settings(size)
    length = cfg["L"]
    settings = Evo2Params.from_mapping({"context": length, "overlap": min(512, length // 4), "batch_tokens": 8 * length}).score_settings()
    model = model_for(size)
    RESULTS.setdefault(size, {})["params"] = sum(p.numel() for p in model.parameters())
    meta = {"model": "bench", "engine": "evo2", "variant": "bench", "split": "test"}

    def score(dataset: Path, target: Path, windows: list[str] | None = None) -> float:
        sync()
        start = time.perf_counter()
        score_split(lambda ids: model(ids)[0], dataset, "test", target, meta, settings, device(), ["test_0"], windows)
        sync()
        return time.perf_counter() - start

    # -- sharded vs unsharded: the same process, the same batches; bytes must be equal
    def shards() -> dict[str, Any]:
        data = make_dataset(work / f"{size}_shards", {"test": mixed_lengths(cfg["score_bases"], length)})
        score(make_dataset(work / f"{size}_shards_warm", {"test": mixed_lengths(4 * length, length, seed=9)}), work / f"{size}_warm")
        whole = score(data, work / f"{size}_whole")
        plan = shard_windows(data, "test", 2)
        parts = [score(data, work / f"{size}_shard{i}", ids) for i, ids in enumerate(plan)]
        start = time.perf_counter()
        gather_prediction_sets([work / f"{size}_shard{i}" for i in range(2)], work / f"{size}_gathered", plan)
        gather = time.perf_counter() - start
        equal = same_bytes(work / f"{size}_whole", work / f"{size}_gathered")
        bases = int(pd.read_parquet(data / "windows.parquet")["length"].sum())
        return {"bases": bases, "windows": sum(map(len, plan)), "bytes_equal": all(equal.values()), "files": equal,
                "unsharded_seconds": round(whole, 2), "shard_seconds": [round(t, 2) for t in parts], "gather_seconds": round(gather, 2),
                "speedup_on_2_gpus": round(whole / (max(parts) + gather), 3), "shard_overhead": round(sum(parts) / whole - 1, 4),
                "peak_gib": peak_gib()}  # fmt: skip

    record(out, size, "issue15_shards", shards)

    # -- cold process: `evocane score` in a fresh process (CUDA init, model build, first shapes) vs the warm raw forward
    def cold(compiled_runs: bool) -> dict[str, Any]:
        import os
        import re
        import subprocess

        from evocane.engines.base import ModelConfig
        from evocane.engines.evo2 import Evo2Engine
        from evocane.engines.evo2.scoring import _window, batches_of

        if compiled_runs:  # a split as the workflow makes it: windows of one length, ~5 % shorter ones (ends, gaps)
            tail = mixed_lengths(cfg["compile_bases"] // 20, length, seed=5)
            lengths = [length - 1] * (cfg["compile_bases"] // length) + tail
            data = make_dataset(work / f"{size}_cold_equal", {"test": lengths})
        else:
            data = make_dataset(work / f"{size}_cold", {"test": mixed_lengths(cfg["cold_bases"], length, seed=3)})
        params = {"base_model": base_model(size), "random_init": True, "fp8": "off", "seed": 0, "context": length,
                  "overlap": min(512, length // 4), "batch_tokens": 8 * length, "compile": "off", "compile_cache": str(work / "compile_cache")}  # fmt: skip
        if DRY_RUN:
            params["device"] = "cpu"
        result: dict[str, Any] = {"bases": int(pd.read_parquet(data / "windows.parquet")["length"].sum())}
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1] / "src"), os.environ.get("PYTHONPATH", "")])}
        for variable in ("TRITON_CACHE_DIR", "TORCHINDUCTOR_CACHE_DIR"):  # set in this process: each job takes its own compile_cache
            env.pop(variable, None)
        # compile: auto with a threshold the dominant shape passes and the tail's shapes do not
        auto = {"compile": "auto", "compile_min_bases": cfg["compile_bases"] // 4}
        if compiled_runs:
            # eager first; then torch.compile: the first process fills the compile cache, the second finds it; then
            # two shard processes, gathered, against the compiled unsharded bytes
            runs = (("equal_eager", {}, []), ("equal_compile", auto, []), ("equal_compile_cached", auto, []),
                    ("compile_shard0", auto, ["--shards", "2", "--shard", "0"]),
                    ("compile_shard1", auto, ["--shards", "2", "--shard", "1"]))  # fmt: skip
        else:
            # Triton's rotary kernel (the first process compiles it into the empty cache, the second finds it there)
            # against evocane's PyTorch rotary (nothing to compile; its own empty cache all the same)
            torch_rotary = {"rotary": "torch", "compile_cache": str(work / "compile_cache_torch_rotary")}
            runs = (("cold", {}, []), ("cold_torch_rotary", torch_rotary, []), ("cold_again", {}, []), ("cold_torch_rotary_again", torch_rotary, []),
                    ("cold_exact_shapes", {"fixed_shapes": False}, []), ("cold_exact_shapes_torch_rotary", {**torch_rotary, "fixed_shapes": False}, []))  # fmt: skip
        windows = pd.read_parquet(data / "windows.parquet")
        plan = shard_windows(data, "test", 2)
        shard_bases = [int(windows.loc[windows["window_id"].isin(ids), "length"].sum()) for ids in plan]
        for label, extra, shard_args in runs:
            kind = "-".join(f"{k}{v}" for k, v in sorted(extra.items()) if k != "compile_cache") or "plain"
            checkpoint = work / f"{size}_ckpt_{kind}"
            if not checkpoint.exists():
                Evo2Engine().train(data, ModelConfig("bench", "evo2", {**params, **extra}), checkpoint)
            start = time.perf_counter()
            run = subprocess.run([sys.executable, "-m", "evocane.cli", "score", "--checkpoint", str(checkpoint), "--dataset", str(data),
                                  "--split", "test", "--out", str(work / f"{size}_pred_{label}"), *shard_args], capture_output=True, text=True, env=env)  # fmt: skip
            seconds = time.perf_counter() - start
            if run.returncode != 0:
                raise RuntimeError(f"evocane score failed: {run.stderr[-1500:]}")
            logged = re.search(r"throughput (\{.*\})", run.stderr)
            inner = json.loads(logged.group(1)) if logged else {}
            # the issue's measure: model load excluded, first batch included = warm-up (if any) + the scoring loop
            job = (inner.get("seconds") or math.nan) + (inner.get("warmup_seconds") or 0.0)
            scored = shard_bases[int(shard_args[-1])] if shard_args else result["bases"]
            compiled_shapes = json.loads((work / f"{size}_pred_{label}" / "meta.json").read_text()).get("scoring", {}).get("compiled_shapes")
            print(f"  {label}: process {seconds:.1f} s, {json.dumps(inner)}, compiled {compiled_shapes}", flush=True)
            result[label] = {"process_seconds": round(seconds, 2), "scoring_seconds": inner.get("seconds"), "warmup_seconds": inner.get("warmup_seconds"),
                             "job_bases_per_second": round(scored / job), "process_bases_per_second": round(scored / seconds),
                             "padding_fraction": inner.get("padding_fraction"), "compiled_shapes": compiled_shapes}  # fmt: skip
        if compiled_runs:
            gather_prediction_sets([work / f"{size}_pred_compile_shard{i}" for i in range(2)], work / f"{size}_pred_compile_gathered", plan)
            result["compiled_shards_equal_compiled_unsharded"] = all(same_bytes(work / f"{size}_pred_equal_compile", work / f"{size}_pred_compile_gathered").values())
            result["compiled_equal_across_processes"] = all(same_bytes(work / f"{size}_pred_equal_compile", work / f"{size}_pred_equal_compile_cached").values())
            eager = np.load(work / f"{size}_pred_equal_eager" / "logprob.npy").astype(np.float64)
            compiled = np.load(work / f"{size}_pred_equal_compile" / "logprob.npy").astype(np.float64)
            result["compiled_vs_eager_mean_abs_logprob"] = float(np.nanmean(np.abs(eager - compiled)))
        else:
            result["bytes_equal_across_processes"] = all(same_bytes(work / f"{size}_pred_cold", work / f"{size}_pred_cold_again").values())
            result["torch_rotary_bytes_equal_across_processes"] = all(same_bytes(work / f"{size}_pred_cold_torch_rotary", work / f"{size}_pred_cold_torch_rotary_again").values())
            triton, plain = (np.load(work / f"{size}_pred_{label}" / "logprob.npy").astype(np.float64) for label in ("cold", "cold_torch_rotary"))
            result["torch_vs_triton_rotary_mean_abs_logprob"] = float(np.nanmean(np.abs(triton - plain)))
        # the warm raw forward on exactly the batches the (eager, default) job ran, in this process
        from evocane.dataset.arrays import DatasetReader

        reader = DatasetReader(data)
        arrays = reader.arrays("test")
        job_settings = Evo2Params.from_mapping({k: v for k, v in params.items() if k not in ("device",)}).score_settings()
        windows = [_window(str(w), *arrays.window(int(o), int(n))[::2], job_settings, False)
                   for w, o, n in reader.split_windows("test")[["window_id", "offset", "length"]].itertuples(index=False)]  # fmt: skip
        batches = [torch.from_numpy(b.ids.astype(np.int64)).to(device()) for b in batches_of(windows, job_settings)]
        with torch.inference_mode():
            times = timed(lambda: [model(ids) for ids in batches], repeats=1, warmup=1)
        raw = result["bases"] / times[0]
        result["warm_raw_forward_bases_per_second"] = round(raw)
        result["shapes"] = len({tuple(b.shape) for b in batches})
        for label, entry in result.items():
            if isinstance(entry, dict) and "job_bases_per_second" in entry:
                entry["job_ratio_to_warm_raw_forward"] = round(entry["job_bases_per_second"] / raw, 3)
                entry["process_ratio_to_warm_raw_forward"] = round(entry["process_bases_per_second"] / raw, 3)
        return result

    record(out, size, "issue15_cold_process", lambda: cold(False))
    record(out, size, "issue15_cold_compile", lambda: cold(True))  # the dry run's CPU path compiles nothing: eager

    # -- short windows: LoRA tokens/s with 1 kb windows, micro-batch 1 vs the token budget, vs 8 kb windows
    def short_training() -> dict[str, Any]:
        from evocane.engines.evo2.training import train

        short, long_ = cfg["short"], length
        sets = {"short": make_dataset(work / f"{size}_short", {"train": [short] * 64, "validation": [short]}),
                "long": make_dataset(work / f"{size}_long", {"train": [long_] * 16, "validation": [long_]})}  # fmt: skip
        result: dict[str, Any] = {}
        for label, key, rows in (("short_micro_batch_1", "short", {"micro_batch_size": 1}),
                                 ("short_token_budget", "short", {"micro_batch_tokens": long_}),
                                 ("long_micro_batch_1", "long", {"micro_batch_size": 1})):  # fmt: skip
            net = model_for(size)
            train_settings = Evo2Params.from_mapping({
                "mode": "lora", "steps": cfg["train_steps"], "seq_length": long_, "grad_accum": 1, "lr": 1e-4, "warmup_steps": 1,
                "eval_every": 10_000, "eval_windows": 0, "checkpoint_every": 10_000, "log_every": 1, "lora": {"rank": 16, "alpha": 32.0},
                "device": "cpu" if DRY_RUN else "cuda", **rows,
            }).train_settings()  # fmt: skip
            trained = train(net, sets[key], train_settings, device(), work / f"{size}_{label}_resume")
            steady = [m for m in trained.metrics if m["step"] >= 2] or trained.metrics[1:]
            result[label] = {"tokens_per_second": round(statistics.median(m["tokens_per_second"] for m in steady)),
                             "tokens_per_step": int(trained.metrics[1]["tokens"]),
                             "peak_gib": round(max(m["peak_memory_gib"] for m in trained.metrics), 2)}  # fmt: skip
            del net, trained
            reset()
        base = result["long_micro_batch_1"]["tokens_per_second"]
        for label in ("short_micro_batch_1", "short_token_budget"):
            result[label]["ratio_to_long_windows"] = round(result[label]["tokens_per_second"] / max(base, 1), 3)
        return result

    record(out, size, "issue15_short_window_training", short_training)

    # -- generation: evocane's batched sampler vs Arc's Evo2.generate (vortex Generator), batch 1 and batched
    def generation() -> dict[str, Any]:
        from vortex.model.generation import generate as vortex_generate
        from vortex.model.tokenizer import CharLevelTokenizer

        from evocane.engines.evo2.generation import generate_batch

        rng = np.random.default_rng(4)
        prompts = [random_bases(rng, cfg["prompt"]).tobytes().decode().upper().replace("N", "A") for _ in range(cfg["prompts"])]
        n = cfg["n_tokens"]
        rows = [p for p in prompts for _ in range(2)]  # 2 samples per prompt
        seeds = list(range(len(rows)))
        tokenizer = CharLevelTokenizer(512)

        def arc(seqs: list[str]) -> Any:
            if DRY_RUN:  # vortex's generate on the CPU (Arc's Evo2.generate is the same call with device cuda:0)
                return vortex_generate(prompt_seqs=seqs, model=model, tokenizer=tokenizer, n_tokens=n, temperature=1.0, top_k=4,
                                       batched=True, cached_generation=True, verbose=0, force_prompt_threshold=None, device="cpu")  # fmt: skip
            from evo2 import Evo2

            wrapper = object.__new__(Evo2)  # Arc's class around this process's model: no weights download
            wrapper.model, wrapper.tokenizer = model, tokenizer
            return wrapper.generate(seqs, n_tokens=n, temperature=1.0, top_k=4, batched=True, cached_generation=True, verbose=0)

        result: dict[str, Any] = {"prompt_length": cfg["prompt"], "n_tokens": n, "rows": len(rows)}
        generate_batch(model, rows, 4, seeds, 1.0, 4)  # warm-up: kernels, cuFFT plans of the prefill
        generate_batch(model, rows, 4, seeds, 1.0, 4, step_mode="vortex")
        arc(rows[:2])  # warm-up (n tokens: Arc's generate has no shorter mode here)
        # interleaved rounds, the median of each (one process, one card: drift hits both sides alike)
        # evocane's default (auto: the decode step replayed as a CUDA graph, one capture per call, included in the
        # time) and its eager step (vortex's own stateful forward, step_mode vortex) against Arc's generate
        runs: dict[str, list[float]] = {"one": [], "batched": [], "eager_one": [], "eager_batched": [], "arc_one": [], "arc_batched": []}
        for _ in range(cfg["generation_rounds"]):
            runs["one"] += timed(lambda: generate_batch(model, rows[:1], n, seeds[:1], 1.0, 4), repeats=1, warmup=0)
            runs["eager_one"] += timed(lambda: generate_batch(model, rows[:1], n, seeds[:1], 1.0, 4, step_mode="vortex"), repeats=1, warmup=0)
            runs["arc_one"] += timed(lambda: arc(rows[:1]), repeats=1, warmup=0)
            runs["batched"] += timed(lambda: generate_batch(model, rows, n, seeds, 1.0, 4), repeats=1, warmup=0)
            runs["eager_batched"] += timed(lambda: generate_batch(model, rows, n, seeds, 1.0, 4, step_mode="vortex"), repeats=1, warmup=0)
            runs["arc_batched"] += timed(lambda: arc(rows), repeats=1, warmup=0)
        one, batched, arc_one, arc_batched = (statistics.median(runs[k]) for k in ("one", "batched", "arc_one", "arc_batched"))
        eager_one, eager_batched = statistics.median(runs["eager_one"]), statistics.median(runs["eager_batched"])
        result["rounds_seconds"] = {k: [round(t, 3) for t in v] for k, v in runs.items()}
        result["eager_batch1_ms_per_token"] = round(1000 * eager_one / n, 2)
        result["eager_batched_tokens_per_second"] = round(len(rows) * n / eager_batched, 1)
        result["eager_batch1_speed_vs_arc"] = round(arc_one / eager_one, 3)
        result["eager_batched_speed_vs_arc"] = round(arc_batched / eager_batched, 3)
        result["evocane_batch1_ms_per_token"] = round(1000 * one / n, 2)
        result["evocane_batched_ms_per_step"] = round(1000 * batched / n, 2)
        result["evocane_batched_tokens_per_second"] = round(len(rows) * n / batched, 1)
        result["arc_batch1_ms_per_token"] = round(1000 * arc_one / n, 2)
        result["arc_batched_ms_per_step"] = round(1000 * arc_batched / n, 2)
        result["arc_batched_tokens_per_second"] = round(len(rows) * n / arc_batched, 1)
        result["batch1_speed_vs_arc"] = round(arc_one / one, 3)
        result["batched_speed_vs_arc"] = round(arc_batched / batched, 3)
        # identity: each batched row against the same (prompt, seed) generated alone
        for label, temperature in (("sampled", 1.0), ("greedy", 0.0)):
            # rows 0-1 (two samples of one prompt) and 2 (another prompt), batched with every row, against alone
            together = generate_batch(model, rows, n, seeds, temperature, 4)[:3]
            alone = [generate_batch(model, [row], n, [seed], temperature, 4)[0] for row, seed in zip(rows[:3], seeds[:3])]
            first_diff = [next((i for i, (a, b) in enumerate(zip(x, y)) if a != b), n) for x, y in zip(together, alone)]
            result[f"{label}_identical_to_batch1"] = f"{sum(x == y for x, y in zip(together, alone))}/3"
            result[f"{label}_first_divergence"] = first_diff
            # the graph against the eager static step (same kernels) and against vortex's own step
            static = generate_batch(model, rows, n, seeds, temperature, 4, step_mode="static")[:3]
            eager = generate_batch(model, rows, n, seeds, temperature, 4, step_mode="vortex")[:3]
            result[f"{label}_graph_identical_to_static"] = f"{sum(x == y for x, y in zip(together, static))}/3"
            result[f"{label}_graph_identical_to_vortex_step"] = f"{sum(x == y for x, y in zip(together, eager))}/3"
        result["peak_gib"] = peak_gib()
        return result

    record(out, size, "issue15_generation", generation)

    # -- exactness: default path vs Triton kernels vs torch.compile vs fp32, on the same random weights
    def exactness() -> dict[str, Any]:
        import copy

        from evocane.engines.evo2.scoring import fold_acgt

        rows = cfg["exact_rows"]
        bases = np.frombuffer(b"ACGT", np.uint8)[np.random.default_rng(6).integers(0, 4, (rows, length))]
        ids = torch.from_numpy(bases.astype(np.int64)).to(device())
        observed = torch.from_numpy(np.searchsorted(np.frombuffer(b"ACGT", np.uint8), bases)).to(device())

        def probabilities(net: Any) -> torch.Tensor:
            with torch.inference_mode():
                return fold_acgt(net(ids)[0]).double()

        def rate(net: Any) -> float:
            with torch.inference_mode():
                return rows * length / statistics.median(timed(lambda: net(ids), repeats=3))

        paths: dict[str, Any] = {"default_bf16": model}
        result: dict[str, Any] = {"rows": rows, "length": length}
        errors: dict[str, str] = {}
        if not DRY_RUN:
            try:
                paths["triton_kernels"] = model_for(size, kernels=True)  # the same seed: the same weights
            except Exception as error:  # noqa: BLE001 - a result too
                errors["triton_kernels"] = f"{type(error).__name__}: {error}"[:300]
        try:
            compiled = torch.compile(model)
            start = time.perf_counter()
            probabilities(compiled)
            sync()
            result["compile_seconds"] = round(time.perf_counter() - start, 1)
            paths["torch_compile"] = compiled
        except Exception as error:  # noqa: BLE001
            errors["torch_compile"] = f"{type(error).__name__}: {error}"[:300]
        try:
            paths["fp32"] = copy.deepcopy(model).float()
        except Exception as error:  # noqa: BLE001
            errors["fp32"] = f"{type(error).__name__}: {error}"[:300]
        reference = probabilities(paths.get("fp32", model))
        default = probabilities(model)
        raw = rate(model)
        for name, net in paths.items():
            try:
                got = probabilities(net)
                logp = torch.log(got.gather(-1, observed[..., None])[..., 0])
                entry = {
                    "max_abs_probability_diff_vs_default": float((got - default).abs().max()),
                    "mean_abs_logprob_diff_vs_default": float((logp - torch.log(default.gather(-1, observed[..., None])[..., 0])).abs().mean()),
                    "max_abs_probability_diff_vs_fp32": float((got - reference).abs().max()),
                    "mean_abs_logprob_diff_vs_fp32": float((logp - torch.log(reference.gather(-1, observed[..., None])[..., 0])).abs().mean()),
                    "tokens_per_second": round(rate(net)),
                }
                entry["speed_vs_raw_bf16"] = round(entry["tokens_per_second"] / raw, 3)
                result[name] = entry
            except Exception as error:  # noqa: BLE001
                errors[name] = f"{type(error).__name__}: {error}"[:300]
        result["errors"] = errors
        result["peak_gib"] = peak_gib()
        return result

    record(out, size, "issue15_exactness", exactness)


def main() -> None:
    global DRY_RUN
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--sizes", nargs="+", default=["1b", "7b"], choices=["1b", "7b"])
    parser.add_argument("--suite", choices=["throughput", "issue15"], default="throughput",
                        help="throughput: the scoring/training figures of issue 6; issue15: genome-scale modes (sharding, cold "
                             "process, short-window training, generation vs Arc, exactness of the kernel/compile/fp32 paths)")  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="a quarter of the data (a smoke run; throughput suite)")
    parser.add_argument("--only", nargs="*", default=[], help="run just these measurements (names as in the JSON)")
    parser.add_argument("--dry-run", action="store_true", help="issue15 suite on the tiny model on the CPU (checks the code, no figures)")
    args = parser.parse_args()
    ONLY.update(args.only)
    DRY_RUN = args.dry_run
    if DRY_RUN:
        if args.suite != "issue15":
            sys.exit("--dry-run runs the issue15 suite")
        from evocane.engines.evo2.cpu_shim import cpu_execution

        torch.set_num_threads(1)
        RESULTS["environment"] = {"date": time.strftime("%Y-%m-%d"), "dry_run": True, "torch": torch.__version__}
        with cpu_execution(), tempfile.TemporaryDirectory() as work:
            bench_issue15("tiny", args.out, Path(work))
        print(json.dumps(RESULTS, indent=1, default=str))
        return
    if not torch.cuda.is_available():
        sys.exit("bench_evo2 needs a CUDA GPU")
    from evocane.engines.evo2.runtime import flash_attn_available, transformer_engine_available

    from importlib.metadata import version

    RESULTS["environment"] = {
        "date": time.strftime("%Y-%m-%d"), "gpu": torch.cuda.get_device_name(), "torch": torch.__version__,
        "cuda": torch.version.cuda, "vtx": version("vtx"), "evo2": version("evo2"), "peft": version("peft"),
        "transformer_engine": transformer_engine_available(), "flash_attn": flash_attn_available(), "suite": args.suite,
    }  # fmt: skip
    save(args.out)
    with tempfile.TemporaryDirectory() as work:
        for size in args.sizes:
            if args.suite == "issue15":
                bench_issue15(size, args.out, Path(work))
            else:
                bench_size(size, args.out, Path(work), args.quick)
    print(json.dumps(RESULTS, indent=1, default=str))


if __name__ == "__main__":
    main()
