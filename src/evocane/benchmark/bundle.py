"""Benchmark bundles: one dataset variant's benchmark as a directory another group can download, load and score
against without evocane's workflow, training data or genomes.

``results/benchmark/{variant}-{version}/``::

    README.md                    dataset card: what, provenance, how to load (Hugging Face `datasets`) and score
    SCORING.md, scoring.json     the exact scoring definitions (positions, headline, bits/base, bootstrap, tasks)
    provenance.json              sources and their sha256, the prepared records, the configuration that built it
    windows/{split}.parquet      the scored windows: ids, coordinates, split, homology group, region composition,
                                 leakage containment, sequence, per-base region labels and scorable mask
    windows/{split}.bed|.fa      the same windows as BED6 (name = window_id) and FASTA (id = window_id)
    dataset/                     the same windows in evocane's dataset contract (what `evocane benchmark-score` reads)
    tasks/{task}/items.parquet   task items (regulatory sites and negatives, variants with classes, measured elements)
    tasks/{task}/windows.fa      their windows; tasks/{task}/dataset/ the task dataset in the dataset contract
    reference/baseline/          the next-base baseline (best Markov order) as an exchange-format submission
    reference/background/        the task log-likelihood-ratio background, likewise
    manifest.json                name, version, schema version and the sha256 of every other file

``version`` = ``{SCHEMA_VERSION}.{first 12 hex digits of the sha256 over every file but README.md and
manifest.json}``: it changes whenever the content does, and the same config and inputs give the same bytes (the
card also records the code version, so it is left out of the content hash).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from evocane import __version__
from evocane.benchmark.submission import export_submission
from evocane.benchmark.workflow import BundleSources
from evocane.dataset.arrays import REGION_BITS, WEIGHT_NONE, DatasetReader
from evocane.errors import EvocaneError
from evocane.evaluate.leaderboard import LEADERBOARD_COLUMNS
from evocane.evaluate.nextbase import HEADLINE, POSITION_STRATA, read_metrics
from evocane.evaluate.tasks import HEADLINE as TASK_HEADLINE
from evocane.exchange import FORMAT, FORMAT_VERSION, TASK_ITEMS, task_items
from evocane.genome.download import sha256sum
from evocane.genome.sources import local_path
from evocane.predictions import prediction_dirs

SCHEMA_VERSION = 1
UNHASHED = ("README.md", "manifest.json")
WINDOW_TABLE_COLUMNS = [
    "window_id", "cultivar", "chrom", "start", "end", "strand", "split", "homology_group", "homology_group2", "haplotype",
    "annotated", "source", *(f"{region}_fraction" for region in REGION_BITS), "leakage_containment", "leakage_bin",
]  # fmt: skip
TASK_HEADLINE_METRICS = {
    "regulatory": "auroc_loglik, auroc_llr (each site kind against each negative kind)",
    "variant_effect": "auroc, stratum deleterious_vs_synonymous (score = -delta: a larger drop is more deleterious)",
    "experiments": "spearman_loglik, spearman_llr (against the measurement)",
}
TASK_DESCRIPTIONS = {
    "regulatory": "annotated TSS/TIS/donor/acceptor site windows (role site) against a dinucleotide-shuffled copy "
                  "(role shuffled) and a GC-matched held-out window (role background) each",
    "variant_effect": "in-silico single-base substitutions by class (synonymous, missense, nonsense, UTR, intron, "
                      "intergenic, splice site); each variant is a reference and an alternative window",
    "experiments": "elements with an experimental measurement (the config's table), cut from the held-out genome",
}  # fmt: skip


# --- tables ----------------------------------------------------------------------------------------------------------------
def _window_records(windows: pd.DataFrame, tokens: np.ndarray, labels: np.ndarray | None, weights: np.ndarray) -> dict[str, list]:
    """Per window: bases (tag removed), labels and scorable mask as Python lists, and the lineage tag."""
    out: dict[str, list] = {"sequence": [], "lineage_tag": [], "length": [], "scorable": []}
    if labels is not None:
        out["labels"] = []
    for row in windows.itertuples(index=False):
        start, prefix, end = int(row.offset), int(row.offset) + int(row.prefix_length), int(row.offset) + int(row.length)
        out["sequence"].append(bytes(tokens[prefix:end]).decode("ascii"))
        out["lineage_tag"].append(bytes(tokens[start:prefix]).decode("ascii"))
        out["length"].append(end - prefix)
        out["scorable"].append((np.asarray(weights[prefix:end]) != WEIGHT_NONE).tolist())
        if labels is not None:
            out["labels"].append(np.asarray(labels[prefix:end], dtype=np.uint8).tolist())
    return out


def _write_parquet(table: pd.DataFrame, path: Path, list_types: Mapping[str, pa.DataType] | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = {}
    for name in table.columns:
        kind = (list_types or {}).get(name)
        columns[name] = pa.array(table[name].tolist(), type=kind) if kind is not None else pa.array(table[name], from_pandas=True)
    pq.write_table(pa.table(columns), path)


def _write_fasta(path: Path, ids: list[str], sequences: list[str]) -> None:
    with open(path, "w") as handle:
        for window_id, sequence in zip(ids, sequences):
            handle.write(f">{window_id}\n")
            for start in range(0, len(sequence), 80):
                handle.write(sequence[start : start + 80] + "\n")


def _write_windows(dataset: DatasetReader, split: str, out: Path) -> int:
    windows = dataset.split_windows(split)
    arrays = dataset.arrays(split)
    records = _window_records(windows, arrays.tokens, arrays.labels, arrays.weights)
    table = windows[[c for c in WINDOW_TABLE_COLUMNS if c in windows.columns]].copy()
    for name in ("length", "lineage_tag", "sequence", "labels", "scorable"):
        table[name] = records[name]
    _write_parquet(table, out / f"{split}.parquet", {"labels": pa.list_(pa.uint8()), "scorable": pa.list_(pa.bool_())})
    bed = pd.DataFrame({"chrom": windows["chrom"], "start": windows["start"], "end": windows["end"], "name": windows["window_id"],
                        "score": 0, "strand": windows["strand"]})  # fmt: skip
    bed.to_csv(out / f"{split}.bed", sep="\t", header=False, index=False)
    _write_fasta(out / f"{split}.fa", windows["window_id"].astype(str).tolist(), records["sequence"])
    return len(windows)


def _copy_dataset(source: Path, splits: list[str], out: Path) -> None:
    """The windows of ``splits`` in the dataset contract: their window table rows, arrays and the manifest."""
    dataset = DatasetReader(source)
    (out / "arrays").mkdir(parents=True)
    table = dataset.windows[dataset.windows["split"].isin(splits)].reset_index(drop=True)
    table.to_parquet(out / "windows.parquet", index=False)
    for split in splits:
        dataset.arrays(split)  # checks the three arrays exist and agree
        for kind in ("tokens", "labels", "weights"):
            shutil.copyfile(source / "arrays" / f"{split}.{kind}.npy", out / "arrays" / f"{split}.{kind}.npy")
    shutil.copyfile(source / "manifest.json", out / "manifest.json")


def _task_items(task: str, dataset: DatasetReader) -> tuple[pd.DataFrame, list[str], list[str]]:
    """The items table of a task and its windows' ids and sequences."""
    windows = dataset.split_windows("test")
    arrays = dataset.arrays("test")
    records = _window_records(windows, arrays.tokens, None, arrays.weights)
    frame = windows.drop(columns=["offset", "prefix_length", "split", "task", "length"], errors="ignore").assign(
        length=records["length"], lineage_tag=records["lineage_tag"], sequence=records["sequence"], scorable=records["scorable"]
    )
    if task == "variant_effect":
        ref = frame[frame["allele"] == "ref"].set_index("pair_id")
        alt = frame[frame["allele"] == "alt"].set_index("pair_id")
        items = ref.drop(columns=["window_id", "allele", "sequence", "scorable"]).assign(
            ref_window_id=ref["window_id"], alt_window_id=alt["window_id"].reindex(ref.index),
            ref_sequence=ref["sequence"], alt_sequence=alt["sequence"].reindex(ref.index),
        ).reset_index()  # fmt: skip
        items.insert(0, "item_id", items["pair_id"])
    else:
        items = frame.copy()
        items.insert(0, "item_id", items[TASK_ITEMS[task][0]])
    order = task_items(windows, task)
    items = items.set_index("item_id").loc[order].reset_index()
    return items, windows["window_id"].astype(str).tolist(), records["sequence"]


