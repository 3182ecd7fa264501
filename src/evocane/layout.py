"""Every path under results/: the one place that names them.

Rules, CLI defaults, engines and evaluation all take their paths from here. Each function returns a path relative
to the working directory; called without arguments it returns the Snakemake pattern (``{model}``, ``{variant}``
... left as wildcards), so ``layout.checkpoint()`` is a rule's output and ``layout.checkpoint("hf-lora",
"homology_split")`` the directory of one model.

    results/config/{sha}.json                              job configs (evocane.config.write_job_config)
    results/genomes/{cultivar}/genome.fa.gz(.fai,.gzi), annotation.gff3.gz, records.tsv, qc.tsv
    results/qc/summary.tsv, records.tsv, *.{fmt}           QC across cultivars
    results/datasets/regions/{cultivar}.bed.gz|.summary.json
    results/datasets/{variant}/...                         the dataset contract (VariantPaths below)
    results/datasets/{variant}/scored/                     scored subset (evaluation.nextbase.subset)
    results/datasets/comparison/leakage.tsv|.{fmt}
    results/models/{model}/{variant}/checkpoint/           engine checkpoints
    results/predictions/{model}/{variant}/{split}/         prediction contract
    results/predictions/{model}/{variant}/{split}.shards/{shard}-of-{shards}/   shards before the gather (temporary)
    results/prompts/{variant}.fa, results/generation/{model}/{variant}/generated.fa
    results/embeddings/{model}/{variant}/{split}/
    results/engines/{engine}/loss_curves.tsv|.{fmt}
    results/evaluation/{variant}/nextbase/...              next-base metrics and figures
    results/tasks/{variant}/{task}/inputs|predictions/{model}|generated/{model}|evaluation/
    results/tasks/{variant}/{task}/predictions/{model}.shards/{shard}-of-{shards}/      (temporary)
    results/leaderboard.csv, results/evaluation/leaderboard_table.tsv
    results/hpo/{study}/journal.log, trials/{slot}.json, best.yaml, trials.tsv, *.{fmt}   Optuna studies
    results/models/{model}/{variant}/MODEL_CARD.md         model cards (after evaluation)
    results/benchmark/{variant}-{version}/                 benchmark bundles (evocane.benchmark)
    results/submissions/{model}/{variant}/                 exchange-format submissions the workflow writes
    results/bionemo/...                                    BioNeMo working files (engines.bionemo.paths)
    results/report/summary.html, leaderboard.html, leakage.{fmt}, models.tsv|.html   the report's own items
    results/**/<table>.html                                browsable page of a report table (layout.table_page)
    results/report.html
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

RESULTS = "results"
DOWNLOADS = "resources/downloads"


def _under(*parts: str) -> str:
    return "/".join((RESULTS, *parts))


# --- configuration ---------------------------------------------------------------------------------------------------
def job_configs() -> str:
    return _under("config")


# --- genomes -----------------------------------------------------------------------------------------------------------
def download(cultivar: str = "{cultivar}", filename: str = "{filename}") -> str:
    return f"{DOWNLOADS}/{cultivar}/{filename}"


def genomes() -> str:
    return _under("genomes")


def genome_dir(cultivar: str = "{cultivar}") -> str:
    return _under("genomes", cultivar)


def genome_file(name: str, cultivar: str = "{cultivar}") -> str:
    """A prepared genome's files: genome.fa.gz(.fai, .gzi), annotation.gff3.gz, records.tsv, qc.tsv."""
    return f"{genome_dir(cultivar)}/{name}"


def qc_file(name: str) -> str:
    return _under("qc", name)


# --- datasets ---------------------------------------------------------------------------------------------------------
def datasets() -> str:
    return _under("datasets")


def regions(cultivar: str = "{cultivar}", suffix: str = ".bed.gz") -> str:
    return _under("datasets", "regions", f"{cultivar}{suffix}")


def dataset(variant: str = "{variant}") -> str:
    return _under("datasets", variant)


def scored_dataset(variant: str = "{variant}") -> str:
    return f"{dataset(variant)}/scored"


def dataset_comparison(name: str) -> str:
    return _under("datasets", "comparison", name)


@dataclass(frozen=True)
class VariantPaths:
    """The files of one dataset variant, under its root (``dataset(variant)``)."""

    root: Path

    @classmethod
    def of(cls, variant: str = "{variant}") -> VariantPaths:
        return cls(Path(dataset(variant)))

    @property
    def plan(self) -> Path:
        return self.root / "plan.parquet"

    @property
    def split_manifest(self) -> Path:
        return self.root / "splits" / "manifest.json"

    def split_bed(self, split: str) -> Path:
        return self.root / "splits" / f"{split}.bed"

    def sketch(self, cultivar: str) -> Path:
        return self.root / "audit" / "sketch" / f"{cultivar}.npy"

    @property
    def windows(self) -> Path:
        return self.root / "windows.parquet"

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.json"

    @property
    def arrays(self) -> Path:
        return self.root / "arrays"

    def fasta(self, split: str) -> Path:
        return self.root / "fasta" / f"{split}.fa"

    @property
    def bionemo(self) -> Path:
        return self.root / "bionemo"

    @property
    def audit_table(self) -> Path:
        return self.root / "audit" / "leakage.tsv"

    def audit_figure(self, name: str, plot_format: str) -> Path:
        return self.root / "audit" / f"{name}.{plot_format}"

    @property
    def signature(self) -> Path:
        return self.root / "audit" / "train.sig"

    @property
    def card(self) -> Path:
        return self.root / "card.html"


