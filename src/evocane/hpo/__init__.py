"""Hyperparameter search with Optuna (config ``hpo.studies``, rules/hpo.smk): one Snakemake job per trial sharing a
study through Optuna's journal file (or an RDB), the validation split as the only objective, pruning at every
evaluation step of training, and the best trial's values handed to a model (``params_from_hpo``) that is trained and
evaluated on test like every other model. ``study`` holds the config view and Optuna objects, ``trial`` one trial
job, ``summary`` best.yaml, the trials table and the study's figures."""