# --- provenance and definitions ----------------------------------------------------------------------------------------
def _sources(config: Mapping[str, Any], cultivars: list[str]) -> list[dict[str, Any]]:
    rows = []
    for cultivar in cultivars:
        spec = (config.get("cultivars") or {}).get(cultivar)
        if spec is None:
            raise EvocaneError(f"benchmark: cultivar '{cultivar}' is not in the job's config")
        for index, source in enumerate(spec["sources"]):
            for kind in ("fasta", "gff3"):
                location = source.get(kind)
                if not location:
                    continue
                path = local_path(location, cultivar)
                if not path.exists():
                    raise EvocaneError(f"{path}: source {kind} of cultivar '{cultivar}' not found (needed for its sha256)")
                rows.append({"cultivar": cultivar, "source": index, "kind": kind, "location": dict(location),
                             "file": path.name, "bytes": path.stat().st_size, "sha256": sha256sum(path),
                             "records": source.get("records")})  # fmt: skip
    return rows


def _records(paths: Mapping[str, str]) -> dict[str, list[dict[str, Any]]]:
    out = {}
    for cultivar, path in sorted(paths.items()):
        table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
        out[cultivar] = table.to_dict(orient="records")
    return out


def _config_view(config: Mapping[str, Any], sources: BundleSources) -> dict[str, Any]:
    datasets = config.get("datasets") or {}
    evaluation = config.get("evaluation") or {}
    return {
        "cultivars": {c: (config.get("cultivars") or {}).get(c) for c in sources.cultivars},
        "datasets": {"variants": {sources.variant: (datasets.get("variants") or {}).get(sources.variant)},
                     "regions": datasets.get("regions"), "seed": datasets.get("seed")},
        "evaluation": {key: evaluation.get(key) for key in ("nextbase", "bootstrap", "tasks")},
    }  # fmt: skip


