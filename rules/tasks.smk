# Tasks room: the benchmark's tasks beyond next-base prediction, for every model of every experiment on a variant
# (evaluation.tasks in the config). Task inputs are cut from the variant's test split (results/tasks/{variant}/
# {task}/inputs, dataset contract or prompt FASTA); every engine scores them through `evocane task-score` (the
# engine interface's score) or, for the models of experiments with `generate: true`, generates through
# `evocane generate`; `evocane task-evaluate` writes the metrics,
# the figures and a leaderboard part. Needs rules/engines.smk (ENGINE_RUNS, engine_env, model_resource) first.

import json
import shlex
from pathlib import Path

from evocane.evaluate.tasks import background_model, task_variants  # noqa: E402

TASKS = config["evaluation"]["tasks"]
try:
    TASK_VARIANTS = task_variants(config, list(dict.fromkeys(run.variant for run in ENGINE_RUNS)))
except EvocaneError as _error:
    raise WorkflowError(f"{_config_source}: {_error}") from None
TASKS_ENABLED = [t for t in TASKS["enabled"] if t != "experiments" or TASKS["experiments"]["table"]]
TASK_BACKGROUND = background_model(config)
TASK_PLOTS = config["evaluation"]["plot_format"]
TASK_VARIANT_PATTERN = "|".join(TASK_VARIANTS) or "(?!)"
TASK_CATEGORIES = {
    "generation": "5. Generation",
    "regulatory": "6. Regulatory elements (zero-shot)",
    "variant_effect": "7. Variant effect (in-silico mutagenesis)",
    "experiments": "8. Experimental data",
}
LEADERBOARD_PARTS = globals().get("LEADERBOARD_PARTS", [])


def task_models(variant, generating=False):
    """Models of the experiments on ``variant``; for generation only those whose experiment has generate: true."""
    return [run.model for run in ENGINE_RUNS if run.variant == variant and (run.generate or not generating)]


def task_settings(task=None):
    """The task's settings (and the bootstrap/background ones) as a param, so a changed setting reruns the step."""

    def settings(wc):
        name = task or wc.task
        return json.dumps({"task": TASKS[name], "background": TASKS["background"], "members": TASKS["members"],
                           "bootstrap": config["evaluation"]["bootstrap"]}, sort_keys=True)  # fmt: skip

    return settings


def resolved_table():
    """The experiments table: a relative path is taken from the working directory if it is there, else from the
    workflow's directory (so the demo table is found when snakemake runs with --directory elsewhere)."""
    table = TASKS["experiments"]["table"]
    if not table or Path(table).is_absolute() or Path(table).exists():
        return table
    return str(Path(workflow.basedir) / table)


TASK_TABLE = resolved_table()


def task_table(wildcards):
    return [TASK_TABLE] if wildcards.task == "experiments" else []


rule task_inputs:
    input:
        dataset_files("test"),
        genomes=expand(f"{RESULTS}/genomes/{{cultivar}}/{{name}}", cultivar=CULTIVARS, name=["genome.fa.gz", "annotation.gff3.gz"]),
        table=task_table,
    output:
        directory(f"{RESULTS}/tasks/{{variant}}/{{task}}/inputs"),
    params:
        dataset=dataset_dir,
        settings=task_settings(),
        table=lambda wc: f"--table {shlex.quote(TASK_TABLE)}" if wc.task == "experiments" else "",
    log:
        "logs/tasks/{variant}/{task}/inputs.log",
    conda:
        "../envs/genome.yaml"
    wildcard_constraints:
        variant=TASK_VARIANT_PATTERN,
        task="generation|regulatory|variant_effect|experiments",
    shell:
        "evocane task-inputs --config {CONFIG_ARGS} --task {wildcards.task} --dataset {params.dataset:q} "
        "--genomes {RESULTS}/genomes {params.table} --out {output:q} > {log:q} 2>&1"


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


TASK_SAMPLING = TASKS["generation"]


