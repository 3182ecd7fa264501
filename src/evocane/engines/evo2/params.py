"""The ``params:`` of an ``engine: evo2`` model entry, validated here (unknown keys are errors, as everywhere).

Defaults: Arc's ``evo2_7b_base`` (bf16-robust, so it runs without Transformer Engine), zero-shot, 8,192-token
scoring context. ``mode: lora`` / ``mode: full`` fine-tune on the dataset variant's train split.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from evocane.engines.evo2.settings import ScoreSettings, TrainSettings
from evocane.errors import EvocaneError

MODES = ("zero_shot", "lora", "full")
DEVICES = ("cuda", "cpu")


@dataclass(frozen=True)
class LoraParams:
    rank: int = 16
    alpha: float = 32.0
    dropout: float = 0.0
    target_modules: tuple[str, ...] = ("projections", "out_filter_dense", "l1", "l2", "l3", "Wqkv", "out_proj")


@dataclass(frozen=True)
class Evo2Params:
    # which model and weights
    base_model: str = "evo2_7b_base"  # an Arc model name (evo2_1b_base, evo2_7b_base, evo2_7b, ...), or a vortex .yml
    weights: str | None = None  # local .pt (or a directory holding <base_model>.pt); null = the Hugging Face cache
    download: bool = False  # fetch from Hugging Face when not cached
    fp8: str = "auto"  # auto | on | off: FP8 input projections through Transformer Engine (see configs.py)
    random_init: bool = False  # random weights of base_model's shape (tests and benchmarks only)
    device: str = "cuda"  # cpu = tiny test models only (vortex has no CPU path; see cpu_shim.py)
    mode: str = "zero_shot"  # zero_shot | lora | full
    # scoring and embeddings
    context: int = 8192
    overlap: int = 512
    prepend_bos: bool = True
    batch_tokens: int = 65536
    pad_multiple: int = 16
    kernels: bool = False  # vortex's Triton HCS/HCM/HCL kernels for scoring/embedding (inference only)
    embed_layers: tuple[str, ...] = ()  # empty = blocks.<7/8 depth>.mlp.l3
    embed_splits: tuple[str, ...] = ()  # splits the workflow embeds (rule evo2_embed)
    # generation
    generate_batch_size: int = 8
    # fine-tuning
    steps: int = 100
    seq_length: int = 8192
    micro_batch_size: int = 1
    grad_accum: int = 8
    lr: float | None = None  # null = 1e-4 for LoRA, 1e-5 for full fine-tuning
    min_lr_ratio: float = 0.1
    warmup_steps: int = 10
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    softmasked_weight: float = 0.1
    activation_checkpointing: bool = True
    master_weights: bool = True
    eval_every: int = 50
    eval_windows: int = 16
    checkpoint_every: int = 50
    keep_checkpoints: int = 1
    log_every: int = 10
    max_windows: int | None = None
    seed: int = 0
    lora: LoraParams = field(default_factory=LoraParams)

    @classmethod
    def from_mapping(cls, params: dict[str, Any] | None) -> Evo2Params:
        values = dict(params or {})
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise EvocaneError(f"evo2 params: unknown key(s) {', '.join(sorted(unknown))} (known: {', '.join(sorted(known))})")
        if "lora" in values:
            lora = values["lora"] or {}
            if not isinstance(lora, dict):
                raise EvocaneError("evo2 params: lora must be a mapping (rank, alpha, dropout, target_modules)")
            unknown_lora = set(lora) - {f.name for f in fields(LoraParams)}
            if unknown_lora:
                raise EvocaneError(f"evo2 params: unknown lora key(s) {', '.join(sorted(unknown_lora))}")
            lora = dict(lora)
            if "target_modules" in lora:
                lora["target_modules"] = tuple(lora["target_modules"])
            values["lora"] = LoraParams(**lora)
        for key in ("embed_layers", "embed_splits"):
            if key in values:
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
        if self.generate_batch_size < 1:
            raise EvocaneError("evo2 params: generate_batch_size must be >= 1")
        if self.lora.rank < 1 or not self.lora.target_modules:
            raise EvocaneError("evo2 params: lora.rank must be >= 1 and lora.target_modules non-empty")
        self.score_settings().check()
        if self.mode != "zero_shot":
            self.train_settings().check()

    def score_settings(self) -> ScoreSettings:
        return ScoreSettings(self.context, self.overlap, self.prepend_bos, self.batch_tokens, self.pad_multiple)

    def train_settings(self) -> TrainSettings:
        lr = self.lr if self.lr is not None else (1e-4 if self.mode == "lora" else 1e-5)
        return TrainSettings(
            mode=self.mode, steps=self.steps, seq_length=self.seq_length, micro_batch_size=self.micro_batch_size,
            grad_accum=self.grad_accum, lr=lr, min_lr_ratio=self.min_lr_ratio, warmup_steps=self.warmup_steps,
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