def _baseline_member(metrics_path: str, baseline: str) -> tuple[str, str]:
    """(best member's model name, split it was selected on) from the variant's next-base metrics."""
    metrics = read_metrics(metrics_path)
    chosen = metrics.loc[(metrics["baseline"] != "") & (metrics["config_model"] != ""), ["baseline", "selected_on"]].drop_duplicates()
    if len(chosen) != 1:
        raise EvocaneError(f"{metrics_path}: expected one baseline member of '{baseline}', found {len(chosen)}")
    return str(chosen["baseline"].iloc[0]), str(chosen["selected_on"].iloc[0])


def scoring_definitions(config: Mapping[str, Any], sources: BundleSources, baseline: dict[str, Any] | None,
                        background: dict[str, Any] | None) -> dict[str, Any]:  # fmt: skip
    nextbase = config["evaluation"]["nextbase"]
    bootstrap = config["evaluation"]["bootstrap"]
    return {
        "schema_version": SCHEMA_VERSION,
        "variant": sources.variant,
        "exchange_format": {"format": FORMAT, "format_version": FORMAT_VERSION},
        "nextbase": {
            "splits": sources.splits,
            "positions": "a base counts for a model when the bundle marks it scorable (A/C/G/T, upper or soft-masked "
                         "case; not N or another IUPAC code; not the lineage tag) and the model gave it a finite value",
            "headline_stratum": HEADLINE,
            "strata": {
                "all": "every counted base", HEADLINE: "counted bases without the repeat label bit (headline)",
                "repeat": "counted bases with the repeat label bit (soft-masked in the source assembly)",
                **{r: f"non-repeat counted bases carrying the {r} label bit" for r in POSITION_STRATA[3:]},
            },
            "label_bits": REGION_BITS,
            "metrics": {
                "bits_per_base": "sum over counted bases of -log2 P(observed base) / counted bases (pooled over windows)",
                "perplexity": "2 ** bits_per_base (interval bounds transformed likewise)",
                "top1_accuracy": "mean top-1 credit: 1/m when the observed base ties with m-1 others for the highest probability, else 0",
                "delta_bits_per_base": "model minus baseline over the bases both counted (negative = better than the baseline)",
            },
            "baseline": baseline,
            "window_strata": list(nextbase["window_strata"]),
        },
        "bootstrap": {
            "n_resamples": bootstrap["n_resamples"], "confidence": bootstrap["confidence"], "seed": bootstrap["seed"],
            "method": "percentile bootstrap over windows: numpy.random.default_rng(seed).multinomial(W, 1/W) count "
                      "vectors in batches of 100, one per resample and shared by every statistic of a split (paired); a "
                      "ratio statistic = (counts @ per-window numerators) / (counts @ per-window denominators)",
        },  # fmt: skip
        "tasks": {
            task: {"description": TASK_DESCRIPTIONS[task], "item": TASK_ITEMS[task][0], "score": TASK_ITEMS[task][1],
                   "headline": TASK_HEADLINE_METRICS[task],
                   "llr": "score minus the background's score" if task != "variant_effect" else None}
            for task in sources.tasks
        },  # fmt: skip
        "background": background,
        "leaderboard": {"columns": LEADERBOARD_COLUMNS, "float_format": "%.6g"},
    }


