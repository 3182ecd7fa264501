"""Compact predict_evo2 logits: 9 values per position instead of 512.

The A/C/G/T distribution evocane keeps (folded over case, renormalised over the four bases) needs only the logits
of A, C, G, T, a, c, g, t, so each ``token_logits`` [N, L, 512] is replaced by ``acgt_logits`` [N, L, 9] (float32):
those eight logits and the log-sum-exp of the other 504, which keeps the full-vocabulary probabilities recoverable
(a softmax over the nine values gives exactly the eight tokens' probabilities under the 512-token softmax). An 8 kb
window shrinks from 8 MB (bf16) to 0.3 MB. Runs inside the BioNeMo container right after each predict_evo2 call
(torch only).
"""

from __future__ import annotations

from pathlib import Path

COMPACT_KEY = "acgt_logits"
COMPACT_TOKENS = "ACGTacgt"  # columns 0-7; column 8 = log-sum-exp of every other token


def compact_logits(logits):  # type: ignore[no-untyped-def]
    """[..., V] logits -> [..., 9] float32 (see the module docstring)."""
    import torch

    logits = logits.float()
    columns = torch.tensor([ord(base) for base in COMPACT_TOKENS], dtype=torch.long)
    kept = logits.index_select(-1, columns)
    others = logits.clone()
    others.index_fill_(-1, columns, float("-inf"))
    return torch.cat([kept, torch.logsumexp(others, dim=-1, keepdim=True)], dim=-1)


def compact_prediction_file(path: str | Path) -> bool:
    """Rewrite one predictions__*.pt with ``acgt_logits`` instead of ``token_logits``; False if it has no logits."""
    import torch

    path = Path(path)
    data = torch.load(path, map_location="cpu", weights_only=True)
    if "token_logits" not in data:
        return False
    data[COMPACT_KEY] = compact_logits(data.pop("token_logits"))
    temp = path.with_name(f".{path.name}.tmp")
    torch.save(data, temp)
    temp.replace(path)
    return True
