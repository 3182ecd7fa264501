"""Generation: prompts from held-out windows, several sampled continuations plus a greedy one per prompt, compared
with the true continuation and with the held-out genome.

Inputs (:func:`build_generation_inputs`): ``prompts.fa`` (the first ``prompt_length`` bases of randomly chosen
test windows, through the engines' prompt FASTA format) and ``truth.fa`` (the next ``continuation_length`` bases
of the same windows, same ids). Any engine's ``generate`` writes the continuations (sampled: the configured
sampling; greedy: temperature 0, one sample).

Metrics: GC per sequence; k-mer spectrum Jensen-Shannon divergence (k = 1..6) of the samples against the true
continuations and against held-out genome; identity of the greedy continuation to the truth (base by base);
length distribution; repeat fraction (bases covered by a 12-mer seen twice in the same sequence, so degenerate
loops show) and low-complexity fraction (DUST, 64-bp windows, score > 2); genome references are cut to the same
length as the continuations so every fraction compares like with like.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evocane.atomic import atomic_dir
from evocane.dataset.arrays import WEIGHT_NONE, DatasetReader, dataset_variant_name
from evocane.errors import EvocaneError
from evocane.config import settings_from
from evocane.evaluate import metrics
from evocane.evaluate.shuffle import gc_fraction
from evocane.genome.fasta import read_fasta
from evocane.predictions import GeneratedSequence

TASK = "generation"
KMER_SIZES = (1, 2, 3, 4, 5, 6)
REPEAT_K = 12
DUST_WINDOW = 64
DUST_THRESHOLD = 2.0  # = DUST level 20 in the original scaling


@dataclass(frozen=True)
class GenerationParams:
    prompts: int
    prompt_length: int
    continuation_length: int
    samples_per_prompt: int
    temperature: float
    top_k: int
    top_p: float
    genome_reference_bases: int  # held-out bases for the genome's k-mer spectrum and fractions
    seed: int

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> GenerationParams:
        return settings_from(cls, values, "evaluation.tasks.generation")


def _write_fasta(records: list[tuple[str, str]], path: Path) -> None:
    with open(path, "w") as handle:
        for name, sequence in records:
            handle.write(f">{name}\n")
            for start in range(0, len(sequence), 80):
                handle.write(sequence[start : start + 80] + "\n")


def build_generation_inputs(dataset_dir: str | Path, params: GenerationParams, out_dir: str | Path) -> Path:
    """prompts.fa, truth.fa, genome.fa (held-out reference pieces) and manifest.json from the test split, atomically."""
    dataset = DatasetReader(dataset_dir)
    windows = dataset.split_windows("test")
    arrays = dataset.arrays("test")
    need = params.prompt_length + params.continuation_length
    eligible = []
    for i, (offset, length, prefix) in enumerate(zip(windows["offset"], windows["length"], windows["prefix_length"])):
        body = int(offset) + int(prefix)
        if int(length) - int(prefix) >= need and not np.any(arrays.weights[body : body + need] == WEIGHT_NONE):
            eligible.append(i)
    if not eligible:
        raise EvocaneError(f"{dataset_dir}: no test window has {need} bases (prompt + continuation) without N")
    rng = np.random.default_rng(params.seed)
    chosen = sorted(rng.choice(eligible, size=min(params.prompts, len(eligible)), replace=False).tolist())
    prompts, truths = [], []
    for i in chosen:
        row = windows.iloc[i]
        body = int(row["offset"]) + int(row["prefix_length"])
        tag = bytes(arrays.tokens[int(row["offset"]) : body]).decode("ascii")
        text = bytes(arrays.tokens[body : body + need]).decode("ascii")
        prompts.append((str(row["window_id"]), tag + text[: params.prompt_length]))
        truths.append((str(row["window_id"]), text[params.prompt_length :]))
    pieces = []
    remaining = params.genome_reference_bases
    for i in rng.permutation(len(windows)):
        if remaining <= 0:
            break
        row = windows.iloc[int(i)]
        body = int(row["offset"]) + int(row["prefix_length"])
        text = bytes(arrays.tokens[body : int(row["offset"]) + int(row["length"])]).decode("ascii")
        for start in range(0, len(text) - params.continuation_length + 1, params.continuation_length):
            piece = text[start : start + params.continuation_length]
            if set(piece.upper()) <= set("ACGT"):
                pieces.append((f"{row['window_id']}:{start}", piece))
                remaining -= len(piece)
    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as temp:
        _write_fasta(prompts, temp / "prompts.fa")
        _write_fasta(truths, temp / "truth.fa")
        _write_fasta(pieces, temp / "genome.fa")
        manifest = {"variant": dataset_variant_name(dataset_dir), "task": "generation", "prompts": len(prompts), "params": params.__dict__}
        (temp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return out_dir


def read_plain_fasta(path: str | Path) -> dict[str, str]:
    return {record.name: record.sequence.decode() for record in read_fasta(path, validate=False)}


# --- sequence measures -------------------------------------------------------------------------------------------------
def repeat_fraction(sequence: str, k: int = REPEAT_K) -> float:
    """Fraction of bases covered by a k-mer that occurs at least twice in the sequence (case-insensitive)."""
    text = sequence.upper()
    if len(text) < k:
        return 0.0
    kmers = [text[i : i + k] for i in range(len(text) - k + 1)]
    counts: dict[str, int] = {}
    for kmer in kmers:
        counts[kmer] = counts.get(kmer, 0) + 1
    covered = np.zeros(len(text), dtype=bool)
    for i, kmer in enumerate(kmers):
        if counts[kmer] > 1:
            covered[i : i + k] = True
    return float(covered.mean())


def low_complexity_fraction(sequence: str, window: int = DUST_WINDOW, threshold: float = DUST_THRESHOLD) -> float:
    """Fraction of bases inside a DUST-masked window: triplet counts c_t of the window, score
    sum c_t (c_t - 1) / 2 / (l - 1) with l triplets; windows scoring above ``threshold`` are masked."""
    text = sequence.upper()
    n = len(text)
    if n < 3:
        return 0.0
    code = {b: i for i, b in enumerate("ACGT")}
    triplets = np.array(
        [code[text[i]] * 16 + code[text[i + 1]] * 4 + code[text[i + 2]] if all(c in code for c in text[i : i + 3]) else -1 for i in range(n - 2)]
    )
    size = min(window, n)
    masked = np.zeros(n, dtype=bool)
    for start in range(0, n - size + 1):
        local = triplets[start : start + size - 2]
        local = local[local >= 0]
        if len(local) < 2:
            continue
        counts = np.bincount(local, minlength=64)
        score = float((counts * (counts - 1) / 2).sum() / (len(local) - 1))
        if score > threshold:
            masked[start : start + size] = True
    return float(masked.mean())


def identity(a: str, b: str) -> float:
    """Fraction of the positions of the truth ``b`` where ``a`` has the same base (case-insensitive); positions a
    shorter ``a`` lacks count as mismatches."""
    if not b:
        return float("nan")
    a, b = a.upper(), b.upper()
    return sum(x == y for x, y in zip(a, b)) / len(b)


def sequence_table(sequences: dict[str, list[str]], source: str) -> pd.DataFrame:
    rows = []
    for prompt_id, items in sequences.items():
        for sample, sequence in enumerate(items):
            rows.append(
                {"source": source, "prompt_id": prompt_id, "sample": sample, "length": len(sequence),
                 "gc": gc_fraction(sequence.encode()), "repeat_fraction": repeat_fraction(sequence),
                 "low_complexity_fraction": low_complexity_fraction(sequence)}
            )  # fmt: skip
    return pd.DataFrame(rows)


def _group(records: list[GeneratedSequence]) -> dict[str, list[str]]:
    grouped: dict[str, list[tuple[int, str]]] = {}
    for record in records:
        grouped.setdefault(record.prompt_id, []).append((record.sample, record.sequence))
    return {key: [s for _, s in sorted(items)] for key, items in grouped.items()}


@dataclass
class GenerationResult:
    per_sequence: pd.DataFrame  # source (sampled / greedy / truth / genome), prompt_id, sample, length, gc, ...
    divergence: pd.DataFrame  # k, comparison, js_divergence
    greedy_identity: pd.DataFrame  # prompt_id, identity (greedy), mean_sample_identity
    rows: list[dict[str, object]]  # long metric rows


def evaluate_generation(
    inputs_dir: str | Path,
    sampled: list[GeneratedSequence],
    greedy: list[GeneratedSequence],
    identity_columns: dict[str, str],
    n_boot: int,
    seed: int,
) -> GenerationResult:
    inputs_dir = Path(inputs_dir)
    truth = read_plain_fasta(inputs_dir / "truth.fa")
    genome = read_plain_fasta(inputs_dir / "genome.fa")
    sampled_by_prompt, greedy_by_prompt = _group(sampled), _group(greedy)
    unknown = (set(sampled_by_prompt) | set(greedy_by_prompt)) - set(truth)
    if unknown:
        raise EvocaneError(f"{inputs_dir}: generated sequences for unknown prompts ({sorted(unknown)[0]} ...)")
    per_sequence = pd.concat(
        [
            sequence_table(sampled_by_prompt, "sampled"),
            sequence_table(greedy_by_prompt, "greedy"),
            sequence_table({key: [value] for key, value in truth.items()}, "truth"),
            sequence_table({key: [value] for key, value in genome.items()}, "genome"),
        ],
        ignore_index=True,
    )
    pools = {
        "sampled": [s for items in sampled_by_prompt.values() for s in items],
        "greedy": [s for items in greedy_by_prompt.values() for s in items],
        "truth": list(truth.values()),
        "genome": list(genome.values()),
    }
    comparisons = [("sampled", "truth"), ("sampled", "genome"), ("greedy", "truth"), ("truth", "genome")]
    divergence_rows = []
    for k in KMER_SIZES:
        spectra = {name: metrics.kmer_spectrum(pool, k) for name, pool in pools.items()}
        for a, b in comparisons:
            divergence_rows.append({"k": k, "comparison": f"{a} vs {b}", "js_divergence": metrics.js_divergence(spectra[a], spectra[b])})
    divergence = pd.DataFrame(divergence_rows)
    identity_rows = []
    for prompt_id, true in truth.items():
        greedy_identity = identity(greedy_by_prompt[prompt_id][0], true) if prompt_id in greedy_by_prompt else np.nan
        samples = sampled_by_prompt.get(prompt_id, [])
        sample_identity = float(np.mean([identity(s, true) for s in samples])) if samples else np.nan
        identity_rows.append({"prompt_id": prompt_id, "greedy_identity": greedy_identity, "sample_identity": sample_identity})
    identities = pd.DataFrame(identity_rows)
    for key, value in identity_columns.items():
        for table in (per_sequence, divergence, identities):
            table[key] = value
    n_prompts = len(identities)
    found: dict[str, tuple[float, float, float]] = {
        "greedy_identity": metrics.mean_ci(identities["greedy_identity"].to_numpy(), n_boot, seed),
        "sample_identity": metrics.mean_ci(identities["sample_identity"].to_numpy(), n_boot, seed),
    }
    rows = metrics.long_rows(identity_columns, TASK, found, n_prompts)
    for source in ("sampled", "greedy", "truth", "genome"):
        subset = per_sequence[per_sequence["source"] == source]
        measures = {m: metrics.mean_ci(subset[m].to_numpy(), n_boot, seed) for m in ("gc", "repeat_fraction", "low_complexity_fraction")}
        rows += metrics.long_rows(identity_columns, TASK, measures, len(subset), source)
    for row in divergence_rows:
        a, b = str(row["comparison"]).split(" vs ")
        value = float(row["js_divergence"])  # type: ignore[arg-type]
        rows += metrics.long_rows(identity_columns, TASK, {f"js_divergence_k{row['k']}": (value, float("nan"), float("nan"))}, n_prompts, f"{a}_vs_{b}")
    return GenerationResult(per_sequence, divergence, identities, rows)


def position_counts(sequences: list[str], length: int) -> pd.DataFrame:
    """Base counts per position (rows) over A/C/G/T (columns) of the first ``length`` bases: a logomaker matrix."""
    counts = np.zeros((length, 4))
    for sequence in sequences:
        for position, base in enumerate(sequence[:length].upper()):
            if base in "ACGT":
                counts[position, "ACGT".index(base)] += 1
    return pd.DataFrame(counts, columns=list("ACGT"))
