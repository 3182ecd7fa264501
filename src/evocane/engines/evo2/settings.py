"""Settings of scoring and fine-tuning (plain dataclasses, importable without torch: the workflow validates
model params when it is parsed). Built from :class:`evocane.engines.evo2.params.Evo2Params`, whose values (and
defaults) come from the config; none is defaulted here."""

from __future__ import annotations

from dataclasses import dataclass

from evocane.errors import EvocaneError

TRAIN_MODES = ("full", "lora")


@dataclass(frozen=True)
class ScoreSettings:
    context: int  # tokens per model call; longer windows are scored with sliding windows
    overlap: int  # context carried into each further chunk of a long window
    prepend_bos: bool  # score position 0 from the BOS token
    batch_tokens: int  # padded tokens per batch
    pad_multiple: int  # pad batch length to a multiple of this
    fixed_shapes: bool  # batch shapes from a small fixed set (coarse length buckets, power-of-two partial rows)
    warmup: bool  # run every planned batch shape once before the timed scoring
    group_tokens: int = 1 << 23  # windows read, scored and written together (bounds host memory; not a config key)

    def check(self) -> None:
        if self.context < 2 or not 0 <= self.overlap < self.context:
            raise EvocaneError(f"evo2 params: need context >= 2 and 0 <= overlap < context (got {self.context}, {self.overlap})")
        if self.batch_tokens < 1 or self.pad_multiple < 1 or self.group_tokens < 1:
            raise EvocaneError("evo2 params: batch_tokens, pad_multiple and group_tokens must be >= 1")


@dataclass(frozen=True)
class TrainSettings:
    mode: str
    steps: int
    seq_length: int
    micro_batch_size: int
    micro_batch_tokens: int | None  # token budget per micro-batch (rows = budget // crop length); None = micro_batch_size
    grad_accum: int
    lr: float
    min_lr_ratio: float
    warmup_steps: int
    weight_decay: float
    grad_clip: float
    softmasked_weight: float
    activation_checkpointing: bool
    master_weights: bool
    prepend_bos: bool
    lora_rank: int
    lora_alpha: float
    lora_dropout: float
    lora_targets: tuple[str, ...]
    eval_every: int
    eval_windows: int
    checkpoint_every: int
    keep_checkpoints: int
    log_every: int
    max_windows: int | None
    seed: int

    def check(self) -> None:
        if self.mode not in TRAIN_MODES:
            raise EvocaneError(f"evo2 params: training mode must be one of {', '.join(TRAIN_MODES)}, got '{self.mode}'")
        for name in ("steps", "seq_length", "micro_batch_size", "grad_accum", "eval_every", "checkpoint_every", "keep_checkpoints", "log_every"):
            if int(getattr(self, name)) < 1:
                raise EvocaneError(f"evo2 params: {name} must be >= 1, got {getattr(self, name)}")
        if self.micro_batch_tokens is not None and self.micro_batch_tokens < 1:
            raise EvocaneError(f"evo2 params: micro_batch_tokens must be >= 1, got {self.micro_batch_tokens}")
        if self.seq_length < 2:
            raise EvocaneError("evo2 params: seq_length must be >= 2")
        if not 0 <= self.softmasked_weight <= 1:
            raise EvocaneError(f"evo2 params: softmasked_weight must lie in [0, 1], got {self.softmasked_weight}")