rule task_generate:
    input:
        inputs=f"{RESULTS}/tasks/{{variant}}/generation/inputs",
        checkpoint=f"{RESULTS}/models/{{model}}/{{variant}}/checkpoint",
    output:
        sampled=f"{RESULTS}/tasks/{{variant}}/generation/generated/{{model}}/sampled.fa",
        greedy=f"{RESULTS}/tasks/{{variant}}/generation/generated/{{model}}/greedy.fa",
    params:
        sampling=(
            f"--n-tokens {TASK_SAMPLING['continuation_length']} --temperature {TASK_SAMPLING['temperature']} "
            f"--top-k {TASK_SAMPLING['top_k']} --top-p {TASK_SAMPLING['top_p']} --seed {TASK_SAMPLING['seed']}"
        ),
        samples=TASK_SAMPLING["samples_per_prompt"],
        greedy=f"--n-tokens {TASK_SAMPLING['continuation_length']} --samples-per-prompt 1 --temperature 0 --seed {TASK_SAMPLING['seed']}",
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
        "(evocane generate --config {CONFIG_ARGS} --checkpoint {input.checkpoint:q} --prompts {input.inputs:q}/prompts.fa "
        "{params.sampling} --samples-per-prompt {params.samples} --out {output.sampled:q} && "
        "evocane generate --config {CONFIG_ARGS} --checkpoint {input.checkpoint:q} --prompts {input.inputs:q}/prompts.fa "
        "{params.greedy} --out {output.greedy:q}) > {log:q} 2>&1"


def task_predictions(task):
    return lambda wc: [f"{RESULTS}/tasks/{wc.variant}/{task}/predictions/{m}" for m in task_models(wc.variant)]


def task_background_arg(task):
    def argument(wc):
        if TASK_BACKGROUND in task_models(wc.variant):
            return f"--background {RESULTS}/tasks/{wc.variant}/{task}/predictions/{TASK_BACKGROUND}"
        return ""

    return argument


def task_report(task, name, caption, item):
    return report(
        f"{RESULTS}/tasks/{{variant}}/{task}/evaluation/{name}",
        caption=f"../report/{caption}",
        category=TASK_CATEGORIES[task],
        subcategory="{variant}",
        labels={"variant": "{variant}", "item": item},
    )


TASK_EVALUATE_COMMAND = (
    "evocane task-evaluate --config {CONFIG_ARGS} --task {params.task} --inputs {input.inputs:q} "
    "--predictions {input.predictions:q} {params.background} --out-dir {params.out_dir:q} > {log:q} 2>&1"
)


rule task_evaluate_regulatory:
    input:
        inputs=f"{RESULTS}/tasks/{{variant}}/regulatory/inputs",
        predictions=task_predictions("regulatory"),
    output:
        metrics=task_report("regulatory", "metrics.tsv", "task_regulatory_metrics.rst", "metrics table"),
        leaderboard=f"{RESULTS}/tasks/{{variant}}/regulatory/evaluation/leaderboard.tsv",
        scores=f"{RESULTS}/tasks/{{variant}}/regulatory/evaluation/scores.tsv",
        profile=f"{RESULTS}/tasks/{{variant}}/regulatory/evaluation/profile.parquet",
        auroc=task_report("regulatory", f"auroc.{TASK_PLOTS}", "task_regulatory_auroc.rst", "AUROC sites vs negatives"),
        metaplot=task_report("regulatory", f"metaplot.{TASK_PLOTS}", "task_regulatory_metaplot.rst", "metaplots around sites"),
        distributions=task_report("regulatory", f"scores.{TASK_PLOTS}", "task_regulatory_scores.rst", "score distributions"),
    params:
        task="regulatory",
        out_dir=lambda wc: f"{RESULTS}/tasks/{wc.variant}/regulatory/evaluation",
        background=task_background_arg("regulatory"),
        settings=task_settings("regulatory"),
    log:
        "logs/tasks/{variant}/regulatory/evaluate.log",
    conda:
        "../envs/genome.yaml"
    wildcard_constraints:
        variant=TASK_VARIANT_PATTERN,
    shell:
        TASK_EVALUATE_COMMAND


rule task_evaluate_variant_effect:
    input:
        inputs=f"{RESULTS}/tasks/{{variant}}/variant_effect/inputs",
        predictions=task_predictions("variant_effect"),
    output:
        metrics=task_report("variant_effect", "metrics.tsv", "task_variant_effect_metrics.rst", "metrics table"),
        leaderboard=f"{RESULTS}/tasks/{{variant}}/variant_effect/evaluation/leaderboard.tsv",
        scores=f"{RESULTS}/tasks/{{variant}}/variant_effect/evaluation/scores.tsv",
        delta=task_report("variant_effect", f"delta.{TASK_PLOTS}", "task_variant_effect_delta.rst", "Δ log-likelihood by class"),
    params:
        task="variant_effect",
        out_dir=lambda wc: f"{RESULTS}/tasks/{wc.variant}/variant_effect/evaluation",
        background="",
        settings=task_settings("variant_effect"),
    log:
        "logs/tasks/{variant}/variant_effect/evaluate.log",
    conda:
        "../envs/genome.yaml"
    wildcard_constraints:
        variant=TASK_VARIANT_PATTERN,
    shell:
        TASK_EVALUATE_COMMAND


