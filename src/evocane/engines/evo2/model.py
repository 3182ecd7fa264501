"""Building, initialising, loading and running vortex ``StripedHyena`` models, with the quirks handled.

- ``load_checkpoint`` runs under ``torch.inference_mode()``: the parameters (and buffers) it re-creates are
  inference tensors, which backward refuses. :func:`rematerialise` replaces every such tensor by a normal copy and
  drops the per-layer caches vortex filled in inference mode, so a loaded model can be trained.
- A randomly initialised StripedHyena gives non-finite logits because the long (HCL) filters' ``log_poles`` start
  as N(0, 1): :func:`init_random_weights` draws them negative (stable, decaying filters).
- The HCL filter ``h[d, l] = sum_s residues[d, s] * exp(log_poles[d, s] * l)`` is built by vortex through a
  (channels, state, length) intermediate: 17 GB per layer for the 7B at 65,536 tokens. :func:`install_chunked_filters`
  builds the same values a slice of positions at a time.
- :func:`forward_logits` runs the blocks itself so each block can be activation-checkpointed in training.
"""

from __future__ import annotations

import contextlib
import logging
import types
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from evocane.engines.evo2.runtime import import_vortex

log = logging.getLogger(__name__)

FILTER_CHUNK = 8192  # positions per slice of the HCL filter build


def build_model(config: dict[str, Any], device: torch.device, seed: int | None = None) -> nn.Module:
    """A ``StripedHyena`` from a resolved config, parameters in Evo 2's dtypes (bf16; poles and residues fp32;
    on a CPU everything fp32, since bf16 arithmetic there is emulated and ~100x slower). With ``seed`` the
    weights are random but reproducible and usable (see :func:`init_random_weights`)."""
    vx = import_vortex()
    fork = torch.random.fork_rng(devices=[device] if device.type == "cuda" else []) if seed is not None else contextlib.nullcontext()
    with fork:
        if seed is not None:
            torch.manual_seed(seed)
        model = vx.StripedHyena(vx.dotdict(config))
        if seed is not None:
            init_random_weights(model, seed)
    # the dtype round trip load_checkpoint makes (rotary inv_freq ends fp32 with bf16-rounded values), so a model
    # built here and the same weights loaded from a file compute exactly the same thing
    model.to_bfloat16_except_pr_lc(to_float32=True)
    model.to_bfloat16_except_pr_lc()
    if device.type == "cpu":
        model.float()
    install_chunked_filters(model)
    return model.eval()


def init_random_weights(model: nn.Module, seed: int) -> None:
    """A well-conditioned random initialisation (vortex's own gives non-finite logits and, once those are fixed,
    logits of magnitude ~sqrt(hidden size)):

    - HCL ``log_poles`` ~ U(-1, -0.01) (stable, decaying filters; vortex draws N(0, 1), whose positive poles
      overflow ``exp(log_poles * t)``), ``residues`` ~ N(0, 0.1);
    - explicit FIR filters (HCS/HCM ``h``, the short input filters) ~ N(0, 1/filter length), so a convolution
      keeps the scale of its input;
    - the (tied) embedding ~ N(0, 0.02), so the logits start near uniform as a language model's do.

    With these, two implementations of the same model (e.g. vortex's Triton kernels) can be compared at bf16
    precision on random weights; with logits in the hundreds, bf16 rounding alone flips the argmax."""
    vx = import_vortex()
    generator = torch.Generator().manual_seed(seed)

    def draw(param: torch.Tensor, std: float) -> None:
        param.copy_((torch.randn(param.shape, generator=generator) * std).to(param))

    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, vx.HyenaCascade):
                draw(module.short_filter_weight, module.short_filter_weight.shape[-1] ** -0.5)
                if getattr(module, "log_poles", None) is not None:
                    module.log_poles.copy_(torch.empty(module.log_poles.shape).uniform_(-1.0, -0.01, generator=generator).to(module.log_poles))
                    draw(module.residues, 0.1)
                if isinstance(module.h, nn.Parameter):
                    draw(module.h, module.h.shape[-1] ** -0.5)
        draw(model.embedding_layer.weight, 0.02)


def load_arc_weights(model: nn.Module, path: str) -> None:
    """Load an Arc-layout vortex ``.pt`` (Arc's checkpoints and this engine's exports) through vortex's own
    ``load_checkpoint`` (dtype handling, TE FP8 extra states, the Savanna ``Wqkv`` row permutation), then make
    the parameters trainable again."""
    from evocane.errors import EvocaneError

    vx = import_vortex()
    try:
        vx.load_checkpoint(model, path)
    except (RuntimeError, KeyError, OSError) as error:
        raise EvocaneError(f"{path}: cannot load as vortex weights for this model config: {error}") from None
    rematerialise(model)
    if next(model.parameters()).device.type == "cpu":
        model.float()  # see build_model


