"""The shared training core (evocane.engines.training) on a tiny model with dropout: the learning-rate schedule, the
two loss normalisations against one large batch, exact resume after an interruption (random state included), and
safe loading of resume states (nothing is unpickled; a pickled object is refused with one clear error)."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import pandas as pd
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from evocane.engines import training as core  # noqa: E402
from evocane.errors import EvocaneError  # noqa: E402

VOCAB = 16
CPU = torch.device("cpu")


def _settings(**overrides: object) -> core.LoopSettings:
    values: dict[str, object] = {
        "steps": 6, "lr": 1e-2, "min_lr_ratio": 0.1, "warmup_steps": 2, "warmup_from_zero": False, "weight_decay": 0.01,
        "grad_clip": 1.0, "log_every": 1, "eval_every": 3, "checkpoint_every": 2, "keep_checkpoints": 2,
        "normalise": "step", "evaluate_at_start": True,
    }  # fmt: skip
    values.update(overrides)
    return core.LoopSettings(**values)  # type: ignore[arg-type]


def _trainee(dropout: float = 0.3) -> core.Trainee:
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Embedding(VOCAB, 8), torch.nn.Dropout(dropout), torch.nn.Linear(8, VOCAB))
    trainable = {name: p for name, p in module.named_parameters()}
    return core.Trainee(module, trainable, module, no_decay=frozenset(n for n, p in trainable.items() if p.ndim < 2))


def _batch(seed: int, rows: int = 2, length: int = 12) -> core.Batch:
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randint(0, VOCAB, (rows, length), generator=generator)
    targets = torch.randint(0, VOCAB, (rows, length), generator=generator)
    codes = torch.randint(0, 3, (rows, length), generator=generator)  # weight codes: none, soft-masked, full
    weights = torch.from_numpy(core.loss_weights(codes.numpy(), 0.1))
    return core.Batch(inputs, targets, weights, codes > 0, codes == 2)


def _micro_batches(step: int) -> list[core.Batch]:
    return [_batch(1000 * step + micro, rows=1 + micro) for micro in range(2)]


def _run(work: Path, **kwargs: object) -> core.TrainState:
    trainee = kwargs.pop("trainee", None) or _trainee()
    settings = kwargs.pop("settings", None) or _settings()
    return core.train(trainee, _micro_batches, [_batch(-1), _batch(-2)], settings, work, CPU, "fp", **kwargs)  # type: ignore[arg-type]


def test_warmup_cosine_conventions() -> None:
    evo2 = core.warmup_cosine(4, 14, 0.2, warmup_from_zero=False)
    hf = core.warmup_cosine(4, 14, 0.2, warmup_from_zero=True)
    assert [evo2(s) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert [hf(s) for s in range(4)] == [0.0, 0.25, 0.5, 0.75]
    for factor in (evo2, hf):
        assert factor(4) == 1.0 and factor(9) == pytest.approx(0.6) and factor(14) == pytest.approx(0.2)
    assert core.warmup_cosine(10, 4, 0.1, warmup_from_zero=False)(3) == 1.0  # warmup capped at the run's length


@pytest.mark.parametrize("normalise", ["step", "micro_batch"])
def test_accumulated_gradient_matches_its_definition(normalise: str, tmp_path: Path) -> None:
    """One optimiser step at lr 0 leaves the gradient of the step's loss: with "step" the gradient of the two
    micro-batches as one batch (sum of w x NLL over the total weight), with "micro_batch" the mean of the two
    micro-batches' own weighted losses."""
    trainee = _trainee(dropout=0.0)  # the reference below must see the same network
    captured: dict[str, torch.Tensor] = {}

    def keep_gradients() -> None:
        captured.update({name: t.grad.clone() for name, t in trainee.trainable.items() if t.grad is not None})

    trainee.grads_to_trainable = keep_gradients
    settings = _settings(steps=1, grad_clip=0.0, normalise=normalise, evaluate_at_start=False)
    state = _run(tmp_path, trainee=trainee, settings=settings)

    reference = _trainee(dropout=0.0)
    batches = _micro_batches(0)
    sums = []  # per micro-batch: (sum of w x NLL, sum of w), computed independently of the core
    for batch in batches:
        nll = -torch.log_softmax(reference.module(batch.input_ids), -1).gather(-1, batch.targets[..., None])[..., 0]
        sums.append(((nll * batch.weights).sum(), batch.weights.sum()))
    if normalise == "step":
        loss = sum(s for s, _ in sums) / sum(w for _, w in sums)
    else:
        loss = sum(s / w for s, w in sums) / len(sums)
    loss.backward()
    for name, tensor in reference.trainable.items():
        torch.testing.assert_close(captured[name], tensor.grad, rtol=1e-5, atol=1e-7)
    assert state.metrics[-1]["train_loss"] == pytest.approx(float(loss.detach()), rel=1e-6)
    assert state.tokens == sum(b.n_tokens for b in batches)


