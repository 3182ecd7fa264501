"""The engine interface every model backend implements, the engine registry, and the config views the engines
share (models, sampling); the experiment table (which model runs on which variant) is :mod:`evocane.experiments`.

An engine turns a dataset variant into a checkpoint (``train``), a checkpoint plus a split into a prediction set
(``score``, through :class:`evocane.predictions.PredictionWriter`) and a checkpoint plus prompts into generated
sequences (``generate``, through :func:`evocane.predictions.write_generated_fasta`). The workflow rules and the
evaluation never name an engine: they call ``evocane train|score|generate``, which look the engine up here by the
``engine:`` of the model's config entry (train) or by the checkpoint's ``evocane_checkpoint.json`` (score, generate).
"""

from __future__ import annotations

import abc
import datetime as _dt
import importlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from evocane import __version__
from evocane.dataset.arrays import dataset_variant_name
from evocane.errors import EvocaneError

CHECKPOINT_META = "evocane_checkpoint.json"
SCORED_SPLITS = ("validation", "test")


@dataclass(frozen=True)
class ModelConfig:
    """One entry of the config's ``models:`` section."""

    name: str
    engine: str
    params: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    init_checkpoint: str | None = None


def _sampling_defaults() -> dict[str, Any]:
    from evocane.engines.schema import schema_defaults, section_schema

    return schema_defaults(section_schema("evaluation", "generation", "sampling"))


_SAMPLING_DEFAULTS = _sampling_defaults()


@dataclass(frozen=True)
class SamplingConfig:
    """How to sample continuations. ``temperature`` 0 = greedy; ``top_k`` 0 and ``top_p`` 1.0 = off.

    The defaults are config/schema.yaml's ``evaluation.generation.sampling`` defaults, read from there (a field
    default rather than a required field only because ``evocane generate`` derives its option types from them)."""

    n_tokens: int = _SAMPLING_DEFAULTS["n_tokens"]
    samples_per_prompt: int = _SAMPLING_DEFAULTS["samples_per_prompt"]
    temperature: float = _SAMPLING_DEFAULTS["temperature"]
    top_k: int = _SAMPLING_DEFAULTS["top_k"]
    top_p: float = _SAMPLING_DEFAULTS["top_p"]
    seed: int = _SAMPLING_DEFAULTS["seed"]

    def sample_seed(self, prompt_index: int, sample: int) -> int:
        """Every (prompt, sample) gets its own seed so each generated record can be reproduced alone."""
        return self.seed + prompt_index * self.samples_per_prompt + sample


@dataclass(frozen=True)
class Prompt:
    id: str
    sequence: str


class Engine(abc.ABC):
    """A model backend. Subclasses set ``name`` and implement the three methods; each writes its output
    atomically (nothing appears at the output path when it fails) and returns the output path."""

    name: str = ""
    # Whether a checkpoint this engine scores or generates with may run code shipped with its model (Hugging Face's
    # trust_remote_code). Set by the user (`evocane score|generate|task-score --trust-remote-code`, which the rules
    # pass from the model's own config), never read from a checkpoint's metadata: a checkpoint from elsewhere must
    # not be able to switch it on.
    allow_remote_code: bool = False

    @abc.abstractmethod
    def train(
        self, dataset_dir: Path, model: ModelConfig, out_dir: Path, init_checkpoint: Path | None = None,
        on_evaluation: Callable[[int, dict[str, float]], None] | None = None,
    ) -> Path:  # fmt: skip
        """Fit (or fine-tune from ``init_checkpoint``) on the ``train`` split of ``dataset_dir`` (select on
        ``validation`` if at all); write a checkpoint directory holding :data:`CHECKPOINT_META` (use
        :func:`write_checkpoint_meta`). A zero-shot engine writes a checkpoint that only points at its weights.
        An engine with a training loop calls ``on_evaluation(step, metrics)`` after each validation evaluation, with
        at least ``val_nonrepeat_bits`` (bits per base over the non-repeat validation targets); it may raise to stop
        training (the hyperparameter search prunes there)."""

    @abc.abstractmethod
    def score(
        self, checkpoint: Path, dataset_dir: Path, split: str, out_dir: Path, distribution_windows: Sequence[str] = (),
        windows: Sequence[str] | None = None,
    ) -> Path:  # fmt: skip
        """Score every window of ``split`` and write a prediction set at ``out_dir`` (one prediction directory, or
        one per member), with full A/C/G/T distributions for ``distribution_windows``.

        ``windows``: score only these windows of the split (None = all; :func:`selected_windows`), written in split
        order: one shard of a split scored by several jobs (``evocane score --shard``), whose gathered sets must
        equal the unsharded set byte for byte. So a window's values must not depend on which other windows are
        selected: an engine that computes windows together forms its groups and batches over the whole split, as
        without a selection, and computes those that hold a selected window."""

    @abc.abstractmethod
    def generate(self, checkpoint: Path, prompts: Sequence[Prompt], sampling: SamplingConfig, out_fasta: Path) -> Path:
        """Write ``sampling.samples_per_prompt`` continuations of every prompt to ``out_fasta``."""


