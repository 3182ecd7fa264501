"""What rules/hf.smk needs from the config, as plain functions (the .smk file keeps only rules)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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


def trained_checkpoints(config: Mapping[str, Any], runs: Sequence[Run], params: Mapping[str, HFParams], results: str) -> list[str]:
    """Checkpoints of every hf model the experiments train (steps > 0), and of the checkpoints they start from."""
    checkpoints = [f"{results}/models/{run.model}/{run.variant}/checkpoint" for run in runs if run.model in params and params[run.model].steps > 0]
    checkpoints += [config["models"][run.model]["init_checkpoint"] for run in runs if run.model in params and config["models"][run.model].get("init_checkpoint")]
    return list(dict.fromkeys(checkpoints))


def loss_curve_targets(checkpoints: Sequence[str], results: str, plot_format: str) -> list[str]:
    if not checkpoints:
        return []
    return [f"{results}/engines/hf/loss_curves.{plot_format}", f"{results}/engines/hf/loss_curves.tsv"]