def test_resume_after_an_interruption_is_exact(tmp_path: Path) -> None:
    class Interrupted(Exception):
        pass

    def stop_at(step: int) -> None:
        if step == 3:  # one step after the step-2 resume state
            raise Interrupted

    with pytest.raises(Interrupted):
        _run(tmp_path / "resumed", after_step=stop_at)
    assert sorted(p.name for p in (tmp_path / "resumed").iterdir()) == ["metrics.tsv", "step-00000002"]
    saved = json.loads((tmp_path / "resumed" / "step-00000002" / "state.json").read_text())
    assert saved["step"] == 2 and saved["trainable"] == ["0.weight", "2.weight", "2.bias"]

    first, second = _trainee(), _trainee()
    done = core.train(first, _micro_batches, [_batch(-1), _batch(-2)], _settings(), tmp_path / "straight", CPU, "fp")
    resumed = core.train(second, _micro_batches, [_batch(-1), _batch(-2)], _settings(), tmp_path / "resumed", CPU, "fp")
    assert resumed.resumed_from == 2 and done.resumed_from is None
    for name in first.trainable:  # dropout draws from the restored random state: bit-identical weights
        torch.testing.assert_close(second.trainable[name], first.trainable[name], rtol=0, atol=0)
    columns = ["step", "tokens", "lr", "train_loss", "val_loss", "val_nll"]
    pd.testing.assert_frame_equal(pd.DataFrame(resumed.metrics)[columns], pd.DataFrame(done.metrics)[columns])
    assert [m["step"] for m in done.metrics] == list(range(7))
    assert math.isnan(done.metrics[0]["train_loss"]) and not math.isnan(done.metrics[0]["val_loss"])
    assert done.metrics[1]["lr"] == pytest.approx(1e-2 * 0.5)  # step 1 ran at lr / warmup (evo2's convention)
    logged = pd.read_csv(tmp_path / "resumed" / "metrics.tsv", sep="\t")
    assert list(logged.columns) == core.METRIC_COLUMNS and list(logged["step"]) == list(range(7))
    assert sorted(p.name for p in (tmp_path / "straight").glob("step-*")) == ["step-00000002", "step-00000004"]  # keep 2


