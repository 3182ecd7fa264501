# Tasks room: the benchmark's tasks beyond next-base prediction, for every model of every experiment on a variant
# (evaluation.tasks in the config). Task inputs are cut from the variant's test split (results/tasks/{variant}/
# {task}/inputs, dataset contract or prompt FASTA); every engine scores them through `evocane task-score` (the
# engine interface's score) or, for the models of experiments with `generate: true`, generates through
# `evocane generate`; `evocane task-evaluate` writes the metrics, the figures and a leaderboard part. Needs
# rules/engines.smk (ENGINES, model_resource) first. Input functions: evocane.evaluate.task_workflow.

from evocane.evaluate.task_workflow import TaskPlan  # noqa: E402

try:
    TASK_PLAN = TaskPlan(config, ENGINE_RUNS, workflow.basedir)
except EvocaneError as _error:
    raise WorkflowError(f"{_config_source}: {_error}") from None
TASK_VARIANTS = TASK_PLAN.variants  # read by rules/bionemo.smk
TASKS_ENABLED = TASK_PLAN.enabled
TASK_PLOTS = config["evaluation"]["plot_format"]
TASK_VARIANT_PATTERN = "|".join(TASK_VARIANTS) or "(?!)"
# task_score serves every model but the sharded ones (task_score_shard + task_gather); bionemo's own rules take
# precedence for its models (ruleorder in rules/bionemo.smk)
TASK_UNSHARDED_PATTERN = engine_workflow.pattern([m for m in config["models"] if m not in ENGINES.sharded_models])
TASK_CATEGORIES = {task: CATEGORIES[task] for task in ("generation", "regulatory", "variant_effect", "experiments")}
LEADERBOARD_PARTS = globals().get("LEADERBOARD_PARTS", [])


rule task_inputs:
    input:
        dataset_files,
        genomes=[layout.genome_file(name, c) for c in CULTIVARS for name in ("genome.fa.gz", "annotation.gff3.gz")],
        table=TASK_PLAN.table_input(),
    output:
        directory(layout.task_inputs()),
    params:
        config=job_config(TASK_PLAN.input_keys),
        dataset=dataset_dir,
        table=TASK_PLAN.table_argument(),
    log:
        "logs/tasks/{variant}/{task}/inputs.log",
    conda:
        "../envs/genome.yaml"
    wildcard_constraints:
        variant=TASK_VARIANT_PATTERN,
        task="generation|regulatory|variant_effect|experiments",
    shell:
        "evocane task-inputs --job-config {params.config:q} --task {wildcards.task:q} --dataset {params.dataset:q} "
        "{params.table:q} --out {output:q} > {log:q} 2>&1"


rule task_score:
    input:
        inputs=layout.task_inputs(),
        checkpoint=layout.checkpoint(),
    output:
        directory(layout.task_predictions()),
    params:
        remote_code=ENGINES.remote_code,
    log:
        "logs/tasks/{variant}/{task}/score_{model}.log",
    conda:
        ENGINES.conda_env
    threads: model_resource("threads")
    resources:
        **MODEL_RESOURCES,
    wildcard_constraints:
        model=TASK_UNSHARDED_PATTERN,
        variant=TASK_VARIANT_PATTERN,
        task="regulatory|variant_effect|experiments",
    shell:
        "evocane task-score --task {wildcards.task:q} --checkpoint {input.checkpoint:q} --dataset {input.inputs:q} "
        "{params.remote_code:q} --out {output:q} > {log:q} 2>&1"


# Sharded task scoring, as score_shard / gather_predictions (the model's shards).
rule task_score_shard:
    input:
        inputs=layout.task_inputs(),
        checkpoint=layout.checkpoint(),
    output:
        temp(directory(layout.task_prediction_shard())),
    params:
        remote_code=ENGINES.remote_code,
    log:
        "logs/tasks/{variant}/{task}/score_{model}.{shard}-of-{shards}.log",
    conda:
        ENGINES.conda_env
    threads: model_resource("threads")
    resources:
        **MODEL_RESOURCES,
    wildcard_constraints:
        model=ENGINES.sharded_pattern,
        variant=TASK_VARIANT_PATTERN,
        task="regulatory|variant_effect|experiments",
        shard=r"\d+",
        shards=r"\d+",
    shell:
        "evocane task-score --task {wildcards.task:q} --checkpoint {input.checkpoint:q} --dataset {input.inputs:q} "
        "{params.remote_code:q} --shard {wildcards.shard} --shards {wildcards.shards} --out {output:q} > {log:q} 2>&1"


