# Evaluation room: next-base metrics per dataset variant (every model scored on it, validation and test), the
# figures and ranked table of the report split, and the leaderboard that every task joins.
#
# Leaderboard parts: a task's rule file appends a function returning its part files (CSV/TSV with the columns of
# evocane.evaluate.leaderboard) to LEADERBOARD_PARTS; the `leaderboard` rule combines them, whatever the order in
# which the rule files are included. Input functions and targets: evocane.engines.workflow.EnginePlan.

LEADERBOARD_PARTS = globals().get("LEADERBOARD_PARTS", [])
NEXTBASE = config["evaluation"]["nextbase"]
NEXTBASE_DIR = layout.nextbase_dir()
# what the evaluation commands read of the config
EVALUATION_KEYS = ("evaluation.nextbase", "evaluation.bootstrap", "evaluation.plot_format")
# a pretraining variant's next-base results are shown under Models, the benchmarks' and controls' in reading order
NEXTBASE_REPORT = {"category": REPORT.nextbase_category(), "subcategory": REPORT.nextbase_subcategory()}


rule nextbase_subset:
    input:
        dataset_files,
    output:
        directory(layout.scored_dataset()),
    params:
        dataset=dataset_dir,
        splits=NEXTBASE_SPLITS,
        subset=NEXTBASE["subset"],
    log:
        "logs/nextbase_subset/{variant}.log",
    conda:
        "../envs/genome.yaml"
    wildcard_constraints:
        variant=VARIANT_PATTERN,
    shell:
        "evocane dataset-subset --dataset {params.dataset:q} --splits {params.splits:q} "
        "--max-windows {params.subset[max_windows]} --seed {params.subset[seed]} --out {output:q} > {log:q} 2>&1"


rule nextbase_metrics:
    input:
        scored_files,
        predictions=ENGINES.nextbase_predictions(NEXTBASE_SPLITS),
    output:
        metrics=f"{NEXTBASE_DIR}/metrics.tsv",
        windows=f"{NEXTBASE_DIR}/windows.parquet",
        leaderboard=f"{NEXTBASE_DIR}/leaderboard.tsv",
    params:
        config=job_config(*EVALUATION_KEYS),
        dataset=scored_dir,
        out_dir=subpath(output.metrics, parent=True),
    log:
        "logs/nextbase/{variant}.log",
    conda:
        "../envs/genome.yaml"
    wildcard_constraints:
        variant=VARIANT_PATTERN,
    shell:
        "evocane nextbase --job-config {params.config:q} --dataset {params.dataset:q} --predictions {input.predictions:q} "
        "--out-dir {params.out_dir:q} > {log:q} 2>&1"


rule nextbase_plots:
    input:
        scored_files,
        metrics=f"{NEXTBASE_DIR}/metrics.tsv",
        windows=f"{NEXTBASE_DIR}/windows.parquet",
        predictions=ENGINES.nextbase_predictions([NEXTBASE["report_split"]]),
    output:
        regions=report(
            f"{NEXTBASE_DIR}/bits_by_region.{PLOT_FORMAT}",
            caption="../report/nextbase_bits_by_region.rst",
            labels={"variant": "{variant}", "item": "1. bits per base by region"},
            **NEXTBASE_REPORT,
        ),
        delta=report(
            f"{NEXTBASE_DIR}/delta_to_markov.{PLOT_FORMAT}",
            caption="../report/nextbase_delta.rst",
            labels={"variant": "{variant}", "item": "2. difference to best Markov"},
            **NEXTBASE_REPORT,
        ),
        strata=report(
            f"{NEXTBASE_DIR}/window_strata.{PLOT_FORMAT}",
            caption="../report/nextbase_strata.rst",
            labels={"variant": "{variant}", "item": "3. cultivar, homology group, leakage"},
            **NEXTBASE_REPORT,
        ),
        violins=report(
            f"{NEXTBASE_DIR}/window_violins.{PLOT_FORMAT}",
            caption="../report/nextbase_violins.rst",
            labels={"variant": "{variant}", "item": "4. per-window score distributions"},
            **NEXTBASE_REPORT,
        ),
        heatmap=report(
            f"{NEXTBASE_DIR}/window_heatmap.{PLOT_FORMAT}",
            caption="../report/nextbase_heatmap.rst",
            labels={"variant": "{variant}", "item": "5. per-position heatmap and entropy"},
            **NEXTBASE_REPORT,
        ),
        ranked=f"{NEXTBASE_DIR}/ranked_windows.tsv",
    params:
        config=job_config(*EVALUATION_KEYS, model_palette=REPORT.model_palette),
        dataset=scored_dir,
        split=NEXTBASE["report_split"],
        out_dir=subpath(output.regions, parent=True),
    log:
        "logs/nextbase_plots/{variant}.log",
    conda:
        "../envs/genome.yaml"
    wildcard_constraints:
        variant=VARIANT_PATTERN,
    shell:
        "evocane nextbase-plots --job-config {params.config:q} --dataset {params.dataset:q} --metrics {input.metrics:q} "
        "--windows {input.windows:q} --predictions {input.predictions:q} --split {params.split:q} "
        "--out-dir {params.out_dir:q} > {log:q} 2>&1"


