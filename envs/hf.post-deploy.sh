#!/usr/bin/env bash
# Snakemake runs this after creating the environment of the .yaml file of the same name: install evocane into it.
exec bash "$(dirname "${BASH_SOURCE[0]}")/install-evocane.sh"
