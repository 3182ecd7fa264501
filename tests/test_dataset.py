"""Dataset variants built end to end (plan, sketch, build, exports, audit, card) on 200 kb slices of the demo
cultivars prepared by the genome room: split disjointness and homology, labels/tokens/weights against the genome
and the regions, reverse complement and lineage tags, the leakage audit against sourmash's own containment,
every export's format, determinism, and the bad-input rules."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pybedtools
import pysam
import pytest
import sourmash
import yaml

from conftest import REPO, run_cli
from evocane.config import load_config, validate_config
from evocane.dataset.arrays import (
    AMBIGUOUS,
    CDS,
    REGION_BITS,
    REPEAT,
    SPLITS,
    UTR5,
    WEIGHT_FULL,
    WEIGHT_NONE,
    WEIGHT_SOFTMASKED,
    WINDOW_COLUMNS,
    DatasetReader,
)
from evocane.dataset.config import lineage_tag, resolve_variant
from evocane.dataset.regions import RegionLabeler
from evocane.dataset.steps import (
    VariantPaths,
    bionemo_step,
    build_step,
    card_step,
    fasta_step,
    plan_step,
    regions_step,
    sketch_step,
)
from evocane.errors import EvocaneError
from evocane.genome.prepare import prepare_genome
from evocane.genome.sources import source_files
from evocane.plots.dataset import audit_step

SLICE = 200_000
COMPLEMENT = str.maketrans("ACGTNacgtnRYKMSWrykmsw", "TGCANtgcanYRMKSWyrmksw")

VARIANTS: dict[str, dict[str, Any]] = {
    "hg": {"split": {"strategy": "homology_group", "test": [2]}},
    "random": {"cultivars": ["mockcane"], "split": {"strategy": "random_windows"}},
    "cultivar": {"split": {"strategy": "cultivar", "train": ["mockcane"], "test": ["thaliana"]}},
    "genic": {
        "split": {"strategy": "homology_group", "test": [2], "recombinant": "held_out"},
        "windows": {"reverse_complement": "random", "lineage_tag": True},
        "sampling": {"mode": "genic"},
        "leakage": {"remove_above": 0.5},
    },
    "chroms": {
        "cultivars": ["mockcane"],
        "split": {"strategy": "chromosomes", "train": ["Chr1A", "Chr1B"], "validation": ["mockcane:YZ-Ss-Chr01C"], "test": ["Chr2A"]},
        "windows": {"length": 512, "stride": 256, "reverse_complement": "both", "softmask": "upper"},
    },
}


def demo_config(variants: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config = {"cultivars": config["cultivars"], "datasets": {"variants": copy.deepcopy(variants if variants is not None else VARIANTS)}}
    for cultivar in config["cultivars"].values():
        cultivar["max_length"] = SLICE
    return validate_config(config)


@pytest.fixture(scope="session")
def genomes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """results/genomes/{mockcane,thaliana} for 200 kb slices, prepared by the genome room, plus region BEDs."""
    root = tmp_path_factory.mktemp("dataset_inputs")
    config = demo_config()
    for name, spec in config["cultivars"].items():
        prepare_genome(name, source_files(spec, name), spec["homology"], root / "genomes" / name, spec["max_length"])
        regions = root / "datasets" / "regions"
        regions_step(name, root / "genomes" / name, config["datasets"]["regions"], regions / f"{name}.bed.gz", regions / f"{name}.summary.json")
    return root


def build_variant(root: Path, out: Path, config: dict[str, Any], name: str) -> VariantPaths:
    """Every dataset step of one variant, as the workflow runs them."""
    spec = resolve_variant(config, name)
    genome_dirs = {c: root / "genomes" / c for c in spec["cultivars"]}
    regions = {c: root / "datasets" / "regions" / f"{c}.bed.gz" for c in spec["cultivars"]}
    paths = VariantPaths(out / name)
    plan_step(spec, genome_dirs, regions, paths.root)
    for cultivar in spec["cultivars"]:
        sketch_step(spec, cultivar, genome_dirs[cultivar], paths.plan, paths.sketch(cultivar))
    sketches = [paths.sketch(c) for c in spec["cultivars"]]
    build_step(spec, genome_dirs, regions, paths.plan, sketches, paths.root)
    for split in SPLITS:
        fasta_step(paths.root, split, paths.fasta(split))
    bionemo_step(spec, paths.root, {s: str(paths.fasta(s)) for s in SPLITS}, paths.bionemo)
    audit_step(spec, paths.root, sketches, paths.audit_table, paths.root / "audit" / "leakage.png", paths.root / "audit" / "composition.png", paths.signature)
    summaries = {c: root / "datasets" / "regions" / f"{c}.summary.json" for c in spec["cultivars"]}
    card_step(spec, config["cultivars"], paths.root, genome_dirs, summaries, paths.card)
    return paths


@pytest.fixture(scope="session")
def built(genomes: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, VariantPaths]:
    out = tmp_path_factory.mktemp("datasets")
    config = demo_config()
    return {name: build_variant(genomes, out, config, name) for name in VARIANTS}


def genome_sequence(root: Path, cultivar: str, record: str) -> str:
    return pysam.FastaFile(str(root / "genomes" / cultivar / "genome.fa.gz")).fetch(record)


# --- splits ------------------------------------------------------------------------------------------------------------
def test_split_beds_are_disjoint_and_contain_their_windows(built: dict[str, VariantPaths]) -> None:
    for name, paths in built.items():
        beds = {split: pd.read_csv(paths.split_bed(split), sep="\t", header=None, names=["chrom", "start", "end", "cultivar", "score", "strand"]) for split in SPLITS}
        for cultivar in set(pd.concat(beds.values())["cultivar"]):
            tools = {s: pybedtools.BedTool([tuple(r) for r in b[b["cultivar"] == cultivar][["chrom", "start", "end"]].itertuples(index=False)]) for s, b in beds.items()}
            for a, b in (("train", "validation"), ("train", "test"), ("validation", "test")):
                if len(tools[a]) and len(tools[b]):
                    assert len(tools[a].intersect(tools[b], u=True)) == 0, (name, cultivar, a, b)
        windows = DatasetReader(paths.root).windows
        for split in SPLITS:
            bed = beds[split]
            for (cultivar, chrom), mine in windows[windows["split"] == split].groupby(["cultivar", "chrom"]):
                intervals = bed[(bed["cultivar"] == cultivar) & (bed["chrom"] == chrom)].sort_values("start")
                i = np.searchsorted(intervals["start"].to_numpy(), mine["start"].to_numpy(), side="right") - 1
                assert (i >= 0).all(), (name, split, chrom)
                assert (intervals["end"].to_numpy()[i] >= mine["end"].to_numpy()).all(), (name, split, chrom)


def test_held_out_windows_never_overlap_training_windows(built: dict[str, VariantPaths]) -> None:
    for name, paths in built.items():
        windows = DatasetReader(paths.root).windows
        for (cultivar, chrom), part in windows.groupby(["cultivar", "chrom"]):
            train = part[part["split"] == "train"][["start", "end"]].drop_duplicates().sort_values("start").to_numpy()
            for row in part[part["split"] != "train"].itertuples():
                i = np.searchsorted(train[:, 0], row.end)
                overlapping = train[:i][train[:i, 1] > row.start] if i else []
                assert len(overlapping) == 0, (name, row.window_id)


def test_homology_split_holds_out_whole_groups_and_drops_the_recombinant(built: dict[str, VariantPaths]) -> None:
    windows = DatasetReader(built["hg"].root).windows
    assert set(windows.loc[windows["split"] == "test", "homology_group"]) == {"2"}
    assert set(windows.loc[windows["split"] != "test", "homology_group"]) == {"1"}
    assert "Chr1_2A" not in set(windows["chrom"])
    manifest = json.loads(built["hg"].split_manifest.read_text())
    dropped = {r["record"]: r["reason"] for r in manifest["records"] if r["split"] is None}
    assert "dropped" in dropped["Chr1_2A"] and "2 (test)" in dropped["Chr1_2A"]
    # held_out keeps it, in test, never in train
    genic = DatasetReader(built["genic"].root).windows
    assert set(genic.loc[genic["chrom"] == "Chr1_2A", "split"]) == {"test"}


def test_validation_blocks_are_homolog_aligned(built: dict[str, VariantPaths]) -> None:
    block = json.loads(built["hg"].split_manifest.read_text())["validation_block"]
    records = block["records"]
    assert records["mockcane:Chr1A"]["placement"] == "relative"
    assert records["mockcane:Chr1A"]["start"] == round(SLICE * 0.45)
    for other in ("mockcane:Chr1B", "mockcane:YZ-Ss-Chr01C"):
        assert records[other]["aligned_to"] == "mockcane:Chr1A"
        assert records[other]["end"] - records[other]["start"] == SLICE // 10
    windows = DatasetReader(built["hg"].root).windows
    validation = windows[windows["split"] == "validation"]
    assert set(validation["chrom"]) == {"Chr1A", "Chr1B", "YZ-Ss-Chr01C"}


def test_chromosome_strategy_warns_about_shared_homology_groups(built: dict[str, VariantPaths]) -> None:
    manifest = json.loads(built["chroms"].split_manifest.read_text())
    assert any("YZ-Ss-Chr01C (validation) shares homology group 1" in w for w in manifest["warnings"])
    windows = DatasetReader(built["chroms"].root).windows
    assert set(windows.groupby("split")["chrom"].agg(lambda c: ",".join(sorted(set(c))))) == {"Chr1A,Chr1B", "YZ-Ss-Chr01C", "Chr2A"}


def test_random_strategy_assigns_windows_in_the_configured_proportions(built: dict[str, VariantPaths]) -> None:
    windows = DatasetReader(built["random"].root).windows
    shares = windows["split"].value_counts(normalize=True)
    assert 0.74 < shares["train"] < 0.86 and 0.06 < shares["test"] < 0.14
    assert windows.groupby("chrom")["split"].nunique().min() == 3  # every record feeds every split


def test_genic_sampling_draws_as_many_random_as_genic_windows(built: dict[str, VariantPaths]) -> None:
    plan = pd.read_parquet(built["genic"].plan)
    counts = plan.groupby(["split", "source"]).size().unstack()
    assert (counts["genic"] == counts["random"]).all()
    windows = DatasetReader(built["genic"].root).windows
    genic, random = windows[windows["source"] == "genic"], windows[windows["source"] == "random"]
    assert genic["annotated"].all() and not random["annotated"].all()
    assert genic["cds_fraction"].mean() > 2 * random["cds_fraction"].mean()
    assert set(windows["strand"]) == {"+", "-"}


# --- windows, labels, tokens, weights -------------------------------------------------------------------------------------
def test_tokens_labels_and_weights_match_genome_and_regions(built: dict[str, VariantPaths], genomes: Path) -> None:
    dataset = DatasetReader(built["cultivar"].root)
    labeler = RegionLabeler(genomes / "datasets" / "regions" / "thaliana.bed.gz")
    sequence = genome_sequence(genomes, "thaliana", "Chr1_2A")
    region_labels = labeler.labels("Chr1_2A", len(sequence))
    checked = 0
    for row, tokens, labels, weights in dataset.iter_windows("test"):
        expected = sequence[row.start : row.end]
        assert bytes(tokens).decode() == expected
        bases = np.frombuffer(expected.encode(), dtype=np.uint8)
        lower = (bases >= ord("a")) & (bases <= ord("z"))
        acgt = np.isin(bases, np.frombuffer(b"ACGTacgt", dtype=np.uint8))
        assert np.array_equal(labels & ~np.uint8(REPEAT | AMBIGUOUS), region_labels[row.start : row.end])
        assert np.array_equal((labels & REPEAT) > 0, lower)
        assert np.array_equal((labels & AMBIGUOUS) > 0, ~acgt)
        assert np.array_equal(weights, np.where(~acgt, WEIGHT_NONE, np.where(lower, WEIGHT_SOFTMASKED, WEIGHT_FULL)))
        for region, bit in REGION_BITS.items():
            assert getattr(row, f"{region}_fraction") == pytest.approx(np.count_nonzero(labels & bit) / len(labels))
        checked += 1
    assert checked > 150
    # NAC001's start codon (3760-3762, 1-based) lies in window 3072-4096: CDS there, 5'UTR just before
    row = dataset.windows.set_index("window_id").loc["thaliana:Chr1_2A:3072-4096:+"]
    tokens, labels, _ = dataset.arrays("test").window(int(row["offset"]), int(row["length"]))
    assert bytes(tokens[3759 - 3072 : 3762 - 3072]).upper() == b"ATG"
    assert labels[3759 - 3072] & CDS and labels[3758 - 3072] & UTR5


def test_streamed_region_labels_equal_labels_read_at_once(genomes: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bed = genomes / "datasets" / "regions" / "mockcane.bed.gz"
    order = ["Chr1A", "Chr2A", "Chr1B", "Chr2B", "YZ-Ss-Chr01C", "YZ-Ss-Chr02C"]
    monkeypatch.setattr(RegionLabeler, "BLOCK_BYTES", 20_000)  # records span many blocks
    whole = RegionLabeler(bed)
    streamed = RegionLabeler(bed, order)
    for record in ["Chr1A", "Chr1B", "Chr2A", "YZ-Ss-Chr02C", "Chr1A"]:  # skips, then goes back
        assert np.array_equal(streamed.labels(record, SLICE), whole.labels(record, SLICE)), record
    assert whole.labels("Chr2A", SLICE).any() and not whole.labels("Chr2B", SLICE).any()


def test_reverse_complement_and_upper_case_policy(built: dict[str, VariantPaths], genomes: Path) -> None:
    dataset = DatasetReader(built["chroms"].root)
    windows = dataset.windows
    assert (windows.groupby(["chrom", "start"])["strand"].agg("".join).map(sorted).map("".join) == "+-").all()
    sequence = genome_sequence(genomes, "mockcane", "Chr2A")
    tested = 0
    for row, tokens, labels, weights in dataset.iter_windows("test"):
        forward = sequence[row.start : row.end]
        text = bytes(tokens).decode()
        assert text == text.upper()
        if row.strand == "-":
            assert text == forward.translate(COMPLEMENT)[::-1].upper()
            partner = windows[(windows["chrom"] == row.chrom) & (windows["start"] == row.start) & (windows["strand"] == "+")].iloc[0]
            _, forward_labels, forward_weights = dataset.arrays("test").window(int(partner["offset"]), int(partner["length"]))
            assert np.array_equal(labels, forward_labels[::-1]) and np.array_equal(weights, forward_weights[::-1])
            tested += 1
        assert WEIGHT_SOFTMASKED not in set(weights.tolist())  # upper: no down-weighting
    assert tested > 100
    assert (windows["end"] - windows["start"] == 512).all()
    starts = np.sort(windows[(windows["chrom"] == "Chr2A") & (windows["strand"] == "+")]["start"].to_numpy())
    assert np.median(np.diff(starts)) == 256 and (starts % 256 == 0).all()


def test_lineage_tag_prefix(built: dict[str, VariantPaths], genomes: Path) -> None:
    config = demo_config()
    tags = {c: lineage_tag(config["cultivars"][c]["lineage"]).encode() for c in config["cultivars"]}
    assert tags["mockcane"] == b"|d__Eukaryota;p__Streptophyta;c__Magnoliopsida;o__Brassicales;f__Brassicaceae;g__Arabidopsis;s__Arabidopsis arenosa|"
    dataset = DatasetReader(built["genic"].root)
    for split in SPLITS:
        for row, tokens, labels, weights in dataset.iter_windows(split):
            tag = tags[row.cultivar]
            assert row.prefix_length == len(tag) and row.length == len(tag) + 1024
            assert bytes(tokens[: len(tag)]) == tag
            assert not labels[: len(tag)].any() and not weights[: len(tag)].any()
            break


def test_arrays_are_contiguous_and_match_the_table(built: dict[str, VariantPaths]) -> None:
    for paths in built.values():
        dataset = DatasetReader(paths.root)
        assert list(dataset.windows.columns[: len(WINDOW_COLUMNS)]) == WINDOW_COLUMNS
        assert not dataset.windows["window_id"].duplicated().any()
        for split in SPLITS:
            windows = dataset.split_windows(split)
            arrays = dataset.arrays(split)
            assert arrays.tokens.dtype == np.uint8 and arrays.labels.dtype == np.uint8 and arrays.weights.dtype == np.uint8
            ends = windows["offset"] + windows["length"]
            assert windows["offset"].iloc[0] == 0 and (windows["offset"].iloc[1:].to_numpy() == ends.iloc[:-1].to_numpy()).all()
            assert ends.iloc[-1] == len(arrays.tokens)


# --- leakage ---------------------------------------------------------------------------------------------------------------
def test_containment_agrees_with_sourmash_on_the_exported_fasta(built: dict[str, VariantPaths]) -> None:
    """sourmash's own sketch of the training FASTA and its contained_by() give each held-out window's value."""
    paths = built["random"]
    train = sourmash.MinHash(n=0, ksize=21, scaled=10)
    for entry in pysam.FastxFile(str(paths.fasta("train"))):
        train.add_sequence(entry.sequence, force=True)
    windows = DatasetReader(paths.root).windows.set_index("window_id")
    for entry in list(pysam.FastxFile(str(paths.fasta("test"))))[:25]:
        sketch = sourmash.MinHash(n=0, ksize=21, scaled=10)
        sketch.add_sequence(entry.sequence, force=True)
        assert windows.loc[entry.name, "leakage_containment"] == pytest.approx(sketch.contained_by(train))
        assert windows.loc[entry.name, "leakage_hashes"] == len(sketch)
    signature = next(iter(sourmash.load_file_as_signatures(str(paths.signature))))
    assert signature.minhash.ksize == 21 and len(signature.minhash) == len(train)


def test_random_control_leaks_and_homology_split_does_not(built: dict[str, VariantPaths]) -> None:
    def test_containment(name: str) -> pd.Series:
        windows = DatasetReader(built[name].root).windows
        return windows.loc[windows["split"] == "test", "leakage_containment"]

    random, hg = test_containment("random"), test_containment("hg")
    assert random.mean() > 0.3 and (random > 0.5).mean() > 0.3
    assert hg.mean() < 0.05 and hg.median() < 0.01
    audit = pd.read_csv(built["hg"].audit_table, sep="\t")
    assert audit.loc[(audit["split"] == "test") & (audit["cultivar"] == "all"), "mean_containment"].iloc[0] == pytest.approx(hg.mean(), abs=1e-4)


def test_windows_above_the_leakage_threshold_are_removed(built: dict[str, VariantPaths]) -> None:
    windows = DatasetReader(built["genic"].root).windows
    held_out = windows[windows["split"] != "train"]
    assert (held_out["leakage_containment"] <= 0.5).all()
    manifest = json.loads(built["genic"].manifest.read_text())
    planned = pd.read_parquet(built["genic"].plan)
    removed = sum(manifest["splits"][s]["removed_for_leakage"] for s in SPLITS)
    dropped_for_n = manifest["dropped_windows"]["n_fraction"]
    assert len(windows) + removed + dropped_for_n == len(planned)


# --- exports ----------------------------------------------------------------------------------------------------------------
def test_fasta_exports_hold_every_window_without_its_tag(built: dict[str, VariantPaths]) -> None:
    for name in ("genic", "chroms"):
        dataset = DatasetReader(built[name].root)
        for split in SPLITS:
            windows = dataset.split_windows(split)
            tokens = dataset.arrays(split).tokens
            records = list(pysam.FastxFile(str(built[name].fasta(split))))
            assert [r.name for r in records] == list(windows["window_id"])
            for record, row in zip(records[:50], windows.itertuples()):
                assert record.sequence.encode() == bytes(tokens[row.offset + row.prefix_length : row.offset + row.length])
            indexed = pysam.FastaFile(str(built[name].fasta(split)))
            assert indexed.references[0] == windows["window_id"].iloc[0] and indexed.lengths[0] == windows["length"].iloc[0] - windows["prefix_length"].iloc[0]


# keys of Evo2PreprocessingConfig (bionemo-evo2 @ e2150f8, evo2-toolchain.md §4.1): unknown keys are silently ignored
# by BioNeMo, so a typo here would go unnoticed there
BIONEMO_KEYS = {
    "datapaths", "output_dir", "output_prefix", "train_split", "valid_split", "test_split", "overwrite",
    "embed_reverse_complement", "random_reverse_complement", "random_lineage_dropout", "transcribe", "force_uppercase",
    "indexed_dataset_dtype", "append_eod", "enforce_sample_length", "ftfy", "tokenizer_type", "vocab_file",
    "vocab_size", "merges_file", "tokenizer_model_name", "pretrained_tokenizer_model", "special_tokens",
    "fast_hf_tokenizer", "workers", "preproc_concurrency", "chunksize", "drop_empty_sequences", "nnn_filter", "seed",
    "taxonomy_data", "prompt_spacer_length",
}  # fmt: skip
LINEAGE_KEYS = {"domain", "phylum", "clazz", "order", "family", "genus", "species"}


def test_bionemo_yamls(built: dict[str, VariantPaths]) -> None:
    paths = built["genic"]
    for split, short in (("train", "train"), ("validation", "val"), ("test", "test")):
        configs = yaml.safe_load((paths.bionemo / f"preprocess_{split}.yaml").read_text())
        assert isinstance(configs, list) and len(configs) == 1
        config = configs[0]
        assert set(config) <= BIONEMO_KEYS
        assert config["datapaths"] == [str(paths.fasta(split))] and Path(config["datapaths"][0]).exists()
        weights = (config["train_split"], config["valid_split"], config["test_split"])
        assert weights == tuple(1.0 if s == split else 0.0 for s in SPLITS)
        assert config["output_prefix"] == f"genic_{split}" and "." not in config["output_prefix"]
        assert config["force_uppercase"] is False and config["tokenizer_type"] == "Byte-Level"
        for key, lineage in config["taxonomy_data"].items():
            assert key.endswith(":") and set(lineage) == LINEAGE_KEYS
        ids = [r.name for r in pysam.FastxFile(config["datapaths"][0])]
        assert all(any(key in i for key in config["taxonomy_data"]) for i in ids)
    entries = yaml.safe_load((paths.bionemo / "dataset_config.yaml").read_text())
    assert entries == [
        {"dataset_prefix": "genic_train_byte-level_train", "dataset_split": "train", "dataset_weight": 1.0},
        {"dataset_prefix": "genic_validation_byte-level_val", "dataset_split": "validation", "dataset_weight": 1.0},
        {"dataset_prefix": "genic_test_byte-level_test", "dataset_split": "test", "dataset_weight": 1.0},
    ]
    upper = yaml.safe_load((built["chroms"].bionemo / "preprocess_train.yaml").read_text())[0]
    assert upper["force_uppercase"] is True and "taxonomy_data" not in upper


def test_card_lists_checksums_counts_and_leakage(built: dict[str, VariantPaths], genomes: Path) -> None:
    html = built["cultivar"].card.read_text()
    for cultivar in ("mockcane", "thaliana"):
        digest = hashlib.sha256((genomes / "genomes" / cultivar / "genome.fa.gz").read_bytes()).hexdigest()
        assert digest in html
    windows = DatasetReader(built["cultivar"].root).windows
    assert f"<td>{int((windows['split'] == 'test').sum())}</td>" in html
    for text in ("Leakage audit", "Bases per region", "Split assignment of records", "homolog", "Parameters"):
        assert text in html
    hg = built["hg"].card.read_text()
    assert "recombinant spanning groups 1 (train), 2 (test): dropped" in hg
    assert (built["hg"].root / "audit" / "leakage.png").stat().st_size > 10_000


# --- determinism ------------------------------------------------------------------------------------------------------------
def test_same_config_and_seed_give_byte_identical_outputs(genomes: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two runs in two directories with the workflow's relative layout: every file identical, byte for byte."""
    config = demo_config()
    runs = []
    for run in ("first", "second"):
        (tmp_path / run).mkdir()
        monkeypatch.chdir(tmp_path / run)
        runs.append({name: build_variant(genomes, Path("results/datasets"), config, name).root.resolve() for name in ("genic", "random")})
    for name in ("genic", "random"):
        first, second = runs[0][name], runs[1][name]
        files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
        assert files == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file()) and len(files) > 20
        for relative in files:
            assert (first / relative).read_bytes() == (second / relative).read_bytes(), relative
    monkeypatch.chdir(tmp_path)
    other_seed = demo_config({"random": {**VARIANTS["random"], "seed": 7}})
    changed = build_variant(genomes, tmp_path / "seed7", other_seed, "random")
    assert changed.plan.read_bytes() != (runs[0]["random"] / "plan.parquet").read_bytes()


