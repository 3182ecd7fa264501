"""The workflow as users run it: dry runs of both configs, and the default DAG end to end on small slices with
the HTML report."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from evocane.experiments import experiment_runs
from evocane.plots.palette import ModelPalette
from evocane.report.workflow import ReportPlan

from conftest import REPO, snakemake
from report_checks import check_figures, check_landing_page


def test_dry_run_default_config(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text((REPO / "config" / "config.yaml").read_text())
    result = snakemake("-n", "--cores", "2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "prepare_genome" in result.stdout and "qc_report" in result.stdout
    # the GPU-only engines are switched off in the CPU demo: none of their jobs may be planned
    assert not re.search(r"rule (bionemo|evo2)_", result.stdout), "GPU-only engines planned in the CPU demo"
    assert "rule train_model" in result.stdout and "rule score_model" in result.stdout


def test_dry_run_sugarcane_plans_downloads_without_network(tmp_path: Path) -> None:
    # as in a checkout, the demo config sits at config/config.yaml: the whole sugarcane config must keep it out
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text((REPO / "config" / "config.yaml").read_text())
    result = snakemake("-n", "--cores", "2", "--configfile", str(REPO / "config" / "sugarcane.yaml"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr + result.stdout
    out = result.stdout
    for demo_name in ("mockcane", "thaliana", "hf-pretrain", "experiments_demo"):
        assert demo_name not in out, f"demo config leaked into the sugarcane plan: {demo_name}"
    assert "results/datasets/homology_split/scored" in out  # sugarcane scores a 20,000-window sample per split
    for cultivar in ("R570", "XTT22", "ZZ1"):
        assert f"results/genomes/{cultivar}/genome.fa.gz" in out
    assert "resources/downloads/R570/GCA_038087645.1_Saccharum_officinarum_X_spontaneum_var_R570_v2.1_genomic.fna.gz" in out
    assert not (tmp_path / "resources").exists(), "a dry run must not download"


def test_config_typo_fails_the_workflow_naming_key_and_file(tmp_path: Path) -> None:
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["cultivars"]["thaliana"]["homology"]["unplacd"] = "keep"
    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump(config))
    result = snakemake("-n", "--cores", "1", "--configfile", str(path), cwd=tmp_path)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "unknown config key 'cultivars.thaliana.homology.unplacd'" in output and "typo.yaml" in output


@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_default_workflow_end_to_end_with_report(tmp_path: Path) -> None:
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    for cultivar in config["cultivars"].values():
        cultivar["max_length"] = 300_000
    # the demo's experimental table names regions up to 2 Mb, beyond these 300 kb slices (the task has its own tests)
    config["evaluation"]["tasks"]["experiments"]["table"] = None
    # hf training cost is set by step counts, not by the slice: a few steps exercise the same rules and files
    for model in config["models"].values():
        if model["engine"] == "hf" and model.get("params", {}).get("steps"):
            model["params"].update(steps=12, warmup_steps=2, eval_every=6, checkpoint_every=6)
    # the demo's study with 3 trials of 4 steps: the same rules, the hand-off to hf-lora-tuned
    study = config["hpo"]["studies"]["hf-lora-search"]
    study.update(trials=3, validation_windows=20)
    study["params"].update(steps=4, eval_every=2, checkpoint_every=4)
    # homology_split's test split has ~870 windows on these slices: a smaller cap makes the scored subset a sample
    config["evaluation"]["nextbase"]["subset"]["max_windows"] = 200
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    run = snakemake("--cores", "2", cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-5000:]
    # every engine scored the same sampled windows, and the metrics count exactly those
    scored = json.loads((tmp_path / "results" / "datasets" / "homology_split" / "scored" / "manifest.json").read_text())
    test_counts = scored["subset"]["splits"]["test"]
    assert test_counts["windows"] == 200 and test_counts["of_windows"] > 800
    sampled = set(pd.read_parquet(tmp_path / "results" / "datasets" / "homology_split" / "scored" / "windows.parquet").query("split == 'test'")["window_id"])
    for model in ("markov/homology_split/test/k4", "hf-random/homology_split/test", "hf-lora/homology_split/test"):
        assert set(pd.read_parquet(tmp_path / "results" / "predictions" / model / "index.parquet")["window_id"]) == sampled, model
    # the study handed its best values to hf-lora-tuned, which is on the leaderboard next to hf-lora
    best = yaml.safe_load((tmp_path / "results" / "hpo" / "hf-lora-search" / "best.yaml").read_text())
    tuned = json.loads((tmp_path / "results" / "models" / "hf-lora-tuned" / "homology_split" / "checkpoint" / "evocane_checkpoint.json").read_text())
    assert tuned["params"]["lr"] == best["params"]["lr"] and tuned["params"]["lora"]["rank"] == best["params"]["lora"]["rank"]
    assert tuned["params"]["steps"] == 12  # the model's own steps, not the study's short runs
    board = pd.read_csv(tmp_path / "results" / "leaderboard.csv")
    assert {"hf-lora", "hf-lora-tuned"} <= set(board["model"])
    summary = (tmp_path / "results" / "qc" / "summary.tsv").read_text()
    assert summary.startswith("cultivar\trecords\tbases")
    assert "mockcane\t6\t1800000" in summary
    for name in ("record_composition.png", "gc_vs_softmask.png"):
        assert (tmp_path / "results" / "qc" / name).stat().st_size > 10_000
    assert list((tmp_path / "logs").rglob("*.log"))
    report = snakemake("--report", "results/report.html", cwd=tmp_path)
    assert report.returncode == 0, report.stderr[-5000:]
    html = (tmp_path / "results" / "report.html").read_text()
    assert len(html) > 500_000  # self-contained bundle
    for text in ("9. Genomes", "GC fraction against soft-masked fraction", "Per-cultivar genome summary", "0. Summary", "7. Models"):
        assert text in html
    assert not re.search(r'<script src="https?://', html), "the report must work offline"
    # the landing page states the result: summary and headline tables visible without a click, in a real browser,
    # every number its sentences quote equal to the leaderboard's
    board = pd.read_csv(tmp_path / "results" / "leaderboard.csv", dtype={"split": str, "stratum": str})
    board[["split", "stratum"]] = board[["split", "stratum"]].fillna("")
    check_landing_page(tmp_path / "results" / "report.html", board)
    # the pretraining variant is no headline; an hf model also ran on the leaky control (the leakage figure's colour)
    view = pd.read_csv(tmp_path / "results" / "report" / "models.tsv", sep="\t")
    assert {"hf-pretrain", "hf-lora"} <= set(view["model"]) and "random_control" in set(view.loc[view["model"] == "hf-lora", "trained on"])
    palette = ModelPalette.from_config({"model_palette": ReportPlan(config, experiment_runs(config)).model_palette()})
    check_figures(tmp_path / "results", palette.colour("hf-lora"), tmp_path / "results" / "report" / "leakage.png")


def test_lint_is_clean(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text((REPO / "config" / "config.yaml").read_text())
    result = snakemake("--lint", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