rule task_gather:
    input:
        inputs=layout.task_inputs(),
        shards=ENGINES.task_prediction_shards,
    output:
        directory(layout.task_predictions()),
    log:
        "logs/tasks/{variant}/{task}/gather_{model}.log",
    conda:
        "../envs/genome.yaml"
    wildcard_constraints:
        model=ENGINES.sharded_pattern,
        variant=TASK_VARIANT_PATTERN,
        task="regulatory|variant_effect|experiments",
    shell:
        "evocane gather-predictions --dataset {input.inputs:q} --split test --shards {input.shards:q} --out {output:q} "
        "> {log:q} 2>&1"


rule task_generate:
    input:
        inputs=layout.task_inputs(task="generation"),
        checkpoint=layout.checkpoint(),
    output:
        sampled=layout.task_generated(mode="sampled"),
        greedy=layout.task_generated(mode="greedy"),
    params:
        config=job_config("evaluation.generation.sampling"),
        sampled=TASK_PLAN.sampling_arguments(greedy=False),
        greedy=TASK_PLAN.sampling_arguments(greedy=True),
        remote_code=ENGINES.remote_code,
    log:
        "logs/tasks/{variant}/generation/generate_{model}.log",
    conda:
        ENGINES.conda_env
    threads: model_resource("threads")
    resources:
        **MODEL_RESOURCES,
    wildcard_constraints:
        model=MODEL_PATTERN,
        variant=TASK_VARIANT_PATTERN,
    shell:
        "(evocane generate --job-config {params.config:q} --checkpoint {input.checkpoint:q} "
        "--prompts {input.inputs:q}/prompts.fa {params.sampled:q} {params.remote_code:q} --out {output.sampled:q} && "
        "evocane generate --job-config {params.config:q} --checkpoint {input.checkpoint:q} "
        "--prompts {input.inputs:q}/prompts.fa {params.greedy:q} {params.remote_code:q} --out {output.greedy:q}) > {log:q} 2>&1"


# the note above every task's browsable metrics table (evocane table-page)
TASK_METRICS_NOTE = "Long format: one row per model, metric and stratum, with 95 % bootstrap CIs and n (the caption says what each metric is)."


rule task_evaluate_regulatory:
    input:
        inputs=layout.task_inputs(task="regulatory"),
        predictions=TASK_PLAN.predictions("regulatory"),
    output:
        metrics=layout.task_evaluation(task="regulatory", name="metrics.tsv"),
        metrics_page=report(
            layout.table_page(layout.task_evaluation(task="regulatory", name="metrics.tsv")),
            caption="../report/task_regulatory_metrics.rst",
            category=TASK_CATEGORIES["regulatory"],
            subcategory=REPORT.variant_subcategory(),
            labels={"variant": "{variant}", "item": "9. metrics table"},
        ),
        leaderboard=layout.task_evaluation(task="regulatory", name="leaderboard.tsv"),
        scores=layout.task_evaluation(task="regulatory", name="scores.tsv"),
        profile=layout.task_evaluation(task="regulatory", name="profile.parquet"),
        auroc=report(
            layout.task_evaluation(task="regulatory", name=f"auroc.{TASK_PLOTS}"),
            caption="../report/task_regulatory_auroc.rst",
            category=TASK_CATEGORIES["regulatory"],
            subcategory=REPORT.variant_subcategory(),
            labels={"variant": "{variant}", "item": "1. AUROC sites vs negatives"},
        ),
        metaplot=report(
            layout.task_evaluation(task="regulatory", name=f"metaplot.{TASK_PLOTS}"),
            caption="../report/task_regulatory_metaplot.rst",
            category=TASK_CATEGORIES["regulatory"],
            subcategory=REPORT.variant_subcategory(),
            labels={"variant": "{variant}", "item": "2. metaplots around sites"},
        ),
        distributions=report(
            layout.task_evaluation(task="regulatory", name=f"scores.{TASK_PLOTS}"),
            caption="../report/task_regulatory_scores.rst",
            category=TASK_CATEGORIES["regulatory"],
            subcategory=REPORT.variant_subcategory(),
            labels={"variant": "{variant}", "item": "3. score distributions"},
        ),
    params:
        config=job_config(TASK_PLAN.evaluation_keys("regulatory"), model_palette=REPORT.model_palette),
        out_dir=layout.task_evaluation(task="regulatory"),
        metrics_note=TASK_METRICS_NOTE,
        background=TASK_PLAN.background_argument("regulatory"),
    log:
        "logs/tasks/{variant}/regulatory/evaluate.log",
    conda:
        "../envs/genome.yaml"
    wildcard_constraints:
        variant=TASK_VARIANT_PATTERN,
    shell:
        "(evocane task-evaluate --job-config {params.config:q} --task regulatory --inputs {input.inputs:q} "
        "--predictions {input.predictions:q} {params.background:q} --out-dir {params.out_dir:q} && "
        "evocane table-page --table {output.metrics:q} --page {output.metrics_page:q} --title 'Regulatory metrics: {wildcards.variant}' "
        "--note {params.metrics_note:q}) > {log:q} 2>&1"


