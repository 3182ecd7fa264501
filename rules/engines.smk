# Engines room: train, score and generate with any engine through one interface. The rules never name an engine:
# `evocane train` dispatches on the model's `engine:` in the config, `evocane score|generate` on the checkpoint.
# A new engine (hf, evo2, bionemo) needs a registry entry, a `params` schema block and a line in ENGINE_ENVS, not a
# rule. Input functions and targets: evocane.engines.workflow.

import shlex
from functools import partial

from evocane.engines import workflow as engine_workflow  # noqa: E402
from evocane.dataset.config import variant_names  # noqa: E402
from evocane.experiments import experiment_runs  # noqa: E402

try:
    ENGINE_RUNS = experiment_runs(config)
except EvocaneError as _error:
    raise WorkflowError(f"{_config_source}: {_error}") from None

MODEL_PATTERN = "|".join(config["models"]) or "(?!)"
VARIANT_PATTERN = "|".join(variant_names(config)) or "(?!)"
NEXTBASE_SPLITS = config["evaluation"]["nextbase"]["splits"]
# The config file(s) this run was started with, for the commands that read a model's settings.
CONFIG_ARGS = " ".join(shlex.quote(str(path)) for path in workflow.configfiles)
# conda env per engine (paths relative to this file); CPU numpy engines share the genome env.
ENGINE_ENVS = {"markov": "../envs/genome.yaml"}

model_spec = engine_workflow.model_spec(config)
model_resource = partial(engine_workflow.model_resource, config)
engine_env = engine_workflow.engine_env(config, ENGINE_ENVS)
dataset_dir = engine_workflow.dataset_dir(RESULTS)
dataset_files = partial(engine_workflow.dataset_files, RESULTS)
# validation/test are scored from the variant or its scored subset (evaluation.nextbase.subset)
scored_dir = engine_workflow.scored_dataset_dir(config, RESULTS)
scored_files = engine_workflow.scored_dataset_files(config, RESULTS)


rule train_model:
    input:
        dataset_files("train", "validation"),
    output:
        directory(f"{RESULTS}/models/{{model}}/{{variant}}/checkpoint"),
    params:
        config=CONFIG_ARGS,
        dataset=dataset_dir,
        spec=model_spec,
    log:
        "logs/train/{model}/{variant}.log",
    conda:
        engine_env
    threads: model_resource("threads")
    resources:
        mem_mb=model_resource("mem_mb"),
        runtime=model_resource("runtime"),
        gpu=model_resource("gpu"),
    wildcard_constraints:
        model=MODEL_PATTERN,
        variant=VARIANT_PATTERN,
    shell:
        "evocane train --config {params.config} --model {wildcards.model} --dataset {params.dataset:q} "
        "--out {output:q} > {log:q} 2>&1"


rule score_model:
    input:
        scored_files,
        checkpoint=f"{RESULTS}/models/{{model}}/{{variant}}/checkpoint",
    output:
        directory(f"{RESULTS}/predictions/{{model}}/{{variant}}/{{split}}"),
    params:
        dataset=scored_dir,
        distribution_windows=config["evaluation"]["nextbase"]["distribution_windows"],
    log:
        "logs/score/{model}/{variant}/{split}.log",
    conda:
        engine_env
    threads: model_resource("threads")
    resources:
        mem_mb=model_resource("mem_mb"),
        runtime=model_resource("runtime"),
        gpu=model_resource("gpu"),
    wildcard_constraints:
        model=MODEL_PATTERN,
        variant=VARIANT_PATTERN,
        split="validation|test",
    shell:
        "evocane score --checkpoint {input.checkpoint:q} --dataset {params.dataset:q} --split {wildcards.split} "
        "--distribution-windows {params.distribution_windows} --out {output:q} > {log:q} 2>&1"


rule make_prompts:
    input:
        dataset_files(config["evaluation"]["generation"]["prompts"]["split"]),
    output:
        f"{RESULTS}/prompts/{{variant}}.fa",
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
        "evocane make-prompts --dataset {params.dataset:q} --split {params.spec[split]} --count {params.spec[count]} "
        "--length {params.spec[length]} --seed {params.spec[seed]} --out {output:q} > {log:q} 2>&1"


rule generate_model:
    input:
        checkpoint=f"{RESULTS}/models/{{model}}/{{variant}}/checkpoint",
        prompts=f"{RESULTS}/prompts/{{variant}}.fa",
    output:
        f"{RESULTS}/generation/{{model}}/{{variant}}/generated.fa",
    params:
        config=CONFIG_ARGS,
        sampling=config["evaluation"]["generation"]["sampling"],
    log:
        "logs/generate/{model}/{variant}.log",
    conda:
        engine_env
    threads: model_resource("threads")
    resources:
        mem_mb=model_resource("mem_mb"),
        runtime=model_resource("runtime"),
        gpu=model_resource("gpu"),
    wildcard_constraints:
        model=MODEL_PATTERN,
        variant=VARIANT_PATTERN,
    shell:
        "evocane generate --config {params.config} --checkpoint {input.checkpoint:q} --prompts {input.prompts:q} "
        "--out {output:q} > {log:q} 2>&1"


TARGET_FUNCTIONS.append(partial(engine_workflow.engine_targets, ENGINE_RUNS, NEXTBASE_SPLITS, RESULTS))
