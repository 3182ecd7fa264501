"""The report's summary builder, model table, browsable tables and palette, on small hand-made inputs whose
expected sentences and numbers are worked out here independently."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from matplotlib import colormaps
from matplotlib import colors as mcolors

from evocane.plots.palette import ModelPalette
from evocane.plots.tables import table_page
from evocane.report import summary as s
from evocane.report.models import model_table

COLUMNS = ["task", "model", "engine", "variant", "split", "metric", "stratum", "value", "ci_low", "ci_high", "n"]


def _rows(variant: str, bits: dict[str, float], delta: dict[str, tuple[float, float, float]], split: str = "test") -> list[list[object]]:
    rows: list[list[object]] = []
    for model, value in bits.items():
        engine = "markov" if model.startswith("markov_") else "hf"
        rows.append(["nextbase", model, engine, variant, split, "bits_per_base", "nonrepeat", value, value - 0.01, value + 0.01, 1000])
        if model in delta:
            d, low, high = delta[model]
            rows.append(["nextbase", model, engine, variant, split, "delta_bits_per_base", "nonrepeat", d, low, high, 1000])
    return rows


@pytest.fixture()
def board() -> pd.DataFrame:
    rows = _rows("hs", {"markov_k1": 1.95, "markov_k2": 1.93, "markov_k3": 1.94, "lm_a": 1.96, "lm_b": 1.935},
                 {"markov_k2": (0.0, 0.0, 0.0), "lm_a": (0.03, 0.02, 0.04), "lm_b": (0.005, -0.001, 0.011)})  # fmt: skip
    rows += _rows("rc", {"markov_k1": 1.949, "markov_k2": 1.90, "markov_k3": 1.80, "lm_a": 1.90}, {})
    rows += _rows("pre", {"lm_pre": 1.7}, {})
    rows += [["experiments", "lm_a", "hf", "hs", "test", "pearson_loglik", "", 0.3, 0.1, 0.5, 40]]
    return pd.DataFrame(rows, columns=COLUMNS)


VARIANTS = [s.Variant("hs", "benchmark", "held-out homology group"), s.Variant("rc", "control", "leaky"), s.Variant("pre", "pretraining")]
BASELINES = {
    "hs": s.Baseline("markov_k2", "validation", ("markov_k1", "markov_k2", "markov_k3")),
    "rc": s.Baseline("markov_k3", "validation", ("markov_k1", "markov_k2", "markov_k3")),
}
CONTAINMENT = {"hs": 0.02, "rc": 0.5, "pre": 0.01}


def test_headline_keeps_the_best_member_and_every_other_model(board: pd.DataFrame) -> None:
    table = s.headline_table(board, "hs", BASELINES["hs"])
    assert list(table["model"]) == ["markov_k2", "lm_b", "lm_a"]  # other orders out; models by score
    assert table.loc[table["winner"], "model"].tolist() == ["markov_k2"]  # 1.93 is the lowest
    verdicts = dict(zip(table["model"], table["verdict"]))
    assert verdicts["lm_a"] == "worse than the baseline" and verdicts["lm_b"] == "no significant difference"


def test_no_model_beats_sentence_quotes_the_closest_model(board: pd.DataFrame) -> None:
    sentence = s.verdict_sentence("hs", s.headline_table(board, "hs", BASELINES["hs"]), BASELINES["hs"])
    assert sentence == (
        "No model beats markov_k2 on hs: markov_k2 scores 1.930 bits/base; the closest, lm_b, scores 1.935 "
        "(difference +0.005, 95 % CI -0.001 to +0.011)."
    )


def test_a_model_whose_ci_is_below_zero_beats_the_baseline(board: pd.DataFrame) -> None:
    better = board.copy()
    row = (better["model"] == "lm_b") & (better["metric"] == "delta_bits_per_base")
    better.loc[row, ["value", "ci_low", "ci_high"]] = [-0.02, -0.03, -0.01]
    better.loc[(better["model"] == "lm_b") & (better["metric"] == "bits_per_base") & (better["variant"] == "hs"), "value"] = 1.91
    table = s.headline_table(better, "hs", BASELINES["hs"])
    assert table.loc[table["winner"], "model"].tolist() == ["lm_b"]
    assert s.verdict_sentence("hs", table, BASELINES["hs"]).startswith("lm_b beats markov_k2 on hs: 1.910 against 1.930 bits/base (difference -0.020")


def test_leakage_sentence_compares_the_control_with_the_first_benchmark(board: pd.DataFrame) -> None:
    members = {name: b.members for name, b in BASELINES.items()}
    found = s.inflations(board, VARIANTS, CONTAINMENT, members)
    # the baseline member that gains most (markov_k3: 1.94 - 1.80) and every other model on both (lm_a)
    assert [(i.model, round(i.gain, 6)) for i in found] == [("markov_k3", 0.14), ("lm_a", 0.06)]
    assert s.inflation_sentence(found[0]) == (
        "rc scores 0.140 bits/base better than hs for markov_k3 (1.800 against 1.940): leakage "
        "(mean test containment 0.50 against 0.02)."
    )


def test_summary_caveats_and_html(board: pd.DataFrame) -> None:
    caveats = s.Caveats(max_length={"a": 2_000_000, "b": None}, scored_windows=1000, training_steps={"lm_a (hs)": 100}, synthetic_tasks=["experiments"])
    summary = s.build_summary(board, VARIANTS, BASELINES, CONTAINMENT, caveats)
    text = " ".join(summary.caveats)
    assert "first 2 Mb (a)" in text and "at most 1000 windows" in text and "100 optimiser steps" in text
    assert "experiments task runs on a synthetic table" in text
    assert "The best baseline member on rc, markov_k3, is the highest of those tried" in text  # k2 on hs is inside the grid
    assert "pre is pretraining data" in text
    assert list(summary.headlines) == ["hs"]  # neither the control nor the pretraining variant is a headline
    assert list(summary.leakage["variant"]) == ["hs", "rc"] and list(summary.leakage.columns[3:]) == ["markov_k2", "markov_k3", "lm_a"]
    page = s.summary_page(summary)
    assert page.count("<table>") == 2 and "★" in page and "lm_pre" not in page


def test_leaderboard_view_puts_headline_rows_first_and_marks_synthetic_rows(board: pd.DataFrame) -> None:
    view = s.leaderboard_view(board, VARIANTS, ["experiments"])
    headline = view[view["headline"] == "yes"]
    assert set(headline["variant"]) == {"hs", "rc"} and list(view.index[: len(headline)]) == list(headline.index)
    assert view.iloc[0]["variant"] == "hs" and view.iloc[0]["metric"] == "bits_per_base" and view.iloc[0]["model"] == "markov_k2"
    assert view.iloc[-1]["variant"] == "pre"  # pretraining rows last, never headline
    assert view.loc[view["task"] == "experiments", "data"].tolist() == ["synthetic"] and set(view.loc[view["task"] == "nextbase", "data"]) == {"real"}


def test_baseline_from_metrics_and_grid_edge() -> None:
    metrics = pd.DataFrame({
        "model": ["markov_k1", "markov_k10", "markov_k2", "lm"], "config_model": ["markov", "markov", "markov", "lm"],
        "baseline": ["", "", "", "markov_k10"], "selected_on": ["", "", "", "validation"],
    })  # fmt: skip
    baseline = s.baseline_from_metrics(metrics, "markov")
    assert baseline == s.Baseline("markov_k10", "validation", ("markov_k1", "markov_k2", "markov_k10"))
    assert baseline.at_edge and not s.Baseline("markov_k2", "validation", baseline.members).at_edge


def test_model_table_reads_checkpoint_metas(tmp_path: Path) -> None:
    base = tmp_path / "results" / "models" / "pre" / "p" / "checkpoint"
    lora = tmp_path / "results" / "models" / "lora" / "v" / "checkpoint"
    ref = tmp_path / "results" / "models" / "ref" / "v" / "checkpoint"
    for path, meta in (
        (base, {"model": "pre", "engine": "hf", "variant": "p", "init_checkpoint": None, "hf": {"kind": "full", "steps": 200, "parameters": 300, "train_tokens": 5}}),
        (lora, {"model": "lora", "engine": "hf", "variant": "v", "init_checkpoint": str(base), "hf": {"kind": "lora", "steps": 10, "parameters": 350, "trainable_parameters": 50}}),
        (ref, {"model": "ref", "engine": "hf", "variant": "v", "init_checkpoint": str(base), "hf": {"kind": "reference", "steps": 0}}),
    ):
        path.mkdir(parents=True)
        (path / "evocane_checkpoint.json").write_text(json.dumps(meta))
    table = model_table([base, lora, ref]).set_index("model")
    assert table.loc["lora", "init"] == "pre (p)" and table.loc["pre", "init"] == "none (from scratch)"
    assert table.loc["lora", "trainable parameters"] == 50 and table.loc["ref", "parameters"] == 300  # the reference's weights are its init's
    assert table.loc["pre", "steps"] == 200 and pd.isna(table.loc["ref", "training tokens"])


def test_table_page_is_self_contained_and_deterministic() -> None:
    frame = pd.DataFrame({"model": ["a", "b"], "bits": [1.912345678, 1.8]})
    page = table_page(frame, "Leaderboard", "a note")
    assert page == table_page(frame, "Leaderboard", "a note")
    assert not re.search(r"""<script[^>]+src=["']?https?://""", page) and "unpkg" not in page.split("dt_src_b64")[0]
    assert '"data_json": "[[\\"a\\", [\\"1.912\\", 1.912]], [\\"b\\", [\\"1.800\\", 1.8]]]"' in page  # every row, 4 significant digits


