"""The ``params:`` of an ``engine: hf`` model entry, validated here (unknown keys are errors, as everywhere).

Every key and its default is declared in config/schema.yaml (models.<name>.params for engine hf); absent keys are
filled from there (:mod:`evocane.engines.schema`), so the dataclasses below carry no defaults of their own. The
schema's defaults give the CPU-friendly demo model: a 4-layer Llama-style decoder (RoPE, RMSNorm, SwiGLU) over
Evo 2's 512-entry byte vocabulary.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from evocane.engines.schema import check_param_keys, engine_params
from evocane.errors import EvocaneError

PRECISIONS = ("auto", "fp32", "bf16")
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class LoraParams:
    rank: int
    alpha: float
    dropout: float
    target_modules: tuple[str, ...]


@dataclass(frozen=True)
class HFParams:
    # architecture of a model built from scratch (ignored when base_model or an init checkpoint gives the weights)
    layers: int
    d_model: int
    heads: int
    ffn: int
    context: int  # tokens per training crop and per scoring chunk
    dropout: float  # attention dropout
    # a Hugging Face AutoModelForCausalLM to start from instead of a fresh model (zero-shot when steps is 0): a local
    # directory, or with ``revision`` a Hub repository fetched at exactly that revision
    base_model: str | None
    revision: str | None
    trust_remote_code: bool  # run modelling code shipped with base_model; only ever from the user's config
    # optimisation (steps 0 = no training: a random-init baseline, or a zero-shot base_model)
    steps: int
    batch_size: int
    micro_batch_tokens: int | None  # token budget per micro-batch (rows = budget // crop width); None = batch_size
    grad_accum: int
    lr: float
    min_lr_ratio: float  # cosine decays to lr * min_lr_ratio
    warmup_steps: int
    weight_decay: float
    grad_clip: float
    softmasked_weight: float  # loss weight of soft-masked bases (Evo 2, GPN, PlantCAD); N/IUPAC/tags get 0
    max_windows: int | None  # subsample this many train windows (seeded) for quick runs
    seed: int
    # bookkeeping
    log_every: int
    eval_every: int
    eval_windows: int
    checkpoint_every: int
    keep_checkpoints: int
    precision: str  # auto = bf16 on CUDA, fp32 on CPU
    device: str
    # LoRA fine-tuning (None = full fine-tuning)
    lora: LoraParams | None
    # scoring
    score_batch_size: int
    score_stride: int | None  # new positions per chunk for windows longer than context (None = context/2)

    @classmethod
    def from_mapping(cls, params: dict[str, Any] | None) -> HFParams:
        """Validate ``params`` (a model entry's mapping; absent keys take the schema's defaults)."""
        given = dict(params or {})
        check_param_keys("hf", given, cls, LoraParams)
        values = engine_params("hf", given)
        if values["lora"] is not None:
            values["lora"] = LoraParams(**{**values["lora"], "target_modules": tuple(values["lora"]["target_modules"])})
        out = cls(**values)
        out._check()
        return out

    def _check(self) -> None:
        positive = ("layers", "d_model", "heads", "ffn", "context", "batch_size", "grad_accum", "log_every", "eval_every",
                    "checkpoint_every", "keep_checkpoints", "score_batch_size")  # fmt: skip
        for name in positive:
            if int(getattr(self, name)) < 1:
                raise EvocaneError(f"hf params: {name} must be >= 1, got {getattr(self, name)}")
        if self.d_model % self.heads:
            raise EvocaneError(f"hf params: d_model ({self.d_model}) must be a multiple of heads ({self.heads})")
        if self.steps < 0 or self.warmup_steps < 0 or self.eval_windows < 0:
            raise EvocaneError("hf params: steps, warmup_steps and eval_windows must be >= 0")
        if not 0 <= self.softmasked_weight <= 1:
            raise EvocaneError(f"hf params: softmasked_weight must lie in [0, 1], got {self.softmasked_weight}")
        if self.precision not in PRECISIONS:
            raise EvocaneError(f"hf params: precision must be one of {', '.join(PRECISIONS)}, got '{self.precision}'")
        if self.device not in DEVICES:
            raise EvocaneError(f"hf params: device must be one of {', '.join(DEVICES)}, got '{self.device}'")
        if self.score_stride is not None and not 1 <= self.score_stride <= self.context - 1:
            raise EvocaneError(f"hf params: score_stride must lie in 1..context-1, got {self.score_stride}")
        if self.micro_batch_tokens is not None and self.micro_batch_tokens < 1:
            raise EvocaneError(f"hf params: micro_batch_tokens must be >= 1, got {self.micro_batch_tokens}")
        if self.max_windows is not None and self.max_windows < 1:
            raise EvocaneError("hf params: max_windows must be >= 1 or null")
        if self.revision is not None and not self.base_model:
            raise EvocaneError("hf params: revision pins the Hub revision of base_model; set base_model too")
        if self.lora is not None and (self.lora.rank < 1 or not self.lora.target_modules):
            raise EvocaneError("hf params: lora.rank must be >= 1 and lora.target_modules non-empty")

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if self.lora is not None:
            out["lora"]["target_modules"] = list(self.lora.target_modules)
        return out

    @property
    def stride(self) -> int:
        return self.score_stride or max(1, self.context // 2)
