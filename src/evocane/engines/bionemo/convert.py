"""BioNeMo outputs -> evocane's common formats (evocane.predictions): predictions and generated FASTA.

predict_evo2 (v2.7.1; ../shared/reference/evo2-toolchain.md §3.1) writes into its ``--output-dir``:

- ``seq_idx_map.json``: FASTA id -> row index, the position of the id in the **sorted** list of FASTA ids (not
  the FASTA's record order);
- ``predictions__rank_{r}__dp_rank_{d}.pt`` (``--write-interval epoch``, one per data-parallel rank) or
  ``predictions__rank_{r}__dp_rank_{d}__batch_{b}.pt`` (``batch``; in ``subdir_{k}/`` with
  ``--files-per-subdir``); versions up to 2.6.3 wrote ``predictions__rank_{r}.pt``. Each is a ``torch.save``d
  dict of CPU tensors whose rows are in dataloader order, right-padded with zeros to the longest sequence of the
  file. Samples may repeat across data-parallel ranks (the distributed sampler pads the last batch).

Keys: logits mode ``token_logits`` [N, L, 512] (logit i predicts token i + 1), ``pad_mask`` [N, L] (1 = scored
input token; 0 for the BOS token and padding), ``seq_idx`` [N]; per-token log-prob mode ``log_probs_seqs``
[N, L - 1] (log P of token i + 1, 0 where masked or padded), ``seq_idx`` [N], and ``loss_mask`` [N, L - 1] only
in later versions (e2150f8), not in v2.7.1.

evocane's bionemo_predict step may also split the FASTA into ``shard_{k}/`` directories (one predict_evo2 call
each, with its own seq_idx_map.json) and replace ``token_logits`` by ``acgt_logits`` [N, L, 9]
(evocane.engines.bionemo.compact); both are read here.

The converter joins rows to dataset windows on ``seq_idx`` -> FASTA id = ``window_id``, keeps the first row of
each id, cuts the padding at the window's length and checks that length against the dataset. Logits are folded
over case and renormalised over A/C/G/T (evocane.predictions.acgt_probabilities_from_logits); per-token
log-probs are normalised over the whole vocabulary and cannot be renormalised, so those prediction sets record
``"normalisation": "vocabulary"`` and have no top-1 credits. NaN where nothing is scored: N/IUPAC/tag positions
(dataset weight code 0) and, without ``--prepend-bos``, the first base.
"""

from __future__ import annotations

import ast
import io
import json
import logging
import re
import tokenize
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from evocane.dataset.arrays import WEIGHT_NONE, DatasetReader
from evocane.engines.bionemo.compact import COMPACT_KEY
from evocane.errors import EvocaneError
from evocane.predictions import (
    GeneratedSequence,
    PredictionWriter,
    acgt_probabilities_from_logits,
    base_codes,
    observed_base_scores,
    write_generated_fasta,
)

log = logging.getLogger(__name__)

SEQ_IDX_MAP = "seq_idx_map.json"
_PREDICTION_FILE = re.compile(r"^predictions__rank_(\d+)(?:__dp_rank_(\d+))?(?:__batch_(\d+))?\.pt$")
LOGITS = "logits"
LOG_PROBS = "log_probs"


# --- reading predict_evo2 output -------------------------------------------------------------------------------------
def prediction_files(raw_dir: str | Path) -> list[Path]:
    """Every predictions__rank_*.pt under ``raw_dir`` (subdir_* included), in (subdir, rank, dp rank, batch) order."""
    raw_dir = Path(raw_dir)

    def key(path: Path) -> tuple[Any, ...]:
        match = _PREDICTION_FILE.match(path.name)
        assert match is not None
        subdir = path.parent.relative_to(raw_dir).as_posix()
        subdir_number = int(subdir.rsplit("_", 1)[1]) if re.fullmatch(r"subdir_\d+", subdir) else -1
        return (subdir_number, subdir, *(int(group) if group is not None else -1 for group in match.groups()))

    files = [path for path in raw_dir.rglob("predictions__rank_*.pt") if _PREDICTION_FILE.match(path.name)]
    if not files:
        raise EvocaneError(f"{raw_dir}: no predict_evo2 output (predictions__rank_*.pt)")
    return sorted(files, key=key)


def read_seq_idx_map(raw_dir: str | Path) -> list[str]:
    """FASTA ids by ``seq_idx``. The map must be a bijection onto 0..N-1."""
    path = Path(raw_dir) / SEQ_IDX_MAP
    if not path.exists():
        raise EvocaneError(f"{path}: not found (predict_evo2 writes it next to the predictions)")
    mapping = json.loads(path.read_text())
    ids: list[str | None] = [None] * len(mapping)
    for seq_id, index in mapping.items():
        if not isinstance(index, int) or not 0 <= index < len(ids) or ids[index] is not None:
            raise EvocaneError(f"{path}: index {index!r} of '{seq_id}' is not a unique row number in 0..{len(ids) - 1}")
        ids[index] = seq_id
    return [str(seq_id) for seq_id in ids]


