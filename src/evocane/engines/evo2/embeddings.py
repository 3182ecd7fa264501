"""Per-window embeddings from named layers of an Evo 2 model.

Output directory (``results/embeddings/{model}/{variant}/{split}/``, written atomically)::

    index.parquet       window_id, n_pooled (positions averaged)
    <layer>.npy         float32 (windows, hidden): mean of the layer's output over the window's positions whose
                        input token is a scored base (weight code != 0: no BOS, N or lineage tag), rows in
                        index order; the file name is the layer name (e.g. blocks.28.mlp.l3.npy)
    meta.json           model, variant, split, layers, provenance

Layers are named as in the vortex model (``blocks.N`` = a whole block's output, ``blocks.N.mlp.l3`` = its MLP
output, ``norm`` = the final norm), captured with forward hooks as Arc's ``Evo2.forward(return_embeddings=True)``
does. Windows longer than the context are chunked as in scoring; each position is pooled once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from evocane.atomic import atomic_dir
from evocane.engines.evo2.model import capture
from evocane.engines.evo2.pipeline import Batch, run_pipeline
from evocane.engines.evo2.scoring import ScoreSettings, batches_of
from evocane.engines.evo2.tokens import BOS_ID, Chunk, plan_chunks, upper
from evocane.errors import EvocaneError


def default_layer(num_layers: int) -> str:
    """The MLP output of the block at 7/8 depth (Arc's example uses blocks.28.mlp.l3 of the 32-block 7B)."""
    return f"blocks.{int(0.875 * num_layers)}.mlp.l3"


@dataclass
class _EmbedWindow:
    row: int  # in the split's window table
    inputs: np.ndarray
    pool: np.ndarray  # float32 per input position: 1 where pooled
    chunks: list[Chunk]
    sums: np.ndarray | None = None  # concatenated layer sums, float64


@dataclass
class _GroupEnd:
    windows: list[_EmbedWindow]


def _embed_window(row: int, tokens: np.ndarray, weights: np.ndarray, settings: ScoreSettings) -> _EmbedWindow:
    from evocane.dataset.arrays import WEIGHT_NONE

    tokens = upper(tokens)
    pooled = (np.asarray(weights) != WEIGHT_NONE).astype(np.float32)
    if settings.prepend_bos:
        inputs = np.concatenate([np.array([BOS_ID], dtype=np.uint8), tokens])
        pooled = np.concatenate([np.zeros(1, dtype=np.float32), pooled])
    else:
        inputs = tokens
    return _EmbedWindow(row, inputs, pooled, plan_chunks(len(inputs), settings.context, settings.overlap))


def embed_split(
    model: nn.Module,
    dataset_dir: str | Path,
    split: str,
    out_dir: str | Path,
    layers: Sequence[str],
    meta: Mapping[str, Any],
    settings: ScoreSettings,
    device: torch.device,
) -> Path:
    """Write the mean embedding of every window of ``split`` for each of ``layers`` (see the module docstring)."""
    from tqdm import tqdm

    from evocane.dataset.arrays import DatasetReader

    settings.check()
    layers = list(layers)
    if not layers:
        raise EvocaneError("evo2: no embedding layer given")
    dataset = DatasetReader(dataset_dir)
    table = dataset.split_windows(split)
    if table.empty:
        raise EvocaneError(f"{dataset_dir}: split '{split}' has no windows")
    arrays = dataset.arrays(split)
    offsets, lengths = table["offset"].to_numpy(), table["length"].to_numpy()
    widths: dict[str, int] = {}
    counts = np.zeros(len(table), dtype=np.int64)

    def items() -> Any:
        group: list[_EmbedWindow] = []
        size = 0
        for row in range(len(table)):
            tokens, _, weights = arrays.window(int(offsets[row]), int(lengths[row]))
            group.append(_embed_window(row, tokens, weights, settings))
            size += int(lengths[row])
            if size >= settings.group_tokens or row == len(table) - 1:
                yield from batches_of(group, settings)  # type: ignore[arg-type]
                yield _GroupEnd(group)
                group, size = [], 0

    with atomic_dir(out_dir) as temp, capture(model, layers) as outputs:
        files: list[np.ndarray] = []

        def compute(ids: torch.Tensor, pool: torch.Tensor | None) -> torch.Tensor:
            assert pool is not None
            with torch.inference_mode():
                model(ids.long())
                pooled = [torch.einsum("bl,blh->bh", pool, outputs[name].float()) for name in layers]
            for name, values in zip(layers, pooled):
                widths.setdefault(name, int(values.shape[-1]))
            return torch.cat(pooled, dim=-1)

        with tqdm(total=len(table), unit="window", desc=f"evo2 embed {split}", mininterval=5) as bar:

            def consume(item: Any, result: np.ndarray | None) -> None:
                if isinstance(item, Batch):
                    assert result is not None
                    for row, (window, _) in enumerate(item.rows):
                        window.sums = result[row].astype(np.float64) if window.sums is None else window.sums + result[row]
                    return
                if not files:
                    for name in layers:
                        files.append(np.lib.format.open_memmap(temp / f"{name}.npy", mode="w+", dtype=np.float32, shape=(len(table), widths[name])))
                for window in item.windows:
                    counts[window.row] = int(window.pool.sum())
                    start = 0
                    for index, name in enumerate(layers):
                        values = np.zeros(widths[name]) if window.sums is None else window.sums[start : start + widths[name]]
                        with np.errstate(invalid="ignore", divide="ignore"):
                            files[index][window.row] = values / counts[window.row]
                        start += widths[name]
                    window.sums = None
                bar.update(len(item.windows))

            run_pipeline(items(), compute, consume, device)
        for handle in files:
            handle.flush()
        del files[:]
        pd.DataFrame({"window_id": table["window_id"].astype(str), "n_pooled": counts}).to_parquet(temp / "index.parquet", index=False)
        (temp / "meta.json").write_text(json.dumps({**meta, "layers": layers, "split": split}, indent=2, default=str) + "\n")
    return Path(out_dir)
