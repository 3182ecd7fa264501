# evocane: polyploid-aware genomic language-model benchmark for sugarcane.
#
#   genomes + GFF3 -> QC -> datasets -> engines -> predictions -> evaluation -> report
#
# Outputs: everything under results/, laid out by src/evocane/layout.py (its docstring lists every path).
# Every job runs the configuration planned here: rules/common.smk resolves it once and hands each job the part it
# reads as a content-addressed job config (results/config/<sha256>.json).
#
# Run:  snakemake --cores 2                                  (default demo config)
#       snakemake --profile profiles/slurm-gpu --configfile config/sugarcane.yaml
#       snakemake --report results/report.html

from pathlib import Path

from snakemake.utils import min_version

from evocane.config import is_whole_config, load_yaml
from evocane.errors import EvocaneError

min_version("9.19")
DEMO_CONFIG = "config/config.yaml"


# The demo config is the base that --configfile overlays (e.g. `evo2: {enabled: true}`) merge over, unless a
# --configfile is a whole configuration naming its own genomes (`cultivars:`, e.g. config/sugarcane.yaml): then the
# demo's cultivars, dataset variants, models and experiments stay out of the run. The files are read with evocane's
# loader first: Snakemake's own reports a YAML syntax error without file or line (a --configfile with one never gets
# here: Snakemake reads those before the Snakefile; `evocane validate-config -c FILE` names the line).
try:
    _whole = is_whole_config(*workflow.overwrite_configfiles)
    if not _whole and Path(DEMO_CONFIG).exists():
        load_yaml(DEMO_CONFIG)
except EvocaneError as _error:
    raise WorkflowError(str(_error)) from None
if not _whole:

    configfile: DEMO_CONFIG


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/genomes.smk"
include: "rules/datasets.smk"
include: "rules/engines.smk"
include: "rules/evaluation.smk"
include: "rules/tasks.smk"
include: "rules/bionemo_functions.smk"
include: "rules/bionemo.smk"
include: "rules/evo2.smk"
include: "rules/hpo.smk"
include: "rules/benchmark.smk"
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        all_targets(),
