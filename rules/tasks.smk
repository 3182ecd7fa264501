# Tasks room: the benchmark's tasks beyond next-base prediction, for every model of every experiment on a variant
# (evaluation.tasks in the config). Task inputs are cut from the variant's test split (results/tasks/{variant}/
# {task}/inputs, dataset contract or prompt FASTA); every engine scores them through `evocane task-score` (the
# engine interface's score) or, for the models of experiments with `generate: true`, generates through
# `evocane generate`; `evocane task-evaluate` writes the metrics, the figures and a leaderboard part. Needs
# rules/engines.smk (ENGINE_RUNS, engine_env, model_resource) first. Input functions: evocane.evaluate.task_workflow.

from pathlib import Path

from evocane.evaluate.task_workflow import TaskPlan  # noqa: E402

try:
    TASK_PLAN = TaskPlan(config, ENGINE_RUNS, RESULTS, workflow.basedir)
except EvocaneError as _error:
    raise WorkflowError(f"{_config_source}: {_error}") from None
TASK_VARIANTS = TASK_PLAN.variants  # read by rules/bionemo.smk
TASKS_ENABLED = TASK_PLAN.enabled
TASK_PLOTS = config["evaluation"]["plot_format"]
TASK_VARIANT_PATTERN = "|".join(TASK_VARIANTS) or "(?!)"
TASK_CATEGORIES = {
    "generation": "5. Generation",
    "regulatory": "6. Regulatory elements (zero-shot)",
    "variant_effect": "7. Variant effect (in-silico mutagenesis)",
    "experiments": "8. Experimental data",
}
LEADERBOARD_PARTS = globals().get("LEADERBOARD_PARTS", [])


rule task_inputs:
    input:
        dataset_files("test"),
        genomes=expand(f"{RESULTS}/genomes/{{cultivar}}/{{name}}", cultivar=CULTIVARS, name=["genome.fa.gz", "annotation.gff3.gz"]),
        table=TASK_PLAN.table_input(),
    output:
        directory(f"{RESULTS}/tasks/{{variant}}/{{task}}/inputs"),
    params:
        config=CONFIG_ARGS,
        genomes=lambda wc, input: str(Path(input.genomes[0]).parent.parent),
        dataset=dataset_dir,
        table=TASK_PLAN.table_argument(),
        settings=TASK_PLAN.settings_param(),
    log:
        "logs/tasks/{variant}/{task}/inputs.log",
    conda:
        "../envs/genome.yaml"
    wildcard_constraints:
        variant=TASK_VARIANT_PATTERN,
        task="generation|regulatory|variant_effect|experiments",
    shell:
        "evocane task-inputs --config {params.config} --task {wildcards.task} --dataset {params.dataset:q} "
        "--genomes {params.genomes:q} {params.table} --out {output:q} > {log:q} 2>&1"


rule task_score:
    input:
        inputs=f"{RESULTS}/tasks/{{variant}}/{{task}}/inputs",
        checkpoint=f"{RESULTS}/models/{{model}}/{{variant}}/checkpoint",
    output:
        directory(f"{RESULTS}/tasks/{{variant}}/{{task}}/predictions/{{model}}"),
    log:
        "logs/tasks/{variant}/{task}/score_{model}.log",
    conda:
        engine_env
    threads: model_resource("threads")
    resources:
        mem_mb=model_resource("mem_mb"),
        runtime=model_resource("runtime"),
        gpu=model_resource("gpu"),
    wildcard_constraints:
        model=MODEL_PATTERN,
        variant=TASK_VARIANT_PATTERN,
        task="regulatory|variant_effect|experiments",
    shell:
        "evocane task-score --task {wildcards.task} --checkpoint {input.checkpoint:q} --dataset {input.inputs:q} "
        "--out {output:q} > {log:q} 2>&1"


rule task_generate:
    input:
        inputs=f"{RESULTS}/tasks/{{variant}}/generation/inputs",
        checkpoint=f"{RESULTS}/models/{{model}}/{{variant}}/checkpoint",
    output:
        sampled=f"{RESULTS}/tasks/{{variant}}/generation/generated/{{model}}/sampled.fa",
        greedy=f"{RESULTS}/tasks/{{variant}}/generation/generated/{{model}}/greedy.fa",
    params:
        config=CONFIG_ARGS,
        sampled=TASK_PLAN.sampling_arguments(greedy=False),
        greedy=TASK_PLAN.sampling_arguments(greedy=True),
    log:
        "logs/tasks/{variant}/generation/generate_{model}.log",
    conda:
        engine_env
    threads: model_resource("threads")
    resources:
        mem_mb=model_resource("mem_mb"),
        runtime=model_resource("runtime"),
        gpu=model_resource("gpu"),
    wildcard_constraints:
        model=MODEL_PATTERN,
        variant=TASK_VARIANT_PATTERN,
    shell:
        "(evocane generate --config {params.config} --checkpoint {input.checkpoint:q} --prompts {input.inputs:q}/prompts.fa "
        "{params.sampled} --out {output.sampled:q} && "
        "evocane generate --config {params.config} --checkpoint {input.checkpoint:q} --prompts {input.inputs:q}/prompts.fa "
        "{params.greedy} --out {output.greedy:q}) > {log:q} 2>&1"