# --- bad input ----------------------------------------------------------------------------------------------------------------
def _plan(genomes: Path, tmp_path: Path, variant: dict[str, Any]) -> VariantPaths:
    config = demo_config({"v": variant})
    spec = resolve_variant(config, "v")
    paths = VariantPaths(tmp_path / "v")
    plan_step(spec, {c: genomes / "genomes" / c for c in spec["cultivars"]}, {}, paths.root)
    return paths


def test_empty_split_is_an_error_with_nothing_written(genomes: Path, tmp_path: Path) -> None:
    # thaliana's one record spans groups 1 and 2: with group 2 held out it is dropped, and no split keeps a window
    with pytest.raises(EvocaneError, match="the train split is empty"):
        _plan(genomes, tmp_path, {"cultivars": ["thaliana"], "split": {"strategy": "homology_group", "test": [2]}})
    assert not (tmp_path / "v").exists() or not any((tmp_path / "v").rglob("*.*"))
    with pytest.raises(EvocaneError, match=r"split.test': homology group '7' has no kept record .*groups present: 1, 2\)"):
        _plan(genomes, tmp_path, {"split": {"strategy": "homology_group", "test": [7]}})
    assert not (tmp_path / "v").exists() or not any((tmp_path / "v").rglob("*.*"))


def test_window_longer_than_every_record_is_an_error(genomes: Path, tmp_path: Path) -> None:
    with pytest.raises(EvocaneError, match=r"window length 300000 is longer than every record \(longest: .*200000 bases\)"):
        _plan(genomes, tmp_path, {"split": {"strategy": "homology_group", "test": [2]}, "windows": {"length": 300_000}})