def _scoring_markdown(scoring: dict[str, Any]) -> str:
    nextbase, boot = scoring["nextbase"], scoring["bootstrap"]
    lines = [
        f"# Scoring definitions ({scoring['variant']}, bundle schema {scoring['schema_version']})", "",
        "`evocane benchmark-score --bundle <this directory> --predictions <submission>` computes every number below with "
        "the workflow's own code (evocane.evaluate); scoring.json holds the same definitions for programs.", "",
        "## Next-base prediction", "",
        f"Splits: {', '.join(nextbase['splits'])}. Which positions count: {nextbase['positions']}.", "",
        f"Headline: `{nextbase['headline_stratum']}` bits per base. Strata:", "",
        *(f"- `{name}`: {text}" for name, text in nextbase["strata"].items()), "",
        "Label bits (`labels` column, a base may carry several): " + ", ".join(f"{k} = {v}" for k, v in nextbase["label_bits"].items()) + ".", "",
        *(f"- `{name}`: {text}" for name, text in nextbase["metrics"].items()), "",
    ]  # fmt: skip
    if nextbase["baseline"]:
        base = nextbase["baseline"]
        lines += [f"Baseline: `{base['model']}`, the member of `{base['config_model']}` with the lowest {HEADLINE} bits on "
                  f"{base['selected_on']}; its predictions are in reference/baseline/ (exchange format).", ""]  # fmt: skip
    else:
        lines += ["No baseline: the bundle has no delta rows.", ""]
    lines += [
        "## Confidence intervals", "",
        f"{boot['n_resamples']} resamples, {boot['confidence']:.0%} intervals, seed {boot['seed']}: {boot['method']}.", "",
        "## Tasks", "",
    ]  # fmt: skip
    for task, spec in scoring["tasks"].items():
        lines += [f"### {task}", "", spec["description"] + ".", "", f"- item: `{spec['item']}`; score: {spec['score']}",
                  f"- headline: {spec['headline']}"]  # fmt: skip
        if spec["llr"]:
            lines.append(f"- log-likelihood ratio: {spec['llr']}")
        lines.append("")
    if scoring["background"]:
        lines += [f"Background of the log-likelihood ratios: `{scoring['background']['model']}` (reference/background/).", ""]
    lines += ["## Leaderboard rows", "", f"Columns {', '.join(scoring['leaderboard']['columns'])}; values written with "
              f"`{scoring['leaderboard']['float_format']}`.", ""]  # fmt: skip
    return "\n".join(lines)


def _code_version() -> dict[str, Any]:
    """evocane's version and, in a git checkout, its commit, marked "-modified" when the package's source differs
    from it (edits elsewhere in the checkout, e.g. tests or docs, do not count)."""
    package = Path(__file__).resolve().parents[1]
    commit = None
    try:
        found = subprocess.run(["git", "describe", "--always", "--abbrev=12"], capture_output=True, text=True, cwd=package, timeout=30)
        if found.returncode == 0:
            commit = found.stdout.strip()
            changes = subprocess.run(["git", "status", "--porcelain", "--", "."], capture_output=True, text=True, cwd=package, timeout=30)
            if changes.returncode == 0 and changes.stdout.strip():
                commit += "-modified"
    except (OSError, subprocess.SubprocessError):
        pass
    return {"evocane": __version__, "git": commit}


