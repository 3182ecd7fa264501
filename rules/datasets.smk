# Dataset room: per-cultivar region labels, then per variant: split plan, training sketch, windows + labels +
# tokens (the dataset contract), exports (FASTA, BioNeMo YAMLs), leakage audit and the dataset card.
# Every rule runs scripts/dataset_step.py, which calls evocane.dataset.steps (by hand: `evocane dataset-*`).

from evocane.dataset.config import check_datasets, resolve_variant, spec_view, variant_names  # noqa: E402

try:
    check_datasets(config)
except EvocaneError as _error:
    raise WorkflowError(str(_error)) from None

DATASET_VARIANTS = variant_names(config)
DATASET_SPLITS = ["train", "validation", "test"]
DATASET_PLOTS = config["qc"]["plot_format"]
DATASET_VARIANT_PATTERN = "|".join(DATASET_VARIANTS) or "(?!)"


def dataset_spec(step):
    return lambda wc: spec_view(resolve_variant(config, wc.variant), step)


def dataset_cultivars(wc):
    return resolve_variant(config, wc.variant)["cultivars"]


def dataset_genome_inputs(*names):
    """Genome-room files of every cultivar of the variant."""
    return lambda wc: [f"results/genomes/{c}/{name}" for c in dataset_cultivars(wc) for name in names]


def dataset_regions(suffix=".bed.gz"):
    return lambda wc: {c: f"results/datasets/regions/{c}{suffix}" for c in dataset_cultivars(wc)}


def dataset_sketches(wc):
    spec = resolve_variant(config, wc.variant)
    if not spec["leakage"]["enabled"]:
        return []
    return [f"results/datasets/{wc.variant}/audit/sketch/{c}.npy" for c in spec["cultivars"]]


def dataset_genome_dirs(wc):
    return {c: f"results/genomes/{c}" for c in dataset_cultivars(wc)}


rule dataset_regions:
    input:
        gff3="results/genomes/{cultivar}/annotation.gff3.gz",
        fai="results/genomes/{cultivar}/genome.fa.gz.fai",
        records="results/genomes/{cultivar}/records.tsv",
    output:
        bed="results/datasets/regions/{cultivar}.bed.gz",
        summary="results/datasets/regions/{cultivar}.summary.json",
    params:
        settings=config["datasets"]["regions"],
        genome_dir="results/genomes/{cultivar}",
    log:
        "logs/datasets/regions/{cultivar}.log",
    conda:
        "../envs/genome.yaml"
    script:
        "../scripts/dataset_step.py"


rule dataset_plan:
    input:
        records=dataset_genome_inputs("records.tsv"),
        fasta=dataset_genome_inputs("genome.fa.gz"),
        regions=lambda wc: list(dataset_regions()(wc).values()) if resolve_variant(config, wc.variant)["sampling"]["mode"] == "genic" else [],
    output:
        plan="results/datasets/{variant}/plan.parquet",
        manifest="results/datasets/{variant}/splits/manifest.json",
        beds=expand("results/datasets/{{variant}}/splits/{split}.bed", split=DATASET_SPLITS),
    params:
        spec=dataset_spec("plan"),
        genome_dirs=dataset_genome_dirs,
        regions=dataset_regions(),
    wildcard_constraints:
        variant=DATASET_VARIANT_PATTERN,
    log:
        "logs/datasets/{variant}/plan.log",
    conda:
        "../envs/genome.yaml"
    resources:
        mem_mb=config["datasets"]["mem_mb"],
    script:
        "../scripts/dataset_step.py"


rule dataset_sketch:
    input:
        plan="results/datasets/{variant}/plan.parquet",
        fasta="results/genomes/{cultivar}/genome.fa.gz",
    output:
        "results/datasets/{variant}/audit/sketch/{cultivar}.npy",
    params:
        spec=dataset_spec("sketch"),
        genome_dir="results/genomes/{cultivar}",
    wildcard_constraints:
        variant=DATASET_VARIANT_PATTERN,
    log:
        "logs/datasets/{variant}/sketch_{cultivar}.log",
    conda:
        "../envs/genome.yaml"
    resources:
        mem_mb=config["datasets"]["mem_mb"],
    script:
        "../scripts/dataset_step.py"


rule dataset_build:
    input:
        plan="results/datasets/{variant}/plan.parquet",
        fasta=dataset_genome_inputs("genome.fa.gz", "records.tsv"),
        regions=lambda wc: list(dataset_regions()(wc).values()),
        sketches=dataset_sketches,
    output:
        windows="results/datasets/{variant}/windows.parquet",
        arrays=directory("results/datasets/{variant}/arrays"),
        manifest="results/datasets/{variant}/manifest.json",
    params:
        spec=dataset_spec("build"),
        genome_dirs=dataset_genome_dirs,
        regions=dataset_regions(),
    wildcard_constraints:
        variant=DATASET_VARIANT_PATTERN,
    log:
        "logs/datasets/{variant}/build.log",
    conda:
        "../envs/genome.yaml"
    resources:
        mem_mb=config["datasets"]["mem_mb"],
    script:
        "../scripts/dataset_step.py"


