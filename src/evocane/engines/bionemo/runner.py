"""Run BioNeMo CLIs and keep their outputs consistent: the train run directory, its last checkpoint, the
one-call-per-prompt generation loop.

Runs inside the BioNeMo container (through scripts/bionemo_run.py), so it needs nothing beyond the standard
library and numpy (evocane.engines.base).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evocane.engines.base import CHECKPOINT_META, SamplingConfig, read_prompts
from evocane.engines.bionemo.commands import convert_command, infer_command, launch, predict_command, shell_join
from evocane.engines.bionemo.settings import CheckpointSpec, InferSettings, PredictSettings
from evocane.errors import EvocaneError

log = logging.getLogger(__name__)

RUN_COMMAND_FILE = "evocane_command.json"
INFER_PLAN = "plan.json"
_STEP = re.compile(r"step=(\d+)")


def run(argv: Sequence[str]) -> None:
    """Run one command with inherited stdout/stderr (the rule sends them to its log); a failure is an error
    naming the command."""
    log.info("running: %s", shell_join(argv))
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        result = subprocess.run(list(argv), check=False)
    except FileNotFoundError:
        raise EvocaneError(f"{argv[0]}: command not found (run inside the BioNeMo container: bionemo.image)") from None
    if result.returncode != 0:
        raise EvocaneError(f"{argv[0]} failed with exit status {result.returncode}: {shell_join(argv)}")


def check_visible_gpus(expected: int, step: str) -> None:
    """Fail early when the job sees fewer GPUs than the command will use (Slurm sets CUDA_VISIBLE_DEVICES to the
    allocation). This happens when a profile's set-resources overrides the GPU count the config asks for."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None or expected <= 1:
        return
    count = len([device for device in visible.split(",") if device.strip()])
    if count < expected:
        raise EvocaneError(
            f"{step}: the command runs on {expected} GPUs but this job sees {count} (CUDA_VISIBLE_DEVICES={visible}); "
            "GPU counts come from the config's bionemo section: remove gpu/nodes overrides of the bionemo_* rules "
            "from the profile's set-resources"
        )


def _option(argv: Sequence[str], flag: str) -> str | None:
    return argv[argv.index(flag) + 1] if flag in argv and argv.index(flag) + 1 < len(argv) else None


