"""Evo 2 through NVIDIA BioNeMo's command-line tools (bionemo-framework v2.7.1 container) on Slurm GPUs.

- :mod:`settings`: the config's ``bionemo`` section and ``engine: bionemo`` model entries;
- :mod:`commands`: argv builders for evo2_convert_to_nemo2, preprocess_evo2, train_evo2, predict_evo2, infer_evo2
  and the launchers (torchrun on one node, srun + apptainer across nodes);
- :mod:`runner`: runs them (resume-safe training run directories, one infer_evo2 call per prompt);
- :mod:`convert`: predict/infer outputs -> evocane's prediction format and generated FASTA;
- :mod:`engine`: the registered ``bionemo`` engine and its checkpoint pointer files;
- :mod:`paths`: where the workflow keeps every BioNeMo file.

The command modules use only the standard library and numpy, so they also run inside the BioNeMo container;
the engine class is imported lazily for the same reason.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "BioNeMoEngine":
        from evocane.engines.bionemo.engine import BioNeMoEngine

        return BioNeMoEngine
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
