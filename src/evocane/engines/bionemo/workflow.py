"""What rules/bionemo.smk needs from the config, computed once when the workflow is parsed: the BioNeMo models,
the base checkpoints to convert, every training command (launcher included) and the Slurm resources of each job.

Resources follow the slurm executor plugin: one node ``gpu``/``gpu_model`` (``--gpus``), ``cpus_per_gpu``,
``nodes: 1``; several nodes ``gres: gpu[:model]:G`` (per node), ``nodes``, ``mpi`` and ``tasks_per_node`` (one task
per GPU, started by the rule's own srun).
"""

from __future__ import annotations

import dataclasses
import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from evocane.engines.bionemo import commands, paths
from evocane.engines.bionemo.settings import BioNeMoModel, BioNeMoSettings, bionemo_model, bionemo_model_names, bionemo_settings
from evocane.errors import EvocaneError

DATASET_SPLITS = ("train", "validation", "test")
# preprocess_evo2 writes {output_prefix}_{tokenizer}_{train,val,test}.{bin,idx}
PREPROCESS_SPLIT_NAMES = {"train": "train", "validation": "val", "test": "test"}
TOKENIZER_NAME = "byte-level"


def bionemo_dataset_dir(variant: str) -> str:
    """The datasets room's BioNeMo exports (evocane.dataset.exports.write_bionemo)."""
    return f"{paths.dataset_dir(variant)}/bionemo"


def preprocess_config(variant: str, split: str) -> str:
    return f"{bionemo_dataset_dir(variant)}/preprocess_{split}.yaml"


def train_dataset_config(variant: str) -> str:
    return f"{bionemo_dataset_dir(variant)}/dataset_config.yaml"


def preprocessed_dir(variant: str) -> str:
    """--dataset-dir of train_evo2: the dataset_prefix entries of dataset_config.yaml are relative to it."""
    return f"{bionemo_dataset_dir(variant)}/preprocessed"


def preprocessed_files(variant: str, split: str) -> list[str]:
    """Everything preprocess_evo2 writes for one split's config (all weight on that split: the other two are empty)."""
    prefix = f"{preprocessed_dir(variant)}/{variant}_{split}_{TOKENIZER_NAME}"
    return [f"{prefix}_{name}.{ext}" for name in PREPROCESS_SPLIT_NAMES.values() for ext in ("bin", "idx")]


def training_data(variant: str) -> list[str]:
    """The .bin/.idx pairs dataset_config.yaml points train_evo2 at (each split's own prefix)."""
    prefix = f"{preprocessed_dir(variant)}/{variant}"
    return [f"{prefix}_{split}_{TOKENIZER_NAME}_{PREPROCESS_SPLIT_NAMES[split]}.{ext}" for split in DATASET_SPLITS for ext in ("bin", "idx")]


@dataclass(frozen=True)
class BioNeMoPlan:
    settings: BioNeMoSettings
    models: dict[str, BioNeMoModel]

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> BioNeMoPlan:
        settings = bionemo_settings(config)
        models = {name: bionemo_model(config, name, settings) for name in bionemo_model_names(config)}
        for model in models.values():
            if model.trains and model.train.nodes != settings.train.nodes:
                raise EvocaneError(
                    f"config key 'models.{model.name}.params.train.nodes': the node count is one cluster layout for every "
                    "BioNeMo model (multi-node jobs start their containers differently); set bionemo.train.nodes"
                )
        return cls(settings, models)

    # --- naming --------------------------------------------------------------------------------------------------------
    @property
    def model_names(self) -> list[str]:
        return list(self.models)

    @property
    def trained_model_names(self) -> list[str]:
        return [name for name, model in self.models.items() if model.trains]

    @property
    def zero_shot_model_names(self) -> list[str]:
        return [name for name, model in self.models.items() if not model.trains]

    @property
    def converted_checkpoints(self) -> list[str]:
        """Base checkpoints the workflow converts (those of the configured models, in Savanna format)."""
        return list(dict.fromkeys(m.checkpoint.name for m in self.models.values() if m.checkpoint.needs_conversion))

    @property
    def multi_node(self) -> bool:
        return self.settings.train.nodes > 1

    def base_checkpoint_dir(self, model: str) -> str:
        return paths.base_checkpoint_dir(self.models[model].checkpoint)

    # --- commands ------------------------------------------------------------------------------------------------------
    def train_argv(self, model: str, variant: str) -> list[str]:
        spec = self.models[model]
        argv = commands.train_command(
            spec,
            dataset_config=train_dataset_config(variant),
            result_dir=paths.train_run_dir(model, variant),
            experiment_name=paths.train_experiment_name(model),
            init_checkpoint=self.base_checkpoint_dir(model),
            dataset_dir=preprocessed_dir(variant),
        )
        return commands.launch(argv, spec.train.gpus_per_node, spec.train.nodes, self.settings.image, self.settings.launcher)

    def train_container(self) -> str | None:
        """The rule's container: none for multi-node runs, whose srun starts one container per task itself."""
        return None if self.multi_node else self.settings.image

    # --- Slurm resources -----------------------------------------------------------------------------------------------
    def _gpu_job(self, step: str, gpus: int, nodes: int = 1) -> dict[str, Any]:
        job = self.settings.job_resources(step)
        resources: dict[str, Any] = {"mem_mb": job.mem_mb, "runtime": job.runtime, "cpus_per_gpu": job.cpus}
        if job.partition:
            resources["slurm_partition"] = job.partition
        model = self.settings.gpu_model
        if nodes > 1:
            resources.update(
                gres=f"gpu:{model}:{gpus}" if model else f"gpu:{gpus}",
                nodes=nodes,
                mpi=self.settings.launcher.mpi,
                tasks_per_node=gpus,
            )
        else:
            resources.update(gpu=gpus, nodes=1)
            if model:
                resources["gpu_model"] = model
        return resources

    def convert_resources(self) -> dict[str, Any]:
        return self._gpu_job("convert", 1)

    def preprocess_resources(self) -> dict[str, Any]:
        job = self.settings.job_resources("preprocess")
        resources: dict[str, Any] = {"mem_mb": job.mem_mb, "runtime": job.runtime, "cpus_per_task": job.cpus}
        if job.partition:
            resources["slurm_partition"] = job.partition
        return resources

    def train_resources(self, model: str) -> dict[str, Any]:
        train = self.models[model].train
        return self._gpu_job("train", train.gpus_per_node, train.nodes)

    def predict_resources(self) -> dict[str, Any]:
        return self._gpu_job("predict", self.settings.predict.gpus)

    def infer_resources(self) -> dict[str, Any]:
        return self._gpu_job("infer", self.settings.infer.tensor_parallel)

    def train_resource_keys(self) -> list[str]:
        """Resource names of bionemo_train (the same for every model: node count is global)."""
        return list(self._gpu_job("train", 1, self.settings.train.nodes))


