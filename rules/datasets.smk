# Dataset room: per-cultivar region labels, then per variant: split plan, training sketch, windows + labels +
# tokens (the dataset contract), exports (FASTA, BioNeMo YAMLs), leakage audit and the dataset card.
# Every rule runs scripts/dataset_step.py, which calls evocane.dataset.steps (by hand: `evocane dataset-*`);
# input/param functions live in evocane.dataset.workflow.

from evocane.dataset.workflow import DatasetRules  # noqa: E402

try:
    DATASETS = DatasetRules(config, config["qc"]["plot_format"])
except EvocaneError as _error:
    raise WorkflowError(f"{_config_source}: {_error}") from None


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
    log:
        "logs/datasets/regions/{cultivar}.log",
    conda:
        "../envs/genome.yaml"
    script:
        "../scripts/dataset_step.py"


rule dataset_plan:
    input:
        records=DATASETS.genome_files("records.tsv"),
        fasta=DATASETS.genome_files("genome.fa.gz"),
        regions=DATASETS.region_files(genic_only=True),
    output:
        plan="results/datasets/{variant}/plan.parquet",
        manifest="results/datasets/{variant}/splits/manifest.json",
        beds=expand("results/datasets/{{variant}}/splits/{split}.bed", split=["train", "validation", "test"]),
    params:
        spec=DATASETS.spec("plan"),
        genome_dirs=DATASETS.genome_dirs,
        regions=DATASETS.regions(),
    wildcard_constraints:
        variant=DATASETS.variant_pattern,
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
        records="results/genomes/{cultivar}/records.tsv",
    output:
        "results/datasets/{variant}/audit/sketch/{cultivar}.npy",
    params:
        spec=DATASETS.spec("sketch"),
    wildcard_constraints:
        variant=DATASETS.variant_pattern,
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
        genomes=DATASETS.genome_files("genome.fa.gz", "records.tsv"),
        regions=DATASETS.region_files(),
        sketches=DATASETS.sketches,
    output:
        windows="results/datasets/{variant}/windows.parquet",
        arrays=directory("results/datasets/{variant}/arrays"),
        manifest="results/datasets/{variant}/manifest.json",
    params:
        spec=DATASETS.spec("build"),
        genome_dirs=DATASETS.genome_dirs,
        regions=DATASETS.regions(),
    wildcard_constraints:
        variant=DATASETS.variant_pattern,
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
        fasta=expand("results/datasets/{{variant}}/fasta/{split}.fa", split=["train", "validation", "test"]),
        fai=expand("results/datasets/{{variant}}/fasta/{split}.fa.fai", split=["train", "validation", "test"]),
        preprocess=expand("results/datasets/{{variant}}/bionemo/preprocess_{split}.yaml", split=["train", "validation", "test"]),
        dataset_config="results/datasets/{variant}/bionemo/dataset_config.yaml",
    params:
        spec=DATASETS.spec("bionemo"),
    wildcard_constraints:
        variant=DATASETS.variant_pattern,
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
        sketches=DATASETS.sketches,
    output:
        table=report(
            "results/datasets/{variant}/audit/leakage.tsv",
            caption="../report/dataset_leakage_table.rst",
            category="2. Datasets",
            subcategory="{variant}",
            labels={"variant": "{variant}", "item": "leakage table"},
        ),
        leakage=report(
            f"results/datasets/{{variant}}/audit/leakage.{DATASETS.plot_format}",
            caption="../report/dataset_leakage.rst",
            category="2. Datasets",
            subcategory="{variant}",
            labels={"variant": "{variant}", "item": "leakage figure"},
        ),
        composition=report(
            f"results/datasets/{{variant}}/audit/composition.{DATASETS.plot_format}",
            caption="../report/dataset_composition.rst",
            category="2. Datasets",
            subcategory="{variant}",
            labels={"variant": "{variant}", "item": "composition figure"},
        ),
        signature="results/datasets/{variant}/audit/train.sig",
    params:
        spec=DATASETS.spec("audit"),
    wildcard_constraints:
        variant=DATASETS.variant_pattern,
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
        regions=DATASETS.region_files(".summary.json"),
        genome=DATASETS.genome_files("genome.fa.gz", "annotation.gff3.gz", "records.tsv"),
    output:
        report(
            "results/datasets/{variant}/card.html",
            caption="../report/dataset_card.rst",
            category="2. Datasets",
            subcategory="{variant}",
            labels={"variant": "{variant}", "item": "dataset card"},
        ),
    params:
        spec=DATASETS.spec("card"),
        cultivars=DATASETS.cultivar_configs,
        genome_dirs=DATASETS.genome_dirs,
        region_summaries=DATASETS.regions(".summary.json"),
    wildcard_constraints:
        variant=DATASETS.variant_pattern,
    log:
        "logs/datasets/{variant}/card.log",
    conda:
        "../envs/genome.yaml"
    script:
        "../scripts/dataset_step.py"


rule dataset_comparison:
    input:
        windows=expand("results/datasets/{variant}/windows.parquet", variant=DATASETS.variants),
        manifests=expand("results/datasets/{variant}/manifest.json", variant=DATASETS.variants),
    output:
        table=report(
            "results/datasets/comparison/leakage.tsv",
            caption="../report/dataset_comparison_table.rst",
            category="2. Datasets",
            subcategory="Leakage across variants",
            labels={"variant": "all", "item": "leakage table"},
        ),
        plot=report(
            f"results/datasets/comparison/leakage.{DATASETS.plot_format}",
            caption="../report/dataset_comparison.rst",
            category="2. Datasets",
            subcategory="Leakage across variants",
            labels={"variant": "all", "item": "leakage figure"},
        ),
    params:
        variants=DATASETS.variant_dirs(),
    log:
        "logs/datasets/comparison.log",
    conda:
        "../envs/genome.yaml"
    script:
        "../scripts/dataset_step.py"


TARGET_FUNCTIONS.append(DATASETS.targets)