def test_config_mistakes_are_errors_naming_the_key() -> None:
    bad = {
        "unknown cultivar": ({"cultivars": ["nope"], "split": {"strategy": "random_windows"}}, "datasets.variants.v.cultivars"),
        "listed twice": ({"split": {"strategy": "homology_group", "validation": [2], "test": [2]}}, "listed in both validation and test"),
        "no test": ({"split": {"strategy": "cultivar", "train": ["mockcane"]}}, "datasets.variants.v.split.test"),
        "bins": ({"split": {"strategy": "random_windows"}, "leakage": {"bins": [0.5, 0.1]}}, "strictly increasing"),
        "fraction": ({"split": {"strategy": "random_windows", "fractions": {"test": 0}}}, "split.fractions.test"),
    }
    for label, (variant, message) in bad.items():
        with pytest.raises(EvocaneError, match=message):
            resolve_variant(demo_config({"v": variant}), "v")
    config = demo_config({"v": {"split": {"strategy": "random_windows"}, "windows": {"lineage_tag": True}}})
    del config["cultivars"]["thaliana"]["lineage"]
    with pytest.raises(EvocaneError, match="cultivar 'thaliana' has no 'lineage'"):
        resolve_variant(config, "v")
    with pytest.raises(EvocaneError, match="unknown config key 'datasets.variants.v.windows.lenght'"):
        demo_config({"v": {"split": {"strategy": "random_windows"}, "windows": {"lenght": 10}}})
    with pytest.raises(EvocaneError, match="datasets.variants"):
        demo_config({"bad.name": {"split": {"strategy": "random_windows"}}})