rule task_evaluate_regulatory:
    input:
        inputs=f"{RESULTS}/tasks/{{variant}}/regulatory/inputs",
        predictions=TASK_PLAN.predictions("regulatory"),
    output:
        metrics=report(
            f"{RESULTS}/tasks/{{variant}}/regulatory/evaluation/metrics.tsv",
            caption="../report/task_regulatory_metrics.rst",
            category=TASK_CATEGORIES["regulatory"],
            subcategory="{variant}",
            labels={"variant": "{variant}", "item": "metrics table"},
        ),
        leaderboard=f"{RESULTS}/tasks/{{variant}}/regulatory/evaluation/leaderboard.tsv",
        scores=f"{RESULTS}/tasks/{{variant}}/regulatory/evaluation/scores.tsv",
        profile=f"{RESULTS}/tasks/{{variant}}/regulatory/evaluation/profile.parquet",
        auroc=report(
            f"{RESULTS}/tasks/{{variant}}/regulatory/evaluation/auroc.{TASK_PLOTS}",
            caption="../report/task_regulatory_auroc.rst",
            category=TASK_CATEGORIES["regulatory"],
            subcategory="{variant}",
            labels={"variant": "{variant}", "item": "AUROC sites vs negatives"},
        ),
        metaplot=report(
            f"{RESULTS}/tasks/{{variant}}/regulatory/evaluation/metaplot.{TASK_PLOTS}",
            caption="../report/task_regulatory_metaplot.rst",
            category=TASK_CATEGORIES["regulatory"],
            subcategory="{variant}",
            labels={"variant": "{variant}", "item": "metaplots around sites"},
        ),
        distributions=report(
            f"{RESULTS}/tasks/{{variant}}/regulatory/evaluation/scores.{TASK_PLOTS}",
            caption="../report/task_regulatory_scores.rst",
            category=TASK_CATEGORIES["regulatory"],
            subcategory="{variant}",
            labels={"variant": "{variant}", "item": "score distributions"},
        ),
    params:
        config=CONFIG_ARGS,
        out_dir=lambda wc: f"{RESULTS}/tasks/{wc.variant}/regulatory/evaluation",
        background=TASK_PLAN.background_argument("regulatory"),
        settings=TASK_PLAN.settings_param("regulatory"),
    log:
        "logs/tasks/{variant}/regulatory/evaluate.log",
    conda:
        "../envs/genome.yaml"
    wildcard_constraints:
        variant=TASK_VARIANT_PATTERN,
    shell:
        "evocane task-evaluate --config {params.config} --task regulatory --inputs {input.inputs:q} "
        "--predictions {input.predictions:q} {params.background} --out-dir {params.out_dir:q} > {log:q} 2>&1"


rule task_evaluate_variant_effect:
    input:
        inputs=f"{RESULTS}/tasks/{{variant}}/variant_effect/inputs",
        predictions=TASK_PLAN.predictions("variant_effect"),
    output:
        metrics=report(
            f"{RESULTS}/tasks/{{variant}}/variant_effect/evaluation/metrics.tsv",
            caption="../report/task_variant_effect_metrics.rst",
            category=TASK_CATEGORIES["variant_effect"],
            subcategory="{variant}",
            labels={"variant": "{variant}", "item": "metrics table"},
        ),
        leaderboard=f"{RESULTS}/tasks/{{variant}}/variant_effect/evaluation/leaderboard.tsv",
        scores=f"{RESULTS}/tasks/{{variant}}/variant_effect/evaluation/scores.tsv",
        delta=report(
            f"{RESULTS}/tasks/{{variant}}/variant_effect/evaluation/delta.{TASK_PLOTS}",
            caption="../report/task_variant_effect_delta.rst",
            category=TASK_CATEGORIES["variant_effect"],
            subcategory="{variant}",
            labels={"variant": "{variant}", "item": "Δ log-likelihood by class"},
        ),
    params:
        config=CONFIG_ARGS,
        out_dir=lambda wc: f"{RESULTS}/tasks/{wc.variant}/variant_effect/evaluation",
        background="",
        settings=TASK_PLAN.settings_param("variant_effect"),
    log:
        "logs/tasks/{variant}/variant_effect/evaluate.log",
    conda:
        "../envs/genome.yaml"
    wildcard_constraints:
        variant=TASK_VARIANT_PATTERN,
    shell:
        "evocane task-evaluate --config {params.config} --task variant_effect --inputs {input.inputs:q} "
        "--predictions {input.predictions:q} {params.background} --out-dir {params.out_dir:q} > {log:q} 2>&1"


