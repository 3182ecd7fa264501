"""``engine: evo2`` — Evo 2 on one GPU through Arc's vortex: the :class:`evocane.engines.base.Engine` interface.

Checkpoint directory (what ``train`` writes, ``score``/``generate``/``embed`` read)::

    evocane_checkpoint.json   engine meta; ``evo2.kind`` = reference (zero-shot: points at Arc's weights) |
                              finetuned (full or LoRA); ``evo2.notes`` = precision/attention decisions
    config.yml                the vortex StripedHyena config the weights belong to
    model.pt                  finetuned: the weights in Arc's vortex layout (LoRA merged) — loadable by this engine
                              and by Arc's evo2 package (Evo2(<arc name>, local_path=.../model.pt))
    adapter.pt                LoRA: the adapter tensors alone (fp32), for inspection or reuse
    metrics.tsv               finetuned: the training curve (evocane.engines.training.METRIC_COLUMNS)

Resume states of an unfinished fine-tune live next to the checkpoint in ``<checkpoint>.resume/`` (outside the
atomically written directory); they are removed once the checkpoint is complete.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from evocane.atomic import atomic_dir
from evocane.engines.base import CHECKPOINT_META, Engine, ModelConfig, Prompt, SamplingConfig, read_checkpoint_meta, write_checkpoint_meta
from evocane.engines.evo2.params import Evo2Params
from evocane.errors import EvocaneError

log = logging.getLogger(__name__)

ENGINE = "evo2"


@dataclass
class Loaded:
    model: Any  # vortex StripedHyena
    config: dict[str, Any]
    device: Any  # torch.device
    notes: list[str]
    provenance: dict[str, Any]


@contextlib.contextmanager
def _device_context(params: Evo2Params) -> Iterator[Any]:
    import torch

    from evocane.engines.evo2.runtime import configure_caches, require_cuda

    configure_caches(params.compile_cache)
    with contextlib.ExitStack() as stack:
        if params.device == "cpu":
            from evocane.engines.evo2.cpu_shim import cpu_execution

            stack.enter_context(cpu_execution())
            device = torch.device("cpu")
        else:
            device = require_cuda()
        if params.rotary == "torch":
            from evocane.engines.evo2.rotary import torch_rotary

            stack.enter_context(torch_rotary())
        yield device


def _resolve(params: Evo2Params, kernels: bool) -> Any:
    from evocane.engines.evo2.configs import resolve_config

    return resolve_config(params.base_model, params.fp8, kernels=kernels)


def load_model(params: Evo2Params, checkpoint_meta: dict[str, Any] | None, checkpoint_dir: Path | None, device: Any, kernels: bool) -> Loaded:
    """The model a checkpoint (or, without one, ``params``) describes, on ``device``."""
    from evocane.engines.evo2.checkpoint import locate_weights
    from evocane.engines.evo2.configs import resolve_config
    from evocane.engines.evo2.model import build_model, load_arc_weights

    evo2 = (checkpoint_meta or {}).get("evo2", {})
    if evo2.get("kind") == "finetuned":
        assert checkpoint_dir is not None
        resolved = resolve_config(str(checkpoint_dir / "config.yml"), "auto" if not evo2.get("fp8") else "on", kernels=kernels)
        config = resolved.config
        model = build_model(config, device)
        load_arc_weights(model, str(checkpoint_dir / "model.pt"))
        return Loaded(model, config, device, evo2.get("notes", []) + resolved.notes, {"weights": str(checkpoint_dir / "model.pt")})
    resolved = _resolve(params, kernels)
    if params.random_init:
        model = build_model(resolved.config, device, seed=params.seed)
        return Loaded(model, resolved.config, device, resolved.notes + [f"random weights (seed {params.seed})"], {"weights": None})
    weights = locate_weights(resolved.arc, params.weights, params.download, params.revision)
    model = build_model(resolved.config, device)
    load_arc_weights(model, str(weights))
    return Loaded(model, resolved.config, device, resolved.notes, {"weights": str(weights)})


def _write_config(config: dict[str, Any], path: Path) -> None:
    from evocane.engines.evo2.configs import KERNEL_FLAGS

    clean = {key: value for key, value in config.items() if key not in KERNEL_FLAGS}
    path.write_text(yaml.safe_dump(clean, sort_keys=False))


class Evo2Engine(Engine):
    name = ENGINE

    # --- train ------------------------------------------------------------------------------------------------------
    def train(
        self, dataset_dir: Path, model: ModelConfig, out_dir: Path, init_checkpoint: Path | None = None,
        on_evaluation: Callable[[int, dict[str, float]], None] | None = None,
    ) -> Path:  # fmt: skip
        params = Evo2Params.from_mapping(model.params)
        dataset_dir, out_dir = Path(dataset_dir), Path(out_dir)
        if params.mode == "zero_shot":
            return self._write_reference(dataset_dir, model, params, out_dir)
        import pandas as pd

        from evocane.engines.evo2.checkpoint import export_arc_checkpoint
        from evocane.engines.evo2.training import METRIC_COLUMNS, train

        resume_dir = out_dir.with_name(out_dir.name + ".resume")
        with _device_context(params) as device:
            init_meta = read_checkpoint_meta(init_checkpoint) if init_checkpoint else None
            if init_meta is not None and init_meta.get("engine") != ENGINE:
                raise EvocaneError(f"{init_checkpoint}: an '{init_meta.get('engine')}' checkpoint cannot initialise an evo2 model")
            init_params = Evo2Params.from_mapping(init_meta["params"]) if init_meta else params
            loaded = load_model(init_params, init_meta, Path(init_checkpoint) if init_checkpoint else None, device, kernels=False)
            start = {"init": loaded.provenance, "init_checkpoint": str(init_checkpoint) if init_checkpoint else None,
                     "base_model": init_params.base_model, "random_init": init_params.random_init, "seed": init_params.seed}  # fmt: skip
            result = train(loaded.model, dataset_dir, params.train_settings(), device, resume_dir, start, on_evaluation)
            with atomic_dir(out_dir) as temp:
                export_arc_checkpoint(result.model, loaded.config, temp / "model.pt")
                _write_config(loaded.config, temp / "config.yml")
                if result.adapter is not None:
                    import torch

                    torch.save(result.adapter, temp / "adapter.pt")
                pd.DataFrame(result.metrics, columns=METRIC_COLUMNS).to_csv(temp / "metrics.tsv", sep="\t", index=False)
                write_checkpoint_meta(
                    temp, model, dataset_dir,
                    evo2={"kind": "finetuned", "mode": params.mode, "base_model": init_params.base_model,
                          "init": loaded.provenance, "init_checkpoint": str(init_checkpoint) if init_checkpoint else None,
                          "fp8": bool(loaded.config.get("use_fp8_input_projections")), "notes": loaded.notes,
                          "resumed_from_step": result.resumed_from},
                )  # fmt: skip
        shutil.rmtree(resume_dir, ignore_errors=True)
        return out_dir

    def _write_reference(self, dataset_dir: Path, model: ModelConfig, params: Evo2Params, out_dir: Path) -> Path:
        """Zero-shot: check that the model can be built here (precision decisions) and its weights exist, and
        record them; the weights are not copied."""
        from evocane.engines.evo2.checkpoint import locate_weights

        resolved = _resolve(params, kernels=False)
        weights = None if params.random_init else str(locate_weights(resolved.arc, params.weights, params.download, params.revision))
        with atomic_dir(out_dir) as temp:
            _write_config(resolved.config, temp / "config.yml")
            write_checkpoint_meta(
                temp, model, dataset_dir,
                evo2={"kind": "reference", "base_model": params.base_model, "weights": weights,
                      "fp8": resolved.fp8, "notes": resolved.notes},
            )  # fmt: skip
        return out_dir

    # --- score ------------------------------------------------------------------------------------------------------
    def score(
        self, checkpoint: Path, dataset_dir: Path, split: str, out_dir: Path, distribution_windows: Sequence[str] = (),
        windows: Sequence[str] | None = None,
    ) -> Path:  # fmt: skip
        from evocane.dataset.arrays import DatasetReader, dataset_variant_name
        from evocane.engines.evo2.scoring import score_split, shape_dispatch

        checkpoint = Path(checkpoint)
        meta = read_checkpoint_meta(checkpoint)
        params = Evo2Params.from_mapping(meta.get("params"))
        with _device_context(params) as device:
            loaded = load_model(params, meta, checkpoint, device, kernels=params.kernels)
            compiled = params.compiled_shapes(DatasetReader(dataset_dir).split_windows(split)["length"].to_numpy(), device.type)
            forward = shape_dispatch(loaded.model, compiled)
            prediction_meta = {
                "model": meta["model"], "engine": ENGINE, "variant": dataset_variant_name(dataset_dir), "split": split,
                "checkpoint": str(checkpoint), "evo2": {**meta.get("evo2", {}), "notes": loaded.notes, **loaded.provenance},
                "scoring": {"context": params.context, "overlap": params.overlap, "prepend_bos": params.prepend_bos,
                            "batch_tokens": params.batch_tokens, "kernels": params.kernels, "rotary": params.rotary,
                            "compiled_shapes": [list(shape) for shape in compiled]},
            }  # fmt: skip
            score_split(lambda ids: forward(ids)[0], dataset_dir, split, out_dir, prediction_meta, params.score_settings(), device, distribution_windows,
                        windows)  # fmt: skip
        return Path(out_dir)

    # --- generate ---------------------------------------------------------------------------------------------------
    def generate(self, checkpoint: Path, prompts: Sequence[Prompt], sampling: SamplingConfig, out_fasta: Path) -> Path:
        from tqdm import tqdm

        from evocane.engines.evo2.generation import generate_batch
        from evocane.predictions import GeneratedSequence, write_generated_fasta

        checkpoint = Path(checkpoint)
        meta = read_checkpoint_meta(checkpoint)
        params = Evo2Params.from_mapping(meta.get("params"))
        jobs = [(index, sample) for index in range(len(prompts)) for sample in range(sampling.samples_per_prompt)]
        jobs.sort(key=lambda job: (len(prompts[job[0]].sequence), job))
        records: list[GeneratedSequence] = []
        with _device_context(params) as device:
            loaded = load_model(params, meta, checkpoint, device, kernels=False)
            batches = []
            for job in jobs:
                if batches and len(batches[-1]) < params.generate_batch_size and len(prompts[batches[-1][0][0]].sequence) == len(prompts[job[0]].sequence):
                    batches[-1].append(job)
                else:
                    batches.append([job])
            for batch in tqdm(batches, desc="evo2 generate", unit="batch", mininterval=10):
                seeds = [sampling.sample_seed(index, sample) for index, sample in batch]
                texts = generate_batch(
                    loaded.model, [prompts[index].sequence for index, _ in batch], sampling.n_tokens, seeds,
                    sampling.temperature, sampling.top_k, sampling.top_p,
                    step_mode="auto" if params.generate_cuda_graph else "vortex",
                )  # fmt: skip
                for (index, sample), seed, text in zip(batch, seeds, texts):
                    records.append(GeneratedSequence(
                        prompts[index].id, sample, seed, text, meta["model"], sampling.temperature, sampling.top_k,
                        sampling.top_p, len(prompts[index].sequence),
                    ))  # fmt: skip
        order = {prompt.id: index for index, prompt in enumerate(prompts)}
        records.sort(key=lambda record: (order[record.prompt_id], record.sample))
        return write_generated_fasta(records, out_fasta)

    # --- embeddings (beyond the common interface) -------------------------------------------------------------------
    def embed(self, checkpoint: Path, dataset_dir: Path, split: str, out_dir: Path, layers: Sequence[str] = ()) -> Path:
        from evocane.dataset.arrays import dataset_variant_name
        from evocane.engines.evo2.embeddings import default_layer, embed_split

        checkpoint = Path(checkpoint)
        meta = read_checkpoint_meta(checkpoint)
        params = Evo2Params.from_mapping(meta.get("params"))
        with _device_context(params) as device:
            loaded = load_model(params, meta, checkpoint, device, kernels=params.kernels)
            layers = list(layers or params.embed_layers or [default_layer(int(loaded.config["num_layers"]))])
            out_meta = {"model": meta["model"], "engine": ENGINE, "variant": dataset_variant_name(dataset_dir), "checkpoint": str(checkpoint),
                        "evo2": {**meta.get("evo2", {}), "notes": loaded.notes}}  # fmt: skip
            return embed_split(loaded.model, dataset_dir, split, out_dir, layers, out_meta, params.score_settings(), device)


def checkpoint_summary(checkpoint: Path) -> dict[str, Any]:
    """The evo2 part of a checkpoint's meta (for reports and tests)."""
    return dict(json.loads((Path(checkpoint) / CHECKPOINT_META).read_text()).get("evo2", {}))