def _load(path: Path) -> dict[str, Any]:
    import torch

    try:
        data = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError:  # legacy (non-zip) serialisation cannot be memory-mapped
        data = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(data, dict) or "seq_idx" not in data:
        raise EvocaneError(f"{path}: not a predict_evo2 output (a dict with seq_idx)")
    return data


def _numpy(tensor: Any) -> np.ndarray:
    import torch

    if isinstance(tensor, torch.Tensor):
        if tensor.dtype in (torch.bfloat16, torch.float16):
            tensor = tensor.float()
        return tensor.numpy()
    return np.asarray(tensor)


@dataclass(frozen=True)
class _Row:
    file: Path
    row: int


def _parts(raw_dir: Path) -> list[Path]:
    """predict_evo2 output directories: ``raw_dir`` itself, or its ``shard_{k}`` subdirectories."""
    if (raw_dir / SEQ_IDX_MAP).exists():
        return [raw_dir]
    shards = sorted((p for p in raw_dir.glob("shard_*") if p.is_dir() and p.name[len("shard_") :].isdigit()), key=lambda p: int(p.name[len("shard_") :]))
    if not shards:
        raise EvocaneError(f"{raw_dir}: no predict_evo2 output ({SEQ_IDX_MAP} or shard_*/)")
    return shards


class RawPredictions:
    """One predict_evo2 output directory (or a directory of shards): rows found by FASTA id, files
    memory-mapped a few at a time."""

    def __init__(self, raw_dir: str | Path, cache_files: int = 4):
        self.dir = Path(raw_dir)
        if not self.dir.is_dir():
            raise EvocaneError(f"{self.dir}: no predict_evo2 output (directory not found)")
        self._cache: OrderedDict[Path, dict[str, Any]] = OrderedDict()
        self._cache_files = cache_files
        self.files: list[Path] = []
        self.ids: list[str] = []
        self.rows: dict[str, _Row] = {}
        self.duplicates = 0
        modes = set()
        for part in _parts(self.dir):
            ids = read_seq_idx_map(part)
            self.ids += ids
            for path in prediction_files(part):
                self.files.append(path)
                data = self._file(path)
                modes.add(self._mode(path, data))
                for row, index in enumerate(_numpy(data["seq_idx"]).reshape(-1).tolist()):
                    if not 0 <= index < len(ids):
                        raise EvocaneError(f"{path}: seq_idx {index} is not in {part / SEQ_IDX_MAP} (0..{len(ids) - 1})")
                    seq_id = ids[index]
                    if seq_id in self.rows:
                        self.duplicates += 1  # repeated by the distributed sampler's padding: keep the first
                    else:
                        self.rows[seq_id] = _Row(path, row)
        if len(set(self.ids)) != len(self.ids):
            raise EvocaneError(f"{self.dir}: a sequence id appears in more than one shard")
        if len(modes) != 1:
            raise EvocaneError(f"{self.dir}: prediction files mix output modes ({', '.join(sorted(modes))})")
        self.mode = modes.pop()
        first = self._file(self.files[0])
        self.compact = COMPACT_KEY in first
        self.has_loss_mask = self.mode == LOG_PROBS and "loss_mask" in first

    @staticmethod
    def _mode(path: Path, data: dict[str, Any]) -> str:
        if "token_logits" in data or COMPACT_KEY in data:
            if "pad_mask" not in data:
                raise EvocaneError(f"{path}: logits without pad_mask")
            return LOGITS
        if "log_probs_seqs" in data:
            if _numpy(data["log_probs_seqs"]).ndim != 2:
                raise EvocaneError(
                    f"{path}: log_probs_seqs holds one number per sequence (--log-prob-collapse-option sum/mean); "
                    "per-base predictions need per_token or logits mode"
                )
            return LOG_PROBS
        raise EvocaneError(f"{path}: neither token_logits nor log_probs_seqs (keys: {', '.join(sorted(data))})")

    def _file(self, path: Path) -> dict[str, Any]:
        if path in self._cache:
            self._cache.move_to_end(path)
            return self._cache[path]
        data = _load(path)
        self._cache[path] = data
        if len(self._cache) > self._cache_files:
            self._cache.popitem(last=False)
        return data

    def row(self, seq_id: str, key: str) -> np.ndarray:
        where = self.rows[seq_id]
        return _numpy(self._file(where.file)[key][where.row])

    def logits(self, seq_id: str) -> np.ndarray:
        return self.row(seq_id, COMPACT_KEY if self.compact else "token_logits")


