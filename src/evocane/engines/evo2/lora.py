"""LoRA for vortex models through peft.

Two vortex specifics:

- peft cannot inject into the bare ``StripedHyena``: its ``config`` is a ``dotdict`` that answers every attribute
  (``config.to_dict`` is ``None``, not missing), which peft's model inspection trips over. The model is wrapped in
  a plain ``nn.ModuleDict`` container (key ``model``) and peft injects into that.
- The Hyena input projection (``blocks.N.projections``) is vortex's ``TELinear``: Transformer Engine's ``Linear``
  when TE is installed, otherwise a pure-PyTorch stand-in; neither is an ``nn.Linear``, and both return
  ``(output, bias_or_None)``. peft skips such layers unless told how to wrap them: :class:`TELinearLora` is
  registered for ``TELinear`` through peft's custom-module API. It is peft's own LoRA ``Linear`` (same adapters,
  scaling, dropout, merge and unmerge: both TELinear variants hold a plain ``weight``) with a forward that keeps
  TELinear's tuple convention.

Adapters take the base layer's dtype (bf16 on a GPU: no fp32 casts of the activations in every adapted layer; the
optimizer keeps fp32 master copies, see training.py), and are merged into the base weights for export.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from evocane.engines.evo2.runtime import import_vortex
from evocane.errors import EvocaneError

# Hyena input projection, Hyena output projection, MLP (l1, l2 gate/up, l3 down), attention qkv and output
LORA_TARGETS = ("projections", "out_filter_dense", "l1", "l2", "l3", "Wqkv", "out_proj")
CONTAINER_KEY = "model"


def _telinear_lora_class() -> type[nn.Module]:
    from peft.tuners.lora import Linear as LoraLinear

    class TELinearLora(LoraLinear):  # type: ignore[misc, valid-type]
        """peft LoRA around vortex's ``TELinear`` (see the module docstring)."""

        def _get_in_out_features(self, module: nn.Module) -> tuple[int, int]:
            return int(module.in_features), int(module.out_features)

        def forward(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
            output = self.base_layer(x, *args, **kwargs)
            if self.disable_adapters or self.merged:
                return output
            result, extra = output if isinstance(output, tuple) else (output, None)
            for name in self.active_adapters:
                if name not in self.lora_A:
                    continue
                lora_A, lora_B = self.lora_A[name], self.lora_B[name]
                delta = lora_B(lora_A(self.lora_dropout[name](x.to(lora_A.weight.dtype)))) * self.scaling[name]
                result = result + delta.to(result.dtype)
            return (result, extra) if isinstance(output, tuple) else result

    return TELinearLora


def apply_lora(
    model: nn.Module, rank: int, alpha: float, dropout: float = 0.0, targets: Sequence[str] = LORA_TARGETS
) -> nn.ModuleDict:
    """Freeze ``model`` and inject LoRA adapters (fp32) into every module whose name ends with one of
    ``targets``; returns the container that holds the model under ``"model"``."""
    from peft import LoraConfig, inject_adapter_in_model

    vx = import_vortex()
    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    missing = [target for target in targets if target not in names]
    if missing:
        raise EvocaneError(f"evo2 params: lora.target_modules {', '.join(missing)} match no layer (known: {', '.join(LORA_TARGETS)})")
    for param in model.parameters():
        param.requires_grad_(False)
    container = nn.ModuleDict({CONTAINER_KEY: model})
    config = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout, target_modules=list(targets), bias="none")
    config._register_custom_module({vx.TELinear: _telinear_lora_class()})
    inject_adapter_in_model(config, container)
    for name, param in container.named_parameters():
        if "lora_" in name:
            param.requires_grad_(True)
    if not any(p.requires_grad for p in container.parameters()):
        raise EvocaneError("evo2: LoRA injection produced no trainable parameter")
    return container


def adapter_state_dict(container: nn.Module) -> dict[str, torch.Tensor]:
    """The trainable (adapter) tensors, by name inside the container."""
    return {name: param.detach().cpu() for name, param in container.named_parameters() if param.requires_grad}


def merge_lora(container: nn.ModuleDict) -> nn.Module:
    """Fold every adapter into its base weight and put the base layers back; returns the plain vortex model."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    model = container[CONTAINER_KEY]
    for name, module in list(model.named_modules()):
        if isinstance(module, BaseTunerLayer):
            with torch.no_grad():
                module.merge()
            parent_name, _, child = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            setattr(parent, child, module.get_base_layer())
    return model
