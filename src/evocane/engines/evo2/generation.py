"""Sample continuations of prompts with vortex's cached inference (KV cache for attention, recurrent states for the
Hyena layers): one parallel prefill of the prompt, then one token per step.

Sampling follows the engines' :class:`evocane.engines.base.SamplingConfig`: temperature 0 = greedy, ``top_k`` 0
and ``top_p`` 1 = off. As in scoring, the next-token distribution is taken over A/C/G/T folded over case and
renormalised (Evo 2 puts almost all its mass there; a byte like EOD or N in the middle of generated DNA would be
meaningless to the evaluation). Every (prompt, sample) has its own seed, so a record is reproduced by its seed (on a
GPU under the same batch composition: batched kernels may round differently). The draws are counter-based: step
``t`` of the record with seed ``s`` uses the uniform number ``hash(s, t)`` (:func:`uniform_draws`), computed for
all rows at once on the device, so a batch of any size costs the same few kernels per step (with one
``torch.multinomial`` per row, each with a generator of its own, a 16-row batch ran at 0.96x of Arc's sampler).
The samples of a prompt share one prefill (:func:`expand_state`). vortex's own ``Generator`` draws from the global
random state, which cannot give per-record seeds, so this module drives vortex's
``initialize_inference_params`` and stateful forward itself.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from evocane.engines.evo2.decoding import STEPS, DecodeStep, static_unsupported
from evocane.engines.evo2.scoring import fold_acgt
from evocane.engines.evo2.tokens import upper
from evocane.errors import EvocaneError

log = logging.getLogger(__name__)

BASES = np.frombuffer(b"ACGT", dtype=np.uint8)
BASE_TOKENS = torch.tensor([ord(b) for b in "ACGT"])


MASK32 = 0xFFFFFFFF


def _times32(x: torch.Tensor, factor: int) -> torch.Tensor:
    """``x * factor mod 2**32`` for int64 ``x`` in [0, 2**32) without int64 overflow (the factor in 16-bit halves)."""
    low, high = factor & 0xFFFF, factor >> 16
    return (x * low + (((x * high) & 0xFFFF) << 16)) & MASK32


def hash32(x: torch.Tensor) -> torch.Tensor:
    """A 32-bit integer mix (xor-shift-multiply, "lowbias32" constants) of int64 values in [0, 2**32), elementwise."""
    x = x ^ (x >> 16)
    x = _times32(x, 0x7FEB352D)
    x = x ^ (x >> 15)
    x = _times32(x, 0x846CA68B)
    return x ^ (x >> 16)


def seed_keys(seeds: Sequence[int], device: torch.device | str = "cpu") -> torch.Tensor:
    """One 32-bit key per record seed (both halves of a 64-bit seed count), as int64 on ``device``."""
    low = torch.tensor([int(seed) & MASK32 for seed in seeds], dtype=torch.int64, device=device)
    high = torch.tensor([(int(seed) >> 32) & MASK32 for seed in seeds], dtype=torch.int64, device=device)
    return hash32(low ^ hash32(high ^ 0x9E3779B9))


def uniform_draws(keys: torch.Tensor, step: int) -> torch.Tensor:
    """The uniform number in [0, 1) of step ``step`` for every row's key: float32 multiples of 2**-24, a function of
    (key, step) alone, so a row's draws do not depend on the rows beside it or on the device."""
    counter = int(hash32(torch.tensor(step & MASK32, dtype=torch.int64)))  # a Python int: no host-to-device copy per step
    bits = hash32(hash32(keys ^ counter) ^ keys)
    return (bits >> 8).to(torch.float32) * (1.0 / (1 << 24))


