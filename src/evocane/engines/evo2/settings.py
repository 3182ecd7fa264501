"""Settings of scoring and fine-tuning (plain dataclasses, importable without torch: the workflow validates
model params when it is parsed)."""

from __future__ import annotations

from dataclasses import dataclass

from evocane.errors import EvocaneError

TRAIN_MODES = ("full", "lora")


@dataclass(frozen=True)
class ScoreSettings:
    context: int = 8192  # tokens per model call; longer windows are scored with sliding windows
    overlap: int = 512  # context carried into each further chunk of a long window
    prepend_bos: bool = True  # score position 0 from the BOS token
    batch_tokens: int = 65536  # padded tokens per batch (8 x 8192)
    pad_multiple: int = 16  # pad batch length to a multiple of this
    group_tokens: int = 1 << 23  # windows read, scored and written together (bounds host memory)

    def check(self) -> None:
        if self.context < 2 or not 0 <= self.overlap < self.context:
            raise EvocaneError(f"evo2 params: need context >= 2 and 0 <= overlap < context (got {self.context}, {self.overlap})")
        if self.batch_tokens < 1 or self.pad_multiple < 1 or self.group_tokens < 1:
            raise EvocaneError("evo2 params: batch_tokens, pad_multiple and group_tokens must be >= 1")


@dataclass(frozen=True)
class TrainSettings:
    mode: str = "lora"
    steps: int = 100
    seq_length: int = 8192
    micro_batch_size: int = 1
    grad_accum: int = 8
    lr: float = 1e-4
    min_lr_ratio: float = 0.1
    warmup_steps: int = 10
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    adam_betas: tuple[float, float] = (0.9, 0.95)
    softmasked_weight: float = 0.1
    activation_checkpointing: bool = True
    master_weights: bool = True
    prepend_bos: bool = True
    lora_rank: int = 16
    lora_alpha: float = 32.0
    lora_dropout: float = 0.0
    lora_targets: tuple[str, ...] = ()
    eval_every: int = 50
    eval_windows: int = 16
    checkpoint_every: int = 50
    keep_checkpoints: int = 1
    log_every: int = 10
    max_windows: int | None = None
    seed: int = 0

    def check(self) -> None:
        if self.mode not in TRAIN_MODES:
            raise EvocaneError(f"evo2 params: training mode must be one of {', '.join(TRAIN_MODES)}, got '{self.mode}'")
        for name in ("steps", "seq_length", "micro_batch_size", "grad_accum", "eval_every", "checkpoint_every", "keep_checkpoints", "log_every"):
            if int(getattr(self, name)) < 1:
                raise EvocaneError(f"evo2 params: {name} must be >= 1, got {getattr(self, name)}")
        if self.seq_length < 2:
            raise EvocaneError("evo2 params: seq_length must be >= 2")
        if not 0 <= self.softmasked_weight <= 1:
            raise EvocaneError(f"evo2 params: softmasked_weight must lie in [0, 1], got {self.softmasked_weight}")
