# hf engine (evocane.engines.hf): its own training rule and the training-curve figure. Scoring and generation of hf
# models go through the generic score_model / generate_model rules of rules/engines.smk.
#
# hf_train replaces train_model for hf models (ruleorder) because (1) the Slurm profile requests a GPU for a rule of
# this name, and (2) a fine-tuned model's init_checkpoint (another model's checkpoint directory under results/) is
# an input here, so Snakemake trains the pretrained model first. An interrupted hf_train resumes from the step
# checkpoints kept beside its output (results/models/{model}/{variant}/.checkpoint.resume/).

from evocane.engines.hf.params import HFParams  # noqa: E402

ENGINE_ENVS["hf"] = "../envs/hf.yaml"
HF_MODELS = [name for name, entry in config["models"].items() if entry["engine"] == "hf"]
HF_MODEL_PATTERN = "|".join(HF_MODELS) or "(?!)"
try:  # cross-key checks the schema cannot express (d_model a multiple of heads, LoRA needs weights to adapt ...)
    HF_PARAMS = {name: HFParams.from_mapping(config["models"][name]["params"]) for name in HF_MODELS}
except EvocaneError as _error:
    raise WorkflowError(f"{_config_source}: {_error}") from None
for _name in HF_MODELS:
    if HF_PARAMS[_name].lora is not None and not (config["models"][_name].get("init_checkpoint") or HF_PARAMS[_name].base_model):
        raise WorkflowError(
            f"{_config_source}: config key 'models.{_name}.params.lora': LoRA adapts existing weights; set init_checkpoint or params.base_model"
        )


ruleorder: hf_train > train_model


def hf_init_checkpoint(wildcards):
    init = config["models"][wildcards.model].get("init_checkpoint")
    return [init] if init else []


rule hf_train:
    input:
        dataset_files("train", "validation"),
        init=hf_init_checkpoint,
    output:
        directory(f"{RESULTS}/models/{{model}}/{{variant}}/checkpoint"),
    params:
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
        "evocane train --config {CONFIG_ARGS} --model {wildcards.model} --dataset {params.dataset:q} "
        "--out {output:q} > {log:q} 2>&1"


def hf_trained_checkpoints():
    """Checkpoints of every hf model the experiments train (steps > 0), and of the models they start from."""
    checkpoints = [
        f"{RESULTS}/models/{run.model}/{run.variant}/checkpoint"
        for run in ENGINE_RUNS
        if run.model in HF_MODELS and HF_PARAMS[run.model].steps > 0
    ]
    checkpoints += [config["models"][run.model]["init_checkpoint"] for run in ENGINE_RUNS
                    if run.model in HF_MODELS and config["models"][run.model].get("init_checkpoint")]  # fmt: skip
    return list(dict.fromkeys(checkpoints))


HF_PLOT_FORMAT = config["evaluation"]["plot_format"]


rule hf_loss_curves:
    input:
        checkpoints=hf_trained_checkpoints(),
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


def hf_targets():
    if not hf_trained_checkpoints():
        return []
    return [f"{RESULTS}/engines/hf/loss_curves.{HF_PLOT_FORMAT}", f"{RESULTS}/engines/hf/loss_curves.tsv"]


TARGET_FUNCTIONS.append(hf_targets)
