"""Sampling continuations with ``model.generate`` (temperature, top-k, top-p; greedy at temperature 0).

Only tokens that spell A/C/G/T may be emitted (the rest go to ``suppress_tokens``), every (prompt, sample) has
its own seed, and a continuation longer than the context is generated in segments that keep the last half
context as the prompt of the next one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import numpy as np
import torch

from evocane.engines.base import Prompt, SamplingConfig
from evocane.engines.hf.model import LoadedModel, autocast
from evocane.predictions import GeneratedSequence

_DNA = frozenset("ACGT")
SMALL_MODEL_PARAMETERS = 20_000_000


def _encode_prompt(loaded: LoadedModel, sequence: str) -> list[int]:
    if loaded.token_map.per_base:
        return loaded.token_map.encode_bases(np.frombuffer(sequence.encode("ascii"), dtype=np.uint8)).tolist()
    return list(loaded.tokenizer(sequence.upper(), add_special_tokens=False)["input_ids"])


def _bases(loaded: LoadedModel, ids: Sequence[int]) -> str:
    text = loaded.tokenizer.decode(list(ids), skip_special_tokens=True)
    return "".join(c for c in text.upper() if c in _DNA)


@torch.no_grad()
def continue_prompt(loaded: LoadedModel, prompt: str, sampling: SamplingConfig, seed: int) -> str:
    """``sampling.n_tokens`` bases continuing ``prompt``."""
    token_map = loaded.token_map
    bos = [token_map.bos_id] if token_map.bos_id is not None else []
    allowed = set(token_map.generation_ids)
    suppress = [i for i in range(_vocab_size(loaded)) if i not in allowed]
    ids = _encode_prompt(loaded, prompt)
    generated = ""
    torch.manual_seed(seed)
    while len(generated) < sampling.n_tokens:
        remaining = sampling.n_tokens - len(generated)
        room = loaded.context - len(bos)
        keep = len(ids) if len(ids) + remaining <= room else min(len(ids), room // 2)
        new_tokens = max(1, min(remaining, room - keep))
        context_ids = bos + ids[len(ids) - keep :]
        input_ids = torch.tensor([context_ids], dtype=torch.long, device=loaded.device)
        options = dict(do_sample=False) if sampling.temperature == 0 else dict(
            do_sample=True, temperature=sampling.temperature, top_k=sampling.top_k, top_p=sampling.top_p,
        )  # fmt: skip
        with autocast(loaded.device, loaded.precision):
            output = loaded.model.generate(
                input_ids=input_ids, attention_mask=torch.ones_like(input_ids), max_new_tokens=new_tokens,
                min_new_tokens=new_tokens, suppress_tokens=suppress, pad_token_id=token_map.pad_id, use_cache=True,
                **options,
            )  # fmt: skip
        new_ids = output[0, input_ids.shape[1] :].tolist()
        ids.extend(new_ids)
        generated += _bases(loaded, new_ids)
    return generated[: sampling.n_tokens]


def _vocab_size(loaded: LoadedModel) -> int:
    embeddings = loaded.model.get_output_embeddings()
    return int(embeddings.weight.shape[0]) if embeddings is not None else len(loaded.tokenizer)


@contextlib.contextmanager
def _threads_for_small_steps(loaded: LoadedModel) -> Iterator[None]:
    """One CPU thread while decoding a small model: each step is one token, far too little work to split, and
    thread hand-offs then cost more than the arithmetic (measured 10x slower with 2 threads on a busy 2-core VM)."""
    small = sum(p.numel() for p in loaded.model.parameters()) < SMALL_MODEL_PARAMETERS
    if loaded.device.type != "cpu" or not small:
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def generate_records(loaded: LoadedModel, prompts: Sequence[Prompt], sampling: SamplingConfig, model_name: str,
                     progress: bool = True) -> list[GeneratedSequence]:  # fmt: skip
    from tqdm import tqdm

    records = []
    with _threads_for_small_steps(loaded):
        for prompt_index, prompt in enumerate(tqdm(prompts, desc=f"generate {model_name}", disable=not progress)):
            for sample in range(sampling.samples_per_prompt):
                seed = sampling.sample_seed(prompt_index, sample)
                sequence = continue_prompt(loaded, prompt.sequence, sampling, seed)
                records.append(
                    GeneratedSequence(
                        prompt.id, sample, seed, sequence, model=model_name, temperature=sampling.temperature,
                        top_k=sampling.top_k, top_p=sampling.top_p, prompt_length=len(prompt.sequence),
                    )  # fmt: skip
                )
    return records
