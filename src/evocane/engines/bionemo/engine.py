"""``engine: bionemo``: Evo 2 through BioNeMo's CLIs, behind the common engine interface.

An evocane BioNeMo checkpoint (``results/models/{model}/{variant}/checkpoint``) holds only
``evocane_checkpoint.json``, pointing at the NeMo2 checkpoint to use (the converted base checkpoint for a zero-shot
model, the last train_evo2 checkpoint of a full fine-tune, or the base plus the LoRA adapter checkpoint) and
recording the predict/infer settings. The workflow's bionemo_* rules run the CLIs in the container on GPUs;
``score`` and ``generate`` here run the same commands where the CLIs are installed (inside the container), so a
checkpoint can be scored by hand too. Training needs the cluster settings of the config's ``bionemo`` section and
runs only through the rules (``evocane bionemo-commands`` prints the whole command sequence).
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from evocane.atomic import atomic_dir
from evocane.engines.base import Engine, ModelConfig, Prompt, SamplingConfig, write_checkpoint_meta
from evocane.engines.bionemo.runner import RegisteredCheckpoint
from evocane.engines.bionemo.settings import BioNeMoModel, BioNeMoSettings
from evocane.errors import EvocaneError


def register_checkpoint(
    out_dir: str | Path,
    model: BioNeMoModel,
    model_config: ModelConfig,
    settings: BioNeMoSettings,
    dataset_dir: str | Path,
    nemo2_checkpoint: str | Path,
    lora_checkpoint: str | Path | None = None,
    train_manifest: Mapping[str, Any] | None = None,
) -> Path:
    """Write the evocane checkpoint directory of a BioNeMo model (atomically)."""
    nemo2 = Path(nemo2_checkpoint)
    if not nemo2.is_dir():
        raise EvocaneError(f"{nemo2}: NeMo2 checkpoint directory not found")
    if lora_checkpoint is not None and not Path(lora_checkpoint).is_dir():
        raise EvocaneError(f"{lora_checkpoint}: LoRA checkpoint directory not found")
    with atomic_dir(out_dir) as temp:
        write_checkpoint_meta(
            temp,
            model_config,
            Path(dataset_dir),
            nemo2_checkpoint=str(nemo2),
            lora_checkpoint=str(lora_checkpoint) if lora_checkpoint is not None else None,
            base_checkpoint=dataclasses.asdict(model.checkpoint),
            finetune=model.finetune,
            train_step=(train_manifest or {}).get("step"),
            train_run=(train_manifest or {}).get("run_dir"),
            predict=dataclasses.asdict(settings.predict),
            infer=dataclasses.asdict(settings.infer),
            image=settings.image,
        )
    return Path(out_dir)


def _require(cli: str) -> None:
    if shutil.which(cli) is None:
        raise EvocaneError(
            f"{cli} is not installed here: BioNeMo runs in its container (bionemo.image), through the bionemo_* "
            "rules or `apptainer exec --nv <image> evocane ...`"
        )


def write_windows_fasta(dataset_dir: str | Path, split: str, out_fasta: str | Path) -> Path:
    """The windows of a split as FASTA (id = window_id), the input predict_evo2 scores."""
    from evocane.atomic import atomic_path
    from evocane.dataset.arrays import DatasetReader

    dataset = DatasetReader(dataset_dir)
    with atomic_path(out_fasta) as temp, open(temp, "w") as handle:
        for row, tokens, _, _ in dataset.iter_windows(split):
            sequence = bytes(tokens).decode("ascii")
            handle.write(f">{row.window_id}\n")
            for start in range(0, len(sequence), 80):
                handle.write(sequence[start : start + 80] + "\n")
    return Path(out_fasta)


class BioNeMoEngine(Engine):
    name = "bionemo"

    def train(
        self, dataset_dir: Path, model: ModelConfig, out_dir: Path, init_checkpoint: Path | None = None,
        on_evaluation: Callable[[int, dict[str, float]], None] | None = None,
    ) -> Path:  # fmt: skip
        raise EvocaneError(
            f"model '{model.name}': BioNeMo models are converted and trained by the workflow's bionemo_* rules "
            "(GPUs, BioNeMo container); `evocane bionemo-commands --model <name> --variant <variant>` prints the commands"
        )

    def score(
        self, checkpoint: Path, dataset_dir: Path, split: str, out_dir: Path, distribution_windows: Sequence[str] = (),
        windows: Sequence[str] | None = None,
    ) -> Path:  # fmt: skip
        from evocane.engines.bionemo import runner
        from evocane.engines.bionemo.convert import convert_predictions

        if windows is not None:  # its rules shard predict_evo2 themselves (bionemo.predict.shard_windows)
            raise EvocaneError(f"{checkpoint}: the bionemo engine scores whole splits (its rules shard by bionemo.predict.shard_windows)")

        registered = RegisteredCheckpoint.read(checkpoint)
        _require("predict_evo2")
        with tempfile.TemporaryDirectory(prefix="bionemo-predict-") as scratch:
            fasta = write_windows_fasta(dataset_dir, split, Path(scratch) / f"{split}.fa")
            raw = runner.predict(checkpoint, fasta, Path(scratch) / "raw")
            meta = {"model": registered.model, "engine": self.name, "variant": registered.variant, "checkpoint": str(checkpoint)}
            return convert_predictions(raw, dataset_dir, split, out_dir, meta, prepend_bos=True, distribution_windows=distribution_windows)

    def generate(self, checkpoint: Path, prompts: Sequence[Prompt], sampling: SamplingConfig, out_fasta: Path) -> Path:
        from evocane.engines.base import write_prompts
        from evocane.engines.bionemo import runner
        from evocane.engines.bionemo.convert import convert_generated

        registered = RegisteredCheckpoint.read(checkpoint)
        _require("infer_evo2")
        with tempfile.TemporaryDirectory(prefix="bionemo-infer-") as scratch:
            prompts_fasta = write_prompts(list(prompts), Path(scratch) / "prompts.fa")
            raw = runner.infer(checkpoint, prompts_fasta, Path(scratch) / "raw", sampling)
            return convert_generated(raw, registered.model, out_fasta)
