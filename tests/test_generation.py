"""Generation task: prompts and truths are held-out window pieces; sequence measures and k-mer divergence against
independent computations; the evaluation end to end with the Markov engine's generate."""

from __future__ import annotations

from collections import Counter
from itertools import product
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import jensenshannon

from evocane.dataset.arrays import DatasetReader
from evocane.evaluate import generation, metrics, tasks
from evocane.genome.fasta import read_fasta
from evocane.config import schema_defaults

from tasks_fixtures import TEST_START, tair10_dataset, tair10_genome  # noqa: F401

PARAMS = generation.GenerationParams.from_mapping(
    {**schema_defaults("evaluation.tasks.generation"), "prompts": 3, "prompt_length": 300, "continuation_length": 120,
     "genome_reference_bases": 20_000, "seed": 2}
)  # fmt: skip


def test_kmer_spectrum_and_divergence_against_brute_force() -> None:
    sequences = ["ACGTNacgtAAAC", "GGGTTTAC", "AC"]
    for k in (1, 2, 3):
        names = ["".join(p) for p in product("ACGT", repeat=k)]
        expected = Counter()
        for s in sequences:
            s = s.upper()
            expected.update(s[i : i + k] for i in range(len(s) - k + 1) if set(s[i : i + k]) <= set("ACGT"))
        assert metrics.kmer_spectrum(sequences, k).tolist() == [expected[n] for n in names]
    rng = np.random.default_rng(0)
    p, q = rng.integers(0, 20, 64), rng.integers(0, 20, 64)
    assert metrics.js_divergence(p, q) == pytest.approx(jensenshannon(p, q, base=2) ** 2)
    assert metrics.js_divergence(p, p) == pytest.approx(0.0)
    assert metrics.js_divergence(np.array([1, 0]), np.array([0, 1])) == pytest.approx(1.0)


def test_sequence_measures() -> None:
    assert generation.identity("ACGTA", "acgtt") == pytest.approx(0.8)
    assert generation.identity("AC", "ACGT") == pytest.approx(0.5)
    assert generation.repeat_fraction("A" * 100) == 1.0
    assert generation.repeat_fraction("ACGTTGCAAGTCCATG") == 0.0
    assert generation.repeat_fraction("ACGTACGTAC" * 4, k=12) == 1.0
    assert generation.low_complexity_fraction("AT" * 60) == 1.0
    rng = np.random.default_rng(3)
    random_sequence = "".join(rng.choice(list("ACGT"), size=300))
    assert generation.low_complexity_fraction(random_sequence) == 0.0
    counts = generation.position_counts(["ACG", "AAG", "ACN"], 3)
    assert counts.loc[0].tolist() == [3, 0, 0, 0] and counts.loc[1].tolist() == [1, 2, 0, 0] and counts.loc[2].tolist() == [0, 0, 2, 0]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory, tair10_dataset: Path) -> Path:  # noqa: F811
    return generation.build_generation_inputs(tair10_dataset, PARAMS, tmp_path_factory.mktemp("gen") / "inputs")


def test_prompt_and_truth_are_consecutive_test_bases(inputs: Path, tair10_dataset: Path) -> None:  # noqa: F811
    prompts = {r.name: r.sequence.decode() for r in read_fasta(inputs / "prompts.fa")}
    truths = {r.name: r.sequence.decode() for r in read_fasta(inputs / "truth.fa")}
    assert len(prompts) == PARAMS.prompts and set(prompts) == set(truths)
    dataset = DatasetReader(tair10_dataset)
    windows = dataset.split_windows("test").set_index("window_id")
    tokens = dataset.arrays("test").tokens
    for name, prompt in prompts.items():
        row = windows.loc[name]
        assert row["start"] >= TEST_START
        text = bytes(tokens[row["offset"] : row["offset"] + row["length"]]).decode()
        assert text.startswith(prompt + truths[name])
        assert len(prompt) == PARAMS.prompt_length and len(truths[name]) == PARAMS.continuation_length
    genome = [r.sequence.decode() for r in read_fasta(inputs / "genome.fa")]
    assert all(len(g) == PARAMS.continuation_length for g in genome) and sum(map(len, genome)) >= PARAMS.genome_reference_bases