rule task_evaluate_variant_effect:
    input:
        inputs=layout.task_inputs(task="variant_effect"),
        predictions=TASK_PLAN.predictions("variant_effect"),
    output:
        metrics=layout.task_evaluation(task="variant_effect", name="metrics.tsv"),
        metrics_page=report(
            layout.table_page(layout.task_evaluation(task="variant_effect", name="metrics.tsv")),
            caption="../report/task_variant_effect_metrics.rst",
            category=TASK_CATEGORIES["variant_effect"],
            subcategory=REPORT.variant_subcategory(),
            labels={"variant": "{variant}", "item": "9. metrics table"},
        ),
        leaderboard=layout.task_evaluation(task="variant_effect", name="leaderboard.tsv"),
        scores=layout.task_evaluation(task="variant_effect", name="scores.tsv"),
        delta=report(
            layout.task_evaluation(task="variant_effect", name=f"delta.{TASK_PLOTS}"),
            caption="../report/task_variant_effect_delta.rst",
            category=TASK_CATEGORIES["variant_effect"],
            subcategory=REPORT.variant_subcategory(),
            labels={"variant": "{variant}", "item": "1. Δ log-likelihood by class"},
        ),
    params:
        config=job_config(TASK_PLAN.evaluation_keys("variant_effect"), model_palette=REPORT.model_palette),
        out_dir=layout.task_evaluation(task="variant_effect"),
        metrics_note=TASK_METRICS_NOTE,
        background=[],
    log:
        "logs/tasks/{variant}/variant_effect/evaluate.log",
    conda:
        "../envs/genome.yaml"
    wildcard_constraints:
        variant=TASK_VARIANT_PATTERN,
    shell:
        "(evocane task-evaluate --job-config {params.config:q} --task variant_effect --inputs {input.inputs:q} "
        "--predictions {input.predictions:q} {params.background:q} --out-dir {params.out_dir:q} && "
        "evocane table-page --table {output.metrics:q} --page {output.metrics_page:q} --title 'Variant effect metrics: {wildcards.variant}' "
        "--note {params.metrics_note:q}) > {log:q} 2>&1"


rule task_evaluate_experiments:
    input:
        inputs=layout.task_inputs(task="experiments"),
        predictions=TASK_PLAN.predictions("experiments"),
    output:
        metrics=layout.task_evaluation(task="experiments", name="metrics.tsv"),
        metrics_page=report(
            layout.table_page(layout.task_evaluation(task="experiments", name="metrics.tsv")),
            caption="../report/task_experiments_metrics.rst",
            category=TASK_CATEGORIES["experiments"],
            subcategory=REPORT.variant_subcategory(),
            labels={"variant": "{variant}", "item": "9. metrics table"},
        ),
        leaderboard=layout.task_evaluation(task="experiments", name="leaderboard.tsv"),
        ranked=layout.task_evaluation(task="experiments", name="ranked.tsv"),
        ranked_page=report(
            layout.table_page(layout.task_evaluation(task="experiments", name="ranked.tsv")),
            caption="../report/task_experiments_ranked.rst",
            category=TASK_CATEGORIES["experiments"],
            subcategory=REPORT.variant_subcategory(),
            labels={"variant": "{variant}", "item": "2. ranked elements"},
        ),
        scatter=report(
            layout.task_evaluation(task="experiments", name=f"scatter.{TASK_PLOTS}"),
            caption="../report/task_experiments_scatter.rst",
            category=TASK_CATEGORIES["experiments"],
            subcategory=REPORT.variant_subcategory(),
            labels={"variant": "{variant}", "item": "1. score vs measurement"},
        ),
    params:
        config=job_config(TASK_PLAN.evaluation_keys("experiments"), model_palette=REPORT.model_palette),
        out_dir=layout.task_evaluation(task="experiments"),
        metrics_note=TASK_METRICS_NOTE,
        background=TASK_PLAN.background_argument("experiments"),
    log:
        "logs/tasks/{variant}/experiments/evaluate.log",
    conda:
        "../envs/genome.yaml"
    wildcard_constraints:
        variant=TASK_VARIANT_PATTERN,
    shell:
        "(evocane task-evaluate --job-config {params.config:q} --task experiments --inputs {input.inputs:q} "
        "--predictions {input.predictions:q} {params.background:q} --out-dir {params.out_dir:q} && "
        "evocane table-page --table {output.metrics:q} --page {output.metrics_page:q} --title 'Experiments metrics: {wildcards.variant}' "
        "--note {params.metrics_note:q} && "
        "evocane table-page --table {output.ranked:q} --page {output.ranked_page:q} --title 'Ranked elements: {wildcards.variant}' "
        "--note 'Elements ranked by each model score, with their measurement.') > {log:q} 2>&1"