def _card(name: str, version: str, sources: BundleSources, counts: dict[str, int], task_counts: dict[str, int],
          scoring: dict[str, Any], provenance: dict[str, Any], description: str) -> str:  # fmt: skip
    configs = [{"config_name": "windows", "data_files": [{"split": s, "path": f"windows/{s}.parquet"} for s in sources.splits]}]
    configs += [{"config_name": task, "data_files": [{"split": "test", "path": f"tasks/{task}/items.parquet"}]} for task in sources.tasks]
    front = yaml.safe_dump({"pretty_name": f"evocane {sources.variant} benchmark", "configs": configs}, sort_keys=False)
    code = provenance["code"]
    split_files = ", ".join(f'"{s}": "windows/{s}.parquet"' for s in sources.splits)
    lines = [
        "---", front.rstrip(), "---", "",
        f"# evocane benchmark bundle `{name}`", "",
        f"Dataset variant `{sources.variant}` (version `{version}`): {description}".rstrip(), "",
        "## Contents", "",
        "| file | holds |", "|---|---|",
        *(f"| windows/{s}.parquet, .bed, .fa | {counts[s]} {s} windows every model is scored on |" for s in sources.splits),
        "| dataset/ | the same windows in evocane's dataset contract (read by `evocane benchmark-score`) |",
        *(f"| tasks/{t}/items.parquet, windows.fa | {task_counts[t]} {t} items: {TASK_DESCRIPTIONS[t]} |" for t in sources.tasks),
        "| reference/ | the baseline and background models' predictions in the exchange format |",
        "| SCORING.md, scoring.json | how every number is computed |",
        "| provenance.json | sources with sha256, prepared records, configuration |",
        "| manifest.json | sha256 of every file |", "",
        "Window columns: ids (`window_id` = cultivar:chrom:start-end:strand, 0-based forward-strand coordinates), split, "
        "homology group(s), haplotype, region composition (`<region>_fraction`), leakage containment of the window's "
        "k-mers in the training split (`leakage_containment`, `leakage_bin`), `sequence` (the bases a model reads: "
        "reverse-complemented for `-` windows, soft-masked repeats in lower case, lineage tag removed and given in "
        "`lineage_tag`), `labels` (per-base region bit mask, SCORING.md) and `scorable` (per-base: counts in scoring).", "",
        "## Load", "",
        "```python",
        "from datasets import load_dataset",
        f'windows = load_dataset("parquet", data_files={{{split_files}}})',
        *(f'{t} = load_dataset("parquet", data_files={{"test": "tasks/{t}/items.parquet"}})' for t in sources.tasks),
        "```", "",
        "## Score a model", "",
        "Write its predictions in the exchange format (docs/exchange-format.md of evocane: per window of "
        "windows/{split}.parquet the natural-log probability of each observed base, or the four base probabilities; "
        "per task item one score), then:", "",
        "```", f"evocane benchmark-score --bundle {name} --predictions <submission directory> --out rows.csv", "```", "",
        "The rows are those the evocane workflow puts on its leaderboard for the same predictions.", "",
        "## Provenance", "",
        f"Written by evocane {code['evocane']} (git {code['git'] or 'unknown'}). Sources (sha256):", "",
        "| cultivar | kind | file | sha256 |", "|---|---|---|---|",
        *(f"| {s['cultivar']} | {s['kind']} | {s['file']} | `{s['sha256']}` |" for s in provenance["sources"]), "",
        "provenance.json adds the prepared records of every cultivar and the configuration the bundle was built with.", "",
        "## Intended use and limits", "",
        "Comparing DNA language models on held-out crop-genome windows and zero-shot tasks under one scoring. The "
        "windows are a seeded sample of the held-out splits (the same for every model); task sets are small; "
        "region labels come from the source annotation and repeats from the assembly's soft-masking.", "",
    ]  # fmt: skip
    return "\n".join(lines)