def rematerialise(model: nn.Module) -> None:
    """Replace inference tensors (left by ``load_checkpoint``) with normal ones and drop caches built in
    inference mode, so the model can be trained; a no-op on a model that holds none."""
    vx = import_vortex()
    for module in model.modules():
        for name, param in list(module._parameters.items()):
            if param is not None and param.is_inference():
                module._parameters[name] = nn.Parameter(param.data.clone(), requires_grad=param.requires_grad)
        for name, buffer in list(module._buffers.items()):
            if buffer is not None and buffer.is_inference():
                module._buffers[name] = buffer.clone()
        if isinstance(module, vx.HyenaCascade):
            module.t = None  # time index cached by the filter build
        if hasattr(module, "_cos_cached"):  # rotary tables
            module._seq_len_cached = 0
            module._cos_cached = module._sin_cached = None
            module._cos_k_cached = module._sin_k_cached = None


def _chunked_compute_filter(self: Any, L: int, device: torch.device) -> tuple[torch.Tensor, torch.dtype, torch.Tensor, torch.Tensor]:
    """vortex's ``HyenaCascade.compute_filter`` (same values, same return) built ``FILTER_CHUNK`` positions at a
    time; with frozen filters the slices are built without autograd."""
    if self.t is not None and self.t.is_inference() and not torch.is_inference_mode_enabled():
        self.t = None  # cached while scoring; autograd refuses inference tensors
    self.update_time(L, device)
    residues = self.residues.to(torch.float32)
    log_poles = self.log_poles.to(torch.float32)
    time = self.t.reshape(-1)[:L]
    grad = torch.is_grad_enabled() and (residues.requires_grad or log_poles.requires_grad)
    with torch.set_grad_enabled(grad):
        slices = [
            (residues[..., None] * (log_poles * time[start : start + FILTER_CHUNK]).exp()).sum(1)
            for start in range(0, L, FILTER_CHUNK)
        ]
        h = (slices[0] if len(slices) == 1 else torch.cat(slices, dim=-1))[None]
    return h, torch.float32, log_poles, residues


def install_chunked_filters(model: nn.Module) -> None:
    vx = import_vortex()
    for module in model.modules():
        if isinstance(module, vx.HyenaCascade) and module.h is None and not module.engine.use_hcl_kernel:
            module.compute_filter = types.MethodType(_chunked_compute_filter, module)


def forward_logits(model: nn.Module, input_ids: torch.Tensor, checkpoint_blocks: bool = False) -> torch.Tensor:
    """Logits (batch, length, vocab) of a single-device StripedHyena; with ``checkpoint_blocks`` every block's
    activations are recomputed in backward instead of stored (non-reentrant torch.utils.checkpoint)."""
    if not checkpoint_blocks:
        return model(input_ids)[0]
    from torch.utils.checkpoint import checkpoint

    x = model.embedding_layer(input_ids)
    for index, block in enumerate(model.blocks):
        x = x.to(model.block_idx_to_device[index])  # vortex spreads blocks over every visible GPU
        x = checkpoint(_run_block, block, x, use_reentrant=False)
    x = model.norm(x.to(model.block_idx_to_device[0]))
    return model.unembed(x)


def _run_block(block: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return block(x, inference_params=None, padding_mask=None)[0]


@contextlib.contextmanager
def capture(model: nn.Module, layer_names: list[str]) -> Iterator[dict[str, torch.Tensor]]:
    """Forward hooks that keep the output (first element of a tuple) of each named submodule, e.g.
    ``blocks.24.mlp.l3`` or ``blocks.20``; the dict is refilled on every forward."""
    from evocane.errors import EvocaneError

    outputs: dict[str, torch.Tensor] = {}
    handles = []
    try:
        for name in layer_names:
            try:
                module = model.get_submodule(name)
            except AttributeError:
                raise EvocaneError(f"evo2: no layer named '{name}' in the model (e.g. blocks.0, blocks.0.mlp.l3, norm)") from None

            def hook(_module: nn.Module, _inputs: Any, output: Any, name: str = name) -> None:
                outputs[name] = output[0] if isinstance(output, tuple) else output

            handles.append(module.register_forward_hook(hook))
        yield outputs
    finally:
        for handle in handles:
            handle.remove()


def trainable_summary(model: nn.Module) -> tuple[int, int]:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, total
