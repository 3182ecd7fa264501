"""BioNeMo command lines: representative configurations against hand-written expected commands, and every flag
checked against the argparse flag names of the pinned CLI version (tests/data/bionemo/cli_flags_v2.7.1.json, read
from NVIDIA/bionemo-framework at tag v2.7.1 = b4ea6f6)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from evocane.config import validate_config
from evocane.engines.bionemo import commands
from evocane.engines.bionemo.settings import bionemo_model, bionemo_settings
from evocane.errors import EvocaneError

FLAGS_FILE = Path(__file__).parent / "data" / "bionemo" / "cli_flags_v2.7.1.json"
CLI_FLAGS = json.loads(FLAGS_FILE.read_text())
PINNED = CLI_FLAGS["versions"][CLI_FLAGS["pinned"]]["clis"]
LATEST = CLI_FLAGS["versions"]["e2150f8"]["clis"]

BASE_CONFIG = {
    "cultivars": {"c": {"sources": [{"fasta": {"path": "x.fa"}}], "homology": {}}},
    "bionemo": {
        "checkpoints": {
            "evo2-1b": {"source": "hf://arcinstitute/savanna_evo2_1b_base", "model_size": "1b", "fp8": True},
            "evo2-1b-bf16": {"source": "/data/ngc/evo2_1b-8k-bf16_1.0", "format": "nemo2", "model_size": "1b"},
            "evo2-7b": {"source": "hf://arcinstitute/savanna_evo2_7b", "model_size": "7b_arc_longcontext"},
        },
    },
    "models": {
        "evo2-1b-full": {"engine": "bionemo", "params": {"checkpoint": "evo2-1b-bf16", "finetune": "full", "train": {"grad_acc_batches": 4, "micro_batch_size": 2}}},
        "evo2-7b-lora": {"engine": "bionemo", "params": {"checkpoint": "evo2-7b", "finetune": "lora", "train": {"lora": {"dim": 16}}}},
        "evo2-1b-zero": {"engine": "bionemo", "params": {"checkpoint": "evo2-1b"}},
    },
}


def make_config(**bionemo: object) -> dict:
    config = copy.deepcopy(BASE_CONFIG)
    config["bionemo"].update(copy.deepcopy(bionemo))
    return validate_config(config)


def used_flags(argv: list[str]) -> tuple[str, list[str]]:
    """The BioNeMo CLI an argv runs (after any launcher) and the options it passes to it."""
    for position, token in enumerate(argv):
        if token in PINNED:
            return token, [arg.split("=", 1)[0] for arg in argv[position + 1 :] if arg.startswith("-")]
    raise AssertionError(f"no BioNeMo CLI in {argv}")


def unknown_flags(argv: list[str], clis: dict) -> list[str]:
    cli, flags = used_flags(argv)
    return [flag for flag in flags if flag not in clis[cli]["flags"]]


def assert_pinned_flags(argv: list[str]) -> None:
    assert unknown_flags(argv, PINNED) == [], f"flags missing from {CLI_FLAGS['pinned']}: {argv}"
    assert unknown_flags(argv, LATEST) == [], f"flags missing from e2150f8: {argv}"


def test_flag_fixture_records_source_and_known_version_differences() -> None:
    v271 = CLI_FLAGS["versions"]["v2.7.1"]
    assert v271["commit"] == "b4ea6f6b056fab00d0180c75f3701d3b8297d3ff"
    for cli, entry in PINNED.items():
        assert entry["path"].startswith("sub-packages/bionemo-evo2/src/bionemo/evo2/"), cli
    # documented differences (../shared/reference/evo2-toolchain.md §1): predict gained these after v2.7.1
    for flag in ("--min-length", "--mask-phylogenetic-tags", "--eden-tokenizer", "--fp8-recipe"):
        assert flag not in PINNED["predict_evo2"]["flags"] and flag in LATEST["predict_evo2"]["flags"]
    assert "--model-type" in PINNED["predict_evo2"]["flags"] and "--model-type" not in LATEST["predict_evo2"]["flags"]
    assert "--experiment-dir" not in PINNED["train_evo2"]["flags"] and "--wandb-run-id" not in PINNED["train_evo2"]["flags"]


def test_flag_check_catches_a_flag_the_pinned_cli_lacks() -> None:
    assert unknown_flags(["predict_evo2", "--fasta", "x.fa", "--batch-size", "4", "--min-length", "10"], PINNED) == ["--batch-size", "--min-length"]
    assert unknown_flags(["torchrun", "--standalone", "--no-python", "train_evo2", "--devices", "8"], PINNED) == []


def test_convert_and_preprocess_commands() -> None:
    settings = bionemo_settings(make_config())
    argv = commands.convert_command(settings.checkpoint("evo2-1b"), "results/bionemo/checkpoints/evo2-1b")
    assert argv == [
        "evo2_convert_to_nemo2", "--model-path", "hf://arcinstitute/savanna_evo2_1b_base", "--model-size", "1b",
        "--output-dir", "results/bionemo/checkpoints/evo2-1b",
    ]  # fmt: skip
    assert_pinned_flags(argv)
    with pytest.raises(EvocaneError, match="already NeMo2"):
        commands.convert_command(settings.checkpoint("evo2-1b-bf16"), "out")
    argv = commands.preprocess_command("results/datasets/v/bionemo/preprocess.yaml")
    assert argv == ["preprocess_evo2", "--config", "results/datasets/v/bionemo/preprocess.yaml"]
    assert_pinned_flags(argv)


def test_full_finetune_one_gpu_matches_the_tutorial_command() -> None:
    config = make_config()
    model = bionemo_model(config, "evo2-1b-full")
    argv = commands.train_command(model, "ds.yaml", "results/bionemo/train/evo2-1b-full/v", "evo2-1b-full", "/data/ngc/evo2_1b-8k-bf16_1.0", dataset_dir="pre")
    assert commands.launch(argv, model.train.gpus_per_node, model.train.nodes) == argv
    assert argv == [
        "train_evo2", "--dataset-config", "ds.yaml", "--dataset-dir", "pre",
        "--result-dir", "results/bionemo/train/evo2-1b-full/v", "--experiment-name", "evo2-1b-full",
        "--model-size", "1b", "--ckpt-dir", "/data/ngc/evo2_1b-8k-bf16_1.0",
        "--num-nodes", "1", "--devices", "1", "--tensor-parallel-size", "1", "--pipeline-model-parallel-size", "1",
        "--context-parallel-size", "1", "--seq-length", "8192", "--micro-batch-size", "2", "--grad-acc-batches", "4",
        "--max-steps", "100", "--val-check-interval", "50", "--limit-val-batches", "20",
        "--lr", "1.5e-05", "--min-lr", "1.49e-05", "--warmup-steps", "10", "--wd", "0.001", "--clip-grad", "250.0",
        "--attention-dropout", "0.01", "--hidden-dropout", "0.01", "--seed", "1234", "--workers", "8",
        "--save-top-k", "5", "--create-tensorboard-logger",
    ]  # fmt: skip
    assert_pinned_flags(argv)


def test_lora_on_one_node_of_eight_gpus_runs_under_torchrun() -> None:
    config = make_config(train={"gpus_per_node": 8, "tensor_parallel": 2, "global_batch_size": 32, "activation_checkpoint_layers": 4})
    model = bionemo_model(config, "evo2-7b-lora")
    assert (model.train.world_size, model.train.data_parallel_size) == (8, 4)
    argv = commands.launch(commands.train_command(model, "ds.yaml", "run", "evo2-7b-lora", "base"), 8, 1)
    assert argv[:4] == ["torchrun", "--standalone", "--nproc-per-node=8", "--no-python"]
    assert argv[4] == "train_evo2"
    text = " ".join(argv)
    for expected in ("--devices 8", "--num-nodes 1", "--tensor-parallel-size 2", "--global-batch-size 32",
                     "--activation-checkpoint-recompute-num-layers 4", "--model-size 7b_arc_longcontext"):  # fmt: skip
        assert expected in text
    assert argv[-3:] == ["--lora-finetune", "--lora-dim", "16"]  # alpha left at NeMo's default
    assert "--dataset-dir" not in argv  # prefixes in the dataset YAML are used as they are
    assert_pinned_flags(argv)


def test_two_nodes_of_eight_gpus_start_one_container_per_task() -> None:
    config = make_config(
        image="/shared/containers/bionemo-framework_2.7.1.sif",
        train={"nodes": 2, "gpus_per_node": 8, "context_parallel": 2, "sequence_parallel": True, "fp8": True},
        launcher={"apptainer_args": "--nv --bind /scratch"},
    )
    settings = bionemo_settings(config)
    model = bionemo_model(config, "evo2-1b-full", settings)
    argv = commands.launch(commands.train_command(model, "ds.yaml", "run", "m", "base"), 8, 2, settings.image, settings.launcher)
    assert argv[:10] == [
        "srun", "--nodes=2", "--ntasks-per-node=8", "--kill-on-bad-exit=1",
        "apptainer", "exec", "--nv", "--bind", "/scratch", "/shared/containers/bionemo-framework_2.7.1.sif",
    ]  # fmt: skip
    assert argv[10] == "train_evo2"
    text = " ".join(argv)
    assert "--num-nodes 2 --devices 8" in text and "--context-parallel-size 2" in text
    assert "--sequence-parallel" in argv and "--fp8" in argv
    assert_pinned_flags(argv)
    with pytest.raises(EvocaneError, match="local .sif"):
        commands.launch(["train_evo2"], 8, 2, "docker://nvcr.io/nvidia/clara/bionemo-framework:2.7.1")


def test_predict_commands_always_prepend_bos() -> None:
    settings = bionemo_settings(make_config(predict={"gpus": 4, "write_interval": "batch", "files_per_subdir": 100}))
    argv = commands.predict_command(settings.checkpoint("evo2-1b"), "ckpt", "test.fa", "raw", settings.predict)
    assert argv == [
        "predict_evo2", "--fasta", "test.fa", "--ckpt-dir", "ckpt", "--output-dir", "raw", "--model-size", "1b",
        "--prepend-bos", "--micro-batch-size", "1", "--tensor-parallel-size", "1", "--devices", "4", "--num-nodes", "1",
        "--write-interval", "batch", "--files-per-subdir", "100", "--fp8",
    ]  # fmt: skip
    assert commands.launch(argv, 4)[:3] == ["torchrun", "--standalone", "--nproc-per-node=4"]
    assert_pinned_flags(argv)
    log_probs = bionemo_settings(make_config(predict={"output": "log_probs"}))
    argv = commands.predict_command(log_probs.checkpoint("evo2-7b"), "base", "t.fa", "raw", log_probs.predict, lora_checkpoint="run/ckpt-last")
    assert argv[argv.index("--output-log-prob-seqs") :] == [
        "--output-log-prob-seqs", "--log-prob-collapse-option", "per_token", "--lora-checkpoint-path", "run/ckpt-last",
    ]  # fmt: skip
    assert "--prepend-bos" in argv and "--fp8" not in argv
    assert_pinned_flags(argv)


def test_infer_command_maps_sampling_conventions() -> None:
    settings = bionemo_settings(make_config(infer={"flash_decode": True}))
    argv = commands.infer_command("ckpt", "ACGT", "out/0_0.txt", {"n_tokens": 100, "temperature": 0.7, "top_k": 4, "top_p": 1.0}, 17, settings.infer, fp8=True)
    assert argv == [
        "infer_evo2", "--ckpt-dir", "ckpt", "--prompt", "ACGT", "--max-new-tokens", "100", "--temperature", "0.7",
        "--top-k", "4", "--top-p", "0.0", "--seed", "17", "--tensor-parallel-size", "1", "--output-file", "out/0_0.txt",
        "--fp8", "--flash-decode",
    ]  # fmt: skip
    assert_pinned_flags(argv)
    greedy = commands.infer_sampling_args({"temperature": 0.0, "top_k": 0, "top_p": 0.9})
    assert greedy == ["--temperature", "1.0", "--top-k", "1", "--top-p", "0.9"]
    with pytest.raises(EvocaneError, match="8192"):
        commands.infer_command("ckpt", "A" * 8000, "o", {"n_tokens": 500}, 0, settings.infer)


def test_inconsistent_settings_fail_with_the_config_key() -> None:
    with pytest.raises(EvocaneError, match="'bionemo.train'.*not divisible"):
        bionemo_settings(make_config(train={"gpus_per_node": 6, "tensor_parallel": 4}))
    with pytest.raises(EvocaneError, match="val_check_interval.*no checkpoint"):
        bionemo_settings(make_config(train={"max_steps": 10, "val_check_interval": 20}))
    config = make_config()
    config["models"]["evo2-1b-full"]["params"]["train"]["lrr"] = 0.1
    with pytest.raises(EvocaneError, match="'models.evo2-1b-full.params.train.lrr'"):
        bionemo_model(config, "evo2-1b-full")
    config = make_config()
    config["models"]["evo2-1b-zero"]["params"]["checkpoint"] = "evo2-3b"
    with pytest.raises(EvocaneError, match="no checkpoint named 'evo2-3b'"):
        bionemo_model(config, "evo2-1b-zero")
    with pytest.raises(EvocaneError, match="zero-shot"):
        commands.train_command(bionemo_model(make_config(), "evo2-1b-zero"), "d", "r", "e", "c")
