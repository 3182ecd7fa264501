"""The generation step (one token per row in, the next logits out) over fixed buffers, so that on a GPU it can be
captured once as a CUDA graph and replayed for every further token.

Why: a decode step of the 1B model is some 1,500 small kernels (25 blocks of norms, projections, FIR/IIR state
updates, MLPs). Launched one by one from Python they take ~24 ms per step on an H100 at batch 1 and at 16 rows alike
(bench/RESULTS.md "Genome scale"): the step is bound by launches, not by the GPU. A CUDA graph replays the recorded
kernels with one launch.

vortex's own stateful forward cannot be captured as it is: its attention writes the KV cache at a Python-int offset
and attends over the cache up to that offset (other shapes at every step), and its Hyena blocks return new state
tensors instead of updating the ones they read. :func:`static_step` runs the same modules and kernels with two
changes:

- attention blocks: the rotary offset and the cache position are read from device tensors (vortex's rotary kernel
  takes tensor offsets), k/v are written with ``index_copy_`` and the attention spans the whole cache with the later
  positions masked by -10000 (vortex's own causal fill value; the cache beyond the prompt is zeroed first, so masked
  positions contribute exact zeros);
- Hyena blocks: vortex's own ``sequential_forward``; the new FIR/IIR states are copied back into the tensors the step
  read, so the next step (or replay) reads them from the same addresses.

On the CPU the static step runs eagerly (the tests hold it against vortex's path); on CUDA :class:`DecodeStep`
runs the first step eagerly (warm-up: Triton specialisations, cuBLAS handles), captures the second and replays it.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from evocane.errors import EvocaneError

STEPS = ("auto", "graph", "static", "vortex")
STATE_TABLES = ("fir_state_dict", "fir_inner_state_dict", "state_dict")  # of vortex's Hyena inference params


def static_unsupported(model: nn.Module, state: dict[str, Any]) -> str | None:
    """Why the static step cannot run this model with this (prefilled) inference state, or None when it can.

    It needs one device for every block, plain self-attention (no GQA, cross-attention or convolved q/k/v), rotary
    without xPos scaling, and Hyena states already at their full length (a prompt at least as long as the longest
    FIR filter: a shorter one grows them step by step, which changes shapes)."""
    devices = {str(device) for device in getattr(model, "block_idx_to_device", {}).values()}
    if len(devices) > 1:
        return f"blocks on {len(devices)} devices"
    for index, block in enumerate(model.blocks):
        name = model.block_idx_to_name(index)
        params = state[name]
        if name == "mha":
            mha = block.inner_mha_cls
            if mha.cross_attn or mha.num_heads_kv != mha.num_heads or mha.dwconv or getattr(mha, "return_residual", False):
                return f"block {index}: attention other than plain self-attention"
            if mha.rotary_emb_dim <= 0 or mha.rotary_emb.scale is not None:
                return f"block {index}: attention without plain rotary embeddings"
            if mha.layer_idx not in params.key_value_memory_dict:
                return f"block {index}: no KV cache (prefill first)"
            continue
        hyena = block.filter
        layer = hyena.layer_idx
        filters = [(params.fir_state_dict, hyena.short_filter_weight)]
        if hyena.fir_inner_filter_length is not None:
            filters.append((params.fir_inner_state_dict, hyena.h))
        for table, weight in filters:
            if layer not in table:
                return f"block {index}: no FIR state (prefill first)"
            if table[layer].shape[-1] < weight.squeeze().shape[-1] - 1:
                return f"block {index}: prompt shorter than its FIR filter ({weight.squeeze().shape[-1]} taps)"
    return None


def _attention_step(block: nn.Module, x: torch.Tensor, kv_cache: torch.Tensor, offsets: torch.Tensor, position: torch.Tensor, max_seqlen: int) -> torch.Tensor:
    """vortex's AttentionBlock for one new token per row at cache position ``position`` (a one-element device tensor),
    over the whole cache with the later positions masked."""
    mha = block.inner_mha_cls
    rows = x.shape[0]
    qkv = mha.Wqkv(block.pre_norm(x)).unflatten(-1, (3, mha.num_heads, mha.head_dim))
    qkv = mha.rotary_emb(qkv, seqlen_offset=offsets, max_seqlen=max_seqlen)
    cache = kv_cache[:rows]
    cache.index_copy_(1, position, qkv[:, :, 1:])
    query = qkv[:, :, 0]
    keys, values = cache.unbind(dim=2)
    scale = mha.inner_cross_attn.softmax_scale or 1.0 / math.sqrt(query.shape[-1])
    scores = torch.einsum("bthd,bshd->bhts", query, keys * scale)
    scores = scores.masked_fill(torch.arange(keys.shape[1], device=keys.device) > position, -10000.0)
    attention = torch.softmax(scores, dim=-1, dtype=values.dtype)
    context = torch.einsum("bhts,bshd->bthd", attention, values)
    u = mha.out_proj(context.flatten(-2)) + x
    return block.mlp(block.post_norm(u)) + u


def static_step(model: nn.Module, state: dict[str, Any], tokens: torch.Tensor, offsets: torch.Tensor, position: torch.Tensor, max_seqlen: int) -> torch.Tensor:
    """Logits (rows, 1, vocabulary) after feeding ``tokens`` (rows, 1) at ``position``; updates ``state`` in place,
    reading and writing only tensors that exist before the call (capturable as a CUDA graph)."""
    x = model.embedding_layer(tokens)
    for index, block in enumerate(model.blocks):
        name = model.block_idx_to_name(index)
        params = state[name]
        if name == "mha":
            kv_cache = params.key_value_memory_dict[block.inner_mha_cls.layer_idx]
            x = _attention_step(block, x, kv_cache, offsets, position, max_seqlen)
            continue
        layer = block.filter.layer_idx
        tables = [getattr(params, name) for name in STATE_TABLES if layer in getattr(params, name, {})]
        read = [(table, table[layer]) for table in tables]
        x, _ = block(x, inference_params=params)
        for table, buffer in read:
            if table[layer] is not buffer:
                buffer.copy_(table[layer])
                table[layer] = buffer
    if model.norm is not None:
        x = model.norm(x)
    return model.unembed(x)


class DecodeStep:
    """Feeds one token per row at consecutive positions from ``length`` on; returns the next logits (rows, vocab).

    ``graph``: capture the step as a CUDA graph after the first (eager) call and replay it from then on; else every
    call runs :func:`static_step` eagerly."""

    def __init__(self, model: nn.Module, state: dict[str, Any], rows: int, length: int, graph: bool) -> None:
        device = model.embedding_layer.weight.device
        self.model, self.state, self.length = model, state, length
        self.max_seqlen = int(state["mha"].max_seqlen)
        self.tokens = torch.zeros((rows, 1), dtype=torch.long, device=device)
        self.offsets = torch.full((rows,), length, dtype=torch.int32, device=device)
        self.position = torch.full((1,), length, dtype=torch.long, device=device)
        for cache in state["mha"].key_value_memory_dict.values():
            cache[:, length:].zero_()  # torch.empty: masked garbage could be NaN, and 0 x NaN is NaN
        self.graph_wanted = graph and device.type == "cuda"
        self.graph: torch.cuda.CUDAGraph | None = None
        self.logits: torch.Tensor | None = None

    def _run(self) -> torch.Tensor:
        return static_step(self.model, self.state, self.tokens, self.offsets, self.position, self.max_seqlen)[:, -1]

    def __call__(self, tokens: torch.Tensor, step: int) -> torch.Tensor:
        """Logits after feeding ``tokens`` (rows,) as step ``step`` (position ``length + step``)."""
        self.tokens.copy_(tokens[:, None])
        self.offsets.fill_(self.length + step)
        self.position.fill_(self.length + step)
        if self.graph is not None:
            self.graph.replay()
            assert self.logits is not None
            return self.logits
        if not self.graph_wanted:
            return self._run()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            logits = self._run().clone()
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph):
                self.logits = self._run()
        except RuntimeError as error:
            raise EvocaneError(f"evo2 generate: capturing the decode step as a CUDA graph failed ({error}); set params.generate_cuda_graph: false") from error
        self.graph = graph
        return logits
