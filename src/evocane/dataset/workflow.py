"""Input, parameter and target functions of rules/datasets.smk (kept here so the rule file holds only rules).

Each step's job config carries the part of the resolved variant that the step reads (``spec_view``, under
``dataset_step``), so Snakemake's params trigger reruns exactly the steps a config change touches.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from evocane import layout
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
        """The step's view of the job's variant (the ``dataset_step`` entry of its job config)."""
        return lambda wildcards: spec_view(self._spec(wildcards), step)

    def cultivar_keys(self, wildcards: Wildcards) -> list[str]:
        """Config keys of the variant's cultivars (the dataset card records their sources)."""
        return [f"cultivars.{c}" for c in self._spec(wildcards)["cultivars"]]

    def genome_files(self, *names: str) -> Callable[[Wildcards], list[str]]:
        """Genome-room files of every cultivar of the variant."""
        return lambda wildcards: [layout.genome_file(name, c) for c in self._spec(wildcards)["cultivars"] for name in names]

    def region_files(self, suffix: str = ".bed.gz", genic_only: bool = False) -> Callable[[Wildcards], list[str]]:
        def files(wildcards: Wildcards) -> list[str]:
            spec = self._spec(wildcards)
            if genic_only and spec["sampling"]["mode"] != "genic":
                return []
            return [layout.regions(c, suffix) for c in spec["cultivars"]]

        return files

    def sketches(self, wildcards: Wildcards) -> list[str]:
        spec = self._spec(wildcards)
        if not spec["leakage"]["enabled"]:
            return []
        paths = layout.VariantPaths.of(wildcards.variant)
        return [str(paths.sketch(c)) for c in spec["cultivars"]]

    def targets(self) -> list[str]:
        out = []
        for variant in self.variants:
            paths = layout.VariantPaths.of(variant)
            out += [str(p) for p in (paths.card, paths.audit_table, paths.audit_figure("leakage", self.plot_format),
                                     paths.audit_figure("composition", self.plot_format), paths.signature,
                                     paths.bionemo / "dataset_config.yaml")]  # fmt: skip
            out += [str(paths.split_bed(split)) for split in SPLITS] + [str(paths.fasta(split)) for split in SPLITS]
        if self.variants:
            out += [layout.dataset_comparison("leakage.tsv"), layout.dataset_comparison(f"leakage.{self.plot_format}")]
        return out
