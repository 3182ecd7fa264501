# Snakefile-side helpers: the one resolved configuration, wildcard constraints, input functions and target lists.
# Logic lives in the evocane package (src/evocane); rules only wire files to its commands. Every path under
# results/ comes from evocane.layout.

import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from evocane import layout  # noqa: E402
from evocane.config import resolve_config, write_job_config  # noqa: E402
from evocane.errors import EvocaneError  # noqa: E402
from evocane.genome.sources import local_path, url_downloads  # noqa: E402

# Snakemake merged, lowest first: the Snakefile's configfile (the demo, unless a whole --configfile replaces it),
# the --configfile files in order, then --config values (all strings when nested: coerced to the schema's types).
_CONFIG_FILES = [f for f in workflow.configfiles if f not in workflow.overwrite_configfiles]
_CONFIG_FILES += [f for f in workflow.overwrite_configfiles]
_config_source = ", ".join(str(p) for p in _CONFIG_FILES) or "config"
try:
    resolve_config(
        config, _CONFIG_FILES, workflow.config_settings.config, Path(workflow.basedir) / "config" / "schema.yaml"
    )
except EvocaneError as _error:
    raise WorkflowError(str(_error)) from None

from evocane.experiments import experiment_runs  # noqa: E402
from evocane.engines.base import check_engine_params  # noqa: E402
from evocane.report.workflow import CATEGORIES, ReportPlan  # noqa: E402

# the report's reading order (categories, per-variant subcategories) and the report rules' inputs; the engines'
# own checks first, so a model's bad key is named before what follows from it (e.g. a baseline with no model)
try:
    check_engine_params(config)
    REPORT = ReportPlan(config, experiment_runs(config))
except EvocaneError as _error:
    raise WorkflowError(f"{_config_source}: {_error}") from None


def job_config(*keys, **resolved):
    """A params function: the job config holding the resolved values at ``keys`` (dotted, wildcards such as
    {model} filled per job; or functions of wildcards returning such keys), plus ``resolved`` entries (functions of wildcards) for values resolved beyond the
    config, e.g. a dataset step's view of its variant. Written once per distinct content under results/config/,
    so its name, the param, changes exactly when a value the job reads changes."""

    def path(wildcards):
        values = dict(wildcards.items())
        keys_here = []
        for key in keys:  # a dotted key, or a function of wildcards returning several
            keys_here += key(wildcards) if callable(key) else [key.format_map(values)]
        extra = {name: function(wildcards) for name, function in resolved.items()}
        return str(write_job_config(config, keys_here, layout.job_configs(), extra))

    return path


CULTIVARS = list(config["cultivars"])


wildcard_constraints:
    cultivar="|".join(CULTIVARS),


# --- downloads -----------------------------------------------------------------------------------------------------
DOWNLOADS = Path(layout.DOWNLOADS)
DOWNLOAD_TARGETS = {}
for _cultivar in CULTIVARS:
    DOWNLOAD_TARGETS.update(url_downloads(config["cultivars"][_cultivar], _cultivar, DOWNLOADS))


def download_spec(wildcards):
    return DOWNLOAD_TARGETS[layout.download(wildcards.cultivar, wildcards.filename)]


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


def qc_report_output(name, caption, label_kind, label):
    return report(layout.qc_file(name), caption=caption, category=CATEGORIES["genomes"], subcategory="QC", labels={label_kind: label})


# --- targets -------------------------------------------------------------------------------------------------------
QC_PLOT_FORMAT = config["qc"]["plot_format"]


def genome_targets():
    return expand(layout.genome_file("qc.tsv"), cultivar=CULTIVARS) + [
        layout.qc_file("summary.tsv"),
        layout.qc_file("records.tsv"),
        layout.qc_file(f"record_composition.{QC_PLOT_FORMAT}"),
        layout.qc_file(f"gc_vs_softmask.{QC_PLOT_FORMAT}"),
    ]


# Each room's .smk file appends a function returning its final targets; `rule all` collects them.
TARGET_FUNCTIONS = [genome_targets]


def all_targets():
    return [target for function in TARGET_FUNCTIONS for target in function()]
