"""The ``params:`` of an ``engine: evo2`` model entry, validated here (unknown keys are errors, as everywhere).

Every key and its default is declared in config/schema.yaml (models.<name>.params for engine evo2); absent keys are
filled from there (:mod:`evocane.engines.schema`), so the dataclasses below carry no defaults of their own. The
schema's defaults: Arc's ``evo2_7b_base`` (bf16-robust, so it runs without Transformer Engine), zero-shot, 8,192-token
scoring context. ``mode: lora`` / ``mode: full`` fine-tune on the dataset variant's train split.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from evocane.engines.evo2.settings import ScoreSettings, TrainSettings
from evocane.engines.schema import check_param_keys, engine_params
from evocane.errors import EvocaneError

MODES = ("zero_shot", "lora", "full")
COMPILE = ("auto", "on", "off")
ROTARY = ("torch", "triton")  # params.rotary (evocane.engines.evo2.rotary)
DEVICES = ("cuda", "cpu")
# params.lr null: the learning rate of each fine-tuning mode (the schema documents these)
DEFAULT_LR = {"lora": 1e-4, "full": 1e-5}


@dataclass(frozen=True)
class LoraParams:
    rank: int
    alpha: float
    dropout: float
    target_modules: tuple[str, ...]


@dataclass(frozen=True)
class Evo2Params:
    # which model and weights
    base_model: str  # an Arc model name (evo2_1b_base, evo2_7b_base, evo2_7b, ...), or a vortex .yml
    weights: str | None  # local .pt (or a directory holding <base_model>.pt); None = the Hugging Face cache
    download: bool  # fetch from Hugging Face when not cached
    revision: str | None  # Hub revision of the Arc weights (cache lookup and download); None = main
    fp8: str  # auto | on | off: FP8 input projections through Transformer Engine (see configs.py)
    random_init: bool  # random weights of base_model's shape (tests and benchmarks only)
    device: str  # cpu = tiny test models only (vortex has no CPU path; see cpu_shim.py)
    mode: str  # zero_shot | lora | full
    # scoring and embeddings
    context: int
    overlap: int
    prepend_bos: bool
    batch_tokens: int
    pad_multiple: int
    rotary: str  # torch | triton: evocane's PyTorch rotary (evo2/rotary.py) or vortex's Triton kernel
    kernels: bool  # vortex's Triton HCS/HCM/HCL kernels for scoring/embedding (inference only)
    fixed_shapes: bool  # scoring batch shapes from a small fixed set (settings.ScoreSettings)
    warmup: bool  # warm every planned batch shape up before timing the scoring
    compile: str  # auto | on | off: torch.compile the model for scoring batch shapes (CUDA)
    compile_min_bases: int  # compile: auto compiles the batch shapes that carry at least this many of a split's bases
    compile_cache: str | None  # persistent Triton/inductor cache directory; None = $XDG_CACHE_HOME/evocane
    embed_layers: tuple[str, ...]  # empty = blocks.<7/8 depth>.mlp.l3
    embed_splits: tuple[str, ...]  # splits the workflow embeds (rule evo2_embed)
    # generation
    generate_batch_size: int
    generate_cuda_graph: bool  # replay each generation step as a CUDA graph (decoding.py); false = vortex's own step
    # fine-tuning
    steps: int
    seq_length: int
    micro_batch_size: int
    micro_batch_tokens: int | None  # token budget per micro-batch; None = micro_batch_size rows
    grad_accum: int
    lr: float | None  # None = DEFAULT_LR of the mode
    min_lr_ratio: float
    warmup_steps: int
    weight_decay: float
    grad_clip: float
    softmasked_weight: float
    activation_checkpointing: bool
    master_weights: bool
    eval_every: int
    eval_windows: int
    checkpoint_every: int
    keep_checkpoints: int
    log_every: int
    max_windows: int | None
    seed: int
    lora: LoraParams

    @classmethod
    def from_mapping(cls, params: dict[str, Any] | None) -> Evo2Params:
        """Validate ``params`` (a model entry's mapping; absent keys take the schema's defaults)."""
        given = dict(params or {})
        check_param_keys("evo2", given, cls, LoraParams)
        if given.get("lora") is None:
            given.pop("lora", None)  # lora: null reads as the schema's default adapter
        values = engine_params("evo2", given)
        values["lora"] = LoraParams(**{**values["lora"], "target_modules": tuple(values["lora"]["target_modules"])})
        for key in ("embed_layers", "embed_splits"):
            values[key] = tuple(values[key] or ())
        out = cls(**values)
        out.check()
        return out

    def check(self) -> None:
        if self.mode not in MODES:
            raise EvocaneError(f"evo2 params: mode must be one of {', '.join(MODES)}, got '{self.mode}'")
        if self.device not in DEVICES:
            raise EvocaneError(f"evo2 params: device must be one of {', '.join(DEVICES)}, got '{self.device}'")
        unknown_splits = set(self.embed_splits) - {"train", "validation", "test"}
        if unknown_splits:
            raise EvocaneError(f"evo2 params: embed_splits must be train/validation/test, got {', '.join(sorted(unknown_splits))}")
        if self.rotary not in ROTARY:
            raise EvocaneError(f"evo2 params: rotary must be one of {', '.join(ROTARY)}, got '{self.rotary}'")
        if self.compile not in COMPILE:
            raise EvocaneError(f"evo2 params: compile must be one of {', '.join(COMPILE)}, got '{self.compile}'")
        if self.compile == "on" and self.device == "cpu":
            raise EvocaneError("evo2 params: compile: on needs device cuda (the CPU test path runs eager)")
        if self.generate_batch_size < 1:
            raise EvocaneError("evo2 params: generate_batch_size must be >= 1")
        if self.lora.rank < 1 or not self.lora.target_modules:
            raise EvocaneError("evo2 params: lora.rank must be >= 1 and lora.target_modules non-empty")
        self.score_settings().check()
        if self.mode != "zero_shot":
            self.train_settings().check()

    def compiled_shapes(self, lengths: Sequence[int] | np.ndarray, device_type: str) -> list[tuple[int, int]]:
        """The (rows, padded length) batch shapes that scoring a split of windows of these ``lengths`` (the whole
        split, whatever a shard selects) runs compiled: none off the GPU or with ``compile: off``, every shape with
        ``on``, and with ``auto`` the shapes that carry at least ``compile_min_bases`` of the split's tokens (each
        compiled shape costs one compilation per process; a shape that carries little would not repay it)."""
        if device_type != "cuda" or self.compile == "off":
            return []
        from evocane.engines.evo2.scoring import shape_tokens

        tokens = shape_tokens(lengths, self.score_settings())
        chosen = [shape for shape, count in tokens.items() if self.compile == "on" or count >= self.compile_min_bases]
        return sorted(chosen, reverse=True)

    def score_settings(self) -> ScoreSettings:
        return ScoreSettings(self.context, self.overlap, self.prepend_bos, self.batch_tokens, self.pad_multiple, self.fixed_shapes, self.warmup)

    def train_settings(self) -> TrainSettings:
        lr = self.lr if self.lr is not None else DEFAULT_LR["lora" if self.mode == "lora" else "full"]
        return TrainSettings(
            mode=self.mode, steps=self.steps, seq_length=self.seq_length, micro_batch_size=self.micro_batch_size,
            micro_batch_tokens=self.micro_batch_tokens, grad_accum=self.grad_accum, lr=lr, min_lr_ratio=self.min_lr_ratio, warmup_steps=self.warmup_steps,
            weight_decay=self.weight_decay, grad_clip=self.grad_clip, softmasked_weight=self.softmasked_weight,
            activation_checkpointing=self.activation_checkpointing, master_weights=self.master_weights,
            prepend_bos=self.prepend_bos, lora_rank=self.lora.rank, lora_alpha=self.lora.alpha,
            lora_dropout=self.lora.dropout, lora_targets=self.lora.target_modules, eval_every=self.eval_every,
            eval_windows=self.eval_windows, checkpoint_every=self.checkpoint_every,
            keep_checkpoints=self.keep_checkpoints, log_every=self.log_every, max_windows=self.max_windows,
            seed=self.seed,
        )  # fmt: skip

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["embed_layers"] = list(self.embed_layers)
        out["embed_splits"] = list(self.embed_splits)
        out["lora"]["target_modules"] = list(self.lora.target_modules)
        return out
