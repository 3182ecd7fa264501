#!/usr/bin/env bash
# Install evocane itself into the active conda environment, so a job run with `--sdm conda` finds the `evocane`
# command there (not in the driver's environment). Called by every envs/<name>.post-deploy.sh, which Snakemake runs
# once, with the new environment activated, right after creating it. Editable (-e): the environment runs the
# checkout's code, the same code the Snakefile imports when it plans the jobs. --no-deps: conda installed the
# dependencies from the environment file.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python -m pip install --quiet --no-deps --editable "$repo"
command -v evocane >/dev/null