def test_generation_evaluation_with_markov(inputs: Path, tair10_dataset: Path, tmp_path: Path) -> None:  # noqa: F811
    from evocane.engines.base import ModelConfig, SamplingConfig, get_engine, read_prompts

    engine = get_engine("markov")
    checkpoint = engine.train(tair10_dataset, ModelConfig("markov", "markov", {"orders": [4]}), tmp_path / "checkpoint")
    prompts = read_prompts(inputs / "prompts.fa")
    generated = tmp_path / "generated" / "markov"
    generated.mkdir(parents=True)
    engine.generate(checkpoint, prompts, SamplingConfig(n_tokens=PARAMS.continuation_length, samples_per_prompt=5, seed=1), generated / "sampled.fa")
    engine.generate(checkpoint, prompts, SamplingConfig(n_tokens=PARAMS.continuation_length, samples_per_prompt=1, temperature=0), generated / "greedy.fa")
    config = {"evaluation": {"bootstrap": {"n_resamples": 20, "seed": 0}, "plot_format": "png", "tasks": {"generation": {"logo_positions": 30}}}}
    out = tmp_path / "evaluation"
    tasks.evaluate("generation", config, inputs, out, generated=[generated], engines={"markov": "markov"})
    table = pd.read_csv(out / "metrics.tsv", sep="\t")
    assert set(table["model"]) == {"markov_k4"} and set(table["engine"]) == {"markov"} and set(table["variant"]) == {"fixture"}
    js = table[(table["metric"] == "js_divergence_k1") & (table["stratum"] == "sampled_vs_genome")]["value"].item()
    assert 0 <= js < 0.01  # an order-4 chain reproduces base composition
    per_sequence = pd.read_csv(out / "per_sequence.tsv", sep="\t")
    sizes = per_sequence.groupby("source").size().to_dict()
    assert sizes["sampled"] == 15 and sizes["greedy"] == 3 and sizes["truth"] == 3 and sizes["genome"] >= 20_000 // 120
    leaderboard = pd.read_csv(out / "leaderboard.tsv", sep="\t")
    assert "greedy_identity" in set(leaderboard["metric"])
    for name in ("gc.png", "kmer_divergence.png", "properties.png", "logos.png"):
        assert (out / name).stat().st_size > 0


def test_task_plan_generates_only_for_generating_experiments(tmp_path: Path) -> None:
    """The rules' plan: every model of a variant is scored on the tasks, only those of experiments with
    generate: true generate; a relative table missing from the working directory is taken from the workflow's."""
    from evocane.errors import EvocaneError
    from evocane.evaluate.task_workflow import TaskPlan
    from evocane.experiments import Run

    config = {
        "evaluation": {
            "bootstrap": {"n_resamples": 10},
            "nextbase": {"baseline": "markov"},
            "tasks": {"enabled": ["generation", "regulatory", "experiments"], "datasets": None, "members": None,
                      "background": {"model": None, "member": None}, "generation": {}, "regulatory": {},
                      "experiments": {"table": "tables/elements.tsv"}},
        }
    }  # fmt: skip
    runs = [Run("markov", "a", True), Run("hf", "a", False), Run("markov", "b", False)]
    plan = TaskPlan(config, runs, str(tmp_path))
    assert plan.models("a") == ["markov", "hf"] and plan.models("a", generating=True) == ["markov"]
    assert ("b", "generation") not in plan.pairs() and ("b", "regulatory") in plan.pairs()
    assert plan.table == str(tmp_path / "tables/elements.tsv") and plan.background == "markov"
    assert "results/tasks/a/generation/evaluation/metrics.tsv" in plan.targets()
    config["evaluation"]["tasks"]["datasets"] = ["c"]
    with pytest.raises(EvocaneError, match="evaluation.tasks.datasets"):
        TaskPlan(config, runs, str(tmp_path))
