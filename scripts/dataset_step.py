"""Rules of rules/datasets.smk: run the dataset step the rule is named after (evocane.dataset.steps; audit and
comparison, which draw figures: evocane.plots.dataset) with the rule's inputs, outputs and params. The same steps run
by hand as `evocane dataset-*`."""

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import evocane_path  # noqa: F401

from evocane.dataset import steps
from evocane.errors import EvocaneError
from evocane.plots import dataset as dataset_plots

if TYPE_CHECKING:
    from snakemake.script import snakemake

sys.stderr = open(snakemake.log[0], "w", buffering=1)
logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
rule, inputs, outputs, params, wildcards = snakemake.rule, snakemake.input, snakemake.output, snakemake.params, snakemake.wildcards


def run() -> None:
    if rule == "dataset_regions":
        steps.regions_step(wildcards.cultivar, Path(inputs.records).parent, params.settings, outputs.bed, outputs.summary)
    elif rule == "dataset_plan":
        regions = params.regions if params.spec["sampling"]["mode"] == "genic" else {}
        steps.plan_step(params.spec, params.genome_dirs, regions, Path(outputs.plan).parent)
    elif rule == "dataset_sketch":
        steps.sketch_step(params.spec, wildcards.cultivar, Path(inputs.records).parent, inputs.plan, outputs[0])
    elif rule == "dataset_build":
        steps.build_step(params.spec, params.genome_dirs, params.regions, inputs.plan, list(inputs.sketches), Path(outputs.windows).parent)
    elif rule == "dataset_export":
        fastas = dict(zip(("train", "validation", "test"), map(str, outputs.fasta)))
        for split, fasta in fastas.items():
            steps.fasta_step(Path(inputs.windows).parent, split, fasta)
        steps.bionemo_step(params.spec, Path(inputs.windows).parent, fastas, Path(outputs.dataset_config).parent)
    elif rule == "dataset_audit":
        dataset_plots.audit_step(params.spec, Path(inputs.windows).parent, list(inputs.sketches), outputs.table, outputs.leakage, outputs.composition, outputs.signature)
    elif rule == "dataset_card":
        steps.card_step(params.spec, params.cultivars, Path(inputs.windows).parent, params.genome_dirs, params.region_summaries, outputs[0])
    elif rule == "dataset_comparison":
        dataset_plots.comparison_step(params.variants, outputs.table, outputs.plot)
    else:
        raise EvocaneError(f"scripts/dataset_step.py: no dataset step for rule '{rule}'")


try:
    run()
except EvocaneError as error:
    print(f"evocane: error: {error}", file=sys.stderr)
    sys.exit(2)