rule dataset_export:
    input:
        windows="results/datasets/{variant}/windows.parquet",
        arrays="results/datasets/{variant}/arrays",
    output:
        fasta=expand("results/datasets/{{variant}}/fasta/{split}.fa", split=DATASET_SPLITS),
        fai=expand("results/datasets/{{variant}}/fasta/{split}.fa.fai", split=DATASET_SPLITS),
        preprocess=expand("results/datasets/{{variant}}/bionemo/preprocess_{split}.yaml", split=DATASET_SPLITS),
        dataset_config="results/datasets/{variant}/bionemo/dataset_config.yaml",
    params:
        spec=dataset_spec("bionemo"),
    wildcard_constraints:
        variant=DATASET_VARIANT_PATTERN,
    log:
        "logs/datasets/{variant}/export.log",
    conda:
        "../envs/genome.yaml"
    script:
        "../scripts/dataset_step.py"


rule dataset_audit:
    input:
        windows="results/datasets/{variant}/windows.parquet",
        manifest="results/datasets/{variant}/manifest.json",
        sketches=dataset_sketches,
    output:
        table=report(
            "results/datasets/{variant}/audit/leakage.tsv",
            caption="../report/dataset_leakage_table.rst",
            category="2. Datasets",
            subcategory="{variant}",
            labels={"variant": "{variant}", "item": "leakage table"},
        ),
        leakage=report(
            f"results/datasets/{{variant}}/audit/leakage.{DATASET_PLOTS}",
            caption="../report/dataset_leakage.rst",
            category="2. Datasets",
            subcategory="{variant}",
            labels={"variant": "{variant}", "item": "leakage figure"},
        ),
        composition=report(
            f"results/datasets/{{variant}}/audit/composition.{DATASET_PLOTS}",
            caption="../report/dataset_composition.rst",
            category="2. Datasets",
            subcategory="{variant}",
            labels={"variant": "{variant}", "item": "composition figure"},
        ),
        signature="results/datasets/{variant}/audit/train.sig",
    params:
        spec=dataset_spec("audit"),
    wildcard_constraints:
        variant=DATASET_VARIANT_PATTERN,
    log:
        "logs/datasets/{variant}/audit.log",
    conda:
        "../envs/genome.yaml"
    script:
        "../scripts/dataset_step.py"


rule dataset_card:
    input:
        windows="results/datasets/{variant}/windows.parquet",
        manifest="results/datasets/{variant}/manifest.json",
        split_manifest="results/datasets/{variant}/splits/manifest.json",
        audit="results/datasets/{variant}/audit/leakage.tsv",
        regions=lambda wc: list(dataset_regions(".summary.json")(wc).values()),
        genome=dataset_genome_inputs("genome.fa.gz", "annotation.gff3.gz", "records.tsv"),
    output:
        report(
            "results/datasets/{variant}/card.html",
            caption="../report/dataset_card.rst",
            category="2. Datasets",
            subcategory="{variant}",
            labels={"variant": "{variant}", "item": "dataset card"},
        ),
    params:
        spec=lambda wc: resolve_variant(config, wc.variant),
        cultivars=lambda wc: {c: config["cultivars"][c] for c in dataset_cultivars(wc)},
        genome_dirs=dataset_genome_dirs,
        region_summaries=dataset_regions(".summary.json"),
    wildcard_constraints:
        variant=DATASET_VARIANT_PATTERN,
    log:
        "logs/datasets/{variant}/card.log",
    conda:
        "../envs/genome.yaml"
    script:
        "../scripts/dataset_step.py"


rule dataset_comparison:
    input:
        windows=expand("results/datasets/{variant}/windows.parquet", variant=DATASET_VARIANTS),
        manifests=expand("results/datasets/{variant}/manifest.json", variant=DATASET_VARIANTS),
    output:
        table=report(
            "results/datasets/comparison/leakage.tsv",
            caption="../report/dataset_comparison_table.rst",
            category="2. Datasets",
            subcategory="Leakage across variants",
            labels={"variant": "all", "item": "leakage table"},
        ),
        plot=report(
            f"results/datasets/comparison/leakage.{DATASET_PLOTS}",
            caption="../report/dataset_comparison.rst",
            category="2. Datasets",
            subcategory="Leakage across variants",
            labels={"variant": "all", "item": "leakage figure"},
        ),
    params:
        variants={name: f"results/datasets/{name}" for name in DATASET_VARIANTS},
    log:
        "logs/datasets/comparison.log",
    conda:
        "../envs/genome.yaml"
    script:
        "../scripts/dataset_step.py"


def dataset_targets():
    targets = []
    for variant in DATASET_VARIANTS:
        root = f"results/datasets/{variant}"
        targets += [
            f"{root}/card.html",
            f"{root}/audit/leakage.tsv",
            f"{root}/audit/leakage.{DATASET_PLOTS}",
            f"{root}/audit/composition.{DATASET_PLOTS}",
            f"{root}/audit/train.sig",
            f"{root}/bionemo/dataset_config.yaml",
        ]
        targets += [f"{root}/splits/{split}.bed" for split in DATASET_SPLITS]
        targets += [f"{root}/fasta/{split}.fa" for split in DATASET_SPLITS]
    if DATASET_VARIANTS:
        targets += ["results/datasets/comparison/leakage.tsv", f"results/datasets/comparison/leakage.{DATASET_PLOTS}"]
    return targets


TARGET_FUNCTIONS.append(dataset_targets)
