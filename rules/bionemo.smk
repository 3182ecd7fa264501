# BioNeMo engine (evocane.engines.bionemo): Evo 2 through the Evo 2 CLIs of the bionemo-framework container
# (bionemo.image, default nvcr.io/nvidia/clara/bionemo-framework:2.7.1) on Slurm GPUs under apptainer.
#
#   bionemo_convert     GPU  Savanna checkpoint (hf:// or local .pt) -> NeMo2            results/bionemo/checkpoints/{checkpoint}
#   bionemo_preprocess  CPU  dataset FASTA -> Megatron .bin/.idx (the datasets room's YAML) results/datasets/{variant}/bionemo/preprocessed
#   bionemo_train       GPU  train_evo2, full or LoRA, 1 node (torchrun) or N nodes (srun)  results/bionemo/train/{model}/{variant}/run.json
#   bionemo_checkpoint  CPU  evocane checkpoint pointer (replaces train_model)              results/models/{model}/{variant}/checkpoint
#   bionemo_fasta       CPU  windows of a split, lineage tag included, as FASTA             results/bionemo/fasta/{variant}/{split}.fa
#   bionemo_predict     GPU  predict_evo2 --prepend-bos (logits or per-token log-probs)     results/bionemo/predict/... (temporary)
#   bionemo_predictions CPU  -> prediction format (replaces score_model)                   results/predictions/{model}/{variant}/{split}
#   bionemo_infer       GPU  one infer_evo2 call per prompt and sample                     results/bionemo/infer/{model}/{variant}
#   bionemo_generated   CPU  -> generated FASTA (replaces generate_model)                   results/generation/{model}/{variant}/generated.fa
#
# GPU counts, nodes, CPUs per GPU, memory and runtime come from the config (bionemo.train/predict/infer/resources):
# the Slurm request and the CLI's --devices/--num-nodes must agree, so a profile should set only partitions (and
# gpu_model/constraint) for these rules. Multi-node training is an MPI-style job (resources mpi, nodes,
# tasks_per_node, gres): its rule has no container, and `srun ... apptainer exec --nv <.sif> train_evo2` starts one
# container per GPU task, because srun is not available inside the container.
#
# Resume: train_evo2 resumes from {result-dir}/{experiment-name}/checkpoints when a checkpoint is there, ignoring
# --ckpt-dir. Each model and variant has its own result directory (results/bionemo/train/{model}/{variant}), which is
# not a rule output, so a resubmitted job (time limit, preemption, --retries) continues where it stopped; a run
# directory left by a different command is refused (delete it to start over).

import dataclasses
import json

from evocane.engines.bionemo import paths as bionemo_paths  # noqa: E402
from evocane.engines.bionemo.commands import preprocess_command, shell_join  # noqa: E402
from evocane.engines.bionemo.workflow import (  # noqa: E402
    BioNeMoPlan,
    preprocessed_dir,
    preprocess_config,
    train_dataset_config,
    training_data,
)

try:
    BIONEMO = BioNeMoPlan.from_config(config)
except EvocaneError as _error:
    raise WorkflowError(f"{_config_source}: {_error}") from None

BIONEMO_IMAGE = BIONEMO.settings.image
BIONEMO_SCRIPT = str(Path(workflow.basedir) / "scripts" / "bionemo_run.py")
BIONEMO_OUT = bionemo_paths.BIONEMO
BIONEMO_MODEL_PATTERN = "|".join(BIONEMO.model_names) or "(?!)"
BIONEMO_TRAINED_PATTERN = "|".join(BIONEMO.trained_model_names) or "(?!)"
BIONEMO_GENERATING_PATTERN = "|".join(name for name, model in BIONEMO.models.items() if not model.lora) or "(?!)"
BIONEMO_CONVERTED_PATTERN = "|".join(BIONEMO.converted_checkpoints) or "(?!)"

for _run in ENGINE_RUNS:
    if _run.generate and _run.model in BIONEMO.models and BIONEMO.models[_run.model].lora:
        raise WorkflowError(
            f"{_config_source}: model '{_run.model}' is a LoRA fine-tune, and infer_evo2 (v2.7.1) cannot apply LoRA "
            "adapters: it cannot generate (remove it from the experiments with generate: true)"
        )


# bionemo models are outside the shared engine rules' model pattern (own_rules in the engine registry); the task
# rules are shared with every engine, so the BioNeMo versions take precedence for BioNeMo models
ruleorder: bionemo_task_predictions > task_score
ruleorder: bionemo_task_generated > task_generate


rule bionemo_convert:
    output:
        directory(f"{BIONEMO_OUT}/checkpoints/{{checkpoint}}"),
    params:
        script=BIONEMO_SCRIPT,
        spec=lambda wc: json.dumps(dataclasses.asdict(BIONEMO.settings.checkpoints[wc.checkpoint]), sort_keys=True),
    log:
        "logs/bionemo/convert/{checkpoint}.log",
    container:
        BIONEMO_IMAGE
    resources:
        **BIONEMO.convert_resources(),
    wildcard_constraints:
        checkpoint=BIONEMO_CONVERTED_PATTERN,
    shell:
        "python {params.script:q} convert --spec {params.spec:q} --out {output:q} > {log:q} 2>&1"


