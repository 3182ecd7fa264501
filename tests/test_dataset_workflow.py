"""The dataset stage as users run it: `snakemake -n` lists each variant's jobs, the stage runs end to end on small
slices with cards and audits in the HTML report, and a config change reruns only what it touches."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from conftest import REPO, snakemake

VARIANTS = ["homology_split", "genic_enriched", "random_control", "by_cultivar"]


def _config(tmp_path: Path, max_length: int | None = None) -> dict:
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    if max_length:
        for cultivar in config["cultivars"].values():
            cultivar["max_length"] = max_length
    (tmp_path / "config").mkdir(exist_ok=True)
    (tmp_path / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return config


def _targets(variants: list[str]) -> list[str]:
    targets = ["results/datasets/comparison/leakage.tsv", "results/datasets/comparison/leakage.html"]
    for variant in variants:
        targets += [f"results/datasets/{variant}/card.html", f"results/datasets/{variant}/bionemo/dataset_config.yaml",
                    f"results/datasets/{variant}/audit/leakage.html"]  # fmt: skip
    return targets


def test_dry_run_lists_every_variant(tmp_path: Path) -> None:
    config = _config(tmp_path)
    assert set(VARIANTS) <= set(config["datasets"]["variants"])
    result = snakemake("-n", "--cores", "2", *_targets(VARIANTS), cwd=tmp_path)
    assert result.returncode == 0, result.stderr + result.stdout
    for variant in VARIANTS:
        for rule in ("dataset_plan", "dataset_build", "dataset_audit", "dataset_export", "dataset_card"):
            assert re.search(rf"rule {rule}:(?:(?!\nrule ).)*?wildcards: variant={variant}\b", result.stdout, re.S), (rule, variant)
    assert "dataset_regions" in result.stdout and "dataset_comparison" in result.stdout
    sugarcane = snakemake("-n", "--cores", "2", *_targets(VARIANTS), "--configfile", str(REPO / "config" / "sugarcane.yaml"), cwd=tmp_path)
    assert sugarcane.returncode == 0, sugarcane.stderr + sugarcane.stdout
    for cultivar in ("R570", "XTT22", "ZZ1"):
        assert f"results/datasets/homology_split/audit/sketch/{cultivar}.npy" in sugarcane.stdout
    assert "results/datasets/random_control/audit/sketch/R570.npy" in sugarcane.stdout


@pytest.mark.slow
def test_dataset_stage_end_to_end_with_report_and_minimal_reruns(tmp_path: Path) -> None:
    config = _config(tmp_path, max_length=150_000)
    # only the genome and dataset sections (other rooms' sections take their defaults: no models, no tasks)
    config = {"cultivars": config["cultivars"], "datasets": config["datasets"]}
    config["datasets"]["variants"] = {name: config["datasets"]["variants"][name] for name in ("homology_split", "random_control")}
    (tmp_path / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    targets = _targets(list(config["datasets"]["variants"]))
    run = snakemake("--cores", "2", *targets, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-5000:]
    comparison = (tmp_path / "results" / "datasets" / "comparison" / "leakage.tsv").read_text()
    rows = {tuple(line.split("\t")[:3]): line.split("\t") for line in comparison.splitlines()[1:]}
    random_test = float(rows[("random_control", "random_windows", "test")][4])
    homology_test = float(rows[("homology_split", "homology_group", "test")][4])
    assert random_test > 0.3 > 0.05 > homology_test
    for variant in config["datasets"]["variants"]:
        assert (tmp_path / "logs" / "datasets" / variant / "build.log").exists()

    report = snakemake("--report", "results/report.html", *targets, cwd=tmp_path)
    assert report.returncode == 0, report.stderr[-5000:]
    html = (tmp_path / "results" / "report.html").read_text()
    for text in ("8. Datasets", "Dataset card of variant", "Leakage audit of variant", "Leakage across dataset variants"):
        assert text in html

    # a change to one variant's leakage bins reruns its build and what follows, not its plan, sketch or other variants
    config["datasets"]["variants"]["homology_split"]["leakage"] = {"bins": [0.1, 0.3]}
    (tmp_path / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    dry = snakemake("-n", "--cores", "2", *targets, cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    jobs = re.findall(r"rule (\w+):\n(?:    .*\n)*?    wildcards: ([^\n]*)", dry.stdout)
    rerun = {(rule, wildcards) for rule, wildcards in jobs}
    assert ("dataset_build", "variant=homology_split") in rerun and ("dataset_card", "variant=homology_split") in rerun
    assert not any(rule in ("dataset_plan", "dataset_sketch", "dataset_regions") for rule, _ in rerun)
    assert not any("random_control" in w for _, w in rerun)
