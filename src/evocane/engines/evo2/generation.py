"""Sample continuations of prompts with vortex's cached inference (KV cache for attention, recurrent states for the
Hyena layers): one parallel prefill of the prompt, then one token per step.

Sampling follows the engines' :class:`evocane.engines.base.SamplingConfig`: temperature 0 = greedy, ``top_k`` 0
and ``top_p`` 1 = off. As in scoring, the next-token distribution is taken over A/C/G/T folded over case and
renormalised (Evo 2 puts almost all its mass there; a byte like EOD or N in the middle of generated DNA would be
meaningless to the evaluation). Every (prompt, sample) has its own seed and its own random generator, so a record
is reproduced by its seed (on a GPU under the same batch composition: batched kernels may round differently). The
samples of a prompt share one prefill (:func:`expand_state`). vortex's own
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


def expand_state(state: dict[str, Any], index: torch.Tensor) -> None:
    """Make row ``i`` of vortex's inference state (KV cache of the attention blocks; FIR and IIR states of the
    Hyena blocks) a copy of row ``index[i]``, in place: after one prefill of each distinct prompt, every sample of
    it continues from the same cache."""
    for params in state.values():
        for name, value in vars(params).items():
            if isinstance(value, dict):
                for key, tensor in value.items():
                    if isinstance(tensor, torch.Tensor):
                        value[key] = tensor.index_select(0, index.to(tensor.device))
            elif name == "lengths_per_sample" and isinstance(value, torch.Tensor):
                setattr(params, name, value.index_select(0, index.to(value.device)))
        if hasattr(params, "max_batch_size"):
            params.max_batch_size = len(index)


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
    """Continuations (upper-case A/C/G/T, ``n_tokens`` each) of equal-length prompts, one seed per prompt (row).

    Rows holding the same prompt (the samples of one prompt) share its prefill: the distinct prompts are prefilled
    once, as one batch, and the cache is copied to every row that continues them (:func:`expand_state`); then all
    rows advance one token per step together. Each row samples with its own generator, so its draws do not depend
    on the other rows; its logits do only through the rounding of batched kernels (none on the CPU, where batched
    and one-by-one generation give the same bytes, tested; on a GPU a matrix product may round differently at
    another batch size, so a sample is reproduced exactly by its seed under the same batch composition)."""
    if len({len(p) for p in prompts}) != 1:
        raise ValueError("generate_batch needs prompts of equal length")
    device = model.embedding_layer.weight.device
    distinct = list(dict.fromkeys(prompts))
    row_of = torch.tensor([distinct.index(p) for p in prompts], dtype=torch.long, device=device)
    prompt = np.stack([upper(np.frombuffer(p.encode("ascii"), dtype=np.uint8)) for p in distinct])
    ids = torch.from_numpy(prompt.astype(np.int64)).to(device)
    generators = [torch.Generator(device=device).manual_seed(int(seed)) for seed in seeds]
    batch, length = len(prompts), ids.shape[1]
    state: dict[str, Any] = model.initialize_inference_params(max_seqlen=length + n_tokens)
    state["mha"].max_batch_size = len(distinct)
    logits, state = model(ids, inference_params_dict=state)
    last = logits[:, -1]
    if len(distinct) != batch:
        expand_state(state, row_of)
        last = last.index_select(0, row_of)
    out = torch.empty((batch, n_tokens), dtype=torch.long, device=device)
    tokens = BASE_TOKENS.to(device)
    for step in range(n_tokens):
        codes = sample_acgt(fold_acgt(last), temperature, top_k, top_p, generators)
        out[:, step] = codes
        if step == n_tokens - 1:
            break
        for key in ("mha", "hcl", "hcm", "hcs"):
            state[key].seqlen_offset = length + step
        logits, state = model(tokens[codes][:, None], inference_params_dict=state)
        last = logits[:, -1]
    return [BASES[row].tobytes().decode("ascii") for row in out.cpu().numpy()]