def test_a_state_from_another_configuration_is_discarded(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _run(tmp_path, settings=_settings(steps=3))
    assert (tmp_path / "step-00000002").is_dir()
    state = core.train(_trainee(), _micro_batches, [], _settings(steps=3), tmp_path, CPU, "another fingerprint")
    assert state.resumed_from is None and "different configuration" in caplog.text


def test_a_state_of_other_parameters_is_refused(tmp_path: Path) -> None:
    _run(tmp_path, settings=_settings(steps=3))
    trainee = _trainee()
    trainee.trainable.pop("2.bias")
    with pytest.raises(EvocaneError, match=r"step-00000002: resume state does not match"):
        core.train(trainee, _micro_batches, [], _settings(steps=3), tmp_path, CPU, "fp")


def test_a_pickled_object_in_a_resume_state_is_refused(tmp_path: Path) -> None:
    """Resume states are read with weights_only=True: a file that would unpickle an arbitrary object (here an
    argparse.Namespace; in an attack, anything with a __reduce__) is refused, naming the file."""
    _run(tmp_path, settings=_settings(steps=3))
    optimizer_file = tmp_path / "step-00000002" / "optimizer.pt"
    torch.save({"state": {}, "param_groups": [], "payload": argparse.Namespace(run="anything")}, optimizer_file)
    with pytest.raises(EvocaneError, match=r"step-00000002/optimizer\.pt: refused") as error:
        core.train(_trainee(), _micro_batches, [], _settings(steps=3), tmp_path, CPU, "fp")
    assert "weights_only" in str(error.value) and "\n" not in str(error.value)
    with pytest.raises(EvocaneError, match="refused"):
        core.load_tensor_file(optimizer_file)


def test_no_resume_state_is_unpickled_anywhere() -> None:
    source = Path(core.__file__).resolve().parents[1]
    offenders = [str(p) for p in source.rglob("*.py") if "weights_only=False" in p.read_text()]
    assert not offenders


class OneHot(torch.nn.Module):
    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.one_hot(ids, VOCAB).to(torch.bfloat16)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_resume_is_exact_on_cuda_with_bf16_and_master_weights(tmp_path: Path) -> None:
    """On a GPU: a bf16 module trained through fp32 master copies (the evo2 precision hooks), with CUDA dropout
    (the CUDA random state must be restored), resumes to bit-identical weights and metrics."""
    device = torch.device("cuda")

    def trainee() -> core.Trainee:
        torch.manual_seed(0)
        # one-hot + Linear rather than Embedding: its CUDA backward accumulates with atomics (not bit-reproducible)
        module = torch.nn.Sequential(OneHot(), torch.nn.Linear(VOCAB, 32), torch.nn.Dropout(0.3), torch.nn.Linear(32, VOCAB))
        module = module.to(device, torch.bfloat16)
        params = dict(module.named_parameters())
        masters = {name: torch.nn.Parameter(p.detach().float().clone()) for name, p in params.items()}

        def grads_to_masters() -> None:
            for name, p in params.items():
                masters[name].grad, p.grad = p.grad.float(), None

        @torch.no_grad()
        def masters_to_module() -> None:
            for name, p in params.items():
                p.copy_(masters[name])

        return core.Trainee(module, masters, module, grads_to_trainable=grads_to_masters, trainable_to_module=masters_to_module)

    class Interrupted(Exception):
        pass

    def stop_at(step: int) -> None:
        if step == 3:
            raise Interrupted

    run = {"micro_batches": _micro_batches, "eval_batches": [_batch(-1)], "settings": _settings(), "device": device, "fingerprint": "fp"}
    straight = trainee()
    done = core.train(straight, work_dir=tmp_path / "straight", **run)  # type: ignore[arg-type]
    with pytest.raises(Interrupted):
        core.train(trainee(), work_dir=tmp_path / "resumed", after_step=stop_at, **run)  # type: ignore[arg-type]
    first = trainee()
    torch.cuda.manual_seed(12345)  # another CUDA random state: the resume must restore the saved one
    resumed = core.train(first, work_dir=tmp_path / "resumed", **run)  # type: ignore[arg-type]
    assert resumed.resumed_from == 2
    for name in straight.trainable:
        torch.testing.assert_close(first.trainable[name], straight.trainable[name], rtol=0, atol=0)
        torch.testing.assert_close(dict(first.module.named_parameters())[name], dict(straight.module.named_parameters())[name], rtol=0, atol=0)
    columns = ["step", "tokens", "lr", "train_loss", "val_loss", "val_nll"]
    pd.testing.assert_frame_equal(pd.DataFrame(resumed.metrics)[columns], pd.DataFrame(done.metrics)[columns])
    assert all(m["peak_memory_gib"] > 0 for m in done.metrics[1:])


def test_validation_reports_nonrepeat_bits_to_the_evaluation_hook(tmp_path: Path) -> None:
    """val_nonrepeat_bits is the mean NLL (in bits) over the full-weight targets, computed independently here from
    the model's logits; the hook sees every evaluation row and can stop training."""
    trainee = _trainee(dropout=0.0)
    batches = [_batch(-1), _batch(-2)]
    with torch.no_grad():
        nll = torch.cat([torch.nn.functional.cross_entropy(trainee.forward(b.input_ids).reshape(-1, VOCAB), b.targets.reshape(-1), reduction="none")
                         [b.full.reshape(-1)] for b in batches])  # fmt: skip
    assert core.evaluate(trainee, batches, CPU)[2] == pytest.approx(float(nll.mean()) / math.log(2), rel=1e-6)

    seen: list[tuple[int, float]] = []

    class Stop(Exception):
        pass

    def hook(step: int, row: dict[str, float]) -> None:
        seen.append((step, row["val_nonrepeat_bits"]))
        if step == 6:
            raise Stop

    with pytest.raises(Stop):
        _run(tmp_path, settings=_settings(steps=9), on_evaluation=hook)
    assert [step for step, _ in seen] == [3, 6] and all(math.isfinite(bits) for _, bits in seen)
    logged = pd.read_csv(tmp_path / "metrics.tsv", sep="\t")
    assert logged.loc[logged["step"] == 3, "val_nonrepeat_bits"].item() == pytest.approx(seen[0][1])
