# evo2 engine (evocane.engines.evo2): Evo 2 on one GPU through Arc's vortex (PyPI vtx + evo2), zero-shot, LoRA and
# full fine-tuning.
#
#   evo2_train        GPU  zero-shot: checkpoint pointer (checks weights, FP8/TE); lora/full: fine-tune + export
#                          (replaces train_model)                                   results/models/{model}/{variant}/checkpoint
#   evo2_score        GPU  prediction format (replaces score_model)                 results/predictions/{model}/{variant}/{split}
#   evo2_generate     GPU  continuations of the variant's prompts (replaces generate_model)
#                                                                                   results/generation/{model}/{variant}/generated.fa
#   evo2_embed        GPU  mean embeddings of params.embed_splits                   results/embeddings/{model}/{variant}/{split}
#   evo2_loss_curves  CPU  training curves of the fine-tunes (report)               results/engines/evo2/loss_curves.*
#
# Every GPU job takes gpu, threads, mem_mb and runtime from models.<name>.resources (gpu >= 1 is required, and the
# task rules of rules/tasks.smk score and generate evo2 models with the same resources). The evo2 jobs run only
# with `evo2: {enabled: true}`; the CPU demo keeps them off. An interrupted fine-tune resumes from the states kept
# beside its output (results/models/{model}/{variant}/checkpoint.resume/).

from evocane.engines.evo2.params import Evo2Params  # noqa: E402

ENGINE_ENVS["evo2"] = "../envs/evo2.yaml"
EVO2_MODELS = {name: entry for name, entry in config["models"].items() if entry["engine"] == "evo2"}
EVO2_MODEL_PATTERN = "|".join(EVO2_MODELS) or "(?!)"
try:
    EVO2_PARAMS = {name: Evo2Params.from_mapping(entry["params"]) for name, entry in EVO2_MODELS.items()}
except EvocaneError as _error:
    raise WorkflowError(f"{_config_source}: {_error}") from None
for _name, _entry in EVO2_MODELS.items():
    if EVO2_PARAMS[_name].device == "cuda" and _entry["resources"]["gpu"] < 1:
        raise WorkflowError(
            f"{_config_source}: config key 'models.{_name}.resources.gpu': engine evo2 needs a CUDA GPU, set gpu: 1"
        )
if not config["evo2"]["enabled"]:
    # evo2.enabled: false (the CPU demo) keeps the evo2 models out of the requested runs; the rules stay defined,
    # so `--config 'evo2={enabled: true}'` plans them.
    ENGINE_RUNS[:] = [run for run in ENGINE_RUNS if run.model not in EVO2_MODELS]
EVO2_RUNS = [run for run in ENGINE_RUNS if run.model in EVO2_MODELS]


ruleorder: evo2_train > train_model
ruleorder: evo2_score > score_model
ruleorder: evo2_generate > generate_model


rule evo2_train:
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
        "../envs/evo2.yaml"
    threads: model_resource("threads")
    resources:
        mem_mb=model_resource("mem_mb"),
        runtime=model_resource("runtime"),
        gpu=model_resource("gpu"),
    wildcard_constraints:
        model=EVO2_MODEL_PATTERN,
        variant=VARIANT_PATTERN,
    shell:
        "evocane train --config {params.config} --model {wildcards.model} --dataset {params.dataset:q} "
        "--out {output:q} > {log:q} 2>&1"


rule evo2_score:
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
        "../envs/evo2.yaml"
    threads: model_resource("threads")
    resources:
        mem_mb=model_resource("mem_mb"),
        runtime=model_resource("runtime"),
        gpu=model_resource("gpu"),
    wildcard_constraints:
        model=EVO2_MODEL_PATTERN,
        variant=VARIANT_PATTERN,
        split="validation|test",
    shell:
        "evocane score --checkpoint {input.checkpoint:q} --dataset {params.dataset:q} --split {wildcards.split} "
        "--distribution-windows {params.distribution_windows} --out {output:q} > {log:q} 2>&1"


rule evo2_generate:
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
        "../envs/evo2.yaml"
    threads: model_resource("threads")
    resources:
        mem_mb=model_resource("mem_mb"),
        runtime=model_resource("runtime"),
        gpu=model_resource("gpu"),
    wildcard_constraints:
        model=EVO2_MODEL_PATTERN,
        variant=VARIANT_PATTERN,
    shell:
        "evocane generate --config {params.config} --checkpoint {input.checkpoint:q} --prompts {input.prompts:q} "
        "--out {output:q} > {log:q} 2>&1"


rule evo2_embed:
    input:
        dataset_files(),
        checkpoint=f"{RESULTS}/models/{{model}}/{{variant}}/checkpoint",
    output:
        directory(f"{RESULTS}/embeddings/{{model}}/{{variant}}/{{split}}"),
    params:
        dataset=dataset_dir,
        layers=lambda wc: " ".join(f"--layer {layer}" for layer in EVO2_PARAMS[wc.model].embed_layers),
    log:
        "logs/embed/{model}/{variant}/{split}.log",
    conda:
        "../envs/evo2.yaml"
    threads: model_resource("threads")
    resources:
        mem_mb=model_resource("mem_mb"),
        runtime=model_resource("runtime"),
        gpu=model_resource("gpu"),
    wildcard_constraints:
        model=EVO2_MODEL_PATTERN,
        variant=VARIANT_PATTERN,
        split="train|validation|test",
    shell:
        "evocane evo2-embed --checkpoint {input.checkpoint:q} --dataset {params.dataset:q} --split {wildcards.split} "
        "{params.layers} --out {output:q} > {log:q} 2>&1"


EVO2_PLOT_FORMAT = config["evaluation"]["plot_format"]


rule evo2_loss_curves:
    input:
        checkpoints=evo2_finetuned_checkpoints(),
    output:
        plot=report(
            f"{RESULTS}/engines/evo2/loss_curves.{EVO2_PLOT_FORMAT}",
            caption="../report/evo2_loss_curves.rst",
            category="3. Models",
            subcategory="evo2 fine-tuning",
            labels={"item": "loss curves"},
        ),
        table=report(
            f"{RESULTS}/engines/evo2/loss_curves.tsv",
            caption="../report/evo2_loss_table.rst",
            category="3. Models",
            subcategory="evo2 fine-tuning",
            labels={"item": "metrics table"},
        ),
    log:
        "logs/evo2_loss_curves.log",
    conda:
        "../envs/evo2.yaml"
    shell:
        "evocane evo2-loss-curves --checkpoints {input.checkpoints:q} --plot {output.plot:q} --table {output.table:q} "
        "> {log:q} 2>&1"


TARGET_FUNCTIONS.append(evo2_targets)