def _fake_genome(root: Path, records: dict[str, str]) -> Path:
    """A prepared-genome folder (genome.fa.gz, records.tsv) with the given records in HG 1/2 haplotype names."""
    root.mkdir(parents=True, exist_ok=True)
    source = root / "src.fa"
    source.write_text("".join(f">{name}\n{seq}\n" for name, seq in records.items()))
    prepare_genome("toy", [source_files({"sources": [{"fasta": {"path": str(source)}}]}, "toy")[0]], {}, root / "genomes" / "toy")
    regions = root / "datasets" / "regions"
    regions_step("toy", root / "genomes" / "toy", {"promoter_length": 1000, "gene_types": ["gene"]}, regions / "toy.bed.gz", regions / "toy.summary.json")
    return root


def _toy_config(windows: dict[str, Any] | None = None) -> dict[str, Any]:
    config = {
        "cultivars": {"toy": {"sources": [{"fasta": {"path": "x"}}]}},
        "datasets": {"variants": {"t": {"split": {"strategy": "homology_group", "test": [2]}, "windows": {"length": 100, **(windows or {})}}}},
    }
    return validate_config(config)


def test_entirely_n_or_soft_masked_records_warn_and_a_resulting_empty_split_fails_cleanly(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)

    def dna(n: int) -> str:
        return "".join(rng.choice(list("ACGT"), n))

    root = _fake_genome(tmp_path, {"Chr1A": dna(5000), "Chr1B": "N" * 3000, "Chr2A": dna(2000).lower(), "Chr2B": dna(2000)})
    config = _toy_config()
    paths = build_variant(root, tmp_path / "out", config, "t")
    manifest = json.loads(paths.manifest.read_text())
    assert "toy:Chr1B is entirely N/ambiguous: no windows" in manifest["warnings"]
    assert "toy:Chr2A is entirely soft-masked (every base is repeat-labelled)" in manifest["warnings"]
    windows = DatasetReader(paths.root).windows
    assert "Chr1B" not in set(windows["chrom"])
    assert (windows.loc[windows["chrom"] == "Chr2A", "repeat_fraction"] == 1.0).all()

    # dropping repetitive windows leaves the test split with Chr2B only; without Chr2B it is empty -> error, nothing written
    root2 = _fake_genome(tmp_path / "b", {"Chr1A": dna(5000), "Chr2A": dna(2000).lower()})
    config = _toy_config({"softmask": "drop"})
    spec = resolve_variant(config, "t")
    out = VariantPaths(tmp_path / "b" / "out" / "t")
    genome_dirs = {"toy": root2 / "genomes" / "toy"}
    plan_step(spec, genome_dirs, {}, out.root)
    sketch_step(spec, "toy", genome_dirs["toy"], out.plan, out.sketch("toy"))
    with pytest.raises(EvocaneError, match=r"the test split is empty after filtering \(.*for repeats: \d+"):
        build_step(spec, genome_dirs, {"toy": root2 / "datasets" / "regions" / "toy.bed.gz"}, out.plan, [out.sketch("toy")], out.root)
    assert not out.windows.exists() and not out.manifest.exists() and not (out.root / "arrays").exists()
    assert not list(out.root.glob(".build-*"))


def test_cli_reports_one_error_line_and_exit_2(tmp_path: Path) -> None:
    config = load_config(REPO / "config" / "config.yaml")
    config["datasets"]["variants"] = {"v": {"split": {"strategy": "homology_group", "test": [9]}}}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"cultivars": config["cultivars"], "datasets": config["datasets"]}))
    result = run_cli("dataset-plan", "--config", str(path), "--variant", "v", "--genomes", str(tmp_path / "missing"), "--datasets", str(tmp_path / "d"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("evocane: error:")
