# Functions for rules/bionemo.smk (Snakemake's linter wants rule files free of function definitions).
# They read the globals that rules/bionemo.smk defines, at call time.


def bionemo_train_resource(key):
    return lambda wildcards: BIONEMO.train_resources(wildcards.model)[key]


def bionemo_checkpoint_inputs(wildcards):
    if BIONEMO.models[wildcards.model].trains:
        return {"manifest": bionemo_paths.train_manifest(wildcards.model, wildcards.variant)}
    return {"base": BIONEMO.base_checkpoint_dir(wildcards.model)}


def bionemo_scored_dataset(wildcards):
    """The dataset-contract directory and split a scoring target reads."""
    if wildcards.target.startswith("task_"):
        return layout.task_inputs(wildcards.variant, wildcards.target[len("task_") :]), "test"
    return scored_dir(wildcards), wildcards.target


def bionemo_scored_inputs(wildcards):
    if wildcards.target.startswith("task_"):
        return [bionemo_scored_dataset(wildcards)[0]]
    return scored_files(wildcards)


# --- generation: evaluation.generation prompts ({target} generation) and the generation task's sampled/greedy -------
def bionemo_sampling(target):
    if target == "generation":
        return dict(config["evaluation"]["generation"]["sampling"])
    task = config["evaluation"]["tasks"]["generation"]
    sampling = {"n_tokens": task["continuation_length"], "seed": task["seed"]}
    if target == "task_greedy":
        return {**sampling, "samples_per_prompt": 1, "temperature": 0.0}
    return {**sampling, "samples_per_prompt": task["samples_per_prompt"], "temperature": task["temperature"], "top_k": task["top_k"], "top_p": task["top_p"]}


def bionemo_prompts(wildcards):
    if wildcards.target == "generation":
        return layout.prompts(wildcards.variant)
    return layout.task_inputs(wildcards.variant, "generation")