# --- registry --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EngineEntry:
    """How the workflow runs an engine. ``target`` "module:Class" is imported only when the engine is used, so the
    ML extras (torch, vtx, the BioNeMo container) are needed only by the jobs that run them. ``conda_env`` names
    envs/<conda_env>.yaml, the environment of its jobs under ``--sdm conda``. ``own_rules``: the engine has a rule
    file of its own (BioNeMo's container steps) instead of the shared train/score/generate rules of
    rules/engines.smk. ``check``: "module:function" called with the validated config when the workflow is parsed,
    for the checks of its params that the schema cannot express (raises EvocaneError naming the key).
    ``trains``: "module:function" telling, from (config, model name), whether that model's checkpoint holds
    training curves (metrics.tsv); the engine then gets a training-curve figure in the report.
    ``dependencies``: "module:function" importing the engine's third-party Python dependencies and returning their
    versions (raises on a missing one); ``runs_on``: what the machine needs to run it (``cpu``, ``cpu_or_cuda``,
    ``cuda``, ``container``). Both only feed `evocane engines` (evocane.engines.readiness). ``inputs``:
    "module:function" giving, from (config, model name, variant), files the model's training job reads besides the
    dataset (the external engine's submission), so the workflow makes them first. ``shards``: whether the shared
    rules may split the model's scoring into shards (evaluation.nextbase.shards); False = always one job."""

    target: str | type[Engine]
    conda_env: str = "genome"
    own_rules: bool = False
    check: str | None = None
    trains: str | None = None
    dependencies: str | None = None
    runs_on: str = "cpu"
    inputs: str | None = None
    shards: bool = True


# Adding an engine: its module, and one line here (or register_engine from a plugin module).
_ENGINES: dict[str, EngineEntry] = {
    "markov": EngineEntry("evocane.engines.markov:MarkovEngine"),
    "hf": EngineEntry(
        "evocane.engines.hf:HFEngine", conda_env="hf", check="evocane.engines.hf.workflow:hf_params",
        trains="evocane.engines.hf.workflow:writes_curves", dependencies="evocane.engines.hf.workflow:dependencies",
        runs_on="cpu_or_cuda",
    ),
    "evo2": EngineEntry(
        "evocane.engines.evo2:Evo2Engine", conda_env="evo2", check="evocane.engines.evo2.workflow:check_models",
        trains="evocane.engines.evo2.workflow:writes_curves", dependencies="evocane.engines.evo2.runtime:dependencies",
        runs_on="cuda",
    ),
    "bionemo": EngineEntry("evocane.engines.bionemo:BioNeMoEngine", conda_env="bionemo", own_rules=True, runs_on="container"),
    "external": EngineEntry(
        "evocane.engines.external:ExternalEngine", check="evocane.engines.external:check_models",
        inputs="evocane.engines.external:training_inputs", shards=False,
    ),
}


def register_engine(name: str, target: str | type[Engine], conda_env: str = "genome", check: str | None = None) -> None:
    """Register an engine under ``name``: a class, or "module:Class" imported on first use."""
    if isinstance(target, str) and ":" not in target:
        raise ValueError(f"engine target must be 'module:Class', got {target!r}")
    _ENGINES[name] = EngineEntry(target, conda_env=conda_env, check=check)


def engine_names() -> list[str]:
    return sorted(_ENGINES)


def engine_entry(name: str) -> EngineEntry:
    if name not in _ENGINES:
        raise EvocaneError(f"unknown engine '{name}' (registered: {', '.join(engine_names())})")
    return _ENGINES[name]


def _function(target: str) -> Any:
    module_name, _, function_name = target.partition(":")
    return getattr(importlib.import_module(module_name), function_name)


def check_engine_params(config: Mapping[str, Any]) -> None:
    """Run every registered engine's ``check`` on the config (once per engine that has models)."""
    engines = {entry.get("engine") for entry in (config.get("models") or {}).values()}
    for name in sorted(e for e in engines if e in _ENGINES):
        check = _ENGINES[name].check
        if check:
            _function(check)(config)