def sample_acgt(probabilities: torch.Tensor, temperature: float, top_k: int, top_p: float, uniforms: torch.Tensor) -> torch.Tensor:
    """One draw per row from (rows, 4) base probabilities with the rows' ``uniforms`` (:func:`uniform_draws`) by the
    inverse distribution function; returns base codes 0..3."""
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
    cumulative = probabilities.cumsum(dim=-1)
    target = uniforms.to(cumulative.dtype)[:, None] * cumulative[:, -1:]
    codes = (cumulative <= target).sum(dim=-1)
    # u * total can round up to total: never step past the last base that has probability
    last = probabilities.shape[-1] - 1 - (probabilities > 0).flip(-1).to(torch.int8).argmax(dim=-1)
    return torch.minimum(codes, last)


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
    step_mode: str = "auto",
) -> list[str]:
    """Continuations (upper-case A/C/G/T, ``n_tokens`` each) of equal-length prompts, one seed per prompt (row).

    Rows holding the same prompt (the samples of one prompt) share its prefill: the distinct prompts are prefilled
    once, as one batch, and the cache is copied to every row that continues them (:func:`expand_state`); then all
    rows advance one token per step together. Each row draws from its own seed's counter-based stream
    (:func:`uniform_draws`), so its draws do not depend on the other rows; its logits do only through the rounding
    of batched kernels (none on the CPU, where batched and one-by-one generation give the same bytes, tested; on a
    GPU a matrix product may round differently at another batch size, so a sample is reproduced exactly by its seed
    under the same batch composition).

    ``step_mode`` (:mod:`evocane.engines.evo2.decoding`): ``vortex`` = vortex's own stateful forward per token;
    ``static`` = the same step over fixed buffers, eagerly; ``graph`` = the static step replayed as a CUDA graph
    (CUDA only); ``auto`` = ``graph`` on CUDA when the model and prompt allow it (else ``vortex``), ``vortex`` on
    the CPU."""
    if step_mode not in STEPS:
        raise ValueError(f"step_mode must be one of {', '.join(STEPS)}, got {step_mode!r}")
    if len({len(p) for p in prompts}) != 1:
        raise ValueError("generate_batch needs prompts of equal length")
    device = model.embedding_layer.weight.device
    distinct = list(dict.fromkeys(prompts))
    row_of = torch.tensor([distinct.index(p) for p in prompts], dtype=torch.long, device=device)
    prompt = np.stack([upper(np.frombuffer(p.encode("ascii"), dtype=np.uint8)) for p in distinct])
    ids = torch.from_numpy(prompt.astype(np.int64)).to(device)
    keys = seed_keys(seeds, device)
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
    decode = _decode_step(model, state, batch, length, step_mode, n_tokens)
    for step in range(n_tokens):
        codes = sample_acgt(fold_acgt(last), temperature, top_k, top_p, uniform_draws(keys, step))
        out[:, step] = codes
        if step == n_tokens - 1:
            break
        if decode is not None:
            last = decode(tokens[codes], step)
            continue
        for key in ("mha", "hcl", "hcm", "hcs"):
            state[key].seqlen_offset = length + step
        logits, state = model(tokens[codes][:, None], inference_params_dict=state)
        last = logits[:, -1]
    return [BASES[row].tobytes().decode("ascii") for row in out.cpu().numpy()]


def _decode_step(model: nn.Module, state: dict[str, Any], rows: int, length: int, step_mode: str, n_tokens: int) -> DecodeStep | None:
    """The static decode step ``step_mode`` asks for, or None for vortex's own stateful forward."""
    on_gpu = model.embedding_layer.weight.device.type == "cuda"
    if step_mode == "vortex" or (step_mode == "auto" and (not on_gpu or n_tokens < 3)):
        return None  # (a graph pays from the third token on: step 1 is its warm-up, step 2 its first replay)
    reason = static_unsupported(model, state)
    if reason is not None:
        if step_mode == "auto":
            log.info("evo2 generate: vortex's stateful forward (no CUDA graph: %s)", reason)
            return None
        raise EvocaneError(f"evo2 generate: step_mode {step_mode} cannot run this model and prompt: {reason}")
    if step_mode == "graph" and not on_gpu:
        raise EvocaneError("evo2 generate: step_mode graph needs a CUDA device")
    return DecodeStep(model, state, rows, length, graph=step_mode != "static")