rule bionemo_preprocess:
    input:
        config=preprocess_config("{variant}", "{split}"),
        fasta=str(VARIANT.fasta("{split}")),
    output:
        multiext(
            f"{preprocessed_dir('{variant}')}/{{variant}}_{{split}}_byte-level_",
            "train.bin",
            "train.idx",
            "val.bin",
            "val.idx",
            "test.bin",
            "test.idx",
        ),
    params:
        command=lambda wc, input: shell_join(preprocess_command(input.config)),
    log:
        "logs/bionemo/preprocess/{variant}/{split}.log",
    container:
        BIONEMO_IMAGE
    threads: BIONEMO.preprocess_resources()["cpus_per_task"]
    resources:
        **BIONEMO.preprocess_resources(),
    wildcard_constraints:
        variant=VARIANT_PATTERN,
        split="train|validation|test",
    shell:
        "{params.command} > {log:q} 2>&1"


rule bionemo_train:
    input:
        dataset_config=train_dataset_config("{variant}"),
        data=training_data("{variant}"),
        base=lambda wc: BIONEMO.base_checkpoint_dir(wc.model),
    output:
        manifest=bionemo_paths.train_manifest("{model}", "{variant}"),
    params:
        script=BIONEMO_SCRIPT,
        command=lambda wc: shell_join(BIONEMO.train_argv(wc.model, wc.variant)),
        run_dir=lambda wc: bionemo_paths.train_run_dir(wc.model, wc.variant),
        checkpoints=lambda wc: bionemo_paths.train_checkpoints_dir(wc.model, wc.variant),
        extra=lambda wc: json.dumps({"model": wc.model, "variant": wc.variant, "finetune": BIONEMO.models[wc.model].finetune}),
    log:
        "logs/bionemo/train/{model}/{variant}.log",
    container:
        BIONEMO.train_container()
    resources:
        **{key: bionemo_train_resource(key) for key in BIONEMO.train_resource_keys()},
    wildcard_constraints:
        model=BIONEMO_TRAINED_PATTERN,
        variant=VARIANT_PATTERN,
    shell:
        "python {params.script:q} train --run-dir {params.run_dir:q} --checkpoints-dir {params.checkpoints:q} "
        "--manifest {output.manifest:q} --extra {params.extra:q} -- {params.command} > {log:q} 2>&1"


rule bionemo_checkpoint:
    input:
        unpack(bionemo_checkpoint_inputs),
    output:
        directory(layout.checkpoint()),
    params:
        manifest=lambda wc, input: ["--train-manifest", input.manifest] if "manifest" in input.keys() else [],
        config=job_config("models.{model}", "bionemo"),
    log:
        "logs/bionemo/checkpoint/{model}/{variant}.log",
    conda:
        "../envs/bionemo.yaml"
    localrule: True
    wildcard_constraints:
        model=BIONEMO_MODEL_PATTERN,
        variant=VARIANT_PATTERN,
    shell:
        "evocane bionemo-checkpoint --job-config {params.config:q} --model {wildcards.model:q} "
        "--variant {wildcards.variant:q} --out {output:q} {params.manifest:q} > {log:q} 2>&1"


# --- scoring: the dataset's validation/test splits and the tasks' datasets ({target}) -------------------------------
# target = validation | test (results/predictions) or task_<task> (results/tasks/{variant}/<task>/predictions)
BIONEMO_TASKS = ("regulatory", "variant_effect", "experiments")
BIONEMO_SCORE_TARGETS = "|".join(["validation", "test"] + [f"task_{task}" for task in BIONEMO_TASKS])


rule bionemo_fasta:
    input:
        bionemo_scored_inputs,
    output:
        f"{BIONEMO_OUT}/fasta/{{variant}}/{{target}}.fa",
    params:
        dataset=lambda wc: bionemo_scored_dataset(wc)[0],
        split=lambda wc: bionemo_scored_dataset(wc)[1],
    log:
        "logs/bionemo/fasta/{variant}/{target}.log",
    conda:
        "../envs/bionemo.yaml"
    wildcard_constraints:
        variant=VARIANT_PATTERN,
        target=BIONEMO_SCORE_TARGETS,
    shell:
        "evocane bionemo-fasta --dataset {params.dataset:q} --split {params.split:q} --out {output:q} > {log:q} 2>&1"


rule bionemo_predict:
    input:
        checkpoint=layout.checkpoint(),
        fasta=f"{BIONEMO_OUT}/fasta/{{variant}}/{{target}}.fa",
    output:
        temp(directory(f"{BIONEMO_OUT}/predict/{{model}}/{{variant}}/{{target}}")),
    params:
        script=BIONEMO_SCRIPT,
    log:
        "logs/bionemo/predict/{model}/{variant}/{target}.log",
    container:
        BIONEMO_IMAGE
    resources:
        **BIONEMO.predict_resources(),
    wildcard_constraints:
        model=BIONEMO_MODEL_PATTERN,
        variant=VARIANT_PATTERN,
        target=BIONEMO_SCORE_TARGETS,
    shell:
        "python {params.script:q} predict --checkpoint {input.checkpoint:q} --fasta {input.fasta:q} --out {output:q} "
        "> {log:q} 2>&1"


