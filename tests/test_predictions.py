"""The prediction contract: observed-base scores and top-1 credit by hand, byte-logit folding, writer/reader round
trip and atomicity, prediction sets with members, generated FASTA."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from evocane.errors import EvocaneError
from evocane.predictions import (
    GeneratedSequence,
    PredictionReader,
    PredictionWriter,
    acgt_probabilities_from_logits,
    base_codes,
    gather,
    observed_base_scores,
    prediction_dirs,
    read_generated_fasta,
    window_chunks,
    write_generated_fasta,
)

META = {"model": "m", "engine": "markov", "variant": "v", "split": "test"}


def test_base_codes_fold_case_and_reject_everything_else() -> None:
    codes = base_codes(np.frombuffer(b"ACGTacgtNn|R-", dtype=np.uint8))
    assert codes.tolist() == [0, 1, 2, 3, 0, 1, 2, 3, -1, -1, -1, -1, -1]


def test_observed_base_scores_by_hand() -> None:
    probabilities = np.array([
        [0.7, 0.1, 0.1, 0.1],  # observed A: unique argmax -> credit 1
        [0.4, 0.4, 0.1, 0.1],  # observed C: tied with A -> credit 1/2
        [0.25, 0.25, 0.25, 0.25],  # flat -> credit 1/4, log 0.25
        [0.7, 0.1, 0.1, 0.1],  # observed T: not the argmax -> 0
        [0.7, 0.1, 0.1, 0.1],  # not scored (N)
    ])  # fmt: skip
    logprob, top1 = observed_base_scores(probabilities, np.array([0, 1, 2, 3, -1]))
    np.testing.assert_allclose(logprob[:4], np.log([0.7, 0.4, 0.25, 0.1]), rtol=1e-6)
    np.testing.assert_allclose(top1[:4], [1.0, 0.5, 0.25, 0.0])
    assert np.isnan(logprob[4]) and np.isnan(top1[4])


def test_byte_logits_fold_case_and_renormalise_over_acgt() -> None:
    logits = np.full((1, 512), -1e9)
    logits[0, ord("A")], logits[0, ord("a")], logits[0, ord("C")], logits[0, ord("N")] = 0.0, 0.0, math.log(2.0), 5.0
    folded = acgt_probabilities_from_logits(logits)
    # P(A) = e0 + e0 = 2, P(C) = 2, G = T = 0; N is dropped by the renormalisation
    np.testing.assert_allclose(folded[0], [0.5, 0.5, 0.0, 0.0], atol=1e-12)


def test_writer_reader_round_trip_with_top1_and_distributions(tmp_path: Path) -> None:
    out = tmp_path / "pred"
    distribution = np.tile([0.1, 0.2, 0.3, 0.4], (3, 1))
    with PredictionWriter(out, META) as writer:
        writer.add("w1", np.array([np.nan, -1.0, -2.0]), distribution=distribution, top1=np.array([np.nan, 1.0, 0.0]))
        writer.add("w2", np.array([np.nan, -0.5]), top1=np.array([np.nan, 0.5]))
    reader = PredictionReader(out)
    assert reader.index["window_id"].tolist() == ["w1", "w2"]
    assert reader.index["n_scored"].tolist() == [2, 1]
    np.testing.assert_allclose(reader.index["sum_logprob"], [-3.0, -0.5])
    np.testing.assert_allclose(reader.window("w2"), [np.nan, -0.5])
    assert reader.top1 is not None and reader.top1.dtype == np.float16
    np.testing.assert_allclose(np.asarray(reader.top1, dtype=float), [np.nan, 1.0, 0.0, np.nan, 0.5])
    np.testing.assert_allclose(reader.distributions()["w1"], distribution, rtol=1e-6)
    assert reader.model == "m"


def test_top1_is_all_or_none_and_meta_is_required(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="top1"):
        with PredictionWriter(tmp_path / "a", META) as writer:
            writer.add("w1", np.array([-1.0]), top1=np.array([1.0]))
            writer.add("w2", np.array([-1.0]))
    assert not (tmp_path / "a").exists()
    with pytest.raises(ValueError, match="split"):
        PredictionWriter(tmp_path / "b", {"model": "m", "engine": "e", "variant": "v"})


def test_a_failed_or_duplicated_write_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(EvocaneError, match="scored twice"):
        with PredictionWriter(tmp_path / "dup", META) as writer:
            writer.add("w1", np.array([-1.0]))
            writer.add("w1", np.array([-1.0]))
    assert not (tmp_path / "dup").exists()
    assert not list(tmp_path.iterdir()), "no temporary directory may be left behind"


def test_prediction_sets_list_members_in_natural_order(tmp_path: Path) -> None:
    for member in ("k10", "k2", "k1"):
        with PredictionWriter(tmp_path / "set" / member, {**META, "model": f"markov_{member}"}) as writer:
            writer.add("w", np.array([-1.0]))
    assert [p.name for p in prediction_dirs(tmp_path / "set")] == ["k1", "k2", "k10"]
    assert prediction_dirs(tmp_path / "set" / "k2") == [tmp_path / "set" / "k2"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(EvocaneError, match="no predictions"):
        prediction_dirs(tmp_path / "empty")


def test_reader_rejects_incomplete_predictions(tmp_path: Path) -> None:
    (tmp_path / "p").mkdir()
    with pytest.raises(EvocaneError, match="index.parquet"):
        PredictionReader(tmp_path / "p")


def test_gather_and_window_chunks() -> None:
    array = np.arange(20)
    np.testing.assert_array_equal(gather(array, np.array([0, 5]), np.array([5, 3])), np.arange(8))
    np.testing.assert_array_equal(gather(array, np.array([10, 2]), np.array([2, 2])), [10, 11, 2, 3])
    chunks = list(window_chunks(np.array([4, 4, 4, 9, 1]), 8))
    assert chunks == [slice(0, 2), slice(2, 3), slice(3, 4), slice(4, 5)]


def test_generated_fasta_round_trip(tmp_path: Path) -> None:
    records = [GeneratedSequence("w1", s, 7 + s, "ACGT" * 30, model="m_k3", temperature=0.7, top_k=2, top_p=0.9, prompt_length=50) for s in range(2)]
    path = write_generated_fasta(records, tmp_path / "gen.fa")
    assert path.read_text().splitlines()[0] == ">w1#0 prompt_id=w1 sample=0 seed=7 temperature=0.7 top_k=2 top_p=0.9 prompt_length=50 model=m_k3"
    assert read_generated_fasta(path) == records
