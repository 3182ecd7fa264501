"""``engine: external``: a model scored outside evocane, entered through the benchmark's exchange format
(:mod:`evocane.exchange`, docs/exchange-format.md) so it is evaluated, ranked and reported like any other model.

``params.predictions`` is a directory holding one submission per dataset variant (``{predictions}/{variant}/``);
or ``params.export_from`` ({model, member}) makes the workflow write the submission itself from another model's
predictions (``results/submissions/{model}/{variant}``, rule ``export_submission``): the round trip that proves an
exported model scores exactly as the model it came from. ``train`` writes a checkpoint that points at the
submission (with the sha256 of its files); ``score`` checks the submission against the dataset (or task dataset)
and imports it into the prediction contract. An external model cannot generate.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from evocane import layout
from evocane.atomic import atomic_dir
from evocane.dataset.arrays import dataset_variant_name
from evocane.engines.base import CHECKPOINT_META, Engine, ModelConfig, Prompt, SamplingConfig, read_checkpoint_meta, write_checkpoint_meta
from evocane.errors import EvocaneError
from evocane.exchange import Submission, import_nextbase, import_task, task_of

ENGINE = "external"


def submission_dir(model: str, params: Mapping[str, Any], variant: str) -> Path:
    """Where the submission of ``model`` for ``variant`` lives."""
    if params.get("export_from"):
        return Path(layout.submission(model, variant))
    if not params.get("predictions"):
        raise EvocaneError(f"config key 'models.{model}.params': an external model needs 'predictions' (a directory) or 'export_from'")
    return Path(params["predictions"]) / variant


class ExternalEngine(Engine):
    name = ENGINE

    def train(
        self, dataset_dir: Path, model: ModelConfig, out_dir: Path, init_checkpoint: Path | None = None,
        on_evaluation: Callable[[int, dict[str, float]], None] | None = None,
    ) -> Path:  # fmt: skip
        variant = dataset_variant_name(dataset_dir)
        directory = submission_dir(model.name, model.params, variant)
        submission = Submission.open(directory)
        submission.check_target(variant)
        pointer = {"submission": str(directory), "submission_model": submission.model, "files": submission.checksums()}
        with atomic_dir(out_dir) as temp:
            write_checkpoint_meta(temp, model, Path(dataset_dir), external=pointer)
        return Path(out_dir)

    def score(
        self, checkpoint: Path, dataset_dir: Path, split: str, out_dir: Path, distribution_windows: Sequence[str] = (),
        windows: Sequence[str] | None = None,
    ) -> Path:  # fmt: skip
        meta = read_checkpoint_meta(checkpoint)
        pointer = meta.get(ENGINE) or {}
        if "submission" not in pointer:
            raise EvocaneError(f"{Path(checkpoint) / CHECKPOINT_META}: lacks the external submission it points at")
        submission = Submission.open(pointer["submission"])
        if submission.checksums() != pointer.get("files"):
            raise EvocaneError(f"{submission.dir}: its files changed since {checkpoint} was written; train the model again")
        prediction_meta = {
            "model": meta["model"], "engine": ENGINE, "variant": dataset_variant_name(dataset_dir), "split": split,
            "submission": str(submission.dir), "submission_model": submission.model, "dataset": str(dataset_dir),
        }  # fmt: skip
        if task_of(dataset_dir) is not None:
            if windows is not None:
                raise EvocaneError(f"{checkpoint}: an external model's task scores are imported whole, not in shards")
            return import_task(submission, dataset_dir, out_dir, prediction_meta)
        return import_nextbase(submission, dataset_dir, split, out_dir, prediction_meta, distribution_windows, windows)

    def generate(self, checkpoint: Path, prompts: Sequence[Prompt], sampling: SamplingConfig, out_fasta: Path) -> Path:
        raise EvocaneError(f"{checkpoint}: an external model cannot generate (its predictions were imported)")


# --- workflow hooks (the engine registry names them) --------------------------------------------------------------------
def training_inputs(config: Mapping[str, Any], model: str, variant: str) -> list[str]:
    """The submission an external model's checkpoint points at: an input of its training job, so the workflow
    writes an exported submission first and retrains when a submission changes."""
    return [str(submission_dir(model, config["models"][model].get("params") or {}, variant))]


def check_models(config: Mapping[str, Any]) -> None:
    """Cross-key checks of the external models (the schema checks each params block alone)."""
    models = config.get("models") or {}
    for name, entry in models.items():
        if entry.get("engine") != ENGINE:
            continue
        params = entry.get("params") or {}
        key = f"config key 'models.{name}.params'"
        if bool(params.get("predictions")) == bool(params.get("export_from")):
            raise EvocaneError(f"{key}: give exactly one of 'predictions' (a directory of submissions) and 'export_from'")
        source = (params.get("export_from") or {}).get("model")
        if source is not None:
            if source not in models:
                raise EvocaneError(f"{key}.export_from.model: no model named '{source}' (have: {', '.join(models)})")
            if models[source].get("engine") == ENGINE:
                raise EvocaneError(f"{key}.export_from.model: '{source}' is itself an external model")
        if entry.get("shards") not in (None, 1):
            raise EvocaneError(f"config key 'models.{name}.shards': an external model is imported in one job, not in shards")
        for experiment, spec in (config.get("experiments") or {}).items():
            if spec.get("generate") and name in (spec.get("models") or list(models)):
                raise EvocaneError(f"config key 'experiments.{experiment}.generate': external model '{name}' cannot generate")
