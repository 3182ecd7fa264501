"""hf engine on one CUDA GPU: tokens/s and peak memory of a forward pass (scoring), a full fine-tuning step and a
LoRA step, in bf16 autocast (what the engine uses on CUDA) next to fp32 in the same run (the ratio is the claim),
at a few model sizes. Every step is the engine's own code: ``build_model``, ``autocast``, ``weighted_loss``,
``make_optimizer`` (AdamW), ``apply_lora`` (peft).

    python bench/bench_hf_gpu.py --out DIR [--sizes demo small medium] [--steps 10] [--batch 8]

Writes DIR/bench_hf_gpu.json (and prints a Markdown table). Without CUDA it runs the same measurements on the CPU
with the smallest size and few steps, so the script's path can be checked anywhere (its numbers are then CPU
numbers, labelled so). Inputs are random A/C/G/T tokens: throughput does not depend on the sequence.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import torch  # noqa: E402

from evocane.engines.hf.model import apply_lora, autocast, build_model  # noqa: E402
from evocane.engines.hf.params import HFParams  # noqa: E402
from evocane.engines.hf.trainer import make_optimizer, weighted_loss  # noqa: E402

# name -> architecture (the demo config's model, the engine default, and two GPU-sized decoders)
SIZES = {
    "demo": {"layers": 4, "d_model": 64, "heads": 4, "ffn": 256, "context": 1024},
    "default": {"layers": 4, "d_model": 128, "heads": 4, "ffn": 512, "context": 512},
    "small": {"layers": 8, "d_model": 512, "heads": 8, "ffn": 1536, "context": 2048},
    "medium": {"layers": 12, "d_model": 768, "heads": 12, "ffn": 2304, "context": 4096},
}
BASES = torch.tensor([65, 67, 71, 84])


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def _peak_gib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB, whole process so far


def _batch(batch: int, context: int, device: torch.device, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    tokens = BASES[torch.randint(0, 4, (batch, context), generator=generator)]
    inputs = torch.cat([torch.zeros(batch, 1, dtype=torch.long), tokens[:, :-1]], dim=1)
    weights = torch.where(torch.rand(batch, context, generator=generator) < 0.5, 1.0, 0.1)  # half soft-masked
    return inputs.to(device), tokens.to(device), weights.to(device)


def measure(kind: str, size: str, precision: str, device: torch.device, batch: int, steps: int, warmup: int) -> dict:
    params = HFParams.from_mapping({**SIZES[size], "steps": steps, "warmup_steps": 1})
    model = build_model(params, seed=0).to(device)
    if kind == "lora":
        model = apply_lora(model, HFParams.from_mapping({"lora": {"rank": 16, "alpha": 32}}).lora, 0)  # type: ignore[arg-type]
    inputs, targets, weights = _batch(batch, params.context, device, seed=1)
    if kind == "forward":
        model.eval()
    else:
        model.train()
        optimizer, scheduler = make_optimizer(model, params)
    _reset_peak(device)

    def step() -> None:
        if kind == "forward":
            with torch.no_grad(), autocast(device, precision):
                logits = model(input_ids=inputs, use_cache=False).logits
            torch.log_softmax(logits.float(), dim=-1)  # the scorer folds log-probs in fp32
            return
        with autocast(device, precision):
            logits = model(input_ids=inputs, use_cache=False).logits
        weighted_loss(logits, targets, weights).backward()
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(warmup):
        step()
    _synchronize(device)
    began = time.perf_counter()
    for _ in range(steps):
        step()
    _synchronize(device)
    seconds = time.perf_counter() - began
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    result = {
        "kind": kind, "size": size, "precision": precision, "batch": batch, "context": params.context,
        "parameters": sum(p.numel() for p in model.parameters()), "trainable": trainable,
        "steps": steps, "seconds": round(seconds, 4), "tokens_per_s": round(batch * params.context * steps / seconds, 1),
        "peak_gib": round(_peak_gib(device), 3),
    }  # fmt: skip
    del model
    _reset_peak(device)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--sizes", nargs="+", choices=list(SIZES), default=None)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--precisions", nargs="+", choices=["bf16", "fp32"], default=["bf16", "fp32"])
    args = parser.parse_args(argv)

    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    sizes = args.sizes or (["demo", "small", "medium"] if cuda else ["demo"])
    steps, warmup, batch = (args.steps, args.warmup, args.batch) if cuda else (min(args.steps, 2), 1, min(args.batch, 2))
    torch.backends.cuda.matmul.allow_tf32 = False  # fp32 means fp32: the bf16 / fp32 ratio stays honest
    machine = {
        "device": torch.cuda.get_device_name(device) if cuda else f"CPU ({platform.processor() or platform.machine()})",
        "cuda": torch.version.cuda, "torch": torch.__version__, "python": platform.python_version(),
        "cpu_fallback": not cuda, "date": time.strftime("%Y-%m-%d"),
    }  # fmt: skip
    results = []
    for size in sizes:
        for kind in ("forward", "full", "lora"):
            for precision in args.precisions:
                try:
                    results.append(measure(kind, size, precision, device, batch, steps, warmup))
                except torch.OutOfMemoryError:
                    results.append({"kind": kind, "size": size, "precision": precision, "error": "out of memory"})
                    _reset_peak(device)
                print(json.dumps(results[-1]), flush=True)
    by_key = {(r["kind"], r["size"], r["precision"]): r for r in results if "tokens_per_s" in r}
    for r in results:
        fp32 = by_key.get((r["kind"], r["size"], "fp32"))
        if r.get("precision") == "bf16" and fp32 and "tokens_per_s" in r:
            r["speedup_vs_fp32"] = round(r["tokens_per_s"] / fp32["tokens_per_s"], 2)
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / "bench_hf_gpu.json"
    out.write_text(json.dumps({"machine": machine, "results": results}, indent=2) + "\n")
    print(f"\n{machine['device']}, torch {machine['torch']}, CUDA {machine['cuda']}\n")
    print("| size | params | step | precision | batch x context | tokens/s | peak GiB | vs fp32 |")
    print("| --- | ---: | --- | --- | --- | ---: | ---: | ---: |")
    for r in results:
        if "tokens_per_s" not in r:
            print(f"| {r['size']} | | {r['kind']} | {r['precision']} | | {r['error']} | | |")
            continue
        print(f"| {r['size']} | {r['parameters'] / 1e6:.1f} M | {r['kind']} | {r['precision']} | {r['batch']} x {r['context']} | "
              f"{r['tokens_per_s']:,.0f} | {r['peak_gib']:.2f} | {r.get('speedup_vs_fp32', '')} |")  # fmt: skip
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
