# Report room: what the report says first. `report_summary` writes the Summary (the findings written from the
# leaderboard's numbers, the headline table of every benchmark variant, leakage next to scores, the run's caveats;
# report/workflow.rst includes the same file in the report's landing page), the browsable leaderboard and the
# leakage figure; `model_table` the table of trained checkpoints. Needs rules/engines.smk, evaluation.smk and
# datasets.smk first. Helpers: evocane.report.workflow.ReportPlan (REPORT, rules/common.smk).


rule report_summary:
    input:
        leaderboard=layout.leaderboard(),
        metrics=REPORT.nextbase_metrics(),
        leakage=layout.dataset_comparison("leakage.tsv"),
        checkpoints=REPORT.checkpoints(),
    output:
        summary=report(
            layout.report_item("summary.html"),
            caption="../report/summary.rst",
            category=CATEGORIES["summary"],
            labels={"item": "1. summary"},
        ),
        leakage=report(
            layout.report_item(f"leakage.{PLOT_FORMAT}"),
            caption="../report/leakage_across_variants.rst",
            category=CATEGORIES["summary"],
            labels={"item": "2. leakage against score"},
        ),
        leaderboard=report(
            layout.report_item("leaderboard.html"),
            caption="../report/leaderboard_page.rst",
            category=CATEGORIES["leaderboard"],
            labels={"table": "1. leaderboard"},
        ),
    params:
        config=job_config(
            "datasets.variants",
            "cultivars",
            "evaluation.nextbase",
            "evaluation.tasks.experiments",
            "evaluation.tasks.enabled",
            variant_order=REPORT.variant_order,
            model_palette=REPORT.model_palette,
            generation=REPORT.generation,
        ),
    log:
        "logs/report/summary.log",
    conda:
        "../envs/genome.yaml"
    shell:
        "evocane report-summary --job-config {params.config:q} --leaderboard {input.leaderboard:q} --metrics {input.metrics:q} "
        "--leakage {input.leakage:q} --checkpoints {input.checkpoints:q} --summary {output.summary:q} "
        "--leaderboard-page {output.leaderboard:q} --figure {output.leakage:q} > {log:q} 2>&1"


rule model_table:
    input:
        REPORT.checkpoints(),
    output:
        table=layout.report_item("models.tsv"),
        page=report(
            layout.report_item("models.html"),
            caption="../report/models.rst",
            category=CATEGORIES["models"],
            subcategory="0. models",
            labels={"item": "model table"},
        ),
    log:
        "logs/report/models.log",
    conda:
        "../envs/genome.yaml"
    shell:
        "evocane report-models --checkpoints {input:q} --table {output.table:q} --page {output.page:q} > {log:q} 2>&1"


TARGET_FUNCTIONS.append(
    lambda: [layout.report_item("summary.html"), layout.report_item("models.html")] if REPORT.runs and ENGINES.evaluated_variants() else []
)