def _content_hash(directory: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        relative = str(path.relative_to(directory))
        if relative in UNHASHED:
            continue
        digest.update(f"{relative}\0{sha256sum(path)}\n".encode())
    return digest.hexdigest()


# --- the bundle ------------------------------------------------------------------------------------------------------------
def export_bundle(sources: BundleSources, config: Mapping[str, Any], out_root: str | Path) -> Path:
    """Write the bundle of one variant under ``out_root`` as ``{variant}-{version}/`` (complete or not at all)."""
    out_root = Path(out_root)
    out_root.mkdir(parents=True, exist_ok=True)
    prefix = f".{sources.variant}.tmp-"
    for stale in out_root.glob(f"{prefix}*"):
        shutil.rmtree(stale, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix=prefix, dir=out_root))
    try:
        return _export_into(staging, sources, config, out_root)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def _export_into(staging: Path, sources: BundleSources, config: Mapping[str, Any], out_root: Path) -> Path:
    scored = Path(sources.scored_dataset)
    dataset = DatasetReader(scored)
    counts = {split: _write_windows(dataset, split, staging / "windows") for split in sources.splits}
    _copy_dataset(scored, sources.splits, staging / "dataset")
    task_counts = {}
    for task, inputs in sources.tasks.items():
        task_dir = staging / "tasks" / task
        items, ids, sequences = _task_items(task, DatasetReader(inputs))
        _write_parquet(items, task_dir / "items.parquet", {"scorable": pa.list_(pa.bool_())})
        _write_fasta(task_dir / "windows.fa", ids, sequences)
        _copy_dataset(Path(inputs), ["test"], task_dir / "dataset")
        task_counts[task] = len(items)
    baseline = background = None
    if sources.baseline:
        member, selected_on = _baseline_member(sources.metrics, sources.baseline)
        prefix = f"{sources.baseline}_"
        name = member[len(prefix) :] if member.startswith(prefix) else None
        export_submission(staging / "reference" / "baseline", scored, list(sources.baseline_sets.values()), member=name,
                          config_model=sources.baseline, role="next-base baseline")  # fmt: skip
        baseline = {"config_model": sources.baseline, "model": member, "selected_on": selected_on}
    if sources.background and sources.background_sets:
        pairs = {task: (sources.tasks[task], path) for task, path in sources.background_sets.items()}
        members = prediction_dirs(next(iter(sources.background_sets.values())))
        member = sources.background_member or (members[0].name if len(members) > 1 else None)
        export_submission(staging / "reference" / "background", scored, (), pairs, member=member,
                          config_model=sources.background, role="task log-likelihood-ratio background")  # fmt: skip
        background = {"config_model": sources.background, "model": json.loads((staging / "reference" / "background" / "submission.json").read_text())["model"]}
    scoring = scoring_definitions(config, sources, baseline, background)
    (staging / "scoring.json").write_text(json.dumps(scoring, indent=2, sort_keys=True) + "\n")
    (staging / "SCORING.md").write_text(_scoring_markdown(scoring))
    provenance = {"variant": sources.variant, "sources": _sources(config, sources.cultivars), "records": _records(sources.records),
                  "config": _config_view(config, sources)}  # fmt: skip
    (staging / "provenance.json").write_text(json.dumps(provenance, indent=2, sort_keys=True, default=str) + "\n")
    version = f"{SCHEMA_VERSION}.{_content_hash(staging)[:12]}"
    name = f"{sources.variant}-{version}"
    provenance["code"] = _code_version()
    description = str(((config.get("datasets") or {}).get("variants") or {}).get(sources.variant, {}).get("description") or "")
    (staging / "README.md").write_text(_card(name, version, sources, counts, task_counts, scoring, provenance, " ".join(description.split())))
    files = {str(p.relative_to(staging)): {"sha256": sha256sum(p), "bytes": p.stat().st_size}
             for p in sorted(staging.rglob("*")) if p.is_file()}  # fmt: skip
    manifest = {"name": name, "variant": sources.variant, "version": version, "schema_version": SCHEMA_VERSION,
                "code": provenance["code"], "files": files}  # fmt: skip
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    final = out_root / name
    if final.exists():
        shutil.rmtree(final)
    staging.chmod(0o755)
    staging.rename(final)
    return final
