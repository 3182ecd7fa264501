"""What rules/hf.smk needs from the config, as plain functions (the .smk file keeps only rules)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from evocane.engines.hf.params import HFParams
from evocane.errors import EvocaneError
from evocane.experiments import Run


def hf_params(config: Mapping[str, Any]) -> dict[str, HFParams]:
    """Every hf model's params, with the checks the schema cannot express; EvocaneError names the model key."""
    out = {}
    for name, entry in (config.get("models") or {}).items():
        if entry["engine"] != "hf":
            continue
        try:
            params = HFParams.from_mapping(entry.get("params") or {})
        except EvocaneError as error:
            raise EvocaneError(f"config key 'models.{name}.params': {error}") from None
        if params.lora is not None and not (entry.get("init_checkpoint") or params.base_model):
            raise EvocaneError(f"config key 'models.{name}.params.lora': LoRA adapts existing weights; set init_checkpoint or params.base_model")
        out[name] = params
    return out


def writes_curves(config: Mapping[str, Any], model: str) -> bool:
    """An hf model trained for steps > 0 writes training curves."""
    return HFParams.from_mapping(config["models"][model].get("params") or {}).steps > 0


def dependencies() -> dict[str, str]:
    """Import what the hf engine's jobs import (`evocane engines`); their versions."""
    from evocane.engines.readiness import imported_versions

    return imported_versions(["torch", "transformers", "tokenizers", "safetensors", "peft"])
