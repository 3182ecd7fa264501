"""Input, parameter and target functions of rules/datasets.smk (kept here so the rule file holds only rules).

Every parameter is the part of the resolved variant that the rule's step reads (``spec_view``), so Snakemake's
params trigger reruns exactly the steps a config change touches.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from evocane.dataset.arrays import SPLITS
from evocane.dataset.config import check_datasets, resolve_variant, spec_view, variant_names

Wildcards = Any


class DatasetRules:
    def __init__(self, config: Mapping[str, Any], plot_format: str = "png"):
        check_datasets(config)
        self.config = config
        self.variants = variant_names(config)
        self.variant_pattern = "|".join(self.variants) or "(?!)"
        self.split_pattern = "|".join(SPLITS)
        self.plot_format = plot_format

    def _spec(self, wildcards: Wildcards) -> dict[str, Any]:
        return resolve_variant(self.config, wildcards.variant)

    def spec(self, step: str) -> Callable[[Wildcards], dict[str, Any]]:
        return lambda wildcards: spec_view(self._spec(wildcards), step)

    def cultivar_configs(self, wildcards: Wildcards) -> dict[str, Any]:
        return {c: self.config["cultivars"][c] for c in self._spec(wildcards)["cultivars"]}

    def genome_files(self, *names: str) -> Callable[[Wildcards], list[str]]:
        """Genome-room files of every cultivar of the variant."""
        return lambda wildcards: [f"results/genomes/{c}/{name}" for c in self._spec(wildcards)["cultivars"] for name in names]

    def genome_dirs(self, wildcards: Wildcards) -> dict[str, str]:
        return {c: f"results/genomes/{c}" for c in self._spec(wildcards)["cultivars"]}

    def regions(self, suffix: str = ".bed.gz") -> Callable[[Wildcards], dict[str, str]]:
        return lambda wildcards: {c: f"results/datasets/regions/{c}{suffix}" for c in self._spec(wildcards)["cultivars"]}

    def region_files(self, suffix: str = ".bed.gz", genic_only: bool = False) -> Callable[[Wildcards], list[str]]:
        def files(wildcards: Wildcards) -> list[str]:
            spec = self._spec(wildcards)
            if genic_only and spec["sampling"]["mode"] != "genic":
                return []
            return [f"results/datasets/regions/{c}{suffix}" for c in spec["cultivars"]]

        return files

    def sketches(self, wildcards: Wildcards) -> list[str]:
        spec = self._spec(wildcards)
        if not spec["leakage"]["enabled"]:
            return []
        return [f"results/datasets/{wildcards.variant}/audit/sketch/{c}.npy" for c in spec["cultivars"]]

    def variant_dirs(self) -> dict[str, str]:
        return {name: f"results/datasets/{name}" for name in self.variants}

    def targets(self) -> list[str]:
        out = []
        for variant in self.variants:
            root = f"results/datasets/{variant}"
            out += [f"{root}/card.html", f"{root}/audit/leakage.tsv", f"{root}/audit/leakage.{self.plot_format}",
                    f"{root}/audit/composition.{self.plot_format}", f"{root}/audit/train.sig", f"{root}/bionemo/dataset_config.yaml"]  # fmt: skip
            out += [f"{root}/splits/{split}.bed" for split in SPLITS] + [f"{root}/fasta/{split}.fa" for split in SPLITS]
        if self.variants:
            out += ["results/datasets/comparison/leakage.tsv", f"results/datasets/comparison/leakage.{self.plot_format}"]
        return out
