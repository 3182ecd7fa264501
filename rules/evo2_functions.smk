# Functions for rules/evo2.smk (Snakemake's linter wants rule files free of function definitions).
# They read the globals that rules/evo2.smk defines, at call time.


def evo2_finetuned_checkpoints():
    return [
        f"{RESULTS}/models/{run.model}/{run.variant}/checkpoint" for run in EVO2_RUNS if EVO2_PARAMS[run.model].mode != "zero_shot"
    ]


def evo2_targets():
    targets = [
        f"{RESULTS}/embeddings/{run.model}/{run.variant}/{split}"
        for run in EVO2_RUNS
        for split in EVO2_PARAMS[run.model].embed_splits
    ]
    if evo2_finetuned_checkpoints():
        targets += [f"{RESULTS}/engines/evo2/loss_curves.{EVO2_PLOT_FORMAT}", f"{RESULTS}/engines/evo2/loss_curves.tsv"]
    return targets