# --- window alignment --------------------------------------------------------------------------------------------------
def _observed_codes(tokens: np.ndarray, weights: np.ndarray) -> np.ndarray:
    codes = base_codes(tokens).astype(np.int8)
    codes[np.asarray(weights) == WEIGHT_NONE] = -1  # N/IUPAC and the lineage tag (whose letters may be a/c/g/t)
    return codes


def acgt_probabilities_from_compact(logits: np.ndarray) -> np.ndarray:
    """(L, 9) compact logits (A C G T a c g t, log-sum-exp of the rest) -> (L, 4) probabilities over A, C, G, T,
    folded over case and renormalised: the same numbers as from the full vocabulary."""
    logits = np.asarray(logits, dtype=np.float64)
    weights = np.exp(logits - logits.max(axis=1, keepdims=True))
    folded = weights[:, :4] + weights[:, 4:8]
    return folded / folded.sum(axis=1, keepdims=True)


def window_scores_from_logits(
    logits: np.ndarray,
    pad_mask: np.ndarray,
    tokens: np.ndarray,
    weights: np.ndarray,
    prepend_bos: bool,
    window_id: str = "",
    compact: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """log P and top-1 credit of every base of one window, and its (length, 4) A/C/G/T distribution (NaN rows
    where not predicted), from one padded row of predict_evo2's logits output (``compact``: acgt_logits)."""
    length = len(tokens)
    pad_mask = np.asarray(pad_mask).astype(bool)
    has_bos = not bool(pad_mask[0])
    if has_bos != prepend_bos:
        raise EvocaneError(
            f"window {window_id}: pad_mask says the input {'had' if has_bos else 'had no'} BOS token, "
            f"but the conversion assumes {'--prepend-bos' if prepend_bos else 'no --prepend-bos'}"
        )
    scored = int(pad_mask.sum())
    if scored != length:
        raise EvocaneError(
            f"window {window_id}: predict_evo2 read {scored} bases, the dataset window has {length} "
            "(the FASTA given to predict_evo2 does not match the dataset)"
        )
    # logit i predicts input token i + 1; with BOS, input token i + 1 is base i
    first = 0 if prepend_bos else 1
    rows = logits[: length - first]
    distribution = np.full((length, 4), np.nan, dtype=np.float32)
    distribution[first:] = acgt_probabilities_from_compact(rows) if compact else acgt_probabilities_from_logits(rows)
    codes = _observed_codes(tokens, weights)
    logprob = np.full(length, np.nan, dtype=np.float32)
    top1 = np.full(length, np.nan, dtype=np.float32)
    logprob[first:], top1[first:] = observed_base_scores(distribution[first:], codes[first:])
    return logprob, top1, distribution


def window_scores_from_log_probs(
    log_probs: np.ndarray,
    loss_mask: np.ndarray | None,
    tokens: np.ndarray,
    weights: np.ndarray,
    prepend_bos: bool,
    window_id: str = "",
) -> np.ndarray:
    """log P (over the whole vocabulary) of every base of one window from one padded row of per-token output."""
    length = len(tokens)
    first = 0 if prepend_bos else 1
    needed = length - first
    values = np.asarray(log_probs, dtype=np.float64)
    if len(values) < needed or np.any(values[needed:] != 0):
        raise EvocaneError(
            f"window {window_id}: predict_evo2 scored a sequence of another length than the dataset window "
            f"({length} bases); the FASTA given to predict_evo2 does not match the dataset"
        )
    logprob = np.full(length, np.nan, dtype=np.float32)
    logprob[first:] = values[:needed]
    if loss_mask is not None:
        masked = np.asarray(loss_mask[:needed]) == 0
        logprob[first:][masked] = np.nan
    logprob[_observed_codes(tokens, weights) < 0] = np.nan
    return logprob


# --- the converter -----------------------------------------------------------------------------------------------------
def convert_predictions(
    raw_dir: str | Path,
    dataset_dir: str | Path,
    split: str,
    out_dir: str | Path,
    meta: dict[str, Any],
    prepend_bos: bool = True,
    distribution_windows: Iterable[str] = (),
) -> Path:
    """Write the prediction directory of ``split`` from predict_evo2's output for that split's FASTA."""
    raw = RawPredictions(raw_dir)
    dataset = DatasetReader(dataset_dir)
    windows = dataset.split_windows(split)
    arrays = dataset.arrays(split)
    wanted = [str(w) for w in windows["window_id"]]
    missing = [w for w in wanted if w not in raw.rows]
    if missing:
        raise EvocaneError(
            f"{raw.dir}: {len(missing)} of {len(wanted)} '{split}' windows have no prediction (e.g. {', '.join(missing[:5])})"
        )
    foreign = sorted(set(raw.ids) - set(wanted))
    if foreign:
        raise EvocaneError(
            f"{raw.dir}: predicts {len(foreign)} sequences that are not '{split}' windows of {dataset_dir} (e.g. {', '.join(foreign[:5])})"
        )
    if raw.duplicates:
        log.info("%s: %d repeated rows (distributed-sampler padding) ignored", raw.dir, raw.duplicates)
    keep = set(distribution_windows) if raw.mode == LOGITS else set()
    meta = {
        **meta,
        "split": split,
        "bionemo_output": raw.mode,
        "normalisation": "acgt" if raw.mode == LOGITS else "vocabulary",
        "prepend_bos": prepend_bos,
        "source": str(raw.dir),
        "prediction_files": len(raw.files),
        "compact_logits": raw.compact,
    }
    with PredictionWriter(out_dir, meta) as writer:
        for row in tqdm(windows.itertuples(index=False), total=len(windows), desc=f"bionemo {split}", unit="window"):
            window_id = str(row.window_id)
            tokens, _, weights = arrays.window(int(row.offset), int(row.length))
            if raw.mode == LOGITS:
                logprob, top1, distribution = window_scores_from_logits(
                    raw.logits(window_id), raw.row(window_id, "pad_mask"), tokens, weights, prepend_bos, window_id, raw.compact
                )
                writer.add(window_id, logprob, distribution=distribution if window_id in keep else None, top1=top1)
            else:
                loss_mask = raw.row(window_id, "loss_mask") if raw.has_loss_mask else None
                writer.add(window_id, window_scores_from_log_probs(raw.row(window_id, "log_probs_seqs"), loss_mask, tokens, weights, prepend_bos, window_id))
    return Path(out_dir)


# --- infer_evo2 output -------------------------------------------------------------------------------------------------
def parse_inference_output(text: str, source: str = "infer_evo2 output") -> str:
    """``generated_text`` from the repr of Megatron's InferenceRequest that infer_evo2 writes with --output-file.

    Reads the repr with Python's tokenizer, so a ``generated_text=`` inside another string (the prompt) cannot be
    mistaken for the field. The text is the continuation only; it ends at the first character that is not a
    letter (an end-of-document byte or the start of a ``|...|`` tag).
    """
    try:
        tokens = [t for t in tokenize.generate_tokens(io.StringIO(text).readline) if t.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT)]
    except (tokenize.TokenError, IndentationError, SyntaxError) as error:
        raise EvocaneError(f"{source}: not an InferenceRequest repr ({error})") from None
    for i, token in enumerate(tokens[:-2]):
        if token.type == tokenize.NAME and token.string == "generated_text" and tokens[i + 1].string == "=":
            value = tokens[i + 2]
            if value.type == tokenize.NAME and value.string == "None":
                raise EvocaneError(f"{source}: generated_text is None (nothing was generated)")
            if value.type != tokenize.STRING:
                raise EvocaneError(f"{source}: generated_text is not a string")
            generated = ast.literal_eval(value.string)
            match = re.match(r"[A-Za-z]*", generated)
            assert match is not None
            if match.end() < len(generated):
                log.info("%s: generation cut at position %d (%r)", source, match.end(), generated[match.end()])
            return match.group(0)
    raise EvocaneError(f"{source}: no generated_text field (is this infer_evo2 --output-file output?)")


