# Engines room: train, score and generate with any in-process engine (markov, hf, evo2, ...) through one rule
# each. The rules never name an engine: `evocane train` dispatches on the model's `engine:` in its job config,
# `evocane score|generate` on the checkpoint; the conda env, resources and parse-time checks are looked up per model
# in the engine registry (evocane.engines.base). A new engine is a module and a registry line, not a rule. Engines
# with rules of their own (BioNeMo's container steps) are left out of these rules' model pattern.
# Input functions and targets: evocane.engines.workflow.EnginePlan.

from functools import partial

from evocane.engines import workflow as engine_workflow  # noqa: E402
from evocane.dataset.config import variant_names  # noqa: E402

try:
    ENGINES = engine_workflow.EnginePlan(config)
except EvocaneError as _error:
    raise WorkflowError(f"{_config_source}: {_error}") from None

ENGINE_RUNS = ENGINES.runs
MODEL_PATTERN = engine_workflow.pattern(list(config["models"]))
VARIANT_PATTERN = engine_workflow.pattern(variant_names(config))
NEXTBASE_SPLITS = ENGINES.splits
model_resource = ENGINES.resource
# every job of a model asks for that model's resources (models.<name>.resources; threads separately)
MODEL_RESOURCES = {key: model_resource(key) for key in ("mem_mb", "runtime", "gpu")}
dataset_dir = engine_workflow.dataset_dir
dataset_files = engine_workflow.dataset_files
# validation/test are scored from the variant or its scored subset (evaluation.nextbase.subset)
scored_dir = engine_workflow.scored_dataset_dir(config)
scored_files = engine_workflow.scored_dataset_files(config)
PLOT_FORMAT = config["evaluation"]["plot_format"]


rule train_model:
    input:
        dataset_files,
        init=ENGINES.init_checkpoint,
        hpo_best=ENGINES.hpo_best,
        engine_inputs=ENGINES.engine_inputs,
    output:
        directory(layout.checkpoint()),
    params:
        config=job_config("models.{model}"),
        dataset=dataset_dir,
        hpo_best=lambda wc, input: ["--hpo-best", *input.hpo_best] if input.hpo_best else [],
    log:
        "logs/train/{model}/{variant}.log",
    conda:
        ENGINES.conda_env
    threads: model_resource("threads")
    resources:
        **MODEL_RESOURCES,
    wildcard_constraints:
        model=ENGINES.common_pattern,
        variant=VARIANT_PATTERN,
    shell:
        "evocane train --job-config {params.config:q} --model {wildcards.model:q} --dataset {params.dataset:q} "
        "{params.hpo_best:q} --out {output:q} > {log:q} 2>&1"


rule score_model:
    input:
        scored_files,
        checkpoint=layout.checkpoint(),
    output:
        directory(layout.predictions()),
    params:
        dataset=scored_dir,
        distribution_windows=config["evaluation"]["nextbase"]["distribution_windows"],
        remote_code=ENGINES.remote_code,
    log:
        "logs/score/{model}/{variant}/{split}.log",
    conda:
        ENGINES.conda_env
    threads: model_resource("threads")
    resources:
        **MODEL_RESOURCES,
    wildcard_constraints:
        model=ENGINES.unsharded_pattern,
        variant=VARIANT_PATTERN,
        split="validation|test",
    shell:
        "evocane score --checkpoint {input.checkpoint:q} --dataset {params.dataset:q} --split {wildcards.split:q} "
        "--distribution-windows {params.distribution_windows} {params.remote_code:q} --out {output:q} > {log:q} 2>&1"