def writes_training_curves(config: Mapping[str, Any], model: str) -> bool:
    """Whether ``model``'s checkpoint holds training curves (its engine's ``trains`` check)."""
    trains = engine_entry(config["models"][model]["engine"]).trains
    return bool(trains) and bool(_function(trains)(config, model))


def engine_inputs(config: Mapping[str, Any], model: str, variant: str) -> list[str]:
    """Files ``model``'s training job reads besides the dataset (its engine's ``inputs`` hook)."""
    inputs = engine_entry(config["models"][model]["engine"]).inputs
    return list(_function(inputs)(config, model, variant)) if inputs else []


def training_mode(meta: Mapping[str, Any]) -> str:
    """How a checkpoint was trained, from its metadata, for figure labels: LoRA, full fine-tune, fine-tune (from
    init_checkpoint) or from scratch. Engines record their kind/mode under their own name in the metadata."""
    own = meta.get(str(meta.get("engine"))) or {}
    if "lora" in (own.get("kind"), own.get("mode")):
        return "LoRA"
    if own.get("mode") == "full":  # a full fine-tune of a base model (evo2); hf's kind "full" = full weights saved
        return "full fine-tune"
    return "fine-tune" if meta.get("init_checkpoint") else "from scratch"


def get_engine(name: str) -> Engine:
    """An instance of the engine registered as ``name``; one clear error if unknown or not installed."""
    target = engine_entry(name).target
    if isinstance(target, str):
        module_name, _, class_name = target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            raise EvocaneError(f"engine '{name}' is not available: cannot import {module_name} ({error})") from None
        target = getattr(module, class_name, None)
        if target is None:
            raise EvocaneError(f"engine '{name}': {module_name} has no class {class_name}")
    engine = target()
    if not isinstance(engine, Engine):
        raise EvocaneError(f"engine '{name}': {target!r} does not implement evocane.engines.base.Engine")
    return engine


# --- checkpoints -----------------------------------------------------------------------------------------------------
def write_checkpoint_meta(checkpoint_dir: Path, model: ModelConfig, dataset_dir: Path, **extra: Any) -> None:
    """Record which model, engine and dataset produced a checkpoint; ``score``/``generate`` dispatch on it."""
    meta = {
        "model": model.name,
        "engine": model.engine,
        "params": model.params,
        "description": model.description,
        "init_checkpoint": model.init_checkpoint,
        "dataset": str(dataset_dir),
        "variant": dataset_variant_name(dataset_dir),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "evocane_version": __version__,
        **extra,
    }
    (Path(checkpoint_dir) / CHECKPOINT_META).write_text(json.dumps(meta, indent=2, default=str) + "\n")


def read_checkpoint_meta(checkpoint_dir: str | Path) -> dict[str, Any]:
    path = Path(checkpoint_dir) / CHECKPOINT_META
    if not path.exists():
        raise EvocaneError(f"{path}: not an evocane checkpoint (run `evocane train` first)")
    try:
        meta = json.loads(path.read_text())
    except ValueError as error:
        raise EvocaneError(f"{path}: not valid JSON ({error}); the checkpoint is damaged: train it again") from None
    if not isinstance(meta, dict):
        raise EvocaneError(f"{path}: checkpoint metadata must be a JSON object")
    for key in ("model", "engine"):
        if key not in meta:
            raise EvocaneError(f"{path}: lacks '{key}'")
    return meta


def checkpoint_model(checkpoint_dir: str | Path) -> ModelConfig:
    meta = read_checkpoint_meta(checkpoint_dir)
    return ModelConfig(meta["model"], meta["engine"], meta.get("params") or {}, meta.get("description", ""), meta.get("init_checkpoint"))


# --- config views ----------------------------------------------------------------------------------------------------
def model_config(config: Mapping[str, Any], name: str) -> ModelConfig:
    models = config.get("models") or {}
    if name not in models:
        raise EvocaneError(f"config: no model named '{name}' under 'models' (have: {', '.join(models) or 'none'})")
    entry = models[name]
    return ModelConfig(name, entry["engine"], dict(entry.get("params") or {}), entry.get("description", ""), entry.get("init_checkpoint"))


def sampling_config(config: Mapping[str, Any]) -> SamplingConfig:
    sampling = ((config.get("evaluation") or {}).get("generation") or {}).get("sampling") or {}
    return SamplingConfig(**{f.name: sampling[f.name] for f in fields(SamplingConfig) if f.name in sampling})


