# hf engine (evocane.engines.hf): its own training rule and the training-curve figure. Scoring and generation of hf
# models go through the generic score_model / generate_model rules of rules/engines.smk.
#
# hf_train replaces train_model for hf models (ruleorder) because (1) the Slurm profiles know it by name, and (2) a
# fine-tuned model's init_checkpoint (another model's checkpoint directory under results/) is an input here, so
# Snakemake trains the pretrained model first. An interrupted hf_train resumes from the step checkpoints kept beside
# its output (results/models/{model}/{variant}/.checkpoint.resume/). Config helpers: evocane.engines.hf.workflow.

from evocane.engines.hf import workflow as hf_workflow  # noqa: E402

ENGINE_ENVS["hf"] = "../envs/hf.yaml"
try:  # cross-key checks the schema cannot express (d_model a multiple of heads, LoRA needs weights to adapt ...)
    HF_PARAMS = hf_workflow.hf_params(config)
except EvocaneError as _error:
    raise WorkflowError(f"{_config_source}: {_error}") from None
HF_MODEL_PATTERN = "|".join(HF_PARAMS) or "(?!)"
HF_CHECKPOINTS = hf_workflow.trained_checkpoints(config, ENGINE_RUNS, HF_PARAMS, RESULTS)
HF_PLOT_FORMAT = config["evaluation"]["plot_format"]


ruleorder: hf_train > train_model


rule hf_train:
    input:
        dataset_files("train", "validation"),
        init=engine_workflow.init_checkpoint_input(config),
    output:
        directory(f"{RESULTS}/models/{{model}}/{{variant}}/checkpoint"),
    params:
        config=CONFIG_ARGS,
        dataset=dataset_dir,
        spec=model_spec,
    log:
        "logs/train/{model}/{variant}.log",
    conda:
        "../envs/hf.yaml"
    threads: model_resource("threads")
    resources:
        mem_mb=model_resource("mem_mb"),
        runtime=model_resource("runtime"),
        gpu=model_resource("gpu"),
    wildcard_constraints:
        model=HF_MODEL_PATTERN,
        variant=VARIANT_PATTERN,
    shell:
        "evocane train --config {params.config} --model {wildcards.model} --dataset {params.dataset:q} "
        "--out {output:q} > {log:q} 2>&1"


rule hf_loss_curves:
    input:
        checkpoints=HF_CHECKPOINTS,
    output:
        plot=report(
            f"{RESULTS}/engines/hf/loss_curves.{HF_PLOT_FORMAT}",
            caption="../report/hf_loss_curves.rst",
            category="3. Models",
            subcategory="hf training",
            labels={"item": "loss curves"},
        ),
        table=report(
            f"{RESULTS}/engines/hf/loss_curves.tsv",
            caption="../report/hf_loss_table.rst",
            category="3. Models",
            subcategory="hf training",
            labels={"item": "metrics table"},
        ),
    log:
        "logs/hf_loss_curves.log",
    conda:
        "../envs/hf.yaml"
    shell:
        "evocane hf-loss-curves --checkpoints {input.checkpoints:q} --plot {output.plot:q} --table {output.table:q} "
        "> {log:q} 2>&1"


TARGET_FUNCTIONS.append(lambda: hf_workflow.loss_curve_targets(HF_CHECKPOINTS, RESULTS, HF_PLOT_FORMAT))
