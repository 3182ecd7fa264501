"""Every job runs the configuration Snakemake planned: overlays over the demo, several overlays (the last wins) and
--config overrides reach the jobs (their job configs, checkpoint metadata and dataset manifests), in the same merge
order as Snakemake's own, and a changed value reruns exactly the jobs that read it."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml
from snakemake.utils import update_config

from conftest import REPO, snakemake
from evocane.config import COMMAND_LINE, coerce_overrides, load_yaml, resolve_config, write_job_config

SCHEMA = REPO / "config" / "schema.yaml"


def _demo(tmp_path: Path) -> dict:
    """The demo config in tmp_path/config/config.yaml (where the Snakefile's configfile directive finds it)."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    (tmp_path / "config").mkdir(exist_ok=True)
    (tmp_path / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return config


def _overlay(tmp_path: Path, name: str, content: dict) -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(content))
    return str(path)


def _job_config(stdout: str, command: str, tmp_path: Path, **arguments: str) -> dict:
    """The job config of the one planned `evocane <command>` job whose options include ``arguments``."""
    found = []
    for line in stdout.splitlines():
        match = re.search(rf"evocane {command} --job-config '?(results/config/\w+\.json)'?(.*)", line)
        if match and all(re.search(rf"--{key} '?{re.escape(value)}'?(\s|$)", match.group(2)) for key, value in arguments.items()):
            found.append(match.group(1))
    assert len(set(found)) == 1, (command, arguments, found)
    return json.loads((tmp_path / found[0]).read_text())


def _plan(tmp_path: Path, *args: str) -> str:
    result = snakemake("-n", "-p", "--cores", "1", *args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:] + result.stdout[-3000:]
    return result.stdout


def test_overlays_and_command_line_reach_the_jobs(tmp_path: Path) -> None:
    demo = _demo(tmp_path)
    seven = _overlay(tmp_path, "seven.yaml", {"models": {"hf-lora": {"params": {"steps": 7}}},
                                              "datasets": {"variants": {"homology_split": {"windows": {"length": 2000}}}}})  # fmt: skip
    nine = _overlay(tmp_path, "nine.yaml", {"models": {"hf-lora": {"params": {"steps": 9}}}})

    # the demo alone: its own values
    plan = _plan(tmp_path)
    assert _job_config(plan, "train", tmp_path, model="hf-lora")["models"]["hf-lora"]["params"]["steps"] == demo["models"]["hf-lora"]["params"]["steps"]
    assert _job_config(plan, "dataset-plan", tmp_path, variant="homology_split")["dataset_step"]["windows"]["length"] == 1024

    # one overlay over the demo: a model parameter and a dataset parameter (before: the job re-read the files with
    # the demo last and trained the demo's 100 steps)
    plan = _plan(tmp_path, "--configfile", seven)
    assert _job_config(plan, "train", tmp_path, model="hf-lora")["models"]["hf-lora"]["params"]["steps"] == 7
    assert _job_config(plan, "dataset-plan", tmp_path, variant="homology_split")["dataset_step"]["windows"]["length"] == 2000

    # two overlays: the last wins, in either order, as in Snakemake's own merge of the same files
    for order in ((seven, nine), (nine, seven)):
        expected = copy.deepcopy(demo)
        for path in order:
            update_config(expected, yaml.safe_load(Path(path).read_text()))
        job = _job_config(_plan(tmp_path, "--configfile", *order), "train", tmp_path, model="hf-lora")
        assert job["models"]["hf-lora"]["params"]["steps"] == expected["models"]["hf-lora"]["params"]["steps"]
        assert job["models"]["hf-lora"]["params"]["steps"] == yaml.safe_load(Path(order[-1]).read_text())["models"]["hf-lora"]["params"]["steps"]

    # --config wins over every file; Snakemake hands nested values over as strings: the job gets the integer
    plan = _plan(tmp_path, "--configfile", seven, "--config", "models={hf-lora: {params: {steps: 5}}}")
    steps = _job_config(plan, "train", tmp_path, model="hf-lora")["models"]["hf-lora"]["params"]["steps"]
    assert steps == 5 and isinstance(steps, int)


def test_a_bad_command_line_value_is_blamed_on_the_command_line(tmp_path: Path) -> None:
    _demo(tmp_path)
    result = snakemake("-n", "--config", "models={hf-lora: {params: {steps: many}}}", cwd=tmp_path)
    assert result.returncode != 0
    message = result.stderr + result.stdout
    assert f"{COMMAND_LINE}: config key 'models.hf-lora.params.steps'" in message
    overlay = _overlay(tmp_path, "bad.yaml", {"models": {"hf-lora": {"params": {"steps": "many"}}}})
    result = snakemake("-n", "--configfile", overlay, cwd=tmp_path)
    assert f"{overlay}: config key 'models.hf-lora.params.steps'" in result.stderr + result.stdout


def test_coercion_follows_the_schema_types() -> None:
    schema = load_yaml(SCHEMA)
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    overrides = {"models": {"hf-lora": {"params": {"steps": "5", "lr": "1e-3", "base_model": "007", "max_windows": "null"}}},
                 "evo2": {"enabled": "true"}}  # fmt: skip
    update_config(config, overrides)
    coerce_overrides(config, overrides, schema)
    params = config["models"]["hf-lora"]["params"]
    assert params["steps"] == 5 and params["lr"] == 0.001 and params["max_windows"] is None
    assert params["base_model"] == "007"  # a string key keeps the string
    assert config["evo2"]["enabled"] is True
    # the coerced config validates; an uncoercible value is reported with its source
    resolve_config(copy.deepcopy(config), [REPO / "config" / "config.yaml"], overrides, SCHEMA)


def test_job_config_is_content_addressed(tmp_path: Path) -> None:
    config = {"models": {"a": {"params": {"steps": 1}}, "b": {"params": {"steps": 2}}}, "qc": {"plot_format": "png"}}
    first = write_job_config(config, ["models.a"], tmp_path)
    assert json.loads(first.read_text()) == {"models": {"a": {"params": {"steps": 1}}}}
    assert write_job_config(config, ["models.a"], tmp_path) == first  # same content, same file
    config["models"]["b"]["params"]["steps"] = 3  # a value the job does not read: same file
    assert write_job_config(config, ["models.a"], tmp_path) == first
    config["models"]["a"]["params"]["steps"] = 4
    assert write_job_config(config, ["models.a"], tmp_path) != first
    with pytest.raises(Exception, match="models.c"):
        write_job_config(config, ["models.c"], tmp_path)


@pytest.mark.slow
def test_overridden_values_reach_outputs_and_a_change_reruns_only_its_jobs(tmp_path: Path) -> None:
    demo = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    variant = demo["datasets"]["variants"]["homology_split"]
    variant["leakage"] = {"enabled": False}
    base = {
        "cultivars": {"mockcane": {**demo["cultivars"]["mockcane"], "max_length": 120_000}},
        "datasets": {"variants": {"homology_split": variant}},
        "models": {"markov": {"engine": "markov", "params": {"orders": [1, 2, 3]}}},
        "experiments": {"baseline": {"models": ["markov"]}},
        "evaluation": {"bootstrap": {"n_resamples": 50}, "tasks": {"enabled": []}},
    }
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text(yaml.safe_dump(base, sort_keys=False))
    overlay = _overlay(tmp_path, "overlay.yaml", {"datasets": {"variants": {"homology_split": {"windows": {"length": 500}}}}})
    target = "results/evaluation/homology_split/nextbase/metrics.tsv"
    command = ["--cores", "2", "--configfile", overlay, "--config", "models={markov: {params: {orders: [1, 2]}}}", "--", target]
    run = snakemake(*command, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-4000:]

    meta = json.loads((tmp_path / "results/models/markov/homology_split/checkpoint/evocane_checkpoint.json").read_text())
    assert meta["params"]["orders"] == [1, 2]  # from --config (strings "1", "2" on Snakemake's side)
    table = pd.read_parquet(tmp_path / "results/datasets/homology_split/windows.parquet")
    assert table["length"].max() == 500  # the overlay's window length, not the demo's 1000

    # nothing to do again with the same command
    again = snakemake("-n", *command, cwd=tmp_path)
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr, again.stdout[-2000:]
    # one model parameter changed: that model's jobs and their evaluation rerun, nothing upstream
    changed = snakemake("-n", *[c if "orders" not in c else "models={markov: {params: {orders: [1, 3]}}}" for c in command], cwd=tmp_path)
    assert changed.returncode == 0, changed.stderr[-3000:]
    rules = set(re.findall(r"^rule (\w+):", changed.stdout, re.M))
    assert rules == {"train_model", "score_model", "nextbase_metrics"}, rules
