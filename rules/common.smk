# Snakefile-side helpers: config validation, wildcard constraints, input functions and target lists.
# Logic lives in the evocane package (src/evocane); rules only wire files to its commands and scripts.

import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from evocane.config import validate_config  # noqa: E402
from evocane.errors import EvocaneError  # noqa: E402
from evocane.genome.sources import local_path, url_downloads  # noqa: E402

_config_source = ", ".join(str(p) for p in workflow.configfiles) or "config"
try:
    validate_config(config, Path(workflow.basedir) / "config" / "schema.yaml", source=_config_source)
except EvocaneError as _error:
    raise WorkflowError(str(_error)) from None

CULTIVARS = list(config["cultivars"])
RESULTS = "results"
DOWNLOADS = Path("resources/downloads")


wildcard_constraints:
    cultivar="|".join(CULTIVARS),


# --- downloads -----------------------------------------------------------------------------------------------------
DOWNLOAD_TARGETS = {}
for _cultivar in CULTIVARS:
    DOWNLOAD_TARGETS.update(url_downloads(config["cultivars"][_cultivar], _cultivar, DOWNLOADS))


def download_spec(wildcards):
    return DOWNLOAD_TARGETS[f"{DOWNLOADS}/{wildcards.cultivar}/{wildcards.filename}"]


def source_inputs(wildcards):
    """Every local file a cultivar's prepare step reads. URL sources are produced by the download rule; a local
    path that does not exist yet is left out here so `snakemake -n` still plans, and the prepare step then fails
    with a message naming the missing file."""
    spec = config["cultivars"][wildcards.cultivar]
    paths = []
    for source in spec["sources"]:
        for kind in ("fasta", "gff3"):
            location = source.get(kind)
            if not location:
                continue
            path = local_path(location, wildcards.cultivar, DOWNLOADS)
            if "url" in location or path.exists():
                paths.append(str(path))
    return paths


def qc_expectation_args(cultivar):
    homology = config["cultivars"][cultivar]["homology"]
    args = []
    if homology.get("expected_groups"):
        args.append(f"--expected-groups {homology['expected_groups']}")
    if homology.get("max_haplotypes"):
        args.append(f"--max-haplotypes {homology['max_haplotypes']}")
    return " ".join(args)


# --- targets -------------------------------------------------------------------------------------------------------
def genome_targets():
    return expand(f"{RESULTS}/genomes/{{cultivar}}/qc.tsv", cultivar=CULTIVARS) + [
        f"{RESULTS}/qc/summary.tsv",
        f"{RESULTS}/qc/records.tsv",
        f"{RESULTS}/qc/record_composition.{config['qc']['plot_format']}",
        f"{RESULTS}/qc/gc_vs_softmask.{config['qc']['plot_format']}",
    ]


# Each room's .smk file appends a function returning its final targets; `rule all` collects them.
TARGET_FUNCTIONS = [genome_targets]


def all_targets():
    return [target for function in TARGET_FUNCTIONS for target in function()]