def command_lines(config: dict, model: str, variant: str, split: str, config_argument: str) -> list[str]:
    """The workflow's BioNeMo steps for (model, variant) as shell lines, in order, with comments;
    ``config_argument`` is how the printed evocane commands get their configuration (e.g. ``--config FILE``)."""
    plan = BioNeMoPlan.from_config(config)
    if model not in plan.models:
        raise EvocaneError(f"config: '{model}' is not a BioNeMo model (have: {', '.join(plan.models) or 'none'})")
    spec = plan.models[model]
    container = f"apptainer exec --nv {plan.settings.image}"
    checkpoint = paths.model_checkpoint_dir(model, variant)
    lines = [f"# BioNeMo steps of model {model} on dataset variant {variant} (run from the repository directory)"]
    if spec.checkpoint.needs_conversion:
        out = paths.converted_checkpoint_dir(spec.checkpoint.name)
        lines += [f"# 1. base checkpoint -> NeMo2 (GPU): {commands.shell_join(commands.convert_command(spec.checkpoint, out))}", f"{container} python scripts/bionemo_run.py convert --spec {shlex.quote(json.dumps(dataclasses.asdict(spec.checkpoint)))} --out {out}"]
    if spec.trains:
        lines.append("# 2. dataset -> Megatron .bin/.idx (CPU), one call per split")
        lines += [f"{container} {commands.shell_join(commands.preprocess_command(preprocess_config(variant, s)))}" for s in DATASET_SPLITS]
        run_dir = paths.train_run_dir(model, variant)
        train = commands.shell_join(plan.train_argv(model, variant))
        prefix = "" if plan.multi_node else f"{container} "
        lines += [
            f"# 3. {spec.finetune} fine-tune ({spec.train.nodes} node(s) x {spec.train.gpus_per_node} GPU(s)); a rerun resumes from {paths.train_checkpoints_dir(model, variant)}",
            f"{prefix}python scripts/bionemo_run.py train --run-dir {run_dir} --checkpoints-dir {paths.train_checkpoints_dir(model, variant)} "
            f"--manifest {paths.train_manifest(model, variant)} -- {train}",
        ]
    manifest = f" --train-manifest {paths.train_manifest(model, variant)}" if spec.trains else ""
    fasta = f"{paths.BIONEMO}/fasta/{variant}/{split}.fa"
    raw = paths.predict_raw_dir(model, variant, split)
    lines += [
        "# 4. evocane checkpoint pointer (CPU)",
        f"evocane bionemo-checkpoint {config_argument} --model {model} --variant {variant} --out {checkpoint}{manifest}",
        f"# 5. score the {split} split (GPU), then convert to the prediction format (CPU)",
        f"evocane bionemo-fasta --dataset {paths.dataset_dir(variant)} --split {split} --out {fasta}",
        f"{container} python scripts/bionemo_run.py predict --checkpoint {checkpoint} --fasta {fasta} --out {raw}",
        f"evocane bionemo-predictions --raw {raw} --checkpoint {checkpoint} --dataset {paths.dataset_dir(variant)} --split {split} "
        f"--out {paths.predictions_dir(model, variant, split)}",
    ]
    if not spec.lora:
        sampling = json.dumps(config["evaluation"]["generation"]["sampling"], sort_keys=True)
        lines += [
            "# 6. generate from the prompts (GPU, one infer_evo2 call per prompt and sample), then FASTA (CPU)",
            f"{container} python scripts/bionemo_run.py infer --checkpoint {checkpoint} --prompts {paths.prompts_fasta(variant)} "
            f"--out {paths.infer_raw_dir(model, variant)} --sampling {shlex.quote(sampling)}",
            f"evocane bionemo-generated --raw {paths.infer_raw_dir(model, variant)} --checkpoint {checkpoint} --out {paths.generated_fasta(model, variant)}",
        ]
    return lines