def generated_sequences(infer_dir: str | Path, model: str) -> list[GeneratedSequence]:
    """The continuations of a bionemo_infer output directory (plan.json + one raw file per prompt and sample)."""
    infer_dir = Path(infer_dir)
    plan_path = infer_dir / "plan.json"
    if not plan_path.exists():
        raise EvocaneError(f"{plan_path}: not found (written by bionemo_infer)")
    plan = json.loads(plan_path.read_text())
    sampling = plan["sampling"]
    records = []
    for entry in plan["outputs"]:
        path = infer_dir / entry["file"]
        if not path.exists():
            raise EvocaneError(f"{path}: infer_evo2 output listed in plan.json is missing")
        records.append(
            GeneratedSequence(
                prompt_id=entry["prompt_id"], sample=int(entry["sample"]), seed=int(entry["seed"]),
                sequence=parse_inference_output(path.read_text(), str(path)), model=model,
                temperature=float(sampling["temperature"]), top_k=int(sampling["top_k"]), top_p=float(sampling["top_p"]),
                prompt_length=int(entry["prompt_length"]),
            )  # fmt: skip
        )
    return records


def convert_generated(infer_dir: str | Path, model: str, out_fasta: str | Path) -> Path:
    return write_generated_fasta(generated_sequences(infer_dir, model), out_fasta)


def sorted_fasta_ids(ids: Sequence[str]) -> dict[str, int]:
    """The seq_idx_map predict_evo2 writes for a FASTA with these ids (position in sorted order)."""
    return {seq_id: index for index, seq_id in enumerate(sorted(ids))}
