# evo2 engine (evocane.engines.evo2): Evo 2 on one GPU through Arc's vortex (PyPI vtx + evo2), zero-shot, LoRA and
# full fine-tuning. Training, scoring, generation and training curves of evo2 models go through the shared rules of
# rules/engines.smk (GPU resources from models.<name>.resources; gpu >= 1 is checked when the workflow is parsed).
# The one evo2-only step:
#
#   evo2_embed   GPU  mean embeddings of params.embed_splits          results/embeddings/{model}/{variant}/{split}
#
# The evo2 models run only with `evo2: {enabled: true}`; the CPU demo keeps them off. An interrupted fine-tune
# resumes from the states kept beside its output (results/models/{model}/{variant}/checkpoint.resume/).

from evocane.engines.evo2 import workflow as evo2_workflow  # noqa: E402

EVO2_EMBEDDINGS = evo2_workflow.embedding_targets(config, ENGINES.runs_of("evo2"))
EVO2_LAYERS = {name: params.embed_layers for name, params in evo2_workflow.evo2_params(config).items()}


rule evo2_embed:
    input:
        dataset_files,
        checkpoint=layout.checkpoint(),
    output:
        directory(layout.embeddings()),
    params:
        dataset=dataset_dir,
        layers=lambda wc: [f"--layer={layer}" for layer in EVO2_LAYERS[wc.model]],
    log:
        "logs/embed/{model}/{variant}/{split}.log",
    conda:
        "../envs/evo2.yaml"
    threads: model_resource("threads")
    resources:
        **MODEL_RESOURCES,
    wildcard_constraints:
        model=engine_workflow.pattern(ENGINES.models_of("evo2")),
        variant=VARIANT_PATTERN,
        split="train|validation|test",
    shell:
        "evocane evo2-embed --checkpoint {input.checkpoint:q} --dataset {params.dataset:q} --split {wildcards.split:q} "
        "{params.layers:q} --out {output:q} > {log:q} 2>&1"


TARGET_FUNCTIONS.append(lambda: [layout.embeddings(*target) for target in EVO2_EMBEDDINGS])
