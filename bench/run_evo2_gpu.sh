#!/usr/bin/env bash
# Evo 2 (vtx) on a GPU machine: install the carried wheels, run the GPU tests, then bench/bench_evo2.py.
#   bash bench/run_evo2_gpu.sh OUT_DIR [bench_evo2.py arguments...]
#   e.g. SKIP_TESTS=1 bash bench/run_evo2_gpu.sh OUT --suite issue15 --sizes 1b
# Wheels: .whl-workflow/ (every package the GPU image lacks, and the test slice in .whl-workflow/data; made by
# `python bench/workflow_gpu.py wheels --out .whl-workflow` and `... slices --out .whl-workflow/data`) when present,
# else .whl-evo2/ (vtx, evo2, biopython, pysam, peft and a FASTA slice of A. arenosa AARE701a chr1; see
# bench/RESULTS.md "Evo 2 (vtx)"). On a normal GPU node with evocane installed (`pip install -e .[ml,dev]`) run
# `pytest -m gpu tests/test_evo2_gpu.py` and the bench script directly.
set -u
OUT=${1:?output directory}
shift
mkdir -p "$OUT"
if [ -d .whl-workflow ]; then
  WHEELS=.whl-workflow
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site "$WHEELS"/*.whl || exit 1
  export EVOCANE_AARE_SLICE=$PWD/$WHEELS/data/aare701a_chr1_1000000_1060000.fa
else
  WHEELS=.whl-evo2
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site \
    "$WHEELS"/vtx-*.whl "$WHEELS"/evo2-*.whl "$WHEELS"/biopython-*.whl "$WHEELS"/pysam-*.whl || exit 1
  if ! python3 -c "import peft, sys; sys.exit(0 if tuple(map(int, peft.__version__.split('.')[:2])) >= (0, 17) else 1)"; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site "$WHEELS"/peft-*.whl || exit 1
  fi
  export EVOCANE_AARE_SLICE=$PWD/$WHEELS/aare701a_chr1_1000000_1060000.fa
fi
export PYTHONPATH=/tmp/site:$PWD/src:$PWD/tests PYTHONUNBUFFERED=1
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
python3 -c "import torch, triton, peft, einops; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'triton', triton.__version__, 'peft', peft.__version__, 'einops', einops.__version__, torch.cuda.get_device_name())" | tee "$OUT/versions.txt"
if [ "${SKIP_TESTS:-0}" != 1 ]; then
  timeout "${TEST_TIMEOUT:-300}" python3 -m pytest -m gpu tests/test_evo2_gpu.py -p no:cacheprovider -q -rA -o addopts="" 2>&1 | tee "$OUT/gpu_tests.log" | tail -40
fi
timeout "${BENCH_TIMEOUT:-480}" python3 bench/bench_evo2.py --out "$OUT/bench_evo2.json" "$@" > "$OUT/bench.log" 2>&1
echo "bench exit $?"
grep -E "^\[" "$OUT/bench.log" | cut -c1-600
tail -5 "$OUT/bench.log"