def write_json(path: str | Path, data: Any) -> None:
    """Write JSON atomically (rename of a sibling temporary file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    temp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    os.replace(temp, path)


def prepare_run_dir(run_dir: str | Path, argv: Sequence[str]) -> bool:
    """Make ``run_dir`` ready for ``argv``; True if it resumes an earlier run of the same command.

    train_evo2 resumes from ``{result-dir}/{experiment-name}/checkpoints`` whenever a checkpoint is there and then
    ignores ``--ckpt-dir``. Resuming is what a resubmitted job (time limit, preemption) should do, but a run
    directory left by a different command (other data, hyper-parameters or initial checkpoint) would silently
    continue the old run, so that is refused.
    """
    run_dir = Path(run_dir)
    record = run_dir / RUN_COMMAND_FILE
    if record.exists():
        previous = json.loads(record.read_text()).get("argv")
        if previous != list(argv):
            raise EvocaneError(
                f"{run_dir}: holds a training run started by a different command, which train_evo2 would resume "
                f"(ignoring --ckpt-dir). Delete the directory to start over.\n  was: {shell_join(previous or [])}\n  now: {shell_join(argv)}"
            )
        return True
    if run_dir.exists() and any(run_dir.iterdir()):
        raise EvocaneError(f"{run_dir}: exists without {RUN_COMMAND_FILE}; not resuming an unknown run (delete it)")
    write_json(record, {"argv": list(argv)})
    return False


@dataclass(frozen=True)
class RegisteredCheckpoint:
    """An evocane BioNeMo checkpoint directory: a pointer (evocane_checkpoint.json) to the NeMo2 checkpoint to
    load, the LoRA adapters to apply, and the settings predict/infer run with."""

    model: str
    variant: str
    nemo2: Path
    lora: Path | None
    base: CheckpointSpec
    predict: PredictSettings
    infer: InferSettings

    @classmethod
    def read(cls, checkpoint_dir: str | Path) -> RegisteredCheckpoint:
        path = Path(checkpoint_dir) / CHECKPOINT_META
        if not path.exists():
            raise EvocaneError(f"{path}: not found (written by `evocane bionemo-checkpoint`)")
        meta = json.loads(path.read_text())
        if meta.get("engine") != "bionemo" or "nemo2_checkpoint" not in meta:
            raise EvocaneError(f"{path}: not a BioNeMo checkpoint (engine {meta.get('engine')})")
        return cls(
            model=meta["model"],
            variant=meta.get("variant", ""),
            nemo2=Path(meta["nemo2_checkpoint"]),
            lora=Path(meta["lora_checkpoint"]) if meta.get("lora_checkpoint") else None,
            base=CheckpointSpec(**meta["base_checkpoint"]),
            predict=PredictSettings(**meta["predict"]),
            infer=InferSettings(**meta["infer"]),
        )


def _fresh_temp(out_dir: Path) -> Path:
    """An empty sibling directory for an output that must appear whole (renamed into place by _publish)."""
    temp = out_dir.with_name(f".{out_dir.name}.tmp")
    if temp.exists():
        shutil.rmtree(temp)
    temp.parent.mkdir(parents=True, exist_ok=True)
    return temp


def _publish(temp: Path, out_dir: Path) -> Path:
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(temp, out_dir)
    return out_dir


def convert(checkpoint: CheckpointSpec, out_dir: str | Path) -> Path:
    """evo2_convert_to_nemo2 into a temporary directory, renamed to ``out_dir`` once complete."""
    out_dir = Path(out_dir)
    temp = _fresh_temp(out_dir)
    run(convert_command(checkpoint, temp))
    if not (temp / "weights").is_dir() or not (temp / "context").is_dir():
        raise EvocaneError(f"{checkpoint.source}: evo2_convert_to_nemo2 wrote no NeMo2 checkpoint (context/, weights/) in {temp}")
    return _publish(temp, out_dir)


def _shards(fasta: Path, size: int | None, directory: Path) -> Iterator[Path]:
    """The FASTA itself (size None), or consecutive pieces of ``size`` records written next to the output."""
    if size is None:
        yield fasta
        return
    from evocane.genome.fasta import read_fasta

    records = read_fasta(fasta, validate=False)  # lineage tags ('|', ';', '_') are not IUPAC
    number = 0
    while True:
        batch = [record for _, record in zip(range(size), records)]
        if not batch:
            return
        shard = directory / f"shard_{number}.fa"
        shard.write_bytes(b"".join(b">" + r.name.encode() + b"\n" + r.sequence + b"\n" for r in batch))
        yield shard
        shard.unlink()
        number += 1


def predict(checkpoint_dir: str | Path, fasta: str | Path, out_dir: str | Path) -> Path:
    """predict_evo2 with a registered checkpoint's NeMo2 weights (and LoRA adapters) over ``fasta``; the output
    directory appears whole at ``out_dir``: predict_evo2's layout, or one ``shard_{k}/`` of it per call when
    ``predict.shard_windows`` is set. With ``predict.compact`` each call's logits are reduced to the nine columns
    the A/C/G/T distribution needs (evocane.engines.bionemo.compact) before the next call starts."""
    registered = RegisteredCheckpoint.read(checkpoint_dir)
    settings = registered.predict
    out_dir = Path(out_dir)
    temp = _fresh_temp(out_dir)
    temp.mkdir()
    check_visible_gpus(settings.gpus, "predict_evo2")
    for number, shard in enumerate(_shards(Path(fasta), settings.shard_windows, temp)):
        raw = temp if settings.shard_windows is None else temp / f"shard_{number}"
        argv = predict_command(registered.base, registered.nemo2, shard, raw, settings, registered.lora)
        run(launch(argv, settings.gpus))
        if not (raw / "seq_idx_map.json").exists():
            raise EvocaneError(f"predict_evo2 wrote no seq_idx_map.json in {raw}")
        if settings.compact and settings.output == "logits":
            from evocane.engines.bionemo.compact import compact_prediction_file

            for path in sorted(raw.rglob("predictions__rank_*.pt")):
                compact_prediction_file(path)
    return _publish(temp, out_dir)


def checkpoint_step(path: Path) -> int:
    match = _STEP.search(path.name)
    return int(match.group(1)) if match else -1


def last_checkpoint(checkpoints_dir: str | Path) -> Path:
    """The checkpoint to use after training: the ``*-last`` copy of the highest step, else the highest step.
    train_evo2 names them ``epoch={e}-step={s}-consumed_samples={n}[-last]``."""
    checkpoints_dir = Path(checkpoints_dir)
    candidates = [p for p in checkpoints_dir.iterdir() if p.is_dir() and checkpoint_step(p) >= 0] if checkpoints_dir.is_dir() else []
    if not candidates:
        raise EvocaneError(f"{checkpoints_dir}: no train_evo2 checkpoint (epoch=..-step=..) found")
    return max(candidates, key=lambda p: (checkpoint_step(p), p.name.endswith("-last"), p.name))


def train(run_dir: str | Path, checkpoints_dir: str | Path, argv: Sequence[str], manifest: str | Path, extra: Mapping[str, Any]) -> Path:
    """Run (or resume) one training run and record its last checkpoint in ``manifest``."""
    if _option(argv, "--num-nodes") in (None, "1"):
        check_visible_gpus(int(_option(argv, "--devices") or 1), "train_evo2")
    resumed = prepare_run_dir(run_dir, argv)
    if resumed:
        log.info("%s: same command as before; train_evo2 resumes from its last checkpoint if there is one", run_dir)
    run(argv)
    checkpoint = last_checkpoint(checkpoints_dir)
    write_json(manifest, {**extra, "run_dir": str(run_dir), "checkpoint": str(checkpoint), "step": checkpoint_step(checkpoint), "argv": list(argv)})
    return checkpoint


def infer(checkpoint_dir: str | Path, prompts_fasta: str | Path, out_dir: str | Path, sampling: SamplingConfig) -> Path:
    """``sampling.samples_per_prompt`` infer_evo2 calls per prompt (the CLI takes one prompt), each with its own
    seed, with a registered checkpoint; raw outputs ``{prompt_index}_{sample}.txt`` and ``plan.json`` appear in
    ``out_dir`` together.

    Prompts are upper-cased: Evo 2 saw upper-case input tokens in training (BioNeMo upper-cases them), and
    infer_evo2, unlike predict_evo2, passes the prompt to the tokenizer as it is. infer_evo2 (v2.7.1) cannot apply
    LoRA adapters.
    """
    registered = RegisteredCheckpoint.read(checkpoint_dir)
    if registered.lora is not None:
        raise EvocaneError(f"{checkpoint_dir}: infer_evo2 (v2.7.1) cannot apply LoRA adapters; generate with a full fine-tune or the base model")
    out_dir = Path(out_dir)
    prompts = read_prompts(prompts_fasta)
    if not prompts:
        raise EvocaneError(f"{prompts_fasta}: no prompts")
    temp = _fresh_temp(out_dir)
    temp.mkdir()
    settings = registered.infer
    check_visible_gpus(settings.tensor_parallel, "infer_evo2")
    plan = []
    sampling_args = {"n_tokens": sampling.n_tokens, "temperature": sampling.temperature, "top_k": sampling.top_k, "top_p": sampling.top_p}
    for index, prompt in enumerate(prompts):
        for sample in range(sampling.samples_per_prompt):
            seed = sampling.sample_seed(index, sample)
            name = f"{index}_{sample}.txt"
            argv = infer_command(registered.nemo2, prompt.sequence.upper(), temp / name, sampling_args, seed, settings, registered.base.fp8)
            run(launch(argv, settings.tensor_parallel))
            if not (temp / name).exists():
                raise EvocaneError(f"infer_evo2 wrote no output file {temp / name}")
            plan.append({"prompt_id": prompt.id, "prompt_length": len(prompt.sequence), "sample": sample, "seed": seed, "file": name})
    write_json(temp / INFER_PLAN, {"sampling": {**sampling_args, "samples_per_prompt": sampling.samples_per_prompt, "seed": sampling.seed}, "outputs": plan})
    return _publish(temp, out_dir)
