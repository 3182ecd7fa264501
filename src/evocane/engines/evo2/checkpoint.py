"""Where Evo 2 weights live and how they are written: Arc's vortex ``.pt`` layout in both directions.

Arc's checkpoints (``arcinstitute/evo2_7b_base`` etc. on Hugging Face) are one ``<name>.pt`` holding a flat
state dict with vortex parameter names, bf16 except the HCL ``log_poles``/``residues`` (fp32), and the attention
``Wqkv`` rows in Savanna's interleaved order (per head: q, k, v). vortex's ``load_checkpoint`` permutes those rows
into its own order (all q, all k, all v) when the config says ``column_split: True``, so saving
``model.state_dict()`` and loading it back through ``load_checkpoint`` would scramble attention.
:func:`arc_state_dict` applies the inverse permutation: an exported fine-tune loads through the same code path as
Arc's own files, in this engine and in Arc's ``evo2`` package (``Evo2(name, local_path=...)``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from evocane.atomic import atomic_path
from evocane.engines.evo2.configs import ArcModel
from evocane.errors import EvocaneError

ARC_POLE_KEYS = ("log_poles", "residues")


# --- Wqkv row order ---------------------------------------------------------------------------------------------------
def arc_to_vortex_qkv(weight: torch.Tensor, heads: int) -> torch.Tensor:
    """Savanna/Arc rows (head, q|k|v, head_dim) -> vortex rows (q|k|v, head, head_dim); works for a weight
    (3H, H) or a bias (3H,)."""
    rows = weight.shape[0]
    head_dim = rows // (3 * heads)
    return weight.reshape(heads, 3, head_dim, *weight.shape[1:]).transpose(0, 1).reshape(rows, *weight.shape[1:])


def vortex_to_arc_qkv(weight: torch.Tensor, heads: int) -> torch.Tensor:
    """Inverse of :func:`arc_to_vortex_qkv`."""
    rows = weight.shape[0]
    head_dim = rows // (3 * heads)
    return weight.reshape(3, heads, head_dim, *weight.shape[1:]).transpose(0, 1).reshape(rows, *weight.shape[1:])


def arc_state_dict(model: nn.Module, config: dict[str, Any]) -> dict[str, Any]:
    """The model's weights in Arc's file layout (CPU tensors, Evo 2 dtypes, ``Wqkv`` in Savanna row order)."""
    state = {key: (value.detach().to("cpu") if isinstance(value, torch.Tensor) else value) for key, value in model.state_dict().items()}
    if config.get("column_split", True):
        heads = int(config["num_attention_heads"])
        for key in [k for k in state if k.endswith("inner_mha_cls.Wqkv.weight") or k.endswith("inner_mha_cls.Wqkv.bias")]:
            state[key] = vortex_to_arc_qkv(state[key], heads).contiguous()
    for key, value in state.items():
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            keep_fp32 = any(part in key for part in ARC_POLE_KEYS)
            state[key] = value.to(torch.float32 if keep_fp32 else torch.bfloat16)
    return state


def export_arc_checkpoint(model: nn.Module, config: dict[str, Any], path: str | Path) -> Path:
    """Write ``model`` as an Arc-layout vortex ``.pt`` (atomically)."""
    path = Path(path)
    with atomic_path(path) as temp:
        torch.save(arc_state_dict(model, config), temp)
    return path


# --- finding Arc's weights -------------------------------------------------------------------------------------------
def locate_weights(arc: ArcModel | None, weights: str | None, download: bool = False, revision: str | None = None) -> Path:
    """The ``.pt`` of a model: ``weights`` (a file, or a directory holding ``<name>.pt``, e.g. a Hugging Face
    snapshot), else the Hugging Face cache (``HF_HUB_CACHE`` / ``HF_HOME``; also the merged file Arc's package
    leaves next to the cache for sharded models, unless a ``revision`` is pinned: its revision is unknown), else a
    download when ``download`` is true. ``revision`` (None = main) pins the cache lookup and the download."""
    if weights:
        candidate = Path(os.path.expanduser(weights))
        if candidate.is_dir():
            if arc is None:
                raise EvocaneError(f"evo2 params: weights '{weights}' is a directory; name the .pt file (base_model is not an Arc model)")
            candidate = candidate / arc.filename
        if not candidate.is_file():
            raise EvocaneError(f"evo2 params: weights '{candidate}' not found")
        return candidate
    if arc is None:
        raise EvocaneError("evo2 params: a base_model that is not an Arc model needs params.weights (a local .pt)")
    from huggingface_hub import constants, try_to_load_from_cache

    cached = try_to_load_from_cache(arc.repo_id, arc.filename, revision=revision)
    if isinstance(cached, str) and Path(cached).is_file():
        return Path(cached)
    merged = Path(constants.HF_HUB_CACHE).parent / arc.filename
    if revision is None and merged.is_file():
        return merged
    if download:
        from huggingface_hub import hf_hub_download

        try:
            return Path(hf_hub_download(arc.repo_id, arc.filename, revision=revision))
        except Exception as error:  # network, authentication, sharded repositories (40b)
            raise EvocaneError(f"evo2: cannot download {arc.repo_id}/{arc.filename}: {error}") from None
    raise EvocaneError(
        f"evo2: weights of {arc.name} not found: not in the Hugging Face cache ({constants.HF_HUB_CACHE}, repository "
        f"{arc.repo_id}, file {arc.filename}) nor at {merged}. Set params.weights to a local .pt, pre-fetch it "
        f"(huggingface-cli download {arc.repo_id} {arc.filename}), or set params.download: true"
    )
