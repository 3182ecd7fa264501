"""Models: a small Llama-style decoder built from scratch, any AutoModelForCausalLM (a local directory, or a Hub
repository at a pinned revision), LoRA (peft), devices and precision, and the on-disk layout of an hf checkpoint.

Checkpoint directory (what ``train`` writes, ``score``/``generate`` read)::

    evocane_checkpoint.json   engine meta; ``hf.kind`` = full | lora | reference
    model/                    kind full: save_pretrained model + tokenizer (AutoModelForCausalLM / AutoTokenizer)
    adapter/                  kind lora: peft adapter; ``hf.base`` = the checkpoint (or model directory) it adapts,
                              relative to this directory for a checkpoint (results/ may move as a whole), or a Hub
                              repository id with ``hf.revision``
    metrics.tsv               the training curve (absent when nothing was trained)

Kind ``reference`` (no training: a zero-shot ``base_model``, or an init checkpoint as it is) only records
``hf.base`` (and ``hf.revision``), the same way.

``trust_remote_code`` always comes from the params of the model being trained or scored, never from the meta of
a checkpoint it builds on.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from evocane.engines.hf.params import HFParams, LoraParams
from evocane.engines.hf.tokenizer import EOD_ID, EVO2_VOCAB_SIZE, PAD_ID, TokenMap
from evocane.errors import EvocaneError


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise EvocaneError("hf params: device 'cuda' requested but no CUDA GPU is visible")
    return torch.device(name)


def resolve_precision(name: str, device: torch.device) -> str:
    if name == "auto":
        return "bf16" if device.type == "cuda" else "fp32"
    return name


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager[Any]:
    """Mixed precision: fp32 master weights, bf16 matmuls under autocast (no loss scaling needed for bf16)."""
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def build_model(params: HFParams, seed: int) -> torch.nn.Module:
    """A fresh Llama-style decoder over Evo 2's byte vocabulary, initialised from ``seed``."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=EVO2_VOCAB_SIZE,
        hidden_size=params.d_model,
        intermediate_size=params.ffn,
        num_hidden_layers=params.layers,
        num_attention_heads=params.heads,
        num_key_value_heads=params.heads,
        max_position_embeddings=params.context,
        attention_dropout=params.dropout,
        tie_word_embeddings=True,
        bos_token_id=EOD_ID,
        eos_token_id=EOD_ID,
        pad_token_id=PAD_ID,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    return model


def apply_lora(model: torch.nn.Module, lora: LoraParams, seed: int) -> torch.nn.Module:
    """Wrap ``model`` with LoRA adapters, their random initial weights drawn from ``seed`` (not from whatever state
    the process's global generator happens to be in after loading the model)."""
    from peft import LoraConfig, get_peft_model

    present = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    missing = [target for target in lora.target_modules if target not in present]
    if missing:
        raise EvocaneError(f"hf params: lora.target_modules {', '.join(missing)} are not modules of this model")
    config = LoraConfig(
        r=lora.rank, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=list(lora.target_modules),
        bias="none", task_type="CAUSAL_LM",
    )  # fmt: skip
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return get_peft_model(model, config)


def load_pretrained_dir(path: str | Path, trust_remote_code: bool = False) -> tuple[torch.nn.Module, Any]:
    """Any local Hugging Face causal-LM directory: the model (fp32) and its tokenizer. ``trust_remote_code`` runs
    the modelling/tokenizer code shipped in that directory (HyenaDNA-style models need it); never from the network."""
    path = Path(path)
    if not (path / "config.json").exists():
        raise EvocaneError(f"{path}: not a Hugging Face model directory (no config.json)")
    return _from_pretrained(path, trust_remote_code, local_files_only=True)


def load_pretrained(source: str | Path, trust_remote_code: bool, revision: str | None) -> tuple[torch.nn.Module, Any]:
    """``params.base_model``: a local directory when ``revision`` is None (nothing is downloaded), else the Hugging
    Face Hub repository ``source`` at exactly ``revision`` (from the local cache when it is there)."""
    if revision is None:
        return load_pretrained_dir(source, trust_remote_code)
    return _from_pretrained(str(source), trust_remote_code, local_files_only=False, revision=revision)


def _from_pretrained(source: str | Path, trust_remote_code: bool, **where: Any) -> tuple[torch.nn.Module, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # one bar per weight file; the engine shows its own progress
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code, **where)
        model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32, trust_remote_code=trust_remote_code, **where)
    except (OSError, ValueError) as error:
        raise EvocaneError(f"{source}: cannot load as AutoModelForCausalLM + AutoTokenizer: {error}") from None
    return model, tokenizer