# the metrics and ranked windows as browsable pages (the TSVs stay the data files)
rule nextbase_pages:
    input:
        metrics=f"{NEXTBASE_DIR}/metrics.tsv",
        ranked=f"{NEXTBASE_DIR}/ranked_windows.tsv",
    output:
        metrics=report(
            layout.table_page(f"{NEXTBASE_DIR}/metrics.tsv"),
            caption="../report/nextbase_metrics.rst",
            labels={"variant": "{variant}", "item": "6. metrics table"},
            **NEXTBASE_REPORT,
        ),
        ranked=report(
            layout.table_page(f"{NEXTBASE_DIR}/ranked_windows.tsv"),
            caption="../report/nextbase_ranked.rst",
            labels={"variant": "{variant}", "item": "7. best and worst windows"},
            **NEXTBASE_REPORT,
        ),
    log:
        "logs/nextbase_pages/{variant}.log",
    conda:
        "../envs/genome.yaml"
    wildcard_constraints:
        variant=VARIANT_PATTERN,
    shell:
        "(evocane table-page --table {input.metrics:q} --page {output.metrics:q} --title 'Next-base metrics: {wildcards.variant}' "
        "--note 'Every model, split, stratum and metric (bits per base, perplexity, top-1 accuracy, differences to the best Markov order) with 95 % bootstrap CIs.' && "
        "evocane table-page --table {input.ranked:q} --page {output.ranked:q} --title 'Best and worst windows: {wildcards.variant}' "
        "--note 'Per model, the test windows with the lowest and highest non-repeat bits per base, with their location.') > {log:q} 2>&1"


LEADERBOARD_PARTS.append(ENGINES.nextbase_parts)


rule leaderboard:
    input:
        engine_workflow.leaderboard_inputs(LEADERBOARD_PARTS),
    output:
        csv=report(
            layout.leaderboard(),
            caption="../report/leaderboard.rst",
            category=CATEGORIES["leaderboard"],
            labels={"table": "3. leaderboard.csv (download)"},
        ),
        table=layout.leaderboard_table(),
        page=report(
            layout.table_page(layout.leaderboard_table()),
            caption="../report/leaderboard_table.rst",
            category=CATEGORIES["leaderboard"],
            labels={"table": "2. model x variant"},
        ),
    log:
        "logs/leaderboard.log",
    conda:
        "../envs/genome.yaml"
    shell:
        "(evocane leaderboard --parts {input:q} --output {output.csv:q} --table {output.table:q} && "
        "evocane table-page --table {output.table:q} --page {output.page:q} --title 'Leaderboard: model x variant' "
        "--note 'One row per task, metric, stratum, split and model; one column per dataset variant; cells: value [95 % CI].') > {log:q} 2>&1"


TARGET_FUNCTIONS.append(ENGINES.evaluation_targets)
TARGET_FUNCTIONS.append(lambda: [layout.table_page(layout.nextbase_file(name, variant)) for variant in ENGINES.evaluated_variants() for name in ("metrics.tsv", "ranked_windows.tsv")])