# Sharded scoring (models whose shards, or evaluation.nextbase.shards, is > 1): one job per shard, each with the
# model's resources (a GPU job of its own on a cluster), then one CPU job that gathers them into the prediction set
# score_model would have written, byte for byte (evocane.predictions.plan_shards / gather_prediction_sets).
rule score_shard:
    input:
        scored_files,
        checkpoint=layout.checkpoint(),
    output:
        temp(directory(layout.prediction_shard())),
    params:
        dataset=scored_dir,
        distribution_windows=config["evaluation"]["nextbase"]["distribution_windows"],
        remote_code=ENGINES.remote_code,
    log:
        "logs/score/{model}/{variant}/{split}.{shard}-of-{shards}.log",
    conda:
        ENGINES.conda_env
    threads: model_resource("threads")
    resources:
        **MODEL_RESOURCES,
    wildcard_constraints:
        model=ENGINES.sharded_pattern,
        variant=VARIANT_PATTERN,
        split="validation|test",
        shard=r"\d+",
        shards=r"\d+",
    shell:
        "evocane score --checkpoint {input.checkpoint:q} --dataset {params.dataset:q} --split {wildcards.split:q} "
        "--distribution-windows {params.distribution_windows} {params.remote_code:q} --shard {wildcards.shard} "
        "--shards {wildcards.shards} --out {output:q} > {log:q} 2>&1"


rule gather_predictions:
    input:
        scored_files,
        shards=ENGINES.prediction_shards,
    output:
        directory(layout.predictions()),
    params:
        dataset=scored_dir,
    log:
        "logs/score/{model}/{variant}/{split}.gather.log",
    conda:
        "../envs/genome.yaml"
    wildcard_constraints:
        model=ENGINES.sharded_pattern,
        variant=VARIANT_PATTERN,
        split="validation|test",
    shell:
        "evocane gather-predictions --dataset {params.dataset:q} --split {wildcards.split:q} --shards {input.shards:q} "
        "--out {output:q} > {log:q} 2>&1"


rule make_prompts:
    input:
        dataset_files,
    output:
        layout.prompts(),
    params:
        dataset=dataset_dir,
        spec=config["evaluation"]["generation"]["prompts"],
    log:
        "logs/make_prompts/{variant}.log",
    conda:
        "../envs/genome.yaml"
    wildcard_constraints:
        variant=VARIANT_PATTERN,
    shell:
        "evocane make-prompts --dataset {params.dataset:q} --split {params.spec[split]:q} --count {params.spec[count]} "
        "--length {params.spec[length]} --seed {params.spec[seed]} --out {output:q} > {log:q} 2>&1"


rule generate_model:
    input:
        checkpoint=layout.checkpoint(),
        prompts=layout.prompts(),
    output:
        layout.generated(),
    params:
        config=job_config("evaluation.generation.sampling"),
        remote_code=ENGINES.remote_code,
    log:
        "logs/generate/{model}/{variant}.log",
    conda:
        ENGINES.conda_env
    threads: model_resource("threads")
    resources:
        **MODEL_RESOURCES,
    wildcard_constraints:
        model=ENGINES.common_pattern,
        variant=VARIANT_PATTERN,
    shell:
        "evocane generate --job-config {params.config:q} --checkpoint {input.checkpoint:q} --prompts {input.prompts:q} "
        "{params.remote_code:q} --out {output:q} > {log:q} 2>&1"


# Training curves of every engine whose models write them (the registry's `trains` check), one figure each.
rule loss_curves:
    input:
        checkpoints=lambda wc: ENGINES.curve_checkpoints(wc.engine),
    output:
        plot=report(
            layout.loss_curves("{engine}", PLOT_FORMAT),
            caption="../report/loss_curves.rst",
            category=CATEGORIES["models"],
            subcategory="{engine} training",
            labels={"engine": "{engine}", "item": "1. loss curves"},
        ),
        table=report(
            layout.loss_curves("{engine}", "tsv"),
            caption="../report/loss_table.rst",
            category=CATEGORIES["models"],
            subcategory="{engine} training",
            labels={"engine": "{engine}", "item": "2. metrics table"},
        ),
    params:
        config=job_config(model_palette=REPORT.model_palette),
    log:
        "logs/loss_curves/{engine}.log",
    conda:
        lambda wc: f"../envs/{ENGINES.engine_env(wc.engine)}.yaml"
    wildcard_constraints:
        engine=engine_workflow.pattern(ENGINES.curve_engines()),
    shell:
        "evocane loss-curves --job-config {params.config:q} --checkpoints {input.checkpoints:q} --plot {output.plot:q} --table {output.table:q} "
        "> {log:q} 2>&1"


TARGET_FUNCTIONS.append(ENGINES.engine_targets)
TARGET_FUNCTIONS.append(partial(ENGINES.curve_targets, PLOT_FORMAT))