def context_length(model: torch.nn.Module, requested: int) -> int:
    """Tokens per forward pass: the configured context, capped by what the model's positions allow."""
    config = getattr(model, "config", None)
    limit = None
    for key in ("max_position_embeddings", "n_positions", "max_seq_len", "seq_len"):
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            limit = value
            break
    return min(requested, limit) if limit else requested


@dataclass
class LoadedModel:
    """A model ready to score or generate: eval mode, on its device."""

    model: torch.nn.Module
    tokenizer: Any
    token_map: TokenMap
    context: int
    device: torch.device
    precision: str
    kind: str


HF_META_KEY = "hf"


def load_checkpoint(checkpoint: str | Path, params: HFParams, hf_meta: dict[str, Any]) -> LoadedModel:
    """Load what ``train`` wrote (see the module docstring) for scoring or generation."""
    checkpoint = Path(checkpoint)
    kind = hf_meta.get("kind")
    if kind == "full":
        model, tokenizer = load_pretrained_dir(checkpoint / "model", params.trust_remote_code)
    elif kind == "lora":
        from peft import PeftModel

        base, tokenizer = load_base(checkpoint, hf_meta, params.trust_remote_code)
        model = PeftModel.from_pretrained(base, checkpoint / "adapter", is_trainable=False)
    elif kind == "reference":
        model, tokenizer = load_base(checkpoint, hf_meta, params.trust_remote_code)
    else:
        raise EvocaneError(f"{checkpoint}: unknown hf checkpoint kind '{kind}'")
    device = resolve_device(params.device)
    model.to(device).eval()
    return LoadedModel(
        model, tokenizer, TokenMap.from_tokenizer(tokenizer), context_length(model, params.context), device,
        resolve_precision(params.precision, device), kind,
    )  # fmt: skip


def load_base(checkpoint: Path, hf_meta: dict[str, Any], trust_remote_code: bool) -> tuple[torch.nn.Module, Any]:
    """The full model a LoRA or reference checkpoint builds on (``hf_meta["base"]``): another hf checkpoint (LoRA
    merged), a model directory, or a Hub repository at ``hf_meta["revision"]``."""
    from evocane.engines.base import CHECKPOINT_META, read_checkpoint_meta

    base, revision = str(hf_meta["base"]), hf_meta.get("revision")
    if revision is not None:
        return load_pretrained(base, trust_remote_code, revision)
    base_path = resolve_relative(checkpoint, base)
    if (base_path / CHECKPOINT_META).exists():
        return load_trainable_start(base_path, read_checkpoint_meta(base_path), trust_remote_code)
    return load_pretrained_dir(base_path, trust_remote_code)


def load_trainable_start(checkpoint: Path, meta: dict[str, Any], trust_remote_code: bool) -> tuple[torch.nn.Module, Any]:
    """The weights of an hf checkpoint as one plain (LoRA-merged) model, to fine-tune or to adapt further.

    ``trust_remote_code`` is the caller's (the user's config), never the checkpoint's own ``params``: a checkpoint
    from elsewhere must not be able to switch on running the code that ships with its base model."""
    if meta.get("engine") != "hf":
        raise EvocaneError(f"{checkpoint}: an hf model can only start from an hf checkpoint (this one is engine '{meta.get('engine')}')")
    hf_meta = meta.get(HF_META_KEY) or {}
    kind = hf_meta.get("kind")
    if kind == "full":
        return load_pretrained_dir(checkpoint / "model", trust_remote_code)
    if kind == "reference":
        return load_base(checkpoint, hf_meta, trust_remote_code)
    if kind == "lora":
        from peft import PeftModel

        base, tokenizer = load_base(checkpoint, hf_meta, trust_remote_code)
        return PeftModel.from_pretrained(base, checkpoint / "adapter").merge_and_unload(), tokenizer
    raise EvocaneError(f"{checkpoint}: unknown hf checkpoint kind '{kind}'")


def relative_reference(from_dir: Path, target: Path) -> str:
    """How a checkpoint refers to another directory: relative when both share a parent tree (results/ can move)."""
    target = target.resolve()
    try:
        return os.path.relpath(target, from_dir.resolve())
    except ValueError:
        return str(target)


def resolve_relative(checkpoint: Path, reference: str) -> Path:
    path = Path(reference)
    resolved = path if path.is_absolute() else (checkpoint / path)
    if not resolved.exists():
        raise EvocaneError(f"{checkpoint}: the model it builds on, {reference}, was not found (at {resolved})")
    return resolved
