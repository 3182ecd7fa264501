"""Stand-ins for what the BioNeMo container writes, for tests on a machine without the container or a GPU.

``write_predict_output`` reproduces predict_evo2's on-disk layout as read in bionemo-framework v2.7.1
(sub-packages/bionemo-evo2/src/bionemo/evo2/run/predict.py, data/fasta_dataset.py and
sub-packages/bionemo-llm/src/bionemo/llm/utils/callbacks.py): ids sorted into seq_idx, an EOD (0) BOS token with
loss mask 0, upper-cased sequences, micro-batches right-padded (tokens 0, loss mask 0) and run through a causal
"model" (so padded positions carry model output, not zeros), a distributed sampler that pads the last round with
repeated samples, per-rank files whose batches are padded with zeros to the longest sequence of the file, and the
batch-interval naming with ``batch_idx`` and ``subdir_{k}``. The model is a fixed table of random logits looked up
by the last two input tokens (causal and deterministic).

``inference_request_text`` writes what infer_evo2 --output-file writes: ``f"{results[0]}\\n"``, the dataclass repr
of Megatron's InferenceRequest.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

VOCAB = 512
EOD = 0
_TABLE = np.random.default_rng(20240917).normal(0.0, 2.5, size=(64, VOCAB)).astype(np.float32)


def fake_logits(tokens: Sequence[int] | np.ndarray) -> np.ndarray:
    """(L, 512) logits; row i depends only on tokens i - 1 and i (row i predicts token i + 1)."""
    tokens = np.asarray(tokens, dtype=np.int64)
    previous = np.concatenate([[EOD], tokens[:-1]])
    return _TABLE[(previous * 7 + tokens * 3) % len(_TABLE)]


def input_tokens(sequence: str, prepend_bos: bool) -> list[int]:
    tokens = list(sequence.upper().encode("ascii"))
    return [EOD, *tokens] if prepend_bos else tokens


def _pad(rows: list, length: int, value: float = 0):
    import torch

    out = []
    for row in rows:
        pad = [0, 0] * (row.dim() - 1) + [0, length - row.shape[0]]
        out.append(torch.nn.functional.pad(row, pad, value=value))
    return torch.stack(out)


def _batch_prediction(items: list[tuple[int, list[int]]], prepend_bos: bool, mode: str, with_loss_mask: bool, dtype) -> dict:
    import torch

    length = max(len(tokens) for _, tokens in items)
    tokens = _pad([torch.tensor(t, dtype=torch.long) for _, t in items], length)
    loss_mask = _pad([torch.tensor([0 if (prepend_bos and i == 0) else 1 for i in range(len(t))], dtype=torch.long) for _, t in items], length)
    forward = torch.from_numpy(np.stack([fake_logits(row.numpy()) for row in tokens])).to(dtype)
    seq_idx = torch.tensor([index for index, _ in items], dtype=torch.long)
    if mode == "logits":
        return {"token_logits": forward, "pad_mask": loss_mask, "seq_idx": seq_idx}
    log_softmax = torch.log_softmax(forward.float(), dim=-1)[:, :-1]
    log_probs = torch.gather(log_softmax, 2, tokens[:, 1:].unsqueeze(-1)).squeeze(-1) * loss_mask[:, 1:].float()
    out = {"log_probs_seqs": log_probs, "seq_idx": seq_idx}
    if with_loss_mask:
        out["loss_mask"] = loss_mask[:, 1:]
    return out


def _collate_file(batches: list[dict]) -> dict:
    """Concatenate batches along dim 0, padding dim 1 with zeros to the longest (bionemo batch_collator)."""
    import torch

    out = {}
    for key in batches[0]:
        rows = [b[key] for b in batches]
        if rows[0].dim() >= 2:
            length = max(r.shape[1] for r in rows)
            rows = [torch.nn.functional.pad(r, [0, 0] * (r.dim() - 2) + [0, length - r.shape[1]]) for r in rows]
        out[key] = torch.cat(rows)
    return out


def write_predict_output(
    out_dir: Path,
    records: Sequence[tuple[str, str]],
    mode: str = "logits",
    prepend_bos: bool = True,
    micro_batch_size: int = 2,
    data_parallel: int = 1,
    write_interval: str = "epoch",
    files_per_subdir: int | None = None,
    with_loss_mask: bool = False,
    dtype=None,
) -> Path:
    """Write predict_evo2's output for FASTA ``records`` (id, sequence) in file order; ``dtype`` of the logits
    (default float32)."""
    import torch

    dtype = dtype or torch.float32
    out_dir.mkdir(parents=True, exist_ok=True)
    sequences = dict(records)
    seq_ids = sorted(sequences)
    (out_dir / "seq_idx_map.json").write_text(json.dumps({seq_id: index for index, seq_id in enumerate(seq_ids)}))
    indices = list(range(len(seq_ids)))
    indices += indices[: (-len(indices)) % data_parallel]  # DistributedSampler repeats samples to even out ranks
    for rank in range(data_parallel):
        mine = indices[rank::data_parallel]
        batches = []
        for start in range(0, len(mine), micro_batch_size):
            items = [(index, input_tokens(sequences[seq_ids[index]], prepend_bos)) for index in mine[start : start + micro_batch_size]]
            batches.append(_batch_prediction(items, prepend_bos, mode, with_loss_mask, dtype))
        if write_interval == "epoch":
            torch.save(_collate_file(batches), out_dir / f"predictions__rank_{rank}__dp_rank_{rank}.pt")
            continue
        for number, batch in enumerate(batches):
            folder = out_dir if files_per_subdir is None else out_dir / f"subdir_{1 + (number * data_parallel) // files_per_subdir}"
            folder.mkdir(exist_ok=True)
            torch.save({**batch, "batch_idx": torch.tensor([number], dtype=torch.int64)}, folder / f"predictions__rank_{rank}__dp_rank_{rank}__batch_{number}.pt")
    return out_dir


def inference_request_text(prompt: str, generated: str, seed: int, temperature: float = 1.0, top_k: int = 0, top_p: float = 0.0) -> str:
    tokens = list(generated.encode("ascii"))
    shown = ", ".join(map(str, tokens)) if len(tokens) <= 6 else ", ".join(map(str, tokens[:3])) + ",  ..., " + ", ".join(map(str, tokens[-3:]))
    return (
        f"InferenceRequest(request_id='0', prompt={prompt!r}, inference_parameters=SamplingParams(temperature={temperature}, "
        f"top_k={top_k}, top_p={top_p}, return_log_probs=False, return_segments=False, num_tokens_to_generate={len(tokens)}, "
        f"top_n_logprobs=0, return_prompt_top_n_logprobs=False), prompt_tokens={list(prompt.encode('ascii'))[:4]}, "
        f"arrival_time=1730000000.25, status=<Status.COMPLETED: 4>, encoder_prompt=None, generated_text={generated!r}, "
        f"segments=None, generated_segments=None, generated_sequence_lengths=None, generated_tokens=tensor([{shown}], "
        f"device='cuda:0'), prompt_log_probs=None, generated_log_probs=None, prompt_top_n_logprobs=None, "
        f"generated_top_n_logprobs=None, generated_length={len(tokens)})\n"
    )


def fake_generation(prompt: str, n_tokens: int, seed: int) -> str:
    """A deterministic continuation: ACGT drawn with the seed (what the fake infer_evo2 'generates')."""
    rng = np.random.default_rng(seed)
    return "".join("ACGT"[i] for i in rng.integers(0, 4, size=n_tokens))
