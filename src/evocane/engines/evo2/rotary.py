"""Rotary position embedding in plain PyTorch, and :func:`torch_rotary`, which makes vortex use it instead of its
Triton kernel (``params.rotary: torch``, the default).

Why: vortex rotates q and k with a Triton kernel (Tri Dao's, from flash-attn). Triton compiles a kernel once per
specialisation of its integer arguments (sequence length, cache length and strides divisible by 16 or not), so the
first process that scores windows of mixed lengths compiles it several times: 6 s of a 32 s job for the 1B shape on
an H100, 0.71x of the warm forward instead of 0.89x (bench/RESULTS.md "Genome scale"); a persistent cache
(``compile_cache``) spares only the later processes (inside a torch.compile graph the kernel stays: one shape, one
specialisation). The same formula in PyTorch compiles nothing and gives the same bytes on a bf16 model: q/k and the
cos/sin tables are bf16, so each product is exact in fp32 and the sum is rounded once, with or without a fused
multiply-add (measured: byte-equal predictions). It runs on the CPU too (the tests' tiny models,
:mod:`evocane.engines.evo2.cpu_shim`).
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator
from typing import Any

import torch


def rotary_torch(
    x: torch.Tensor,
    cos: torch.Tensor,
    sin: torch.Tensor,
    seqlen_offsets: int | torch.Tensor = 0,
    cu_seqlens: torch.Tensor | None = None,
    max_seqlen: int | None = None,
    interleaved: bool = False,
    inplace: bool = False,
    conjugate: bool = False,
) -> torch.Tensor:
    """Rotary position embedding of ``x`` (batch, seqlen, heads, headdim) with tables cos/sin (positions,
    rotary_dim / 2): the first rotary_dim channels are rotated, pairwise (interleaved) or half against half; the
    signature of vortex's ``apply_rotary``. ``seqlen_offsets``: the position of row b's first token, one int or a
    (batch,) tensor."""
    if cu_seqlens is not None:
        raise NotImplementedError("evocane's PyTorch rotary does not support variable-length (packed) batches")
    batch, seqlen = x.shape[0], x.shape[1]
    half = cos.shape[1]
    if isinstance(seqlen_offsets, torch.Tensor):
        starts = seqlen_offsets.to(device=x.device, dtype=torch.long).view(batch, 1)
    else:
        starts = torch.full((batch, 1), int(seqlen_offsets), dtype=torch.long, device=x.device)
    positions = starts + torch.arange(seqlen, device=x.device).view(1, seqlen)  # (batch, seqlen)
    c = cos[positions].unsqueeze(2).to(torch.float32)  # (batch, seqlen, 1, half)
    s = sin[positions].unsqueeze(2).to(torch.float32)
    if conjugate:
        s = -s
    target = x if inplace else x.clone()
    rotated = target[..., : 2 * half]
    first, second = (rotated[..., 0::2], rotated[..., 1::2]) if interleaved else (rotated[..., :half], rotated[..., half:])
    first32, second32 = first.to(torch.float32), second.to(torch.float32)
    new_first = first32 * c - second32 * s  # both computed before either is written back (first32 may be a view of x)
    new_second = first32 * s + second32 * c
    first.copy_(new_first)
    second.copy_(new_second)
    return target


@contextlib.contextmanager
def torch_rotary() -> Iterator[None]:
    """While active, vortex's rotary embeddings (forward, backward, cached generation) call :func:`rotary_torch`.

    Inside a torch.compile graph the Triton kernel stays (the same bytes, see the module docstring): the PyTorch
    formula compiled into a batch shape's graph and fused there gave other bytes in the shards of a split than in the
    whole split (GPU test of compiled shards); the kernel is what the compiled shapes were measured and tested with."""
    from evocane.engines.evo2.runtime import import_vortex

    import_vortex()
    rotary = importlib.import_module("vortex.model.rotary")
    kernel = rotary.apply_rotary

    def apply_rotary(*args: Any, **kwargs: Any) -> torch.Tensor:
        if torch.compiler.is_compiling():
            return kernel(*args, **kwargs)
        return rotary_torch(*args, **kwargs)

    rotary.apply_rotary = apply_rotary
    try:
        yield
    finally:
        rotary.apply_rotary = kernel
