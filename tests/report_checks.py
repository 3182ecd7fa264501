"""Checks of a generated report that the end-to-end workflow tests share: the landing page shows the summary and
its headline tables without a click (headless Chromium), every number the summary's sentences quote agrees with
results/leaderboard.csv (recomputed here from the leaderboard alone), and the figures fit the page and use the
run's model palette."""

from __future__ import annotations

import html
import re
import struct
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from conftest import headless_dom

MAX_FIGURE_PX = 1150  # 10 inches at 110 dpi, plus what a tight bounding box may add


def _headline(board: pd.DataFrame, variant: str, metric: str, split: str = "test") -> pd.DataFrame:
    rows = board[(board["task"] == "nextbase") & (board["split"] == split) & (board["stratum"] == "nonrepeat") & (board["metric"] == metric)]
    return rows[rows["variant"] == variant].set_index("model")


def _best_markov(board: pd.DataFrame, variant: str) -> set[str]:
    """The Markov orders with the lowest validation bits per base, as the evaluation chooses among them. The
    leaderboard rounds to 6 significant digits and the evaluation chose on the unrounded values, so orders that tie
    at the leaderboard's precision (high orders on a small training set often do) are all possible choices."""
    validation = _headline(board, variant, "bits_per_base", "validation")
    members = validation[validation.index.str.match(r"markov_k\d+$")]["value"]
    return {str(m) for m, v in members.items() if v <= members.min() * (1 + 1e-5)}


def check_sentences(sentences: list[str], board: pd.DataFrame) -> int:
    """Every finding's numbers against the leaderboard; returns how many sentences were checked."""
    checked = 0
    for sentence in sentences:
        found = re.match(r"No model beats (\S+) on (\S+): \S+ scores ([\d.]+) bits/base; the closest, (\S+), scores ([\d.]+) "
                         r"\(difference ([+-][\d.]+), 95 % CI ([+-][\d.]+) to ([+-][\d.]+)\)\.", sentence)  # fmt: skip
        if found:
            baseline, variant, base_bits, model, bits, delta, low, high = found.groups()
            assert baseline in _best_markov(board, variant), sentence
            scores, deltas = _headline(board, variant, "bits_per_base"), _headline(board, variant, "delta_bits_per_base")
            assert abs(float(base_bits) - scores.loc[baseline, "value"]) <= 5e-4 and abs(float(bits) - scores.loc[model, "value"]) <= 5e-4, sentence
            for text, column in ((delta, "value"), (low, "ci_low"), (high, "ci_high")):
                assert abs(float(text) - deltas.loc[model, column]) <= 5e-4, sentence
            others = deltas[~deltas.index.str.match(r"markov_k\d+$")]
            assert (others["ci_high"] >= 0).all(), f"a model beats the baseline, yet: {sentence}"
            assert model == others["value"].idxmin(), sentence
            checked += 1
            continue
        found = re.match(r"(\S+) scores ([\d.]+) bits/base better than (\S+) for (\S+) \(([\d.]+) against ([\d.]+)\): leakage", sentence)
        if found:
            control, gain, reference, model, control_bits, reference_bits = found.groups()
            ours = _headline(board, control, "bits_per_base").loc[model, "value"]
            theirs = _headline(board, reference, "bits_per_base").loc[model, "value"]
            assert abs(float(control_bits) - ours) <= 5e-4 and abs(float(reference_bits) - theirs) <= 5e-4, sentence
            assert abs(float(gain) - (theirs - ours)) <= 1e-3 and theirs > ours, sentence
            checked += 1
    return checked


def check_landing_page(report: Path, board: pd.DataFrame) -> None:
    dom = headless_dom(report)
    start = dom.find('class="evocane-summary"')
    assert start > 0, "the summary is not on the report's landing page"
    # the landing view (the workflow description, class prose) holds it; no click has happened
    assert dom.rfind('class="prose', 0, start) > 0
    summary = dom[start:]
    assert "<h2>Summary</h2>" in summary and "<h3>homology_split</h3>" in summary
    table = summary[summary.index("<h3>homology_split</h3>") : summary.index("</table>", summary.index("<h3>homology_split</h3>"))]
    assert any(f"<td>{best} ★</td>" in table or f"<td>{best}</td>" in table for best in _best_markov(board, "homology_split")), (
        "the headline table lacks the best Markov order"
    )
    for model in set(_headline(board, "homology_split", "bits_per_base").index) - {m for m in board["model"] if re.match(r"markov_k\d+$", m)}:
        assert f"<td>{model}" in table, f"the headline table lacks {model}"
    findings = summary[summary.index('<ul class="findings">') : summary.index("</ul>", summary.index('<ul class="findings">'))]
    sentences = [html.unescape(re.sub(r"<[^>]+>", "", item)) for item in re.findall(r"<li>(.*?)</li>", findings, flags=re.S)]
    assert check_sentences(sentences, board) >= 2, sentences  # a headline verdict and the leakage of the control


def png_width(path: Path) -> int:
    return struct.unpack(">I", path.read_bytes()[16:20])[0]


def check_figures(results: Path, palette_colour: str, model_figure: Path) -> None:
    figures = [p for p in results.rglob("*.png") if "hpo" not in p.parts and "qc" not in p.parts]
    assert figures
    wide = {str(p.relative_to(results)): png_width(p) for p in figures if png_width(p) > MAX_FIGURE_PX}
    assert not wide, f"figures wider than the report page: {wide}"
    # the run's palette colour of a language model is drawn in the figure that compares models across variants
    rgb = np.array(Image.open(model_figure).convert("RGB")).reshape(-1, 3)
    target = np.array([int(palette_colour[i : i + 2], 16) for i in (1, 3, 5)])
    assert (np.abs(rgb - target).sum(axis=1) <= 3).sum() > 20, f"{palette_colour} not in {model_figure}"
