# Dataset room: per-cultivar region labels, then per variant: split plan, training sketch, windows + labels +
# tokens (the dataset contract), exports (FASTA, BioNeMo YAMLs), leakage audit and the dataset card.
# Every rule runs `evocane dataset-*` (evocane.cli.dataset -> evocane.dataset.steps; the audit and comparison steps,
# which draw figures, in evocane.plots.dataset) with a job config holding the
# step's view of the variant; genomes and datasets are found at their evocane.layout paths (the commands' defaults).
# Input/param functions live in evocane.dataset.workflow.

from evocane.dataset.workflow import DatasetRules  # noqa: E402

try:
    DATASETS = DatasetRules(config, config["qc"]["plot_format"])
except EvocaneError as _error:
    raise WorkflowError(f"{_config_source}: {_error}") from None
VARIANT = layout.VariantPaths.of()  # the files of variant {variant}
SPLIT_NAMES = ["train", "validation", "test"]


rule dataset_regions:
    input:
        gff3=layout.genome_file("annotation.gff3.gz"),
        fai=layout.genome_file("genome.fa.gz.fai"),
        records=layout.genome_file("records.tsv"),
    output:
        bed=layout.regions(),
        summary=layout.regions(suffix=".summary.json"),
    params:
        config=job_config("datasets.regions", "cultivars.{cultivar}"),
    log:
        "logs/datasets/regions/{cultivar}.log",
    conda:
        "../envs/genome.yaml"
    shell:
        "evocane dataset-regions --job-config {params.config:q} --cultivar {wildcards.cultivar:q} > {log:q} 2>&1"


rule dataset_plan:
    input:
        records=DATASETS.genome_files("records.tsv"),
        fasta=DATASETS.genome_files("genome.fa.gz"),
        regions=DATASETS.region_files(genic_only=True),
    output:
        plan=str(VARIANT.plan),
        manifest=str(VARIANT.split_manifest),
        beds=[str(VARIANT.split_bed(split)) for split in SPLIT_NAMES],
    params:
        config=job_config(dataset_step=DATASETS.spec("plan")),
    wildcard_constraints:
        variant=DATASETS.variant_pattern,
    log:
        "logs/datasets/{variant}/plan.log",
    conda:
        "../envs/genome.yaml"
    resources:
        mem_mb=config["datasets"]["mem_mb"],
    shell:
        "evocane dataset-plan --job-config {params.config:q} --variant {wildcards.variant:q} > {log:q} 2>&1"


rule dataset_sketch:
    input:
        plan=str(VARIANT.plan),
        fasta=layout.genome_file("genome.fa.gz"),
        records=layout.genome_file("records.tsv"),
    output:
        str(VARIANT.sketch("{cultivar}")),
    params:
        config=job_config(dataset_step=DATASETS.spec("sketch")),
    wildcard_constraints:
        variant=DATASETS.variant_pattern,
    log:
        "logs/datasets/{variant}/sketch_{cultivar}.log",
    conda:
        "../envs/genome.yaml"
    resources:
        mem_mb=config["datasets"]["mem_mb"],
    shell:
        "evocane dataset-sketch --job-config {params.config:q} --variant {wildcards.variant:q} "
        "--cultivar {wildcards.cultivar:q} > {log:q} 2>&1"


rule dataset_build:
    input:
        plan=str(VARIANT.plan),
        genomes=DATASETS.genome_files("genome.fa.gz", "records.tsv"),
        regions=DATASETS.region_files(),
        sketches=DATASETS.sketches,
    output:
        windows=str(VARIANT.windows),
        arrays=directory(str(VARIANT.arrays)),
        manifest=str(VARIANT.manifest),
    params:
        config=job_config(dataset_step=DATASETS.spec("build")),
    wildcard_constraints:
        variant=DATASETS.variant_pattern,
    log:
        "logs/datasets/{variant}/build.log",
    conda:
        "../envs/genome.yaml"
    resources:
        mem_mb=config["datasets"]["mem_mb"],
    shell:
        "evocane dataset-build --job-config {params.config:q} --variant {wildcards.variant:q} > {log:q} 2>&1"


rule dataset_export:
    input:
        windows=str(VARIANT.windows),
        arrays=str(VARIANT.arrays),
    output:
        fasta=[str(VARIANT.fasta(split)) for split in SPLIT_NAMES],
        fai=[f"{VARIANT.fasta(split)}.fai" for split in SPLIT_NAMES],
        preprocess=[str(VARIANT.bionemo / f"preprocess_{split}.yaml") for split in SPLIT_NAMES],
        dataset_config=str(VARIANT.bionemo / "dataset_config.yaml"),
    params:
        config=job_config(dataset_step=DATASETS.spec("bionemo")),
    wildcard_constraints:
        variant=DATASETS.variant_pattern,
    log:
        "logs/datasets/{variant}/export.log",
    conda:
        "../envs/genome.yaml"
    shell:
        "evocane dataset-export --job-config {params.config:q} --variant {wildcards.variant:q} > {log:q} 2>&1"


