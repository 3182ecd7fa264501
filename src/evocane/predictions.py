"""The prediction contract shared by every engine (Markov, transformers, Evo 2 via vtx, Evo 2 via BioNeMo).

One prediction set = one model scored on one split of one dataset variant, in a directory::

    index.parquet      window_id, offset, length, sum_logprob, n_scored   (one row per scored window)
    logprob.npy        float16, flat: log P(observed base | prefix) for every position of every window,
                       at [offset, offset + length) of the window's row
    top1.npy           optional float16, flat, aligned with logprob.npy: top-1 credit of the observed base = 1/m if
                       it is among the m bases of highest probability over A/C/G/T (1 = unique argmax), else 0;
                       NaN where not scored. Written by engines that see the whole distribution at every position
                       (all but BioNeMo's per-token log-prob mode); evaluation reports top-1 accuracy from it.
    distributions.npz  optional: window_id -> float32 (length, 4) probabilities over A, C, G, T per position
    logits.npz         optional: window_id -> float32 (length, V) raw logits where a model has them
    meta.json          model, engine, variant, split (required), config_model and member (engines whose one
                       checkpoint yields several scored models, e.g. Markov orders), free-form provenance

A prediction directory of a *task* dataset may instead hold one score per task item (models imported from the
benchmark's exchange format, :mod:`evocane.exchange`, give task scores, not per-base values)::

    item_scores.parquet  item_id, score   (one row per task item; see evocane.exchange.TASK_ITEMS)
    meta.json            as above, with "values": "item_scores"

A *prediction set* (what one score step writes, ``results/predictions/{model}/{variant}/{split}``) is either one
prediction directory or a directory of member prediction directories (``k1/``, ``k2/``, ... for the Markov engine);
:func:`prediction_dirs` lists them. Generated sequences are FASTA (:func:`write_generated_fasta`).

Conventions every engine follows, so evaluation never special-cases one:
- natural log; the distribution is folded over case and renormalised over {A, C, G, T}
  (for a byte-level model P(A) = P('A') + P('a'), then divided by the sum over the four bases);
- NaN where nothing was scored: position 0 of a window unless the engine scores it from a BOS token, positions
  whose observed token is not A/C/G/T (N, IUPAC, lineage tag);
- ``length`` equals the dataset window's length; evaluation joins on window_id and checks it;
- ``sum_logprob`` / ``n_scored`` are over the non-NaN positions.

BioNeMo ``predict_evo2`` outputs convert into this layout: FASTA ids = window_id (``seq_idx_map.json`` maps them
back from ``seq_idx``); logits mode (``token_logits`` [N, L, 512], logit i predicts token i + 1) gives logprob,
top1 and distributions through :func:`acgt_probabilities_from_logits` and :func:`observed_base_scores`; the
per-token log-prob mode is normalised over the whole 512-token vocabulary, not over A/C/G/T, so a converter must use
logits mode (or record ``"normalisation": "vocabulary"`` in meta.json).
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evocane.atomic import atomic_dir, atomic_path
from evocane.errors import EvocaneError
from evocane.ordering import natural_key

INDEX_COLUMNS = ["window_id", "offset", "length", "sum_logprob", "n_scored"]
ITEM_SCORES = "item_scores.parquet"
ITEM_COLUMNS = ["item_id", "score"]
META_REQUIRED = ("model", "engine", "variant", "split")
BASES = "ACGT"
TIE_TOLERANCE = 1e-6  # relative: probabilities this close count as tied for the argmax

# byte (ASCII) -> base code 0..3 for A/C/G/T in either case, -1 for everything else (N, IUPAC, tag characters)
_BASE_CODE = np.full(256, -1, dtype=np.int8)
for _code, _base in enumerate(BASES):
    _BASE_CODE[ord(_base)] = _code
    _BASE_CODE[ord(_base.lower())] = _code


def base_codes(tokens: np.ndarray) -> np.ndarray:
    """uint8 ASCII tokens -> int8 codes (A 0, C 1, G 2, T 3, case-insensitive; -1 for anything else)."""
    return _BASE_CODE[np.asarray(tokens, dtype=np.uint8)]


def observed_base_scores(probabilities: np.ndarray, observed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Natural-log probability and top-1 credit of the observed base at every position.

    ``probabilities``: (L, 4) over A, C, G, T (each row sums to one); ``observed``: (L,) codes from
    :func:`base_codes`. Positions with code -1 get NaN in both outputs. Top-1 credit is 1/m when the observed base
    ties with m - 1 others for the highest probability (the expected accuracy of an argmax that breaks ties at
    random), so a flat distribution scores 0.25, not 1.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    observed = np.asarray(observed)
    scored = observed >= 0
    p_observed = np.take_along_axis(probabilities, np.where(scored, observed, 0)[:, None].astype(np.intp), axis=1)[:, 0]
    tolerance = TIE_TOLERANCE * np.maximum(p_observed, 1e-300)
    # column by column: numpy reductions along a length-4 axis are several times slower than four vector ops
    columns = [probabilities[:, j] for j in range(4)]
    highest = np.maximum(np.maximum(columns[0], columns[1]), np.maximum(columns[2], columns[3]))
    tied = sum((np.abs(column - p_observed) <= tolerance).astype(np.int8) for column in columns)
    with np.errstate(divide="ignore"):
        logprob = np.where(scored, np.log(p_observed), np.nan)
    top1 = np.where(scored, np.where(highest > p_observed + tolerance, 0.0, 1.0 / np.maximum(tied, 1)), np.nan)
    return logprob.astype(np.float32), top1.astype(np.float32)


def acgt_probabilities_from_logits(logits: np.ndarray) -> np.ndarray:
    """Fold byte-vocabulary logits (L, V >= 128; token id = ASCII code, as Evo 2) into (L, 4) probabilities over
    A, C, G, T: softmax over the vocabulary, P(A) = P('A') + P('a'), renormalised over the four bases."""
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    weights = np.exp(shifted)
    folded = np.stack([weights[:, ord(b)] + weights[:, ord(b.lower())] for b in BASES], axis=1)
    return folded / folded.sum(axis=1, keepdims=True)


def gather(array: np.ndarray, offsets: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenate ``array[offset : offset + length]`` over windows (one slice when they are contiguous)."""
    offsets = np.asarray(offsets, dtype=np.int64)
    lengths = np.asarray(lengths, dtype=np.int64)
    if len(offsets) == 0:
        return np.asarray(array[:0])
    if np.all(offsets[1:] == offsets[:-1] + lengths[:-1]):
        return np.asarray(array[offsets[0] : offsets[-1] + lengths[-1]])
    return np.concatenate([np.asarray(array[o : o + n]) for o, n in zip(offsets, lengths)])