BIONEMO_CONVERT_MEM_MB = max(4000, BIONEMO.settings.job_resources("predict").mem_mb // 4)


rule bionemo_predictions:
    input:
        scored_files,
        raw=f"{BIONEMO_OUT}/predict/{{model}}/{{variant}}/{{split}}",
        checkpoint=layout.checkpoint(),
    output:
        directory(layout.predictions()),
    params:
        dataset=scored_dir,
        distribution_windows=config["evaluation"]["nextbase"]["distribution_windows"],
    log:
        "logs/bionemo/predictions/{model}/{variant}/{split}.log",
    conda:
        "../envs/bionemo.yaml"
    resources:
        mem_mb=BIONEMO_CONVERT_MEM_MB,
    wildcard_constraints:
        model=BIONEMO_MODEL_PATTERN,
        variant=VARIANT_PATTERN,
        split="validation|test",
    shell:
        "evocane bionemo-predictions --raw {input.raw:q} --checkpoint {input.checkpoint:q} --dataset {params.dataset:q} "
        "--split {wildcards.split:q} --distribution-windows {params.distribution_windows} --out {output:q} > {log:q} 2>&1"


rule bionemo_task_predictions:
    input:
        inputs=layout.task_inputs(),
        raw=f"{BIONEMO_OUT}/predict/{{model}}/{{variant}}/task_{{task}}",
        checkpoint=layout.checkpoint(),
    output:
        directory(layout.task_predictions()),
    log:
        "logs/bionemo/task_predictions/{variant}/{task}/{model}.log",
    conda:
        "../envs/bionemo.yaml"
    resources:
        mem_mb=BIONEMO_CONVERT_MEM_MB,
    wildcard_constraints:
        model=BIONEMO_MODEL_PATTERN,
        variant=VARIANT_PATTERN,
        task="|".join(BIONEMO_TASKS),
    shell:
        "evocane bionemo-predictions --raw {input.raw:q} --checkpoint {input.checkpoint:q} --dataset {input.inputs:q} "
        "--split test --task {wildcards.task} --out {output:q} > {log:q} 2>&1"


rule bionemo_infer:
    input:
        checkpoint=layout.checkpoint(),
        prompts=bionemo_prompts,
    output:
        directory(f"{BIONEMO_OUT}/infer/{{model}}/{{variant}}/{{target}}"),
    params:
        script=BIONEMO_SCRIPT,
        prompts=lambda wc, input: input.prompts if wc.target == "generation" else f"{input.prompts}/prompts.fa",
        sampling=lambda wc: json.dumps(bionemo_sampling(wc.target), sort_keys=True),
    log:
        "logs/bionemo/infer/{model}/{variant}/{target}.log",
    container:
        BIONEMO_IMAGE
    resources:
        **BIONEMO.infer_resources(),
    wildcard_constraints:
        model=BIONEMO_GENERATING_PATTERN,
        variant=VARIANT_PATTERN,
        target="generation|task_sampled|task_greedy",
    shell:
        "python {params.script:q} infer --checkpoint {input.checkpoint:q} --prompts {params.prompts:q} "
        "--out {output:q} --sampling {params.sampling:q} > {log:q} 2>&1"


rule bionemo_generated:
    input:
        raw=f"{BIONEMO_OUT}/infer/{{model}}/{{variant}}/generation",
        checkpoint=layout.checkpoint(),
    output:
        layout.generated(),
    log:
        "logs/bionemo/generated/{model}/{variant}.log",
    conda:
        "../envs/bionemo.yaml"
    wildcard_constraints:
        model=BIONEMO_GENERATING_PATTERN,
        variant=VARIANT_PATTERN,
    shell:
        "evocane bionemo-generated --raw {input.raw:q} --checkpoint {input.checkpoint:q} --out {output:q} > {log:q} 2>&1"


rule bionemo_task_generated:
    input:
        sampled=f"{BIONEMO_OUT}/infer/{{model}}/{{variant}}/task_sampled",
        greedy=f"{BIONEMO_OUT}/infer/{{model}}/{{variant}}/task_greedy",
        checkpoint=layout.checkpoint(),
    output:
        sampled=layout.task_generated(mode="sampled"),
        greedy=layout.task_generated(mode="greedy"),
    log:
        "logs/bionemo/task_generated/{variant}/{model}.log",
    conda:
        "../envs/bionemo.yaml"
    wildcard_constraints:
        model=BIONEMO_GENERATING_PATTERN,
        variant=VARIANT_PATTERN,
    shell:
        "(evocane bionemo-generated --raw {input.sampled:q} --checkpoint {input.checkpoint:q} --out {output.sampled:q} && "
        "evocane bionemo-generated --raw {input.greedy:q} --checkpoint {input.checkpoint:q} --out {output.greedy:q}) "
        "> {log:q} 2>&1"
