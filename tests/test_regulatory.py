"""Regulatory-element task: sites on both strands land where the motif is, negatives are matched, only test regions
are used; AUROC/AUPRC against brute-force definitions; end to end with constructed and Markov predictions."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evocane.dataset.arrays import DatasetReader
from evocane.evaluate import metrics, regulatory, tasks
from evocane.evaluate.taskdata import held_out_regions, read_scored
from evocane.config import schema_defaults

from tasks_fixtures import TEST_START, tair10_dataset, tair10_genome, uniform_predictions  # noqa: F401

PARAMS = regulatory.RegulatoryParams.from_mapping({**schema_defaults("evaluation.tasks.regulatory"), "sites_per_kind": 12, "seed": 3})


def brute_force_auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    positives, negatives = scores[labels], scores[~labels]
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


def brute_force_average_precision(scores: np.ndarray, labels: np.ndarray) -> float:
    """AP = sum over distinct thresholds t (descending) of (R(t) - R(previous)) * P(t), P/R of 'score >= t'."""
    total, previous_recall = 0.0, 0.0
    for threshold in sorted(set(scores.tolist()), reverse=True):
        called = scores >= threshold
        recall = (called & labels).sum() / labels.sum()
        precision = (called & labels).sum() / called.sum()
        total += (recall - previous_recall) * precision
        previous_recall = recall
    return total


@pytest.mark.parametrize("seed", range(4))
def test_auroc_and_auprc_match_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    scores = np.round(rng.normal(size=60), 1)  # rounding makes ties
    labels = rng.random(60) < 0.4
    assert metrics.auroc(scores, labels) == pytest.approx(brute_force_auroc(scores, labels))
    assert metrics.auprc(scores, labels) == pytest.approx(brute_force_average_precision(scores, labels))


def test_auroc_constructed_cases() -> None:
    labels = np.array([True, True, False, False])
    assert metrics.auroc(np.array([3.0, 4.0, 1.0, 2.0]), labels) == 1.0
    assert metrics.auroc(np.array([1.0, 2.0, 3.0, 4.0]), labels) == 0.0
    assert metrics.auroc(np.ones(4), labels) == 0.5
    assert metrics.auprc(np.array([3.0, 4.0, 1.0, 2.0]), labels) == 1.0
    assert np.isnan(metrics.auroc(np.ones(3), np.ones(3, dtype=bool)))
    estimate, low, high = metrics.bootstrap_ci(metrics.auroc, (np.array([3.0, 4.0, 1.0, 2.0] * 5), np.tile(labels, 5)), 200, strata=np.tile(labels, 5))
    assert estimate == low == high == 1.0


@pytest.fixture(scope="module")
def regulatory_dataset(tmp_path_factory: pytest.TempPathFactory, tair10_dataset: Path, tair10_genome: Path) -> Path:  # noqa: F811
    held_out = held_out_regions(tair10_dataset)
    return regulatory.build_regulatory_inputs(held_out, {"thaliana": tair10_genome}, PARAMS, tmp_path_factory.mktemp("reg") / "dataset")


def test_sites_sit_on_their_motifs_on_both_strands(regulatory_dataset: Path) -> None:
    dataset = DatasetReader(regulatory_dataset)
    windows = dataset.split_windows("test")
    tokens = dataset.arrays("test").tokens
    assert (windows["start"] >= TEST_START).all(), "task windows come from the test split only"
    motifs = {"donor": (0, 2, "GT"), "acceptor": (-2, 0, "AG"), "tis": (0, 3, "ATG")}
    for kind, (left, right, motif) in motifs.items():
        sites = windows[(windows["site_kind"] == kind) & (windows["role"] == "site")]
        assert len(sites) == PARAMS.sites_per_kind
        found = Counter(bytes(tokens[r.offset + r.site_index + left : r.offset + r.site_index + right]).decode().upper() for r in sites.itertuples())
        assert found[motif] >= 0.9 * len(sites), (kind, found)  # GT-AG introns dominate; a few may be non-canonical
        if kind == "tis":
            assert found["ATG"] == len(sites)  # a TIS is only taken where the annotation has an ATG
    strands = set(windows.loc[windows["role"] == "site", "strand"])
    assert strands == {"+", "-"}
    lengths = windows.groupby("site_kind")["length"].unique()
    assert list(lengths["tss"]) == [PARAMS.promoter_upstream + PARAMS.promoter_downstream]
    assert list(lengths["donor"]) == [2 * PARAMS.site_flank]


def test_negatives_are_matched(regulatory_dataset: Path) -> None:
    dataset = DatasetReader(regulatory_dataset)
    windows = dataset.split_windows("test").set_index("window_id")
    tokens = dataset.arrays("test").tokens

    def sequence(window_id: str) -> bytes:
        row = windows.loc[window_id]
        return bytes(tokens[row["offset"] : row["offset"] + row["length"]])

    sites = windows[windows["role"] == "site"]
    matched_gc = 0
    for pair in sites["pair_id"]:
        site, shuffled = sequence(f"{pair}|site"), sequence(f"{pair}|shuffled")
        assert Counter(site[i : i + 2] for i in range(len(site) - 1)) == Counter(shuffled[i : i + 2] for i in range(len(shuffled) - 1))
        if f"{pair}|background" in windows.index:
            background = windows.loc[f"{pair}|background"]
            matched_gc += abs(background["gc"] - windows.loc[f"{pair}|site", "gc"]) <= PARAMS.gc_tolerance
            assert background["start"] >= TEST_START
    assert matched_gc >= 0.8 * len(sites)


def test_evaluation_on_constructed_scores(regulatory_dataset: Path, tmp_path: Path) -> None:
    """A model that gives site windows log P = -1 and negatives -2 everywhere has AUROC 1 for every kind; the
    uniform background then gives LLR AUROC 1 too, and the metaplot shows -1/ln 2 bits at every site position."""
    from evocane.predictions import PredictionWriter

    windows = DatasetReader(regulatory_dataset).split_windows("test")
    with PredictionWriter(tmp_path / "oracle", {"model": "oracle", "engine": "test", "variant": "fixture", "split": "test"}) as writer:
        for row in windows.itertuples(index=False):
            values = np.full(row.length, -1.0 if row.role == "site" else -2.0, dtype=np.float32)
            values[0] = np.nan
            writer.add(row.window_id, values, distribution=np.full((row.length, 4), 0.25, dtype=np.float32))
    uniform_predictions(regulatory_dataset, tmp_path / "uniform")
    background = read_scored(regulatory_dataset, tmp_path / "uniform").windows.set_index("window_id")["mean_logprob"]
    background.name = "uniform"
    scored = read_scored(regulatory_dataset, tmp_path / "oracle")
    table = regulatory.regulatory_scores(scored, background)
    rows = pd.DataFrame(regulatory.regulatory_metrics(table, n_boot=50, seed=0))
    auroc = rows[rows["metric"].str.startswith("auroc")]
    assert len(auroc) == 4 * 2 * 2 and (auroc["value"] == 1.0).all()
    assert (rows.loc[rows["metric"] == "fraction_site_above_shuffled", "value"] == 1.0).all()
    profile = regulatory.metaplot_profiles(scored)
    at_site = profile[(profile["measure"] == "logprob") & (profile["role"] == "site") & (profile["position"] == 0)]
    assert np.allclose(at_site["mean"], -1 / np.log(2), atol=1e-3)
    entropy = profile[profile["measure"] == "entropy"]
    assert np.allclose(entropy["mean"].dropna(), 2.0)


def test_markov_order1_cannot_tell_a_window_from_its_dinucleotide_shuffle(regulatory_dataset: Path, tair10_dataset: Path, tmp_path: Path) -> None:  # noqa: F811
    """Through the engine interface: an order-1 Markov chain's likelihood depends only on the first base and the
    dinucleotide counts, which the shuffle keeps, so sites and shuffles tie (AUROC 0.5) while order 3 differs."""
    from evocane.engines.base import ModelConfig, get_engine

    engine = get_engine("markov")
    checkpoint = engine.train(tair10_dataset, ModelConfig("markov", "markov", {"orders": [1, 3]}), tmp_path / "checkpoint")
    predictions = engine.score(checkpoint, regulatory_dataset, "test", tmp_path / "predictions", tasks.distribution_windows("regulatory", regulatory_dataset))
    config = {"evaluation": {"bootstrap": {"n_resamples": 20, "seed": 0}, "plot_format": "png", "nextbase": {"baseline": "markov"},
                             "tasks": {"background": {"model": None, "member": "k1"}, "members": None}}}  # fmt: skip
    out = tmp_path / "evaluation"
    tasks.evaluate("regulatory", config, regulatory_dataset, out, [predictions], predictions)
    table = pd.read_csv(out / "metrics.tsv", sep="\t")
    k1 = table[(table["model"] == "markov_k1") & (table["metric"] == "auroc_loglik") & table["stratum"].str.endswith("vs_shuffled")]
    assert len(k1) == 4 and np.allclose(k1["value"], 0.5)
    assert "auroc_llr" not in set(table.loc[table["model"] == "markov_k1", "metric"])  # the background against itself
    assert {"auroc_llr"} <= set(table.loc[table["model"] == "markov_k3", "metric"])
    distributions = read_scored(regulatory_dataset, predictions / "k3").distributions
    assert len(distributions) == 2 * 4 * PARAMS.sites_per_kind  # every site and shuffled window kept for entropy
    for name in ("auroc.png", "metaplot.png", "scores.png", "leaderboard.tsv", "profile.parquet"):
        assert (out / name).stat().st_size > 0


def test_task_windows_inherit_the_lineage_tag_and_case_policy(tmp_path: Path, tair10_genome: Path) -> None:  # noqa: F811
    """A variant whose windows carry a lineage-tag prefix gives its task windows the same prefix (weight 0), and
    the evaluation strips it again; a variant with upper-cased tokens gets upper-cased task windows."""
    from tasks_fixtures import dataset_from_genome

    tag = "|d__EUKARYOTA;p__STREPTOPHYTA|"
    tagged = dataset_from_genome(tair10_genome, tmp_path / "tagged", tag=tag)
    held_out = held_out_regions(tagged)
    assert held_out.tag == {"thaliana": tag.encode()} and not held_out.uppercase
    params = regulatory.RegulatoryParams.from_mapping({**schema_defaults("evaluation.tasks.regulatory"), "sites_per_kind": 3, "kinds": ["donor"], "seed": 1})
    out = regulatory.build_regulatory_inputs(held_out, {"thaliana": tair10_genome}, params, tmp_path / "reg")
    dataset = DatasetReader(out)
    windows = dataset.split_windows("test")
    arrays = dataset.arrays("test")
    assert (windows["prefix_length"] == len(tag)).all()
    for row in windows.itertuples(index=False):
        assert bytes(arrays.tokens[row.offset : row.offset + len(tag)]).decode() == tag
        assert not arrays.weights[row.offset : row.offset + len(tag)].any()
        assert row.length == len(tag) + 2 * params.site_flank
    scored = read_scored(out, uniform_predictions(out, tmp_path / "pred"))
    assert all(len(values) == 2 * params.site_flank for values in scored.logprob.values())
    assert held_out.contains("thaliana", "NC_003070.9", TEST_START + 1024, TEST_START + 2048)
    assert not held_out.contains("thaliana", "NC_003070.9", TEST_START - 10, TEST_START + 10)
    assert not held_out.contains("mockcane", "Chr1A", 0, 10)
