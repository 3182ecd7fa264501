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
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
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


def reset() -> None:
    gc.collect()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()


def peak_gib() -> float:
    return round(torch.cuda.max_memory_allocated() / 2**30, 2)


def timed(function: Any, repeats: int, warmup: int = 1) -> list[float]:
    for _ in range(warmup):
        function()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        torch.cuda.synchronize()
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


def model_for(size: str, kernels: bool = False) -> torch.nn.Module:
    config = resolve_config(f"evo2_{size}_base", fp8="off", kernels=kernels).config  # random weights: bf16 projections
    return build_model(config, torch.device("cuda"), seed=0)


def score_run(model: torch.nn.Module, dataset: Path, out: Path, settings: ScoreSettings) -> dict[str, Any]:
    meta = {"model": "bench", "engine": "evo2", "variant": "bench", "split": "test"}
    torch.cuda.synchronize()
    start = time.perf_counter()
    stats = score_split(lambda ids: model(ids)[0], dataset, "test", out, meta, settings, torch.device("cuda"))
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--sizes", nargs="+", default=["1b", "7b"], choices=["1b", "7b"])
    parser.add_argument("--quick", action="store_true", help="a quarter of the data (a smoke run)")
    parser.add_argument("--only", nargs="*", default=[], help="run just these measurements (names as in the JSON)")
    args = parser.parse_args()
    ONLY.update(args.only)
    if not torch.cuda.is_available():
        sys.exit("bench_evo2 needs a CUDA GPU")
    from evocane.engines.evo2.runtime import flash_attn_available, transformer_engine_available

    from importlib.metadata import version

    RESULTS["environment"] = {
        "date": time.strftime("%Y-%m-%d"), "gpu": torch.cuda.get_device_name(), "torch": torch.__version__,
        "cuda": torch.version.cuda, "vtx": version("vtx"), "evo2": version("evo2"), "peft": version("peft"),
        "transformer_engine": transformer_engine_available(), "flash_attn": flash_attn_available(),
    }  # fmt: skip
    save(args.out)
    with tempfile.TemporaryDirectory() as work:
        for size in args.sizes:
            bench_size(size, args.out, Path(work), args.quick)
    print(json.dumps(RESULTS, indent=1, default=str))


if __name__ == "__main__":
    main()