rule task_evaluate_generation:
    input:
        inputs=layout.task_inputs(task="generation"),
        generated=TASK_PLAN.generated_files(),
    output:
        metrics=layout.task_evaluation(task="generation", name="metrics.tsv"),
        metrics_page=report(
            layout.table_page(layout.task_evaluation(task="generation", name="metrics.tsv")),
            caption="../report/task_generation_metrics.rst",
            category=TASK_CATEGORIES["generation"],
            subcategory=REPORT.variant_subcategory(),
            labels={"variant": "{variant}", "item": "9. metrics table"},
        ),
        leaderboard=layout.task_evaluation(task="generation", name="leaderboard.tsv"),
        per_sequence=layout.task_evaluation(task="generation", name="per_sequence.tsv"),
        gc=report(
            layout.task_evaluation(task="generation", name=f"gc.{TASK_PLOTS}"),
            caption="../report/task_generation_gc.rst",
            category=TASK_CATEGORIES["generation"],
            subcategory=REPORT.variant_subcategory(),
            labels={"variant": "{variant}", "item": "1. GC per sequence"},
        ),
        kmers=report(
            layout.task_evaluation(task="generation", name=f"kmer_divergence.{TASK_PLOTS}"),
            caption="../report/task_generation_kmers.rst",
            category=TASK_CATEGORIES["generation"],
            subcategory=REPORT.variant_subcategory(),
            labels={"variant": "{variant}", "item": "2. k-mer spectrum divergence"},
        ),
        properties=report(
            layout.task_evaluation(task="generation", name=f"properties.{TASK_PLOTS}"),
            caption="../report/task_generation_properties.rst",
            category=TASK_CATEGORIES["generation"],
            subcategory=REPORT.variant_subcategory(),
            labels={"variant": "{variant}", "item": "3. identity, repeats, lengths"},
        ),
        logos=report(
            layout.task_evaluation(task="generation", name=f"logos.{TASK_PLOTS}"),
            caption="../report/task_generation_logos.rst",
            category=TASK_CATEGORIES["generation"],
            subcategory=REPORT.variant_subcategory(),
            labels={"variant": "{variant}", "item": "4. sequence logos"},
        ),
    params:
        config=job_config(TASK_PLAN.evaluation_keys("generation"), model_palette=REPORT.model_palette),
        out_dir=layout.task_evaluation(task="generation"),
        metrics_note=TASK_METRICS_NOTE,
        generated=TASK_PLAN.generated_dirs(),
    log:
        "logs/tasks/{variant}/generation/evaluate.log",
    conda:
        "../envs/genome.yaml"
    wildcard_constraints:
        variant=TASK_VARIANT_PATTERN,
    shell:
        "(evocane task-evaluate --job-config {params.config:q} --task generation --inputs {input.inputs:q} "
        "--generated {params.generated:q} --out-dir {params.out_dir:q} && "
        "evocane table-page --table {output.metrics:q} --page {output.metrics_page:q} --title 'Generation metrics: {wildcards.variant}' "
        "--note {params.metrics_note:q}) > {log:q} 2>&1"


LEADERBOARD_PARTS.append(TASK_PLAN.parts)
TARGET_FUNCTIONS.append(TASK_PLAN.targets)
