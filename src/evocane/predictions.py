"""The prediction contract shared by every engine (Markov, transformers, Evo 2 via vtx, Evo 2 via BioNeMo).

One prediction set = one model scored on one split of one dataset variant, in a directory::

    index.parquet      window_id, offset, length, sum_logprob, n_scored   (one row per scored window)
    logprob.npy        float16, flat: log P(observed base | prefix) for every position of every window,
                       at [offset, offset + length) of the window's row
    distributions.npz  optional: window_id -> float32 (length, 4) probabilities over A, C, G, T per position
    logits.npz         optional: window_id -> float32 (length, V) raw logits where a model has them
    meta.json          model, engine, variant, split and free-form provenance

Conventions every engine follows, so evaluation never special-cases one:
- natural log; the distribution is folded over case and renormalised over {A, C, G, T}
  (for a byte-level model P(A) = P('A') + P('a'), then divided by the sum over the four bases);
- NaN where nothing was scored: position 0 of a window unless the engine scores it from a BOS token, positions
  whose observed token is not A/C/G/T (N, IUPAC, lineage tag);
- ``length`` equals the dataset window's length; evaluation joins on window_id and checks it;
- ``sum_logprob`` / ``n_scored`` are over the non-NaN positions.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evocane.atomic import atomic_dir
from evocane.errors import EvocaneError

INDEX_COLUMNS = ["window_id", "offset", "length", "sum_logprob", "n_scored"]
BASES = "ACGT"


class PredictionWriter:
    """Collect per-window scores and write the prediction directory atomically on ``close``.

    Log-probs stream to a raw float16 file inside the temporary directory, so memory stays at one window.
    Use as a context manager: on an exception nothing appears at ``out_dir``.
    """

    def __init__(self, out_dir: str | Path, meta: Mapping[str, Any]):
        self.out_dir = Path(out_dir)
        self.meta = dict(meta)
        self._atomic = atomic_dir(self.out_dir)
        self._tmp = self._atomic.__enter__()
        self._raw = open(self._tmp / ".logprob.raw", "wb")
        self._rows: list[tuple[str, int, int, float, int]] = []
        self._distributions: dict[str, np.ndarray] = {}
        self._logits: dict[str, np.ndarray] = {}
        self._length = 0

    def add(
        self,
        window_id: str,
        logprob: np.ndarray,
        distribution: np.ndarray | None = None,
        logits: np.ndarray | None = None,
    ) -> None:
        logprob = np.asarray(logprob, dtype=np.float32)
        finite = np.isfinite(logprob)
        self._rows.append((window_id, self._length, len(logprob), float(logprob[finite].sum(dtype=np.float64)), int(finite.sum())))
        self._raw.write(logprob.astype(np.float16).tobytes())
        self._length += len(logprob)
        if distribution is not None:
            distribution = np.asarray(distribution, dtype=np.float32)
            if distribution.shape != (len(logprob), 4):
                raise ValueError(f"distribution of {window_id} must have shape ({len(logprob)}, 4)")
            self._distributions[window_id] = distribution
        if logits is not None:
            self._logits[window_id] = np.asarray(logits, dtype=np.float32)

    def close(self) -> None:
        self._raw.close()
        raw = self._tmp / ".logprob.raw"
        with open(self._tmp / "logprob.npy", "wb") as out, open(raw, "rb") as source:
            np.lib.format.write_array_header_1_0(
                out, {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float16)), "fortran_order": False, "shape": (self._length,)}
            )
            while block := source.read(1 << 24):
                out.write(block)
        raw.unlink()
        index = pd.DataFrame(self._rows, columns=INDEX_COLUMNS)
        if index["window_id"].duplicated().any():
            raise EvocaneError(f"{self.out_dir}: a window was scored twice")
        index.to_parquet(self._tmp / "index.parquet", index=False)
        if self._distributions:
            np.savez_compressed(self._tmp / "distributions.npz", **self._distributions)
        if self._logits:
            np.savez_compressed(self._tmp / "logits.npz", **self._logits)
        (self._tmp / "meta.json").write_text(json.dumps(self.meta, indent=2, default=str) + "\n")
        self._atomic.__exit__(None, None, None)

    def abort(self, error: BaseException) -> None:
        self._raw.close()
        self._atomic.__exit__(type(error), error, error.__traceback__)

    def __enter__(self) -> PredictionWriter:
        return self

    def __exit__(self, kind, error, traceback) -> None:  # type: ignore[no-untyped-def]
        if error is None:
            self.close()
        else:
            self.abort(error)


class PredictionReader:
    def __init__(self, pred_dir: str | Path):
        self.dir = Path(pred_dir)
        for name in ("index.parquet", "logprob.npy", "meta.json"):
            if not (self.dir / name).exists():
                raise EvocaneError(f"{self.dir / name}: prediction file not found")
        self.index = pd.read_parquet(self.dir / "index.parquet")
        self.logprob = np.load(self.dir / "logprob.npy", mmap_mode="r")
        self.meta = json.loads((self.dir / "meta.json").read_text())

    def window(self, window_id: str) -> np.ndarray:
        row = self.index.loc[self.index["window_id"] == window_id]
        if row.empty:
            raise KeyError(window_id)
        offset, length = int(row["offset"].iloc[0]), int(row["length"].iloc[0])
        return np.asarray(self.logprob[offset : offset + length], dtype=np.float32)

    def iter_windows(self) -> Iterator[tuple[str, np.ndarray]]:
        for row in self.index.itertuples(index=False):
            yield row.window_id, np.asarray(self.logprob[row.offset : row.offset + row.length], dtype=np.float32)

    def distributions(self) -> dict[str, np.ndarray]:
        path = self.dir / "distributions.npz"
        if not path.exists():
            return {}
        with np.load(path) as data:
            return {key: data[key] for key in data.files}