rule dataset_audit:
    input:
        windows=str(VARIANT.windows),
        manifest=str(VARIANT.manifest),
        sketches=DATASETS.sketches,
    output:
        table=str(VARIANT.audit_table),
        leakage=report(
            str(VARIANT.audit_figure("leakage", DATASETS.plot_format)),
            caption="../report/dataset_leakage.rst",
            category=CATEGORIES["datasets"],
            subcategory=REPORT.variant_subcategory(),
            labels={"variant": "{variant}", "item": "2. leakage figure"},
        ),
        composition=report(
            str(VARIANT.audit_figure("composition", DATASETS.plot_format)),
            caption="../report/dataset_composition.rst",
            category=CATEGORIES["datasets"],
            subcategory=REPORT.variant_subcategory(),
            labels={"variant": "{variant}", "item": "4. composition figure"},
        ),
        signature=str(VARIANT.signature),
    params:
        config=job_config("qc.plot_format", dataset_step=DATASETS.spec("audit")),
    wildcard_constraints:
        variant=DATASETS.variant_pattern,
    log:
        "logs/datasets/{variant}/audit.log",
    conda:
        "../envs/genome.yaml"
    shell:
        "evocane dataset-audit --job-config {params.config:q} --variant {wildcards.variant:q} > {log:q} 2>&1"


rule dataset_card:
    input:
        windows=str(VARIANT.windows),
        manifest=str(VARIANT.manifest),
        split_manifest=str(VARIANT.split_manifest),
        audit=str(VARIANT.audit_table),
        regions=DATASETS.region_files(".summary.json"),
        genome=DATASETS.genome_files("genome.fa.gz", "annotation.gff3.gz", "records.tsv"),
    output:
        report(
            str(VARIANT.card),
            caption="../report/dataset_card.rst",
            category=CATEGORIES["datasets"],
            subcategory=REPORT.variant_subcategory(),
            labels={"variant": "{variant}", "item": "1. dataset card"},
        ),
    params:
        config=job_config(DATASETS.cultivar_keys, dataset_step=DATASETS.spec("card")),
    wildcard_constraints:
        variant=DATASETS.variant_pattern,
    log:
        "logs/datasets/{variant}/card.log",
    conda:
        "../envs/genome.yaml"
    shell:
        "evocane dataset-card --job-config {params.config:q} --variant {wildcards.variant:q} > {log:q} 2>&1"


rule dataset_comparison:
    input:
        windows=expand(str(VARIANT.windows), variant=DATASETS.variants),
        manifests=expand(str(VARIANT.manifest), variant=DATASETS.variants),
    output:
        table=layout.dataset_comparison("leakage.tsv"),
        plot=report(
            layout.dataset_comparison(f"leakage.{DATASETS.plot_format}"),
            caption="../report/dataset_comparison.rst",
            category=CATEGORIES["datasets"],
            subcategory="0. leakage across variants",
            labels={"variant": "all", "item": "1. leakage figure"},
        ),
    params:
        config=job_config("qc.plot_format"),
        variants=DATASETS.variants,
    log:
        "logs/datasets/comparison.log",
    conda:
        "../envs/genome.yaml"
    shell:
        "evocane dataset-compare --job-config {params.config:q} --variants {params.variants:q} > {log:q} 2>&1"


# the leakage tables as browsable pages (the TSVs stay the data files)
rule dataset_leakage_page:
    input:
        str(VARIANT.audit_table),
    output:
        report(
            layout.table_page(str(VARIANT.audit_table)),
            caption="../report/dataset_leakage_table.rst",
            category=CATEGORIES["datasets"],
            subcategory=REPORT.variant_subcategory(),
            labels={"variant": "{variant}", "item": "3. leakage table"},
        ),
    wildcard_constraints:
        variant=DATASETS.variant_pattern,
    log:
        "logs/datasets/{variant}/leakage_page.log",
    conda:
        "../envs/genome.yaml"
    shell:
        "evocane table-page --table {input:q} --page {output:q} --title 'Leakage audit: {wildcards.variant}' "
        "--note 'Containment of held-out windows in the training windows, per split and cultivar, and windows per containment bin.' > {log:q} 2>&1"


rule dataset_comparison_page:
    input:
        layout.dataset_comparison("leakage.tsv"),
    output:
        report(
            layout.table_page(layout.dataset_comparison("leakage.tsv")),
            caption="../report/dataset_comparison_table.rst",
            category=CATEGORIES["datasets"],
            subcategory="0. leakage across variants",
            labels={"variant": "all", "item": "2. leakage table"},
        ),
    log:
        "logs/datasets/comparison_page.log",
    conda:
        "../envs/genome.yaml"
    shell:
        "evocane table-page --table {input:q} --page {output:q} --title 'Leakage across variants' "
        "--note 'Per variant and held-out split: windows and the containment of their k-mers in the training windows.' > {log:q} 2>&1"


TARGET_FUNCTIONS.append(DATASETS.targets)
TARGET_FUNCTIONS.append(lambda: [layout.table_page(str(layout.VariantPaths.of(v).audit_table)) for v in DATASETS.variants]
                        + ([layout.table_page(layout.dataset_comparison("leakage.tsv"))] if DATASETS.variants else []))