rule task_evaluate_experiments:
    input:
        inputs=f"{RESULTS}/tasks/{{variant}}/experiments/inputs",
        predictions=task_predictions("experiments"),
    output:
        metrics=task_report("experiments", "metrics.tsv", "task_experiments_metrics.rst", "metrics table"),
        leaderboard=f"{RESULTS}/tasks/{{variant}}/experiments/evaluation/leaderboard.tsv",
        ranked=task_report("experiments", "ranked.tsv", "task_experiments_ranked.rst", "ranked elements"),
        scatter=task_report("experiments", f"scatter.{TASK_PLOTS}", "task_experiments_scatter.rst", "score vs measurement"),
    params:
        task="experiments",
        out_dir=lambda wc: f"{RESULTS}/tasks/{wc.variant}/experiments/evaluation",
        background=task_background_arg("experiments"),
        settings=task_settings("experiments"),
    log:
        "logs/tasks/{variant}/experiments/evaluate.log",
    conda:
        "../envs/genome.yaml"
    wildcard_constraints:
        variant=TASK_VARIANT_PATTERN,
    shell:
        TASK_EVALUATE_COMMAND


rule task_evaluate_generation:
    input:
        inputs=f"{RESULTS}/tasks/{{variant}}/generation/inputs",
        generated=lambda wc: [
            f"{RESULTS}/tasks/{wc.variant}/generation/generated/{m}/{kind}.fa"
            for m in task_models(wc.variant, generating=True)
            for kind in ("sampled", "greedy")
        ],
    output:
        metrics=task_report("generation", "metrics.tsv", "task_generation_metrics.rst", "metrics table"),
        leaderboard=f"{RESULTS}/tasks/{{variant}}/generation/evaluation/leaderboard.tsv",
        per_sequence=f"{RESULTS}/tasks/{{variant}}/generation/evaluation/per_sequence.tsv",
        gc=task_report("generation", f"gc.{TASK_PLOTS}", "task_generation_gc.rst", "GC per sequence"),
        kmers=task_report("generation", f"kmer_divergence.{TASK_PLOTS}", "task_generation_kmers.rst", "k-mer spectrum divergence"),
        properties=task_report("generation", f"properties.{TASK_PLOTS}", "task_generation_properties.rst", "identity, repeats, lengths"),
        logos=task_report("generation", f"logos.{TASK_PLOTS}", "task_generation_logos.rst", "sequence logos"),
    params:
        out_dir=lambda wc: f"{RESULTS}/tasks/{wc.variant}/generation/evaluation",
        generated=lambda wc: " ".join(f"{RESULTS}/tasks/{wc.variant}/generation/generated/{m}" for m in task_models(wc.variant, generating=True)),
        settings=task_settings("generation"),
    log:
        "logs/tasks/{variant}/generation/evaluate.log",
    conda:
        "../envs/genome.yaml"
    wildcard_constraints:
        variant=TASK_VARIANT_PATTERN,
    shell:
        "evocane task-evaluate --config {CONFIG_ARGS} --task generation --inputs {input.inputs:q} "
        "--generated {params.generated} --out-dir {params.out_dir:q} > {log:q} 2>&1"


def task_runs():
    """(variant, task) pairs that have models to evaluate."""
    return [
        (variant, task)
        for variant in TASK_VARIANTS
        for task in TASKS_ENABLED
        if task_models(variant, generating=task == "generation")
    ]


def task_parts():
    return [f"{RESULTS}/tasks/{variant}/{task}/evaluation/leaderboard.tsv" for variant, task in task_runs()]


LEADERBOARD_PARTS.append(task_parts)


def task_targets():
    return [f"{RESULTS}/tasks/{variant}/{task}/evaluation/metrics.tsv" for variant, task in task_runs()]


TARGET_FUNCTIONS.append(task_targets)
