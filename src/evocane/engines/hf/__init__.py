"""``engine: hf`` — causal DNA language models on transformers (CPU or one CUDA GPU).

- a small Llama-style decoder trained from scratch over Evo 2's byte vocabulary (:mod:`.tokenizer`, :mod:`.model`);
- full or LoRA (peft) fine-tuning from another hf checkpoint (``init_checkpoint``);
- any local ``AutoModelForCausalLM`` directory (``params.base_model``), zero-shot or fine-tuned: per-base scores
  when its tokenizer is per-base, per-sequence totals otherwise (:mod:`.scoring`);
- training with soft-masked bases down-weighted, warmup + cosine, gradient accumulation, bf16/fp32, checkpoints and
  resume after a kill (:mod:`.trainer`); scoring and generation through the prediction contract.

``params`` keys: :class:`evocane.engines.hf.params.HFParams`.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from evocane.engines.base import (
    Engine,
    ModelConfig,
    Prompt,
    SamplingConfig,
    checkpoint_model,
    dataset_variant_name,
    read_checkpoint_meta,
    write_checkpoint_meta,
)
from evocane.engines.hf.params import HFParams
from evocane.errors import EvocaneError

log = logging.getLogger(__name__)

__all__ = ["HFEngine", "HFParams"]


def resume_dir(out_dir: Path) -> Path:
    """Where an interrupted training run keeps its step checkpoints (beside the final checkpoint directory)."""
    return out_dir.parent / f".{out_dir.name}.resume"


class HFEngine(Engine):
    name = "hf"

    def train(
        self, dataset_dir: Path, model: ModelConfig, out_dir: Path, init_checkpoint: Path | None = None,
        on_evaluation: Callable[[int, dict[str, float]], None] | None = None,
    ) -> Path:  # fmt: skip
        import torch

        from evocane.atomic import atomic_dir
        from evocane.engines.hf import model as hf_model
        from evocane.engines.hf.data import WindowCrops
        from evocane.engines.hf.tokenizer import TokenMap, byte_tokenizer
        from evocane.engines.hf.trainer import train_loop, write_metrics

        params = HFParams.from_mapping(model.params)
        dataset_dir, out_dir = Path(dataset_dir), Path(out_dir)
        device = hf_model.resolve_device(params.device)
        precision = hf_model.resolve_precision(params.precision, device)
        hf_meta: dict[str, Any] = {"precision": precision, "device": str(device)}
        if params.lora is not None and init_checkpoint is None and not params.base_model:
            raise EvocaneError(f"model '{model.name}': LoRA adapts existing weights; give an init_checkpoint or params.base_model")
        if init_checkpoint is not None:
            init_checkpoint = Path(init_checkpoint)
            init_meta = read_checkpoint_meta(init_checkpoint)
            if init_meta.get("engine") != self.name:
                raise EvocaneError(f"{init_checkpoint}: an hf model can only start from an hf checkpoint (this one is engine '{init_meta.get('engine')}')")
        elif params.base_model and params.revision is None and not (Path(params.base_model) / "config.json").exists():
            raise EvocaneError(f"{params.base_model}: not a Hugging Face model directory (no config.json)")

        if params.steps == 0 and (init_checkpoint is not None or params.base_model):
            # zero-shot (a base_model, or another checkpoint as it is): point at the weights, load and copy nothing
            if init_checkpoint is not None:
                reference = hf_model.relative_reference(out_dir, init_checkpoint)
            else:
                reference, revision = _base_model_reference(params)
                hf_meta.update(revision=revision)
            with atomic_dir(out_dir) as temp:
                hf_meta.update(kind="reference", base=reference, steps=0)
                write_checkpoint_meta(temp, model, dataset_dir, hf=hf_meta, init_checkpoint=str(init_checkpoint) if init_checkpoint else None)
            return out_dir

        if init_checkpoint is not None:
            # trust_remote_code from this model's params (the user's config), never from the init checkpoint's meta
            network, tokenizer = hf_model.load_trainable_start(init_checkpoint, init_meta, params.trust_remote_code)
            start = {"init_checkpoint": str(init_checkpoint), "init_meta": (init_checkpoint / "evocane_checkpoint.json").read_text()}
        elif params.base_model:
            network, tokenizer = hf_model.load_pretrained(params.base_model, params.trust_remote_code, params.revision)
            reference, revision = _base_model_reference(params)
            start = {"base_model": reference, "revision": revision}
        else:
            network, tokenizer = hf_model.build_model(params, params.seed), byte_tokenizer()
            start = {"random_init_seed": params.seed}

        state = None
        if params.steps > 0:
            if params.lora is not None:
                network = hf_model.apply_lora(network, params.lora, params.seed)
            token_map = TokenMap.from_tokenizer(tokenizer)
            context = hf_model.context_length(network, params.context)
            fit = params.micro_batch_tokens is not None  # with a token budget, crops are padded to the longest one only
            train_data = WindowCrops(dataset_dir, "train", token_map, context, params.softmasked_weight, params.max_windows, params.seed, fit)
            val_data = WindowCrops(dataset_dir, "validation", token_map, context, params.softmasked_weight, None, params.seed, fit)
            fingerprint = _fingerprint(params, dataset_dir, start)
            torch.manual_seed(params.seed)  # LoRA dropout, attention dropout
            state = train_loop(
                network, train_data, val_data if len(val_data) else None, params, resume_dir(out_dir), device, precision,
                fingerprint, description=f"train {model.name}", on_evaluation=on_evaluation,
            )  # fmt: skip
            hf_meta.update(context=context, train_tokens=state.tokens, train_seconds=round(state.elapsed_s, 3))
            network.to("cpu")

        with atomic_dir(out_dir) as temp:
            if params.steps > 0 and params.lora is not None:
                network.save_pretrained(temp / "adapter")
                if init_checkpoint is not None:  # relative: results/ may move as a whole
                    reference = hf_model.relative_reference(out_dir, init_checkpoint)
                else:
                    reference, revision = _base_model_reference(params)
                    hf_meta.update(revision=revision)
                hf_meta.update(kind="lora", base=reference)
            else:
                network.save_pretrained(temp / "model")
                tokenizer.save_pretrained(temp / "model")
                hf_meta.update(kind="full")
            hf_meta.update(steps=params.steps, trainable_parameters=_count(network, trainable=True), parameters=_count(network))
            if state is not None:
                write_metrics(state.metrics, temp / "metrics.tsv")
            write_checkpoint_meta(temp, model, dataset_dir, hf=hf_meta, init_checkpoint=str(init_checkpoint) if init_checkpoint else None)
        shutil.rmtree(resume_dir(out_dir), ignore_errors=True)
        return out_dir

    def score(
        self, checkpoint: Path, dataset_dir: Path, split: str, out_dir: Path, distribution_windows: Sequence[str] = (),
        windows: Sequence[str] | None = None,
    ) -> Path:  # fmt: skip
        from evocane.engines.hf.scoring import score_split

        config, params, loaded = _load(checkpoint, self.allow_remote_code)
        meta = {
            "model": config.name, "engine": self.name, "variant": dataset_variant_name(dataset_dir), "split": split,
            "checkpoint": str(checkpoint), "dataset": str(dataset_dir), "kind": loaded.kind,
        }  # fmt: skip
        return score_split(loaded, dataset_dir, split, out_dir, meta, params.score_batch_size, params.stride, distribution_windows,
                           selection=windows)  # fmt: skip

    def generate(self, checkpoint: Path, prompts: Sequence[Prompt], sampling: SamplingConfig, out_fasta: Path) -> Path:
        from evocane.engines.hf.generation import generate_records
        from evocane.predictions import write_generated_fasta

        config, _, loaded = _load(checkpoint, self.allow_remote_code)
        return write_generated_fasta(generate_records(loaded, prompts, sampling, config.name), out_fasta)


def _load(checkpoint: Path, allow_remote_code: bool) -> tuple[ModelConfig, HFParams, Any]:
    """The checkpoint's model for scoring or generation; its own params' trust_remote_code is ignored (the caller's
    ``allow_remote_code`` decides)."""
    import dataclasses

    from evocane.engines.hf.model import HF_META_KEY, load_checkpoint

    meta = read_checkpoint_meta(checkpoint)
    config = checkpoint_model(checkpoint)
    params = dataclasses.replace(HFParams.from_mapping(config.params), trust_remote_code=allow_remote_code)
    return config, params, load_checkpoint(Path(checkpoint), params, meta.get(HF_META_KEY) or {})


def _base_model_reference(params: HFParams) -> tuple[str, str | None]:
    """How a checkpoint records ``params.base_model``: an absolute directory, or a Hub id with its revision."""
    assert params.base_model
    if params.revision is not None:
        return params.base_model, params.revision
    return str(Path(params.base_model).resolve()), None


def _fingerprint(params: HFParams, dataset_dir: Path, start: dict[str, Any]) -> str:
    """What must match for a resume: the params that shape training, the data and the starting weights."""
    from evocane.engines.training import fingerprint

    shaping = {k: v for k, v in params.as_dict().items() if k not in ("log_every", "device", "score_batch_size", "score_stride")}
    return fingerprint(shaping, dataset_dir, start)


def _count(network: Any, trainable: bool = False) -> int:
    return int(sum(p.numel() for p in network.parameters() if p.requires_grad or not trainable))
