"""Evo 2 model configurations: Arc's named checkpoints, their vortex configs, and the precision decisions.

Arc's tables (model name -> config file, Hugging Face repository) are read from the installed ``evo2`` package,
so they stay the single source of truth. The config files are vortex ``StripedHyena`` configs
(``evo2/configs/*.yml``); this module loads one, applies the runtime quirks and records each decision as a note
that ends up in the checkpoint and prediction metadata:

- ``use_flash_attn`` is switched off when flash-attn is not installed (vortex then uses PyTorch SDPA);
- ``use_fp8_input_projections``: every shipped config asks for FP8 input projections (Transformer Engine). The 1B,
  20B and 40B checkpoints give wrong scores without them (1B mean NLL about 1.24 instead of 1.08; Arc's ``evo2``
  refuses to load them without TE); the 7B checkpoints are robust in bf16. ``fp8: auto`` uses TE when installed,
  otherwise takes the bf16 route only where it is safe (7B) and refuses the rest with one clear message;
  ``fp8: on`` requires TE; ``fp8: off`` forces bf16 and records the accuracy warning.
"""

from __future__ import annotations

import copy
import importlib.util
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from evocane.engines.evo2.runtime import evo2_package_dir, flash_attn_available, transformer_engine_available
from evocane.errors import EvocaneError

FP8_MODES = ("auto", "on", "off")
KERNEL_FLAGS = ("use_hcs_kernel", "use_hcm_kernel", "use_hcl_kernel")
TINY = "tiny"  # a 4-layer random test model with the 1B layout (one block of each kind)


@dataclass(frozen=True)
class ArcModel:
    name: str
    config_file: str  # relative to the evo2 package
    repo_id: str  # Hugging Face repository of the vortex .pt
    filename: str  # <name>.pt

    @property
    def bf16_safe(self) -> bool:
        """Arc's rule (evo2 0.6.0 models.py): only the 7B checkpoints may drop FP8 input projections."""
        return "7b" in self.name


@cache
def arc_models() -> dict[str, ArcModel]:
    """Arc's named checkpoints, from ``evo2/utils.py`` (executed alone: importing the ``evo2`` package would
    import vortex and Triton)."""
    path = evo2_package_dir() / "utils.py"
    spec = importlib.util.spec_from_file_location("_evocane_arc_evo2_utils", path)
    if spec is None or spec.loader is None:
        raise EvocaneError(f"{path}: cannot read Arc's model tables")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {
        name: ArcModel(name, module.CONFIG_MAP[name], module.HF_MODEL_NAME_MAP[name], f"{name}.pt")
        for name in module.MODEL_NAMES
    }


@dataclass
class ResolvedConfig:
    """A vortex config ready for ``StripedHyena(dotdict(config))`` plus why it differs from the file."""

    name: str
    config: dict[str, Any]
    arc: ArcModel | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def fp8(self) -> bool:
        return bool(self.config.get("use_fp8_input_projections", False))

    @property
    def num_layers(self) -> int:
        return int(self.config["num_layers"])


def tiny_config() -> dict[str, Any]:
    """A 4-layer StripedHyena with Evo 2's layout (HCS, HCM, HCL, attention; column-split Wqkv, interleaved Hyena
    projections) and tiny widths, for tests: builds in milliseconds and runs on the CPU through the shim."""
    config = load_config_file(evo2_package_dir() / "configs" / "evo2-1b-8k.yml")
    config.update(
        model_name="evocane-tiny",
        hidden_size=64,
        num_filters=64,
        num_layers=4,
        hcs_layer_idxs=[0],
        hcm_layer_idxs=[1],
        hcl_layer_idxs=[2],
        attn_layer_idxs=[3],
        hcl_filter_groups=64,
        hcm_filter_groups=8,
        hcs_filter_groups=8,
        num_attention_heads=4,
        inner_mlp_size=128,
        state_size=4,
        max_seqlen=4096,
        use_fp8_input_projections=False,
    )
    return config


def load_config_file(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise EvocaneError(f"{path}: vortex model config not found")
    with open(path) as handle:
        config = yaml.safe_load(handle)
    if not isinstance(config, dict) or "num_layers" not in config:
        raise EvocaneError(f"{path}: not a vortex StripedHyena config (no num_layers)")
    return config


def resolve_config(base_model: str, fp8: str = "auto", kernels: bool = False, overrides: dict[str, Any] | None = None) -> ResolvedConfig:
    """The vortex config of ``base_model`` (an Arc model name, ``tiny``, or a path to a .yml) with the runtime
    quirks applied; raises EvocaneError where the model cannot give correct scores here."""
    if fp8 not in FP8_MODES:
        raise EvocaneError(f"evo2 params: fp8 must be one of {', '.join(FP8_MODES)}, got '{fp8}'")
    arc: ArcModel | None = None
    if base_model == TINY:
        config = tiny_config()
    elif base_model in arc_models():
        arc = arc_models()[base_model]
        config = load_config_file(evo2_package_dir() / arc.config_file)
    elif base_model.endswith((".yml", ".yaml")):
        config = load_config_file(base_model)
    else:
        raise EvocaneError(
            f"evo2 params: base_model '{base_model}' is neither an Arc model ({', '.join(arc_models())}), "
            f"'{TINY}', nor a path to a vortex .yml config"
        )
    config = copy.deepcopy(config)
    config.update(overrides or {})
    resolved = ResolvedConfig(base_model, config, arc)

    if config.get("use_flash_attn", False) and not flash_attn_available():
        config["use_flash_attn"] = False
        resolved.notes.append("flash-attn not installed: attention through torch scaled_dot_product_attention")

    wants_fp8 = bool(config.get("use_fp8_input_projections", False))
    bf16_safe = arc.bf16_safe if arc is not None else not wants_fp8
    if fp8 == "on":
        if not transformer_engine_available():
            raise EvocaneError(f"evo2 params: fp8 'on' needs NVIDIA Transformer Engine, which is not installed (model '{base_model}')")
        config["use_fp8_input_projections"] = True
        resolved.notes.append("FP8 input projections (Transformer Engine)")
    elif fp8 == "off":
        config["use_fp8_input_projections"] = False
        if wants_fp8 and not bf16_safe:
            resolved.notes.append(
                f"WARNING: {base_model} was trained with FP8 input projections; bf16 projections were forced "
                "(fp8: off) and degrade its scores (1B: mean NLL about 1.24 instead of 1.08, near-random BRCA1 AUC)"
            )
    elif wants_fp8:  # auto
        if transformer_engine_available():
            resolved.notes.append("FP8 input projections (Transformer Engine)")
        elif bf16_safe:
            config["use_fp8_input_projections"] = False
            resolved.notes.append("Transformer Engine not installed: bf16 input projections (safe for 7B checkpoints)")
        else:
            raise EvocaneError(
                f"evo2 model '{base_model}' needs FP8 input projections (NVIDIA Transformer Engine) for correct scores, "
                "and Transformer Engine is not installed. Install transformer-engine on the GPU node, use a 7B model "
                "(bf16-robust), or set params.fp8: off to accept degraded accuracy (1B: mean NLL about 1.24 instead "
                "of 1.08)"
            )

    for flag in KERNEL_FLAGS:
        config[flag] = bool(kernels)
    if kernels:
        resolved.notes.append("vortex Triton HCS/HCM/HCL kernels (inference only)")
    return resolved