def window_chunks(lengths: np.ndarray, max_bases: int) -> Iterator[slice]:
    """Consecutive runs of windows holding about ``max_bases`` positions (a window is never split), so per-base
    work stays vectorised while memory stays bounded."""
    start, size = 0, 0
    for i, length in enumerate(np.asarray(lengths, dtype=np.int64)):
        if size and size + length > max_bases:
            yield slice(start, i)
            start, size = i, 0
        size += int(length)
    if start < len(lengths):
        yield slice(start, len(lengths))


def save_npz(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """``np.savez_compressed`` with fixed zip timestamps (numpy stamps each member with the current time), so the
    same arrays give the same bytes; read with ``np.load``."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for key, value in arrays.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w", force_zip64=True) as handle:
                np.lib.format.write_array(handle, np.asanyarray(value), allow_pickle=False)


def _index_frame(rows: Sequence[tuple[str, int, int, float, int]]) -> pd.DataFrame:
    """The index table from Python tuples (one construction for the writer and the gather: the same bytes)."""
    return pd.DataFrame(list(rows), columns=INDEX_COLUMNS)


class _Float16Stream:
    """A flat float16 array written to a raw file piece by piece and wrapped in an .npy header at the end."""

    def __init__(self, directory: Path, name: str):
        self.raw_path = directory / f".{name}.raw"
        self.path = directory / f"{name}.npy"
        self._handle = open(self.raw_path, "wb")
        self.length = 0

    def write(self, values: np.ndarray) -> None:
        self._handle.write(np.asarray(values, dtype=np.float16).tobytes())
        self.length += len(values)

    def close(self) -> None:
        self._handle.close()

    def finish(self) -> None:
        self.close()
        with open(self.path, "wb") as out, open(self.raw_path, "rb") as source:
            np.lib.format.write_array_header_1_0(
                out, {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float16)), "fortran_order": False, "shape": (self.length,)}
            )
            while block := source.read(1 << 24):
                out.write(block)
        self.raw_path.unlink()


class PredictionWriter:
    """Collect per-window scores and write the prediction directory atomically on ``close``.

    Log-probs (and top-1 credits) stream to raw float16 files inside the temporary directory, so memory stays at
    one window plus the selected distributions. Use as a context manager: on an exception nothing appears at
    ``out_dir``. ``top1`` is optional but all-or-none: give it for every window or for none.
    """

    def __init__(self, out_dir: str | Path, meta: Mapping[str, Any]):
        self.out_dir = Path(out_dir)
        self.meta = dict(meta)
        missing = [key for key in META_REQUIRED if key not in self.meta]
        if missing:
            raise ValueError(f"prediction meta for {self.out_dir} lacks {', '.join(missing)}")
        self._atomic = atomic_dir(self.out_dir)
        self._tmp = self._atomic.__enter__()
        self._logprob = _Float16Stream(self._tmp, "logprob")
        self._top1: _Float16Stream | None = None
        self._rows: list[tuple[str, int, int, float, int]] = []
        self._distributions: dict[str, np.ndarray] = {}
        self._logits: dict[str, np.ndarray] = {}

    def add(
        self,
        window_id: str,
        logprob: np.ndarray,
        distribution: np.ndarray | None = None,
        logits: np.ndarray | None = None,
        top1: np.ndarray | None = None,
    ) -> None:
        logprob = np.asarray(logprob, dtype=np.float32)
        if (top1 is not None) != (self._top1 is not None) and self._rows:
            raise ValueError(f"{self.out_dir}: top1 must be given for every window or for none ({window_id})")
        if top1 is not None:
            if len(top1) != len(logprob):
                raise ValueError(f"top1 of {window_id} must have length {len(logprob)}")
            if self._top1 is None:
                self._top1 = _Float16Stream(self._tmp, "top1")
            self._top1.write(top1)
        finite = np.isfinite(logprob)
        self._rows.append(
            (window_id, self._logprob.length, len(logprob), float(logprob[finite].sum(dtype=np.float64)), int(finite.sum()))
        )
        self._logprob.write(logprob)
        if distribution is not None:
            distribution = np.asarray(distribution, dtype=np.float32)
            if distribution.shape != (len(logprob), 4):
                raise ValueError(f"distribution of {window_id} must have shape ({len(logprob)}, 4)")
            self._distributions[window_id] = distribution
        if logits is not None:
            self._logits[window_id] = np.asarray(logits, dtype=np.float32)

    def close(self) -> None:
        try:
            index = _index_frame(self._rows)
            if index["window_id"].duplicated().any():
                raise EvocaneError(f"{self.out_dir}: a window was scored twice")
            self._logprob.finish()
            if self._top1 is not None:
                self._top1.finish()
            index.to_parquet(self._tmp / "index.parquet", index=False)
            if self._distributions:
                save_npz(self._tmp / "distributions.npz", self._distributions)
            if self._logits:
                save_npz(self._tmp / "logits.npz", self._logits)
            (self._tmp / "meta.json").write_text(json.dumps(self.meta, indent=2, default=str) + "\n")
        except BaseException as error:
            self.abort(error)
            raise
        self._atomic.__exit__(None, None, None)

    def abort(self, error: BaseException) -> None:
        self._logprob.close()
        if self._top1 is not None:
            self._top1.close()
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
        missing = [key for key in META_REQUIRED if key not in self.meta]
        if missing:
            raise EvocaneError(f"{self.dir / 'meta.json'}: lacks {', '.join(missing)}")
        top1 = self.dir / "top1.npy"
        self.top1: np.ndarray | None = np.load(top1, mmap_mode="r") if top1.exists() else None
        if self.top1 is not None and len(self.top1) != len(self.logprob):
            raise EvocaneError(f"{top1}: length {len(self.top1)} differs from logprob.npy ({len(self.logprob)})")

    @property
    def model(self) -> str:
        return str(self.meta["model"])

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


def write_item_scores(out_dir: str | Path, meta: Mapping[str, Any], scores: pd.DataFrame) -> Path:
    """Write a prediction directory of task item scores (ITEM_COLUMNS, one row per item), atomically."""
    meta = {**meta, "values": "item_scores"}
    missing = [key for key in META_REQUIRED if key not in meta]
    if missing:
        raise ValueError(f"prediction meta for {out_dir} lacks {', '.join(missing)}")
    table = pd.DataFrame({"item_id": scores["item_id"].astype(str), "score": scores["score"].astype(np.float64)})
    if table["item_id"].duplicated().any():
        raise EvocaneError(f"{out_dir}: item '{table.loc[table['item_id'].duplicated(), 'item_id'].iloc[0]}' is scored twice")
    with atomic_dir(out_dir) as temp:
        table.to_parquet(temp / ITEM_SCORES, index=False)
        (temp / "meta.json").write_text(json.dumps(meta, indent=2, default=str) + "\n")
    return Path(out_dir)


def has_item_scores(pred_dir: str | Path) -> bool:
    return (Path(pred_dir) / ITEM_SCORES).exists()


def read_item_scores(pred_dir: str | Path) -> tuple[dict[str, Any], pd.Series]:
    """(meta, item_id -> score) of an item-score prediction directory."""
    directory = Path(pred_dir)
    for name in (ITEM_SCORES, "meta.json"):
        if not (directory / name).exists():
            raise EvocaneError(f"{directory / name}: prediction file not found")
    meta = json.loads((directory / "meta.json").read_text())
    missing = [key for key in META_REQUIRED if key not in meta]
    if missing:
        raise EvocaneError(f"{directory / 'meta.json'}: lacks {', '.join(missing)}")
    table = pd.read_parquet(directory / ITEM_SCORES)
    return meta, pd.Series(table["score"].to_numpy(dtype=np.float64), index=table["item_id"].astype(str).to_numpy(), name=str(meta["model"]))


def prediction_dirs(prediction_set: str | Path) -> list[Path]:
    """The prediction directories of one prediction set: the set itself, or its member subdirectories."""
    root = Path(prediction_set)
    if (root / "meta.json").exists():
        return [root]
    members = sorted((p for p in root.iterdir() if (p / "meta.json").exists()), key=lambda member: natural_key(member.name)) if root.is_dir() else []
    if not members:
        raise EvocaneError(f"{root}: no predictions (neither meta.json nor member directories holding one)")
    return members


# --- shards: one split scored by several jobs, gathered into one prediction set ----------------------------------
def plan_shards(lengths: Sequence[int] | np.ndarray, shards: int) -> list[tuple[int, int]]:
    """Cut a split's windows (their ``lengths`` in split order) into ``shards`` contiguous row ranges
    ``[start, stop)`` balanced by bases: cut ``i`` falls at the window boundary nearest to ``i / shards`` of the
    split's bases (ties: the earlier boundary). Every window is in exactly one range, in order; each range holds
    ``total / shards`` bases give or take one window; a range is empty only when there are fewer windows than
    shards. A pure function of the lengths: every shard job and the gather compute the same plan."""
    if shards < 1:
        raise ValueError(f"shards must be >= 1, got {shards}")
    ends = np.cumsum(np.asarray(lengths, dtype=np.int64))
    total = int(ends[-1]) if len(ends) else 0
    cuts = [0]
    for i in range(1, shards):
        target = total * i  # compared with ends * shards: integer arithmetic, no rounding
        after = int(np.searchsorted(ends * shards, target, side="right"))  # windows ending at or before the target
        below = int(ends[after - 1]) * shards if after else 0
        above = int(ends[after]) * shards if after < len(ends) else None
        cut = after + 1 if above is not None and above - target < target - below else after
        cuts.append(max(cut, cuts[-1]))
    cuts.append(len(ends))
    return [(cuts[i], cuts[i + 1]) for i in range(shards)]


def _member_names(prediction_set: Path) -> list[str]:
    """'' for a single prediction directory, else the member directory names in order."""
    return [str(path.relative_to(prediction_set)) if path != prediction_set else "" for path in prediction_dirs(prediction_set)]


def gather_prediction_sets(shards: Sequence[str | Path], out_dir: str | Path, expected_ids: Sequence[Sequence[str]] | None = None) -> Path:
    """Write one prediction set at ``out_dir`` from the prediction sets of a split's shards, in shard order: the
    bytes the unsharded scoring writes (index rows with shifted offsets, concatenated float16 arrays, the
    distributions in window order, meta.json of the shards, which must all agree). ``expected_ids``: the window ids
    each shard must hold, in order (the shard plan); a shard holding anything else is an error naming it."""
    shards = [Path(shard) for shard in shards]
    if not shards:
        raise EvocaneError(f"{out_dir}: no shards to gather")
    if expected_ids is not None and len(expected_ids) != len(shards):
        raise EvocaneError(f"{out_dir}: {len(shards)} shards given, the plan has {len(expected_ids)}")
    members = _member_names(shards[0])
    for shard in shards[1:]:
        if _member_names(shard) != members:
            raise EvocaneError(f"{shard}: holds members {_member_names(shard)}, {shards[0]} holds {members}")
    with atomic_dir(Path(out_dir)) as temp:
        for member in members:
            target = temp / member if member else temp
            target.mkdir(parents=True, exist_ok=True)
            _gather_dir([shard / member if member else shard for shard in shards], target, expected_ids)
    return Path(out_dir)


def _gather_dir(parts: Sequence[Path], target: Path, expected_ids: Sequence[Sequence[str]] | None) -> None:
    meta = (parts[0] / "meta.json").read_bytes()
    indexes = []
    for number, part in enumerate(parts):
        if (part / "meta.json").read_bytes() != meta:
            raise EvocaneError(f"{part / 'meta.json'}: differs from {parts[0] / 'meta.json'} (shards of different runs?)")
        index = pd.read_parquet(part / "index.parquet")
        if expected_ids is not None and index["window_id"].astype(str).tolist() != list(expected_ids[number]):
            raise EvocaneError(f"{part}: does not hold the windows of shard {number} of the plan ({len(index)} windows, "
                               f"planned {len(expected_ids[number])})")  # fmt: skip
        indexes.append(index)
    filled = [part for part, index in zip(parts, indexes) if len(index)]
    with_top1 = [part for part in filled if (part / "top1.npy").exists()]
    if with_top1 and len(with_top1) != len(filled):
        missing = next(part for part in filled if part not in with_top1)
        raise EvocaneError(f"{missing}: has no top1.npy while other shards have one")
    rows: list[tuple[str, int, int, float, int]] = []
    logprob = _Float16Stream(target, "logprob")
    top1 = _Float16Stream(target, "top1") if with_top1 else None
    distributions: dict[str, np.ndarray] = {}
    logits: dict[str, np.ndarray] = {}
    try:
        for part, index in zip(parts, indexes):
            shift = logprob.length
            rows += [(str(w), int(o) + shift, int(n), float(v), int(c))
                     for w, o, n, v, c in zip(*(index[column] for column in INDEX_COLUMNS))]  # fmt: skip
            if not len(index):
                continue
            _copy_float16(part / "logprob.npy", logprob)
            if top1 is not None:
                _copy_float16(part / "top1.npy", top1)
            for name, collected in (("distributions.npz", distributions), ("logits.npz", logits)):
                if (part / name).exists():
                    with np.load(part / name) as data:
                        collected.update((key, data[key]) for key in data.files)
        logprob.finish()
        if top1 is not None:
            top1.finish()
    except BaseException:
        logprob.close()
        if top1 is not None:
            top1.close()
        raise
    _index_frame(rows).to_parquet(target / "index.parquet", index=False)
    if distributions:
        save_npz(target / "distributions.npz", distributions)
    if logits:
        save_npz(target / "logits.npz", logits)
    (target / "meta.json").write_bytes(meta)


def _copy_float16(path: Path, stream: _Float16Stream, block: int = 1 << 24) -> None:
    values = np.load(path, mmap_mode="r")
    if values.dtype != np.float16 or values.ndim != 1:
        raise EvocaneError(f"{path}: expected a flat float16 array, got {values.dtype} {values.shape}")
    for start in range(0, len(values), block):
        stream.write(np.asarray(values[start : start + block]))


# --- generated sequences ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GeneratedSequence:
    """One continuation of one prompt. ``sequence`` holds the generated bases only, not the prompt."""

    prompt_id: str
    sample: int
    seed: int
    sequence: str
    model: str = ""
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    prompt_length: int = 0


def write_generated_fasta(records: Iterable[GeneratedSequence], out_fasta: str | Path) -> Path:
    """Write generated continuations as FASTA, atomically. Header::

        >{prompt_id}#{sample} prompt_id=... sample=... seed=... temperature=... top_k=... top_p=... prompt_length=... model=...

    top_k 0 and top_p 1.0 mean "off" (vtx's convention; BioNeMo's infer_evo2 uses top_p 0.0 for off).
    """
    out_fasta = Path(out_fasta)
    with atomic_path(out_fasta) as temp, open(temp, "w") as handle:
        for record in records:
            fields = {
                "prompt_id": record.prompt_id, "sample": record.sample, "seed": record.seed,
                "temperature": record.temperature, "top_k": record.top_k, "top_p": record.top_p,
                "prompt_length": record.prompt_length, "model": record.model,
            }  # fmt: skip
            handle.write(f">{record.prompt_id}#{record.sample} " + " ".join(f"{k}={v}" for k, v in fields.items()) + "\n")
            for start in range(0, len(record.sequence), 80):
                handle.write(record.sequence[start : start + 80] + "\n")
    return out_fasta


def read_generated_fasta(path: str | Path) -> list[GeneratedSequence]:
    from evocane.genome.fasta import read_fasta

    out = []
    for record in read_fasta(path, validate=False):
        fields = dict(item.split("=", 1) for item in record.description.split() if "=" in item)
        try:
            out.append(
                GeneratedSequence(
                    prompt_id=fields["prompt_id"], sample=int(fields["sample"]), seed=int(fields["seed"]),
                    sequence=record.sequence.decode(), model=fields.get("model", ""),
                    temperature=float(fields["temperature"]), top_k=int(fields["top_k"]), top_p=float(fields["top_p"]),
                    prompt_length=int(fields.get("prompt_length", 0)),
                )  # fmt: skip
            )
        except (KeyError, ValueError) as error:
            raise EvocaneError(f"{path}: record '{record.name}' lacks a valid generation field ({error})") from None
    return out
