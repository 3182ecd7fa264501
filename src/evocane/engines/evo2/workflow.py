"""What the workflow needs to know of the evo2 models when it is parsed (no torch imported here)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from evocane.experiments import Run
from evocane.engines.evo2.params import Evo2Params
from evocane.errors import EvocaneError


def evo2_params(config: Mapping[str, Any]) -> dict[str, Evo2Params]:
    """Every evo2 model's params, parsed (unknown keys and bad values are errors naming the model key)."""
    params = {}
    for name, entry in (config.get("models") or {}).items():
        if entry["engine"] != "evo2":
            continue
        try:
            params[name] = Evo2Params.from_mapping(entry.get("params"))
        except EvocaneError as error:
            raise EvocaneError(f"config key 'models.{name}.params': {error}") from None
    return params


def check_models(config: Mapping[str, Any]) -> None:
    """The evo2 checks the schema cannot express: params parse, and a CUDA model asks for a GPU."""
    for name, params in evo2_params(config).items():
        if params.device == "cuda" and config["models"][name]["resources"]["gpu"] < 1:
            raise EvocaneError(f"config key 'models.{name}.resources.gpu': engine evo2 needs a CUDA GPU, set gpu: 1")


def embedding_targets(config: Mapping[str, Any], runs: Sequence[Run]) -> list[tuple[str, str, str]]:
    """(model, variant, split) of every embedding the evo2 models' params.embed_splits ask for."""
    params = evo2_params(config)
    return [(run.model, run.variant, split) for run in runs if run.model in params for split in params[run.model].embed_splits]


def writes_curves(config: Mapping[str, Any], model: str) -> bool:
    """An evo2 model fine-tuned (lora/full; zero-shot is not) writes training curves."""
    return Evo2Params.from_mapping(config["models"][model].get("params")).mode != "zero_shot"