# --- engines ------------------------------------------------------------------------------------------------------------
def checkpoint(model: str = "{model}", variant: str = "{variant}") -> str:
    return _under("models", model, variant, "checkpoint")


def predictions(model: str = "{model}", variant: str = "{variant}", split: str = "{split}") -> str:
    return _under("predictions", model, variant, split)


def prediction_shard(model: str = "{model}", variant: str = "{variant}", split: str = "{split}", shard: str | int = "{shard}",
                     shards: str | int = "{shards}") -> str:  # fmt: skip
    """One shard's prediction set (a temporary of the sharded scoring, beside the gathered set)."""
    return f"{predictions(model, variant, split)}.shards/{shard}-of-{shards}"


def prompts(variant: str = "{variant}") -> str:
    return _under("prompts", f"{variant}.fa")


def generated(model: str = "{model}", variant: str = "{variant}") -> str:
    return _under("generation", model, variant, "generated.fa")


def embeddings(model: str = "{model}", variant: str = "{variant}", split: str = "{split}") -> str:
    return _under("embeddings", model, variant, split)


def loss_curves(engine: str, suffix: str) -> str:
    """An engine's training curves: ``suffix`` "tsv" for the table, the plot format for the figure."""
    return _under("engines", engine, f"loss_curves.{suffix}")


# --- evaluation ---------------------------------------------------------------------------------------------------------
def nextbase_dir(variant: str = "{variant}") -> str:
    return _under("evaluation", variant, "nextbase")


def nextbase_file(name: str, variant: str = "{variant}") -> str:
    return f"{nextbase_dir(variant)}/{name}"


def leaderboard() -> str:
    return _under("leaderboard.csv")


def leaderboard_table() -> str:
    return _under("evaluation", "leaderboard_table.tsv")


def task_dir(variant: str = "{variant}", task: str = "{task}") -> str:
    return _under("tasks", variant, task)


def task_inputs(variant: str = "{variant}", task: str = "{task}") -> str:
    return f"{task_dir(variant, task)}/inputs"


def task_predictions(variant: str = "{variant}", task: str = "{task}", model: str = "{model}") -> str:
    return f"{task_dir(variant, task)}/predictions/{model}"


def task_prediction_shard(variant: str = "{variant}", task: str = "{task}", model: str = "{model}", shard: str | int = "{shard}",
                          shards: str | int = "{shards}") -> str:  # fmt: skip
    return f"{task_predictions(variant, task, model)}.shards/{shard}-of-{shards}"


def task_generated(variant: str = "{variant}", model: str = "{model}", mode: str = "sampled") -> str:
    """Generation task continuations: ``mode`` "sampled" or "greedy"."""
    return f"{task_dir(variant, 'generation')}/generated/{model}/{mode}.fa"


def task_evaluation(variant: str = "{variant}", task: str = "{task}", name: str = "") -> str:
    directory = f"{task_dir(variant, task)}/evaluation"
    return f"{directory}/{name}" if name else directory


# --- hyperparameter search ---------------------------------------------------------------------------------------------
def hpo_dir(study: str = "{study}") -> str:
    return _under("hpo", study)


def hpo_journal(study: str = "{study}") -> str:
    """Optuna's journal file of a study (the default storage)."""
    return f"{hpo_dir(study)}/journal.log"


def hpo_trial(study: str = "{study}", slot: str = "{slot}") -> str:
    """The record of the trial run by one Snakemake job (slot)."""
    return f"{hpo_dir(study)}/trials/{slot}.json"


def hpo_work(study: str = "{study}", slot: str = "{slot}") -> str:
    """Scratch space of one trial job (its checkpoint and scores), removed when the trial ends."""
    return f"{hpo_dir(study)}/work/{slot}"


def hpo_file(name: str, study: str = "{study}") -> str:
    """best.yaml (the best trial's values), trials.tsv and the study's figures."""
    return f"{hpo_dir(study)}/{name}"


# --- benchmark release -------------------------------------------------------------------------------------------------
def model_card(model: str = "{model}", variant: str = "{variant}") -> str:
    return _under("models", model, variant, "MODEL_CARD.md")


def benchmark() -> str:
    """Root of the benchmark bundles, one ``{variant}-{version}/`` each (one job writes them all: a bundle's name
    holds its content hash, known only once it is written)."""
    return _under("benchmark")


def submission(model: str = "{model}", variant: str = "{variant}") -> str:
    """An exchange-format submission the workflow exports (an external model's ``export_from``)."""
    return _under("submissions", model, variant)


# --- BioNeMo and the report --------------------------------------------------------------------------------------------
def bionemo() -> str:
    return _under("bionemo")


def report() -> str:
    return _under("report.html")


def report_item(name: str) -> str:
    """Files made for the report: summary.html (also its landing page), leaderboard.html, leakage.{fmt},
    models.tsv|.html."""
    return _under("report", name)


def table_page(table: str) -> str:
    """The browsable HTML page of a TSV/CSV table, next to it (same name, suffix .html)."""
    return str(Path(table).with_suffix(".html"))
