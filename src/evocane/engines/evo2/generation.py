"""Sample continuations of prompts with vortex's cached inference (KV cache for attention, recurrent states for the
Hyena layers): one parallel prefill of the prompt, then one token per step.

Sampling follows the engines' :class:`evocane.engines.base.SamplingConfig`: temperature 0 = greedy, ``top_k`` 0
and ``top_p`` 1 = off. As in scoring, the next-token distribution is taken over A/C/G/T folded over case and
renormalised (Evo 2 puts almost all its mass there; a byte like EOD or N in the middle of generated DNA would be
meaningless to the evaluation). Every (prompt, sample) has its own seed and its own random generator, so a record
is reproduced by its seed (under the same batch size: batched GPU kernels round differently). vortex's own
``Generator`` draws from the global random state, which cannot give per-record seeds, so this module drives
vortex's ``initialize_inference_params`` and stateful forward itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from evocane.engines.evo2.scoring import fold_acgt
from evocane.engines.evo2.tokens import upper

BASES = np.frombuffer(b"ACGT", dtype=np.uint8)
BASE_TOKENS = torch.tensor([ord(b) for b in "ACGT"])


def sample_acgt(probabilities: torch.Tensor, temperature: float, top_k: int, top_p: float, generators: Sequence[torch.Generator]) -> torch.Tensor:
    """One draw per row from (rows, 4) base probabilities; returns base codes 0..3."""
    if temperature <= 0:
        return probabilities.argmax(dim=-1)
    logits = torch.log(probabilities.clamp_min(1e-30)) / temperature
    if 0 < top_k < logits.shape[-1]:
        threshold = torch.topk(logits, top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < threshold, float("-inf"))
    probabilities = torch.softmax(logits, dim=-1)
    if top_p < 1.0:
        ordered, order = probabilities.sort(dim=-1, descending=True)
        before = ordered.cumsum(dim=-1) - ordered  # mass of the strictly more likely bases
        ordered = ordered.masked_fill(before >= top_p, 0.0)
        probabilities = torch.zeros_like(probabilities).scatter(-1, order, ordered)
    draws = [torch.multinomial(row, 1, generator=generator) for row, generator in zip(probabilities, generators)]
    return torch.cat(draws)


@torch.inference_mode()
def generate_batch(
    model: nn.Module,
    prompts: Sequence[str],
    n_tokens: int,
    seeds: Sequence[int],
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
) -> list[str]:
    """Continuations (upper-case A/C/G/T, ``n_tokens`` each) of equal-length prompts, one seed per prompt."""
    if len({len(p) for p in prompts}) != 1:
        raise ValueError("generate_batch needs prompts of equal length")
    device = model.embedding_layer.weight.device
    prompt = np.stack([upper(np.frombuffer(p.encode("ascii"), dtype=np.uint8)) for p in prompts])
    ids = torch.from_numpy(prompt.astype(np.int64)).to(device)
    generators = [torch.Generator(device=device).manual_seed(int(seed)) for seed in seeds]
    batch, length = ids.shape
    state: dict[str, Any] = model.initialize_inference_params(max_seqlen=length + n_tokens)
    state["mha"].max_batch_size = batch
    logits, state = model(ids, inference_params_dict=state)
    out = torch.empty((batch, n_tokens), dtype=torch.long, device=device)
    tokens = BASE_TOKENS.to(device)
    for step in range(n_tokens):
        codes = sample_acgt(fold_acgt(logits[:, -1]), temperature, top_k, top_p, generators)
        out[:, step] = codes
        if step == n_tokens - 1:
            break
        for key in ("mha", "hcl", "hcm", "hcs"):
            state[key].seqlen_offset = length + step
        logits, state = model(tokens[codes][:, None], inference_params_dict=state)
    return [BASES[row].tobytes().decode("ascii") for row in out.cpu().numpy()]