rule task_evaluate_experiments:
    input:
        inputs=f"{RESULTS}/tasks/{{variant}}/experiments/inputs",
        predictions=TASK_PLAN.predictions("experiments"),
    output:
        metrics=report(
            f"{RESULTS}/tasks/{{variant}}/experiments/evaluation/metrics.tsv",
            caption="../report/task_experiments_metrics.rst",
            category=TASK_CATEGORIES["experiments"],
            subcategory="{variant}",
            labels={"variant": "{variant}", "item": "metrics table"},
        ),
        leaderboard=f"{RESULTS}/tasks/{{variant}}/experiments/evaluation/leaderboard.tsv",
        ranked=report(
            f"{RESULTS}/tasks/{{variant}}/experiments/evaluation/ranked.tsv",
            caption="../report/task_experiments_ranked.rst",
            category=TASK_CATEGORIES["experiments"],
            subcategory="{variant}",
            labels={"variant": "{variant}", "item": "ranked elements"},
        ),
        scatter=report(
            f"{RESULTS}/tasks/{{variant}}/experiments/evaluation/scatter.{TASK_PLOTS}",
            caption="../report/task_experiments_scatter.rst",
            category=TASK_CATEGORIES["experiments"],
            subcategory="{variant}",
            labels={"variant": "{variant}", "item": "score vs measurement"},
        ),
    params:
        config=CONFIG_ARGS,
        out_dir=lambda wc: f"{RESULTS}/tasks/{wc.variant}/experiments/evaluation",
        background=TASK_PLAN.background_argument("experiments"),
        settings=TASK_PLAN.settings_param("experiments"),
    log:
        "logs/tasks/{variant}/experiments/evaluate.log",
    conda:
        "../envs/genome.yaml"
    wildcard_constraints:
        variant=TASK_VARIANT_PATTERN,
    shell:
        "evocane task-evaluate --config {params.config} --task experiments --inputs {input.inputs:q} "
        "--predictions {input.predictions:q} {params.background} --out-dir {params.out_dir:q} > {log:q} 2>&1"


rule task_evaluate_generation:
    input:
        inputs=f"{RESULTS}/tasks/{{variant}}/generation/inputs",
        generated=TASK_PLAN.generated_files(),
    output:
        metrics=report(
            f"{RESULTS}/tasks/{{variant}}/generation/evaluation/metrics.tsv",
            caption="../report/task_generation_metrics.rst",
            category=TASK_CATEGORIES["generation"],
            subcategory="{variant}",
            labels={"variant": "{variant}", "item": "metrics table"},
        ),
        leaderboard=f"{RESULTS}/tasks/{{variant}}/generation/evaluation/leaderboard.tsv",
        per_sequence=f"{RESULTS}/tasks/{{variant}}/generation/evaluation/per_sequence.tsv",
        gc=report(
            f"{RESULTS}/tasks/{{variant}}/generation/evaluation/gc.{TASK_PLOTS}",
            caption="../report/task_generation_gc.rst",
            category=TASK_CATEGORIES["generation"],
            subcategory="{variant}",
            labels={"variant": "{variant}", "item": "GC per sequence"},
        ),
        kmers=report(
            f"{RESULTS}/tasks/{{variant}}/generation/evaluation/kmer_divergence.{TASK_PLOTS}",
            caption="../report/task_generation_kmers.rst",
            category=TASK_CATEGORIES["generation"],
            subcategory="{variant}",
            labels={"variant": "{variant}", "item": "k-mer spectrum divergence"},
        ),
        properties=report(
            f"{RESULTS}/tasks/{{variant}}/generation/evaluation/properties.{TASK_PLOTS}",
            caption="../report/task_generation_properties.rst",
            category=TASK_CATEGORIES["generation"],
            subcategory="{variant}",
            labels={"variant": "{variant}", "item": "identity, repeats, lengths"},
        ),
        logos=report(
            f"{RESULTS}/tasks/{{variant}}/generation/evaluation/logos.{TASK_PLOTS}",
            caption="../report/task_generation_logos.rst",
            category=TASK_CATEGORIES["generation"],
            subcategory="{variant}",
            labels={"variant": "{variant}", "item": "sequence logos"},
        ),
    params:
        config=CONFIG_ARGS,
        out_dir=lambda wc: f"{RESULTS}/tasks/{wc.variant}/generation/evaluation",
        generated=TASK_PLAN.generated_dirs(),
        settings=TASK_PLAN.settings_param("generation"),
    log:
        "logs/tasks/{variant}/generation/evaluate.log",
    conda:
        "../envs/genome.yaml"
    wildcard_constraints:
        variant=TASK_VARIANT_PATTERN,
    shell:
        "evocane task-evaluate --config {params.config} --task generation --inputs {input.inputs:q} "
        "--generated {params.generated} --out-dir {params.out_dir:q} > {log:q} 2>&1"


LEADERBOARD_PARTS.append(TASK_PLAN.parts)
TARGET_FUNCTIONS.append(TASK_PLAN.targets)