def test_palette_is_categorical_and_the_same_in_every_figure() -> None:
    palette = ModelPalette.of(["markov", "hf-a", "hf-b"], baseline="markov")
    again = ModelPalette.of(["markov", "hf-a", "hf-b"], baseline="markov")
    assert palette.colour("hf-b") == again.colour("hf-b") != palette.colour("hf-a")
    assert palette.colour("hf-a") == mcolors.to_hex("tab:blue")
    greys = [mcolors.to_rgb(palette.colour(f"markov_k{k}")) for k in (1, 4, 10)]
    assert all(r == g == b for r, g, b in greys) and greys[0][0] > greys[1][0] > greys[2][0]  # darker for higher orders
    viridis = {mcolors.to_hex(c) for c in colormaps["viridis"](range(256))}
    assert not viridis & set(palette.colours(["hf-a", "hf-b", "markov_k3"]).values())
    by_hand = ModelPalette.from_config({"models": {"markov": {}, "hf-a": {}}, "evaluation": {"nextbase": {"baseline": "markov"}}})
    assert by_hand.colour("hf-a") == palette.colour("hf-a")


def test_report_plan_reads_in_order_and_says_who_generates() -> None:
    from types import SimpleNamespace

    from evocane.cli.report import _generation_notes
    from evocane.experiments import Run
    from evocane.report.workflow import CATEGORIES, ReportPlan

    config = {
        "datasets": {"variants": {"rc": {"role": "control"}, "pre": {"role": "pretraining"}, "hs": {}, "bc": {}}},
        "models": {"markov": {}, "lm": {}},
        "evaluation": {"nextbase": {"baseline": "markov"}, "tasks": {"enabled": ["generation"]}},
    }
    plan = ReportPlan(config, [Run("markov", "hs", True), Run("lm", "hs", False), Run("lm", "pre", False)])
    assert [plan.variant_label(v) for v in ("hs", "bc", "rc", "pre")] == ["1. hs", "2. bc", "3. rc (control)", "4. pre (pretraining data)"]
    assert plan.nextbase_category()(SimpleNamespace(variant="pre")) == CATEGORIES["models"]
    assert plan.nextbase_category()(SimpleNamespace(variant="rc")) == CATEGORIES["nextbase"]
    assert sorted(CATEGORIES.values()) == list(CATEGORIES.values())  # the report sorts them by name: reading order
    assert plan.generation() == {"generating": ["markov"], "not_generating": ["lm"]}
    assert plan.model_palette() == {"models": ["markov", "lm"], "baseline": "markov"}
    notes = _generation_notes({**config, "generation": plan.generation()})
    assert notes and "only from markov" in notes[0] and "lm do not generate" in notes[0]


def test_natural_order_is_one_order_for_lists_and_table_columns() -> None:
    from evocane.ordering import natural_column, natural_key, natural_sorted

    names = ["markov_k10", "HG10", "evo2_lora", "markov_k2", "HG2", "2a", "a2", "markov_k2", "hf_small"]
    expected = ["2a", "HG2", "HG10", "a2", "evo2_lora", "hf_small", "markov_k2", "markov_k10"]
    assert natural_sorted(names) == expected
    assert sorted(set(names), key=natural_key) == expected
    table = pd.DataFrame({"model": names}).drop_duplicates()
    assert table.sort_values("model", key=natural_column)["model"].tolist() == expected
