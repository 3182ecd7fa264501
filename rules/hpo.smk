# Hyperparameter search (evocane.hpo, config hpo.studies): one job per trial, all sharing the study's Optuna storage
# (journal file results/hpo/{study}/journal.log by default), each with the tuned model's training resources and
# conda env, so a cluster runs trials side by side. A trial trains on the variant's train split and is judged on its
# validation split; hpo_summary hands the best values on (best.yaml), which a model with params_from_hpo trains with
# (rules/engines.smk). A rerun after a kill marks the killed trial failed and runs a new one in its slot; finished
# slots do not run again. Helpers: evocane.hpo.workflow.HpoPlan.

from evocane.hpo.workflow import HpoPlan  # noqa: E402

try:
    HPO = HpoPlan(config)
except EvocaneError as _error:
    raise WorkflowError(f"{_config_source}: {_error}") from None
HPO_REPORT = {"category": CATEGORIES["models"], "subcategory": "hyperparameter search {study}"}


rule hpo_trial:
    input:
        HPO.trial_inputs,
    output:
        layout.hpo_trial(),
    params:
        config=job_config(HPO.trial_keys),
        dataset=HPO.dataset,
    log:
        "logs/hpo/{study}/trial_{slot}.log",
    conda:
        HPO.conda_env
    threads: HPO.resource("threads")
    resources:
        mem_mb=HPO.resource("mem_mb"),
        runtime=HPO.resource("runtime"),
        gpu=HPO.resource("gpu"),
    wildcard_constraints:
        study=HPO.pattern,
        slot=r"\d+",
    shell:
        "evocane hpo-trial --job-config {params.config:q} --study {wildcards.study:q} --slot {wildcards.slot} "
        "--dataset {params.dataset:q} --out {output:q} > {log:q} 2>&1"


rule hpo_summary:
    input:
        HPO.trial_records,
    output:
        best=layout.hpo_file("best.yaml"),
        table=report(
            layout.hpo_file("trials.tsv"),
            caption="../report/hpo_trials.rst",
            labels={"study": "{study}", "item": "5. trials table"},
            **HPO_REPORT,
        ),
        history=report(
            layout.hpo_file(f"history.{PLOT_FORMAT}"),
            caption="../report/hpo_history.rst",
            labels={"study": "{study}", "item": "1. optimisation history"},
            **HPO_REPORT,
        ),
        importances=report(
            layout.hpo_file(f"importances.{PLOT_FORMAT}"),
            caption="../report/hpo_importances.rst",
            labels={"study": "{study}", "item": "2. parameter importances"},
            **HPO_REPORT,
        ),
        parallel=report(
            layout.hpo_file(f"parallel.{PLOT_FORMAT}"),
            caption="../report/hpo_parallel.rst",
            labels={"study": "{study}", "item": "3. parallel coordinates"},
            **HPO_REPORT,
        ),
        intermediate=report(
            layout.hpo_file(f"intermediate.{PLOT_FORMAT}"),
            caption="../report/hpo_intermediate.rst",
            labels={"study": "{study}", "item": "4. intermediate values"},
            **HPO_REPORT,
        ),
    params:
        config=job_config("hpo.studies.{study}"),
        plot_format=PLOT_FORMAT,
    log:
        "logs/hpo/{study}/summary.log",
    conda:
        "../envs/genome.yaml"
    wildcard_constraints:
        study=HPO.pattern,
    shell:
        "evocane hpo-summary --job-config {params.config:q} --study {wildcards.study:q} --plot-format {params.plot_format:q} "
        "> {log:q} 2>&1"


TARGET_FUNCTIONS.append(lambda: HPO.targets(PLOT_FORMAT))
