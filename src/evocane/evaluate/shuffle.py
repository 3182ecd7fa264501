"""Matched negatives for zero-shot scoring: an exact dinucleotide shuffle and GC-matched genomic background.

The dinucleotide shuffle is the Altschul-Erickson (1985) construction as made exact by Kandel et al. (1996): a
sequence is an Eulerian path through the multigraph whose vertices are symbols and whose edges are its adjacent
pairs; a uniformly random Eulerian path with the same first symbol is drawn by (1) choosing for every vertex other
than the last symbol a *last exit edge* so that the last exits form a tree directed towards the last symbol,
(2) shuffling the remaining exits of every vertex, (3) walking from the first symbol. Every dinucleotide count,
the first and the last symbol are preserved exactly. Symbols are bytes, so N, IUPAC codes and case are shuffled
like any other symbol (callers upper-case first when case should not matter).
"""

from __future__ import annotations

import numpy as np


def dinucleotide_counts(sequence: bytes) -> dict[bytes, int]:
    counts: dict[bytes, int] = {}
    for index in range(len(sequence) - 1):
        pair = sequence[index : index + 2]
        counts[pair] = counts.get(pair, 0) + 1
    return counts


def _random_last_exits(exits: dict[int, list[int]], last: int, rng: np.random.Generator) -> dict[int, int]:
    """For each vertex but ``last``, the index (into its exit list) of a last exit edge, such that following last
    exits from any vertex reaches ``last`` (a spanning arborescence towards ``last``).

    Rejection sampling over independent uniform choices: conditioned on forming a tree, every arborescence of the
    multigraph is equally likely, which is what makes the resulting Eulerian path uniform (Kandel et al. 1996).
    With at most a few dozen symbols a tree comes after a handful of tries.
    """
    vertices = [v for v in exits if v != last]
    while True:
        choice = {v: int(rng.integers(len(exits[v]))) for v in vertices}
        reaches_last: set[int] = {last}
        is_tree = True
        for start in vertices:
            path: list[int] = []
            vertex = start
            on_path: set[int] = set()
            while vertex not in reaches_last:
                if vertex in on_path:
                    is_tree = False
                    break
                on_path.add(vertex)
                path.append(vertex)
                vertex = exits[vertex][choice[vertex]]
            if not is_tree:
                break
            reaches_last.update(path)
        if is_tree:
            return choice


def dinucleotide_shuffle(sequence: bytes, rng: np.random.Generator) -> bytes:
    """A uniformly random sequence with exactly the dinucleotide counts, first and last symbol of ``sequence``."""
    if len(sequence) < 3:
        return bytes(sequence)
    symbols = np.frombuffer(sequence, dtype=np.uint8)
    exits: dict[int, list[int]] = {}
    for source, target in zip(symbols[:-1].tolist(), symbols[1:].tolist()):
        exits.setdefault(source, []).append(target)
    first, last = int(symbols[0]), int(symbols[-1])
    last_exit = _random_last_exits(exits, last, rng)
    ordered: dict[int, list[int]] = {}
    for vertex, targets in exits.items():
        if vertex in last_exit:
            keep = targets[last_exit[vertex]]
            rest = targets[: last_exit[vertex]] + targets[last_exit[vertex] + 1 :]
            order = rng.permutation(len(rest))
            ordered[vertex] = [rest[i] for i in order] + [keep]
        else:
            order = rng.permutation(len(targets))
            ordered[vertex] = [targets[i] for i in order]
    position = dict.fromkeys(ordered, 0)
    out = bytearray([first])
    vertex = first
    for _ in range(len(sequence) - 1):
        target = ordered[vertex][position[vertex]]
        position[vertex] += 1
        out.append(target)
        vertex = target
    return bytes(out)


def gc_fraction(sequence: bytes) -> float:
    """G+C over A/C/G/T (either case); NaN when the sequence has no A/C/G/T."""
    upper = sequence.upper()
    acgt = sum(upper.count(base) for base in b"ACGT")
    return (upper.count(b"G") + upper.count(b"C")) / acgt if acgt else float("nan")


def match_gc(
    target_gc: np.ndarray, candidate_gc: np.ndarray, tolerance: float, rng: np.random.Generator
) -> np.ndarray:
    """For each target, the index of a distinct candidate whose GC is within ``tolerance`` (the closest unused one
    when none is); -1 when candidates run out. Targets are matched in random order so no target is favoured."""
    chosen = np.full(len(target_gc), -1, dtype=np.int64)
    available = np.ones(len(candidate_gc), dtype=bool)
    shuffled_candidates = rng.permutation(len(candidate_gc))
    for target in rng.permutation(len(target_gc)):
        free = shuffled_candidates[available[shuffled_candidates]]
        if len(free) == 0:
            break
        distance = np.abs(candidate_gc[free] - target_gc[target])
        within = free[distance <= tolerance]
        pick = within[0] if len(within) else free[int(np.argmin(distance))]
        chosen[target] = pick
        available[pick] = False
    return chosen