# --- inputs every engine's score/generate step shares ---------------------------------------------------------------
def select_distribution_windows(dataset_dir: str | Path, split: str, count: int) -> list[str]:
    """The ``count`` windows of ``split`` whose full distributions are kept, chosen from the data only (so every
    model keeps the same ones): most non-repeat CDS bases first, ties by window_id."""
    if count <= 0:
        return []
    from evocane.dataset.arrays import CDS, REPEAT, DatasetReader

    dataset = DatasetReader(dataset_dir)
    windows = dataset.split_windows(split)
    labels = dataset.arrays(split).labels
    coding = [
        int(np.count_nonzero((labels[o : o + n] & (CDS | REPEAT)) == CDS))
        for o, n in zip(windows["offset"].to_numpy(), windows["length"].to_numpy())
    ]
    order = sorted(range(len(windows)), key=lambda i: (-coding[i], str(windows["window_id"].iloc[i])))
    return [str(windows["window_id"].iloc[i]) for i in order[:count]]


def selected_windows(table: Any, windows: Sequence[str] | None, where: str) -> np.ndarray:
    """Boolean mask over the rows of a split's window ``table``: the rows named in ``windows`` (None = every row).
    A name that is not a window of the split is an error naming ``where``."""
    ids = table["window_id"].astype(str)
    if windows is None:
        return np.ones(len(table), dtype=bool)
    wanted = set(map(str, windows))
    mask = ids.isin(wanted).to_numpy()
    if int(mask.sum()) != len(wanted):
        unknown = sorted(wanted - set(ids[mask]))
        raise EvocaneError(f"{where}: {len(unknown)} selected windows are not in the split (e.g. {unknown[0]})")
    return mask


def shard_windows(dataset_dir: str | Path, split: str, shards: int) -> list[list[str]]:
    """The window ids of each of ``shards`` shards of ``split`` (:func:`evocane.predictions.plan_shards`:
    contiguous runs of windows in split order, balanced by bases)."""
    from evocane.dataset.arrays import DatasetReader
    from evocane.predictions import plan_shards

    table = DatasetReader(dataset_dir).split_windows(split)
    ids = table["window_id"].astype(str).tolist()
    return [ids[start:stop] for start, stop in plan_shards(table["length"].to_numpy(), shards)]


def make_prompts(dataset_dir: str | Path, split: str, count: int, length: int, seed: int) -> list[Prompt]:
    """``count`` prompts drawn at random (seeded) among the windows of ``split`` whose first ``length`` bases after
    the lineage tag hold no N: the tag (if the variant has one, so tag-conditioned models see it) plus those bases."""
    from evocane.dataset.arrays import WEIGHT_NONE, DatasetReader

    dataset = DatasetReader(dataset_dir)
    windows = dataset.split_windows(split)
    arrays = dataset.arrays(split)
    offsets = windows["offset"].to_numpy()
    ends = offsets + windows["prefix_length"].to_numpy() + length
    eligible = [
        i
        for i, (offset, end, n) in enumerate(zip(offsets, ends, windows["length"].to_numpy()))
        if end <= offset + n and not np.any(arrays.weights[end - length : end] == WEIGHT_NONE)
    ]
    if not eligible:
        raise EvocaneError(f"{dataset_dir}: no '{split}' window has {length} bases without N after its lineage tag")
    rng = np.random.default_rng(seed)
    chosen = sorted(rng.choice(eligible, size=min(count, len(eligible)), replace=False))
    return [Prompt(str(windows["window_id"].iloc[i]), bytes(arrays.tokens[offsets[i] : ends[i]]).decode("ascii")) for i in chosen]


def read_prompts(fasta: str | Path) -> list[Prompt]:
    """Prompt FASTA (from :func:`write_prompts`); not validated as nucleotides: a prompt may carry a lineage tag."""
    from evocane.genome.fasta import read_fasta

    prompts = [Prompt(record.name, record.sequence.decode()) for record in read_fasta(fasta, validate=False)]
    if not prompts:
        raise EvocaneError(f"{fasta}: no prompts")
    return prompts


def write_prompts(prompts: Sequence[Prompt], out_fasta: str | Path) -> Path:
    from evocane.atomic import atomic_path

    with atomic_path(out_fasta) as temp, open(temp, "w") as handle:
        for prompt in prompts:
            handle.write(f">{prompt.id}\n")
            for start in range(0, len(prompt.sequence), 80):
                handle.write(prompt.sequence[start : start + 80] + "\n")
    return Path(out_fasta)
